//! Gate outlines as polylines on the plotted (transformed) coordinates.
//!
//! A gate given in data units is mapped point by point through each axis's
//! scale. Straight edges in data space are not straight on a logicle axis, so
//! polygon edges and the ellipse are sampled densely *before* mapping; a
//! rectangle's edges are axis-parallel and stay straight under any per-axis
//! monotone map, so its corners suffice.

use crate::report::axis::AxisScale;
use crate::report::model::{CoordSpace, Corner, GateShape, Interval};

/// Points per polygon edge. 48 keeps the curve of an edge that crosses the
/// linear-to-log bend of a logicle axis smooth at 256 px.
const EDGE_STEPS: usize = 48;
/// Points around an ellipse.
const ELLIPSE_STEPS: usize = 240;

/// The visible plotted range of each axis, used to stand in for open bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View {
    pub x: (f64, f64),
    pub y: (f64, f64),
}

/// Maps one coordinate of a gate to the plotted axis. A finite data value
/// that the scale cannot map (log of ≤ 0) lies below the visible range.
fn map(scale: &AxisScale, space: CoordSpace, v: f64, below: f64) -> f64 {
    match space {
        CoordSpace::Plotted => v,
        CoordSpace::Data => {
            let m = scale.forward(v);
            if m.is_nan() && v.is_finite() {
                below
            } else {
                m
            }
        }
    }
}

/// Plotted-coordinate polylines outlining a gate (empty for Boolean gates;
/// a 1-D range yields vertical lines at its finite bounds). `y` is `None`
/// for histograms, whose vertical extent is the view's.
pub(crate) fn outline(
    shape: &GateShape,
    space: CoordSpace,
    x: &AxisScale,
    y: Option<&AxisScale>,
    view: View,
) -> Result<Vec<Vec<(f64, f64)>>, String> {
    let span_x = view.x.1 - view.x.0;
    let span_y = view.y.1 - view.y.0;
    // Stand-ins for open bounds: well outside the view, clipped away later.
    let (xlo, xhi) = (view.x.0 - span_x, view.x.1 + span_x);
    let (ylo, yhi) = (view.y.0 - span_y, view.y.1 + span_y);
    let ys = y.unwrap_or(&AxisScale::Linear);
    let mx = |v: f64| map(x, space, v, xlo);
    let my = |v: f64| map(ys, space, v, ylo);
    let bound = |i: &Interval, m: &dyn Fn(f64) -> f64, lo: f64, hi: f64| {
        (i.min.map_or(lo, m), i.max.map_or(hi, m))
    };
    match shape {
        GateShape::Rectangle { x: ix, y: iy } => {
            let (x0, x1) = bound(ix, &mx, xlo, xhi);
            let (y0, y1) = bound(iy, &my, ylo, yhi);
            Ok(vec![vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]])
        }
        GateShape::Polygon { vertices } => {
            if vertices.len() < 3 {
                return Err(format!(
                    "polygon has {} vertices; at least 3 are needed",
                    vertices.len()
                ));
            }
            let steps = if space == CoordSpace::Data {
                EDGE_STEPS
            } else {
                1
            };
            let mut pts = Vec::with_capacity(vertices.len() * steps + 1);
            for (k, &a) in vertices.iter().enumerate() {
                let b = vertices[(k + 1) % vertices.len()];
                for s in 0..steps {
                    let f = s as f64 / steps as f64;
                    pts.push((mx(a.0 + f * (b.0 - a.0)), my(a.1 + f * (b.1 - a.1))));
                }
            }
            if let Some(&first) = pts.first() {
                pts.push(first);
            }
            Ok(vec![pts])
        }
        GateShape::Ellipse {
            mean,
            covariance,
            distance_square,
        } => {
            // Boundary: μ + D·L·(cos θ, sin θ) with Σ = L Lᵀ (Cholesky).
            let [[a, b], [c, d]] = *covariance;
            let b = 0.5 * (b + c);
            if !(a > 0.0 && a * d - b * b > 0.0 && *distance_square > 0.0) {
                return Err(format!(
                    "ellipse covariance [[{a}, {b}], [{c}, {d}]] with D² = {distance_square} \
                     is not positive definite"
                ));
            }
            let l11 = a.sqrt();
            let l21 = b / l11;
            let l22 = (d - l21 * l21).sqrt();
            let r = distance_square.sqrt();
            let pts = (0..=ELLIPSE_STEPS)
                .map(|k| {
                    let th = std::f64::consts::TAU * k as f64 / ELLIPSE_STEPS as f64;
                    let (u, v) = (r * th.cos(), r * th.sin());
                    (mx(mean.0 + l11 * u), my(mean.1 + l21 * u + l22 * v))
                })
                .collect();
            Ok(vec![pts])
        }
        GateShape::Quadrant { x: qx, y: qy, .. } => {
            let (px, py) = (mx(*qx), my(*qy));
            Ok(vec![vec![(px, ylo), (px, yhi)], vec![(xlo, py), (xhi, py)]])
        }
        GateShape::Range(iv) => Ok([iv.min, iv.max]
            .into_iter()
            .flatten()
            .map(|v| {
                let p = mx(v);
                vec![(p, ylo), (p, yhi)]
            })
            .collect()),
        GateShape::Boolean { .. } => Ok(Vec::new()),
    }
}

/// Where a quadrant's label goes: the corner of the view it names.
pub(crate) fn quadrant_anchor(corner: Corner, view: View) -> (f64, f64, bool, bool) {
    // (x, y, right-aligned, top-aligned)
    match corner {
        Corner::UpperRight => (view.x.1, view.y.1, true, true),
        Corner::UpperLeft => (view.x.0, view.y.1, false, true),
        Corner::LowerLeft => (view.x.0, view.y.0, false, false),
        Corner::LowerRight => (view.x.1, view.y.0, true, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> View {
        View {
            x: (0.0, 5.0),
            y: (0.0, 5.0),
        }
    }

    #[test]
    fn polygon_edges_curve_through_a_log_axis() {
        // Edge from (10, 10) to (100000, 10) in data units on log axes: its
        // midpoint in data space (50005) maps to log10(50005), not 2.5.
        let shape = GateShape::Polygon {
            vertices: vec![(10.0, 10.0), (100_000.0, 10.0), (100_000.0, 100_000.0)],
        };
        let l = outline(
            &shape,
            CoordSpace::Data,
            &AxisScale::Log10,
            Some(&AxisScale::Log10),
            view(),
        )
        .unwrap();
        let pts = &l[0];
        assert_eq!(pts.len(), 3 * EDGE_STEPS + 1);
        let mid = pts[EDGE_STEPS / 2];
        assert!((mid.0 - 50_005f64.log10()).abs() < 1e-9, "{mid:?}");
        assert_eq!(pts.first(), pts.last());
    }

    #[test]
    fn ellipse_points_satisfy_the_mahalanobis_boundary() {
        let cov = [[4.0, 1.5], [1.5, 2.0]];
        let shape = GateShape::Ellipse {
            mean: (1.0, 2.0),
            covariance: cov,
            distance_square: 3.0,
        };
        let l = outline(
            &shape,
            CoordSpace::Plotted,
            &AxisScale::Linear,
            Some(&AxisScale::Linear),
            view(),
        )
        .unwrap();
        let det = cov[0][0] * cov[1][1] - cov[0][1] * cov[1][0];
        for &(x, y) in &l[0] {
            let (dx, dy) = (x - 1.0, y - 2.0);
            let m = (cov[1][1] * dx * dx - 2.0 * cov[0][1] * dx * dy + cov[0][0] * dy * dy) / det;
            assert!((m - 3.0).abs() < 1e-9, "{m}");
        }
        let bad = GateShape::Ellipse {
            mean: (0.0, 0.0),
            covariance: [[1.0, 2.0], [2.0, 1.0]],
            distance_square: 1.0,
        };
        assert!(outline(&bad, CoordSpace::Plotted, &AxisScale::Linear, None, view()).is_err());
    }

    #[test]
    fn open_rectangle_bounds_reach_past_the_view() {
        let shape = GateShape::Rectangle {
            x: Interval {
                min: Some(100.0),
                max: None,
            },
            y: Interval {
                min: None,
                max: Some(1000.0),
            },
        };
        let l = outline(
            &shape,
            CoordSpace::Data,
            &AxisScale::Log10,
            Some(&AxisScale::Log10),
            view(),
        )
        .unwrap();
        let xs: Vec<f64> = l[0].iter().map(|p| p.0).collect();
        assert!(xs.contains(&2.0) && xs.iter().any(|&x| x > 5.0));
        let ys: Vec<f64> = l[0].iter().map(|p| p.1).collect();
        assert!(ys.iter().any(|&y| (y - 3.0).abs() < 1e-12) && ys.iter().any(|&y| y < 0.0));
    }
}
