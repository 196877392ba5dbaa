//! Malformed Gating-ML (tests/fixtures/gatingml): every file gives an error
//! that names what is wrong and where (gate id, element, line), never a panic.

mod common;

use std::path::PathBuf;

use nkflow::gatingml;
use nkflow::EventMatrix;
use proptest::prelude::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gatingml")
        .join(name)
}

/// (file, phrases the read error must contain)
const READ_ERRORS: &[(&str, &[&str])] = &[
    ("bad_logicle.xml", &["transform L1", "line 4", "W must be"]),
    (
        "bad_min.xml",
        &["gate R1", "line 4", "min=\"ten\" is not a number"],
    ),
    ("boolean_cycle.xml", &["cycle", "A → B → A"]),
    (
        "boolean_missing_operand.xml",
        &["gate And1", "operand \"Ghost\" is not defined"],
    ),
    (
        "dimension_without_channel.xml",
        &["gate R1", "names no channel"],
    ),
    ("duplicate_id.xml", &["duplicate id \"R1\""]),
    ("empty.xml", &["empty.xml", "not well-formed XML"]),
    (
        "fratio_one_input.xml",
        &["transform Rat", "fratio needs 2", "found 1"],
    ),
    (
        "gate_without_id.xml",
        &["line 3", "<RectangleGate> has no id attribute"],
    ),
    (
        "matrix_short_row.xml",
        &[
            "spectrumMatrix S",
            "spectrum 2 has 1 coefficients for 2 detectors",
        ],
    ),
    (
        "missing_parent.xml",
        &["gate R1", "parent \"Lymphocytes\" is not defined"],
    ),
    (
        "not_two_operands.xml",
        &["gate Not1", "'not' has 2 operands"],
    ),
    ("not_well_formed.xml", &["not well-formed XML", "8:1"]),
    ("parent_cycle.xml", &["cycle", "R1 → R2 → R1"]),
    (
        "polygon_two_vertices.xml",
        &["gate P1", "at least 3 vertices, found 2"],
    ),
    (
        "quadrant_unknown_divider.xml",
        &["gate Q", "quadrant Q1 refers to divider D2"],
    ),
    ("self_parent.xml", &["gate R1", "cycle", "R1 → R1"]),
    (
        "unknown_matrix.xml",
        &["gate R1", "compensation matrix \"Spill9\" is not defined"],
    ),
    (
        "unknown_transform.xml",
        &["gate R1", "transform \"Logicle9\" is not defined"],
    ),
    (
        "vertex_bad_number.xml",
        &["gate P1", "line 7", "value=\"5,5\" is not a number"],
    ),
    (
        "vertex_three_coordinates.xml",
        &[
            "gate P1",
            "line 7",
            "vertex 2 has 3 coordinates, expected 2",
        ],
    ),
    ("wrong_root.xml", &["root element is <Workspace>"]),
];

/// Files that read, but whose evaluation on FSC-H/SSC-H data must fail.
const EVAL_ERRORS: &[(&str, &[&str])] = &[
    (
        "eval_singular_ellipse.xml",
        &["gate E1", "covariance matrix is singular"],
    ),
    (
        "eval_unknown_channel.xml",
        &["gate CD3pos", "channel \"CD3\"", "channels: FSC-H, SSC-H"],
    ),
];

fn events() -> EventMatrix {
    EventMatrix::from_columns(
        vec!["FSC-H".into(), "SSC-H".into()],
        vec![vec![1.0, 2.0], vec![1.0, 2.0]],
    )
    .unwrap()
}

#[test]
fn every_fixture_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    names.sort();
    let mut listed: Vec<String> = READ_ERRORS
        .iter()
        .chain(EVAL_ERRORS)
        .map(|(n, _)| n.to_string())
        .collect();
    listed.sort();
    assert_eq!(names, listed);
}

#[test]
fn malformed_files_give_clear_read_errors() {
    for (name, phrases) in READ_ERRORS {
        let err = gatingml::read_path(&fixture(name))
            .err()
            .unwrap_or_else(|| panic!("{name} should not read"))
            .to_string();
        for p in *phrases {
            assert!(err.contains(p), "{name}: {err:?} lacks {p:?}");
        }
    }
}

#[test]
fn evaluation_errors_name_gate_and_channel() {
    for (name, phrases) in EVAL_ERRORS {
        let strategy = gatingml::read_path(&fixture(name)).unwrap();
        let err = strategy
            .gate_events(&events(), None)
            .err()
            .unwrap_or_else(|| panic!("{name} should not evaluate"))
            .to_string();
        for p in *phrases {
            assert!(err.contains(p), "{name}: {err:?} lacks {p:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Truncating or corrupting a real Gating-ML file anywhere gives a
    /// result or an error, never a panic.
    #[test]
    fn corrupted_documents_never_panic(cut in 0.0f64..1.0, at in 0.0f64..1.0, byte in any::<u8>()) {
        let Some(dir) = common::require_shared("gatingml") else { return Ok(()); };
        let text = std::fs::read(dir.join("gml/gml_all_gates.xml")).unwrap();
        let mut bytes = text[..(cut * text.len() as f64) as usize].to_vec();
        if !bytes.is_empty() {
            let i = ((at * bytes.len() as f64) as usize).min(bytes.len() - 1);
            bytes[i] = byte;
        }
        let s = String::from_utf8_lossy(&bytes);
        if let Ok(strategy) = gatingml::read_str(&s) {
            let _ = strategy.gate_events(&events(), None);
            let _ = gatingml::write_string(&strategy);
        }
    }
}
