//! Realistic gating trees (tests/fixtures/gatingml/trees) on corpus files
//! that carry their own spillover keyword — compensation-ref `FCS`, logicle,
//! hyperlog and fasinh scales, parents 4–5 levels deep, quadrants as parents,
//! Boolean gates with parents and complements — checked event by event
//! against FlowKit (`tests/gating_flowkit_tree.py`). The ISAC set has no such
//! case: its file has no spillover.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nkflow::gating::GatingResults;
use nkflow::gatingml;

const TREES: &[(&str, &str, usize)] = &[
    ("diva6_bcell_tree.xml", "bd_diva6__facs_diva_test.fcs", 15),
    (
        "fortessa_dim_tree.xml",
        "bd_lsrfortessa__Fortessa_PBS_Specimen_001_A1_A01.fcs",
        9,
    ),
];

fn tree(name: &str) -> PathBuf {
    common::repo_root()
        .join("tests/fixtures/gatingml/trees")
        .join(name)
}

/// FlowKit's membership per population id, as 0/1 strings.
fn flowkit(py: &Path, xml: &Path, fcs: &Path) -> (usize, BTreeMap<String, String>) {
    let script = common::repo_root().join("tests/gating_flowkit_tree.py");
    let out = common::run_python(py, &script, &[xml.to_str().unwrap(), fcs.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let pops = v["populations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, s)| (k.clone(), s.as_str().unwrap().to_string()))
        .collect();
    (v["events"].as_u64().unwrap() as usize, pops)
}

fn compare(label: &str, ours: &GatingResults, theirs: &BTreeMap<String, String>) {
    let mut ids: Vec<&str> = ours.ids();
    ids.sort();
    let mut their_ids: Vec<&str> = theirs.keys().map(String::as_str).collect();
    their_ids.sort();
    assert_eq!(ids, their_ids, "{label}: population ids");
    let mut failures = Vec::new();
    for (id, bits) in theirs {
        let m = ours.membership(id).unwrap();
        assert_eq!(m.len(), bits.len());
        let wrong = bits
            .bytes()
            .enumerate()
            .filter(|&(i, b)| m.get(i) != (b == b'1'))
            .count();
        let count = bits.bytes().filter(|&b| b == b'1').count();
        // Every population of these trees is non-trivial: the test can fail.
        assert!(
            count > 0 && count < bits.len(),
            "{label}: {id} has {count} events"
        );
        if wrong != 0 {
            failures.push(format!(
                "{id}: {wrong} of {} events differ (FlowKit count {count}, ours {})",
                bits.len(),
                m.count()
            ));
        }
    }
    assert!(failures.is_empty(), "{label}:\n{}", failures.join("\n"));
}

#[test]
fn realistic_trees_match_flowkit_event_by_event() {
    let Some(corpus) = common::require_shared("fcs-corpus") else {
        return;
    };
    let Some(py) = common::peer_python("flowkit") else {
        return;
    };
    for (xml, fcs, n_populations) in TREES {
        let xml = tree(xml);
        let fcs = corpus.join(fcs);
        let strategy = gatingml::read_path(&xml).unwrap();
        let (n_events, theirs) = flowkit(&py, &xml, &fcs);
        assert_eq!(theirs.len(), *n_populations);

        // Raw sample: the engine scales only the channels it needs.
        let raw = nkflow::fcs::read(&fcs).unwrap();
        let from_raw = strategy.gate_sample(&raw).unwrap();
        assert_eq!(from_raw.n_events(), n_events);
        compare(&format!("{} (raw)", fcs.display()), &from_raw, &theirs);

        // Scaled sample: same result.
        let mut scaled = raw.clone();
        scaled.apply_scale();
        assert_eq!(strategy.gate_sample(&scaled).unwrap(), from_raw);

        // Tree structure: depth ≥ 3 below a root somewhere.
        assert!(from_raw.iter().any(|p| p.depth >= 3));
    }
}
