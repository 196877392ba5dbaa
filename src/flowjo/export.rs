//! A workspace group's template as an nkflow pipeline (`--export-pipeline`):
//! fixed gates in data units, so that `nkflow run` applies a lab's FlowJo
//! gating in batch with everything else the runner does.
//!
//! What translates exactly and what does not (each approximation or omission
//! is returned as a note naming the population):
//! - rectangles (one-sided ones and FlowJo quadrants included): exact — both
//!   FlowJo and the pipeline use data units and `min ≤ x < max`;
//! - polygons on linear axes: exact. On other axes FlowJo's edges are
//!   straight in display space, i.e. curves in data units; each edge is
//!   subdivided into [`EDGE_STEPS`] pieces on the display axes and mapped back
//!   to data units (vertices exact, edges within a fraction of a display unit);
//! - ellipses: a [`ELLIPSE_VERTICES`]-gon on the display axes, mapped back;
//! - `eventsInside="0"`: a hidden sibling gate and a pipeline `not`;
//! - Boolean nodes: `not` of a sibling, and `and` of sibling rectangles,
//!   exactly; other Booleans (`or`, operands elsewhere in the tree) are left
//!   out with a note, as are unsupported gates and their descendants;
//! - compensation: the pipeline compensates with the file's own spillover;
//!   a workspace matrix that differs from the file's is noted.
//!
//! Population ids become `[A-Za-z0-9_-]` (a pipeline id is a Gating-ML id);
//! the FlowJo path of each is listed in the pipeline description.

use std::collections::{BTreeMap, HashMap};

use crate::compensation::Matrix;
use crate::gating::{GateKind as EngineGate, TransformKind};
use crate::pipeline::definition::{
    ColumnSpec, Compensation as PipelineCompensation, FixedInterval, GateKind, GateSpec, Pipeline,
    Stat,
};
use crate::pipeline::panel::MarkerSpec;
use crate::sample::Sample;
use crate::transform::Transform;

use super::ellipse::Ellipse;
use super::model::*;
use super::strategy::{self, engine_transform};

/// Pieces per polygon edge on non-linear display axes.
pub const EDGE_STEPS: usize = 32;
/// Vertices of the polygon that stands for an ellipse.
pub const ELLIPSE_VERTICES: usize = 256;

/// The exported pipeline and what could not be carried over exactly.
#[derive(Debug, Clone)]
pub struct Export {
    pub pipeline: Pipeline,
    /// One sentence per approximation or omission.
    pub notes: Vec<String>,
}

/// Builds a pipeline from `populations` (a group template or a sample's
/// tree) with `ws_sample`'s compensation and transforms; `fcs` (a file the
/// template applies to) supplies channel names and the file's spillover.
pub fn to_pipeline(
    name: &str,
    ws_sample: &WspSample,
    populations: &[Population],
    fcs: &Sample,
) -> Export {
    let plan = strategy::plan(ws_sample, populations, fcs);
    // Compensate in the pipeline only when some gate reads compensated
    // values; a workspace analysed uncompensated stays uncompensated.
    let compensates = plan.strategy.gates().iter().any(|g| {
        g.dimensions().iter().any(|d| {
            !matches!(
                d.compensation,
                crate::gating::CompensationRef::Uncompensated
            )
        })
    });
    let mut x = Exporter {
        ws_sample,
        fcs,
        compensates,
        plan: &plan.strategy,
        ids: HashMap::new(),
        used: BTreeMap::new(),
        gates: Vec::new(),
        markers: Vec::new(),
        notes: Vec::new(),
        description: Vec::new(),
    };
    x.check_compensation();
    for p in &plan.populations {
        if let Err(reason) = &p.status {
            x.notes.push(format!("{:?} left out: {reason}", p.path));
            continue;
        }
        let parent_id = match &p.parent {
            None => None,
            Some(pp) => match x.ids.get(pp) {
                Some(id) => Some(id.clone()),
                None => {
                    x.notes
                        .push(format!("{:?} left out: its parent was left out", p.path));
                    continue;
                }
            },
        };
        let pop = find(populations, &p.path);
        match pop.map(|pop| x.gate(pop, &p.path, parent_id.as_deref())) {
            Some(Ok(())) => {}
            Some(Err(reason)) => x.notes.push(format!("{:?} left out: {reason}", p.path)),
            None => {}
        }
    }
    let columns = x
        .ids
        .values()
        .filter(|id| !id.ends_with("__inside"))
        .map(|id| ColumnSpec {
            name: format!("count_{id}"),
            stat: Stat::Count(id.clone()),
        })
        .collect();
    let mut description = format!(
        "Exported by nkflow from FlowJo workspace sample {:?}. Populations (pipeline id = FlowJo path):",
        ws_sample.name
    );
    for d in &x.description {
        description.push_str("\n  ");
        description.push_str(d);
    }
    let pipeline = Pipeline {
        name: sanitize(name),
        description,
        panel: x
            .markers
            .iter()
            .map(|m| MarkerSpec {
                marker: m.clone(),
                aliases: Vec::new(),
                optional: false,
            })
            .collect(),
        compensation: if compensates {
            PipelineCompensation::File
        } else {
            PipelineCompensation::None
        },
        scales: BTreeMap::new(),
        gates: x.gates,
        absolute: None,
        columns,
        qc: Vec::new(),
        cluster: None,
        imported: BTreeMap::new(),
    };
    Export {
        pipeline,
        notes: x.notes,
    }
}

fn find<'a>(pops: &'a [Population], path: &str) -> Option<&'a Population> {
    let mut found = None;
    for p in pops {
        p.walk("", &mut |q, pop| {
            if q == path {
                found = Some(pop);
            }
        });
        if found.is_some() {
            break;
        }
    }
    found
}

/// Letters, digits, '_' and '-' only.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '_' | '-' => out.push(c),
            '+' => out.push_str("pos"),
            _ => {
                if !out.ends_with('_') {
                    out.push('_')
                }
            }
        }
    }
    let out = out.trim_matches('_').to_string();
    if out.is_empty() || out == "root" {
        format!("p_{out}")
    } else {
        out
    }
}

struct Exporter<'a> {
    ws_sample: &'a WspSample,
    fcs: &'a Sample,
    compensates: bool,
    plan: &'a crate::gating::GatingStrategy,
    /// FlowJo path → pipeline id.
    ids: HashMap<String, String>,
    used: BTreeMap<String, usize>,
    gates: Vec<GateSpec>,
    markers: Vec<String>,
    notes: Vec<String>,
    description: Vec<String>,
}

impl Exporter<'_> {
    fn check_compensation(&mut self) {
        let Compensation::Matrix(m) = &self.ws_sample.compensation else {
            return;
        };
        let file = Matrix::from_sample(self.fcs).ok().flatten();
        let same = file.as_ref().is_some_and(|f| {
            m.detectors.iter().enumerate().all(|(i, di)| {
                m.detectors.iter().enumerate().all(|(j, dj)| {
                    let (Some(fi), Some(fj)) = (
                        f.detectors().iter().position(|d| d == di),
                        f.detectors().iter().position(|d| d == dj),
                    ) else {
                        return false;
                    };
                    let n = f.detectors().len();
                    let fv = f.values().get(fi * n + fj).copied().unwrap_or(f64::NAN);
                    let wv = m
                        .rows
                        .get(i)
                        .and_then(|r| r.get(j))
                        .copied()
                        .unwrap_or(f64::NAN);
                    (fv - wv).abs() <= 1e-9 * fv.abs().max(1.0)
                })
            })
        });
        if !same {
            self.notes.push(format!(
                "the workspace matrix {:?} differs from the FCS file's spillover; the pipeline compensates with the file's (put the workspace matrix into the files or compare counts)",
                m.name
            ));
        }
    }

    fn new_id(&mut self, path: &str) -> String {
        let base = sanitize(path);
        let n = self.used.entry(base.clone()).or_insert(0);
        *n += 1;
        let id = if *n == 1 { base } else { format!("{base}_{n}") };
        self.ids.insert(path.to_string(), id.clone());
        id
    }

    fn marker(&mut self, channel: &str) -> String {
        if !self.markers.iter().any(|m| m == channel) {
            self.markers.push(channel.to_string());
        }
        channel.to_string()
    }

    fn push(&mut self, id: String, parent: Option<&str>, gate: GateKind) {
        self.gates.push(GateSpec {
            id,
            parent: parent.map(str::to_string),
            gate,
        });
    }

    fn gate(&mut self, pop: &Population, path: &str, parent: Option<&str>) -> Result<(), String> {
        // The engine strategy already resolved channels and compensation;
        // read the gate back from it.
        let engine = self
            .plan
            .gate(path)
            .ok_or_else(|| "not in the strategy".to_string())?
            .clone();
        let (shape_gate, complement) = match (&pop.gate, &engine.kind) {
            (PopulationGate::Gate(g), EngineGate::Boolean { operands, .. }) if !g.events_inside => {
                let inner = operands
                    .first()
                    .and_then(|o| self.plan.gate(&o.gate))
                    .cloned()
                    .ok_or_else(|| "complement without its shape".to_string())?;
                (inner, true)
            }
            _ => (engine, false),
        };
        let kind = match (&pop.gate, &shape_gate.kind) {
            (PopulationGate::Boolean { .. }, EngineGate::Boolean { op, operands }) => {
                let siblings: Option<Vec<String>> = operands
                    .iter()
                    .map(|o| {
                        let same_parent = self.plan.gate(&o.gate).and_then(|g| g.parent.clone())
                            == self.plan.gate(path).and_then(|g| g.parent.clone());
                        if same_parent {
                            self.ids.get(&o.gate).cloned()
                        } else {
                            None
                        }
                    })
                    .collect();
                let Some(of) = siblings else {
                    return Err("the pipeline's Boolean gates combine siblings only".into());
                };
                match op {
                    crate::gating::BoolOp::Not => GateKind::Not {
                        of: of.into_iter().next().unwrap_or_default(),
                    },
                    crate::gating::BoolOp::And => {
                        let rects = of.iter().all(|id| {
                            self.gates.iter().any(|g| {
                                &g.id == id && matches!(g.gate, GateKind::Rectangle { .. })
                            })
                        });
                        if !rects || of.len() < 2 {
                            return Err("the pipeline's `and` takes sibling rectangles only".into());
                        }
                        GateKind::And { of }
                    }
                    crate::gating::BoolOp::Or => return Err("the pipeline has no `or` gate".into()),
                }
            }
            (_, EngineGate::Rectangle { dimensions }) => GateKind::Rectangle {
                dims: dimensions
                    .iter()
                    .map(|d| FixedInterval {
                        marker: self.marker(d.dimension.name()),
                        min: d.min,
                        max: d.max,
                        compensated: !matches!(
                            d.dimension.compensation,
                            crate::gating::CompensationRef::Uncompensated
                        ),
                    })
                    .collect(),
            },
            (PopulationGate::Gate(g), EngineGate::Polygon { dimensions, .. })
            | (PopulationGate::Gate(g), EngineGate::Ellipsoid { dimensions, .. }) => {
                let [dx, dy] = dimensions.as_slice() else {
                    return Err("a 2-D gate without 2 dimensions".into());
                };
                let uncomp = |d: &crate::gating::Dimension| {
                    self.compensates
                        && matches!(
                            d.compensation,
                            crate::gating::CompensationRef::Uncompensated
                        )
                        && self.file_compensates(d.name())
                };
                if uncomp(dx) || uncomp(dy) {
                    return Err("a polygon on uncompensated fluorescence channels (the pipeline's polygons read compensated values)".into());
                }
                let tx = self.transform(dx.transform.as_deref());
                let ty = self.transform(dy.transform.as_deref());
                let vertices = match &g.shape {
                    GateShape::Polygon { vertices, .. } => {
                        let exact = tx.is_none() && ty.is_none()
                            || matches!((&tx, &ty), (a, b) if is_linear(a) && is_linear(b));
                        if !exact {
                            self.notes.push(format!(
                                "{path:?}: polygon edges on non-linear axes approximated by {EDGE_STEPS} pieces each"
                            ));
                        }
                        densify(vertices, &tx, &ty, if exact { 1 } else { EDGE_STEPS })
                    }
                    GateShape::Ellipse { foci, edges, .. } => {
                        let e = Ellipse::from_foci_and_edges(*foci, edges)?;
                        let sx = self.scale(dx.name(), &pop_channel(&g.shape, 0));
                        let sy = self.scale(dy.name(), &pop_channel(&g.shape, 1));
                        self.notes.push(format!(
                            "{path:?}: ellipse exported as a {ELLIPSE_VERTICES}-vertex polygon"
                        ));
                        ellipse_polygon(&e, &tx, &ty, sx, sy)
                    }
                    GateShape::Rectangle { .. } => return Err("unexpected shape".into()),
                };
                GateKind::Polygon {
                    x: self.marker(dx.name()),
                    y: self.marker(dy.name()),
                    vertices,
                }
            }
            _ => return Err("gate type not expressible in a pipeline".into()),
        };
        if complement {
            let inner = format!("{}__inside", sanitize(path));
            self.ids
                .insert(format!("{path}\u{1f}inside"), inner.clone());
            self.push(inner.clone(), parent, kind);
            let id = self.new_id(path);
            self.description.push(format!("{id} = {path}"));
            self.push(id, parent, GateKind::Not { of: inner });
        } else {
            let id = self.new_id(path);
            self.description.push(format!("{id} = {path}"));
            self.push(id, parent, kind);
        }
        Ok(())
    }

    /// True when the file's spillover compensates this channel (so the
    /// pipeline cannot read it uncompensated in a polygon).
    fn file_compensates(&self, pnn: &str) -> bool {
        Matrix::from_sample(self.fcs)
            .ok()
            .flatten()
            .is_some_and(|m| m.detectors().iter().any(|d| d == pnn))
    }

    fn transform(&self, id: Option<&str>) -> Option<Transform> {
        match self.plan.transform(id?).map(|d| &d.kind) {
            Some(TransformKind::Scale(t)) => Some(t.clone()),
            _ => None,
        }
    }

    /// Display units per engine transform unit for a FlowJo channel.
    fn scale(&self, _pnn: &str, flowjo_channel: &str) -> f64 {
        self.ws_sample
            .transform_for(flowjo_channel)
            .or_else(|| {
                flowjo_channel
                    .strip_prefix("Comp-")
                    .and_then(|b| self.ws_sample.transform_for(b))
            })
            .and_then(|t| engine_transform(t).ok())
            .map_or(256.0, |(_, s)| s)
    }
}

fn pop_channel(shape: &GateShape, k: usize) -> String {
    match shape {
        GateShape::Polygon { channels, .. } | GateShape::Ellipse { channels, .. } => {
            channels.get(k).cloned().unwrap_or_default()
        }
        GateShape::Rectangle { dims } => dims.get(k).map(|d| d.channel.clone()).unwrap_or_default(),
    }
}

fn is_linear(t: &Option<Transform>) -> bool {
    matches!(
        t,
        None | Some(Transform::Linear(_)) | Some(Transform::Flin(_))
    )
}

fn fwd(t: &Option<Transform>, v: f64) -> f64 {
    t.as_ref().map_or(v, |t| t.apply(v))
}

fn inv(t: &Option<Transform>, v: f64) -> f64 {
    t.as_ref().map_or(v, |t| t.inverse(v))
}

/// Polygon vertices in data units with each edge cut into `steps` pieces on
/// the display axes.
fn densify(
    vertices: &[[f64; 2]],
    tx: &Option<Transform>,
    ty: &Option<Transform>,
    steps: usize,
) -> Vec<(f64, f64)> {
    let n = vertices.len();
    let mut out = Vec::with_capacity(n * steps);
    for (i, a) in vertices.iter().enumerate() {
        let b = vertices.get((i + 1) % n).unwrap_or(a);
        out.push((a[0], a[1]));
        if steps > 1 {
            let (ax, ay, bx, by) = (fwd(tx, a[0]), fwd(ty, a[1]), fwd(tx, b[0]), fwd(ty, b[1]));
            for k in 1..steps {
                let f = k as f64 / steps as f64;
                out.push((inv(tx, ax + f * (bx - ax)), inv(ty, ay + f * (by - ay))));
            }
        }
    }
    out
}

/// The ellipse (display units) as a polygon in data units.
fn ellipse_polygon(
    e: &Ellipse,
    tx: &Option<Transform>,
    ty: &Option<Transform>,
    sx: f64,
    sy: f64,
) -> Vec<(f64, f64)> {
    let [ux, uy] = e.major;
    (0..ELLIPSE_VERTICES)
        .map(|k| {
            let t = std::f64::consts::TAU * k as f64 / ELLIPSE_VERTICES as f64;
            let (c, s) = (t.cos(), t.sin());
            let dx = e.center[0] + e.a * c * ux - e.b * s * uy;
            let dy = e.center[1] + e.a * c * uy + e.b * s * ux;
            (inv(tx, dx / sx), inv(ty, dy / sy))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_gating_ml_safe() {
        assert_eq!(
            sanitize("Q1: channel_A- , channel_B+"),
            "Q1_channel_A-_channel_Bpos"
        );
        assert_eq!(sanitize("Cells/CD3+ T"), "Cells_CD3pos_T");
        assert_eq!(sanitize("root"), "p_root");
        assert_eq!(sanitize("//"), "p_");
    }
}
