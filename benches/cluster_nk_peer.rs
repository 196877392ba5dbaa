//! The preset's FlowSOM stage beside Python flowsom (0.2.2) on the identical
//! preprocessed matrix: per-file F1 of the NK metaclusters against the TRUE
//! NK cells of simulated cohorts (issue 7's accuracy acceptance).
//!
//! For each `--seeds` cohort (`nkflow simulate --labels`, `--samples` files
//! of `--events` events):
//! 1. **nkflow**: `nkflow run pipelines/nk-day30.json --assignments`, as a
//!    user runs it; the metacluster of every event is read back from
//!    `assignments/`.
//! 2. **The identical matrix**: every file is gated again with the same
//!    pipeline and [`preprocess_file`] — the function the stage itself
//!    calls — gives the clustered events' transformed rows. The bench checks
//!    that they are the stage's by training [`FlowSom::train_rows`] on them
//!    with the block's parameters and comparing every event's metacluster
//!    with `assignments/` (must be identical).
//! 3. **Python flowsom** (`benches/flowsom_compare.py`, `FlowSOMEstimator`
//!    = online SOM + consensus metaclustering) on the pooled rows (as
//!    float64), same grid, rlen, k and seed. The stage trains on every
//!    clustered event when the batch has at most `train_events` of them, as
//!    Python does; the bench refuses larger cohorts rather than compare
//!    different training sets.
//!
//! Both F1s use one rule: the union of the metaclusters in which the true NK
//! cells are a strict majority of the file's clustered events, against every
//! true NK cell of the file (NK outside the clustered population are misses).
//!
//! `cargo bench --bench cluster_nk_peer [-- --seeds 77,2026 --samples 5 --events 30000 --no-python --dump DIR]`
//!
//! `--dump DIR` writes, per cohort, `DIR/<seed>/<file>.csv` (the rows, the
//! true population, the NK gate and the metacluster per clustered event) and
//! `codes.csv` (node codes and metacluster) for diagnosis.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use nkflow::cli::run::{read_fcs, RunArgs};
use nkflow::cluster::stage::{preprocess_file, FileRows};
use nkflow::cluster::{FlowSom, RowsInput};
use nkflow::pipeline::definition::Pipeline;
use nkflow::pipeline::engine;
use nkflow::simulate::{write_cohort, Settings};

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

/// F1 of the union of metaclusters with a strict majority of `truth` among
/// the file's clustered events, against all `n_truth` true events.
fn majority_f1(mc: &[u16], truth: &[bool], n_truth: usize) -> f64 {
    let mut total: BTreeMap<u16, (usize, usize)> = BTreeMap::new();
    for (&m, &t) in mc.iter().zip(truth) {
        let e = total.entry(m).or_default();
        e.0 += 1;
        e.1 += t as usize;
    }
    let (mut tp, mut pred) = (0, 0);
    for &(n, i) in total.values() {
        if 2 * i > n {
            tp += i;
            pred += n;
        }
    }
    2.0 * tp as f64 / (pred + n_truth) as f64
}

/// Per event of a file: the 0-based metacluster from `assignments/`.
fn read_assignments(path: &Path) -> Vec<Option<u16>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let v = l.trim_matches('"');
            (!v.is_empty()).then(|| v.parse::<u16>().unwrap() - 1)
        })
        .collect()
}

/// Per event of a file: the true population (`labels/<stem>.labels.csv`).
fn read_labels(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or("").to_string())
        .collect()
}

struct FileData {
    name: String,
    rows: FileRows,
    /// True population of each clustered event.
    labels: Vec<String>,
    /// True NK cells in the whole file.
    n_true_nk: usize,
    /// The stage's metacluster of each clustered event (from assignments/).
    stage_mc: Vec<u16>,
}

fn is_true_nk(label: &str) -> bool {
    label.starts_with("nk_cd56")
}

fn run_cohort(a: &Args, seed: u64, dir: &Path) -> Vec<(String, f64, f64, Option<f64>)> {
    let sim = dir.join("sim");
    let out = dir.join("out");
    write_cohort(
        &Settings {
            seed,
            samples: a.samples,
            events: Some(a.events),
            labels: true,
            ..Settings::default()
        },
        &sim,
    )
    .unwrap();
    nkflow::cli::run::run(RunArgs {
        pipeline: a.pipeline.clone(),
        inputs: vec![sim.clone()],
        samplesheet: Some(sim.join("samplesheet.csv")),
        panel: None,
        outdir: out.clone(),
        threads: 0,
        assignments: true,
        report: false,
    })
    .unwrap();

    let pipeline = Pipeline::from_file(&a.pipeline).unwrap();
    let spec = pipeline
        .cluster
        .clone()
        .expect("the pipeline has a cluster block");
    let mut names: Vec<String> = std::fs::read_dir(&sim)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.ends_with(".fcs").then_some(n)
        })
        .collect();
    names.sort(); // the runner's input order for a folder
    let files: Vec<FileData> = names
        .iter()
        .map(|name| {
            let bytes = std::fs::read(sim.join(name)).unwrap();
            let sample = read_fcs(name, &bytes).unwrap();
            let gated = engine::gate_sample(&pipeline, sample, &BTreeMap::new()).unwrap();
            let rows = preprocess_file(&spec, &gated).unwrap();
            let stem = name.trim_end_matches(".fcs");
            let all_labels = read_labels(&sim.join("labels").join(format!("{stem}.labels.csv")));
            let assigned = read_assignments(&out.join("assignments").join(format!("{name}.csv")));
            assert_eq!(assigned.len(), rows.n_events, "{name}");
            let clustered: Vec<u32> = (0..assigned.len() as u32)
                .filter(|&i| assigned[i as usize].is_some())
                .collect();
            assert_eq!(
                clustered, rows.events,
                "{name}: preprocess_file's events are not the stage's"
            );
            FileData {
                name: name.clone(),
                labels: rows
                    .events
                    .iter()
                    .map(|&i| all_labels[i as usize].clone())
                    .collect(),
                n_true_nk: all_labels.iter().filter(|l| is_true_nk(l)).count(),
                stage_mc: clustered
                    .iter()
                    .map(|&i| assigned[i as usize].unwrap_or(0))
                    .collect(),
                rows,
            }
        })
        .collect();

    // The rows are the stage's: the same training reproduces its assignments.
    let markers: Vec<&str> = spec.markers.iter().map(String::as_str).collect();
    let params = spec.params();
    let total: usize = files.iter().map(|f| f.rows.events.len()).sum();
    assert!(
        total <= spec.train_events,
        "{total} clustered events > train_events {}: the stage would subsample and Python would not",
        spec.train_events
    );
    let inputs: Vec<RowsInput> = files
        .iter()
        .enumerate()
        .map(|(k, f)| RowsInput {
            name: &f.name,
            rows: &f.rows.rows,
            position: k,
        })
        .collect();
    let model = FlowSom::train_rows(&inputs, &markers, &params).unwrap();
    for f in &files {
        assert_eq!(
            model.metaclusters_of_rows(&f.rows.rows),
            f.stage_mc,
            "{}: retrained metaclusters differ from the stage's assignments",
            f.name
        );
    }

    if let Some(d) = &a.dump {
        dump(&d.join(seed.to_string()), &files, &markers, &model);
    }

    let python = if a.python {
        Some(python_f1(&files, &spec, dir))
    } else {
        None
    };
    files
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let truth: Vec<bool> = f.labels.iter().map(|l| is_true_nk(l)).collect();
            let ours = majority_f1(&f.stage_mc, &truth, f.n_true_nk);
            let gate = majority_f1(&f.stage_mc, &f.rows.scored, f.rows.scored_total);
            (
                format!("{} ({} NK)", f.name, f.n_true_nk),
                ours,
                gate,
                python.as_ref().map(|p| p[k]),
            )
        })
        .collect()
}

/// Python flowsom's per-file F1 on the pooled rows.
fn python_f1(
    files: &[FileData],
    spec: &nkflow::cluster::stage::ClusterSpec,
    dir: &Path,
) -> Vec<f64> {
    let dim = spec.markers.len();
    let total: usize = files.iter().map(|f| f.rows.events.len()).sum();
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("x.f64")).unwrap());
    for j in 0..dim {
        for f in files {
            for row in f.rows.rows.chunks_exact(dim) {
                w.write_all(&(row[j] as f64).to_le_bytes()).unwrap();
            }
        }
    }
    w.flush().unwrap();
    drop(w);
    let ids: Vec<u8> = files
        .iter()
        .enumerate()
        .flat_map(|(k, f)| std::iter::repeat(k as u8).take(f.rows.events.len()))
        .collect();
    let truth: Vec<u8> = files
        .iter()
        .flat_map(|f| f.labels.iter().map(|l| is_true_nk(l) as u8))
        .collect();
    let n_truth: Vec<String> = files.iter().map(|f| f.n_true_nk.to_string()).collect();
    std::fs::write(dir.join("files.u8"), ids).unwrap();
    std::fs::write(dir.join("truth.u8"), truth).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let py = std::env::var_os("NKFLOW_PEERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".peers/bin/python"));
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let out = Command::new(&py)
        .arg(root.join("benches/flowsom_compare.py"))
        .args(["--matrix", &p("x.f64"), "--files", &p("files.u8")])
        .args(["--truth", &p("truth.u8"), "--variants", "default"])
        .args(["--n", &total.to_string(), "--d", &dim.to_string()])
        .args(["--xdim", &spec.grid[0].to_string()])
        .args(["--ydim", &spec.grid[1].to_string()])
        .args(["--rlen", &spec.rlen.to_string(), "--k", &spec.k.to_string()])
        .args(["--seed", &spec.seed.to_string()])
        .args(["--truth-totals", &n_truth.join(",")])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", py.display()));
    assert!(
        out.status.success(),
        "flowsom_compare.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    v["f1"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn dump(dir: &Path, files: &[FileData], markers: &[&str], model: &FlowSom) {
    std::fs::create_dir_all(dir).unwrap();
    let dim = markers.len();
    for f in files {
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(dir.join(format!("{}.csv", f.name))).unwrap(),
        );
        writeln!(w, "event,label,nk_gate,metacluster,{}", markers.join(",")).unwrap();
        for (r, row) in f.rows.rows.chunks_exact(dim).enumerate() {
            let vals: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            writeln!(
                w,
                "{},{},{},{},{}",
                f.rows.events[r],
                f.labels[r],
                f.rows.scored[r] as u8,
                f.stage_mc[r] + 1,
                vals.join(",")
            )
            .unwrap();
        }
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("codes.csv")).unwrap());
    writeln!(w, "node,metacluster,{}", markers.join(",")).unwrap();
    for (n, code) in model.codes().chunks_exact(dim).enumerate() {
        let vals: Vec<String> = code.iter().map(|v| v.to_string()).collect();
        writeln!(
            w,
            "{},{},{}",
            n,
            model.node_metacluster()[n] + 1,
            vals.join(",")
        )
        .unwrap();
    }
}

fn main() {
    let a = args();
    let pipeline = a.pipeline.display().to_string();
    println!(
        "FlowSOM stage of {pipeline} vs Python flowsom 0.2.2 on the identical matrix: NK F1 per file against the true NK cells"
    );
    let mut worst = (f64::INFINITY, f64::INFINITY);
    for &seed in &a.seeds {
        let tmp = tempfile::tempdir().unwrap();
        let rows = run_cohort(&a, seed, tmp.path());
        println!(
            "cohort seed {seed} ({} files × {} events):",
            a.samples, a.events
        );
        for (file, ours, gate, py) in rows {
            let py_s = py.map_or_else(|| "-".to_string(), |p| format!("{p:.4}"));
            println!(
                "  {file:<28} nkflow {ours:.4}  flowsom {py_s}  (nkflow vs NK gate {gate:.4})"
            );
            worst.0 = worst.0.min(ours);
            worst.1 = worst.1.min(py.unwrap_or(f64::INFINITY));
        }
    }
    println!(
        "lowest per-file F1: nkflow {:.4}, flowsom {:.4}",
        worst.0, worst.1
    );
}
