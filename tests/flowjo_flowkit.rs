//! Round trip through FlowKit: FlowKit writes FlowJo workspaces (script
//! `tests/flowjo_flowkit_export.py`) over a corpus file with a spillover
//! matrix, gates of several types and logicle/biex/linear transforms; FlowKit
//! reads them back and counts. Our counts must equal FlowKit's for every
//! population.

mod common;

use nkflow::flowjo::{self, analyze};
use serde_json::Value;

#[test]
fn flowkit_written_workspaces_round_trip() {
    let Some(py) = common::peer_python("flowkit") else {
        return;
    };
    let Some(fcs) = common::require_shared("fcs-corpus/bd_diva6__facs_diva_test.fcs") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The workspace records the file by name; keep it beside the workspace.
    let local = dir.path().join("bd_diva6__facs_diva_test.fcs");
    std::os::unix::fs::symlink(&fcs, &local).unwrap();
    let script = common::repo_root().join("tests/flowjo_flowkit_export.py");
    let out = common::run_python(
        &py,
        &script,
        &[dir.path().to_str().unwrap(), local.to_str().unwrap()],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    let mut compared = 0;
    for w in v["workspaces"].as_array().unwrap() {
        let wsp = std::path::PathBuf::from(w["wsp"].as_str().unwrap());
        // FlowKit's own check: the exported workspace counts as the strategy did.
        assert_eq!(
            w["counts"],
            w["session_counts"],
            "FlowKit round trip of {}",
            wsp.display()
        );
        let ws = flowjo::read(&wsp).unwrap();
        let a = analyze::analyze(&ws, &wsp, &analyze::Options::default()).unwrap();
        for (sample, pops) in w["counts"].as_object().unwrap() {
            let s = a.samples.iter().find(|s| &s.file == sample).unwrap();
            assert_eq!(s.error, None);
            let pops = pops.as_object().unwrap();
            assert_eq!(s.rows.len(), pops.len() + 1, "every population plus root");
            for (path, expected) in pops {
                let r = s
                    .rows
                    .iter()
                    .find(|r| &r.population == path)
                    .unwrap_or_else(|| panic!("{path}"));
                assert_eq!(
                    r.count,
                    expected.as_u64(),
                    "{}: {path} ({})",
                    wsp.display(),
                    r.note
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 9);
}
