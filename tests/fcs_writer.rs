//! Writer round trip: what nkflow writes, nkflow and FlowIO read back with the
//! same events, channels and keywords.

mod common;

use nkflow::fcs;
use nkflow::sample::{Channel, Keywords, Sample, Scale};
use nkflow::EventMatrix;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// Keywords the writer regenerates (so not compared as "the caller's").
fn is_structural(k: &str) -> bool {
    const S: [&str; 12] = [
        "$BEGINANALYSIS",
        "$ENDANALYSIS",
        "$BEGINSTEXT",
        "$ENDSTEXT",
        "$BEGINDATA",
        "$ENDDATA",
        "$BYTEORD",
        "$DATATYPE",
        "$MODE",
        "$NEXTDATA",
        "$PAR",
        "$TOT",
    ];
    if S.contains(&k) {
        return true;
    }
    let Some(rest) = k.strip_prefix("$P") else {
        return false;
    };
    let d = rest.bytes().take_while(u8::is_ascii_digit).count();
    d > 0 && matches!(&rest[d..], "N" | "S" | "R" | "B" | "E" | "G" | "DATATYPE")
}

fn synthetic(n: usize) -> Sample {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let names = ["FSC-A", "SSC-A", "CD3 FITC-A", "Time"];
    let cols: Vec<Vec<f64>> = (0..names.len())
        .map(|j| {
            (0..n)
                .map(|i| {
                    if j == 3 {
                        i as f64
                    } else {
                        // float32-representable values, some negative (compensated data)
                        rng.gen_range(-500.0f32..262_144.0f32) as f64
                    }
                })
                .collect()
        })
        .collect();
    let events =
        EventMatrix::from_columns(names.iter().map(|s| s.to_string()).collect(), cols).unwrap();
    let channels = names
        .iter()
        .enumerate()
        .map(|(i, name)| Channel {
            number: i + 1,
            name: name.to_string(),
            label: (i == 2).then(|| "CD3".to_string()),
            range: 262_144.0,
            bits: 32,
            gain: (i == 0).then_some(2.5),
            log: None,
        })
        .collect();
    let mut keywords = Keywords::new();
    keywords.insert("$CYT", "nkflow simulator");
    keywords.insert("$SPILLOVER", "2,FSC-A,CD3 FITC-A,1,0.125,0.0625,1");
    keywords.insert("$TIMESTEP", "0.01");
    // Every usual delimiter occurs in some value: the writer must cope.
    keywords.insert("$FIL", "plate 1/well A|01\\x.fcs");
    keywords.insert("NOTE", "µ-scale ~ caret ^ bang ! and\x0cform feed\x1e");
    keywords.insert("EMPTY", "");
    keywords.insert("$P1V", "450");
    keywords.insert("$P9V", "999"); // no channel 9: not written
    Sample {
        source: "synthetic".into(),
        fcs_version: "3.1".into(),
        dataset: 0,
        n_datasets: 1,
        keywords,
        analysis: Default::default(),
        channels,
        events,
        scale: Scale::Raw,
        warnings: vec![],
    }
}

fn assert_round_trip(orig: &Sample, back: &Sample) {
    assert_eq!(back.fcs_version, "3.1");
    assert_eq!(back.events.names(), orig.events.names());
    assert_eq!(back.events.n_events(), orig.events.n_events());
    for j in 0..orig.channels.len() {
        let (a, b) = (orig.events.column(j), back.events.column(j));
        for (x, y) in a.iter().zip(b) {
            assert_eq!(*x as f32 as f64, *y, "column {j}");
        }
        let (c, d) = (&orig.channels[j], &back.channels[j]);
        assert_eq!(
            (&c.name, &c.label, c.range, c.gain, c.log),
            (&d.name, &d.label, d.range, d.gain, d.log)
        );
        assert_eq!(d.bits, 32);
    }
    let n = orig.channels.len();
    for (k, v) in orig.keywords.iter() {
        if is_structural(k) {
            continue;
        }
        let stale = k
            .strip_prefix("$P")
            .and_then(|r| {
                r.trim_end_matches(|c: char| c.is_ascii_alphabetic())
                    .parse::<usize>()
                    .ok()
            })
            .is_some_and(|i| i > n);
        if stale {
            assert_eq!(
                back.keywords.get(k),
                None,
                "{k} of a missing channel was written"
            );
        } else {
            assert_eq!(back.keywords.get(k), Some(v.trim()), "keyword {k}");
        }
    }
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
}

#[test]
fn synthetic_sample_round_trips_through_file_and_stream() {
    let dir = tempfile::tempdir().unwrap();
    let orig = synthetic(5000);
    let path = dir.path().join("synthetic.fcs");
    fcs::write(&path, &orig).unwrap();
    let back = fcs::read(&path).unwrap();
    assert_round_trip(&orig, &back);
    assert_eq!(
        back.spillover_text(),
        Some(("$SPILLOVER", "2,FSC-A,CD3 FITC-A,1,0.125,0.0625,1"))
    );

    let mut bytes = Vec::new();
    fcs::write_to(&mut bytes, &orig).unwrap();
    assert_eq!(
        bytes,
        std::fs::read(&path).unwrap(),
        "file and stream output differ"
    );
    // No temporary files left beside the output.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn corpus_file_round_trips_with_gain_and_log() {
    // data1.fcs: 16-bit ints with $PnR masks, $P1G gain, $PnE log channels.
    let Some(path) = common::require_shared("fcs-corpus/bd_facscalibur__data1.fcs") else {
        return;
    };
    let orig = fcs::read(&path).unwrap();
    assert!(orig.channels.iter().any(|c| c.log.is_some()));
    assert!(orig.channels.iter().any(|c| c.gain.is_some()));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data1-rewritten.fcs");
    fcs::write(&out, &orig).unwrap();
    let back = fcs::read(&out).unwrap();
    assert_round_trip(&orig, &back);
    // Scaled values agree too, as $PnE/$PnG/$TIMESTEP were carried over.
    let (mut a, mut b) = (orig.clone(), back);
    a.apply_scale();
    b.apply_scale();
    assert_eq!(a.events.as_slice(), b.events.as_slice());
}

#[test]
fn empty_and_mismatched_samples() {
    let mut s = synthetic(0);
    let mut bytes = Vec::new();
    fcs::write_to(&mut bytes, &s).unwrap();
    let back = fcs::read_bytes("empty.fcs", &bytes, 0).unwrap();
    assert_eq!(back.n_events(), 0);
    assert_eq!(back.channels.len(), 4);
    s.channels.pop();
    let err = fcs::write_to(&mut Vec::new(), &s).unwrap_err().to_string();
    assert!(
        err.contains("3 channels but the event matrix has 4 columns"),
        "{err}"
    );
}

#[test]
fn flowio_reads_our_files_with_the_same_values() {
    let Some(py) = common::peer_python("flowio") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let orig = synthetic(3000);
    let path = dir.path().join("for_flowio.fcs");
    fcs::write(&path, &orig).unwrap();
    let script = common::repo_root().join("tests/python/flowio_read.py");
    let out = common::run_python(&py, &script, &[path.to_str().unwrap()]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], "3.1");
    assert_eq!(v["n_events"], 3000);
    let pnn: Vec<&str> = v["pnn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(
        pnn,
        orig.events
            .names()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert_eq!(v["pns"][2], "CD3");
    let events = v["events"].as_array().unwrap();
    for (i, row) in events.iter().enumerate() {
        for (j, x) in row.as_array().unwrap().iter().enumerate() {
            assert_eq!(
                x.as_f64().unwrap(),
                orig.events.get(i, j) as f32 as f64,
                "event {i} channel {j}"
            );
        }
    }
    // FlowIO lower-cases keys and drops '$' everywhere (values included).
    let text = &v["text"];
    assert_eq!(text["spillover"], "2,FSC-A,CD3 FITC-A,1,0.125,0.0625,1");
    assert_eq!(text["cyt"], "nkflow simulator");
    assert_eq!(text["fil"], "plate 1/well A|01\\x.fcs");
    assert_eq!(text["p1g"], "2.5");
    assert_eq!(text["p3s"], "CD3");
}
