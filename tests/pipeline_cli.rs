//! `nkflow simulate` → `nkflow run` on files: results.csv against truth.json
//! (tolerances of the issue; the worst errors are printed), and every
//! gates/<file>.xml re-applied by the gating engine to the FCS file gives
//! populations.csv's counts exactly.

mod common;

use std::path::Path;

#[test]
fn simulated_cohort_on_disk_matches_truth_and_gates_reapply() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    let out = tmp.path().join("out");
    common::simulate(&sim, 31, 8, 60000, &["--clog-fraction", "0.3"]);
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/nk-day30.json");
    common::run_pipeline(
        &preset,
        &sim,
        Some(&sim.join("samplesheet.csv")),
        &out,
        &["--threads", "2"],
        &[],
    );
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.join("truth.json")).unwrap()).unwrap();
    let results = common::csv_rows(&out.join("results.csv"));
    assert_eq!(results.len(), 8);
    let mut worst: Vec<(f64, String)> = Vec::new();
    for r in &results {
        let t = &truth["files"][&r["file"]];
        assert_eq!(r["error"], "", "{}", r["file"]);
        let small = t["nk_events"].as_u64().unwrap() < 500;
        let (rel, pts) = if small { (0.10, 5.0) } else { (0.03, 2.0) };
        let got: f64 = r["nk_per_ul"].parse().unwrap();
        let want = t["nk_per_ul"].as_f64().unwrap();
        let e = (got / want - 1.0).abs();
        worst.push((
            e / rel,
            format!("{} nk_per_ul {got:.2} vs {want:.2}", r["file"]),
        ));
        for c in ["pct_nkg2c", "pct_kir", "pct_nkg2c_kir", "pct_cd56bright"] {
            let Some(want) = t[c].as_f64() else { continue };
            let got: f64 = r[c].parse().unwrap();
            worst.push((
                (got - want).abs() / pts,
                format!("{} {c} {got:.2} vs {want:.2}", r["file"]),
            ));
        }
    }
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    for w in worst.iter().take(8) {
        eprintln!("error/tolerance {:.3}: {}", w.0, w.1);
    }
    assert!(worst[0].0 <= 1.0, "out of tolerance: {}", worst[0].1);

    // gates/*.xml re-applied by the gating engine reproduce populations.csv.
    let pops = common::csv_rows(&out.join("populations.csv"));
    for r in &results {
        let file = &r["file"];
        let strategy =
            nkflow::gatingml::read_path(&out.join("gates").join(format!("{file}.xml"))).unwrap();
        let sample = nkflow::fcs::read(&sim.join(file)).unwrap();
        let res = strategy.gate_sample(&sample).unwrap();
        let mut n = 0;
        for p in pops
            .iter()
            .filter(|p| &p["file"] == file && p["population"] != "root")
        {
            assert_eq!(
                res.count(&p["population"]).unwrap().to_string(),
                p["count"],
                "{file} {}",
                p["population"]
            );
            n += 1;
        }
        assert!(n >= 18, "{file}: only {n} populations compared");
    }
}
