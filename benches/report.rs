//! Report rendering cost: one 50k-event sample's plots (the preset's gating
//! hierarchy is ~12 plots + flow rate), and a whole 200-sample report
//! (render on rayon + write HTML pages and PNGs), timed once and printed.
//!
//! `cargo bench --bench report -- --warm-up-time 1 --measurement-time 3`

#[path = "../tests/report_support/mod.rs"]
mod report_support;

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use nkflow::report::{render_sample, BatchInfo, RenderOptions, ReportBuilder, ReportOptions};
use rayon::prelude::*;
use report_support::*;

fn sample_with_12_plots<'a>(
    s: &'a Synthetic,
    name: &str,
    k: usize,
) -> nkflow::report::SampleReport<'a> {
    let mut r = sample_report(name, k, s);
    let specs = plot_specs(s);
    // The preset's hierarchy has about 12 plots: repeat the 4 kinds 3×.
    r.plots = specs.iter().cycle().take(12).cloned().collect();
    r
}

fn bench(c: &mut Criterion) {
    let s = synthetic(50_000, 1);
    let r = sample_with_12_plots(&s, "P01.fcs", 0);
    c.bench_function(
        "report/render_sample 50k events, 12 plots + flow rate",
        |b| b.iter(|| render_sample(&r, RenderOptions::default())),
    );

    // One-shot: 200 samples through the sink + finish (split pages, PNGs).
    let tmp = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..200).map(|k| format!("P{k:03}.fcs")).collect();
    let t0 = Instant::now();
    let builder = ReportBuilder::new(ReportOptions::default()).unwrap();
    names.par_iter().enumerate().for_each(|(k, n)| {
        builder.add(&sample_with_12_plots(&s, n, k));
    });
    let t_render = t0.elapsed();
    let files = builder.finish(tmp.path(), &BatchInfo::default()).unwrap();
    let t_all = t0.elapsed();
    let bytes: u64 = files
        .pngs
        .iter()
        .chain(&files.pages)
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    eprintln!(
        "report/200 samples × (12 plots + flow rate), 50k events, {} threads: render {:.2} s, \
         render + write {:.2} s ({} PNGs, {} pages, {:.1} MB)",
        rayon::current_num_threads(),
        t_render.as_secs_f64(),
        t_all.as_secs_f64(),
        files.pngs.len(),
        files.pages.len(),
        bytes as f64 / 1e6
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
