//! Simulator throughput: one 100k-event file drawn in memory (the biology,
//! spillover, noise and ADC per event), and a 10-file × 100k cohort written to
//! disk with rayon over files (what `nkflow simulate` does). The issue's
//! 100 × 100k figure is the CLI timing in the README.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nkflow::simulate::{write_cohort, Cohort, Settings};

fn settings(samples: usize) -> Settings {
    Settings {
        seed: 7,
        samples,
        events: Some(100_000),
        force: true,
        ..Settings::default()
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("simulate");
    g.sample_size(10);

    let cohort = Cohort::plan(&settings(12)).unwrap();
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("one file 100k events (in memory)", |b| {
        b.iter(|| cohort.simulate(3).unwrap().sample.n_events())
    });

    let dir = tempfile::tempdir().unwrap();
    g.throughput(Throughput::Elements(10 * 100_000));
    g.bench_function("cohort 10 files x 100k events (written)", |b| {
        b.iter(|| write_cohort(&settings(10), dir.path()).unwrap().events)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
