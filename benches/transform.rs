//! Logicle of 13 fluorescence channels × 1M events, beside flowutils on the
//! same data in the same run (benches/peers_bench.py). Target (issue 3):
//! ≥ 10× flowutils on one thread at ≤ 1e-10 error.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use nkflow::transform::{Logicle, Transform};
use support::*;

fn logicle_all(t: &Transform, m: &mut nkflow::EventMatrix) {
    for j in FLUO {
        t.apply_slice(m.column_mut(j));
    }
}

fn bench(c: &mut Criterion) {
    let events = events();
    let t = Transform::Logicle(Logicle::new(262144.0, 0.5, 4.5, 0.0).expect("params"));
    let mut work = events.clone();
    logicle_all(&t, &mut work); // builds the table once, outside the timings

    let ours_1 = single_thread(|| {
        best_of(3, || {
            work.as_mut_slice().copy_from_slice(events.as_slice());
            logicle_all(&t, &mut work);
        })
    });
    let checksum: f64 = FLUO.map(|j| work.column(j).iter().sum::<f64>()).sum();
    let ours_n = best_of(3, || {
        work.as_mut_slice().copy_from_slice(events.as_slice());
        logicle_all(&t, &mut work);
    });
    // The copy is included above; measure it to report the transform alone.
    let copy = best_of(3, || work.as_mut_slice().copy_from_slice(events.as_slice()));
    println!(
        "nkflow logicle 13 ch × 1M: 1 thread {:.1} ms, {} threads {:.1} ms (each incl. {:.1} ms buffer reset)",
        ours_1.as_secs_f64() * 1e3,
        rayon::current_num_threads(),
        ours_n.as_secs_f64() * 1e3,
        copy.as_secs_f64() * 1e3
    );
    if let Some(p) = peer_timings(&events) {
        let fu = p["logicle_seconds"].as_f64().unwrap_or(f64::NAN);
        let ref_sum = p["logicle_checksum"].as_f64().unwrap_or(f64::NAN);
        println!(
            "flowutils {} logicle 13 ch × 1M: {:.1} ms → nkflow 1-thread speedup {:.1}× (checksums: ours {checksum:.9e}, flowutils {ref_sum:.9e})",
            p["flowutils"],
            fu * 1e3,
            fu / (ours_1.as_secs_f64() - copy.as_secs_f64())
        );
        assert!(
            (checksum - ref_sum).abs() <= 1e-9 * ref_sum.abs(),
            "checksums differ"
        );
    }

    let mut g = c.benchmark_group("logicle_13ch_1M");
    g.sample_size(10);
    g.bench_function("one_thread", |b| {
        single_thread(|| {
            b.iter(|| {
                work.as_mut_slice().copy_from_slice(events.as_slice());
                logicle_all(&t, &mut work);
            })
        })
    });
    g.bench_function("all_threads", |b| {
        b.iter(|| {
            work.as_mut_slice().copy_from_slice(events.as_slice());
            logicle_all(&t, &mut work);
        })
    });
    g.bench_function("buffer_reset_only", |b| {
        b.iter(|| work.as_mut_slice().copy_from_slice(events.as_slice()))
    });
    g.finish();
}

// Plots off: the crate's plotters build (no default features) cannot draw
// criterion's charts; the numbers are what matters.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
