//! `nkflow convert` on data1.fcs (the Gating-ML 2.0 event file) with one
//! transform per channel, against FlowKit reading, scaling and transforming
//! the same file (tests/transform_data1_flowkit.py): end to end through the
//! reader, the FCS scale, the transforms and the CSV round trip, to
//! 1e-10·max(1, |ref|).

mod common;

use std::process::Command;

/// Must match XFORMS in tests/transform_data1_flowkit.py.
const SPECS: &[&str] = &[
    "FSC-H=flin(T=1024,A=0)",
    "SSC-Height=linear",
    "FL1-H=logicle(T=10000,W=0.5,M=4.5,A=0)",
    "CD8 B PE=hyperlog(T=10000,W=1,M=4,A=1)",
    "FL3-H=fasinh(T=10000,M=4.5,A=0)",
    "FL2-A=logicle(T=1024,W=0.5,M=3,A=0)",
    "FL4-H=flog(T=10000,M=4)",
];

#[test]
fn data1_transforms_match_flowkit() {
    let Some(data1) = common::require_shared("gatingml/data1.fcs") else {
        return;
    };
    let Some(py) = common::peer_python("flowkit") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("data1.csv");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nkflow"));
    cmd.arg("convert")
        .arg(&data1)
        .arg("-o")
        .arg(&csv)
        .args(["--compensate", "auto"]);
    for s in SPECS {
        cmd.args(["--transform", s]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let refbin = tmp.path().join("ref.bin");
    let names_json = common::run_python(
        &py,
        &common::repo_root().join("tests/transform_data1_flowkit.py"),
        &[data1.to_str().unwrap(), refbin.to_str().unwrap()],
    );
    let names: Vec<String> = serde_json::from_str(names_json.trim()).unwrap();
    let reference: Vec<f64> = std::fs::read(&refbin)
        .unwrap()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();

    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header, names);
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    let n = rows.len();
    assert_eq!(n, 13367);
    assert_eq!(reference.len(), n * names.len());
    for (j, name) in names.iter().enumerate() {
        for (i, row) in rows.iter().enumerate() {
            let r = reference[j * n + i];
            assert!(
                (row[j] - r).abs() <= 1e-10 * r.abs().max(1.0),
                "{name} event {i}: ours {}, FlowKit {r}",
                row[j]
            );
        }
    }
}

#[test]
fn raw_refuses_compensation_and_unknown_channels_are_named() {
    let Some(data1) = common::require_shared("gatingml/data1.fcs") else {
        return;
    };
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_nkflow"))
            .arg("convert")
            .arg(&data1)
            .args(["-o", "-"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--raw", "--compensate", "auto"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--raw"));
    let out = run(&["--transform", "CD99=linear"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"CD99\""));
    // --raw: the stored values (data1's first event per the corpus MANIFEST).
    let out = run(&["--raw"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().nth(1), Some("323,218,220,394,267,5,183,0"));
}
