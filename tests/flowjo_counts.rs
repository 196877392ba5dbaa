//! Counts from FlowJo workspaces: FlowJo's own saved counts for the shared
//! workspaces, independent brute-force counts for the fixture's polygon,
//! ellipse and Booleans, and the failure paths (unsupported gate, missing
//! FCS file, malformed XML) that must leave the other counts complete.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use nkflow::flowjo::{self, analyze, Analysis};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    common::repo_root().join("tests/fixtures/flowjo").join(name)
}

fn counts(a: &Analysis, file: &str) -> HashMap<String, (Option<u64>, Option<u64>, String)> {
    let s = a
        .samples
        .iter()
        .find(|s| s.file == file)
        .unwrap_or_else(|| panic!("no sample {file}"));
    s.rows
        .iter()
        .map(|r| {
            (
                r.population.clone(),
                (r.count, r.flowjo_count, r.note.clone()),
            )
        })
        .collect()
}

#[test]
fn shared_workspaces_give_flowjos_counts() {
    let Some(mpath) = common::require_shared("flowjo/MANIFEST.json") else {
        return;
    };
    let dir = mpath.parent().unwrap();
    let m: Value = serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    let mut equal = 0;
    let mut total = 0;
    for w in m["workspaces"].as_array().unwrap() {
        let wsp = dir.join(w["wsp"].as_str().unwrap());
        let ws = flowjo::read(&wsp).unwrap();
        // The URI is a Windows path of the machine that saved it; the file
        // is found beside the workspace.
        let a = analyze::analyze(&ws, &wsp, &analyze::Options::default()).unwrap();
        assert_eq!(a.samples.len(), 1);
        let s = &a.samples[0];
        assert_eq!(s.error, None, "{}", wsp.display());
        let c = counts(&a, "test_data_diamond_01.fcs");
        assert_eq!(c["root"].0, Some(200_000));
        for p in w["populations"].as_array().unwrap() {
            let name = p["name"].as_str().unwrap();
            let expected = p["flowjo_count"].as_u64().unwrap();
            let (ours, saved, note) = &c[name];
            assert_eq!(*saved, Some(expected), "{name}");
            total += 1;
            if *ours == Some(expected) {
                equal += 1;
            } else {
                eprintln!(
                    "{}: {name}: ours {ours:?}, FlowJo {expected} {note}",
                    wsp.display()
                );
            }
            let r = s.rows.iter().find(|r| r.population == name).unwrap();
            let pct = p["flowjo_percent_of_parent"].as_f64().unwrap();
            assert!((r.pct_parent.unwrap() - pct).abs() < 1e-9, "{name}");
            assert_eq!(r.parent, "root");
        }
    }
    assert_eq!(
        (equal, total),
        (6, 6),
        "populations equal to FlowJo's count"
    );
}

/// Even–odd crossing test, edges inclusive (what the engine does; written
/// out here independently).
fn in_polygon(p: (f64, f64), v: &[(f64, f64)]) -> bool {
    let mut inside = false;
    let n = v.len();
    for i in 0..n {
        let (a, b) = (v[i], v[(i + 1) % n]);
        let cross = (b.0 - a.0) * (p.1 - a.1) - (p.0 - a.0) * (b.1 - a.1);
        let within = p.0 >= a.0.min(b.0)
            && p.0 <= a.0.max(b.0)
            && p.1 >= a.1.min(b.1)
            && p.1 <= a.1.max(b.1);
        if cross == 0.0 && within {
            return true;
        }
        if (a.1 > p.1) != (b.1 > p.1) {
            let x = a.0 + (p.1 - a.1) * (b.0 - a.0) / (b.1 - a.1);
            if p.0 < x {
                inside = !inside;
            }
        }
    }
    inside
}

#[test]
fn fixture_unsupported_gate_and_missing_file_keep_the_rest() {
    let Some(fcs) =
        common::require_shared("flowjo/simple_diamond_example/test_data_diamond_01.fcs")
    else {
        return;
    };
    let wsp = fixture("unsupported_and_missing.wsp");
    let ws = flowjo::read(&wsp).unwrap();
    let warns: Vec<&str> = ws.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        warns
            .iter()
            .any(|w| w.contains("<miltenyi>") && w.contains("channel_C")),
        "{warns:?}"
    );
    assert!(
        warns
            .iter()
            .any(|w| w.contains("CurlyQuadGate") && w.contains("\"Curly\"")),
        "{warns:?}"
    );
    let opts = analyze::Options {
        fcs_dir: Some(fcs.parent().unwrap().to_path_buf()),
        group: None,
    };
    let a = analyze::analyze(&ws, &wsp, &opts).unwrap();

    // The missing sample: an error naming the file; its populations listed without counts.
    let missing = a
        .samples
        .iter()
        .find(|s| s.file == "missing_file.fcs")
        .unwrap();
    let err = missing.error.as_deref().unwrap();
    assert!(
        err.contains("not found") && err.contains("missing_file.fcs"),
        "{err}"
    );
    assert!(missing.rows.iter().all(|r| r.count.is_none()));
    assert_eq!(
        missing
            .rows
            .iter()
            .find(|r| r.population == "P")
            .unwrap()
            .flowjo_count,
        Some(10)
    );

    // Independent brute force on the events.
    let mut sample = nkflow::fcs::read(&fcs).unwrap();
    sample.apply_scale();
    let xa = sample.events.column_by_name("channel_A").unwrap();
    let xb = sample.events.column_by_name("channel_B").unwrap();
    let poly = [(5000.5, 40000.25), (70000.5, 45000.25), (40000.5, 98000.25)];
    let (f0, f1) = ((18.036039, 66.836039), (30.763961, 79.563961));
    let mut q1 = 0u64;
    let mut n_poly = 0u64;
    let mut n_ell = 0u64;
    let mut n_and = 0u64;
    for (&a_, &b_) in xa.iter().zip(xb) {
        let is_q1 = a_ < 49536.60093896714 && b_ >= 49866.83420593368;
        let is_poly = in_polygon((a_, b_), &poly);
        // FlowJo ellipse: display units (linear 0…262144 → 0…256), sum of
        // focal distances ≤ 2a with a = 15.
        let (da, db) = (a_ / 262144.0 * 256.0, b_ / 262144.0 * 256.0);
        let focal = (da - f0.0).hypot(db - f0.1) + (da - f1.0).hypot(db - f1.1);
        q1 += u64::from(is_q1);
        n_poly += u64::from(is_poly);
        n_ell += u64::from(focal <= 30.0);
        n_and += u64::from(is_q1 && is_poly);
    }
    assert_eq!(q1, 49671, "brute force reproduces FlowJo's Q1");
    let c = counts(&a, "test_data_diamond_01.fcs");
    assert_eq!(c["root"].0, Some(200_000));
    assert_eq!(c["Q1: channel_A- , channel_B+"].0, Some(49671));
    assert_eq!(c["Q1: channel_A- , channel_B+"].1, Some(49671));
    assert_eq!(
        c["not Q1"].0,
        Some(200_000 - 49671),
        "eventsInside=0 is the complement"
    );
    assert_eq!(c["Poly"].0, Some(n_poly));
    assert_eq!(c["Ellipse"].0, Some(n_ell));
    assert!(
        n_ell > 1000 && n_poly > 1000 && n_and > 1000,
        "gates select something: {n_ell} {n_poly} {n_and}"
    );
    assert_eq!(c["Q1 and Poly"].0, Some(n_and));
    assert_eq!(c["not Poly"].0, Some(200_000 - n_poly));
    let (curly, _, note) = &c["Curly"];
    assert_eq!(*curly, None);
    assert!(note.contains("CurlyQuadGate"), "{note}");
    let (child, _, note) = &c["Curly/below curly"];
    assert_eq!(*child, None);
    assert!(note.contains("Curly"), "{note}");
    let (or, _, note) = &c["Q1 or Curly"];
    assert_eq!(*or, None);
    assert!(note.contains("Curly"), "{note}");
}

#[test]
fn malformed_xml_is_an_error_naming_the_position() {
    let err = flowjo::read(fixture("malformed.wsp"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("malformed.wsp"), "{err}");
    assert!(err.contains("line 26"), "{err}");
    assert!(err.contains("line 26, column"), "{err}");
}

fn run_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_nkflow"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_writes_populations_and_summary() {
    let Some(wsp) = common::require_shared(
        "flowjo/simple_diamond_example/simple_diamond_example_quad_gate.wsp",
    ) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let o = run_cli(&[
        "workspace",
        wsp.to_str().unwrap(),
        "-o",
        out.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.path().join("populations.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "file,population,parent,count,pct_parent,flowjo_count,note"
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| {
            csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(l.as_bytes())
                .records()
                .next()
                .unwrap()
                .unwrap()
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert_eq!(r[0], "test_data_diamond_01.fcs");
        assert_eq!(r[3], r[5], "count equals flowjo_count for {}", r[1]);
    }
    let summary = std::fs::read_to_string(out.path().join("summary.txt")).unwrap();
    assert!(summary.contains("equal: 5; different: 0"), "{summary}");

    // Malformed XML: non-zero exit, message names the file and line.
    let o = run_cli(&[
        "workspace",
        fixture("malformed.wsp").to_str().unwrap(),
        "-o",
        out.path().to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("malformed.wsp") && err.contains("line 26"),
        "{err}"
    );
}

#[test]
fn fixture_exports_as_a_pipeline_with_notes() {
    let Some(fcs) =
        common::require_shared("flowjo/simple_diamond_example/test_data_diamond_01.fcs")
    else {
        return;
    };
    let wsp = fixture("unsupported_and_missing.wsp");
    let ws = flowjo::read(&wsp).unwrap();
    let opts = analyze::Options {
        fcs_dir: Some(fcs.parent().unwrap().to_path_buf()),
        group: None,
    };
    let x = analyze::export_pipeline(&ws, &wsp, &opts).unwrap();
    x.pipeline.validate().unwrap();
    let json = serde_json::to_string(&x.pipeline).unwrap();
    let back = nkflow::pipeline::definition::Pipeline::from_json(&json, "export").unwrap();
    assert_eq!(back, x.pipeline);
    let ids: Vec<&str> = x.pipeline.gates.iter().map(|g| g.id.as_str()).collect();
    assert!(ids.contains(&"Q1_channel_A-_channel_Bpos"), "{ids:?}");
    assert!(
        ids.contains(&"not_Q1") && ids.contains(&"not_Q1__inside"),
        "{ids:?}"
    );
    let notes = x.notes.join("\n");
    for left_out in [
        "\"Curly\"",
        "\"Curly/below curly\"",
        "\"Q1 or Curly\"",
        "\"Q1 and Poly\"",
    ] {
        assert!(notes.contains(left_out), "{left_out} in {notes}");
    }
    // The ellipse polygon's vertices lie on FlowJo's ellipse (display units).
    let ell = x.pipeline.gates.iter().find(|g| g.id == "Ellipse").unwrap();
    let nkflow::pipeline::definition::GateKind::Polygon { vertices, .. } = &ell.gate else {
        panic!("ellipse exported as {:?}", ell.gate)
    };
    assert_eq!(vertices.len(), 256);
    let (f0, f1) = ((18.036039, 66.836039), (30.763961, 79.563961));
    for &(a, b) in vertices {
        let (da, db) = (a / 262144.0 * 256.0, b / 262144.0 * 256.0);
        let focal = (da - f0.0).hypot(db - f0.1) + (da - f1.0).hypot(db - f1.1);
        assert!((focal - 30.0).abs() < 1e-5, "{focal}");
    }
}

#[test]
fn group_template_applies_to_unmatched_files() {
    let Some(wsp) =
        common::require_shared("flowjo/simple_diamond_example/test_data_diamond_asinh_rect.wsp")
    else {
        return;
    };
    let fcs = wsp.parent().unwrap().join("test_data_diamond_01.fcs");
    let dir = tempfile::tempdir().unwrap();
    // A renamed copy matches no workspace sample: it gets the group template.
    std::os::unix::fs::symlink(&fcs, dir.path().join("renamed.fcs")).unwrap();
    std::os::unix::fs::symlink(&fcs, dir.path().join("test_data_diamond_01.fcs")).unwrap();
    let ws = flowjo::read(&wsp).unwrap();
    let bad = analyze::analyze(
        &ws,
        &wsp,
        &analyze::Options {
            fcs_dir: None,
            group: Some("Nope".into()),
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("Nope") && bad.contains("\"All Samples\""),
        "{bad}"
    );
    let a = analyze::analyze(
        &ws,
        &wsp,
        &analyze::Options {
            fcs_dir: Some(dir.path().to_path_buf()),
            group: Some("All Samples".into()),
        },
    )
    .unwrap();
    assert_eq!(a.samples.len(), 2);
    let own = counts(&a, "test_data_diamond_01.fcs");
    let templ = counts(&a, "renamed.fcs");
    // The workspace sample has its own (customised, owningGroup="") gate;
    // the group's template keeps the older rectangle — the one of
    // test_data_diamond_biex_rect.wsp, whose FlowJo count on this file is
    // 50605. FlowJo's counts belong to the workspace sample only.
    assert_eq!(
        own["upper_right"],
        (Some(50559), Some(50559), String::new())
    );
    assert_eq!(templ["upper_right"], (Some(50605), None, String::new()));
}

/// The exported pipeline, run by the pipeline engine on the same file, gives
/// the workspace's counts: FlowJo's for the quadrants, ours for the fixture's
/// rectangles, complement and polygon (linear axes: exact); the ellipse's
/// 256-gon within 0.01 % of the exact ellipse.
#[test]
fn exported_pipeline_counts_like_the_workspace() {
    let Some(fcs) =
        common::require_shared("flowjo/simple_diamond_example/test_data_diamond_01.fcs")
    else {
        return;
    };
    let dir = fcs.parent().unwrap().to_path_buf();
    for (wsp, opts) in [
        (
            dir.join("simple_diamond_example_quad_gate.wsp"),
            analyze::Options::default(),
        ),
        (
            fixture("unsupported_and_missing.wsp"),
            analyze::Options {
                fcs_dir: Some(dir.clone()),
                group: None,
            },
        ),
    ] {
        let ws = flowjo::read(&wsp).unwrap();
        let a = analyze::analyze(&ws, &wsp, &opts).unwrap();
        let ours = counts(&a, "test_data_diamond_01.fcs");
        let x = analyze::export_pipeline(&ws, &wsp, &opts).unwrap();
        let sample = nkflow::fcs::read(&fcs).unwrap();
        let gated = nkflow::pipeline::engine::gate_sample(
            &x.pipeline,
            sample,
            &std::collections::BTreeMap::new(),
        )
        .unwrap();
        let mut compared = 0;
        for line in x.pipeline.description.lines().skip(1) {
            let (id, path) = line.trim().split_once(" = ").unwrap();
            let p = gated.population(id).unwrap();
            let expected = ours[path].0.unwrap() as i64;
            if path == "Ellipse" {
                assert!(
                    (p.count as i64 - expected).abs() <= 20,
                    "{path}: {} vs {expected}",
                    p.count
                );
            } else {
                assert_eq!(p.count as i64, expected, "{}: {path}", wsp.display());
            }
            compared += 1;
        }
        assert!(compared >= 4, "{compared}");
    }
}
