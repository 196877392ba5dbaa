//! Fixed gates from a Gating-ML 2.0 file, used inside a pipeline:
//! `{"type": "gatingml", "file": "gates.xml", "id": "GateId"}`.
//!
//! A lab that already has a validated gate (drawn in FlowJo or FlowKit and
//! exported as Gating-ML) uses it as it is, with its own compensation and
//! transforms, instead of re-typing coordinates. The rules:
//!
//! - **File**: relative paths are relative to the pipeline file's folder.
//!   The file is read once, when the pipeline is loaded, so a missing file,
//!   an unknown id or an unsupported gate fails before any FCS file is read;
//!   errors name the pipeline field, the XML file and the gate id.
//! - **Which gate**: `id` names a rectangle, polygon or ellipsoid gate, or
//!   one quadrant of a quadrant gate (taken as the rectangle of its
//!   intervals, which is what a quadrant is). A Boolean gate is not
//!   imported by its `id` alone: its operands would not be populations of
//!   the pipeline. The error names the file, the gate and its operands.
//! - **Parent**: the pipeline's `parent` applies; the gate's parent in the
//!   XML is not imported (the pipeline's tree is the only tree).
//! - **Subtree**: with `"subtree": true` the gate's descendants in the XML
//!   are imported too, each a population named by its XML id under its XML
//!   parent (the top keeps the pipeline's id and parent); expanded when the
//!   pipeline is loaded, so columns and QC rules may name them. Ids must be
//!   new to the pipeline and use letters, digits, `_` or `-`.
//! - **Boolean gates in a subtree** (`and`, `or`, `not`, operands with
//!   `use-as-complement`) are imported when every operand is the top or
//!   another population of the same subtree, with Gating-ML's meaning:
//!   the operands' full populations (each with its own parents) are
//!   combined, then ANDed with the Boolean gate's parent. Within the
//!   pipeline every imported population is the XML's population ANDed with
//!   the top's pipeline parent, and so is the Boolean one. They are not
//!   mapped onto the pipeline's `and`/`not` gates, whose meaning differs
//!   (`and` merges sibling threshold/rectangle intervals into one
//!   rectangle, `not` takes only a sibling; neither has `or` or
//!   complemented operands): the gating engine's own
//!   Boolean kernel combines the operands' pipeline populations, and
//!   gates/<file>.xml holds the Boolean gate referencing those populations,
//!   so `nkflow gate` re-applies it to the same counts (the runner checks
//!   that for every file). A Boolean gate listed before an operand in the
//!   XML is moved after it. An operand outside the subtree (or a Boolean
//!   top, whose operands cannot lie below it) is refused, naming the file,
//!   the gate and that operand.
//! - **Dimensions**: Gating-ML names channels by `$PnN`. A dimension name
//!   that equals a marker of the pipeline's panel (case-insensitive, e.g.
//!   `CD56`) is that marker's channel in each file, found by the panel
//!   rule — so one XML serves every lab's spelling; any other name is taken
//!   as a `$PnN` channel name. The same mapping applies to the channels of
//!   `fratio` transforms and the detectors of spectrum matrices.
//!   (Fluorochrome names that a spectrum matrix outputs are kept.)
//! - **Compensation and transforms** are the gating engine's: `FCS` is the
//!   file's spillover keyword, `uncompensated` the FCS-scale values, a
//!   matrix id the XML's spectrum matrix; transforms (logicle, fasinh, …,
//!   with their bounds) are applied exactly as `nkflow gate` applies them.
//!   The gate is evaluated by the gating engine, and `gates/<file>.xml` holds
//!   it with its (mapped) transforms and matrices, so `nkflow gate`
//!   re-applies it to the same counts.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::ser::SerializeStruct;
use serde::Serialize;

use crate::compensation::Matrix;
use crate::gating::{
    CompensationRef, Dimension, DimensionSource, Gate, GateKind, GatingStrategy, Operand,
    RangeDimension, TransformDef, TransformKind,
};

use super::panel::ResolvedPanel;

/// A gate imported from a Gating-ML file, with what it refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedGate {
    /// The XML file as the pipeline names it.
    pub file: String,
    /// The gate (or quadrant) id in that file.
    pub xml_id: String,
    /// The gate's test (no parent; a quadrant as its rectangle; a Boolean
    /// gate's operands as pipeline population ids).
    pub kind: GateKind,
    /// Transforms the gate's dimensions use (by their XML ids).
    pub transforms: Vec<(String, TransformDef)>,
    /// Spectrum matrices the gate's dimensions use (by their XML ids).
    pub matrices: Vec<(String, Matrix)>,
}

/// Written into run.json: where the gate came from and what it reads.
impl Serialize for ImportedGate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let gate = Gate::new(self.xml_id.clone(), self.kind.clone());
        let dims: Vec<String> = gate
            .dimensions()
            .iter()
            .map(|d| {
                format!(
                    "{} (compensation {}, transform {})",
                    d.name(),
                    d.compensation.as_str(),
                    d.transform.as_deref().unwrap_or("none")
                )
            })
            .collect();
        let mut st = s.serialize_struct("ImportedGate", 4)?;
        st.serialize_field("file", &self.file)?;
        st.serialize_field("id", &self.xml_id)?;
        st.serialize_field("gate_type", gate.type_name())?;
        st.serialize_field("dimensions", &dims)?;
        st.end()
    }
}

/// The Gating-ML file `file` (relative to `base`), read once per pipeline
/// load however many gates name it, with its path as errors show it.
fn cached<'c>(
    base: &Path,
    file: &str,
    cache: &'c mut BTreeMap<String, GatingStrategy>,
) -> Result<(String, &'c GatingStrategy), String> {
    let path = base.join(file);
    let shown = path.display().to_string();
    let strategy = match cache.entry(shown.clone()) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => e.insert(crate::gatingml::read_path(&path).map_err(|e| e.to_string())?),
    };
    Ok((shown, strategy))
}

/// The descendants of population `id` in the Gating-ML file `file`, as
/// `(population id, parent population id)` in an order where each comes
/// after its parent and after every operand it combines (depth first,
/// children in file order, a Boolean gate moved after operands listed
/// later). A quadrant gate gives one population per quadrant. A Boolean gate
/// is refused when an operand is not `id` or one of its descendants (that
/// operand would not be a population of the pipeline), and so is a Boolean
/// `id` itself (its operands cannot lie below it).
pub fn subtree(
    base: &Path,
    file: &str,
    id: &str,
    cache: &mut BTreeMap<String, GatingStrategy>,
) -> Result<Vec<(String, String)>, String> {
    let (shown, strategy) = cached(base, file, cache)?;
    if !strategy.has_population(id) {
        return Err(format!(
            "{shown}: no gate or quadrant with id {id:?}; ids in the file: {}",
            strategy.population_ids().join(", ")
        ));
    }
    if let Some(o) = operands(strategy, id).first() {
        return Err(format!(
            "{shown}: gate {id:?} is a Boolean gate, so its operand {:?} lies outside its own subtree; import with \"subtree\": true from a gate above it whose subtree holds all its operands",
            o.gate
        ));
    }
    let mut nodes: Vec<(String, String)> = Vec::new();
    let mut stack: Vec<(String, String)> = strategy
        .children(Some(id))
        .into_iter()
        .rev()
        .map(|c| (c.to_string(), id.to_string()))
        .collect();
    while let Some((pop, parent)) = stack.pop() {
        if nodes.len() > strategy.gates().len() * 4 + 16 {
            return Err(format!("{shown}: the tree below {id:?} has a cycle"));
        }
        stack.extend(
            strategy
                .children(Some(&pop))
                .into_iter()
                .rev()
                .map(|c| (c.to_string(), pop.clone())),
        );
        nodes.push((pop, parent));
    }
    // Every operand must be a population the pipeline will have: the top or
    // a descendant (Gating-ML combines the operands' full populations, which
    // the pipeline knows only for the populations it imports).
    let inside: BTreeSet<&str> = std::iter::once(id)
        .chain(nodes.iter().map(|(p, _)| p.as_str()))
        .collect();
    for (pop, _) in &nodes {
        if let Some(o) = operands(strategy, pop)
            .into_iter()
            .find(|o| !inside.contains(o.gate.as_str()))
        {
            return Err(format!(
                "{shown}: subtree of {id:?}: Boolean gate {pop:?} combines {:?}, which is outside the subtree (only {id:?} and the gates below it are imported); import from a gate whose subtree holds all its operands, or import the operands and combine them with the pipeline's \"and\"/\"not\" gates",
                o.gate
            ));
        }
    }
    // Parents and operands first: a pipeline population may only use
    // populations listed before it.
    let mut done: BTreeSet<String> = BTreeSet::from([id.to_string()]);
    let mut ordered = Vec::with_capacity(nodes.len());
    while !nodes.is_empty() {
        let ready = nodes.iter().position(|(pop, parent)| {
            done.contains(parent)
                && operands(strategy, pop)
                    .iter()
                    .all(|o| done.contains(&o.gate))
        });
        let Some(k) = ready else {
            let left: Vec<&str> = nodes.iter().map(|(p, _)| p.as_str()).collect();
            return Err(format!(
                "{shown}: subtree of {id:?}: gates {} depend on each other in a cycle",
                left.join(", ")
            ));
        };
        let node = nodes.remove(k);
        done.insert(node.0.clone());
        ordered.push(node);
    }
    Ok(ordered)
}

/// The operands of population `pop` if it is a Boolean gate (else none).
fn operands<'s>(strategy: &'s GatingStrategy, pop: &str) -> Vec<&'s Operand> {
    match strategy.gate_of_population(pop).map(|g| &g.kind) {
        Some(GateKind::Boolean { operands, .. }) => operands.iter().collect(),
        _ => Vec::new(),
    }
}

/// Reads gate `id` from the Gating-ML file `file` (relative to `base`).
/// `top` is `(XML id, pipeline id)` of the subtree top when the gate was
/// expanded from a `"subtree": true` import (see [`subtree`]): only then is
/// a Boolean gate imported, its operand naming the top renamed to the
/// top's pipeline id (the others keep their XML ids, which are their
/// pipeline ids). Errors are one sentence naming the file and the gate id.
pub fn load(
    base: &Path,
    file: &str,
    id: &str,
    top: Option<(&str, &str)>,
    cache: &mut BTreeMap<String, GatingStrategy>,
) -> Result<ImportedGate, String> {
    let (shown, strategy) = cached(base, file, cache)?;
    let kind = match strategy.gate(id) {
        Some(g) => match (&g.kind, top) {
            (GateKind::Boolean { op, operands }, Some((top_xml, top_id))) => GateKind::Boolean {
                op: *op,
                operands: operands
                    .iter()
                    .map(|o| Operand {
                        gate: if o.gate == top_xml {
                            top_id.to_string()
                        } else {
                            o.gate.clone()
                        },
                        complement: o.complement,
                    })
                    .collect(),
            },
            (GateKind::Boolean { operands, .. }, None) => {
                let names: Vec<String> = operands.iter().map(|o| format!("{:?}", o.gate)).collect();
                return Err(format!(
                    "{shown}: gate {id:?} is a Boolean gate, and its operand {} would not be imported with it; import it with \"subtree\": true from a gate above it whose subtree holds all its operands, or import the operands and combine them with the pipeline's \"and\"/\"not\" gates",
                    names.join(", ")
                ));
            }
            (GateKind::Quadrant { .. }, _) => {
                return Err(format!(
                    "{shown}: gate {id:?} is a quadrant gate; name one of its quadrants ({})",
                    g.population_ids().join(", ")
                ))
            }
            (other, _) => other.clone(),
        },
        None => match strategy.gate_of_population(id) {
            Some(q) => quadrant_rectangle(q, id)
                .ok_or_else(|| format!("{shown}: quadrant {id:?} has no usable intervals"))?,
            None => {
                return Err(format!(
                    "{shown}: no gate or quadrant with id {id:?}; ids in the file: {}",
                    strategy.population_ids().join(", ")
                ))
            }
        },
    };
    let gate = Gate::new(id, kind.clone());
    let mut transforms = Vec::new();
    let mut matrices = Vec::new();
    for d in gate.dimensions() {
        let mut tids: Vec<&str> = d.transform.iter().map(String::as_str).collect();
        if let DimensionSource::Ratio(r) = &d.source {
            tids.push(r);
        }
        for t in tids {
            let def = strategy
                .transform(t)
                .ok_or_else(|| format!("{shown}: gate {id:?}: transform {t:?} is not defined"))?;
            if !transforms.iter().any(|(k, _): &(String, _)| k == t) {
                transforms.push((t.to_string(), def.clone()));
            }
        }
        if let CompensationRef::Matrix(m) = &d.compensation {
            let mat = strategy.matrix(m).ok_or_else(|| {
                format!("{shown}: gate {id:?}: compensation matrix {m:?} is not defined")
            })?;
            if !matrices.iter().any(|(k, _): &(String, _)| k == m) {
                matrices.push((m.clone(), mat.clone()));
            }
        }
    }
    Ok(ImportedGate {
        file: file.to_string(),
        xml_id: id.to_string(),
        kind,
        transforms,
        matrices,
    })
}

/// A quadrant as the rectangle of its intervals.
fn quadrant_rectangle(g: &Gate, quadrant: &str) -> Option<GateKind> {
    let GateKind::Quadrant {
        dividers,
        quadrants,
    } = &g.kind
    else {
        return None;
    };
    let q = quadrants.iter().find(|q| q.id == quadrant)?;
    let mut dimensions = Vec::new();
    for (div_id, location) in &q.positions {
        let div = dividers.iter().find(|d| &d.id == div_id)?;
        let (min, max) = div.interval(*location);
        if min.is_none() && max.is_none() {
            continue;
        }
        dimensions.push(RangeDimension {
            dimension: div.dimension.clone(),
            min,
            max,
        });
    }
    (!dimensions.is_empty()).then_some(GateKind::Rectangle { dimensions })
}

impl ImportedGate {
    /// The gate as one file reads it: channel names that are panel markers
    /// become that file's channels (see the module docs).
    pub fn for_panel(&self, panel: &ResolvedPanel) -> ImportedGate {
        let map = |name: &str| -> String {
            panel
                .iter()
                .find(|(m, _)| m.eq_ignore_ascii_case(name.trim()))
                .map(|(_, r)| r.channel.clone())
                .unwrap_or_else(|| name.to_string())
        };
        let map_dim = |d: &Dimension| -> Dimension {
            let mut d = d.clone();
            if let DimensionSource::Channel(c) = &d.source {
                if !matches!(d.compensation, CompensationRef::Matrix(_)) {
                    d.source = DimensionSource::Channel(map(c));
                }
            }
            d
        };
        let kind = match &self.kind {
            GateKind::Rectangle { dimensions } => GateKind::Rectangle {
                dimensions: dimensions
                    .iter()
                    .map(|r| RangeDimension {
                        dimension: map_dim(&r.dimension),
                        min: r.min,
                        max: r.max,
                    })
                    .collect(),
            },
            GateKind::Polygon {
                dimensions,
                vertices,
            } => GateKind::Polygon {
                dimensions: dimensions.iter().map(map_dim).collect(),
                vertices: vertices.clone(),
            },
            GateKind::Ellipsoid {
                dimensions,
                mean,
                covariance,
                distance_square,
            } => GateKind::Ellipsoid {
                dimensions: dimensions.iter().map(map_dim).collect(),
                mean: mean.clone(),
                covariance: covariance.clone(),
                distance_square: *distance_square,
            },
            other => other.clone(),
        };
        let transforms = self
            .transforms
            .iter()
            .map(|(id, def)| {
                let mut def = def.clone();
                if let TransformKind::Ratio { x, y, .. } = &mut def.kind {
                    *x = map(x);
                    *y = map(y);
                }
                (id.clone(), def)
            })
            .collect();
        let matrices = self
            .matrices
            .iter()
            .map(|(id, m)| {
                let detectors: Vec<String> = m.detectors().iter().map(|d| map(d)).collect();
                let mapped = Matrix::new(
                    m.fluorochromes().to_vec(),
                    detectors,
                    m.values().to_vec(),
                    m.inverted_already(),
                )
                .unwrap_or_else(|_| m.clone());
                (id.clone(), mapped)
            })
            .collect();
        ImportedGate {
            file: self.file.clone(),
            xml_id: self.xml_id.clone(),
            kind,
            transforms,
            matrices,
        }
    }

    /// The gate alone (no parent) as a gating strategy with `id`, its
    /// transforms and matrices: what the gating engine evaluates.
    pub fn strategy(&self, id: &str) -> Result<GatingStrategy, crate::gating::GatingError> {
        let mut s = GatingStrategy::new();
        self.add_to(&mut s, id, None)?;
        Ok(s)
    }

    /// Adds the gate (as `id`, under `parent`) with its transforms and
    /// matrices to `s`. A transform or matrix id already there with the
    /// same definition is shared; a different one is an error (the pipeline
    /// loader rejects such pipelines up front).
    pub fn add_to(
        &self,
        s: &mut GatingStrategy,
        id: &str,
        parent: Option<&str>,
    ) -> Result<(), crate::gating::GatingError> {
        for (tid, def) in &self.transforms {
            if s.transform(tid) != Some(def) {
                s.add_transform(tid.clone(), def.clone())?;
            }
        }
        for (mid, m) in &self.matrices {
            if s.matrix(mid) != Some(m) {
                s.add_matrix(mid.clone(), m.clone())?;
            }
        }
        let mut gate = Gate::new(id, self.kind.clone());
        if let Some(p) = parent {
            gate = gate.with_parent(p);
        }
        s.add_gate(gate)
    }
}
