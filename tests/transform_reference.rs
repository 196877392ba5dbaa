//! Every transform against reference values from flowutils / FlowKit
//! (tests/fixtures/transforms/reference.json, written by
//! tests/gen_transform_fixtures.py): |ours − ref| ≤ 1e-10·max(1, |ref|), for
//! the forward map (scalar and slice paths), the inverse, and the round trip.

use nkflow::transform::Transform;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    kind: String,
    params: serde_json::Map<String, serde_json::Value>,
    source: String,
    x: Vec<f64>,
    y: Vec<f64>,
    #[serde(default)]
    inverse_y: Vec<f64>,
    #[serde(default)]
    inverse_x: Vec<f64>,
}

const TOL: f64 = 1e-10;

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/transforms/reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn transform(c: &Case) -> Transform {
    let mut obj = c.params.clone();
    obj.insert("kind".into(), c.kind.clone().into());
    serde_json::from_value(serde_json::Value::Object(obj))
        .unwrap_or_else(|e| panic!("{} {:?}: {e}", c.kind, c.params))
}

fn close(ours: f64, reference: f64) -> bool {
    (ours - reference).abs() <= TOL * reference.abs().max(1.0)
}

#[test]
fn forward_matches_reference() {
    let fx = fixture();
    let mut checked = 0;
    for c in &fx.cases {
        let t = transform(c);
        let mut slice = c.x.clone();
        t.apply_slice(&mut slice);
        for ((&x, &r), &s) in c.x.iter().zip(&c.y).zip(&slice) {
            let ours = t.apply(x);
            assert!(
                close(ours, r),
                "{} {:?} ({}): x = {x:e}: ours {ours:e}, ref {r:e}",
                c.kind,
                c.params,
                c.source
            );
            assert_eq!(
                ours.to_bits(),
                s.to_bits(),
                "{} slice path differs at x = {x:e}",
                c.kind
            );
            checked += 1;
        }
    }
    assert!(checked > 5000, "only {checked} values checked");
}

#[test]
fn inverse_matches_reference() {
    let fx = fixture();
    for c in &fx.cases {
        let t = transform(c);
        assert_eq!(c.inverse_x.len(), c.inverse_y.len());
        assert!(!c.inverse_y.is_empty(), "{}: no inverse values", c.kind);
        let mut slice = c.inverse_y.clone();
        t.inverse_slice(&mut slice);
        for ((&y, &r), &s) in c.inverse_y.iter().zip(&c.inverse_x).zip(&slice) {
            let ours = t.inverse(y);
            assert!(
                close(ours, r),
                "{} {:?}: inverse({y}) ours {ours:e}, ref {r:e}",
                c.kind,
                c.params
            );
            assert_eq!(ours.to_bits(), s.to_bits());
        }
    }
}

#[test]
fn inverse_of_forward_is_identity() {
    let fx = fixture();
    for c in &fx.cases {
        let t = transform(c);
        if let Transform::Biex(b) = &t {
            // Table-based: invertible only inside the table's data range.
            let (lo, hi) = (b.table()[0], b.table()[4096]);
            for &x in c.x.iter().filter(|&&x| x >= lo && x <= hi) {
                let back = t.inverse(t.apply(x));
                assert!(
                    (back - x).abs() <= 1e-8 * x.abs().max(1.0),
                    "biex x = {x:e}: back {back:e}"
                );
            }
            continue;
        }
        for &x in &c.x {
            let back = t.inverse(t.apply(x));
            assert!(
                close(back, x),
                "{} {:?}: x = {x:e}, back {back:e}",
                c.kind,
                c.params
            );
        }
    }
}

#[test]
fn special_values() {
    let fx = fixture();
    for c in &fx.cases {
        let t = transform(c);
        assert!(t.apply(f64::NAN).is_nan(), "{}", c.kind);
        assert!(t.inverse(f64::NAN).is_nan(), "{}", c.kind);
    }
}
