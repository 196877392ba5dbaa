//! Evaluating a [`GatingStrategy`] on events.
//!
//! Data flow, once per sample:
//! 1. each compensation the gates use is applied once (a compensated
//!    [`EventMatrix`] per matrix);
//! 2. each distinct dimension — (compensation, channel or ratio, transform) —
//!    becomes one column, shared by every gate that reads it; an untransformed
//!    column is borrowed, not copied;
//! 3. gates run in dependency order, each writing its own test as a bitset
//!    and ANDing its parent's population (Boolean gates combine their
//!    operands' full populations).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;

use crate::compensation::Matrix;
use crate::matrix::EventMatrix;
use crate::sample::{Sample, Scale};

use super::bitset::Bitset;
use super::gate::{BoolOp, CompensationRef, Dimension, DimensionSource, Gate, GateKind};
use super::geometry::{self, Bounds, Polygon};
use super::results::{GatingResults, PopulationResult};
use super::strategy::{GatingStrategy, TransformDef, TransformKind};
use super::GatingError;

/// Values per rayon task when transforming a column.
const TRANSFORM_CHUNK: usize = 32 * 1024;

impl GatingStrategy {
    /// Gates a sample. Raw events are brought to FCS scale first — only the
    /// channels the gates (and their compensation) read are converted, into a
    /// new matrix; scaled events are used in place. `FCS` compensation uses
    /// the sample's spillover keyword, and is no compensation when it has none.
    pub fn gate_sample(&self, sample: &Sample) -> Result<GatingResults, GatingError> {
        let spill = Matrix::from_sample(sample).map_err(|source| GatingError::Spillover {
            file: sample.source.clone(),
            source,
        })?;
        match sample.scale {
            Scale::Fcs => self.gate_events(&sample.events, spill.as_ref()),
            Scale::Raw => {
                let scaled = self.scaled_subset(sample, spill.as_ref());
                self.gate_events(&scaled, spill.as_ref())
            }
        }
    }

    /// Gates events that are already in FCS scale units. `spillover` is the
    /// file's own matrix for the `FCS` compensation reference (`None`: the
    /// file has none, and `FCS` means uncompensated).
    pub fn gate_events(
        &self,
        events: &EventMatrix,
        spillover: Option<&Matrix>,
    ) -> Result<GatingResults, GatingError> {
        self.gate_events_with(events, spillover, None)
    }

    /// As [`GatingStrategy::gate_events`], with the `FCS`-compensated events
    /// already at hand (`fcs_compensated`, used when `spillover` is given):
    /// a caller that compensated the file itself need not pay for it twice.
    /// Its columns are looked up by name like the ones `spillover.compensate`
    /// would make, so it must hold the same values for every detector (the
    /// in-place and out-of-place compensations agree bit for bit); columns
    /// outside the matrix may be present and must equal `events`' ones.
    pub fn gate_events_with(
        &self,
        events: &EventMatrix,
        spillover: Option<&Matrix>,
        fcs_compensated: Option<&EventMatrix>,
    ) -> Result<GatingResults, GatingError> {
        let order = self.validate()?;
        let n = events.n_events();

        // 1. Compensations, each once.
        let mut comp_refs: BTreeSet<CompensationRef> = BTreeSet::new();
        for g in self.gates() {
            for d in g.dimensions() {
                comp_refs.insert(canonical(&d.compensation, spillover));
            }
        }
        let mut compensated: HashMap<CompensationRef, Cow<'_, EventMatrix>> = HashMap::new();
        for c in comp_refs {
            let (id, matrix) = match &c {
                CompensationRef::Uncompensated => continue,
                CompensationRef::Fcs => match (spillover, fcs_compensated) {
                    (Some(_), Some(done)) => {
                        compensated.insert(c, Cow::Borrowed(done));
                        continue;
                    }
                    (Some(m), None) => ("FCS", m),
                    (None, _) => continue,
                },
                CompensationRef::Matrix(id) => match self.matrix(id) {
                    Some(m) => (id.as_str(), m),
                    None => continue, // validate() has reported it
                },
            };
            let out = matrix
                .compensate(events)
                .map_err(|source| GatingError::Compensation {
                    matrix: id.to_string(),
                    source,
                })?;
            compensated.insert(c, Cow::Owned(out));
        }
        let ctx = ColumnContext {
            events,
            spillover,
            compensated: &compensated,
            strategy: self,
        };

        // 2. Distinct dimensions, each once.
        let mut columns: HashMap<Dimension, Cow<'_, [f64]>> = HashMap::new();
        for g in self.gates() {
            for d in g.dimensions() {
                let key = canonical_dimension(d, spillover);
                if let std::collections::hash_map::Entry::Vacant(slot) = columns.entry(key) {
                    let col = ctx.column(&g.id, slot.key())?;
                    slot.insert(col);
                }
            }
        }
        let column = |d: &Dimension| -> &[f64] {
            columns
                .get(&canonical_dimension(d, spillover))
                .map_or(&[][..], |c| c.as_ref())
        };

        // 3. Gates in dependency order.
        let mut full: HashMap<&str, Bitset> = HashMap::new();
        for &gi in &order {
            let Some(g) = self.gates().get(gi) else {
                continue;
            };
            let own = own_tests(g, &column, &full, n)?;
            let ids = g.population_ids();
            for (id, mut bits) in ids.into_iter().zip(own) {
                if let Some(p) = g.parent.as_deref().and_then(|p| full.get(p)) {
                    bits.and_assign(p);
                }
                full.insert(id, bits);
            }
        }

        // Results in tree order.
        let mut out = Vec::new();
        let mut depth: HashMap<&str, usize> = HashMap::new();
        for id in self.population_ids() {
            let (Some(g), Some(bits)) = (self.gate_of_population(id), full.remove(id)) else {
                continue;
            };
            let parent = g.parent.clone();
            let d = parent
                .as_deref()
                .and_then(|p| depth.get(p))
                .map_or(0, |d| d + 1);
            depth.insert(id, d);
            let parent_count = parent
                .as_deref()
                .and_then(|p| out.iter().find(|r: &&PopulationResult| r.id == p))
                .map_or(n, |r| r.count);
            out.push(PopulationResult {
                id: id.to_string(),
                gate_id: g.id.clone(),
                gate_type: g.type_name(),
                parent,
                depth: d,
                count: bits.count(),
                parent_count,
                membership: bits,
            });
        }
        Ok(GatingResults::new(n, out))
    }

    /// A scaled copy of only the raw channels the gates need: every channel a
    /// dimension or ratio names, plus the detectors of every compensation used.
    fn scaled_subset(&self, sample: &Sample, spillover: Option<&Matrix>) -> EventMatrix {
        let mut wanted: BTreeSet<&str> = BTreeSet::new();
        let mut uses_fcs = false;
        let mut matrices: Vec<&Matrix> = Vec::new();
        for g in self.gates() {
            for d in g.dimensions() {
                match &d.source {
                    DimensionSource::Channel(c) => {
                        wanted.insert(c);
                    }
                    DimensionSource::Ratio(t) => {
                        if let Some(TransformKind::Ratio { x, y, .. }) =
                            self.transform(t).map(|t| &t.kind)
                        {
                            wanted.insert(x);
                            wanted.insert(y);
                        }
                    }
                }
                match &d.compensation {
                    CompensationRef::Uncompensated => {}
                    CompensationRef::Fcs => uses_fcs = true,
                    CompensationRef::Matrix(id) => matrices.extend(self.matrix(id)),
                }
            }
        }
        if uses_fcs {
            matrices.extend(spillover);
        }
        for m in &matrices {
            wanted.extend(m.detectors().iter().map(String::as_str));
        }
        let timestep = sample.timestep();
        let picked: Vec<usize> = wanted
            .iter()
            .filter_map(|name| sample.events.index_of(name))
            .collect();
        let names = picked
            .iter()
            .map(|&j| sample.events.names()[j].clone())
            .collect();
        let mut out = EventMatrix::zeros(names, sample.n_events());
        for (k, &j) in picked.iter().enumerate() {
            let src = sample.events.column(j);
            let dst = out.column_mut(k);
            dst.copy_from_slice(src);
            if let Some(ch) = sample.channels.get(j) {
                ch.scale_column(timestep, dst);
            }
        }
        out
    }
}

/// `FCS` on a file without spillover is plain `uncompensated`, so both share
/// columns.
fn canonical(c: &CompensationRef, spillover: Option<&Matrix>) -> CompensationRef {
    match c {
        CompensationRef::Fcs if spillover.is_none() => CompensationRef::Uncompensated,
        other => other.clone(),
    }
}

fn canonical_dimension(d: &Dimension, spillover: Option<&Matrix>) -> Dimension {
    Dimension {
        source: d.source.clone(),
        compensation: canonical(&d.compensation, spillover),
        transform: d.transform.clone(),
    }
}

/// What building one dimension's column needs.
struct ColumnContext<'a> {
    events: &'a EventMatrix,
    spillover: Option<&'a Matrix>,
    compensated: &'a HashMap<CompensationRef, Cow<'a, EventMatrix>>,
    strategy: &'a GatingStrategy,
}

impl<'a> ColumnContext<'a> {
    /// The values of `channel` after compensation `comp`: the compensated
    /// column when the compensation produces one by that name, else the
    /// scaled column (channels outside a matrix, such as scatter and Time,
    /// are not compensated).
    fn base(
        &self,
        gate: &str,
        comp: &CompensationRef,
        channel: &str,
    ) -> Result<&'a [f64], GatingError> {
        let key = canonical(comp, self.spillover);
        if let Some(c) = self
            .compensated
            .get(&key)
            .and_then(|m| m.column_by_name(channel))
        {
            return Ok(c);
        }
        self.events.column_by_name(channel).ok_or_else(|| {
            let mut available: Vec<&str> = self.events.names().iter().map(String::as_str).collect();
            if let Some(m) = self.compensated.get(&key) {
                available.extend(m.names().iter().map(String::as_str));
            }
            GatingError::UnknownChannel {
                gate: gate.to_string(),
                channel: channel.to_string(),
                compensation: comp.as_str().to_string(),
                available: available.join(", "),
            }
        })
    }

    /// One dimension's final column.
    fn column(&self, gate: &str, d: &Dimension) -> Result<Cow<'a, [f64]>, GatingError> {
        let unknown = |t: &str| GatingError::UnknownTransform {
            gate: gate.to_string(),
            transform: t.to_string(),
        };
        let mut col: Cow<'a, [f64]> = match &d.source {
            DimensionSource::Channel(c) => Cow::Borrowed(self.base(gate, &d.compensation, c)?),
            DimensionSource::Ratio(t) => {
                let def = self.strategy.transform(t).ok_or_else(|| unknown(t))?;
                let TransformKind::Ratio { ratio, x, y } = &def.kind else {
                    return Err(GatingError::NotARatio {
                        gate: gate.to_string(),
                        transform: t.clone(),
                    });
                };
                // The dimension's compensation applies to the ratio's inputs,
                // before the ratio (Gating-ML 2.0: `compensation-ref` is
                // required on every dimension, new-dimensions included; its
                // reference implementation flowUtils compensates numerator
                // and denominator). FlowKit 1.3 reads raw inputs whatever the
                // reference — a deviation tests/gating_flowkit_ratio.rs pins.
                let xs = self.base(gate, &d.compensation, x)?;
                let ys = self.base(gate, &d.compensation, y)?;
                let mut out = vec![0.0; xs.len()];
                out.par_chunks_mut(TRANSFORM_CHUNK)
                    .zip(
                        xs.par_chunks(TRANSFORM_CHUNK)
                            .zip(ys.par_chunks(TRANSFORM_CHUNK)),
                    )
                    .for_each(|(o, (xc, yc))| {
                        for ((o, &a), &b) in o.iter_mut().zip(xc).zip(yc) {
                            *o = def.bound(ratio.apply(a, b));
                        }
                    });
                Cow::Owned(out)
            }
        };
        if let Some(t) = &d.transform {
            let def = self.strategy.transform(t).ok_or_else(|| unknown(t))?;
            let mut owned = col.into_owned();
            apply_transform(def, &mut owned);
            col = Cow::Owned(owned);
        }
        Ok(col)
    }
}

/// Applies a scale transform (itself chunked over rayon) and its bounds.
fn apply_transform(def: &TransformDef, values: &mut [f64]) {
    if let TransformKind::Scale(t) = &def.kind {
        t.apply_slice(values);
        if def.bound_min.is_some() || def.bound_max.is_some() {
            values.iter_mut().for_each(|v| *v = def.bound(*v));
        }
    }
}

/// A gate's own tests, one bitset per population it defines (parents not yet
/// applied; Boolean operands are full populations already).
fn own_tests<'c>(
    g: &Gate,
    column: &dyn Fn(&Dimension) -> &'c [f64],
    full: &HashMap<&str, Bitset>,
    n: usize,
) -> Result<Vec<Bitset>, GatingError> {
    Ok(match &g.kind {
        GateKind::Rectangle { dimensions } => {
            let cols: Vec<&[f64]> = dimensions.iter().map(|r| column(&r.dimension)).collect();
            let bounds: Vec<Bounds> = dimensions
                .iter()
                .map(|r| Bounds::new(r.min, r.max))
                .collect();
            vec![geometry::rectangle(&cols, &bounds, n)]
        }
        GateKind::Polygon {
            dimensions,
            vertices,
        } => {
            let (Some(dx), Some(dy)) = (dimensions.first(), dimensions.get(1)) else {
                return Err(GatingError::InvalidGate {
                    gate: g.id.clone(),
                    reason: "a polygon gate needs exactly 2 dimensions".into(),
                });
            };
            let poly = Polygon::new(vertices);
            vec![geometry::polygon(column(dx), column(dy), &poly, n)]
        }
        GateKind::Ellipsoid {
            dimensions,
            mean,
            covariance,
            distance_square,
        } => {
            let inverse = geometry::invert(covariance).ok_or_else(|| GatingError::InvalidGate {
                gate: g.id.clone(),
                reason: "the covariance matrix is singular".into(),
            })?;
            let flat: Vec<f64> = inverse.into_iter().flatten().collect();
            let cols: Vec<&[f64]> = dimensions.iter().map(column).collect();
            vec![geometry::ellipsoid(&cols, mean, &flat, *distance_square, n)]
        }
        GateKind::Quadrant {
            dividers,
            quadrants,
        } => quadrants
            .iter()
            .map(|q| {
                let mut cols = Vec::new();
                let mut bounds = Vec::new();
                for (div_id, loc) in &q.positions {
                    if let Some(div) = dividers.iter().find(|d| &d.id == div_id) {
                        let (lo, hi) = div.interval(*loc);
                        cols.push(column(&div.dimension));
                        bounds.push(Bounds::new(lo, hi));
                    }
                }
                geometry::rectangle(&cols, &bounds, n)
            })
            .collect(),
        GateKind::Boolean { op, operands } => {
            vec![boolean_test(&g.id, *op, operands, &|id| full.get(id), n)?]
        }
    })
}

/// A Boolean gate's own test (its parent not applied): the operands' full
/// populations (each complemented when `use-as-complement`), combined by
/// `op`; `not` negates its one operand. `full` gives a population's full
/// membership by id. Public so that a caller holding the operands'
/// populations itself (the pipeline's imported Boolean gates) combines them
/// with this very kernel.
pub fn boolean_test<'b>(
    gate: &str,
    op: BoolOp,
    operands: &[super::gate::Operand],
    full: &dyn Fn(&str) -> Option<&'b Bitset>,
    n: usize,
) -> Result<Bitset, GatingError> {
    let mut acc: Option<Bitset> = None;
    for o in operands {
        let mut bits =
            full(o.gate.as_str())
                .cloned()
                .ok_or_else(|| GatingError::MissingReference {
                    gate: gate.to_string(),
                    reference: o.gate.clone(),
                })?;
        if o.complement {
            bits.not_assign();
        }
        acc = Some(match (acc, op) {
            (None, _) => bits,
            (Some(mut a), BoolOp::Or) => {
                a.or_assign(&bits);
                a
            }
            (Some(mut a), _) => {
                a.and_assign(&bits);
                a
            }
        });
    }
    let mut bits = acc.unwrap_or_else(|| Bitset::zeros(n));
    if op == BoolOp::Not {
        bits.not_assign();
    }
    Ok(bits)
}
