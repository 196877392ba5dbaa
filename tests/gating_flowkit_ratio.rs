//! Ratio (fratio) dimensions with a compensation reference, on a corpus file
//! that carries its own spillover, checked event by event against FlowKit.
//!
//! The rule: a ratio dimension's `compensation-ref` applies to the ratio's two
//! input `fcs-dimension`s before the ratio is taken (then the dimension's own
//! transform, if any). Gating-ML 2.0's schema makes `compensation-ref`
//! required on every dimension, new-dimensions included, and the reference
//! implementation by the standard's authors (flowUtils,
//! `createOrUseGml2RatioTransformation`) compensates the numerator and the
//! denominator per that reference. FlowKit 1.3 instead always reads raw values
//! for a ratio, which silently drops the attribute; `shared/gatingml` has no
//! compensated ratio case to tell them apart.
//!
//! So: `uncompensated` ratios must equal FlowKit's own `gate_sample`; `FCS`
//! ratios must equal FlowKit gating the events FlowKit itself compensated
//! (`tests/gating_flowkit_ratio.py`); and FlowKit's own result for the `FCS`
//! ratio is, exactly, the uncompensated one.

mod common;

use std::collections::BTreeMap;

use nkflow::gating::GatingResults;
use nkflow::gatingml;

const FCS: &str = "bd_diva6__facs_diva_test.fcs";
const XML: &str = "tests/fixtures/gatingml/ratio/diva6_ratio.xml";

type Memberships = BTreeMap<String, String>;

fn parse(v: &serde_json::Value) -> Memberships {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, s)| (k.clone(), s.as_str().unwrap().to_string()))
        .collect()
}

/// Events where our population `id` differs from FlowKit's bits.
fn differing(ours: &GatingResults, id: &str, theirs: &str) -> usize {
    let m = ours.membership(id).unwrap();
    assert_eq!(m.len(), theirs.len(), "{id}: event count");
    theirs
        .bytes()
        .enumerate()
        .filter(|&(i, b)| m.get(i) != (b == b'1'))
        .count()
}

fn ones(bits: &str) -> usize {
    bits.bytes().filter(|&b| b == b'1').count()
}

#[test]
fn ratio_dimensions_compensate_their_inputs_like_gatingml_reference() {
    let Some(corpus) = common::require_shared("fcs-corpus") else {
        return;
    };
    let Some(py) = common::peer_python("flowkit") else {
        return;
    };
    let fcs = corpus.join(FCS);
    let xml = common::repo_root().join(XML);
    let script = common::repo_root().join("tests/gating_flowkit_ratio.py");
    let out = common::run_python(
        &py,
        &script,
        &[xml.to_str().unwrap(), fcs.to_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (direct, pre) = (parse(&v["direct"]), parse(&v["precompensated"]));

    let strategy = gatingml::read_path(&xml).unwrap();
    let raw = nkflow::fcs::read(&fcs).unwrap();
    let ours = strategy.gate_sample(&raw).unwrap();
    assert_eq!(ours.n_events(), v["events"].as_u64().unwrap() as usize);
    let mut scaled = raw.clone();
    scaled.apply_scale();
    assert_eq!(strategy.gate_sample(&scaled).unwrap(), ours);

    // Uncompensated ratio and the scatter parent: FlowKit's own result.
    for id in ["RatioRaw", "Cells"] {
        assert_eq!(differing(&ours, id, &direct[id]), 0, "{id} vs FlowKit");
    }
    // FCS-compensated ratios: FlowKit on FlowKit-compensated events.
    for id in ["RatioFCS", "RatioFCSAsinh"] {
        let bits = &pre[id];
        assert!(ones(bits) > 1000 && ones(bits) < bits.len() - 1000, "{id}");
        assert_eq!(
            differing(&ours, id, bits),
            0,
            "{id} vs FlowKit on compensated events (FlowKit {}, ours {})",
            ones(bits),
            ours.count(id).unwrap()
        );
    }
    // The compensation matters on this file: thousands of events change.
    let (fcs_count, raw_count) = (
        ours.count("RatioFCS").unwrap(),
        ours.count("RatioRaw").unwrap(),
    );
    assert!(
        fcs_count.abs_diff(raw_count) > 1000,
        "{fcs_count} vs {raw_count}"
    );
    // FlowKit's gate_sample reads the FCS ratio uncompensated: exactly RatioRaw.
    assert_eq!(differing(&ours, "RatioRaw", &direct["RatioFCS"]), 0);
}
