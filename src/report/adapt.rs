//! Bridges from the pipeline's own types to the report's plain inputs, so
//! the runner fills a [`SampleReport`](crate::report::SampleReport) with a
//! few calls instead of re-deriving geometry: resolved gates (data units) →
//! [`GateShape`] on a plot's two channels, the flow-rate filter's bins →
//! [`FlowRateSpec`].

use crate::pipeline::adaptive::FlowRate;
use crate::pipeline::resolved::ResolvedGate;
use crate::report::model::{FlowRateSpec, GateShape, Interval};

/// The outline of a resolved gate on a plot of channels `x` (and `y`, for a
/// bivariate plot), in data units (draw with `CoordSpace::Data`).
///
/// - Rectangle: its intervals on `x`/`y`; a dimension the gate does not
///   bound is open; intervals on other channels are not drawable here and
///   make the result `None` only when neither axis is bounded.
/// - Polygon: its vertices, swapped when the plot's axes are the gate's
///   `y`, `x`; `None` when its channels are not the plot's.
/// - `AnyOf` (the time filter's kept intervals) → `None`: it is shown on the
///   flow-rate plot, not as an outline.
/// - `Not { of }` → a Boolean gate "`parent` AND NOT `of`" (no outline).
pub fn gate_shape(g: &ResolvedGate, parent: &str, x: &str, y: Option<&str>) -> Option<GateShape> {
    match g {
        ResolvedGate::Rectangle { intervals } => {
            let on = |ch: &str| {
                intervals
                    .iter()
                    .find(|i| i.dim.channel == ch)
                    .map(|i| Interval {
                        min: i.min,
                        max: i.max,
                    })
            };
            let ix = on(x);
            match y {
                None => ix.map(GateShape::Range),
                Some(y) => {
                    let iy = on(y);
                    if ix.is_none() && iy.is_none() {
                        return None;
                    }
                    Some(GateShape::Rectangle {
                        x: ix.unwrap_or_default(),
                        y: iy.unwrap_or_default(),
                    })
                }
            }
        }
        ResolvedGate::Polygon {
            x: gx,
            y: gy,
            vertices,
        } => {
            let y = y?;
            if gx.channel == x && gy.channel == y {
                Some(GateShape::Polygon {
                    vertices: vertices.clone(),
                })
            } else if gx.channel == y && gy.channel == x {
                Some(GateShape::Polygon {
                    vertices: vertices.iter().map(|&(a, b)| (b, a)).collect(),
                })
            } else {
                None
            }
        }
        ResolvedGate::AnyOf { .. } | ResolvedGate::Gatingml(_) => None,
        ResolvedGate::Not { of } => Some(GateShape::Boolean {
            expression: format!("{parent} AND NOT {of}"),
        }),
    }
}

impl FlowRateSpec {
    /// From the pipeline's flow-rate filter: events/s per bin, and the
    /// removed bins merged into time intervals.
    pub fn from_flow_rate(f: &FlowRate, pct_removed: Option<f64>) -> Self {
        let mut spec = FlowRateSpec {
            pct_removed,
            ..Default::default()
        };
        let mut open: Option<f64> = None;
        for (k, w) in f.edges.windows(2).enumerate() {
            let (a, b) = (w[0], w[1]);
            let width = b - a;
            let count = f.counts.get(k).copied().unwrap_or(0);
            spec.time_s.push(0.5 * (a + b));
            spec.rate.push(if width > 0.0 {
                count as f64 / width
            } else {
                f64::NAN
            });
            let removed = f.removed.get(k).copied().unwrap_or(false);
            match (removed, open) {
                (true, None) => open = Some(a),
                (false, Some(s)) => {
                    spec.removed.push((s, a));
                    open = None;
                }
                _ => {}
            }
        }
        if let (Some(s), Some(&end)) = (open, f.edges.last()) {
            spec.removed.push((s, end));
        }
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::resolved::{Dim, Interval as RInterval};

    fn dim(c: &str) -> Dim {
        Dim {
            channel: c.into(),
            compensated: true,
        }
    }

    #[test]
    fn rectangles_and_polygons_on_a_plot() {
        let g = ResolvedGate::Rectangle {
            intervals: vec![RInterval {
                dim: dim("CD56"),
                min: Some(2000.0),
                max: None,
            }],
        };
        assert_eq!(
            gate_shape(&g, "Lymph", "CD3", Some("CD56")),
            Some(GateShape::Rectangle {
                x: Interval::default(),
                y: Interval {
                    min: Some(2000.0),
                    max: None
                }
            })
        );
        assert_eq!(gate_shape(&g, "Lymph", "CD3", Some("CD16")), None);
        assert_eq!(
            gate_shape(&g, "Lymph", "CD56", None),
            Some(GateShape::Range(Interval {
                min: Some(2000.0),
                max: None
            }))
        );
        let p = ResolvedGate::Polygon {
            x: dim("FSC-A"),
            y: dim("SSC-A"),
            vertices: vec![(1.0, 2.0), (3.0, 4.0), (5.0, 0.0)],
        };
        assert_eq!(
            gate_shape(&p, "root", "SSC-A", Some("FSC-A")),
            Some(GateShape::Polygon {
                vertices: vec![(2.0, 1.0), (4.0, 3.0), (0.0, 5.0)]
            })
        );
        let n = ResolvedGate::Not {
            of: "CD56bright".into(),
        };
        assert_eq!(
            gate_shape(&n, "NK", "CD56", Some("CD16")),
            Some(GateShape::Boolean {
                expression: "NK AND NOT CD56bright".into()
            })
        );
    }

    #[test]
    fn flow_rate_bins_become_rates_and_intervals() {
        let f = FlowRate {
            keep: vec![],
            edges: vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0],
            counts: vec![1000, 1000, 50, 40, 1000],
            removed: vec![false, false, true, true, false],
        };
        let s = FlowRateSpec::from_flow_rate(&f, Some(3.0));
        assert_eq!(s.rate, [100.0, 100.0, 5.0, 4.0, 100.0]);
        assert_eq!(s.time_s, [5.0, 15.0, 25.0, 35.0, 45.0]);
        assert_eq!(s.removed, [(20.0, 40.0)]);
        let f2 = FlowRate {
            removed: vec![true, false, false, false, true],
            ..f
        };
        let s2 = FlowRateSpec::from_flow_rate(&f2, None);
        assert_eq!(s2.removed, [(0.0, 10.0), (40.0, 50.0)]);
    }
}
