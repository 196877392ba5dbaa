//! `nkflow info`: JSON output per the issue (one object per file and line,
//! stats over raw values matching MANIFEST.json), and failures reported on
//! stderr with a non-zero exit.

mod common;

use std::process::Command;

use serde_json::Value;

fn nkflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nkflow"))
}

#[test]
fn json_lines_match_the_manifest() {
    let Some(manifest) = common::require_shared("fcs-corpus/MANIFEST.json") else {
        return;
    };
    let dir = manifest.parent().unwrap();
    let entries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let files = [
        "bd_facscalibur__data1.fcs",
        "cytek_aurora__NL-2000.fcs",
        "guava_muse__Guava_Muse.fcs",
    ];
    let out = nkflow()
        .arg("info")
        .arg("--json")
        .args(files.iter().map(|f| dir.join(f)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), files.len());
    for (line, file) in lines.iter().zip(files) {
        let v: Value = serde_json::from_str(line).unwrap();
        let e = entries.iter().find(|e| e["file"] == file).unwrap();
        assert_eq!(v["fcs_version"], e["fcs_version"], "{file}");
        assert_eq!(v["datatype"], e["datatype"], "{file}");
        assert_eq!(v["byteord"], e["byteord"], "{file}");
        assert_eq!(v["n_events"], e["n_events"], "{file}");
        assert_eq!(v["n_params"], e["n_params"], "{file}");
        assert_eq!(v["n_datasets"], e["n_datasets"], "{file}");
        let names: Vec<&Value> = v["channels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["name"])
            .collect();
        let pnn: Vec<&Value> = e["pnn"].as_array().unwrap().iter().collect();
        assert_eq!(names, pnn, "{file}");
        assert_eq!(
            v["keywords"]["$TOT"].as_str().map(str::trim),
            Some(e["n_events"].to_string().as_str())
        );
        let r = &e["datasets"][0]["reference"];
        for (j, s) in v["stats"].as_array().unwrap().iter().enumerate() {
            assert_eq!(s["channel"], e["pnn"][j]);
            let want = r["col_sums"][j].as_f64().unwrap();
            let got = s["sum"].as_f64().unwrap();
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{file} sum {j}: {got} vs {want}"
            );
            assert_eq!(
                s["min"].as_f64(),
                r["col_mins"][j].as_f64(),
                "{file} min {j}"
            );
            assert_eq!(
                s["max"].as_f64(),
                r["col_maxs"][j].as_f64(),
                "{file} max {j}"
            );
        }
    }
    // data1.fcs: $P1G = 3.67 and $P3E = 4,0 (f2 0 → 1) show up as gain and log.
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["channels"][0]["gain"], 3.67);
    assert_eq!(v["channels"][2]["log"], serde_json::json!([4.0, 1.0]));
    assert_eq!(v["channels"][5]["label"], Value::Null);
}

#[test]
fn dataset_option_selects_by_nextdata_chain() {
    let Some(path) = common::require_shared("fcs-corpus/guava_muse__Guava_Muse.fcs") else {
        return;
    };
    let out = nkflow()
        .args(["info", "--json", "--dataset", "2"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["n_events"], 111_496);
    let out = nkflow()
        .args(["info", "--dataset", "4"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("guava_muse__Guava_Muse.fcs") && err.contains("holds 4 data set"),
        "{err}"
    );
}

#[test]
fn unreadable_file_exits_nonzero_naming_file_and_problem() {
    let Some(dir) = common::require_shared("fcs-corpus") else {
        return;
    };
    let good = dir.join("bd_lsrii__Yeast_B1_B01.fcs");
    let bad = dir.join("cytek_aurora__sample_header_truncated.fcs");
    let out = nkflow()
        .args(["info", "--json"])
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    // The good file is still shown.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cytek_aurora__sample_header_truncated.fcs") && err.contains("truncated"),
        "{err}"
    );
    // Human output names spillover and instrument.
    let out = nkflow()
        .arg("info")
        .arg(dir.join("cytek_aurora__NL-2000.fcs"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("spillover: $SPILLOVER"), "{text}");
    assert!(text.contains("20,000 × 27"), "{text}");
}

/// The ANALYSIS segment shows in `info`: an `analysis` object in JSON only
/// when the data set has one, and a keyword list in the human output.
#[test]
fn analysis_segment_is_shown_only_when_present() {
    let Some(dir) = common::require_shared("fcs-corpus") else {
        return;
    };
    let partec = dir.join("partec_pas__Partec.fcs");
    let out = nkflow()
        .args(["info", "--json"])
        .arg(&partec)
        .arg(dir.join("bd_facscalibur__data1.fcs"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let v: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let a = v[0]["analysis"].as_object().unwrap();
    assert_eq!(a.len(), 155);
    assert_eq!(a["P$GATE_NAME0"], "R1");
    assert_eq!(a["P$REGION_POINT0[0]"], "11141, 10375");
    assert!(v[0]["keywords"].get("P$GATE_NAME0").is_none());
    assert!(v[1].get("analysis").is_none(), "{}", v[1]);

    let out = nkflow().arg("info").arg(&partec).output().unwrap();
    let human = String::from_utf8(out.stdout).unwrap();
    assert!(human.contains("ANALYSIS segment: 155 keywords"), "{human}");
    assert!(
        human.contains("    P$REGION_POINT0[0] = 11141, 10375"),
        "{human}"
    );
}
