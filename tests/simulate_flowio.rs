//! Simulated files pass an independent reader: FlowIO reads every file of a
//! mixed-lab cohort (float and integer, big- and little-endian, 16- to 20-bit
//! ranges) to the same channels, labels, spillover and values as nkflow.

mod common;

use nkflow::simulate::{write_cohort, ByteOrder, DataType, Range, Settings};

fn check(settings: &Settings) {
    let Some(py) = common::peer_python("flowio") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_cohort(settings, dir.path()).unwrap();
    let script = common::repo_root().join("tests").join("simulate_flowio.py");
    let out = common::run_python(&py, &script, &[dir.path().to_str().unwrap()]);
    let peer: serde_json::Value = serde_json::from_str(&out).unwrap();
    let files = peer.as_object().unwrap();
    assert_eq!(files.len(), settings.samples);
    for (name, p) in files {
        let s = nkflow::fcs::read(&dir.path().join(name)).unwrap();
        assert_eq!(
            p["events"].as_u64().unwrap() as usize,
            s.n_events(),
            "{name}"
        );
        assert_eq!(
            p["channels"].as_u64().unwrap() as usize,
            s.channels.len(),
            "{name}"
        );
        for (j, ch) in s.channels.iter().enumerate() {
            assert_eq!(p["pnn"][j].as_str().unwrap(), ch.name, "{name}");
            let pns = p["pns"][j].as_str().unwrap_or("");
            assert_eq!(pns, ch.label.as_deref().unwrap_or(""), "{name}");
        }
        assert_eq!(
            p["datatype"].as_str(),
            s.keywords.get("$DATATYPE"),
            "{name}"
        );
        assert_eq!(p["byteord"].as_str(), s.keywords.get("$BYTEORD"), "{name}");
        assert_eq!(
            p["spillover"].as_str(),
            s.keywords.get("$SPILLOVER"),
            "{name}"
        );
        let n = s.n_events();
        for j in 0..s.channels.len() {
            let col = s.events.column(j);
            assert_eq!(
                p["first"][j].as_f64().unwrap(),
                col[0],
                "{name} channel {j}"
            );
            assert_eq!(
                p["last"][j].as_f64().unwrap(),
                col[n - 1],
                "{name} channel {j}"
            );
            let ours: f64 = col.iter().sum();
            let theirs = p["sums"][j].as_f64().unwrap();
            assert!(
                (ours - theirs).abs() <= 1e-9 * ours.abs().max(1.0),
                "{name} channel {j}: sum {ours} vs FlowIO {theirs}"
            );
        }
    }
}

#[test]
fn flowio_reads_mixed_lab_cohort_like_nkflow() {
    check(&Settings {
        seed: 31,
        samples: 6,
        events: Some(5_000),
        ..Settings::default()
    });
}

#[test]
fn flowio_reads_16_bit_big_endian_integers_like_nkflow() {
    check(&Settings {
        seed: 32,
        samples: 3,
        events: Some(5_000),
        range: Some(Range::Bits16),
        datatype: Some(DataType::Int),
        byte_order: Some(ByteOrder::Big),
        ..Settings::default()
    });
}
