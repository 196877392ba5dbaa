//! Shared helpers for integration tests: where the read-only reference data
//! (`../shared`) and the Python peers (FlowKit, FlowIO, flowutils, flowsom)
//! are, and the rule that with `CI=true` a missing one is a failure, not a skip.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// True when running under CI (`CI=true`): missing data or peers fail.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The repository root (this crate's manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the checkout (or `$NKFLOW_SHARED`).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("NKFLOW_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("..").join("shared"))
}

/// A path under `../shared`, or `None` (test skipped with a message) when it
/// is missing outside CI. Under CI a missing data set panics.
pub fn require_shared(sub: &str) -> Option<PathBuf> {
    let p = shared_dir().join(sub);
    if p.exists() {
        return Some(p);
    }
    if in_ci() {
        panic!(
            "reference data {} is missing (CI=true: this is a failure)",
            p.display()
        );
    }
    eprintln!("SKIP: reference data {} is missing", p.display());
    None
}

/// The Python interpreter of the peers' virtual environment:
/// `$NKFLOW_PEERS_PYTHON`, else `<repo>/.peers/bin/python` (made by `.ci/run`).
/// Checks that it can import `module`. Under CI a missing peer panics.
pub fn peer_python(module: &str) -> Option<PathBuf> {
    let py = std::env::var_os("NKFLOW_PEERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".peers").join("bin").join("python"));
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    if in_ci() {
        panic!(
            "Python peer {module} not importable with {} (CI=true: this is a failure)",
            py.display()
        );
    }
    eprintln!(
        "SKIP: Python peer {module} not available at {}",
        py.display()
    );
    None
}

/// Runs a Python script with the peers' interpreter; panics with its stderr on failure.
pub fn run_python(py: &Path, script: &Path, args: &[&str]) -> String {
    let out = Command::new(py)
        .arg(script)
        .args(args)
        .output()
        .expect("spawn python");
    assert!(
        out.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the `nkflow` binary of this build; panics with its stderr when it
/// fails (the integration tests drive the CLI exactly as a user does).
pub fn nkflow(args: &[&str]) -> std::process::Output {
    nkflow_env(args, &[])
}

/// [`nkflow`] with environment variables set for the run (e.g.
/// `NKFLOW_SIMD`).
pub fn nkflow_env(args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_nkflow"))
        .args(args)
        .envs(vars.iter().copied())
        .output()
        .expect("spawn nkflow");
    assert!(
        out.status.success(),
        "{vars:?} nkflow {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `nkflow run PIPELINE INPUT [--samplesheet SHEET] -o OUT EXTRA...` with
/// `vars` in its environment; panics with its stderr when it fails.
pub fn run_pipeline(
    pipeline: &Path,
    input: &Path,
    sheet: Option<&Path>,
    out: &Path,
    extra: &[&str],
    vars: &[(&str, &str)],
) -> std::process::Output {
    let utf8 = |p: &Path| p.to_str().expect("UTF-8 test path").to_string();
    let mut args = vec!["run".to_string(), utf8(pipeline), utf8(input)];
    if let Some(sheet) = sheet {
        args.extend(["--samplesheet".to_string(), utf8(sheet)]);
    }
    args.extend(["-o".to_string(), utf8(out)]);
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    nkflow_env(&args, vars)
}

/// A CSV file (results.csv, populations.csv …) as rows of column → value.
pub fn csv_rows(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut rdr = csv::Reader::from_path(path).expect("open CSV");
    let h = rdr.headers().expect("CSV header").clone();
    rdr.records()
        .map(|r| {
            let r = r.expect("CSV record");
            h.iter()
                .zip(r.iter())
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        })
        .collect()
}

/// Writes a simulated cohort into `dir` with `nkflow simulate` (FCS files,
/// samplesheet.csv, truth.json); `extra` adds options such as
/// `--clog-fraction 0.3` or `--hla`.
pub fn simulate(dir: &Path, seed: u64, samples: usize, events: usize, extra: &[&str]) {
    let (seed, samples, events) = (seed.to_string(), samples.to_string(), events.to_string());
    let mut args = vec![
        "simulate",
        "-o",
        dir.to_str().expect("UTF-8 temp path"),
        "--seed",
        &seed,
        "--samples",
        &samples,
        "--events",
        &events,
    ];
    args.extend_from_slice(extra);
    nkflow(&args);
}

/// A bundled preset, `pipelines/<name>.json`.
pub fn preset(name: &str) -> PathBuf {
    repo_root().join("pipelines").join(format!("{name}.json"))
}
