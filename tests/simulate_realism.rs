//! Realism check (issue 5): an independent reference gating gets NK/µL within
//! 3 % and phenotype percentages within 2 points of truth (files with fewer
//! than 500 NK events: 10 % / 5 points, as issue 6 allows), while leaving
//! out compensation, the live gate or the scatter gate each moves NK/µL by
//! more than 5 % in at least one file.

mod simulate_reference;

use std::path::Path;

use nkflow::simulate::{write_cohort, ByteOrder, DataType, Range, Settings, Truth};
use simulate_reference::{gate, Steps};

/// Worst errors and largest moves over one cohort, written to disk and read
/// back with our reader (so the FCS encoding is part of what is checked).
struct Outcome {
    worst_nk: f64,
    worst_pct: f64,
    moved: [f64; 3],
    failures: Vec<String>,
}

fn check_cohort(settings: &Settings) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    write_cohort(settings, dir.path()).unwrap();
    check_dir(dir.path())
}

fn check_dir(dir: &Path) -> Outcome {
    let truth: Truth =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    let mut worst_nk: f64 = 0.0;
    let mut worst_pct: f64 = 0.0;
    let mut moved = [0.0f64; 3];
    let mut failures = Vec::new();
    for (name, t) in &truth.files {
        let sample = nkflow::fcs::read(&dir.join(name)).unwrap();
        let e = gate(&sample, Steps::ALL, t.beads_per_tube, t.blood_volume_ul);
        let small = t.nk_events < 500;
        let (tol_nk, tol_pct) = if small { (0.10, 5.0) } else { (0.03, 2.0) };
        let rel = (e.nk_per_ul - t.nk_per_ul).abs() / t.nk_per_ul;
        let diffs = [
            ("nkg2c", e.pct_nkg2c, t.pct_nkg2c.unwrap()),
            ("kir", e.pct_kir, t.pct_kir.unwrap()),
            ("nkg2c_kir", e.pct_nkg2c_kir, t.pct_nkg2c_kir.unwrap()),
            ("cd56bright", e.pct_cd56bright, t.pct_cd56bright.unwrap()),
            ("nkg2a", e.pct_nkg2a, t.pct_nkg2a.unwrap()),
            ("cd57", e.pct_cd57, t.pct_cd57.unwrap()),
            ("ki67", e.pct_ki67, t.pct_ki67.unwrap()),
        ];
        println!(
            "{:<16} {:<8} nk_events {:>5} (ref {:>5}) beads {:>5}/{:>5} NK/µL truth {:>7.1} ref {:>7.1} ({:+.2}%)",
            name,
            t.panel_style,
            t.nk_events,
            e.nk,
            e.beads,
            t.bead_events,
            t.nk_per_ul,
            e.nk_per_ul,
            100.0 * (e.nk_per_ul - t.nk_per_ul) / t.nk_per_ul
        );
        for (what, got, want) in diffs {
            let d = got - want;
            print!("  {what} {want:.1}/{got:.1}");
            if !small {
                worst_pct = worst_pct.max(d.abs());
            }
            if d.abs() > tol_pct {
                failures.push(format!("{name} {what}: truth {want:.2} ref {got:.2}"));
            }
        }
        println!();
        if !small {
            worst_nk = worst_nk.max(rel);
        }
        if rel > tol_nk {
            failures.push(format!(
                "{name} NK/µL: truth {:.2} ref {:.2}",
                t.nk_per_ul, e.nk_per_ul
            ));
        }
        for (k, steps) in [
            Steps {
                compensate: false,
                ..Steps::ALL
            },
            Steps {
                live: false,
                ..Steps::ALL
            },
            Steps {
                scatter: false,
                ..Steps::ALL
            },
        ]
        .into_iter()
        .enumerate()
        {
            let o = gate(&sample, steps, t.beads_per_tube, t.blood_volume_ul);
            let m = (o.nk_per_ul - e.nk_per_ul).abs() / e.nk_per_ul;
            print!(
                "  omit[{k}] {:+.1}%",
                100.0 * (o.nk_per_ul - e.nk_per_ul) / e.nk_per_ul
            );
            moved[k] = moved[k].max(m);
        }
        println!();
    }
    Outcome {
        worst_nk,
        worst_pct,
        moved,
        failures,
    }
}

#[test]
fn reference_gating_recovers_truth_and_every_gate_matters() {
    // The bundled cohort's recipe with another seed and more events, and a
    // cohort in 16-bit big-endian integers (the coarsest encoding).
    let cohorts = [
        Settings {
            seed: 11,
            samples: 12,
            events: Some(30_000),
            ..Settings::default()
        },
        Settings {
            seed: 12,
            samples: 6,
            events: Some(30_000),
            range: Some(Range::Bits16),
            datatype: Some(DataType::Int),
            byte_order: Some(ByteOrder::Big),
            ..Settings::default()
        },
    ];
    let mut worst_nk: f64 = 0.0;
    let mut worst_pct: f64 = 0.0;
    let mut moved = [0.0f64; 3];
    let mut failures = Vec::new();
    for settings in &cohorts {
        let o = check_cohort(settings);
        worst_nk = worst_nk.max(o.worst_nk);
        worst_pct = worst_pct.max(o.worst_pct);
        for (m, om) in moved.iter_mut().zip(o.moved) {
            *m = m.max(om);
        }
        failures.extend(o.failures);
    }
    println!(
        "worst NK/µL error {:.2}% , worst phenotype error {:.2} points; largest moves without compensation {:.1}%, live gate {:.1}%, scatter gate {:.1}%",
        100.0 * worst_nk,
        worst_pct,
        100.0 * moved[0],
        100.0 * moved[1],
        100.0 * moved[2]
    );
    assert!(failures.is_empty(), "{failures:#?}");
    for (k, what) in ["compensation", "live gate", "scatter gate"]
        .iter()
        .enumerate()
    {
        assert!(
            moved[k] > 0.05,
            "leaving out the {what} moved NK/µL by at most {:.1}%",
            100.0 * moved[k]
        );
    }
}

/// The settings of the documented command that made `fcs-samples/`
/// (README: `nkflow simulate -o fcs-samples --seed 5 --samples 12 --events
/// 20000 --clog-fraction 0.15`).
fn bundled_settings() -> Settings {
    Settings {
        seed: 5,
        samples: 12,
        events: Some(20_000),
        clog_fraction: 0.15,
        ..Settings::default()
    }
}

#[test]
fn bundled_cohort_is_what_the_documented_command_writes_and_is_solvable() {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("fcs-samples");
    let fresh = tempfile::tempdir().unwrap();
    write_cohort(&bundled_settings(), fresh.path()).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(fresh.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        14,
        "12 FCS files + samplesheet + truth: {names:?}"
    );
    for name in &names {
        let a = std::fs::read(fresh.path().join(name)).unwrap();
        let b = std::fs::read(bundled.join(name)).unwrap_or_else(|e| {
            panic!("fcs-samples/{name}: {e} (regenerate with the README command)")
        });
        assert!(
            a == b,
            "fcs-samples/{name} differs from what the README command writes; regenerate it"
        );
    }
    let total: u64 = names
        .iter()
        .map(|n| std::fs::metadata(bundled.join(n)).unwrap().len())
        .sum();
    assert!(total <= 15_000_000, "fcs-samples/ holds {total} bytes");

    let o = check_dir(&bundled);
    println!(
        "fcs-samples: worst NK/µL error {:.2}%, worst phenotype error {:.2} points",
        100.0 * o.worst_nk,
        o.worst_pct
    );
    assert!(o.failures.is_empty(), "{:#?}", o.failures);
}
