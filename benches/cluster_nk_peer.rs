//! The preset's FlowSOM stage beside Python flowsom (0.2.2) on the identical
//! preprocessed matrix: per-file F1 of the NK metaclusters against the TRUE
//! NK cells of simulated cohorts (issue 7's accuracy acceptance).
//!
//! For each `--seeds` cohort (`nkflow simulate --labels`, `--samples` files
//! of `--events` events), `tests/cluster_peer/mod.rs` runs the pipeline's
//! cluster stage (`nkflow run --assignments`), recovers the exact matrix the
//! stage trained on and mapped (`cluster::stage::preprocess_file`, checked
//! against the stage's assignments) and gives it to Python flowsom with the
//! same grid, rlen, k and seed; both are scored per file against the true
//! NK cells by one rule (union of the metaclusters with a strict NK
//! majority).
//!
//! `cargo bench --bench cluster_nk_peer [-- --seeds 77,2026 --samples 5 --events 30000 --no-python --dump DIR]`
//!
//! `--dump DIR` writes, per cohort, `DIR/<seed>/<file>.csv` (the rows, the
//! true population, the NK gate and the metacluster per clustered event) and
//! `codes.csv` (node codes and metacluster) for diagnosis.

#[path = "../tests/cluster_peer/mod.rs"]
mod cluster_peer;

use std::path::PathBuf;

use cluster_peer::{run_cohort, Cohort};

struct Args {
    seeds: Vec<u64>,
    samples: usize,
    events: usize,
    python: bool,
    dump: Option<PathBuf>,
    pipeline: PathBuf,
}

fn args() -> Args {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        seeds: vec![77, 2026, 5],
        samples: 5,
        events: 30_000,
        python: true,
        dump: None,
        pipeline: root.join("pipelines/nk-day30.json"),
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let next = v.get(i + 1).cloned().unwrap_or_default();
        let mut step = 2;
        match v[i].as_str() {
            "--seeds" => a.seeds = next.split(',').map(|s| s.parse().unwrap()).collect(),
            "--samples" => a.samples = next.parse().unwrap(),
            "--events" => a.events = next.parse().unwrap(),
            "--dump" => a.dump = Some(PathBuf::from(next)),
            "--pipeline" => a.pipeline = PathBuf::from(next),
            "--no-python" => {
                a.python = false;
                step = 1;
            }
            _ => step = 1, // `--bench` from cargo
        }
        i += step;
    }
    a
}

fn main() {
    let a = args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let py = std::env::var_os("NKFLOW_PEERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".peers/bin/python"));
    println!(
        "FlowSOM stage of {} vs Python flowsom 0.2.2 on the identical matrix: NK F1 per file against the true NK cells",
        a.pipeline.display()
    );
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for &seed in &a.seeds {
        let tmp = tempfile::tempdir().unwrap();
        let cohort = Cohort {
            pipeline: &a.pipeline,
            seed,
            samples: a.samples,
            events: a.events,
            python: a.python.then_some(py.as_path()),
            dump: a.dump.as_deref(),
        };
        let scores = run_cohort(&cohort, tmp.path());
        println!(
            "cohort seed {seed} ({} files × {} events):",
            a.samples, a.events
        );
        for s in scores {
            let py_s = s
                .flowsom
                .map_or_else(|| "-".to_string(), |p| format!("{p:.4}"));
            println!(
                "  {:<28} nkflow {:.4}  flowsom {py_s}  (nkflow vs NK gate {:.4})",
                format!("{} ({} NK)", s.file, s.n_nk),
                s.nkflow,
                s.nkflow_vs_gate
            );
            ours.push(s.nkflow);
            theirs.extend(s.flowsom);
        }
    }
    let stats = |v: &[f64]| {
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        (min, v.iter().sum::<f64>() / v.len().max(1) as f64)
    };
    let (omin, omean) = stats(&ours);
    println!(
        "nkflow over {} files: lowest F1 {omin:.4}, mean {omean:.4}",
        ours.len()
    );
    if !theirs.is_empty() {
        let (tmin, tmean) = stats(&theirs);
        println!(
            "flowsom over {} files: lowest F1 {tmin:.4}, mean {tmean:.4}",
            theirs.len()
        );
    }
}
