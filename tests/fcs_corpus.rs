//! Every data set of every real file in `../shared/fcs-corpus` reads back with
//! the reference values of MANIFEST.json (FlowIO / fcsparser / an independent
//! numpy decoder): shape, `$PnN`, `$PnS`, the first three events exactly, and
//! column sums (1e-9 relative), minimums and maximums of the raw values. The
//! files marked unreadable fail with an error that names the file and the
//! problem.

mod common;

use std::path::Path;

use nkflow::fcs;
use serde_json::Value;

/// Where the reference reader is wrong and we are right, shown by the bytes.
/// `0877408774.B08` writes empty `$P3S`/`$P4S` as doubled delimiters:
/// `\$P3S\\$P4S\\$P6N\FL1-A\`. Pure escape handling (FlowIO) reads one
/// keyword `$P3S\$P4S\$P6N` and loses `$P6N`; the file means `$P6N = FL1-A`
/// (its sibling `data1.fcs` has `FL2-A` in that slot). (file, index, reference, ours)
const REFERENCE_PNN_SLIPS: [(&str, usize, &str, &str); 1] =
    [("bd_facscalibur__0877408774.B08", 5, "", "FL1-A")];

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn check_dataset(path: &Path, entry: &Value, ds: &Value, problems: &mut Vec<String>) {
    let file = entry["file"].as_str().unwrap();
    let k = ds["index"].as_u64().unwrap() as usize;
    let tag = format!("{file}[{k}]");
    let sample = match fcs::read_dataset(path, k) {
        Ok(s) => s,
        Err(e) => {
            problems.push(format!("{tag}: read failed: {e}"));
            return;
        }
    };
    let r = &ds["reference"];
    let shape = f64s(&r["shape"]);
    let (n, p) = (shape[0] as usize, shape[1] as usize);
    if sample.n_events() != n || sample.channels.len() != p {
        problems.push(format!(
            "{tag}: shape {}x{} != reference {n}x{p}",
            sample.n_events(),
            sample.channels.len()
        ));
        return;
    }
    assert_eq!(
        sample.n_datasets,
        entry["n_datasets"].as_u64().unwrap() as usize,
        "{tag}"
    );
    assert_eq!(
        sample.fcs_version,
        ds["fcs_version"].as_str().unwrap(),
        "{tag}"
    );
    if k == 0 {
        let mut pnn: Vec<&str> = entry["pnn"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for (f, j, reference, ours) in REFERENCE_PNN_SLIPS {
            if f == file {
                assert_eq!(
                    pnn[j], reference,
                    "{tag}: reference changed; revisit the slip list"
                );
                pnn[j] = ours;
            }
        }
        let names: Vec<&str> = sample.channels.iter().map(|c| c.name.as_str()).collect();
        if names != pnn {
            problems.push(format!("{tag}: $PnN {names:?} != {pnn:?}"));
        }
        let pns: Vec<Option<&str>> = entry["pns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str())
            .collect();
        let labels: Vec<Option<&str>> =
            sample.channels.iter().map(|c| c.label.as_deref()).collect();
        // The reference keeps blank $PnS as "" where present; we report None.
        let norm = |v: &[Option<&str>]| -> Vec<Option<String>> {
            v.iter()
                .map(|s| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
                .collect()
        };
        if norm(&labels) != norm(&pns) {
            problems.push(format!("{tag}: $PnS {labels:?} != {pns:?}"));
        }
    }
    for (i, row) in r["first_events"].as_array().unwrap().iter().enumerate() {
        let want = f64s(row);
        let got: Vec<f64> = (0..p).map(|j| sample.events.get(i, j)).collect();
        if got != want {
            problems.push(format!("{tag}: event {i}: {got:?} != {want:?}"));
        }
    }
    let sums = f64s(&r["col_sums"]);
    let mins = f64s(&r["col_mins"]);
    let maxs = f64s(&r["col_maxs"]);
    for j in 0..p {
        let col = sample.events.column(j);
        let sum: f64 = col.iter().sum();
        let min = col.iter().copied().fold(f64::INFINITY, f64::min);
        let max = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let tol = 1e-9 * sums[j].abs().max(1.0);
        if (sum - sums[j]).abs() > tol {
            problems.push(format!("{tag}: column {j} sum {sum} != {}", sums[j]));
        }
        if min != mins[j] || max != maxs[j] {
            problems.push(format!(
                "{tag}: column {j} min/max {min}/{max} != {}/{}",
                mins[j], maxs[j]
            ));
        }
    }
}

#[test]
fn every_dataset_of_every_corpus_file_matches_the_reference() {
    let Some(manifest) = common::require_shared("fcs-corpus/MANIFEST.json") else {
        return;
    };
    let dir = manifest.parent().unwrap();
    let entries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(entries.len(), 41);
    let mut problems = Vec::new();
    let mut n_checked = 0;
    for entry in &entries {
        let file = entry["file"].as_str().unwrap();
        let path = dir.join(file);
        if entry["reference_source"].is_null() {
            continue;
        }
        for ds in entry["datasets"].as_array().unwrap() {
            check_dataset(&path, entry, ds, &mut problems);
            n_checked += 1;
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(n_checked, 44, "data sets checked");
}

#[test]
fn unreadable_files_fail_naming_file_and_problem() {
    let Some(manifest) = common::require_shared("fcs-corpus/MANIFEST.json") else {
        return;
    };
    let dir = manifest.parent().unwrap();
    let entries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let bad: Vec<&str> = entries
        .iter()
        .filter(|e| e["reference_source"].is_null())
        .map(|e| e["file"].as_str().unwrap())
        .collect();
    assert_eq!(bad.len(), 2);
    for file in bad {
        let err = fcs::read(&dir.join(file)).expect_err(file).to_string();
        assert!(err.contains(file), "{err}");
        let says_what = err.contains("truncated")
            || err.contains("not an FCS file")
            || err.contains("shorter than");
        assert!(says_what, "message does not say what is wrong: {err}");
        eprintln!("{err}");
    }
}

#[test]
fn absurd_sizes_are_refused_with_the_numbers() {
    let Some(path) = common::require_shared("fcs-corpus/bd_facscalibur__data1.fcs") else {
        return;
    };
    let orig = std::fs::read(&path).unwrap();
    let replace = |from: &[u8], to: &[u8]| {
        assert_eq!(from.len(), to.len(), "same length keeps every offset valid");
        let mut b = orig.clone();
        let i = b.windows(from.len()).position(|w| w == from).unwrap();
        b[i..i + from.len()].copy_from_slice(to);
        b
    };
    let huge_tot = replace(b"$TOT\\13367", b"$TOT\\99999");
    let e = fcs::read_bytes("P07.fcs", &huge_tot, 0)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "P07.fcs: DATA at byte 2560: $TOT = 99999 events × 16 bytes needs 1.6 MB, but DATA (2,560–216,431) holds 213,872 bytes"
    );
    let big_par = replace(b"$PAR\\8", b"$PAR\\9");
    let e = fcs::read_bytes("P07.fcs", &big_par, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("$P9B") && e.contains("P07.fcs: TEXT"), "{e}");
    let mode_c = replace(b"$MODE\\L", b"$MODE\\C");
    let e = fcs::read_bytes("P07.fcs", &mode_c, 0)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("$MODE = C") && e.contains("only list mode"),
        "{e}"
    );
}

/// Keyword/value pairs of bytes `b..=e` by the plainest reading: split on
/// the first byte, trim keys (upper-cased) and values. Only for segments
/// without escaped delimiters, which the ones below are (checked).
fn naive_pairs(bytes: &[u8], b: usize, e: usize) -> Vec<(String, String)> {
    let seg = &bytes[b..=e];
    let parts: Vec<&[u8]> = seg[1..].split(|&c| c == seg[0]).collect();
    let text = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
    let pairs: Vec<(String, String)> = parts
        .chunks_exact(2)
        .map(|kv| {
            (
                text(kv[0]).trim().to_ascii_uppercase(),
                text(kv[1])
                    .trim_matches(|c: char| c.is_whitespace() || c == '\0')
                    .to_string(),
            )
        })
        .collect();
    // No doubled (escaped) delimiter anywhere before the trailing bytes.
    assert!(parts[..parts.len() - 1].iter().all(|p| !p.is_empty()));
    pairs
}

/// HEADER offset field `i` (0-based: TEXT, TEXT, DATA, DATA, ANALYSIS, ANALYSIS).
fn header_offset(bytes: &[u8], i: usize) -> usize {
    let f = &bytes[10 + 8 * i..18 + 8 * i];
    std::str::from_utf8(f).unwrap().trim().parse().unwrap()
}

/// The corpus files with an ANALYSIS segment (README: Partec PAS, from the
/// HEADER; Partec CyFlow, from HEADER and $BEGINANALYSIS) read it into
/// `Sample::analysis`, every pair as the plainest split of those bytes finds
/// it, without a warning; files without one have none.
#[test]
fn analysis_segments_are_read() {
    let Some(corpus) = common::require_shared("fcs-corpus") else {
        return;
    };
    for (file, count, gate, point) in [
        ("partec_pas__Partec.fcs", 155, "R1", "11141, 10375"),
        ("partec_cyflow__PU87_10_B200.fcs", 111, "RN1", "6402, -1"),
    ] {
        let path = corpus.join(file);
        let bytes = std::fs::read(&path).unwrap();
        let expect = naive_pairs(&bytes, header_offset(&bytes, 4), header_offset(&bytes, 5));
        let s = fcs::read(&path).unwrap();
        let got: Vec<(String, String)> = s
            .analysis
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, expect, "{file}");
        assert_eq!(got.len(), count, "{file}");
        assert_eq!(s.analysis.get("P$GATE_NAME0"), Some(gate));
        assert_eq!(s.analysis.get("P$REGION_POINT0[0]"), Some(point));
        assert!(
            !s.warnings.iter().any(|w| w.message.contains("ANALYSIS")),
            "{file}: {:?}",
            s.warnings
        );
        // ANALYSIS keywords stay out of TEXT's.
        assert_eq!(s.keywords.get("P$GATE_NAME0"), None);
    }
    for file in ["bd_diva6__facs_diva_test.fcs", "beckman_fc500__coulter.lmd"] {
        assert!(fcs::read(&corpus.join(file)).unwrap().analysis.is_empty());
    }
}

/// Supplemental TEXT ($BEGINSTEXT/$ENDSTEXT) is read: MACSQuant's 124 kB
/// segment between TEXT and DATA adds its keywords (values as the plainest
/// split of those bytes finds them); a CyFlow Cube's "supplemental TEXT" that
/// is a ZIP archive is skipped with a warning.
#[test]
fn supplemental_text_is_read() {
    let Some(corpus) = common::require_shared("fcs-corpus") else {
        return;
    };
    let path = corpus.join("miltenyi_macsquant__FCS_3.1_Well_A1.001.fcs");
    let bytes = std::fs::read(&path).unwrap();
    let s = fcs::read(&path).unwrap();
    let sb: usize = s
        .keywords
        .get("$BEGINSTEXT")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let se: usize = s.keywords.get("$ENDSTEXT").unwrap().trim().parse().unwrap();
    assert_eq!((sb, se), (2722, 127220));
    let stext = naive_pairs(&bytes, sb, se);
    assert!(stext.len() > 90, "{}", stext.len());
    for (k, v) in &stext {
        assert_eq!(s.keywords.get(k), Some(v.as_str()), "{k}");
    }
    assert!(stext.iter().any(|(k, _)| k == "@MB_P1_BASE"));

    let zip = fcs::read(&corpus.join("partec_cyflow_cube8__cyflow_cube_8.fcs")).unwrap();
    assert!(
        zip.warnings
            .iter()
            .any(|w| w.message.contains("supplemental TEXT") && w.message.contains("ignored")),
        "{:?}",
        zip.warnings
    );
}
