//! From one workspace sample's population tree to the gating engine's
//! [`GatingStrategy`], resolving FlowJo's conventions (module docs, items
//! 1–8) into explicit compensation references, transform ids and gate
//! geometry in the engine's units.
//!
//! No gate is evaluated here: the engine does that. What FlowJo needs beyond
//! Gating-ML is expressed with engine features:
//! - `eventsInside="0"` → a hidden gate for the shape, and the population as
//!   a Boolean `not` of it under the same parent (= parent ∧ ¬shape);
//! - the ellipse → a Gating-ML ellipsoid (mean, covariance, distance² = 1) on
//!   the channels' display transforms;
//! - rectangles → data-unit limits on untransformed dimensions.
//!
//! Populations that cannot be evaluated (unsupported gate, channel missing
//! from the file, invalid geometry) are left out with a reason; their
//! descendants and the Booleans using them too. The rest is evaluated.

use std::collections::HashMap;

use crate::compensation::Matrix;
use crate::gating::{
    BoolOp as EngineBoolOp, CompensationRef, Dimension, Gate, GateKind, GatingError,
    GatingStrategy, Operand, RangeDimension, TransformDef,
};
use crate::sample::{Sample, Warning};
use crate::transform::{Biex, Fasinh, Flog, Hyperlog, Linear, Logicle, Transform};

use super::ellipse::Ellipse;
use super::model::*;

/// Id of the strategy's compensation matrix built from the workspace's
/// `spilloverMatrix`.
pub const MATRIX_ID: &str = "flowjo";

/// One population as planned for evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPopulation {
    /// '/'-separated path from the root, e.g. "Lymphocytes/CD3+".
    pub path: String,
    /// Parent path (`None` for a child of the root).
    pub parent: Option<String>,
    /// The count FlowJo saved for it (sample trees only).
    pub flowjo_count: Option<u64>,
    /// `Err(reason)` when it is not evaluated; `Ok(())` when the strategy
    /// defines a population with id `path`.
    pub status: Result<(), String>,
}

/// A workspace sample turned into an engine strategy.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The strategy; population ids are the population paths.
    pub strategy: GatingStrategy,
    /// Every population of the tree, in tree order.
    pub populations: Vec<PlannedPopulation>,
    /// What was approximated or left out, per population.
    pub warnings: Vec<Warning>,
}

/// What a sample's gates need to know about its data: channel names and
/// whether the file has its own spillover matrix.
struct Channels<'a> {
    sample: &'a Sample,
    has_spillover: bool,
}

impl Channels<'_> {
    /// The `$PnN` for a FlowJo channel name: exact, else with FlowJo's
    /// '/'→'_' substitution undone, else by `$PnS`.
    fn resolve(&self, flowjo_name: &str) -> Option<String> {
        let chans = &self.sample.channels;
        chans
            .iter()
            .find(|c| c.name == flowjo_name)
            .or_else(|| {
                chans
                    .iter()
                    .find(|c| c.name.replace('/', "_") == flowjo_name)
            })
            .or_else(|| {
                chans
                    .iter()
                    .find(|c| c.label.as_deref() == Some(flowjo_name))
            })
            .map(|c| c.name.clone())
    }
}

/// How a FlowJo channel name maps to the engine.
struct Resolved {
    /// The engine dimension (channel, compensation; no transform).
    dimension: Dimension,
}

/// Builds the strategy for `populations` (a sample's tree or a group
/// template) using `sample`'s compensation and transforms, against the FCS
/// data's channels.
pub fn plan(ws_sample: &WspSample, populations: &[Population], fcs: &Sample) -> Plan {
    let has_spillover = Matrix::from_sample(fcs).ok().flatten().is_some();
    let mut paths = Vec::new();
    for p in populations {
        p.walk("", &mut |path, _| paths.push(path.to_string()));
    }
    // A Boolean may refer to a population that turns out not to be
    // evaluable only later in tree order; the engine's reference check then
    // names it, and the tree is rebuilt without it (at most once per
    // population), so one bad reference never loses the other counts.
    let mut excluded: HashMap<String, String> = HashMap::new();
    loop {
        let mut b = Builder {
            ws_sample,
            channels: Channels {
                sample: fcs,
                has_spillover,
            },
            strategy: GatingStrategy::new(),
            planned: Vec::new(),
            warnings: Vec::new(),
            transforms: HashMap::new(),
            matrix: None,
            excluded: &excluded,
        };
        b.add_matrix();
        for p in populations {
            b.add(p, None, &paths);
        }
        let offending = match b.strategy.validate() {
            Ok(_) => None,
            Err(e) => {
                let gate = match &e {
                    GatingError::MissingReference { gate, .. }
                    | GatingError::MissingParent { gate, .. }
                    | GatingError::Cycle { gate, .. }
                    | GatingError::UnknownTransform { gate, .. }
                    | GatingError::UnknownMatrix { gate, .. }
                    | GatingError::InvalidGate { gate, .. } => Some(gate.clone()),
                    _ => None,
                };
                let path = gate.map(|g| g.trim_end_matches(INSIDE).to_string());
                match path {
                    Some(p) if !excluded.contains_key(&p) => Some((p, e.to_string())),
                    _ => {
                        b.warnings.push(Warning {
                            message: format!(
                                "sample {:?}: gating strategy is inconsistent: {e}",
                                ws_sample.name
                            ),
                        });
                        None
                    }
                }
            }
        };
        match offending {
            Some((path, reason)) => {
                excluded.insert(path, reason);
            }
            None => {
                return Plan {
                    strategy: b.strategy,
                    populations: b.planned,
                    warnings: b.warnings,
                }
            }
        }
    }
}

/// Suffix of the hidden shape gate of a complemented population.
const INSIDE: &str = "\u{1f}inside";

struct Builder<'a> {
    ws_sample: &'a WspSample,
    channels: Channels<'a>,
    strategy: GatingStrategy,
    planned: Vec<PlannedPopulation>,
    warnings: Vec<Warning>,
    /// Transform ids already added, by FlowJo channel name.
    transforms: HashMap<String, Result<Option<(String, f64)>, String>>,
    /// The workspace matrix: (prefix, suffix, detector `$PnN`s).
    matrix: Option<(String, String, Vec<String>)>,
    /// Populations left out after an engine reference check, with why.
    excluded: &'a HashMap<String, String>,
}

impl Builder<'_> {
    fn warn(&mut self, message: String) {
        self.warnings.push(Warning {
            message: format!("sample {:?}: {message}", self.ws_sample.name),
        });
    }

    fn add_matrix(&mut self) {
        let m = match &self.ws_sample.compensation {
            Compensation::Matrix(m) => m.clone(),
            _ => return,
        };
        let mut names = Vec::with_capacity(m.detectors.len());
        for d in &m.detectors {
            match self.channels.resolve(d) {
                Some(n) => names.push(n),
                None => {
                    self.warn(format!(
                        "spilloverMatrix {:?} names detector {d:?}, which the FCS file does not have; compensated gates cannot be evaluated",
                        m.name
                    ));
                    return;
                }
            }
        }
        let values: Vec<f64> = m.rows.iter().flatten().copied().collect();
        // Fluorochromes are named after their detectors, so compensated
        // columns keep the detector names (as with `$SPILLOVER`).
        let built = Matrix::new(names.clone(), names.clone(), values, false)
            .map_err(|e| e.to_string())
            .and_then(|mx| {
                self.strategy
                    .add_matrix(MATRIX_ID, mx)
                    .map_err(|e| e.to_string())
            });
        match built {
            Ok(()) => self.matrix = Some((m.prefix, m.suffix, names)),
            Err(e) => self.warn(format!("spilloverMatrix {:?} cannot be used: {e}", m.name)),
        }
    }

    /// Maps a FlowJo channel name to an engine dimension (channel and
    /// compensation), following the matrix prefix/suffix convention.
    fn resolve(&self, name: &str) -> Result<Resolved, String> {
        // A plain channel of the file (FSC-A, Time, or an uncompensated
        // fluorescence channel) is used as is.
        let strip = |prefix: &str, suffix: &str| -> Option<String> {
            let s = name.strip_prefix(prefix)?;
            let s = s.strip_suffix(suffix).unwrap_or(s);
            Some(s.to_string())
        };
        if let Some((prefix, suffix, detectors)) = &self.matrix {
            if let Some(base) = strip(prefix, suffix) {
                if let Some(pnn) = self.channels.resolve(&base) {
                    if detectors.contains(&pnn) {
                        return Ok(Resolved {
                            dimension: Dimension::channel(pnn)
                                .compensated(CompensationRef::Matrix(MATRIX_ID.into())),
                        });
                    }
                }
            }
        }
        if let Some(pnn) = self.channels.resolve(name) {
            return Ok(Resolved {
                dimension: Dimension::channel(pnn),
            });
        }
        // "Comp-X" without a usable workspace matrix: FlowJo's
        // acquisition-defined matrix, i.e. the file's own spillover.
        let (prefix, suffix) = match &self.ws_sample.compensation {
            Compensation::AcquisitionDefined { prefix, suffix } => {
                (prefix.as_str(), suffix.as_str())
            }
            _ => ("Comp-", ""),
        };
        if let Some(base) = strip(prefix, suffix) {
            if let Some(pnn) = self.channels.resolve(&base) {
                if !self.channels.has_spillover {
                    return Err(format!(
                        "channel {name:?} is compensated, but the workspace has no matrix for it and the FCS file has no spillover keyword"
                    ));
                }
                return Ok(Resolved {
                    dimension: Dimension::channel(pnn).compensated(CompensationRef::Fcs),
                });
            }
        }
        Err(format!("channel {name:?} is not in the FCS file"))
    }

    /// The engine transform id for a FlowJo channel's display transform and
    /// the factor from its output to FlowJo's 0…256 display units; `None`
    /// when the workspace records no transform for the channel.
    fn display_transform(&mut self, name: &str) -> Result<Option<(String, f64)>, String> {
        if let Some(r) = self.transforms.get(name) {
            return r.clone();
        }
        let wsp = self.ws_sample.transform_for(name).cloned().or_else(|| {
            // FlowKit-written and some FlowJo workspaces key the transform by
            // the uncompensated name.
            let (prefix, suffix) = self
                .matrix
                .as_ref()
                .map(|(p, s, _)| (p.clone(), s.clone()))
                .unwrap_or_else(|| ("Comp-".into(), String::new()));
            let base = name.strip_prefix(&prefix)?;
            let base = base.strip_suffix(&suffix).unwrap_or(base);
            self.ws_sample.transform_for(base).cloned()
        });
        let r = match wsp {
            None => Ok(None),
            Some(t) => engine_transform(&t)
                .map_err(|e| format!("display transform of channel {name:?}: {e}"))
                .and_then(|(t, scale)| {
                    let id = format!("flowjo:{name}");
                    self.strategy
                        .add_transform(id.clone(), t)
                        .map_err(|e| e.to_string())?;
                    Ok(Some((id, scale)))
                }),
        };
        self.transforms.insert(name.to_string(), r.clone());
        r
    }

    fn add(&mut self, pop: &Population, parent: Option<&str>, all_paths: &[String]) {
        let path = match parent {
            Some(p) => format!("{p}/{}", pop.name),
            None => pop.name.clone(),
        };
        let parent_ok = parent.map_or(true, |p| self.strategy.has_population(p));
        let status = if let Some(reason) = self.excluded.get(&path) {
            Err(reason.clone())
        } else if !parent_ok {
            Err(format!(
                "parent {:?} is not evaluated",
                parent.unwrap_or_default()
            ))
        } else {
            match self.gates_for(pop, &path, parent, all_paths) {
                Ok(gates) => {
                    let mut r = Ok(());
                    for g in gates {
                        if let Err(e) = self.strategy.add_gate(g) {
                            r = Err(e.to_string());
                            break;
                        }
                    }
                    r
                }
                Err(e) => Err(e),
            }
        };
        // Unsupported gates were already reported by the parser.
        let reported = matches!(pop.gate, PopulationGate::Unsupported { .. });
        if let (Err(reason), true, false) = (&status, parent_ok, reported) {
            self.warn(format!(
                "population {path:?} (line {}) is not evaluated: {reason}",
                pop.line
            ));
        }
        self.planned.push(PlannedPopulation {
            path: path.clone(),
            parent: parent.map(str::to_string),
            flowjo_count: pop.count,
            status,
        });
        for c in &pop.children {
            self.add(c, Some(&path), all_paths);
        }
    }

    /// The engine gates that define population `path` (one, or two for a
    /// complement).
    fn gates_for(
        &mut self,
        pop: &Population,
        path: &str,
        parent: Option<&str>,
        all_paths: &[String],
    ) -> Result<Vec<Gate>, String> {
        let with_parent = |g: Gate| match parent {
            Some(p) => g.with_parent(p),
            None => g,
        };
        match &pop.gate {
            PopulationGate::Unsupported { what } => Err(what.clone()),
            PopulationGate::Boolean { op, dependents } => {
                let mut operands = Vec::new();
                for d in dependents {
                    let target = resolve_dependent(d, parent, all_paths)
                        .ok_or_else(|| format!("Boolean operand {d:?} names no population"))?;
                    if !self.strategy.has_population(&target)
                        && self
                            .planned
                            .iter()
                            .any(|p| p.path == target && p.status.is_err())
                    {
                        return Err(format!("Boolean operand {target:?} is not evaluated"));
                    }
                    operands.push(Operand {
                        gate: target,
                        complement: false,
                    });
                }
                let op = match op {
                    BoolOp::And => EngineBoolOp::And,
                    BoolOp::Or => EngineBoolOp::Or,
                    BoolOp::Not => EngineBoolOp::Not,
                };
                Ok(vec![with_parent(Gate::new(
                    path,
                    GateKind::Boolean { op, operands },
                ))])
            }
            PopulationGate::Gate(g) => {
                let kind = self.shape(&g.shape)?;
                if g.events_inside {
                    Ok(vec![with_parent(Gate::new(path, kind))])
                } else {
                    let inner = format!("{path}{INSIDE}");
                    Ok(vec![
                        with_parent(Gate::new(inner.clone(), kind)),
                        with_parent(Gate::new(
                            path,
                            GateKind::Boolean {
                                op: EngineBoolOp::Not,
                                operands: vec![Operand {
                                    gate: inner,
                                    complement: false,
                                }],
                            },
                        )),
                    ])
                }
            }
        }
    }

    fn shape(&mut self, shape: &GateShape) -> Result<GateKind, String> {
        match shape {
            GateShape::Rectangle { dims } => {
                // Data units, untransformed: min ≤ x < max (module docs, 2).
                let dimensions = dims
                    .iter()
                    .filter(|d| d.min.is_some() || d.max.is_some())
                    .map(|d| {
                        Ok(RangeDimension {
                            dimension: self.resolve(&d.channel)?.dimension,
                            min: d.min,
                            max: d.max,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                if dimensions.is_empty() {
                    return Err("rectangle without any limit".into());
                }
                Ok(GateKind::Rectangle { dimensions })
            }
            GateShape::Polygon { channels, vertices } => {
                // Vertices are data units; edges are straight on the display
                // axes, so evaluate on the transformed values with the
                // vertices mapped through the same transforms.
                let mut dimensions = Vec::with_capacity(2);
                let mut maps = Vec::with_capacity(2);
                for c in channels {
                    let dim = self.resolve(c)?.dimension;
                    match self.display_transform(c)? {
                        Some((id, _)) => {
                            maps.push(self.transform_of(&id));
                            dimensions.push(dim.transformed(id));
                        }
                        None => {
                            // No transform recorded: FlowJo's linear axis;
                            // straight lines in data units.
                            maps.push(None);
                            dimensions.push(dim);
                        }
                    }
                }
                let map = |k: usize, v: f64| match maps.get(k).and_then(Option::as_ref) {
                    Some(t) => t.apply(v),
                    None => v,
                };
                let vertices = vertices
                    .iter()
                    .map(|v| (map(0, v[0]), map(1, v[1])))
                    .collect();
                Ok(GateKind::Polygon {
                    dimensions,
                    vertices,
                })
            }
            GateShape::Ellipse {
                channels,
                foci,
                edges,
            } => {
                let e = Ellipse::from_foci_and_edges(*foci, edges)
                    .map_err(|e| format!("ellipse: {e}"))?;
                let mut dimensions = Vec::with_capacity(2);
                let mut scale = [1.0; 2];
                for (k, c) in channels.iter().enumerate() {
                    let dim = self.resolve(c)?.dimension;
                    let (id, s) = self.display_transform(c)?.ok_or_else(|| {
                        format!("ellipse on channel {c:?}, which has no display transform in the workspace (ellipses are stored in display units)")
                    })?;
                    scale[k] = s;
                    dimensions.push(dim.transformed(id));
                }
                let (mean, cov) = e.rescaled([0.0, 0.0], scale);
                Ok(GateKind::Ellipsoid {
                    dimensions,
                    mean: mean.to_vec(),
                    covariance: cov.iter().map(|r| r.to_vec()).collect(),
                    distance_square: 1.0,
                })
            }
        }
    }

    fn transform_of(&self, id: &str) -> Option<Transform> {
        match self.strategy.transform(id).map(|d| &d.kind) {
            Some(crate::gating::TransformKind::Scale(t)) => Some(t.clone()),
            _ => None,
        }
    }
}

/// FlowJo's Boolean operands name populations by path; FlowJo writes the
/// full path, but be lenient: a path relative to the Boolean's parent, or a
/// unique population name, also resolves.
fn resolve_dependent(dep: &str, parent: Option<&str>, all: &[String]) -> Option<String> {
    let dep = dep.trim_matches('/');
    if all.iter().any(|p| p == dep) {
        return Some(dep.to_string());
    }
    if let Some(p) = parent {
        let rel = format!("{p}/{dep}");
        if all.contains(&rel) {
            return Some(rel);
        }
    }
    let mut by_name = all
        .iter()
        .filter(|p| p.rsplit('/').next() == Some(dep) || p.ends_with(&format!("/{dep}")));
    match (by_name.next(), by_name.next()) {
        (Some(p), None) => Some(p.clone()),
        _ => None,
    }
}

/// The engine transform for a FlowJo display transform, and the factor that
/// turns its output into FlowJo's 0…256 display units (for ellipses).
pub fn engine_transform(t: &WspTransform) -> Result<(TransformDef, f64), String> {
    let err = |e: crate::transform::TransformError| e.to_string();
    let (t, scale) = match *t {
        WspTransform::Linear {
            min_range,
            max_range,
            ..
        } => {
            // FlowJo's linear axis spans [minRange, maxRange]: unit scale.
            let span = max_range - min_range;
            if span.is_nan() || span <= 0.0 {
                return Err(format!(
                    "linear transform with maxRange {max_range} ≤ minRange {min_range}"
                ));
            }
            (
                Transform::Linear(Linear::new(1.0 / span, -min_range / span).map_err(err)?),
                256.0,
            )
        }
        WspTransform::Log { offset, decades } => {
            // 1 + log10(x / (offset·10^decades)) / decades = (log10 x − log10 offset) / decades.
            let t = offset * 10f64.powf(decades);
            (Transform::Flog(Flog::new(t, decades).map_err(err)?), 256.0)
        }
        WspTransform::Fasinh { t, m, a } => {
            (Transform::Fasinh(Fasinh::new(t, m, a).map_err(err)?), 256.0)
        }
        WspTransform::Logicle { t, w, m, a } => (
            Transform::Logicle(Logicle::new(t, w, m, a).map_err(err)?),
            256.0,
        ),
        WspTransform::Hyperlog { t, w, m, a } => (
            Transform::Hyperlog(Hyperlog::new(t, w, m, a).map_err(err)?),
            256.0,
        ),
        WspTransform::Biex {
            width,
            neg,
            pos,
            max_range,
        } => (
            // FlowJo's own table transform; its output is the 0…4096 channel.
            Transform::Biex(Biex::new(width, neg, pos, max_range).map_err(err)?),
            256.0 / 4096.0,
        ),
        WspTransform::Unsupported { ref element } => {
            return Err(format!("FlowJo transform <{element}> is not supported"))
        }
    };
    let mut def = TransformDef::scale(t);
    if matches!(
        def.kind,
        crate::gating::TransformKind::Scale(Transform::Flog(_))
    ) {
        // FlowJo shows values below the log axis' offset at its bottom.
        def.bound_min = Some(0.0);
    }
    Ok((def, scale))
}
