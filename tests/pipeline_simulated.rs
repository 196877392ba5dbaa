//! The nk-day30 preset against simulated cohorts whose truth is known by
//! construction (in memory: the simulator's samples go straight into the
//! engine, so this isolates gating accuracy from file I/O). Every lab style,
//! several seeds, ranges and a clog interval. Prints the worst errors.

use std::collections::BTreeMap;
use std::path::Path;

use nkflow::pipeline::definition::Pipeline;
use nkflow::pipeline::engine;
use nkflow::pipeline::stats::{self, Inputs};
use nkflow::simulate::{Cohort, DataType, Range, Settings, Style};

fn preset() -> Pipeline {
    Pipeline::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/nk-day30.json"))
        .unwrap()
}

/// (file, column, got, want, tolerance, error) for every checked value.
type Check = (String, &'static str, f64, f64, f64, f64);

fn check_cohort(settings: &Settings, checks: &mut Vec<Check>) {
    let p = preset();
    let cohort = Cohort::plan(settings).unwrap();
    let cols: Vec<&str> = p.columns.iter().map(|c| c.name.as_str()).collect();
    for i in 0..cohort.specs.len() {
        let f = cohort.simulate(i).unwrap();
        let t = &f.truth;
        let name = format!("seed{}:{}", settings.seed, cohort.specs[i].file_name);
        let gated = engine::gate_sample(&p, f.sample, &BTreeMap::new())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let inputs = Inputs {
            beads_per_tube: Some(t.beads_per_tube),
            blood_volume_ul: Some(t.blood_volume_ul),
            ..Inputs::default()
        };
        let mut flags = Vec::new();
        let pops = stats::population_stats(&p, &gated, &inputs, &mut flags);
        let vals = stats::column_values(&p.columns, &pops, &gated, &inputs);
        let col = |c: &str| vals[cols.iter().position(|x| *x == c).unwrap()];
        let small = t.nk_events < 500;
        let (rel_tol, pt_tol) = if small { (0.10, 5.0) } else { (0.03, 2.0) };
        let got = col("nk_per_ul").unwrap_or(f64::NAN);
        checks.push((
            name.clone(),
            "nk_per_ul",
            got,
            t.nk_per_ul,
            rel_tol,
            (got / t.nk_per_ul - 1.0).abs(),
        ));
        for (c, want) in [
            ("pct_nkg2c", t.pct_nkg2c),
            ("pct_kir", t.pct_kir),
            ("pct_nkg2c_kir", t.pct_nkg2c_kir),
            ("pct_cd56bright", t.pct_cd56bright),
        ] {
            let Some(want) = want else { continue };
            let got = col(c).unwrap_or(f64::NAN);
            checks.push((name.clone(), c, got, want, pt_tol, (got - want).abs()));
        }
        for (c, want) in [
            ("pct_nkg2a", t.pct_nkg2a),
            ("pct_cd57", t.pct_cd57),
            ("pct_ki67", t.pct_ki67),
        ] {
            if let (Some(w), Some(g)) = (want, col(c)) {
                eprintln!("  info {name} {c}: got {g:.2} truth {w:.2}");
            }
        }
        eprintln!(
            "{name}: nk_events {} (truth {}), flags {:?}",
            col("nk_events").unwrap_or(f64::NAN),
            t.nk_events,
            flags.iter().chain(&gated.fallbacks).collect::<Vec<_>>()
        );
    }
}

fn report(checks: &[Check]) {
    let mut sorted: Vec<&Check> = checks.iter().collect();
    sorted.sort_by(|a, b| (b.5 / b.4).total_cmp(&(a.5 / a.4)));
    eprintln!("worst errors (error / tolerance):");
    for c in sorted.iter().take(12) {
        eprintln!(
            "  {:<40} {:<15} got {:>10.3} truth {:>10.3} error {:.4} (tol {})",
            c.0, c.1, c.2, c.3, c.5, c.4
        );
    }
    let bad: Vec<&&Check> = sorted
        .iter()
        .filter(|c| c.5.is_nan() || c.5 > c.4)
        .collect();
    assert!(bad.is_empty(), "{} values out of tolerance", bad.len());
}

#[test]
fn preset_recovers_truth_on_simulated_cohorts() {
    let mut checks = Vec::new();
    for seed in [1u64, 7] {
        let s = Settings {
            seed,
            samples: 9,
            events: Some(60_000),
            clog_fraction: 0.3,
            ..Settings::default()
        };
        check_cohort(&s, &mut checks);
    }
    report(&checks);
}

/// Other instruments: 16-bit integer data (negatives clipped to 0), 24-bit
/// floats, every lab style, wider day-to-day gain drift.
#[test]
fn preset_holds_across_ranges_data_types_and_gains() {
    let mut checks = Vec::new();
    for (seed, range, datatype, style) in [
        (11u64, Range::Bits16, DataType::Int, None),
        (12, Range::Bits24, DataType::Float, Some(Style::Navios)),
        (13, Range::Bits20, DataType::Int, Some(Style::Diva)),
    ] {
        let s = Settings {
            seed,
            samples: 6,
            events: Some(60_000),
            range: Some(range),
            datatype: Some(datatype),
            style,
            gain_spread: 0.3,
            clog_fraction: 0.5,
            ..Settings::default()
        };
        check_cohort(&s, &mut checks);
    }
    report(&checks);
}

/// Donor/recipient split by a donor-specific HLA antibody (`--hla` cohorts):
/// `donor_nk_pct_by_hla` within 2 points of truth (5 below 500 NK events)
/// and `donor_nk_per_ul_by_hla` within 3 % (10 %) of truth on every lab
/// style; without the channel the columns are empty and nothing fails,
/// and the rest of the file is the same with and without it.
#[test]
fn donor_split_by_hla_matches_truth() {
    let p = preset();
    let cols: Vec<&str> = p.columns.iter().map(|c| c.name.as_str()).collect();
    let mut worst: Vec<(f64, String)> = Vec::new();
    for seed in [21u64, 22] {
        let base = Settings {
            seed,
            samples: 9,
            events: Some(60_000),
            clog_fraction: 0.2,
            ..Settings::default()
        };
        let on = Cohort::plan(&Settings {
            hla: true,
            ..base.clone()
        })
        .unwrap();
        let off = Cohort::plan(&base).unwrap();
        for i in 0..on.specs.len() {
            let f = on.simulate(i).unwrap();
            let plain = off.simulate(i).unwrap();
            // The HLA layer only appends a channel.
            let n = plain.sample.events.n_channels();
            assert_eq!(f.sample.events.n_channels(), n + 1);
            for j in 0..n {
                assert_eq!(f.sample.events.column(j), plain.sample.events.column(j));
            }
            let t = f.truth.clone();
            let want = t.pct_donor_nk_by_hla.unwrap();
            let name = format!("seed{seed}:{}", on.specs[i].file_name);
            let inputs = Inputs {
                beads_per_tube: Some(t.beads_per_tube),
                blood_volume_ul: Some(t.blood_volume_ul),
                ..Inputs::default()
            };
            for (file, with_hla) in [(f, true), (plain, false)] {
                let gated = engine::gate_sample(&p, file.sample, &BTreeMap::new())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                let mut flags = Vec::new();
                let pops = stats::population_stats(&p, &gated, &inputs, &mut flags);
                let vals = stats::column_values(&p.columns, &pops, &gated, &inputs);
                let col = |c: &str| vals[cols.iter().position(|x| *x == c).unwrap()];
                if !with_hla {
                    assert_eq!(col("donor_nk_pct_by_hla"), None, "{name}");
                    assert_eq!(col("donor_nk_per_ul_by_hla"), None, "{name}");
                    assert!(col("nk_per_ul").is_some(), "{name}");
                    assert_eq!(gated.skipped.len(), 1, "{name}: {:?}", gated.skipped);
                    continue;
                }
                let small = t.nk_events < 500;
                let (rel_tol, pt_tol) = if small { (0.10, 5.0) } else { (0.03, 2.0) };
                let got = col("donor_nk_pct_by_hla").unwrap_or(f64::NAN);
                worst.push((
                    (got - want).abs() / pt_tol,
                    format!(
                        "{name} donor_nk_pct_by_hla {got:.2} truth {want:.2} (fraction {:.3}, {} NK, fallbacks {:?})",
                        t.hla_donor_fraction.unwrap(),
                        t.nk_events,
                        gated.fallbacks
                    ),
                ));
                let got = col("donor_nk_per_ul_by_hla").unwrap_or(f64::NAN);
                let want_ul = t.nk_per_ul * want / 100.0;
                worst.push((
                    (got / want_ul - 1.0).abs() / rel_tol,
                    format!(
                        "{name} donor_nk_per_ul_by_hla {got:.2} truth {want_ul:.2} (nk_per_ul {:.2} truth {:.2})",
                        col("nk_per_ul").unwrap_or(f64::NAN),
                        t.nk_per_ul
                    ),
                ));
            }
        }
    }
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    eprintln!("worst errors (error / tolerance):");
    for w in worst.iter().take(10) {
        eprintln!("  {:.3}  {}", w.0, w.1);
    }
    assert!(worst.len() >= 36);
    assert!(
        worst.iter().all(|w| w.0 <= 1.0),
        "out of tolerance: {}",
        worst[0].1
    );
}

/// Full donor chimerism: one HLA+ peak, no valley. The fallback puts the
/// threshold below that peak, so every NK cell counts as donor, and the
/// file is flagged.
#[test]
fn full_donor_chimerism_counts_all_nk_as_donor_and_flags() {
    let p = preset();
    let cols: Vec<&str> = p.columns.iter().map(|c| c.name.as_str()).collect();
    let mut cohort = Cohort::plan(&Settings {
        seed: 21,
        samples: 6,
        events: Some(60_000),
        hla: true,
        ..Settings::default()
    })
    .unwrap();
    let mut checked = 0;
    for i in 0..cohort.specs.len() {
        cohort.specs[i].nk_donor_chimerism_pct = Some(100.0);
        let f = cohort.simulate(i).unwrap();
        let t = f.truth.clone();
        if t.nk_events < 500 {
            continue;
        }
        assert_eq!(t.pct_donor_nk_by_hla, Some(100.0));
        let gated = engine::gate_sample(&p, f.sample, &BTreeMap::new()).unwrap();
        let inputs = Inputs::default();
        let mut flags = Vec::new();
        let pops = stats::population_stats(&p, &gated, &inputs, &mut flags);
        let vals = stats::column_values(&p.columns, &pops, &gated, &inputs);
        let got = vals[cols
            .iter()
            .position(|x| *x == "donor_nk_pct_by_hla")
            .unwrap()]
        .unwrap();
        eprintln!(
            "{}: donor_nk_pct_by_hla {got:.2} (truth 100), fallbacks {:?}",
            cohort.specs[i].file_name, gated.fallbacks
        );
        assert!(got >= 99.0, "{got}");
        assert!(gated
            .fallbacks
            .contains(&"nk_donor_hla:HLA-donor".to_string()));
        checked += 1;
    }
    assert!(checked >= 3, "{checked}");
}
