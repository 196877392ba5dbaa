//! Property tests of the gating engine: polygon membership against an
//! independent point-in-polygon test on random polygons, and Boolean laws.

use nkflow::gating::{BoolOp, Dimension, Gate, GateKind, GatingStrategy, Operand, RangeDimension};
use nkflow::EventMatrix;
use proptest::prelude::*;

/// W. R. Franklin's PNPOLY (even–odd, abscissa by division): an independent
/// formulation, valid for points that are not on an edge.
fn pnpoly(v: &[(f64, f64)], x: f64, y: f64) -> bool {
    let mut inside = false;
    let mut j = v.len() - 1;
    for i in 0..v.len() {
        let (xi, yi) = v[i];
        let (xj, yj) = v[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

fn events(xs: Vec<f64>, ys: Vec<f64>) -> EventMatrix {
    EventMatrix::from_columns(vec!["X".into(), "Y".into()], vec![xs, ys]).unwrap()
}

fn polygon_strategy(vertices: Vec<(f64, f64)>) -> GatingStrategy {
    let mut s = GatingStrategy::new();
    s.add_gate(Gate::new(
        "P",
        GateKind::Polygon {
            dimensions: vec![Dimension::channel("X"), Dimension::channel("Y")],
            vertices,
        },
    ))
    .unwrap();
    s
}

fn rect(id: &str, ch: &str, min: f64, max: f64) -> Gate {
    Gate::new(
        id,
        GateKind::Rectangle {
            dimensions: vec![RangeDimension {
                dimension: Dimension::channel(ch),
                min: Some(min),
                max: Some(max),
            }],
        },
    )
}

fn boolean(id: &str, op: BoolOp, operands: &[(&str, bool)]) -> Gate {
    Gate::new(
        id,
        GateKind::Boolean {
            op,
            operands: operands
                .iter()
                .map(|(g, c)| Operand {
                    gate: g.to_string(),
                    complement: *c,
                })
                .collect(),
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Random (often self-intersecting) integer polygons; random real points
    /// agree with PNPOLY, and points placed exactly on an edge are inside.
    #[test]
    fn polygon_matches_independent_even_odd(
        vertices in prop::collection::vec((-50i32..50, -50i32..50), 3..9),
        points in prop::collection::vec((-60.0f64..60.0, -60.0f64..60.0), 1..200),
        on_edge in prop::collection::vec((0usize..64, 0u32..=16), 1..20),
    ) {
        let v: Vec<(f64, f64)> = vertices.iter().map(|&(x, y)| (x as f64, y as f64)).collect();
        let n = v.len();
        let mut xs: Vec<f64> = points.iter().map(|p| p.0).collect();
        let mut ys: Vec<f64> = points.iter().map(|p| p.1).collect();
        // Points on edges: a + t·(b − a) with t = k/16, exact in binary.
        for &(e, k) in &on_edge {
            let (a, b) = (v[e % n], v[(e + 1) % n]);
            let t = k as f64 / 16.0;
            xs.push(a.0 + t * (b.0 - a.0));
            ys.push(a.1 + t * (b.1 - a.1));
        }
        let r = polygon_strategy(v.clone()).gate_events(&events(xs.clone(), ys.clone()), None).unwrap();
        let m = r.membership("P").unwrap();
        for (i, (&x, &y)) in xs.iter().zip(&ys).enumerate() {
            if i < points.len() {
                prop_assert_eq!(m.get(i), pnpoly(&v, x, y), "point ({}, {})", x, y);
            } else {
                prop_assert!(m.get(i), "edge point ({}, {}) must be inside", x, y);
            }
        }
    }

    /// and/or/not with complements obey commutativity, De Morgan, double
    /// negation, excluded middle; a Boolean gate's own parent applies on top
    /// and operands are their gates' full populations.
    #[test]
    fn boolean_laws(
        data in prop::collection::vec((0.0f64..10.0, 0.0f64..10.0), 1..300),
        a in (0.0f64..10.0, 0.0f64..10.0),
        b in (0.0f64..10.0, 0.0f64..10.0),
        p in (0.0f64..10.0, 0.0f64..10.0),
    ) {
        let span = |(lo, hi): (f64, f64)| (lo.min(hi), lo.max(hi));
        let (a, b, p) = (span(a), span(b), span(p));
        let mut s = GatingStrategy::new();
        s.add_gate(rect("P", "Y", p.0, p.1)).unwrap();
        s.add_gate(rect("A", "X", a.0, a.1)).unwrap();
        s.add_gate(rect("B", "Y", b.0, b.1).with_parent("P")).unwrap();
        s.add_gate(boolean("AandB", BoolOp::And, &[("A", false), ("B", false)])).unwrap();
        s.add_gate(boolean("BandA", BoolOp::And, &[("B", false), ("A", false)])).unwrap();
        s.add_gate(boolean("NotAandB", BoolOp::Not, &[("AandB", false)])).unwrap();
        s.add_gate(boolean("nAornB", BoolOp::Or, &[("A", true), ("B", true)])).unwrap();
        s.add_gate(boolean("NotNotA", BoolOp::Not, &[("NotA", false)])).unwrap();
        s.add_gate(boolean("NotA", BoolOp::Not, &[("A", false)])).unwrap();
        s.add_gate(boolean("AorNotA", BoolOp::Or, &[("A", false), ("A", true)])).unwrap();
        s.add_gate(boolean("AandNotA", BoolOp::And, &[("A", false), ("NotA", false)])).unwrap();
        s.add_gate(boolean("AorB_inP", BoolOp::Or, &[("A", false), ("B", false)]).with_parent("P")).unwrap();
        let (xs, ys): (Vec<f64>, Vec<f64>) = data.iter().copied().unzip();
        let n = xs.len();
        let r = s.gate_events(&events(xs.clone(), ys.clone()), None).unwrap();
        let m = |id: &str| r.membership(id).unwrap().clone();
        prop_assert_eq!(m("AandB"), m("BandA"));
        prop_assert_eq!(m("NotAandB"), m("nAornB"));
        prop_assert_eq!(m("NotNotA"), m("A"));
        prop_assert_eq!(r.count("AorNotA"), Some(n));
        prop_assert_eq!(r.count("AandNotA"), Some(0));
        for i in 0..n {
            let (x, y) = (xs[i], ys[i]);
            let in_p = y >= p.0 && y < p.1;
            let in_a = x >= a.0 && x < a.1;
            let in_b = y >= b.0 && y < b.1 && in_p; // B's full population
            prop_assert_eq!(m("AandB").get(i), in_a && in_b);
            prop_assert_eq!(m("AorB_inP").get(i), (in_a || in_b) && in_p);
        }
        prop_assert_eq!(r.pct_parent("AorB_inP").unwrap(),
            if r.count("P").unwrap() == 0 { 0.0 } else { 100.0 * r.count("AorB_inP").unwrap() as f64 / r.count("P").unwrap() as f64 });
    }
}

#[test]
fn tree_order_counts_and_percentages() {
    let mut s = GatingStrategy::new();
    // Added child before parent: order of addition does not matter.
    s.add_gate(rect("Small", "X", 0.0, 2.0).with_parent("Cells"))
        .unwrap();
    s.add_gate(rect("Cells", "X", 0.0, 5.0)).unwrap();
    s.add_gate(rect("Tall", "Y", 5.0, 10.0).with_parent("Small"))
        .unwrap();
    s.add_gate(rect("Other", "Y", 0.0, 1.0)).unwrap();
    let xs = vec![0.0, 1.0, 1.5, 3.0, 4.9, 5.0, 7.0, 9.0];
    let ys = vec![0.5, 6.0, 9.9, 6.0, 0.0, 0.5, 8.0, 10.0];
    let r = s.gate_events(&events(xs, ys), None).unwrap();
    assert_eq!(r.ids(), vec!["Cells", "Small", "Tall", "Other"]);
    assert_eq!(r.count("Cells"), Some(5));
    assert_eq!(r.count("Small"), Some(3));
    assert_eq!(r.count("Tall"), Some(2));
    assert_eq!(r.count("Other"), Some(3));
    assert_eq!(r.pct_parent("Tall"), Some(100.0 * 2.0 / 3.0));
    assert_eq!(r.pct_total("Tall"), Some(25.0));
    assert_eq!(r.pct_parent("Cells"), Some(62.5));
    assert_eq!(r.get("Tall").unwrap().depth, 2);
    assert_eq!(s.parent_of("Tall"), Some("Small"));
    assert_eq!(s.children(Some("Cells")), vec!["Small"]);
    assert_eq!(
        r.membership("Tall")
            .unwrap()
            .iter_ones()
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let n: usize = 300_000;
    let xs: Vec<f64> = (0..n)
        .map(|i| ((i * 7919) % 10_007) as f64 / 1000.0)
        .collect();
    let ys: Vec<f64> = (0..n)
        .map(|i| ((i * 104_729) % 10_009) as f64 / 1000.0)
        .collect();
    let ev = events(xs, ys);
    let mut s = polygon_strategy(vec![
        (1.0, 1.0),
        (9.0, 2.0),
        (5.0, 9.0),
        (2.0, 6.0),
        (5.0, 5.0),
        (1.5, 3.0),
    ]);
    s.add_gate(rect("R", "X", 2.0, 7.0).with_parent("P"))
        .unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let four = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let a = one.install(|| s.gate_events(&ev, None).unwrap());
    let b = four.install(|| s.gate_events(&ev, None).unwrap());
    assert_eq!(a, b);
    assert!(a.count("R").unwrap() > 0);
}
