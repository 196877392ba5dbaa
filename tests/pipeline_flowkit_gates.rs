//! `gates/<file>.xml` is meant for other tools: FlowKit, given the Gating-ML
//! file nkflow wrote for each bundled sample, must count every population
//! exactly as populations.csv does. The FlowKit side is the bench's script
//! (`benches/pipeline_flowkit.py`: FlowKit parses the FCS file itself,
//! compensates with the file's spillover and gates with `gate_sample`), so
//! the bench's "like for like" comparison is checked here, too.
//!
//! Where the CD45 gate finds no valley it falls back to the 0 quantile
//! (P05–P07 here): that bound sits just outside the lowest event, not on it,
//! so FlowKit's last-digit differences in compensation cannot drop the event
//! (they did, one event per population below cd45, before the bound moved).

mod common;

use std::process::Command;

#[test]
fn flowkit_reapplies_the_written_gates_to_the_same_counts() {
    let Some(py) = common::peer_python("flowkit") else {
        return;
    };
    let root = common::repo_root();
    let samples = root.join("fcs-samples");
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_nkflow"))
        .arg("run")
        .arg(root.join("pipelines/nk-day30.json"))
        .arg(&samples)
        .arg("--samplesheet")
        .arg(samples.join("samplesheet.csv"))
        .arg("-o")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let json = common::run_python(
        &py,
        &root.join("benches/pipeline_flowkit.py"),
        &[
            samples.to_str().unwrap(),
            out.path().to_str().unwrap(),
            "1000",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let files = v["files"].as_u64().unwrap();
    let compared = v["populations_compared"].as_u64().unwrap();
    let mismatches = v["count_mismatches"].as_array().unwrap();
    eprintln!(
        "FlowKit: {files} files, {compared} population counts compared, mismatches: {mismatches:?}"
    );
    assert_eq!(files, 12, "every bundled sample");
    // 12 files × the preset's populations (a few are left out where FlowKit
    // names helper gates differently); far fewer means the comparison broke.
    assert!(compared >= 12 * 15, "only {compared} counts compared");
    assert!(
        mismatches.is_empty(),
        "FlowKit counts differ: {mismatches:?}"
    );
}
