//! The nk-day30 cluster stage beside Python flowsom on the identical
//! preprocessed matrix, for one simulated cohort: shared by
//! `benches/cluster_nk_peer.rs` (any seeds, printed) and
//! `tests/cluster_pipeline_peer.rs` (two cohorts, asserted).
//!
//! 1. **nkflow**: `nkflow run <pipeline> --assignments` (the library's CLI
//!    entry point, as a user runs it); every event's metacluster is read
//!    back from `assignments/`.
//! 2. **The identical matrix**: every file is gated again with the same
//!    pipeline and [`preprocess_file`] — the function the stage itself
//!    calls — gives the clustered events' transformed rows. They are checked
//!    to be the stage's: [`FlowSom::train_rows`] on them with the block's
//!    parameters reproduces every event's metacluster in `assignments/`.
//! 3. **Python flowsom** (`benches/flowsom_compare.py`, `FlowSOMEstimator`:
//!    online SOM + consensus metaclustering) on the pooled rows (as
//!    float64), same grid, rlen, k and seed. The stage trains on every
//!    clustered event when the batch has at most `train_events` of them, as
//!    Python does; larger cohorts are refused rather than compared on
//!    different training sets (without Python they run: the stage's even
//!    subsample is then what is scored).
//!
//! Both F1s use one rule: the union of the metaclusters in which the true NK
//! cells are a strict majority of the file's clustered events, against every
//! true NK cell of the file (NK outside the clustered population are misses).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use nkflow::cli::run::{read_fcs, RunArgs};
use nkflow::cluster::stage::{preprocess_file, ClusterSpec, FileRows};
use nkflow::cluster::{FlowSom, RowsInput};
use nkflow::pipeline::definition::Pipeline;
use nkflow::pipeline::engine;
use nkflow::simulate::{write_cohort, Settings};

/// One file's scores.
#[derive(Debug, Clone)]
pub struct FileScore {
    pub file: String,
    /// True NK cells in the file.
    pub n_nk: usize,
    /// nkflow's stage against the true NK cells.
    pub nkflow: f64,
    /// nkflow's stage against the NK gate (results.csv `flowsom_nk_f1`).
    pub nkflow_vs_gate: f64,
    /// Python flowsom against the true NK cells (when run).
    pub flowsom: Option<f64>,
}

/// A cohort to simulate and cluster.
pub struct Cohort<'a> {
    pub pipeline: &'a Path,
    pub seed: u64,
    pub samples: usize,
    pub events: usize,
    /// The peers' Python; `None` skips flowsom.
    pub python: Option<&'a Path>,
    /// Write the rows, labels and codes here for diagnosis.
    pub dump: Option<&'a Path>,
}

/// F1 of the union of metaclusters with a strict majority of `truth` among
/// the file's clustered events, against all `n_truth` true events.
pub fn majority_f1(mc: &[u16], truth: &[bool], n_truth: usize) -> f64 {
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

/// Simulates the cohort into `dir`, runs the pipeline and flowsom, and
/// scores every file (in the runner's input order).
pub fn run_cohort(c: &Cohort<'_>, dir: &Path) -> Vec<FileScore> {
    let seed = c.seed;
    let sim = dir.join("sim");
    let out = dir.join("out");
    write_cohort(
        &Settings {
            seed,
            samples: c.samples,
            events: Some(c.events),
            labels: true,
            ..Settings::default()
        },
        &sim,
    )
    .unwrap();
    nkflow::cli::run::run(RunArgs {
        pipeline: c.pipeline.to_path_buf(),
        inputs: vec![sim.clone()],
        samplesheet: Some(sim.join("samplesheet.csv")),
        panel: None,
        outdir: out.clone(),
        threads: 0,
        assignments: true,
        report: false,
    })
    .unwrap();

    let pipeline = Pipeline::from_file(c.pipeline).unwrap();
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
    // Python trains on every row it is given; compare only when the stage
    // did too (without Python, larger cohorts check the subsampled map).
    assert!(
        c.python.is_none() || total <= spec.train_events,
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

    check_medians(&out.join("clusters.csv"), &files, &spec);

    if let Some(d) = c.dump {
        dump(&d.join(seed.to_string()), &files, &markers, &model);
    }

    let python = c.python.map(|py| python_f1(py, &files, &spec, dir));
    files
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let truth: Vec<bool> = f.labels.iter().map(|l| is_true_nk(l)).collect();
            let ours = majority_f1(&f.stage_mc, &truth, f.n_true_nk);
            let gate = majority_f1(&f.stage_mc, &f.rows.scored, f.rows.scored_total);
            FileScore {
                file: f.name.clone(),
                n_nk: f.n_true_nk,
                nkflow: ours,
                nkflow_vs_gate: gate,
                flowsom: python.as_ref().and_then(|p| p.get(k).copied()),
            }
        })
        .collect()
}

/// clusters.csv's medians — of the clustered markers, then of the described
/// ones — are those of the stage's rows per metacluster (R's median),
/// recomputed here from [`preprocess_file`]'s rows and `assignments/`.
fn check_medians(path: &Path, files: &[FileData], spec: &ClusterSpec) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let markers = spec.all_markers();
    let first = header.len() - markers.len();
    for (m, h) in markers.iter().zip(&header[first..]) {
        assert_eq!(*h, format!("median_{m}"));
    }
    let (dim, n_desc) = (spec.markers.len(), spec.describe_markers.len());
    let mut checked = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let f = files.iter().find(|f| f.name == cells[0]).unwrap();
        let mc: u16 = cells[1].parse::<u16>().unwrap() - 1;
        let members: Vec<usize> = (0..f.stage_mc.len())
            .filter(|&i| f.stage_mc[i] == mc)
            .collect();
        assert_eq!(cells[3].parse::<usize>().unwrap(), members.len(), "{line}");
        for (j, cell) in cells[first..].iter().enumerate() {
            let mut v: Vec<f64> = members
                .iter()
                .map(|&i| {
                    if j < dim {
                        f.rows.rows[i * dim + j] as f64
                    } else {
                        f.rows.described[i * n_desc + j - dim] as f64
                    }
                })
                .collect();
            v.sort_by(f64::total_cmp);
            let n = v.len();
            if n == 0 {
                assert_eq!(*cell, "", "{line}");
                continue;
            }
            let median = if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            };
            assert_eq!(*cell, format!("{median:.6}"), "{}: {line}", markers[j]);
            checked += 1;
        }
    }
    assert!(checked > 0);
}

/// Python flowsom's per-file F1 on the pooled rows.
fn python_f1(py: &Path, files: &[FileData], spec: &ClusterSpec, dir: &Path) -> Vec<f64> {
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
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let out = Command::new(py)
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
