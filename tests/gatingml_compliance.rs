//! Gating-ML 2.0 compliance (ISAC set 1, `shared/gatingml`): every case's
//! membership against `truth/` event by event — case by case, from
//! `gml_all_gates.xml` evaluated once, after a write → read round trip, and
//! for the wrapped `gml_range_gate_attr_testing.xml`.

mod common;

use std::path::{Path, PathBuf};

use nkflow::gating::{GatingResults, GatingStrategy};
use nkflow::gatingml;
use nkflow::EventMatrix;

struct Case {
    gate: String,
    xml: PathBuf,
    expected: PathBuf,
    expected_count: usize,
}

fn cases(dir: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases: Vec<Case> = m["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            gate: c["case"].as_str().unwrap().to_string(),
            xml: dir.join(c["xml"].as_str().unwrap()),
            expected: dir.join(c["expected"].as_str().unwrap()),
            expected_count: c["expected_count_inside"].as_u64().unwrap() as usize,
        })
        .collect();
    assert_eq!(cases.len(), 51);
    cases
}

/// data1.fcs at FCS scale (gain, log amplification), read by nkflow's reader.
fn data1(dir: &Path) -> EventMatrix {
    let mut sample = nkflow::fcs::read(&dir.join("data1.fcs")).unwrap();
    sample.apply_scale();
    assert_eq!(sample.n_events(), 13367);
    sample.events
}

fn truth(path: &Path) -> Vec<bool> {
    let text = std::fs::read_to_string(path).unwrap();
    let v: Vec<bool> = text
        .lines()
        .map(|l| match l.trim() {
            "1" => true,
            "0" => false,
            other => panic!("{}: bad line {other:?}", path.display()),
        })
        .collect();
    assert_eq!(v.len(), 13367, "{}", path.display());
    v
}

/// Number of events whose membership differs from the expected file.
fn mismatches(results: &GatingResults, gate: &str, expected: &[bool]) -> usize {
    let m = results
        .membership(gate)
        .unwrap_or_else(|| panic!("no population {gate}"));
    assert_eq!(m.len(), expected.len());
    expected
        .iter()
        .enumerate()
        .filter(|(i, &e)| m.get(*i) != e)
        .count()
}

fn gate(strategy: &GatingStrategy, events: &EventMatrix) -> GatingResults {
    strategy.gate_events(events, None).unwrap()
}

#[test]
fn every_case_matches_truth_event_by_event() {
    let Some(dir) = common::require_shared("gatingml") else {
        return;
    };
    let events = data1(&dir);
    let mut failures = Vec::new();
    for c in cases(&dir) {
        let strategy = gatingml::read_path(&c.xml).unwrap_or_else(|e| panic!("{}: {e}", c.gate));
        let results = gate(&strategy, &events);
        let expected = truth(&c.expected);
        assert_eq!(expected.iter().filter(|&&b| b).count(), c.expected_count);
        let wrong = mismatches(&results, &c.gate, &expected);
        if wrong != 0 {
            failures.push(format!("{}: {wrong} events wrong", c.gate));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 51 cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn all_gates_file_evaluated_once_matches_every_case_it_defines() {
    let Some(dir) = common::require_shared("gatingml") else {
        return;
    };
    let events = data1(&dir);
    let strategy = gatingml::read_path(&dir.join("gml/gml_all_gates.xml")).unwrap();
    let results = gate(&strategy, &events);
    let mut checked = 0;
    let mut failures = Vec::new();
    for c in cases(&dir) {
        if !strategy.has_population(&c.gate) {
            continue;
        }
        checked += 1;
        let wrong = mismatches(&results, &c.gate, &truth(&c.expected));
        if wrong != 0 {
            failures.push(format!("{}: {wrong} events wrong", c.gate));
        }
    }
    assert_eq!(
        checked, 49,
        "gml_all_gates.xml defines all but Ellipsoid3D and ParRectangle1"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn wrapped_range_gate_with_foreign_attributes_gives_range1() {
    let Some(dir) = common::require_shared("gatingml") else {
        return;
    };
    let events = data1(&dir);
    let strategy = gatingml::read_path(&dir.join("gml/gml_range_gate_attr_testing.xml")).unwrap();
    assert_eq!(strategy.gate_ids(), vec!["Range1"]);
    let results = gate(&strategy, &events);
    let expected = truth(&dir.join("truth/Results_Range1.txt"));
    assert_eq!(mismatches(&results, "Range1", &expected), 0);
    assert_eq!(results.count("Range1"), Some(440));
}

#[test]
fn write_then_read_keeps_every_gate_and_its_membership() {
    let Some(dir) = common::require_shared("gatingml") else {
        return;
    };
    let events = data1(&dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("gml"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 47);
    for f in files {
        let a = gatingml::read_path(&f).unwrap();
        let xml = gatingml::write_string(&a).unwrap();
        let b = gatingml::read_str(&xml).unwrap_or_else(|e| panic!("{}: {e}\n{xml}", f.display()));
        assert_eq!(a.gates(), b.gates(), "{}", f.display());
        assert_eq!(a.transforms(), b.transforms(), "{}", f.display());
        assert_eq!(a.matrices(), b.matrices(), "{}", f.display());
        let (ra, rb) = (gate(&a, &events), gate(&b, &events));
        assert!(!ra.ids().is_empty());
        for p in ra.iter() {
            assert_eq!(
                Some(&p.membership),
                rb.membership(&p.id),
                "{}: {}",
                f.display(),
                p.id
            );
        }
        // Writing what was read back gives the same text.
        assert_eq!(gatingml::write_string(&b).unwrap(), xml);
    }
}
