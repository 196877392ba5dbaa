//! Gate definitions: what a gate tests, independent of any data.
//!
//! The shapes follow Gating-ML 2.0 (and FlowKit's `gates` module): every
//! geometric gate has [`Dimension`]s, and each dimension says which values it
//! reads — a channel (or a ratio of two channels), through which compensation,
//! through which transform. All coordinates (limits, vertices, means,
//! covariances, divider values) are in that final compensated and transformed
//! space.

use super::GatingError;

/// Which compensation a dimension's values go through (Gating-ML
/// `compensation-ref`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CompensationRef {
    /// `uncompensated`: the FCS-scale values as they are.
    Uncompensated,
    /// `FCS`: the file's own spillover keyword; a file without one is used
    /// uncompensated (FlowKit does the same and the ISAC data require it).
    Fcs,
    /// The id of a spectrum matrix held by the gating strategy; its outputs
    /// are named by fluorochrome.
    Matrix(String),
}

impl CompensationRef {
    /// Parses a Gating-ML `compensation-ref` value.
    pub fn parse(s: &str) -> Self {
        match s {
            "uncompensated" => CompensationRef::Uncompensated,
            "FCS" => CompensationRef::Fcs,
            other => CompensationRef::Matrix(other.to_string()),
        }
    }

    /// The Gating-ML `compensation-ref` value.
    pub fn as_str(&self) -> &str {
        match self {
            CompensationRef::Uncompensated => "uncompensated",
            CompensationRef::Fcs => "FCS",
            CompensationRef::Matrix(id) => id,
        }
    }
}

/// Where a dimension's values come from before compensation and transform.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DimensionSource {
    /// A channel by `$PnN` name (or, for a spectrum matrix, a fluorochrome name).
    Channel(String),
    /// A Gating-ML `new-dimension`: the id of an `fratio` transform of two channels.
    Ratio(String),
}

/// One axis of a gate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dimension {
    /// Channel or ratio.
    pub source: DimensionSource,
    /// Compensation applied to the channel (to both inputs of a ratio).
    pub compensation: CompensationRef,
    /// Id of a transform applied last (after the ratio, for a ratio).
    pub transform: Option<String>,
}

impl Dimension {
    /// An uncompensated, untransformed channel.
    pub fn channel(name: impl Into<String>) -> Self {
        Dimension {
            source: DimensionSource::Channel(name.into()),
            compensation: CompensationRef::Uncompensated,
            transform: None,
        }
    }

    /// Sets the compensation reference.
    pub fn compensated(mut self, compensation: CompensationRef) -> Self {
        self.compensation = compensation;
        self
    }

    /// Sets the transform reference.
    pub fn transformed(mut self, transform: impl Into<String>) -> Self {
        self.transform = Some(transform.into());
        self
    }

    /// The channel name, or the ratio transform id.
    pub fn name(&self) -> &str {
        match &self.source {
            DimensionSource::Channel(c) | DimensionSource::Ratio(c) => c,
        }
    }
}

/// A rectangle dimension: `min ≤ x < max`, either side may be open.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeDimension {
    pub dimension: Dimension,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// One quadrant divider: a dimension cut at sorted values into
/// `(−∞, v1), [v1, v2), …, [vk, +∞)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Divider {
    pub id: String,
    pub dimension: Dimension,
    pub values: Vec<f64>,
}

/// One quadrant: for each divider it lists, the interval holding `location`.
/// Dividers it does not list do not constrain it.
#[derive(Debug, Clone, PartialEq)]
pub struct Quadrant {
    /// The population id.
    pub id: String,
    /// `(divider id, location)` pairs.
    pub positions: Vec<(String, f64)>,
}

/// Boolean operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolOp {
    And,
    Or,
    Not,
}

impl BoolOp {
    /// The Gating-ML element name.
    pub fn as_str(self) -> &'static str {
        match self {
            BoolOp::And => "and",
            BoolOp::Or => "or",
            BoolOp::Not => "not",
        }
    }
}

/// A Boolean gate operand: another population's full membership, optionally
/// complemented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operand {
    pub gate: String,
    pub complement: bool,
}

/// What a gate tests.
#[derive(Debug, Clone, PartialEq)]
pub enum GateKind {
    /// Range (1-D), rectangle, box, hyper-rectangle.
    Rectangle { dimensions: Vec<RangeDimension> },
    /// Closed polygon in 2 dimensions; even–odd rule, points on an edge inside.
    Polygon {
        dimensions: Vec<Dimension>,
        vertices: Vec<(f64, f64)>,
    },
    /// `(x − μ)ᵀ Σ⁻¹ (x − μ) ≤ distance_square`, Σ used exactly as written.
    Ellipsoid {
        dimensions: Vec<Dimension>,
        mean: Vec<f64>,
        covariance: Vec<Vec<f64>>,
        distance_square: f64,
    },
    /// A set of quadrants; each quadrant id is a population, the gate id is not.
    Quadrant {
        dividers: Vec<Divider>,
        quadrants: Vec<Quadrant>,
    },
    /// And/or/not of other populations.
    Boolean { op: BoolOp, operands: Vec<Operand> },
}

/// A gate: an id, an optional parent population and a test.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub id: String,
    /// Parent population id (a gate id or a quadrant id).
    pub parent: Option<String>,
    pub kind: GateKind,
}

impl Gate {
    /// A gate without a parent.
    pub fn new(id: impl Into<String>, kind: GateKind) -> Self {
        Gate {
            id: id.into(),
            parent: None,
            kind,
        }
    }

    /// Sets the parent population.
    pub fn with_parent(mut self, parent: impl Into<String>) -> Self {
        self.parent = Some(parent.into());
        self
    }

    /// Gating-ML element name of the gate type.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            GateKind::Rectangle { .. } => "RectangleGate",
            GateKind::Polygon { .. } => "PolygonGate",
            GateKind::Ellipsoid { .. } => "EllipsoidGate",
            GateKind::Quadrant { .. } => "QuadrantGate",
            GateKind::Boolean { .. } => "BooleanGate",
        }
    }

    /// The population ids this gate defines: its own id, or one per quadrant.
    pub fn population_ids(&self) -> Vec<&str> {
        match &self.kind {
            GateKind::Quadrant { quadrants, .. } => {
                quadrants.iter().map(|q| q.id.as_str()).collect()
            }
            _ => vec![self.id.as_str()],
        }
    }

    /// Every dimension the gate reads (quadrant dividers included).
    pub fn dimensions(&self) -> Vec<&Dimension> {
        match &self.kind {
            GateKind::Rectangle { dimensions } => dimensions.iter().map(|d| &d.dimension).collect(),
            GateKind::Polygon { dimensions, .. } | GateKind::Ellipsoid { dimensions, .. } => {
                dimensions.iter().collect()
            }
            GateKind::Quadrant { dividers, .. } => dividers.iter().map(|d| &d.dimension).collect(),
            GateKind::Boolean { .. } => Vec::new(),
        }
    }

    /// Checks the gate's own shape (numbers of dimensions, vertices, matrix
    /// sizes, operand counts, quadrant references), naming the gate on error.
    pub fn validate(&self) -> Result<(), GatingError> {
        let bad = |reason: String| GatingError::InvalidGate {
            gate: self.id.clone(),
            reason,
        };
        let finite = |what: &str, v: f64| {
            if v.is_nan() {
                Err(bad(format!("{what} is NaN")))
            } else {
                Ok(())
            }
        };
        if self.id.trim().is_empty() {
            return Err(bad("the gate id is empty".into()));
        }
        for d in self.dimensions() {
            if d.name().trim().is_empty() {
                return Err(bad("a dimension has an empty channel name".into()));
            }
        }
        match &self.kind {
            GateKind::Rectangle { dimensions } => {
                if dimensions.is_empty() {
                    return Err(bad("a rectangle gate needs at least one dimension".into()));
                }
                for r in dimensions {
                    let ch = r.dimension.name();
                    if let Some(v) = r.min {
                        finite(&format!("min of {ch}"), v)?;
                    }
                    if let Some(v) = r.max {
                        finite(&format!("max of {ch}"), v)?;
                    }
                    if r.min.is_none() && r.max.is_none() {
                        return Err(bad(format!("dimension {ch} has neither min nor max")));
                    }
                }
            }
            GateKind::Polygon {
                dimensions,
                vertices,
            } => {
                if dimensions.len() != 2 {
                    return Err(bad(format!(
                        "a polygon gate needs exactly 2 dimensions, found {}",
                        dimensions.len()
                    )));
                }
                if vertices.len() < 3 {
                    return Err(bad(format!(
                        "a polygon needs at least 3 vertices, found {}",
                        vertices.len()
                    )));
                }
                for (k, (x, y)) in vertices.iter().enumerate() {
                    if !x.is_finite() || !y.is_finite() {
                        return Err(bad(format!("vertex {} is ({x}, {y}), not finite", k + 1)));
                    }
                }
            }
            GateKind::Ellipsoid {
                dimensions,
                mean,
                covariance,
                distance_square,
            } => {
                let n = dimensions.len();
                if n < 2 {
                    return Err(bad(format!(
                        "an ellipsoid gate needs at least 2 dimensions, found {n}"
                    )));
                }
                if mean.len() != n {
                    return Err(bad(format!(
                        "the mean has {} coordinates for {n} dimensions",
                        mean.len()
                    )));
                }
                if covariance.len() != n || covariance.iter().any(|r| r.len() != n) {
                    return Err(bad(format!(
                        "the covariance matrix must be {n}×{n} for {n} dimensions"
                    )));
                }
                if mean
                    .iter()
                    .chain(covariance.iter().flatten())
                    .any(|v| !v.is_finite())
                {
                    return Err(bad("the mean or covariance holds a non-finite value".into()));
                }
                if !(distance_square.is_finite() && *distance_square >= 0.0) {
                    return Err(bad(format!(
                        "distanceSquare must be a finite number ≥ 0, found {distance_square}"
                    )));
                }
            }
            GateKind::Quadrant {
                dividers,
                quadrants,
            } => {
                if dividers.is_empty() || quadrants.is_empty() {
                    return Err(bad("a quadrant gate needs dividers and quadrants".into()));
                }
                for d in dividers {
                    if d.values.is_empty() {
                        return Err(bad(format!("divider {} has no value", d.id)));
                    }
                    if d.values.iter().any(|v| v.is_nan()) {
                        return Err(bad(format!("divider {} has a NaN value", d.id)));
                    }
                }
                for q in quadrants {
                    if q.positions.is_empty() {
                        return Err(bad(format!("quadrant {} has no position", q.id)));
                    }
                    for (div, loc) in &q.positions {
                        if !dividers.iter().any(|d| &d.id == div) {
                            return Err(bad(format!(
                                "quadrant {} refers to divider {div}, which the gate does not define",
                                q.id
                            )));
                        }
                        finite(&format!("location of quadrant {}", q.id), *loc)?;
                    }
                }
            }
            GateKind::Boolean { op, operands } => {
                let ok = match op {
                    BoolOp::Not => operands.len() == 1,
                    BoolOp::And | BoolOp::Or => !operands.is_empty(),
                };
                if !ok {
                    return Err(bad(format!(
                        "a Boolean '{}' has {} operands (not: exactly 1; and/or: at least 1)",
                        op.as_str(),
                        operands.len()
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Divider {
    /// The half-open interval `[lo, hi)` of this divider that holds `location`
    /// (a value equal to a cut goes to the upper interval); `None` = unbounded.
    pub fn interval(&self, location: f64) -> (Option<f64>, Option<f64>) {
        let mut sorted = self.values.clone();
        sorted.sort_by(f64::total_cmp);
        let k = sorted.iter().take_while(|&&v| v <= location).count();
        let lo = k.checked_sub(1).and_then(|i| sorted.get(i)).copied();
        let hi = sorted.get(k).copied();
        (lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divider_intervals_are_half_open_upward() {
        let d = Divider {
            id: "FSC".into(),
            dimension: Dimension::channel("FSC-H"),
            values: vec![70.0, 28.0],
        };
        assert_eq!(d.interval(10.0), (None, Some(28.0)));
        assert_eq!(d.interval(28.0), (Some(28.0), Some(70.0)));
        assert_eq!(d.interval(30.0), (Some(28.0), Some(70.0)));
        assert_eq!(d.interval(80.0), (Some(70.0), None));
    }

    #[test]
    fn validation_names_the_gate() {
        let g = Gate::new(
            "P",
            GateKind::Polygon {
                dimensions: vec![Dimension::channel("A"), Dimension::channel("B")],
                vertices: vec![(0.0, 0.0), (1.0, 1.0)],
            },
        );
        let e = g.validate().unwrap_err().to_string();
        assert!(e.contains("P") && e.contains("3 vertices"), "{e}");
    }
}
