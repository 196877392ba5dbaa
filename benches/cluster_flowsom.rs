//! FlowSOM bench: nkflow beside Python flowsom (0.2.2) in the same run.
//!
//! 1. Speed and memory: one file of `--events` (default 1,000,000) × 10
//!    markers, 10 × 10 grid, rlen 10, k 10: nkflow on 1 and 2 threads (wall
//!    time of training + metaclustering + mapping + table), peak RSS of the
//!    process (VmHWM, reset before clustering; includes the 80 MB input
//!    matrix) against 2 × the matrix; the same for nkflow's optional batch
//!    map (`SomAlgorithm::Batch`, not R's algorithm); Python flowsom's
//!    default (online) and BatchFlowSOM on the identical matrix with
//!    NUMBA_NUM_THREADS=2.
//! 2. Accuracy: a synthetic cohort (`--files` × `--file-events`), one map for
//!    all files; per-file F1 of the NK metaclusters against the true NK cells,
//!    nkflow (online and batch map) and both Python variants on the
//!    identical pooled matrix.
//!
//! `cargo bench --bench cluster_flowsom [-- --events N --files F --file-events M --no-python]`

#[path = "../tests/cluster_synth/mod.rs"]
mod cluster_synth;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use cluster_synth::{is_nk, sample, MARKERS};
use nkflow::cluster::{cluster_batch, ClusterInput, ClusterRun, FlowSomParams, SomAlgorithm};
use nkflow::EventMatrix;

struct Args {
    events: usize,
    files: usize,
    file_events: usize,
    python: bool,
}

fn args() -> Args {
    let mut a = Args {
        events: 1_000_000,
        files: 6,
        file_events: 50_000,
        python: true,
    };
    let v: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < v.len() {
        let num = |j: usize| v.get(j).and_then(|s| s.parse().ok());
        match v[i].as_str() {
            "--events" => a.events = num(i + 1).unwrap_or(a.events),
            "--files" => a.files = num(i + 1).unwrap_or(a.files),
            "--file-events" => a.file_events = num(i + 1).unwrap_or(a.file_events),
            "--no-python" => a.python = false,
            _ => {}
        }
        i += if v[i] == "--no-python" || v[i] == "--bench" {
            1
        } else {
            2
        };
    }
    a
}

fn vm_hwm_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds (user + system) of this process so far: on a shared,
/// loaded machine wall time includes time spent waiting for a core, CPU
/// time does not.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13
    // after the state field; in clock ticks (100 per second on Linux).
    match (f.get(10), f.get(11)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

fn reset_hwm() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peers_python() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let py = std::env::var_os("NKFLOW_PEERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".peers/bin/python"));
    py.exists().then_some(py)
}

/// Writes the pooled matrix (column-major f64), file ids and NK truth.
fn write_inputs(dir: &Path, files: &[(EventMatrix, Vec<u8>)]) -> usize {
    let n: usize = files.iter().map(|(m, _)| m.n_events()).sum();
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("x.f64")).unwrap());
    for j in 0..MARKERS.len() {
        for (m, _) in files {
            for v in m.column(j) {
                w.write_all(&v.to_le_bytes()).unwrap();
            }
        }
    }
    w.flush().unwrap();
    let ids: Vec<u8> = files
        .iter()
        .enumerate()
        .flat_map(|(f, (m, _))| std::iter::repeat(f as u8).take(m.n_events()))
        .collect();
    std::fs::write(dir.join("files.u8"), ids).unwrap();
    let truth: Vec<u8> = files
        .iter()
        .flat_map(|(_, l)| l.iter().map(|&l| is_nk(l) as u8))
        .collect();
    std::fs::write(dir.join("truth.u8"), truth).unwrap();
    n
}

fn python(py: &Path, dir: &Path, n: usize, params: &FlowSomParams) -> Vec<(String, f64, Vec<f64>)> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/flowsom_compare.py");
    let out = Command::new(py)
        .arg(script)
        .args(["--matrix", &dir.join("x.f64").to_string_lossy()])
        .args(["--files", &dir.join("files.u8").to_string_lossy()])
        .args(["--truth", &dir.join("truth.u8").to_string_lossy()])
        .args(["--n", &n.to_string(), "--d", &MARKERS.len().to_string()])
        .args(["--xdim", &params.grid.xdim.to_string()])
        .args(["--ydim", &params.grid.ydim.to_string()])
        .args([
            "--rlen",
            &params.rlen.to_string(),
            "--k",
            &params.k.to_string(),
        ])
        .args(["--seed", &params.seed.to_string()])
        .env("NUMBA_NUM_THREADS", "2")
        .output()
        .expect("run python");
    if !out.status.success() {
        eprintln!(
            "python flowsom failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            (
                v["variant"].as_str().unwrap_or("?").to_string(),
                v["seconds"].as_f64().unwrap_or(f64::NAN),
                v["f1"]
                    .as_array()
                    .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn run(inputs: &[ClusterInput], params: &FlowSomParams, threads: usize) -> (ClusterRun, f64) {
    let (r, secs, _) = run_cpu(inputs, params, threads);
    (r, secs)
}

/// Wall and CPU seconds of one clustering.
fn run_cpu(
    inputs: &[ClusterInput],
    params: &FlowSomParams,
    threads: usize,
) -> (ClusterRun, f64, f64) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let c0 = cpu_seconds();
    let t0 = Instant::now();
    let r = pool
        .install(|| cluster_batch(inputs, &MARKERS, params))
        .unwrap();
    (r, t0.elapsed().as_secs_f64(), cpu_seconds() - c0)
}

fn f1s(run: &ClusterRun, labels: &[&[u8]]) -> Vec<f64> {
    run.samples
        .iter()
        .zip(labels)
        .map(|(s, l)| {
            let nk: Vec<bool> = l.iter().map(|&x| is_nk(x)).collect();
            s.agreement(&nk).unwrap().f1()
        })
        .collect()
}

fn fmt_f1(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    format!(
        "min {min:.4}  [{}]",
        v.iter()
            .map(|x| format!("{x:.4}"))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn main() {
    let a = args();
    let params = FlowSomParams {
        seed: 42,
        ..FlowSomParams::default()
    };
    let py = if a.python { peers_python() } else { None };
    let dir = tempfile::tempdir().unwrap();

    // 1. Speed and memory.
    let (m, labels) = sample(a.events, 2026);
    let matrix_mb = (m.n_events() * m.n_channels() * 8) as f64 / 1e6;
    let single = vec![(m, labels)];
    let n = if py.is_some() {
        write_inputs(dir.path(), &single)
    } else {
        0
    };
    let (m, labels) = single.into_iter().next().unwrap();
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "FlowSOM speed: {} events x {} markers ({matrix_mb:.0} MB f64), grid {}x{}, rlen {}, k {}, seed {}",
        m.n_events(),
        m.n_channels(),
        params.grid.xdim,
        params.grid.ydim,
        params.rlen,
        params.k,
        params.seed
    );
    let inputs = [ClusterInput::new("bench.fcs", &m)];
    // R's online SOM, then the optional batch map (not R's algorithm),
    // beside BatchFlowSOM.
    let batch = FlowSomParams {
        algorithm: SomAlgorithm::Batch,
        ..params
    };
    for (label, p) in [("", &params), ("batch map, ", &batch)] {
        let mut first: Option<ClusterRun> = None;
        for threads in [2, 1] {
            reset_hwm();
            let (r, secs, cpu) = run_cpu(&inputs, p, threads);
            let hwm = vm_hwm_kb().map_or(f64::NAN, |kb| kb as f64 / 1e3);
            let f1 = f1s(&r, &[&labels]);
            println!(
                "  nkflow   {label}{threads} thread(s): {secs:6.2} s wall, {cpu:5.2} s CPU   NK F1 {:.4}   peak RSS {hwm:.0} MB ({:.2}x the matrix)",
                f1[0],
                hwm / matrix_mb
            );
            if let Some(f) = &first {
                let same = f.model.codes() == r.model.codes()
                    && f.samples[0].metaclusters == r.samples[0].metaclusters;
                println!("  identical to 2-thread run: {same}");
            }
            first = Some(r);
        }
    }
    if let Some(py) = &py {
        for (variant, secs, f1) in python(py, dir.path(), n, &params) {
            println!(
                "  flowsom  {variant:8} (2 numba threads): {secs:6.2} s   NK F1 {:.4}",
                f1.first().copied().unwrap_or(f64::NAN)
            );
        }
    }
    drop(m);

    // 2. Accuracy on a cohort.
    let cohort: Vec<(EventMatrix, Vec<u8>)> = (0..a.files)
        .map(|f| sample(a.file_events, 300 + f as u64))
        .collect();
    println!(
        "FlowSOM accuracy: cohort of {} files x {} events, one map on all events",
        a.files, a.file_events
    );
    let names: Vec<String> = (0..a.files)
        .map(|f| format!("P{:02}_D30.fcs", f + 1))
        .collect();
    let inputs: Vec<ClusterInput> = cohort
        .iter()
        .zip(&names)
        .map(|((m, _), n)| ClusterInput::new(n, m))
        .collect();
    let (r, secs) = run(&inputs, &params, 2);
    let labels: Vec<&[u8]> = cohort.iter().map(|(_, l)| l.as_slice()).collect();
    println!(
        "  nkflow   ({secs:.2} s): NK F1 per file {}",
        fmt_f1(&f1s(&r, &labels))
    );
    let (r, secs) = run(&inputs, &batch, 2);
    println!(
        "  nkflow   batch map ({secs:.2} s): NK F1 per file {}",
        fmt_f1(&f1s(&r, &labels))
    );
    if let Some(py) = &py {
        let n = write_inputs(dir.path(), &cohort);
        for (variant, secs, f1) in python(py, dir.path(), n, &params) {
            println!(
                "  flowsom  {variant} ({secs:.2} s): NK F1 per file {}",
                fmt_f1(&f1)
            );
        }
    }
}
