//! `nkflow convert FILE --pipeline P.json --population NAME -o OUT.csv|.fcs`
//! against `nkflow run` on the same files: the exported rows are exactly the
//! population's events (count = populations.csv's count; the events = those
//! that gates/<file>.xml selects), and the values are the file's events on
//! the FCS scale compensated with its own $SPILLOVER, computed here
//! independently of the pipeline.

mod common;

use std::path::Path;
use std::process::Command;

use nkflow::compensation::Matrix;

/// The file's events on the FCS scale, compensated with its own spillover
/// (the reference values), and which of them `gates/<file>.xml` puts in
/// `population`.
fn reference(fcs: &Path, gates: &Path, population: &str) -> (nkflow::EventMatrix, Vec<bool>) {
    let mut sample = nkflow::fcs::read(fcs).unwrap();
    let strategy = nkflow::gatingml::read_path(gates).unwrap();
    let res = strategy.gate_sample(&sample).unwrap();
    let m = res.membership(population).unwrap();
    let members: Vec<bool> = (0..res.n_events()).map(|i| m.get(i)).collect();
    sample.apply_scale();
    let matrix = Matrix::from_sample(&sample).unwrap().unwrap();
    matrix.compensate_sample(&mut sample).unwrap();
    (sample.events, members)
}

#[test]
fn population_export_matches_run_counts_and_source_values() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    let out = tmp.path().join("out");
    let s = sim.to_str().unwrap();
    common::simulate(&sim, 41, 3, 40000, &[]);
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/nk-day30.json");
    let preset = preset.to_str().unwrap();
    common::nkflow(&["run", preset, s, "-o", out.to_str().unwrap()]);
    let pops = common::csv_rows(&out.join("populations.csv"));
    let results = common::csv_rows(&out.join("results.csv"));
    // No HLA antibody in these files: the donor-by-HLA gate is listed as
    // not applied (not a warning, not an error), its columns empty.
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    for input in run["inputs"].as_array().unwrap() {
        assert_eq!(input["gates_not_applied"][0]["gate"], "nk_donor_hla");
        assert!(!input["warnings"].to_string().contains("nk_donor_hla"));
    }
    assert!(results
        .iter()
        .all(|r| r["donor_nk_pct_by_hla"].is_empty() && !r["nk_events"].is_empty()));
    let mut compared = 0;
    for (r, population) in results.iter().zip(["nk", "cd56bright", "lymphocytes"]) {
        let file = &r["file"];
        let fcs = sim.join(file);
        let want_count: usize = pops
            .iter()
            .find(|p| &p["file"] == file && p["population"] == population)
            .unwrap()["count"]
            .parse()
            .unwrap();
        let (events, members) = reference(
            &fcs,
            &out.join("gates").join(format!("{file}.xml")),
            population,
        );
        let want = events.select_events(&members);
        assert_eq!(want.n_events(), want_count, "{file} {population}");

        // CSV: every value exactly (shortest round-trip formatting).
        let csv_out = tmp.path().join(format!("{population}.csv"));
        common::nkflow(&[
            "convert",
            fcs.to_str().unwrap(),
            "--pipeline",
            preset,
            "--population",
            population,
            "-o",
            csv_out.to_str().unwrap(),
        ]);
        let mut rdr = csv::Reader::from_path(&csv_out).unwrap();
        let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, want.names());
        let mut n = 0;
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.unwrap();
            for (j, cell) in rec.iter().enumerate() {
                let got: f64 = cell.parse().unwrap();
                assert_eq!(got, want.get(i, j), "{file} row {i} {}", header[j]);
            }
            n += 1;
        }
        assert_eq!(n, want_count, "{file} {population}: CSV rows");

        // FCS: float32 of the same values; no spillover keyword (the values
        // are compensated), time already in seconds.
        let fcs_out = tmp.path().join(format!("{population}.fcs"));
        common::nkflow(&[
            "convert",
            fcs.to_str().unwrap(),
            "--pipeline",
            preset,
            "--population",
            population,
            "-o",
            fcs_out.to_str().unwrap(),
        ]);
        let mut back = nkflow::fcs::read(&fcs_out).unwrap();
        assert!(back.spillover_text().is_none());
        assert_eq!(back.keywords.get("NKFLOW_POPULATION"), Some(population));
        back.apply_scale();
        assert_eq!(
            back.n_events(),
            want_count,
            "{file} {population}: FCS events"
        );
        assert_eq!(back.events.names(), want.names());
        for j in 0..want.n_channels() {
            for (a, b) in back.events.column(j).iter().zip(want.column(j)) {
                assert_eq!(*a, *b as f32 as f64, "{file} {}", want.names()[j]);
            }
        }
        eprintln!("{file}: {population} {want_count} events, CSV and FCS match");
        compared += 1;
    }
    assert_eq!(compared, 3);

    // A population the pipeline does not have is refused before any work,
    // listing the ones it has.
    let bad = Command::new(env!("CARGO_BIN_EXE_nkflow"))
        .args([
            "convert",
            sim.join(&results[0]["file"]).to_str().unwrap(),
            "--pipeline",
            preset,
            "--population",
            "nk_cells",
            "-o",
            tmp.path().join("x.csv").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        err.contains("\"nk_cells\"") && err.contains("cd56bright"),
        "{err}"
    );
}
