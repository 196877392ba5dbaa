//! The gating strategy: gates, the transforms and compensation matrices they
//! refer to by id, and the population tree they form.

use std::collections::HashMap;

use crate::compensation::Matrix;
use crate::transform::{Ratio, Transform};

use super::gate::{CompensationRef, DimensionSource, Gate, GateKind};
use super::GatingError;

/// What a Gating-ML `transformation` id stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum TransformKind {
    /// A one-channel scale transform (flin, flog, fasinh, logicle, hyperlog, …).
    Scale(Transform),
    /// `fratio`: `A·(x − B)/(y − C)` of two channels, used as a new dimension.
    /// `x` and `y` are read through the gate dimension's compensation (the
    /// ratio is taken of compensated values), then the dimension's transform
    /// applies to the ratio.
    Ratio { ratio: Ratio, x: String, y: String },
}

/// A named transform as a gating strategy holds it, with the optional
/// Gating-ML `boundMin`/`boundMax` that clamp its output.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformDef {
    pub kind: TransformKind,
    pub bound_min: Option<f64>,
    pub bound_max: Option<f64>,
}

impl TransformDef {
    /// A scale transform without bounds.
    pub fn scale(t: Transform) -> Self {
        TransformDef {
            kind: TransformKind::Scale(t),
            bound_min: None,
            bound_max: None,
        }
    }

    /// A ratio of channels `x` and `y`, without bounds.
    pub fn ratio(ratio: Ratio, x: impl Into<String>, y: impl Into<String>) -> Self {
        TransformDef {
            kind: TransformKind::Ratio {
                ratio,
                x: x.into(),
                y: y.into(),
            },
            bound_min: None,
            bound_max: None,
        }
    }

    /// Clamps a transformed value into `[boundMin, boundMax]` (NaN stays NaN).
    #[inline]
    pub(crate) fn bound(&self, v: f64) -> f64 {
        let v = match self.bound_min {
            Some(lo) if v < lo => lo,
            _ => v,
        };
        match self.bound_max {
            Some(hi) if v > hi => hi,
            _ => v,
        }
    }
}

/// Where a population is defined: gate index and, for a quadrant, its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PopulationRef {
    pub gate: usize,
    pub quadrant: Option<usize>,
}

/// Gates (in insertion order), transforms and matrices by id.
///
/// Gates may be added in any order; references (parents, Boolean operands,
/// transforms, matrices) are checked by [`GatingStrategy::validate`], which
/// evaluation also runs.
#[derive(Debug, Clone, Default)]
pub struct GatingStrategy {
    gates: Vec<Gate>,
    gate_index: HashMap<String, usize>,
    populations: HashMap<String, PopulationRef>,
    transforms: Vec<(String, TransformDef)>,
    matrices: Vec<(String, Matrix)>,
}

impl GatingStrategy {
    /// An empty strategy.
    pub fn new() -> Self {
        GatingStrategy::default()
    }

    /// Adds a gate after checking its shape and that its id and population
    /// ids are new.
    pub fn add_gate(&mut self, gate: Gate) -> Result<(), GatingError> {
        gate.validate()?;
        let mut ids = gate.population_ids();
        if matches!(gate.kind, GateKind::Quadrant { .. }) {
            ids.push(&gate.id);
        }
        for (k, id) in ids.iter().enumerate() {
            if self.gate_index.contains_key(*id)
                || self.populations.contains_key(*id)
                || ids[..k].contains(id)
            {
                return Err(GatingError::DuplicateId { id: id.to_string() });
            }
        }
        let g = self.gates.len();
        match &gate.kind {
            GateKind::Quadrant { quadrants, .. } => {
                for (q, quad) in quadrants.iter().enumerate() {
                    self.populations.insert(
                        quad.id.clone(),
                        PopulationRef {
                            gate: g,
                            quadrant: Some(q),
                        },
                    );
                }
            }
            _ => {
                self.populations.insert(
                    gate.id.clone(),
                    PopulationRef {
                        gate: g,
                        quadrant: None,
                    },
                );
            }
        }
        self.gate_index.insert(gate.id.clone(), g);
        self.gates.push(gate);
        Ok(())
    }

    /// Adds a named transform.
    pub fn add_transform(
        &mut self,
        id: impl Into<String>,
        def: TransformDef,
    ) -> Result<(), GatingError> {
        let id = id.into();
        if self.transforms.iter().any(|(t, _)| *t == id) {
            return Err(GatingError::DuplicateDefinition {
                what: "transform",
                id,
            });
        }
        self.transforms.push((id, def));
        Ok(())
    }

    /// Adds a named compensation matrix (a Gating-ML `spectrumMatrix`).
    pub fn add_matrix(&mut self, id: impl Into<String>, matrix: Matrix) -> Result<(), GatingError> {
        let id = id.into();
        if self.matrices.iter().any(|(m, _)| *m == id)
            || id == CompensationRef::Uncompensated.as_str()
            || id == CompensationRef::Fcs.as_str()
        {
            return Err(GatingError::DuplicateDefinition {
                what: "compensation matrix",
                id,
            });
        }
        self.matrices.push((id, matrix));
        Ok(())
    }

    /// All gates, in insertion order.
    pub fn gates(&self) -> &[Gate] {
        &self.gates
    }

    /// Gate ids, in insertion order (a quadrant gate's own id included).
    pub fn gate_ids(&self) -> Vec<&str> {
        self.gates.iter().map(|g| g.id.as_str()).collect()
    }

    /// A gate by its id.
    pub fn gate(&self, id: &str) -> Option<&Gate> {
        self.gate_index.get(id).and_then(|&i| self.gates.get(i))
    }

    /// The gate defining a population (the quadrant gate for a quadrant id).
    pub fn gate_of_population(&self, population: &str) -> Option<&Gate> {
        self.populations
            .get(population)
            .and_then(|p| self.gates.get(p.gate))
    }

    /// True when `id` names a population (a gate or a quadrant, not a quadrant gate).
    pub fn has_population(&self, id: &str) -> bool {
        self.populations.contains_key(id)
    }

    /// The parent population of a population or gate.
    pub fn parent_of(&self, id: &str) -> Option<&str> {
        self.gate_of_population(id)
            .or_else(|| self.gate(id))
            .and_then(|g| g.parent.as_deref())
    }

    /// The populations whose parent is `parent` (`None`: the roots), in
    /// insertion order.
    pub fn children(&self, parent: Option<&str>) -> Vec<&str> {
        self.gates
            .iter()
            .filter(|g| g.parent.as_deref() == parent)
            .flat_map(|g| g.population_ids())
            .collect()
    }

    /// Every population id in tree order: depth first from the roots,
    /// children in insertion order.
    pub fn population_ids(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut stack: Vec<&str> = self.children(None).into_iter().rev().collect();
        while let Some(p) = stack.pop() {
            if out.len() > self.populations.len() {
                break; // a parent cycle; validate() reports it
            }
            out.push(p);
            stack.extend(self.children(Some(p)).into_iter().rev());
        }
        out
    }

    /// Named transforms, in insertion order.
    pub fn transforms(&self) -> &[(String, TransformDef)] {
        &self.transforms
    }

    /// A transform by id.
    pub fn transform(&self, id: &str) -> Option<&TransformDef> {
        self.transforms
            .iter()
            .find(|(t, _)| t == id)
            .map(|(_, d)| d)
    }

    /// Named compensation matrices, in insertion order.
    pub fn matrices(&self) -> &[(String, Matrix)] {
        &self.matrices
    }

    /// A compensation matrix by id.
    pub fn matrix(&self, id: &str) -> Option<&Matrix> {
        self.matrices.iter().find(|(m, _)| m == id).map(|(_, d)| d)
    }

    /// Checks every reference (parents, Boolean operands, transforms,
    /// matrices) and that they form no cycle. Returns the gate indices in an
    /// order where each gate comes after everything it depends on.
    pub fn validate(&self) -> Result<Vec<usize>, GatingError> {
        for g in &self.gates {
            if let Some(p) = &g.parent {
                if !self.populations.contains_key(p) {
                    return Err(GatingError::MissingParent {
                        gate: g.id.clone(),
                        parent: p.clone(),
                    });
                }
            }
            if let GateKind::Boolean { operands, .. } = &g.kind {
                for o in operands {
                    if !self.populations.contains_key(&o.gate) {
                        return Err(GatingError::MissingReference {
                            gate: g.id.clone(),
                            reference: o.gate.clone(),
                        });
                    }
                }
            }
            for d in g.dimensions() {
                if let CompensationRef::Matrix(m) = &d.compensation {
                    if self.matrix(m).is_none() {
                        return Err(GatingError::UnknownMatrix {
                            gate: g.id.clone(),
                            matrix: m.clone(),
                        });
                    }
                }
                if let Some(t) = &d.transform {
                    match self.transform(t).map(|t| &t.kind) {
                        None => {
                            return Err(GatingError::UnknownTransform {
                                gate: g.id.clone(),
                                transform: t.clone(),
                            })
                        }
                        // A ratio is a new dimension, not a per-channel scale.
                        Some(TransformKind::Ratio { .. }) => {
                            return Err(GatingError::InvalidGate {
                                gate: g.id.clone(),
                                reason: format!(
                                    "transformation-ref {t:?} is an fratio; use it as a new-dimension"
                                ),
                            })
                        }
                        Some(TransformKind::Scale(_)) => {}
                    }
                }
                if let DimensionSource::Ratio(t) = &d.source {
                    match self.transform(t).map(|t| &t.kind) {
                        None => {
                            return Err(GatingError::UnknownTransform {
                                gate: g.id.clone(),
                                transform: t.clone(),
                            })
                        }
                        Some(TransformKind::Scale(_)) => {
                            return Err(GatingError::NotARatio {
                                gate: g.id.clone(),
                                transform: t.clone(),
                            })
                        }
                        Some(TransformKind::Ratio { .. }) => {}
                    }
                }
            }
        }
        self.topological_order()
    }

    /// The gates a gate needs evaluated first: its parent's and its operands'.
    fn dependencies(&self, g: &Gate) -> Vec<usize> {
        let mut deps: Vec<usize> = g
            .parent
            .iter()
            .filter_map(|p| self.populations.get(p).map(|r| r.gate))
            .collect();
        if let GateKind::Boolean { operands, .. } = &g.kind {
            deps.extend(
                operands
                    .iter()
                    .filter_map(|o| self.populations.get(&o.gate).map(|r| r.gate)),
            );
        }
        deps
    }

    /// Depth-first topological sort; a back edge is a cycle, reported with
    /// the gate ids along it.
    fn topological_order(&self) -> Result<Vec<usize>, GatingError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let n = self.gates.len();
        let mut mark = vec![Mark::New; n];
        let mut order = Vec::with_capacity(n);
        for root in 0..n {
            if mark[root] != Mark::New {
                continue;
            }
            // Explicit stack of (gate, its dependencies, next dependency).
            let mut stack: Vec<(usize, Vec<usize>, usize)> = Vec::new();
            mark[root] = Mark::Open;
            stack.push((root, self.dependencies(&self.gates[root]), 0));
            while let Some((g, deps, next)) = stack.last_mut() {
                if let Some(&d) = deps.get(*next) {
                    *next += 1;
                    match mark[d] {
                        Mark::Done => {}
                        Mark::New => {
                            mark[d] = Mark::Open;
                            let dd = self.dependencies(&self.gates[d]);
                            stack.push((d, dd, 0));
                        }
                        Mark::Open => {
                            let start = stack.iter().position(|(s, _, _)| *s == d).unwrap_or(0);
                            let mut path: Vec<&str> = stack[start..]
                                .iter()
                                .map(|(s, _, _)| self.gates[*s].id.as_str())
                                .collect();
                            path.push(self.gates[d].id.as_str());
                            return Err(GatingError::Cycle {
                                gate: self.gates[d].id.clone(),
                                path: path.join(" → "),
                            });
                        }
                    }
                } else {
                    let g = *g;
                    mark[g] = Mark::Done;
                    order.push(g);
                    stack.pop();
                }
            }
        }
        Ok(order)
    }
}
