//! `nkflow gate` end to end on the ISAC data: JSON counts and the membership
//! CSV (one column per population, quadrants included) against `truth/`.

mod common;

use std::process::Command;

fn truth(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read_to_string(dir.join("truth").join(format!("Results_{name}.txt")))
        .unwrap()
        .lines()
        .map(|l| if l.trim() == "1" { b'1' } else { b'0' })
        .collect()
}

#[test]
fn gate_json_and_membership_csv_match_truth() {
    let Some(dir) = common::require_shared("gatingml") else {
        return;
    };
    let out_dir = tempfile::tempdir().unwrap();
    let csv = out_dir.path().join("membership.csv");
    let xml = dir.join("gml/gml_parent_quadrant_rect_gate.xml");
    let fcs = dir.join("data1.fcs");
    let out = Command::new(env!("CARGO_BIN_EXE_nkflow"))
        .args(["gate", "--gatingml"])
        .arg(&xml)
        .arg(&fcs)
        .arg("--json")
        .arg("--membership")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gates = v[0]["gates"].as_array().unwrap();
    let ids: Vec<&str> = gates.iter().map(|g| g["id"].as_str().unwrap()).collect();
    // Tree order: the parent quadrant, its child, then the other quadrants.
    assert_eq!(
        ids,
        [
            "FL2P-FL4P",
            "ParRectangle1",
            "FL2N-FL4P",
            "FL2N-FL4N",
            "FL2P-FL4N"
        ]
    );
    assert_eq!(v[0]["events"], 13367);
    let par = &gates[1];
    assert_eq!(par["parent"], "FL2P-FL4P");
    assert_eq!(par["count"], 3);
    assert!((par["pct_parent"].as_f64().unwrap() - 100.0 * 3.0 / 620.0).abs() < 1e-12);
    assert!((par["pct_total"].as_f64().unwrap() - 100.0 * 3.0 / 13367.0).abs() < 1e-12);

    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header, ids);
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 13367);
    for (k, id) in header.iter().enumerate() {
        let file = if *id == "ParRectangle1" {
            "ParQuadRect"
        } else {
            id
        };
        let expected = truth(&dir, file);
        let got: Vec<u8> = rows.iter().map(|r| r.as_bytes()[2 * k]).collect();
        assert_eq!(got, expected, "column {id}");
    }
}

#[test]
fn membership_needs_exactly_one_file_and_bad_gates_fail_clearly() {
    let Some(dir) = common::require_shared("gatingml") else {
        return;
    };
    let fcs = dir.join("data1.fcs");
    let out = Command::new(env!("CARGO_BIN_EXE_nkflow"))
        .args(["gate", "--gatingml"])
        .arg(dir.join("gml/gml_range_gate.xml"))
        .arg(&fcs)
        .arg(&fcs)
        .args(["--membership", "/nonexistent/x.csv"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exactly one FCS file"));

    let bad = common::repo_root().join("tests/fixtures/gatingml/missing_parent.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_nkflow"))
        .args(["gate", "--gatingml"])
        .arg(&bad)
        .arg(&fcs)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing_parent.xml") && err.contains("gate R1"),
        "{err}"
    );
}
