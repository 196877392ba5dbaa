//! The hot loops run at the widest instruction-set tier the CPU has
//! (`nkflow::simd`); a narrower tier must write the same bytes. Each tier is
//! forced with `NKFLOW_SIMD`, on the bundled cohort with the full preset
//! (gating, statistics, clustering) and on a simulated cohort with other
//! label spellings, ranges and an HLA channel, and every output file that holds
//! results is compared byte for byte.

mod common;

use std::path::{Path, PathBuf};

/// `nkflow run` at a forced tier.
fn run_at(tier: &str, input: &Path, out: &Path) {
    common::run_pipeline(
        &common::preset("nk-day30"),
        input,
        Some(&input.join("samplesheet.csv")),
        out,
        &["--threads", "2"],
        &[("NKFLOW_SIMD", tier)],
    );
}

/// Every results file of an output directory: the tables, clusters and the
/// gates actually applied (run.json holds timings, report.html embeds them).
fn result_files(out: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["results.csv", "populations.csv", "clusters.csv"]
        .iter()
        .map(|f| out.join(f))
        .filter(|p| p.exists())
        .collect();
    let mut gates: Vec<PathBuf> = std::fs::read_dir(out.join("gates"))
        .expect("gates/")
        .map(|e| e.expect("dir entry").path())
        .collect();
    gates.sort();
    files.extend(gates);
    files
}

fn same_bytes_at_every_tier(input: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let widest = tmp.path().join("widest");
    run_at("avx512", input, &widest);
    let want = result_files(&widest);
    assert!(want.len() >= 3, "{want:?}");
    for tier in ["portable", "avx2"] {
        let out = tmp.path().join(tier);
        run_at(tier, input, &out);
        let run: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
        if tier == "portable" {
            assert_eq!(run["simd"], "portable", "run.json records the tier");
        }
        let got = result_files(&out);
        assert_eq!(got.len(), want.len(), "NKFLOW_SIMD={tier}: {got:?}");
        for (a, b) in want.iter().zip(&got) {
            assert_eq!(a.file_name(), b.file_name());
            assert!(
                std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
                "{} differs between the widest tier and NKFLOW_SIMD={tier}",
                a.file_name().unwrap().to_string_lossy()
            );
        }
    }
}

#[test]
fn bundled_cohort_same_bytes_at_every_tier() {
    same_bytes_at_every_tier(&common::repo_root().join("fcs-samples"));
}

#[test]
fn simulated_variant_cohort_same_bytes_at_every_tier() {
    let tmp = tempfile::tempdir().unwrap();
    common::simulate(
        tmp.path(),
        4242,
        4,
        40_000,
        &["--panel-style", "mixed", "--hla"],
    );
    same_bytes_at_every_tier(tmp.path());
}
