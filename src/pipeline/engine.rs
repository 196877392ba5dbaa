//! Runs a pipeline's gate tree on one sample: every data-driven gate is
//! resolved on its parent's events into a fixed gate, and every population's
//! membership is evaluated from those fixed gates.
//!
//! The order is the tree order of the definition, so a gate always sees its
//! parent's final membership; the result is a pure function of the sample
//! (no thread count or batch dependence).

use std::collections::BTreeMap;

use serde::Serialize;

use super::adaptive::{self, FlowRate, RatioBand, Threshold};
use super::definition::{Compensation, GateKind, Pipeline, Side, ROOT};
use super::panel::{self, ResolvedPanel};
use super::resolved::{in_interval, in_polygon, Dim, GateData, Interval, ResolvedGate};
use super::scale::{forward_sorted, Axis, AxisScale};
use crate::gating::Bitset;
use crate::{Channel, EventMatrix, Sample};

/// Why a sample could not be gated.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Panel(#[from] panel::PanelError),
    #[error("compensation: {0}")]
    Compensation(#[from] crate::compensation::CompensationError),
    #[error("gate {gate:?}: {message}")]
    Gate { gate: String, message: String },
    #[error("gating engine: {0}")]
    Engine(#[from] crate::gating::GatingError),
    #[error("gating engine and pipeline disagree on population {population:?}: {engine} vs {pipeline} events")]
    Mismatch {
        population: String,
        engine: usize,
        pipeline: usize,
    },
}

/// The compensation actually used, for run.json.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompensationUsed {
    /// Keyword it came from.
    pub keyword: String,
    pub fluorochromes: Vec<String>,
    pub detectors: Vec<String>,
    /// Spillover values, row-major.
    pub values: Vec<f64>,
}

/// What the data-driven part of a gate found (for run.json and the report).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GateDetail {
    /// Per dimension: marker, axis, threshold and peaks in axis units.
    Thresholds {
        dims: Vec<ThresholdDetail>,
    },
    Singlets {
        band: RatioBand,
    },
    FlowRate {
        profile: FlowRate,
    },
    PeakRegion {
        x_axis: Axis,
        y_axis: Axis,
    },
    Fixed,
}

/// One threshold as found on its density axis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdDetail {
    pub marker: String,
    pub axis: Axis,
    /// Threshold and peaks in axis units.
    pub found: Threshold,
    /// Threshold in data units (what the gate uses).
    pub data_value: f64,
}

/// One population of one sample.
#[derive(Debug, Clone)]
pub struct Population {
    pub id: String,
    /// Parent id (`None` for the root).
    pub parent: Option<String>,
    /// The gate in data units (`None` for the root).
    pub gate: Option<ResolvedGate>,
    pub detail: Option<GateDetail>,
    /// Event membership (full population, parents included).
    pub members: Vec<bool>,
    pub count: usize,
}

/// A sample after gating: the events (FCS scale, uncompensated and
/// compensated), the panel and every population.
#[derive(Debug)]
pub struct Gated {
    pub panel: ResolvedPanel,
    /// The file's channels (`$Pn…`), column `j` of the matrices is `channels[j]`.
    pub channels: Vec<Channel>,
    pub compensation: Option<CompensationUsed>,
    pub uncompensated: EventMatrix,
    pub compensated: EventMatrix,
    pub axes: BTreeMap<String, Axis>,
    /// Root first, then the pipeline's gates in order.
    pub populations: Vec<Population>,
    /// Gates that fell back because no valley was found (`gate:marker`).
    pub fallbacks: Vec<String>,
    /// The spillover matrix applied (`FCS` compensation of the gates).
    pub matrix: Option<crate::compensation::Matrix>,
    /// Gates not applied to this file, with the reason: a gate that needs an
    /// optional marker the file lacks, and every gate below or built from
    /// it. Their populations are absent (their columns empty).
    pub skipped: Vec<(String, String)>,
}

impl Gated {
    /// The population with this id.
    pub fn population(&self, id: &str) -> Option<&Population> {
        self.populations.iter().find(|p| p.id == id)
    }

    /// A marker's compensated values.
    pub fn marker_values(&self, marker: &str) -> Option<&[f64]> {
        let r = self.panel.get(marker)?;
        Some(self.compensated.column(r.index))
    }
}

impl GateData for Gated {
    fn values(&self, dim: &Dim) -> Option<&[f64]> {
        let m = if dim.compensated {
            &self.compensated
        } else {
            &self.uncompensated
        };
        m.column_by_name(&dim.channel)
    }

    fn engine_inputs(&self) -> Option<(&EventMatrix, Option<&crate::compensation::Matrix>)> {
        Some((&self.uncompensated, self.matrix.as_ref()))
    }
}

/// Evaluates a fixed gate's own test on every event (parents not applied).
/// `siblings` gives the own test of already evaluated gates, for `Not`.
pub fn own_test(
    gate: &ResolvedGate,
    data: &dyn GateData,
    n: usize,
    populations: &[Population],
) -> Result<Vec<bool>, String> {
    let col = |d: &Dim| {
        data.values(d)
            .ok_or_else(|| format!("channel {:?} is not in the file", d.channel))
    };
    Ok(match gate {
        ResolvedGate::Rectangle { intervals } => {
            let mut keep = vec![true; n];
            for iv in intervals {
                let v = col(&iv.dim)?;
                for (k, x) in keep.iter_mut().zip(v) {
                    *k = *k && in_interval(*x, iv.min, iv.max);
                }
            }
            keep
        }
        ResolvedGate::Polygon { x, y, vertices } => {
            let (xs, ys) = (col(x)?, col(y)?);
            xs.iter()
                .zip(ys)
                .map(|(a, b)| in_polygon(*a, *b, vertices))
                .collect()
        }
        ResolvedGate::AnyOf { parts } => {
            let mut keep = vec![false; n];
            for p in parts {
                for (k, m) in keep.iter_mut().zip(own_test(p, data, n, populations)?) {
                    *k = *k || m;
                }
            }
            keep
        }
        ResolvedGate::Not { of } => {
            let p = populations
                .iter()
                .find(|p| &p.id == of)
                .ok_or_else(|| format!("Not refers to unknown population {of:?}"))?;
            p.members.iter().map(|m| !m).collect()
        }
        ResolvedGate::Gatingml(ig) => {
            if let crate::gating::GateKind::Boolean { op, operands } = &ig.kind {
                // The operands are populations of this pipeline (imported
                // from the same subtree): their full memberships, parents
                // included, combined by the gating engine's own Boolean
                // kernel; `members` then ANDs the parent, as the engine
                // does. So the population is what `nkflow gate` computes
                // from gates/<file>.xml, where the gate references them.
                let full: BTreeMap<&str, Bitset> = operands
                    .iter()
                    .filter_map(|o| {
                        let p = populations.iter().find(|p| p.id == o.gate)?;
                        Some((o.gate.as_str(), Bitset::from_bools(&p.members)))
                    })
                    .collect();
                let bits =
                    crate::gating::boolean_test(&ig.xml_id, *op, operands, &|id| full.get(id), n)
                        .map_err(|e| format!("{} gate {:?}: {e}", ig.file, ig.xml_id))?;
                return Ok(bits.to_bools());
            }
            let (events, spill) = data
                .engine_inputs()
                .ok_or_else(|| "no events for the gating engine".to_string())?;
            let err =
                |e: crate::gating::GatingError| format!("{} gate {:?}: {e}", ig.file, ig.xml_id);
            let r = ig
                .strategy(&ig.xml_id)
                .and_then(|s| s.gate_events(events, spill))
                .map_err(err)?;
            let m = r
                .membership(&ig.xml_id)
                .ok_or_else(|| format!("{} gate {:?}: no result", ig.file, ig.xml_id))?;
            (0..n).map(|i| m.get(i)).collect()
        }
    })
}

/// A fixed gate's population: its own test ANDed with the parent's
/// membership (`parent`), the same as `own_test` & `parent` but without
/// the intermediate vector, and testing polygons on the parent's members
/// only.
pub fn members(
    gate: &ResolvedGate,
    data: &dyn GateData,
    parent: &[bool],
    populations: &[Population],
) -> Result<Vec<bool>, String> {
    let col = |d: &Dim| {
        data.values(d)
            .ok_or_else(|| format!("channel {:?} is not in the file", d.channel))
    };
    let mut keep = parent.to_vec();
    match gate {
        ResolvedGate::Rectangle { intervals } => {
            for iv in intervals {
                and_interval(&mut keep, col(&iv.dim)?, iv.min, iv.max);
            }
        }
        ResolvedGate::Polygon { x, y, vertices } => {
            // The gating engine's kernel, so that the pipeline's members are
            // the ones `nkflow gate` computes from gates/<file>.xml by
            // construction, boundary events included.
            let poly = crate::gating::geometry::Polygon::new(vertices);
            let n = keep.len();
            and_bits(
                &mut keep,
                &crate::gating::geometry::polygon(col(x)?, col(y)?, &poly, n),
            );
        }
        ResolvedGate::Not { of } => {
            let p = populations
                .iter()
                .find(|p| &p.id == of)
                .ok_or_else(|| format!("Not refers to unknown population {of:?}"))?;
            for (k, m) in keep.iter_mut().zip(&p.members) {
                *k &= !m;
            }
        }
        ResolvedGate::AnyOf { .. } | ResolvedGate::Gatingml(_) => {
            let own = own_test(gate, data, parent.len(), populations)?;
            for (k, m) in keep.iter_mut().zip(own) {
                *k &= m;
            }
        }
    }
    Ok(keep)
}

crate::simd::multiversion! {
    /// `keep[i] &= in_interval(values[i], min, max)`, one branch-free loop per
    /// kind of bound so that it vectorises.
    fn and_interval(keep: &mut [bool], values: &[f64], min: Option<f64>, max: Option<f64>) {
        let pairs = keep.iter_mut().zip(values);
        match (min, max) {
            (Some(lo), Some(hi)) => pairs.for_each(|(k, &x)| *k &= (x >= lo) & (x < hi)),
            (Some(lo), None) => pairs.for_each(|(k, &x)| *k &= x >= lo),
            (None, Some(hi)) => pairs.for_each(|(k, &x)| *k &= x < hi),
            (None, None) => pairs.for_each(|(k, &x)| *k &= !x.is_nan()),
        }
    }
}

crate::simd::multiversion! {
    /// `keep[i] &= bits[i]`.
    fn and_bits(keep: &mut [bool], bits: &Bitset) {
        for (flags, &w) in keep.chunks_mut(64).zip(bits.words()) {
            for (j, k) in flags.iter_mut().enumerate() {
                *k &= (w >> j) & 1 == 1;
            }
        }
    }
}

/// Scales, resolves the panel, compensates and gates one sample.
///
/// `overrides` are panel overrides (marker → channel). The sample may be raw
/// or already scaled.
pub fn gate_sample(
    pipeline: &Pipeline,
    mut sample: Sample,
    overrides: &BTreeMap<String, String>,
) -> Result<Gated, EngineError> {
    sample.apply_scale();
    let panel = panel::resolve(&pipeline.panel, &sample.channels, overrides)?;
    let mut compensation = None;
    let matrix = match pipeline.compensation {
        Compensation::File => crate::compensation::Matrix::from_sample(&sample)?,
        Compensation::None => None,
    };
    let keyword = sample.spillover_text().map(|(k, _)| k.to_string());
    let Sample {
        events, channels, ..
    } = sample;
    let uncompensated = events.clone();
    let mut compensated = events;
    if let Some(m) = &matrix {
        m.compensate_in_place_with_channels(&mut compensated, &channels)?;
        compensation = Some(CompensationUsed {
            keyword: keyword.unwrap_or_default(),
            fluorochromes: m.fluorochromes().to_vec(),
            detectors: m.detectors().to_vec(),
            values: m.values().to_vec(),
        });
    }
    let n = compensated.n_events();
    let mut g = Gated {
        panel,
        channels,
        compensation,
        uncompensated,
        compensated,
        axes: BTreeMap::new(),
        populations: vec![Population {
            id: ROOT.to_string(),
            parent: None,
            gate: None,
            detail: None,
            members: vec![true; n],
            count: n,
        }],
        fallbacks: Vec::new(),
        matrix,
        skipped: Vec::new(),
    };
    for spec in &pipeline.gates {
        let gate_err = |message: String| EngineError::Gate {
            gate: spec.id.clone(),
            message,
        };
        // A gate that needs an absent optional marker is skipped, and so is
        // every gate that depends on a skipped one: the file simply lacks
        // that measurement (its columns stay empty), which is not an error.
        if let Some(reason) = skip_reason(pipeline, spec, &g) {
            g.skipped.push((spec.id.clone(), reason));
            continue;
        }
        let parent_idx = g
            .populations
            .iter()
            .position(|p| p.id == spec.parent_id())
            .ok_or_else(|| gate_err(format!("parent {:?} not found", spec.parent_id())))?;
        let (gate, detail) = match &spec.gate {
            GateKind::Gatingml { .. } => {
                let ig = pipeline.imported.get(&spec.id).ok_or_else(|| {
                    gate_err("its Gating-ML file was not loaded (load pipelines with Pipeline::from_file or from_json)".into())
                })?;
                (
                    ResolvedGate::Gatingml(Box::new(ig.for_panel(&g.panel))),
                    None,
                )
            }
            kind => {
                let mut axes = std::mem::take(&mut g.axes);
                let r = resolve_gate(pipeline, &g, &mut axes, kind, parent_idx);
                g.axes = axes;
                r.map_err(gate_err)?
            }
        };
        if let Some(GateDetail::Thresholds { dims }) = &detail {
            for d in dims.iter().filter(|d| !d.found.valley_found) {
                g.fallbacks.push(format!("{}:{}", spec.id, d.marker));
            }
        }
        let parent = &g.populations[parent_idx].members;
        let members = members(&gate, &g, parent, &g.populations).map_err(gate_err)?;
        let count = members.iter().map(|&m| usize::from(m)).sum();
        g.populations.push(Population {
            id: spec.id.clone(),
            parent: Some(spec.parent_id().to_string()),
            gate: Some(gate),
            detail: Some(detail.unwrap_or(GateDetail::Fixed)),
            members,
            count,
        });
    }
    evaluate_with_engine(&g)?;
    Ok(g)
}

/// Why `spec` cannot be applied to this file, if it cannot: an optional
/// marker it reads is absent, or a population it depends on (parent,
/// threshold reference, `and`/`not` operand, imported Boolean operand) was
/// skipped.
fn skip_reason(
    pipeline: &Pipeline,
    spec: &super::definition::GateSpec,
    g: &Gated,
) -> Option<String> {
    if let Some(m) = spec
        .gate
        .markers()
        .into_iter()
        .find(|m| !g.panel.contains_key(*m))
    {
        return Some(format!("optional marker {m:?} is not in this file's panel"));
    }
    let mut deps: Vec<&str> = vec![spec.parent_id()];
    match &spec.gate {
        GateKind::And { of } => deps.extend(of.iter().map(String::as_str)),
        GateKind::Not { of } => deps.push(of),
        GateKind::Threshold { dims } => {
            deps.extend(dims.iter().filter_map(|d| d.reference.as_deref()))
        }
        // An imported Boolean gate's operands.
        GateKind::Gatingml { .. } => {
            if let Some(crate::gating::GateKind::Boolean { operands, .. }) =
                pipeline.imported.get(&spec.id).map(|ig| &ig.kind)
            {
                deps.extend(operands.iter().map(|o| o.gate.as_str()));
            }
        }
        _ => {}
    }
    deps.into_iter()
        .find(|d| g.skipped.iter().any(|(id, _)| id == d))
        .map(|d| format!("it depends on {d:?}, which was skipped"))
}

/// The applied gates of a gated sample, in tree order (root excluded).
pub fn applied_gates(g: &Gated) -> Vec<crate::pipeline::result::AppliedGate> {
    g.populations
        .iter()
        .filter_map(|pop| {
            Some(crate::pipeline::result::AppliedGate {
                id: pop.id.clone(),
                parent: pop.parent.clone(),
                gate: pop.gate.clone()?,
                detail: pop.detail.clone(),
            })
        })
        .collect()
}

/// Re-evaluates every population with the gating engine from the resolved
/// fixed gates (the strategy that gates/<file>.xml holds). The pipeline's
/// own evaluation (needed while resolving, since each gate's threshold
/// depends on its parent) must agree with the engine event for event, so
/// the reported memberships are the engine's; a disagreement is an error
/// rather than a silently different count.
fn evaluate_with_engine(g: &Gated) -> Result<(), EngineError> {
    let strategy = super::export::to_strategy(&applied_gates(g))?;
    // The events are compensated already (the same kernel, so the same
    // bits): the engine borrows them instead of compensating a second time.
    let results =
        strategy.gate_events_with(&g.uncompensated, g.matrix.as_ref(), Some(&g.compensated))?;
    for pop in g.populations.iter().skip(1) {
        let Some(r) = results.get(&pop.id) else {
            return Err(EngineError::Mismatch {
                population: pop.id.clone(),
                engine: 0,
                pipeline: pop.count,
            });
        };
        if r.count != pop.count || !same_members(&r.membership, &pop.members) {
            return Err(EngineError::Mismatch {
                population: pop.id.clone(),
                engine: r.count,
                pipeline: pop.count,
            });
        }
    }
    Ok(())
}

/// True when the engine's bits and the pipeline's flags mark the same
/// events (compared a word of 64 events at a time).
fn same_members(bits: &crate::gating::Bitset, members: &[bool]) -> bool {
    bits.len() == members.len()
        && bits.words() == crate::gating::Bitset::from_bools(members).words()
}

/// The finite values of a column restricted to a population, sorted
/// ascending (by `f64::total_cmp`).
fn sorted_subset(values: &[f64], members: &[bool]) -> Vec<f64> {
    let mut v = compact(values, members, true);
    super::density::sort_total(&mut v);
    v
}

/// The values of a column restricted to a population.
fn subset(values: &[f64], members: &[bool]) -> Vec<f64> {
    compact(values, members, false)
}

/// The values whose flag is set (and, with `finite_only`, that are finite),
/// in order: every data-driven gate starts by taking its parent's values of
/// a column.
fn compact(values: &[f64], members: &[bool], finite_only: bool) -> Vec<f64> {
    #[cfg(target_arch = "x86_64")]
    match crate::simd::tier() {
        // SAFETY: the tier is reported only when the CPU has AVX-512.
        crate::simd::Tier::Avx512 => {
            return unsafe { compact512::compact(values, members, finite_only) }
        }
        // SAFETY: the tier is reported only when the CPU has AVX2.
        crate::simd::Tier::Avx2 => return unsafe { compact_avx2(values, members, finite_only) },
        crate::simd::Tier::Portable => {}
    }
    compact_scalar(values, members, finite_only)
}

/// For each 4-bit keep mask, the 32-bit lane indices that move the kept
/// doubles of a 256-bit register to its front (AVX2 has no compress).
#[cfg(target_arch = "x86_64")]
const COMPRESS4: [[i32; 8]; 16] = {
    let mut lut = [[0i32; 8]; 16];
    let mut mask = 0;
    while mask < 16 {
        let (mut lane, mut j) = (0i32, 0);
        while lane < 4 {
            if mask >> lane & 1 == 1 {
                lut[mask][2 * j] = 2 * lane;
                lut[mask][2 * j + 1] = 2 * lane + 1;
                j += 1;
            }
            lane += 1;
        }
        mask += 1;
    }
    lut
};

/// [`compact`] four values at a time with AVX2: the flags' bytes become a
/// 4-bit mask (shifted into each byte's top bit, then `movemask`), a table
/// permutation packs the kept doubles to the register's front, and the whole
/// register is stored at the next free slot (the output has spare slots).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn compact_avx2(values: &[f64], members: &[bool], finite_only: bool) -> Vec<f64> {
    use std::arch::x86_64::*;
    let n = values.len().min(members.len());
    let mut out: Vec<f64> = Vec::with_capacity(n + 4);
    let dst = out.as_mut_ptr();
    let mut len = 0usize;
    let full = n / 4 * 4;
    let mut i = 0;
    while i < full {
        // SAFETY: i + 4 ≤ n, so four values and four flags (one byte each)
        // are in bounds; len ≤ i, so the four slots written at len are
        // within the capacity n + 4.
        unsafe {
            let x = _mm256_loadu_pd(values.as_ptr().add(i));
            let flags = members.as_ptr().add(i).cast::<i32>().read_unaligned();
            // Each flag byte is 0 or 1: shifted by 7 its bit is the byte's
            // top bit, which movemask collects.
            let top = _mm_slli_epi64::<7>(_mm_cvtsi32_si128(flags));
            let mut keep = (_mm_movemask_epi8(top) & 0xF) as usize;
            if finite_only {
                // x − x is 0 for finite x, NaN for ±inf and NaN.
                let d = _mm256_sub_pd(x, x);
                keep &= _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_ORD_Q>(d, d)) as usize;
            }
            let perm = _mm256_loadu_si256(COMPRESS4[keep].as_ptr().cast::<__m256i>());
            let packed = _mm256_permutevar8x32_ps(_mm256_castpd_ps(x), perm);
            _mm256_storeu_pd(dst.add(len), _mm256_castps_pd(packed));
            len += keep.count_ones() as usize;
        }
        i += 4;
    }
    for (&x, &m) in values.iter().zip(members).take(n).skip(full) {
        if m && (!finite_only || x.is_finite()) {
            // SAFETY: len < n + 4, within the capacity.
            unsafe { dst.add(len).write(x) };
            len += 1;
        }
    }
    // SAFETY: the first `len` slots were written above.
    unsafe { out.set_len(len) };
    out
}

/// [`compact`] one value at a time (CPUs without AVX2), without a
/// data-dependent branch — every value is stored at the next free slot,
/// which advances only for a kept one — since membership flags of a mixed
/// population defeat branch prediction.
fn compact_scalar(values: &[f64], members: &[bool], finite_only: bool) -> Vec<f64> {
    let n = values.len().min(members.len());
    let mut out = vec![0.0; n + 1];
    let mut len = 0;
    for (&x, &m) in values.iter().zip(members) {
        if let Some(slot) = out.get_mut(len) {
            *slot = x;
        }
        len += usize::from(m & (!finite_only | x.is_finite()));
    }
    out.truncate(len);
    out
}

/// [`compact`] eight values at a time: the flags' bytes and the finite test
/// become one mask, `vcompresspd` packs the kept values into a register and
/// the whole register is stored at the next free slot (the output has eight
/// spare slots, so that store never leaves it).
#[cfg(target_arch = "x86_64")]
#[rustversion::since(1.89)]
#[clippy::msrv = "1.89"]
mod compact512 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,popcnt")]
    pub(super) unsafe fn compact(values: &[f64], members: &[bool], finite_only: bool) -> Vec<f64> {
        let n = values.len().min(members.len());
        let mut out: Vec<f64> = Vec::with_capacity(n + 8);
        let dst = out.as_mut_ptr();
        let mut len = 0usize;
        let full = n / 8 * 8;
        let zero = _mm_setzero_si128();
        let mut i = 0;
        while i < full {
            // SAFETY: i + 8 ≤ n, so eight values and eight flags (one byte
            // each) are in bounds; len ≤ i, so the eight slots written at
            // len are within the capacity n + 8.
            unsafe {
                let x = _mm512_loadu_pd(values.as_ptr().add(i));
                let flags = _mm_loadl_epi64(members.as_ptr().add(i).cast::<__m128i>());
                let mut keep = _mm_cmpneq_epi8_mask(flags, zero) as u8;
                if finite_only {
                    // x − x is 0 for finite x, NaN for ±inf and NaN.
                    let d = _mm512_sub_pd(x, x);
                    keep &= _mm512_cmp_pd_mask::<_CMP_ORD_Q>(d, d);
                }
                _mm512_storeu_pd(dst.add(len), _mm512_maskz_compress_pd(keep, x));
                len += keep.count_ones() as usize;
            }
            i += 8;
        }
        for (&x, &m) in values
            .get(full..n)
            .unwrap_or_default()
            .iter()
            .zip(&members[full..n])
        {
            if m && (!finite_only || x.is_finite()) {
                // SAFETY: len < n + 8, within the capacity.
                unsafe { dst.add(len).write(x) };
                len += 1;
            }
        }
        // SAFETY: the first `len` slots were written above (the compress
        // stores wrote every lane up to their slot + 8).
        unsafe { out.set_len(len) };
        out
    }
}

/// Stand-in for compilers before 1.89, which never select the AVX-512 tier.
#[cfg(target_arch = "x86_64")]
#[rustversion::before(1.89)]
mod compact512 {
    pub(super) unsafe fn compact(values: &[f64], members: &[bool], finite_only: bool) -> Vec<f64> {
        super::compact_scalar(values, members, finite_only)
    }
}

fn dim(g: &Gated, marker: &str, compensated: bool) -> Result<(Dim, usize), String> {
    let r = g
        .panel
        .get(marker)
        .ok_or_else(|| format!("marker {marker:?} is not in this file's panel"))?;
    Ok((
        Dim {
            channel: r.channel.clone(),
            compensated,
        },
        r.index,
    ))
}

/// The density axis of a marker for one gate, estimated on the parent's
/// values: the spread of the negatives that matters is the parent's own
/// (e.g. within NK cells, where bright CD56 spills into neighbours).
/// `resolve` turns the marker's scale into the axis from those values
/// (sorted or not, as the caller holds them). The first axis of each marker
/// is kept in [`Gated::axes`] for run.json.
fn axis(
    pipeline: &Pipeline,
    g: &Gated,
    axes: &mut BTreeMap<String, Axis>,
    marker: &str,
    resolve: impl FnOnce(AxisScale) -> Axis,
) -> Result<Axis, String> {
    let channel = &g
        .panel
        .get(marker)
        .ok_or_else(|| format!("marker {marker:?} is not in this file's panel"))?
        .channel;
    let scale = pipeline
        .scales
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(marker))
        .map(|(_, v)| *v)
        .unwrap_or_else(|| {
            let upper = channel.to_ascii_uppercase();
            if upper.starts_with("FSC")
                || upper.starts_with("SSC")
                || upper.starts_with("FS")
                || upper.starts_with("SS")
                || upper == "TIME"
            {
                AxisScale::Linear
            } else {
                AxisScale::Auto
            }
        });
    let a = resolve(scale);
    axes.entry(marker.to_string()).or_insert(a);
    Ok(a)
}

fn resolve_gate(
    pipeline: &Pipeline,
    g: &Gated,
    axes: &mut BTreeMap<String, Axis>,
    kind: &GateKind,
    parent_idx: usize,
) -> Result<(ResolvedGate, Option<GateDetail>), String> {
    let parent = &g.populations[parent_idx].members;
    match kind {
        GateKind::FlowRate { time, params } => {
            let (d, idx) = dim(g, time, false)?;
            let t = subset(g.uncompensated.column(idx), parent);
            let fr = adaptive::flow_rate(&t, params);
            let parts: Vec<ResolvedGate> = fr
                .keep
                .iter()
                .map(|&(min, max)| ResolvedGate::Rectangle {
                    intervals: vec![Interval {
                        dim: d.clone(),
                        min,
                        // A fully open interval keeps every event: written
                        // as min = the smallest time, which all events pass.
                        max,
                    }],
                })
                .map(|r| close_open_rect(r, &t))
                .collect();
            let gate = match parts.len() {
                1 => parts
                    .into_iter()
                    .next()
                    .unwrap_or(ResolvedGate::AnyOf { parts: vec![] }),
                _ => ResolvedGate::AnyOf { parts },
            };
            Ok((gate, Some(GateDetail::FlowRate { profile: fr })))
        }
        GateKind::Margin { markers } => {
            let mut intervals = Vec::new();
            for m in markers {
                let (d, idx) = dim(g, m, false)?;
                let ch = g
                    .channels
                    .get(idx)
                    .ok_or_else(|| format!("channel of marker {m} is missing"))?;
                // Events at or above $PnR − 1 (stored units) sit on the top
                // margin; the bound is that value on the FCS scale.
                intervals.push(Interval {
                    dim: d,
                    min: None,
                    max: Some(ch.scale_value(ch.range - 1.0)),
                });
            }
            Ok((ResolvedGate::Rectangle { intervals }, None))
        }
        GateKind::Beads { markers, valley } => {
            let mut intervals = Vec::new();
            let mut dims = Vec::new();
            for m in markers {
                let (d, idx) = dim(g, m, false)?;
                let mut vals = sorted_subset(g.uncompensated.column(idx), parent);
                let a = AxisScale::Auto.resolve_sorted(&vals);
                forward_sorted(a, &mut vals);
                let found = adaptive::valley_threshold_sorted(&vals, valley)
                    .ok_or_else(|| format!("too few events on {m} to find beads"))?;
                let data_value = a.inverse(found.value);
                intervals.push(Interval {
                    dim: d,
                    min: Some(data_value),
                    max: None,
                });
                dims.push(ThresholdDetail {
                    marker: m.clone(),
                    axis: a,
                    found,
                    data_value,
                });
            }
            Ok((
                ResolvedGate::Rectangle { intervals },
                Some(GateDetail::Thresholds { dims }),
            ))
        }
        GateKind::Singlets { area, height, k } => {
            let (da, ia) = dim(g, area, true)?;
            let (dh, ih) = dim(g, height, true)?;
            let a = subset(g.compensated.column(ia), parent);
            let h = subset(g.compensated.column(ih), parent);
            let band = adaptive::singlet_band(&a, &h, *k)
                .ok_or_else(|| "too few events with FSC-H > 0 to find singlets".to_string())?;
            let hmax = g
                .compensated
                .column(ih)
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(1.0f64, f64::max)
                * 2.0;
            Ok((
                ResolvedGate::Polygon {
                    x: dh,
                    y: da,
                    vertices: vec![(0.0, 0.0), (hmax, band.lo * hmax), (hmax, band.hi * hmax)],
                },
                Some(GateDetail::Singlets { band }),
            ))
        }
        GateKind::PeakRegion { x, y, params } => {
            let (dx, ix) = dim(g, x, true)?;
            let (dy, iy) = dim(g, y, true)?;
            let xs = subset(g.compensated.column(ix), parent);
            let ys = subset(g.compensated.column(iy), parent);
            let ax = axis(pipeline, g, axes, x, |s| s.resolve(&xs))?;
            let ay = axis(pipeline, g, axes, y, |s| s.resolve(&ys))?;
            let xs: Vec<f64> = xs.iter().map(|v| ax.forward(*v)).collect();
            let ys: Vec<f64> = ys.iter().map(|v| ay.forward(*v)).collect();
            let poly = adaptive::peak_region(&xs, &ys, params)
                .ok_or_else(|| format!("no density peak found on {x}/{y}"))?;
            let vertices = poly
                .iter()
                .map(|&(a, b)| (ax.inverse(a), ay.inverse(b)))
                .collect();
            Ok((
                ResolvedGate::Polygon {
                    x: dx,
                    y: dy,
                    vertices,
                },
                Some(GateDetail::PeakRegion {
                    x_axis: ax,
                    y_axis: ay,
                }),
            ))
        }
        GateKind::Threshold { dims } => {
            let mut intervals = Vec::new();
            let mut details = Vec::new();
            for t in dims {
                let (d, idx) = dim(g, &t.marker, true)?;
                // One sort of the parent's values serves the cofactor, the
                // density, its window and the fallback quantile.
                let mut vals = match &t.reference {
                    None => sorted_subset(g.compensated.column(idx), parent),
                    Some(r) => {
                        let pop = g
                            .populations
                            .iter()
                            .find(|p| &p.id == r)
                            .ok_or_else(|| format!("reference population {r:?} not found"))?;
                        sorted_subset(g.compensated.column(idx), &pop.members)
                    }
                };
                let a = axis(pipeline, g, axes, &t.marker, |s| s.resolve_sorted(&vals))?;
                forward_sorted(a, &mut vals);
                let found =
                    adaptive::valley_threshold_sorted(&vals, &t.valley).ok_or_else(|| {
                        format!(
                            "too few events ({}) in the parent to find a threshold on {}",
                            vals.len(),
                            t.marker
                        )
                    })?;
                let data_value = a.inverse(found.value);
                intervals.push(match t.side {
                    Side::Above => Interval {
                        dim: d,
                        min: Some(data_value),
                        max: None,
                    },
                    Side::Below => Interval {
                        dim: d,
                        min: None,
                        max: Some(data_value),
                    },
                });
                details.push(ThresholdDetail {
                    marker: t.marker.clone(),
                    axis: a,
                    found,
                    data_value,
                });
            }
            Ok((
                ResolvedGate::Rectangle { intervals },
                Some(GateDetail::Thresholds { dims: details }),
            ))
        }
        GateKind::And { of } => {
            let mut intervals = Vec::new();
            for o in of {
                match g
                    .populations
                    .iter()
                    .find(|p| &p.id == o)
                    .and_then(|p| p.gate.as_ref())
                {
                    Some(ResolvedGate::Rectangle { intervals: iv }) => {
                        intervals.extend(iv.iter().cloned())
                    }
                    _ => return Err(format!("{o:?} is not a resolved rectangle gate")),
                }
            }
            Ok((ResolvedGate::Rectangle { intervals }, None))
        }
        GateKind::Not { of } => Ok((ResolvedGate::Not { of: of.clone() }, None)),
        GateKind::Gatingml { .. } => Err("a Gating-ML gate is resolved by gate_sample".into()),
        GateKind::Rectangle { dims } => {
            let mut intervals = Vec::new();
            for f in dims {
                let (d, _) = dim(g, &f.marker, f.compensated)?;
                intervals.push(Interval {
                    dim: d,
                    min: f.min,
                    max: f.max,
                });
            }
            Ok((ResolvedGate::Rectangle { intervals }, None))
        }
        GateKind::Polygon { x, y, vertices } => {
            let (dx, _) = dim(g, x, true)?;
            let (dy, _) = dim(g, y, true)?;
            Ok((
                ResolvedGate::Polygon {
                    x: dx,
                    y: dy,
                    vertices: vertices.clone(),
                },
                None,
            ))
        }
    }
}

/// Gating-ML rectangles need a bound on every dimension: an interval open
/// on both sides gets `min` = the smallest value present, which every event
/// passes.
fn close_open_rect(r: ResolvedGate, values: &[f64]) -> ResolvedGate {
    match r {
        ResolvedGate::Rectangle { mut intervals } => {
            for iv in &mut intervals {
                if iv.min.is_none() && iv.max.is_none() {
                    let lo = values
                        .iter()
                        .copied()
                        .filter(|v| v.is_finite())
                        .fold(f64::INFINITY, f64::min);
                    iv.min = Some(if lo.is_finite() { lo } else { 0.0 });
                }
            }
            ResolvedGate::Rectangle { intervals }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every compaction kernel the CPU can run keeps exactly the flagged
    /// (and, with `finite_only`, finite) values in order, at every length
    /// around the kernels' block sizes.
    #[test]
    fn compaction_kernels_keep_the_flagged_values_in_order() {
        let special = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0];
        for n in (0..40).chain([1000, 1001, 1003]) {
            let values: Vec<f64> = (0..n)
                .map(|i| match i % 11 {
                    3 | 7 => special[i % special.len()],
                    _ => i as f64 * 1.5 - 20.0,
                })
                .collect();
            for pattern in 0..4 {
                let members: Vec<bool> = (0..n)
                    .map(|i| match pattern {
                        0 => true,
                        1 => false,
                        2 => i % 3 != 1,
                        _ => (i * 7 + 3) % 5 < 2,
                    })
                    .collect();
                for finite_only in [false, true] {
                    let want: Vec<u64> = values
                        .iter()
                        .zip(&members)
                        .filter(|(x, m)| **m && (!finite_only || x.is_finite()))
                        .map(|(x, _)| x.to_bits())
                        .collect();
                    let bits = |v: Vec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    let case = format!("n {n}, pattern {pattern}, finite_only {finite_only}");
                    assert_eq!(
                        bits(compact_scalar(&values, &members, finite_only)),
                        want,
                        "{case}"
                    );
                    assert_eq!(
                        bits(compact(&values, &members, finite_only)),
                        want,
                        "{case}"
                    );
                    #[cfg(target_arch = "x86_64")]
                    if std::arch::is_x86_feature_detected!("avx2") {
                        // SAFETY: the CPU has AVX2.
                        let got = unsafe { compact_avx2(&values, &members, finite_only) };
                        assert_eq!(bits(got), want, "AVX2, {case}");
                    }
                    #[cfg(target_arch = "x86_64")]
                    if crate::simd::tier() == crate::simd::Tier::Avx512 {
                        // SAFETY: the CPU has AVX-512.
                        let got = unsafe { compact512::compact(&values, &members, finite_only) };
                        assert_eq!(bits(got), want, "AVX-512, {case}");
                    }
                }
            }
        }
    }
}
