//! In-place compensation of 8 channels × 1M events (of 20), beside flowutils
//! on the same data in the same run. Target (issue 3): ≤ 10 ms.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use nkflow::compensation::Matrix;
use support::*;

fn bench(c: &mut Criterion) {
    let events = events();
    let m = Matrix::from_spillover_keyword(&spill_text()).expect("matrix");
    let mut work = events.clone();
    let copy = best_of(5, || work.as_mut_slice().copy_from_slice(events.as_slice()));
    let run = |work: &mut nkflow::EventMatrix| m.compensate_in_place(work).expect("compensate");
    let ours_n = best_of(5, || {
        work.as_mut_slice().copy_from_slice(events.as_slice());
        run(&mut work);
    });
    let checksum: f64 = SPILL_COLS.map(|j| work.column(j).iter().sum::<f64>()).sum();
    let ours_1 = single_thread(|| {
        best_of(5, || {
            work.as_mut_slice().copy_from_slice(events.as_slice());
            run(&mut work);
        })
    });
    let ms = |d: std::time::Duration| (d.as_secs_f64() - copy.as_secs_f64()) * 1e3;
    println!(
        "nkflow compensate 8 of 20 ch × 1M in place: {} threads {:.1} ms, 1 thread {:.1} ms (buffer reset of {:.1} ms subtracted)",
        rayon::current_num_threads(),
        ms(ours_n),
        ms(ours_1),
        copy.as_secs_f64() * 1e3
    );
    if let Some(p) = peer_timings(&events) {
        let fu = p["compensate_seconds"].as_f64().unwrap_or(f64::NAN);
        let ref_sum = p["compensate_checksum"].as_f64().unwrap_or(f64::NAN);
        println!(
            "flowutils {} compensate: {:.1} ms → speedup {:.1}× ({} threads), {:.1}× (1 thread); checksums ours {checksum:.9e}, flowutils {ref_sum:.9e}",
            p["flowutils"],
            fu * 1e3,
            fu * 1e3 / ms(ours_n),
            rayon::current_num_threads(),
            fu * 1e3 / ms(ours_1)
        );
        assert!(
            (checksum - ref_sum).abs() <= 1e-9 * ref_sum.abs(),
            "checksums differ"
        );
    }

    let mut g = c.benchmark_group("compensate_8ch_1M");
    g.sample_size(10);
    g.bench_function("in_place_all_threads", |b| {
        b.iter(|| {
            work.as_mut_slice().copy_from_slice(events.as_slice());
            run(&mut work);
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
