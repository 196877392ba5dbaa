//! Resolved gates: what a data-driven gate becomes once its thresholds are
//! found for one file — an ordinary fixed Gating-ML 2.0 gate in FCS-scale data
//! units (compensated or not, per dimension), with no transformation.
//!
//! Why data units and no transform: the pipeline finds thresholds on a
//! transformed axis (where populations are bell-shaped), but writes the
//! threshold back in the units the file's events have after scaling and
//! compensation. A re-application then needs only the FCS scaling and the
//! file's `$SPILLOVER`, which every Gating-ML implementation shares; no
//! logicle parameter round trip can move an event across a boundary.
//!
//! Membership follows `shared/gatingml/SEMANTICS.md` §4 exactly: rectangles
//! are `min ≤ x < max`, polygons are even–odd with points on an edge inside,
//! NaN is outside everything.

use serde::Serialize;

/// One gate dimension: a channel (`$PnN`) read compensated or uncompensated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dim {
    /// `$PnN` of the channel.
    pub channel: String,
    /// True: values after the file's spillover compensation
    /// (`compensation-ref="FCS"`); false: `uncompensated`.
    pub compensated: bool,
}

/// One side-bounded interval of a rectangle dimension.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interval {
    pub dim: Dim,
    /// Inclusive lower bound; `None` = open.
    pub min: Option<f64>,
    /// Exclusive upper bound; `None` = open.
    pub max: Option<f64>,
}

/// A fixed gate in data units: the shapes Gating-ML 2.0 has, as far as the
/// pipeline needs them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResolvedGate {
    /// A (hyper-)rectangle: inside when inside every interval.
    Rectangle { intervals: Vec<Interval> },
    /// A polygon on two dimensions (closed, even–odd, edges inside).
    Polygon {
        x: Dim,
        y: Dim,
        vertices: Vec<(f64, f64)>,
    },
    /// Boolean OR of rectangles (e.g. the good time intervals of a flow-rate
    /// filter). Written as a Gating-ML `or` of rectangle gates.
    AnyOf { parts: Vec<ResolvedGate> },
    /// Boolean NOT of a sibling population's own gate (e.g. CD56dim = NK
    /// and not CD56bright). Written as a Gating-ML `not` gate.
    Not { of: String },
    /// A gate imported from a Gating-ML file, its channels mapped to this
    /// file's panel; evaluated by the gating engine with its own
    /// compensation and transforms.
    Gatingml(Box<super::imported::ImportedGate>),
}

/// Where a gate's dimensions read their values.
pub trait GateData {
    /// The values of a channel, compensated or not; `None` if unknown.
    fn values(&self, dim: &Dim) -> Option<&[f64]>;
    /// The FCS-scale uncompensated events and the file's spillover matrix,
    /// for gates the gating engine evaluates ([`ResolvedGate::Gatingml`]).
    fn engine_inputs(&self) -> Option<(&crate::EventMatrix, Option<&crate::compensation::Matrix>)> {
        None
    }
}

impl ResolvedGate {
    /// Every dimension this gate reads.
    pub fn dims(&self) -> Vec<&Dim> {
        match self {
            ResolvedGate::Rectangle { intervals } => intervals.iter().map(|i| &i.dim).collect(),
            ResolvedGate::Polygon { x, y, .. } => vec![x, y],
            ResolvedGate::AnyOf { parts } => parts.iter().flat_map(|p| p.dims()).collect(),
            // Engine dimensions (compensation, transform), not data columns.
            ResolvedGate::Not { .. } | ResolvedGate::Gatingml(_) => Vec::new(),
        }
    }
}

/// True when `x` lies in `[min, max)` (open sides unbounded; NaN outside).
#[inline]
pub fn in_interval(x: f64, min: Option<f64>, max: Option<f64>) -> bool {
    !x.is_nan() && min.map_or(true, |m| x >= m) && max.map_or(true, |m| x < m)
}

/// Point-in-polygon by the even–odd rule, points on an edge inside
/// (SEMANTICS.md §4: exact on-segment test first, then half-open crossings).
pub fn in_polygon(px: f64, py: f64, vertices: &[(f64, f64)]) -> bool {
    if px.is_nan() || py.is_nan() || vertices.len() < 3 {
        return false;
    }
    let n = vertices.len();
    let mut inside = false;
    for k in 0..n {
        let (ax, ay) = vertices[k];
        let (bx, by) = vertices[(k + 1) % n];
        let cross = (bx - ax) * (py - ay) - (px - ax) * (by - ay);
        if cross == 0.0
            && px >= ax.min(bx)
            && px <= ax.max(bx)
            && py >= ay.min(by)
            && py <= ay.max(by)
        {
            return true;
        }
        if (ay > py) != (by > py) {
            let xi = ax + (py - ay) * (bx - ax) / (by - ay);
            if px < xi {
                inside = !inside;
            }
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangle_is_half_open() {
        assert!(in_interval(1.0, Some(1.0), Some(2.0)));
        assert!(!in_interval(2.0, Some(1.0), Some(2.0)));
        assert!(in_interval(-1e300, None, Some(2.0)));
        assert!(!in_interval(f64::NAN, None, None));
    }

    #[test]
    fn polygon_edges_inside_and_even_odd() {
        let sq = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)];
        assert!(in_polygon(5.0, 5.0, &sq));
        assert!(in_polygon(10.0, 5.0, &sq), "right edge is inside");
        assert!(in_polygon(0.0, 0.0, &sq), "vertex is inside");
        assert!(!in_polygon(10.5, 5.0, &sq));
        // A wedge from the origin: the singlet gate's shape.
        let wedge = [(0.0, 0.0), (100.0, 90.0), (100.0, 130.0)];
        assert!(in_polygon(50.0, 55.0, &wedge));
        assert!(
            in_polygon(50.0, 45.0, &wedge),
            "ratio exactly 0.9 is on the edge"
        );
        assert!(!in_polygon(50.0, 66.0, &wedge));
    }
}
