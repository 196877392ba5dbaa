//! The nk-day30 preset's gating stages over a batch: 200 files × 50,000
//! events × 15 channels, `--threads 1` vs `--threads 2` (files/s, events/s,
//! speed-up), and FlowKit doing the like-for-like steps on the same files in
//! the same run (`benches/pipeline_flowkit.py`: parse, compensation, logicle,
//! the gates nkflow resolved for each file, fixed at their coordinates).
//!
//! What nkflow does per file is the whole `nkflow run` minus CLI parsing:
//! read and hash the file, resolve the panel, compensate, find every
//! data-driven threshold, gate, statistics (counts, %, per µL, medians) and
//! the outputs (results.csv, populations.csv, gates/*.xml, run.json). No
//! clustering, no report: the preset is loaded as JSON and any `cluster` or
//! `report` section is dropped before it is parsed.
//!
//! Data: simulated once (`nkflow::simulate`, seed 2026, 14 channels plus an
//! SSC-H channel) into `target/bench-data/nk200x50k/` and reused while the
//! generator settings are unchanged (a stamp file records them).
//! FlowKit is timed on the first `NKFLOW_BENCH_FLOWKIT_FILES` files (default
//! 20) and scaled per file to the batch; it also checks that its counts equal
//! nkflow's populations.csv.
//!
//! Run: `cargo bench --bench pipeline_batch -- --warm-up-time 1
//! --measurement-time 3` (`NKFLOW_BENCH_FILES=N` for a smaller batch).

use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{Criterion, Throughput};
use nkflow::cli::run::{default_sinks, read_fcs};
use nkflow::pipeline::definition::Pipeline;
use nkflow::pipeline::runner::{self, RunOptions, Stage};
use nkflow::sample::Channel;
use nkflow::simulate::{Cohort, Settings};
use rayon::prelude::*;

const EVENTS: usize = 50_000;
const SEED: u64 = 2026;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn n_files() -> usize {
    std::env::var("NKFLOW_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Writes the cohort (once): the simulator's 14 channels plus SSC-H, so that
/// every file has 15 channels as the bench asks.
fn cohort(n: usize) -> (PathBuf, PathBuf) {
    let dir = target_dir().join("bench-data").join(format!("nk{n}x50k"));
    let sheet = dir.join("samplesheet.csv");
    let stamp = dir.join("STAMP");
    let want = format!(
        "{} seed {SEED} files {n} events {EVENTS} +SSC-H\n",
        nkflow::simulate::generator()
    );
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return (dir, sheet);
    }
    let t = Instant::now();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let settings = Settings {
        seed: SEED,
        samples: n,
        events: Some(EVENTS),
        clog_fraction: 0.1,
        ..Settings::default()
    };
    let c = Cohort::plan(&settings).unwrap();
    (0..n).into_par_iter().for_each(|i| {
        let mut s = c.simulate(i).unwrap().sample;
        let j = s.events.index_of("SSC-A").unwrap();
        let src = &s.channels[j];
        let top = src.range - 1.0;
        let ssc_h: Vec<f64> = s
            .events
            .column(j)
            .iter()
            .map(|v| (v * 0.82).round().min(top))
            .collect();
        let extra = Channel {
            number: s.channels.len() + 1,
            name: "SSC-H".into(),
            ..src.clone()
        };
        s.channels.push(extra);
        let mut names = s.events.names().to_vec();
        names.push("SSC-H".into());
        let mut cols: Vec<Vec<f64>> = (0..s.events.n_channels())
            .map(|k| s.events.column(k).to_vec())
            .collect();
        cols.push(ssc_h);
        s.events = nkflow::EventMatrix::from_columns(names, cols).unwrap();
        let path = dir.join(&c.specs[i].file_name);
        nkflow::fcs::write_with(&path, &s, &nkflow::simulate::write_options(&c.specs[i])).unwrap();
    });
    std::fs::write(&sheet, c.samplesheet_csv().unwrap()).unwrap();
    std::fs::write(&stamp, want).unwrap();
    eprintln!(
        "generated {n} files × {EVENTS} events × 15 channels in {:.1} s → {}",
        t.elapsed().as_secs_f64(),
        dir.display()
    );
    (dir, sheet)
}

/// The preset without clustering or report sections (if it ever has them).
fn preset() -> (Pipeline, PathBuf) {
    let path = root().join("pipelines/nk-day30.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    if let Some(o) = v.as_object_mut() {
        o.remove("cluster");
        o.remove("clustering");
        o.remove("report");
    }
    let copy = target_dir()
        .join("bench-data")
        .join("nk-day30.gating-only.json");
    std::fs::write(&copy, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    (Pipeline::from_file(&copy).unwrap(), copy)
}

/// The runner's options for one batch of the bench cohort into `out`.
fn batch_options(
    pipeline: &Pipeline,
    pipeline_path: &Path,
    dir: &Path,
    sheet: &Path,
    out: &Path,
    threads: usize,
) -> RunOptions {
    RunOptions {
        pipeline: pipeline.clone(),
        pipeline_path: pipeline_path.to_path_buf(),
        inputs: vec![dir.to_path_buf()],
        samplesheet: Some(sheet.to_path_buf()),
        panel_overrides: Default::default(),
        outdir: out.to_path_buf(),
        threads,
        progress: false,
    }
}

fn run_batch(opts: &RunOptions) {
    let stages: Vec<Box<dyn Stage>> = Vec::new();
    let mut sinks = default_sinks();
    let (_, summary) = runner::run(opts, &read_fcs, &stages, &mut sinks).unwrap();
    assert_eq!(summary.n_failed, 0, "every bench file gates");
}

/// CPU seconds (user + system, all threads) this process has used so far,
/// from /proc/self/stat (Linux; `None` elsewhere).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// One batch timed outside criterion: wall and CPU seconds, and the sum of
/// the per-file times the runner recorded (the part that runs in parallel).
fn timed_batch(opts: &RunOptions) -> (f64, Option<f64>, f64) {
    let c0 = cpu_seconds();
    let t = Instant::now();
    run_batch(opts);
    let wall = t.elapsed().as_secs_f64();
    let cpu = c0.and_then(|a| cpu_seconds().map(|b| b - a));
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(opts.outdir.join("run.json")).unwrap()).unwrap();
    let per_file: f64 = run["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["elapsed_ms"].as_f64())
        .sum::<f64>()
        / 1e3;
    (wall, cpu, per_file)
}

/// nkflow doing exactly FlowKit's steps on one file, with the same
/// Gating-ML file: parse, compensation + logicle (T = $PnR, W 0.5, M 4.5,
/// A 0) of the fluorescence channels, then the gating engine on the file's
/// events (which compensates again for the "FCS" reference, as FlowKit's
/// gate_sample does). Returns (parse, comp+logicle, gate) in ms, single
/// thread, wall time (the caller also takes the CPU time of all files).
fn like_for_like_ms(fcs: &Path, xml: &Path) -> [f64; 3] {
    let strategy = nkflow::gatingml::read_path(xml).unwrap();
    let t0 = Instant::now();
    let sample = nkflow::fcs::read(fcs).unwrap();
    let t1 = Instant::now();
    let mut scaled = sample.clone();
    scaled.apply_scale();
    let m = nkflow::compensation::Matrix::from_sample(&scaled)
        .unwrap()
        .unwrap();
    m.compensate_in_place_with_channels(&mut scaled.events, &scaled.channels)
        .unwrap();
    for (j, ch) in scaled.channels.iter().enumerate() {
        if !ch.is_scatter() && !ch.is_time() {
            nkflow::transform::Logicle::new(ch.range, 0.5, 4.5, 0.0)
                .unwrap()
                .apply_slice(scaled.events.column_mut(j));
        }
    }
    let t2 = Instant::now();
    let res = strategy.gate_sample(&sample).unwrap();
    let t3 = Instant::now();
    std::hint::black_box((&scaled, &res));
    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
    [ms(t0, t1), ms(t1, t2), ms(t2, t3)]
}

/// Criterion's mean for one benchmark (ns), read back from its estimates.
fn criterion_mean_ns(group: &str, bench: &str) -> Option<f64> {
    let p = target_dir()
        .join("criterion")
        .join(group)
        .join(bench)
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    let n = n_files();
    let (dir, sheet) = cohort(n);
    let (pipeline, pipeline_path) = preset();
    let outs = target_dir().join("bench-data").join("out");
    let group = format!("pipeline_{n}x50k");
    let load_before = load();

    let mut c = Criterion::default().without_plots().configure_from_args();
    {
        let mut g = c.benchmark_group(&group);
        g.sample_size(10);
        g.throughput(Throughput::Elements(n as u64));
        for threads in [1usize, 2] {
            let out = outs.join(format!("t{threads}"));
            let opts = batch_options(&pipeline, &pipeline_path, &dir, &sheet, &out, threads);
            g.bench_function(format!("threads_{threads}"), |b| {
                b.iter(|| run_batch(&opts))
            });
        }
        g.finish();
    }
    c.final_summary();
    let load_after = load();
    // Once more each, outside criterion, for CPU time and the serial part.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let timed = |threads: usize| {
        let out = outs.join(format!("t{threads}"));
        timed_batch(&batch_options(
            &pipeline,
            &pipeline_path,
            &dir,
            &sheet,
            &out,
            threads,
        ))
    };
    let (w1, cpu1, par1) = timed(1);
    let (w2, cpu2, _) = timed(2);

    // Same bytes for any thread count (the runner's promise), on these files.
    for f in ["results.csv", "populations.csv"] {
        assert_eq!(
            std::fs::read(outs.join("t1").join(f)).unwrap(),
            std::fs::read(outs.join("t2").join(f)).unwrap(),
            "{f} differs between 1 and 2 threads"
        );
    }

    // FlowKit on the same files, with the gates nkflow resolved for them.
    let fk_n: usize = std::env::var("NKFLOW_BENCH_FLOWKIT_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .min(n);
    let py = std::env::var_os("NKFLOW_PEERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".peers/bin/python"));
    let t = Instant::now();
    let flowkit: Option<serde_json::Value> = std::process::Command::new(&py)
        .arg(root().join("benches/pipeline_flowkit.py"))
        .arg(&dir)
        .arg(outs.join("t1"))
        .arg(fk_n.to_string())
        .output()
        .ok()
        .filter(|o| {
            if !o.status.success() {
                eprintln!("FlowKit: {}", String::from_utf8_lossy(&o.stderr));
            }
            o.status.success()
        })
        .and_then(|o| serde_json::from_slice(&o.stdout).ok());
    let fk_wall = t.elapsed().as_secs_f64();
    let load_fk = load();
    // nkflow doing FlowKit's steps on the same files (best of 3 per file).
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "fcs"))
        .collect();
    files.sort();
    let mut ours = [0.0f64; 3];
    let reps = 3;
    let c0 = cpu_seconds();
    for f in files.iter().take(fk_n) {
        let xml = outs
            .join("t1/gates")
            .join(format!("{}.xml", f.file_name().unwrap().to_string_lossy()));
        let best = one.install(|| {
            (0..reps)
                .map(|_| like_for_like_ms(f, &xml))
                .fold([f64::INFINITY; 3], |a, b| {
                    [a[0].min(b[0]), a[1].min(b[1]), a[2].min(b[2])]
                })
        });
        for k in 0..3 {
            ours[k] += best[k] / fk_n as f64;
        }
    }
    // CPU of the whole loop (10 ms ticks, so over all files): a few-ms step
    // timed by wall clock on a shared machine measures the other processes
    // too; best-of-3 wall times split it into steps.
    let ours_cpu_ms =
        c0.and_then(|a| cpu_seconds().map(|b| (b - a) * 1e3 / (reps * fk_n.max(1)) as f64));

    let events = (n * EVENTS) as f64;
    let t1 = criterion_mean_ns(&group, "threads_1").map(|x| x / 1e9);
    let t2 = criterion_mean_ns(&group, "threads_2").map(|x| x / 1e9);
    println!("\n{n} files × {EVENTS} events × 15 channels, nk-day30 gating stages (criterion mean of 10 batches)");
    println!("load average (1/5/15 min): before {load_before}; after nkflow {load_after}; after FlowKit {load_fk}");
    for (label, t) in [("nkflow --threads 1", t1), ("nkflow --threads 2", t2)] {
        if let Some(t) = t {
            println!(
                "  {label}: {t:>7.2} s  {:>7.1} files/s  {:>6.2} M events/s  {:.2} ms/file",
                n as f64 / t,
                events / t / 1e6,
                t * 1e3 / n as f64
            );
        }
    }
    if let (Some(a), Some(b)) = (t1, t2) {
        println!(
            "  speed-up 2 threads vs 1 (wall, criterion means): {:.2}x (target >= 1.8x)",
            a / b
        );
    }
    println!(
        "  one more batch each: 1 thread {w1:.2} s wall, {} CPU; 2 threads {w2:.2} s wall, {} CPU",
        cpu1.map_or("?".into(), |c| format!("{c:.2} s")),
        cpu2.map_or("?".into(), |c| format!("{c:.2} s"))
    );
    if let (Some(c1), Some(c2)) = (cpu1, cpu2) {
        // On a loaded machine wall times say little about parallelism; the
        // CPU a batch costs with 2 threads vs 1 says how much work the
        // second thread adds, and the time outside the per-file workers
        // (listing, samplesheet, sinks) is the serial part.
        let serial = (w1 - par1).max(0.0);
        let ideal = w1 / (serial + (w1 - serial) / 2.0 * (c2 / c1).max(1.0));
        println!(
            "  CPU 2 threads / 1 thread: {:.3}; serial part {serial:.2} s of {w1:.2} s → speed-up on 2 idle cores (Amdahl) {ideal:.2}x",
            c2 / c1
        );
    }
    let Some(fk) = flowkit else {
        println!("  FlowKit: not available ({} cannot run it)", py.display());
        return;
    };
    let per_file = |step: &str| {
        let v: Vec<f64> = fk["ms"][step]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|x| x.as_f64())
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let (parse, cl, gate, xml) = (
        per_file("parse"),
        per_file("comp_logicle"),
        per_file("gate"),
        per_file("xml"),
    );
    let fk_ms = parse + cl + gate;
    let our_ms: f64 = ours.iter().sum();
    println!(
        "  like for like, per file, 1 thread: nkflow parse {:.2} + comp+logicle {:.2} + gate {:.2} = {our_ms:.2} ms wall (best of {reps}), {} CPU; FlowKit {parse:.1} + {cl:.1} + {gate:.1} = {fk_ms:.1} ms CPU → {:.1}x",
        ours[0],
        ours[1],
        ours[2],
        ours_cpu_ms.map_or("?".into(), |c| format!("{c:.2} ms")),
        fk_ms / ours_cpu_ms.unwrap_or(our_ms)
    );
    let fk_batch = fk_ms * n as f64 / 1e3;
    println!(
        "  FlowKit 1 process, {} files timed ({fk_wall:.1} s wall), CPU per file: parse {parse:.1} ms + comp+logicle {cl:.1} ms + gate_sample {gate:.1} ms = {fk_ms:.1} ms (Gating-ML parse {xml:.1} ms not counted)",
        fk["files"]
    );
    println!(
        "  FlowKit scaled to {n} files: {fk_batch:.1} s CPU, {:.1} files/s, {:.2} M events/s per core",
        1e3 / fk_ms,
        EVENTS as f64 / fk_ms / 1e3
    );
    if let (Some(c1), Some(fk_cpu)) = (cpu1, fk["cpu_ms_per_file"].as_f64()) {
        println!(
            "  nkflow vs FlowKit, CPU per file: nkflow (whole run, 1 thread) {:.1} ms, FlowKit (its steps) {fk_cpu:.1} ms → {:.1}x (target >= 10x)",
            c1 * 1e3 / n as f64,
            fk_cpu / (c1 * 1e3 / n as f64)
        );
    }
    let mism = fk["count_mismatches"].as_array().unwrap();
    println!(
        "  FlowKit counts vs populations.csv: {} populations compared, {} differ{}",
        fk["populations_compared"],
        mism.len(),
        if mism.is_empty() {
            String::new()
        } else {
            format!(
                " (first: {})",
                mism.iter()
                    .take(3)
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
}
