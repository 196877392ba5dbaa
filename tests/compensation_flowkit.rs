//! Compensation of every corpus file that carries a spillover keyword,
//! against FlowKit's `Sample.apply_compensation` (FlowKit's own reader and
//! scaling), to 1e-9 relative. Files FlowKit cannot compensate are listed in
//! `FLOWKIT_CANNOT` with FlowKit's reason; for those the reference is an
//! independent numpy solve on our scaled events (tests/compensation_peer.py).
//!
//! FlowKit gets the matrix nkflow read from the file (as spillover text with
//! the detectors' `$PnN` names), so what is compared is the scaling and the
//! compensation; which keyword is read is tested in the unit tests. For
//! `beckman_navios__fcs1_cleaned.lmd` the matrix comes from FCS 2.0
//! `$DFCiTOj`, which FlowKit does not read at all.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use nkflow::compensation::Matrix;

/// Files FlowKit 1.3.2 cannot compensate, and the start of its reason.
const FLOWKIT_CANNOT: &[(&str, &str)] = &[
    // FlowKit reads only single-data-set files.
    ("beckman_fc500__coulter.lmd", "MultipleDataSetsError"),
    ("beckman_fc500__Cytomics_FC500.LMD", "MultipleDataSetsError"),
    // Blank HEADER DATA offsets (> 99,999,999 rule): FlowIO cannot read it.
    (
        "bd_lsrfortessa__fake_large_fcs.fcs",
        "ValueError: invalid literal for int()",
    ),
];

/// Files whose spillover keyword names a detector that is no channel: we
/// refuse with an error naming it (the corpus anonymised `$PnN` and `SPILL`
/// differently, "xxxxxxxxxxxxxx (710/40) LogH" against 28 x's).
const OURS_REFUSE: &[(&str, &str)] = &[
    // `$SPILLOVER` = "6,FL2-A,FL2-H,FL4-A,FL4-H,FL7-A,FL7-H": names, no values.
    (
        "miltenyi_macsquant__FCS_3.1_Well_A1.001.fcs",
        "n = 6 needs 43 comma-separated fields (n, 6 names, 36 values), found 7",
    ),
    (
        "stratedigm_s1400exi__data_start_offset_discrepancy_example.fcs",
        "detector \"xxxxxxxxxxxxxxxxxxxxxxxxxxxx\" matches no channel",
    ),
    (
        "stratedigm_s1400exi__data_stop_offset_discrepancy_example.fcs",
        "detector \"xxxxxxxxxxxxxxxxxxxxxxxxxxxx\" matches no channel",
    ),
    (
        "stratedigm_s1400exi__variable_int_example.fcs",
        "detector \"xxxxxxxxxxxxxxxxxxxxxxxxxxxx\" matches no channel",
    ),
];

/// Files our reader rejects on purpose (see the corpus README).
const UNREADABLE: &[&str] = &["cytek_aurora__sample_header_truncated.fcs"];

/// The matrix as spillover text, detectors named by their resolved `$PnN`.
fn spill_text(m: &Matrix, names: &[String]) -> String {
    let mut s = format!("{},{}", names.len(), names.join(","));
    for v in m.values() {
        s.push_str(&format!(",{v:?}"));
    }
    s
}

fn write_f64(path: &Path, values: &[f64]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read_f64(path: &Path) -> Vec<f64> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn compensation_matches_flowkit_on_corpus() {
    let Some(manifest) = common::require_shared("fcs-corpus/MANIFEST.json") else {
        return;
    };
    let Some(py) = common::peer_python("flowkit") else {
        return;
    };
    let script = common::repo_root().join("tests/compensation_peer.py");
    let corpus = manifest.parent().unwrap().to_path_buf();
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut flowkit_checked = Vec::new();
    let mut numpy_checked = Vec::new();
    let mut refused = Vec::new();
    let mut jobs = Vec::new();
    let mut unexpected: Vec<String> = Vec::new();
    let mut done = Vec::new();
    for e in &entries {
        let file = e["file"].as_str().unwrap();
        let kws = e["spillover_keywords"].as_array().unwrap();
        if kws.is_empty() {
            continue;
        }
        let path = corpus.join(file);
        let mut sample = match nkflow::fcs::read(&path) {
            Ok(s) => s,
            Err(err) => {
                assert!(UNREADABLE.contains(&file), "{file}: {err}");
                continue;
            }
        };
        assert!(
            !UNREADABLE.contains(&file),
            "{file} was expected to be unreadable"
        );
        sample.apply_scale();
        let scaled = sample.events.clone();
        let refusal = OURS_REFUSE.iter().find(|(f, _)| *f == file);
        let m = match (Matrix::from_sample(&sample), refusal) {
            (Ok(Some(m)), _) => m,
            (Ok(None), _) => panic!("{file}: MANIFEST lists {kws:?} but no matrix was found"),
            (Err(err), Some((_, why))) => {
                assert!(err.to_string().contains(why), "{file}: {err}");
                refused.push(file);
                continue;
            }
            (Err(err), None) => panic!("{file}: {err}"),
        };
        let det_names: Vec<String> =
            match m.detector_columns(&sample.events, Some(&sample.channels)) {
                Ok(cols) => cols.iter().map(|&j| scaled.names()[j].clone()).collect(),
                Err(_) => Vec::new(),
            };
        match (m.compensate_sample(&mut sample), refusal) {
            (Ok(()), None) => {}
            (Err(err), Some((_, why))) => {
                assert!(err.to_string().contains(why), "{file}: {err}");
                refused.push(file);
                continue;
            }
            (Err(err), None) => panic!("{file}: {err}"),
            (Ok(()), Some(_)) => panic!("{file}: listed in OURS_REFUSE but compensated"),
        }

        let k = jobs.len();
        let ours_in = tmp.path().join(format!("scaled{k}.bin"));
        let out = tmp.path().join(format!("ref{k}.bin"));
        write_f64(&ours_in, scaled.as_slice());
        jobs.push(serde_json::json!({
            "file": path,
            "spill": spill_text(&m, &det_names),
            "detectors": det_names,
            "ours_scaled": ours_in,
            "names": scaled.names(),
            "n_events": scaled.n_events(),
            "out": out,
        }));
        done.push((file, scaled, sample.events, det_names, out));
    }

    let mut child = Command::new(&py)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::Value::Array(jobs).to_string().as_bytes())
        .unwrap();
    let res = child.wait_with_output().unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let summaries: Vec<serde_json::Value> = serde_json::from_slice(&res.stdout).unwrap();
    assert_eq!(summaries.len(), done.len());

    for ((file, scaled, ours_events, det_names, out), summary) in done.iter().zip(&summaries) {
        let file = *file;
        let source = summary["source"].as_str().unwrap();
        let expected_failure = FLOWKIT_CANNOT.iter().find(|(f, _)| *f == file);
        match (source, expected_failure) {
            ("flowkit", None) => flowkit_checked.push(format!(
                "{file} via {} {}",
                summary["flowkit_route"], summary["flowkit_options"]
            )),
            ("numpy", Some((_, reason))) => {
                let got = summary["flowkit_reason"].as_str().unwrap_or("");
                assert!(
                    got.starts_with(reason),
                    "{file}: FlowKit now says {got:?}, listed {reason:?}"
                );
                numpy_checked.push(file);
            }
            ("numpy", None) => {
                unexpected.push(format!(
                    "{file}: FlowKit could not compensate it ({}); list it in FLOWKIT_CANNOT",
                    summary["flowkit_reason"]
                ));
                continue;
            }
            (_, Some(_)) => panic!("{file}: listed in FLOWKIT_CANNOT but FlowKit compensated it"),
            (other, None) => panic!("{file}: unexpected reference source {other:?}"),
        }

        let reference = read_f64(out);
        let n = scaled.n_events();
        // Relative to the event's magnitude: a compensated value near 0 is
        // a difference of large inputs.
        let inputs: Vec<&[f64]> = det_names
            .iter()
            .map(|d| scaled.column(scaled.require(d).unwrap()))
            .collect();
        let event_mag: Vec<f64> = (0..n)
            .map(|i| inputs.iter().fold(1.0_f64, |a, c| a.max(c[i].abs())))
            .collect();
        for (k, det) in det_names.iter().enumerate() {
            let j = ours_events.require(det).unwrap();
            let ours = ours_events.column(j);
            let refc = &reference[k * n..(k + 1) * n];
            for i in 0..n {
                let mag = event_mag[i].max(refc[i].abs());
                assert!(
                    (ours[i] - refc[i]).abs() <= 1e-9 * mag,
                    "{file}: {det} event {i}: ours {}, {source} {}",
                    ours[i],
                    refc[i]
                );
            }
        }
    }
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
    eprintln!("checked against FlowKit: {flowkit_checked:?}");
    eprintln!("checked against numpy (FlowKit cannot): {numpy_checked:?}");
    eprintln!("refused (spillover keyword unusable): {refused:?}");
    assert_eq!(numpy_checked.len(), FLOWKIT_CANNOT.len());
    assert_eq!(refused.len(), OURS_REFUSE.len());
    assert!(
        flowkit_checked.len() >= 10,
        "only {} files checked against FlowKit",
        flowkit_checked.len()
    );
}
