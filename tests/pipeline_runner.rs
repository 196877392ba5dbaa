//! The batch runner on synthetic samples with known populations (no FCS
//! reader involved): thresholds land in the valleys, bad inputs become error
//! rows without touching the good ones, outputs are byte-identical for any
//! thread count, folders are sniffed for the FCS magic.

mod common;

use std::path::{Path, PathBuf};

use nkflow::pipeline::definition::Pipeline;
use nkflow::pipeline::runner::{self, RunOptions, Stage};
use nkflow::pipeline::sink::{PopulationsCsv, ResultsCsv, RunJson, Sink};
use nkflow::sample::{Channel, Keywords, Sample, Scale};
use nkflow::EventMatrix;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal};

const PIPELINE: &str = r#"{
  "name": "synthetic",
  "panel": [
    {"marker": "FSC-A"}, {"marker": "SSC-A"}, {"marker": "Time"},
    {"marker": "CD3"}, {"marker": "CD56", "aliases": ["NCAM1"]}, {"marker": "BEAD"}
  ],
  "gates": [
    {"id": "time_ok", "gate": {"type": "flow_rate", "time": "Time"}},
    {"id": "beads", "parent": "time_ok", "gate": {"type": "beads", "markers": ["BEAD"]}},
    {"id": "cells", "parent": "time_ok", "gate": {"type": "not", "of": "beads"}},
    {"id": "lymph", "parent": "cells", "gate": {"type": "threshold", "dims": [{"marker": "SSC-A", "side": "below", "valley": {"pick": "first"}}]}},
    {"id": "nk", "parent": "lymph", "gate": {"type": "threshold", "dims": [
      {"marker": "CD3", "side": "below", "valley": {"pick": "first"}},
      {"marker": "CD56", "side": "above", "valley": {"pick": "first"}}]}}
  ],
  "absolute": {"method": "beads", "beads": "beads"},
  "columns": [
    {"name": "nk_per_ul", "per_ul": "nk"},
    {"name": "nk_events", "count": "nk"},
    {"name": "donor_nk_per_ul", "times_sheet_percent": ["nk_per_ul", "nk_donor_chimerism_pct"]}
  ],
  "qc": [{"rule": "min_count", "population": "nk", "min": 500, "flag": "low_nk_events"}]
}"#;

/// Truth of one synthetic file: NK and bead events.
struct Synthetic {
    sample: Sample,
    nk: usize,
    beads: usize,
}

fn channel(n: usize, name: &str, label: Option<&str>) -> Channel {
    Channel {
        number: n,
        name: name.into(),
        label: label.map(String::from),
        range: 262144.0,
        bits: 32,
        gain: None,
        log: None,
    }
}

/// Lymphocytes (T: CD3+, NK: CD3− CD56+, B: both −), granulocytes (high
/// SSC), beads (bright BEAD channel). `label56` varies the CD56 spelling.
fn synthetic(seed: u64, n: usize, label56: &str) -> Synthetic {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let noise = Normal::new(0.0, 150.0).unwrap();
    let nk_frac = 0.05 + 0.1 * r.gen::<f64>();
    let (mut fsc, mut ssc, mut time, mut cd3, mut cd56, mut bead) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut nk, mut beads) = (0, 0);
    for i in 0..n {
        let u: f64 = r.gen();
        let (f, s, c3, c56, b) = if u < 0.03 {
            beads += 1;
            (20_000.0, 40_000.0, 1000.0, 1000.0, 150_000.0)
        } else if u < 0.5 {
            (100_000.0, 110_000.0, 0.0, 0.0, 0.0)
        } else {
            let v: f64 = r.gen();
            if v < nk_frac {
                nk += 1;
                (60_000.0, 12_000.0, 0.0, 8_000.0, 0.0)
            } else if v < 0.85 {
                (58_000.0, 11_000.0, 25_000.0, 0.0, 0.0)
            } else {
                (55_000.0, 10_000.0, 0.0, 0.0, 0.0)
            }
        };
        let ln = |r: &mut rand_chacha::ChaCha8Rng, m: f64, sd: f64| {
            if m > 0.0 {
                LogNormal::new(m.ln(), sd).unwrap().sample(r)
            } else {
                0.0
            }
        };
        fsc.push(ln(&mut r, f, 0.1));
        ssc.push(ln(&mut r, s, 0.15));
        cd3.push(ln(&mut r, c3, 0.3) + noise.sample(&mut r));
        cd56.push(ln(&mut r, c56, 0.3) + noise.sample(&mut r));
        bead.push(ln(&mut r, b, 0.05) + noise.sample(&mut r));
        time.push(i as f64 * 0.001);
    }
    let names: Vec<String> = ["FSC-A", "SSC-A", "Time", "V1-A", "Y1-A", "R1-A"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let events = EventMatrix::from_columns(names, vec![fsc, ssc, time, cd3, cd56, bead]).unwrap();
    let channels = vec![
        channel(1, "FSC-A", None),
        channel(2, "SSC-A", None),
        channel(3, "Time", None),
        channel(4, "V1-A", Some("CD3 BV421")),
        channel(5, "Y1-A", Some(label56)),
        channel(6, "R1-A", Some("BEAD")),
    ];
    Synthetic {
        sample: Sample {
            source: format!("syn{seed}"),
            fcs_version: "3.1".into(),
            dataset: 0,
            n_datasets: 1,
            keywords: Keywords::new(),
            analysis: Default::default(),
            channels,
            events,
            scale: Scale::Fcs,
            warnings: Vec::new(),
        },
        nk,
        beads,
    }
}

/// File contents: `FCS3.1 SYN <seed> <label>`; `FCS3.1 BAD` fails to read.
fn reader(name: &str, bytes: &[u8]) -> Result<Sample, String> {
    let text = String::from_utf8_lossy(bytes);
    let parts: Vec<&str> = text.split_whitespace().collect();
    match parts.as_slice() {
        ["FCS3.1", "SYN", seed, label] => {
            Ok(synthetic(seed.parse().unwrap(), 20_000, label).sample)
        }
        _ => Err(format!("{name}: DATA: truncated (synthetic reader)")),
    }
}

fn write_inputs(dir: &Path) -> Vec<(String, u64, &'static str)> {
    let files = vec![
        ("A01.fcs".to_string(), 1, "CD56"),
        ("A02.fcs".to_string(), 2, "NCAM1"),
        ("A03.fcs".to_string(), 3, "CD56-PE-Cy7"),
        ("A04.fcs".to_string(), 4, "CD3"),
    ];
    for (name, seed, label) in &files {
        std::fs::write(dir.join(name), format!("FCS3.1 SYN {seed} {label}")).unwrap();
    }
    std::fs::write(dir.join("A05_truncated.fcs"), "FCS3.1 BAD").unwrap();
    std::fs::write(dir.join("notes.txt"), "not an FCS file").unwrap();
    files
}

fn run_batch(inputs: &Path, sheet: Option<PathBuf>, out: &Path, threads: usize) {
    let pipe_path = out.with_extension("pipeline.json");
    std::fs::write(&pipe_path, PIPELINE).unwrap();
    let opts = RunOptions {
        pipeline: Pipeline::from_json(PIPELINE, "synthetic").unwrap(),
        pipeline_path: pipe_path,
        inputs: vec![inputs.to_path_buf()],
        samplesheet: sheet,
        panel_overrides: Default::default(),
        outdir: out.to_path_buf(),
        threads,
        progress: false,
    };
    let stages: Vec<Box<dyn Stage>> = Vec::new();
    let mut sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(ResultsCsv::default()),
        Box::new(PopulationsCsv::default()),
        Box::new(RunJson::default()),
    ];
    runner::run(&opts, &reader, &stages, &mut sinks).unwrap();
}

#[test]
fn batch_results_match_truth_and_survive_bad_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    let files = write_inputs(&inputs);
    // A02's row is malformed (too few fields); A03 has none; A04's CD56 is
    // on a channel labelled "CD3", so its panel cannot be resolved.
    let sheet = tmp.path().join("sheet.csv");
    std::fs::write(
        &sheet,
        "file,patient_id,beads_per_tube,blood_volume_ul,nk_donor_chimerism_pct,channel:CD56\n\
         A01.fcs,P1,50000,50,90,\n\
         A02.fcs,P2,50000\n\
         A04.fcs,P4,50000,50,80,Z9-A\n\
         A05_truncated.fcs,P5,50000,50,100,\n\
         GONE.fcs,P9,1,1,1,\n",
    )
    .unwrap();
    let out1 = tmp.path().join("out1");
    run_batch(&inputs, Some(sheet.clone()), &out1, 1);
    let rows = common::csv_rows(&out1.join("results.csv"));
    assert_eq!(rows.len(), 5, "one row per FCS input, notes.txt skipped");
    let names: Vec<&str> = rows.iter().map(|r| r["file"].as_str()).collect();
    assert_eq!(
        names,
        [
            "A01.fcs",
            "A02.fcs",
            "A03.fcs",
            "A04.fcs",
            "A05_truncated.fcs"
        ]
    );

    // A01: full metadata → NK/µL within 3% of truth, donor NK = 90%.
    let truth = synthetic(files[0].1, 20_000, files[0].2);
    let want = truth.nk as f64 / truth.beads as f64 * 50000.0 / 50.0;
    let got: f64 = rows[0]["nk_per_ul"].parse().unwrap();
    eprintln!("A01 nk_per_ul {got:.1} vs truth {want:.1}");
    assert!((got / want - 1.0).abs() < 0.03, "{got} vs {want}");
    let donor: f64 = rows[0]["donor_nk_per_ul"].parse().unwrap();
    assert!((donor - 0.9 * got).abs() < 1e-9 * got);
    assert_eq!(rows[0]["patient_id"], "P1");
    assert_eq!(rows[0]["error"], "");

    // A02: malformed row → error naming the sheet line, no values.
    assert!(
        rows[1]["error"].contains("sheet.csv: line 3: 3 fields"),
        "{:?}",
        rows[1]
    );
    assert_eq!(rows[1]["nk_per_ul"], "");
    // A03: no row → processed, flagged, absolute count empty with a flag.
    assert_eq!(rows[2]["error"], "");
    assert!(rows[2]["qc_flags"].contains("no_samplesheet_row"));
    assert!(rows[2]["qc_flags"].contains("missing:beads_per_tube"));
    assert_eq!(rows[2]["nk_per_ul"], "");
    let truth3 = synthetic(files[2].1, 20_000, files[2].2);
    let nk3: f64 = rows[2]["nk_events"].parse().unwrap();
    assert!(
        (nk3 / truth3.nk as f64 - 1.0).abs() < 0.03,
        "{nk3} vs {}",
        truth3.nk
    );
    // A04: unknown panel — its "CD3"-labelled CD56 channel makes CD3
    // ambiguous; the error lists the candidates (before the bad CD56
    // override is even looked at).
    let e = &rows[3]["error"];
    assert!(
        e.starts_with(
            "A04.fcs: marker \"CD3\" is ambiguous: candidates V1-A (CD3 BV421), Y1-A (CD3)"
        ),
        "{e}"
    );
    assert_eq!(
        rows[3]["patient_id"], "P4",
        "metadata stays on a failed row"
    );
    // A05: unreadable.
    assert!(
        rows[4]["error"].contains("A05_truncated.fcs") && rows[4]["error"].contains("truncated")
    );

    // populations.csv: five populations + root for each good file.
    let pops = common::csv_rows(&out1.join("populations.csv"));
    let a01: Vec<_> = pops.iter().filter(|r| r["file"] == "A01.fcs").collect();
    assert_eq!(a01.len(), 6);
    assert_eq!(a01[5]["path"], "/time_ok/cells/lymph/nk");
    assert_eq!(a01[5]["count"], rows[0]["nk_events"]);

    // run.json: skipped list and hashes.
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out1.join("run.json")).unwrap()).unwrap();
    assert!(run["skipped"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("notes.txt"));
    assert_eq!(run["inputs"][0]["panel"]["CD56"]["channel"], "Y1-A");
    assert_eq!(run["inputs"][0]["sha256"].as_str().unwrap().len(), 64);

    // Byte-identical outputs with 2 threads; a clean run (no bad inputs)
    // gives the good files the same rows.
    let out2 = tmp.path().join("out2");
    run_batch(&inputs, Some(sheet.clone()), &out2, 2);
    for f in ["results.csv", "populations.csv"] {
        assert_eq!(
            std::fs::read(out1.join(f)).unwrap(),
            std::fs::read(out2.join(f)).unwrap(),
            "{f} differs between --threads 1 and 2"
        );
    }
    let clean = tmp.path().join("clean");
    std::fs::create_dir(&clean).unwrap();
    std::fs::copy(inputs.join("A01.fcs"), clean.join("A01.fcs")).unwrap();
    let out3 = tmp.path().join("out3");
    run_batch(&clean, Some(sheet), &out3, 2);
    let clean_rows = common::csv_rows(&out3.join("results.csv"));
    assert_eq!(clean_rows[0], rows[0]);
}
