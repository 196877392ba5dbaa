//! FCS scale values (`Sample::apply_scale`) against FlowIO's
//! `as_array(preprocess=True)`, the reference `shared/gatingml/SEMANTICS.md`
//! §1 names, on corpus files covering every rule: `$PnE` log amplification
//! (with f2 = 0 read as 1), `$PnG` gain, a channel with both (Guava Muse:
//! log then gain), and `$TIMESTEP` on Time.

mod common;

use nkflow::fcs;
use serde_json::Value;

#[test]
fn scale_values_match_flowio() {
    let Some(corpus) = common::require_shared("fcs-corpus") else {
        return;
    };
    let Some(py) = common::peer_python("flowio") else {
        return;
    };
    let script = common::repo_root().join("tests/python/flowio_scaled.py");
    let mut both_seen = 0;
    for file in ["guava_muse__Guava_Muse.fcs", "bd_facscalibur__data1.fcs"] {
        let path = corpus.join(file);
        let out = common::run_python(&py, &script, &[path.to_str().unwrap()]);
        let v: Value = serde_json::from_str(&out).unwrap();
        let mut s = fcs::read(&path).unwrap();
        s.apply_scale();
        let cols = v["columns"].as_array().unwrap();
        assert_eq!(cols.len(), s.channels.len(), "{file}");
        for (j, (ch, col)) in s.channels.iter().zip(cols).enumerate() {
            assert_eq!(v["pnn"][j], ch.name.as_str(), "{file}");
            both_seen += usize::from(ch.log.is_some() && ch.gain.is_some());
            let theirs: Vec<f64> = col
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            let ours = s.events.column(j);
            assert_eq!(ours.len(), theirs.len(), "{file} {}", ch.name);
            for (i, (&a, &b)) in ours.iter().zip(&theirs).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1e-300),
                    "{file} {} event {i}: ours {a}, FlowIO {b} (gain {:?}, log {:?})",
                    ch.name,
                    ch.gain,
                    ch.log
                );
            }
        }
    }
    // Guava Muse's three *-HLog channels carry both $PnE and $PnG.
    assert_eq!(both_seen, 3);
}
