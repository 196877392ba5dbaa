//! The three FlowJo 10 workspaces in `shared/flowjo`: the reader gets the
//! structure MANIFEST.json documents, and (once gated) FlowJo's saved counts.

mod common;

use nkflow::flowjo::{self, GateShape, PopulationGate, WspTransform};
use serde_json::Value;

fn manifest() -> Option<(std::path::PathBuf, Value)> {
    let path = common::require_shared("flowjo/MANIFEST.json")?;
    let text = std::fs::read_to_string(&path).unwrap();
    Some((
        path.parent().unwrap().to_path_buf(),
        serde_json::from_str(&text).unwrap(),
    ))
}

#[test]
fn reads_the_manifest_structure() {
    let Some((dir, m)) = manifest() else { return };
    let wss = m["workspaces"].as_array().unwrap();
    assert_eq!(wss.len(), 3);
    for w in wss {
        let wsp = dir.join(w["wsp"].as_str().unwrap());
        let ws = flowjo::read(&wsp).unwrap();
        assert_eq!(ws.flowjo_version.as_deref(), w["flowjo_version"].as_str());
        assert_eq!(ws.samples.len(), 1, "{}", wsp.display());
        let s = &ws.samples[0];
        assert_eq!(s.name, w["sample_id"].as_str().unwrap());
        assert_eq!(s.count, w["sample_event_count"].as_u64());
        // Transforms: kind and channel as listed.
        let xf = w["sample_transforms"].as_array().unwrap();
        assert_eq!(s.transforms.len(), xf.len());
        for (t, e) in s.transforms.iter().zip(xf) {
            assert_eq!(t.channel, e["channel"].as_str().unwrap());
            let kind = match t.transform {
                WspTransform::Linear { .. } => "linear",
                WspTransform::Fasinh { .. } => "fasinh",
                WspTransform::Biex { .. } => "biex",
                _ => "other",
            };
            assert_eq!(kind, e["kind"].as_str().unwrap());
        }
        // Populations: names, saved counts, rectangle limits exactly.
        let pops = w["populations"].as_array().unwrap();
        assert_eq!(s.populations.len(), pops.len());
        for (p, e) in s.populations.iter().zip(pops) {
            assert_eq!(p.name, e["name"].as_str().unwrap());
            assert_eq!(p.count, e["flowjo_count"].as_u64());
            let PopulationGate::Gate(g) = &p.gate else {
                panic!("{}: not a gate", p.name)
            };
            assert!(g.events_inside);
            let GateShape::Rectangle { dims } = &g.shape else {
                panic!("{}: not a rectangle", p.name)
            };
            let edims = e["dimensions"].as_array().unwrap();
            assert_eq!(dims.len(), edims.len());
            for (d, ed) in dims.iter().zip(edims) {
                assert_eq!(d.channel, ed["channel"].as_str().unwrap());
                assert_eq!(d.min, ed["min"].as_f64());
                assert_eq!(d.max, ed["max"].as_f64());
            }
        }
        // Group templates keep no counts (the asinh template's 50605 is stale).
        for g in &ws.groups {
            for p in &g.template {
                assert_eq!(p.count, None);
            }
        }
    }
}
