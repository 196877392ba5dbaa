//! Statistics of one gated sample: counts, percentages, absolute counts per
//! µL of blood, marker medians, the results columns and the QC flags.
//!
//! Absolute counts (cells per µL of blood):
//! - bead-based single platform: `events / bead events × beads_per_tube /
//!   blood_volume_ul`;
//! - dual platform: `events / lymphocyte events × alc_per_ul`;
//! - volumetric: `events / ($VOL nL / 1000)`.
//!
//! A value that cannot be computed is `None` (an empty cell) with a flag
//! saying why; a QC flag never blanks a value.

use serde::Serialize;

use super::definition::{AbsoluteSpec, ColumnSpec, Pipeline, QcRule, Stat, ROOT};
use super::density::{median, median_at, median_masked};
use super::engine::Gated;
use crate::gating::Bitset;

/// Numbers from the samplesheet row and the file that absolute counts need.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Inputs {
    pub beads_per_tube: Option<f64>,
    pub blood_volume_ul: Option<f64>,
    pub alc_per_ul: Option<f64>,
    /// `$VOL` of the file, nL.
    pub vol_nl: Option<f64>,
    /// Samplesheet percentages by column name (e.g. `nk_donor_chimerism_pct`).
    pub sheet_percent: Vec<(String, Option<f64>)>,
}

/// Statistics of one population.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PopulationStats {
    pub id: String,
    pub parent: Option<String>,
    /// Ids from the root down, `/`-separated (`/` for the root).
    pub path: String,
    pub count: usize,
    pub pct_parent: Option<f64>,
    pub pct_total: Option<f64>,
    pub per_ul: Option<f64>,
    /// Median per marker (FCS scale, compensated), in [`median_markers`] order.
    pub medians: Vec<Option<f64>>,
}

/// The markers populations.csv reports medians for: every panel marker
/// except the time channel, in panel order.
pub fn median_markers(p: &Pipeline) -> Vec<String> {
    let time: Vec<&str> = p
        .gates
        .iter()
        .filter_map(|g| match &g.gate {
            super::definition::GateKind::FlowRate { time, .. } => Some(time.as_str()),
            _ => None,
        })
        .collect();
    p.panel
        .iter()
        .map(|m| m.marker.clone())
        .filter(|m| !time.contains(&m.as_str()) && !m.eq_ignore_ascii_case("time"))
        .collect()
}

fn pct(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| 100.0 * a as f64 / b as f64)
}

/// Cells per µL for `count` events, or the reason it cannot be computed.
pub fn per_ul(
    abs: &AbsoluteSpec,
    count: usize,
    gated: &Gated,
    inputs: &Inputs,
) -> Result<f64, String> {
    let pop = |id: &str| {
        gated
            .population(id)
            .map(|p| p.count)
            .ok_or_else(|| format!("no_population:{id}"))
    };
    match abs {
        AbsoluteSpec::Beads { beads } => {
            let b = pop(beads)?;
            let per_tube = inputs
                .beads_per_tube
                .ok_or_else(|| "missing:beads_per_tube".to_string())?;
            let vol = inputs
                .blood_volume_ul
                .filter(|v| *v > 0.0)
                .ok_or_else(|| "missing:blood_volume_ul".to_string())?;
            if b == 0 {
                return Err("no_beads".into());
            }
            Ok(count as f64 / b as f64 * per_tube / vol)
        }
        AbsoluteSpec::DualPlatform { lymphocytes } => {
            let l = pop(lymphocytes)?;
            let alc = inputs
                .alc_per_ul
                .ok_or_else(|| "missing:alc_per_ul".to_string())?;
            if l == 0 {
                return Err("no_lymphocytes".into());
            }
            Ok(count as f64 / l as f64 * alc)
        }
        AbsoluteSpec::Volumetric => {
            let v = inputs
                .vol_nl
                .filter(|v| *v > 0.0)
                .ok_or_else(|| "missing:$VOL".to_string())?;
            Ok(count as f64 / (v / 1000.0))
        }
    }
}

/// Statistics of every population (root first, tree order). Flags for
/// absolute counts that could not be computed are appended to `flags`.
pub fn population_stats(
    p: &Pipeline,
    gated: &Gated,
    inputs: &Inputs,
    flags: &mut Vec<String>,
) -> Vec<PopulationStats> {
    let markers = median_markers(p);
    let total = gated.population(ROOT).map_or(0, |r| r.count);
    let mut abs_flag = None;
    let mut out: Vec<PopulationStats> = Vec::new();
    let mut medians = population_medians(gated, &markers).into_iter();
    for pop in &gated.populations {
        let parent_count = pop
            .parent
            .as_deref()
            .and_then(|id| gated.population(id))
            .map(|q| q.count);
        let path = match &pop.parent {
            None => "/".to_string(),
            Some(par) => {
                let base = out
                    .iter()
                    .find(|s| &s.id == par)
                    .map(|s| s.path.clone())
                    .unwrap_or_default();
                format!("{}/{}", base.trim_end_matches('/'), pop.id)
            }
        };
        let per_ul = p.absolute.as_ref().and_then(|a| {
            per_ul(a, pop.count, gated, inputs)
                .map_err(|e| abs_flag = Some(e))
                .ok()
        });
        let medians = medians.next().unwrap_or_default();
        out.push(PopulationStats {
            id: pop.id.clone(),
            parent: pop.parent.clone(),
            path,
            count: pop.count,
            pct_parent: parent_count.and_then(|c| pct(pop.count, c)),
            pct_total: pct(pop.count, total),
            per_ul,
            medians,
        });
    }
    if let Some(f) = abs_flag {
        flags.push(f);
    }
    out
}

/// The median of each of `markers` in each population, population-major
/// (`[population][marker]`, tree order).
///
/// Large populations (at least an eighth of the file and 4096 events) take a
/// pass over the whole column with their membership bits
/// ([`median_masked`]); small ones gather their member indices once and
/// select per marker ([`median_at`]). The loops run marker by marker, so
/// that one column (400 kB for 50k events) stays in the core's L2 cache
/// across all populations rather than being fetched again for each. A
/// population is a subset of its parent, so one of the same size has the
/// same events and copies the parent's medians.
fn population_medians(gated: &Gated, markers: &[String]) -> Vec<Vec<Option<f64>>> {
    enum How {
        SameAsParent(usize),
        Masked(Bitset),
        Indexed(Vec<usize>),
    }
    let pops = &gated.populations;
    let how: Vec<How> = pops
        .iter()
        .enumerate()
        .map(|(i, pop)| {
            let parent = pop.parent.as_deref().and_then(|par| {
                pops.get(..i)?
                    .iter()
                    .position(|q| q.id == par && q.count == pop.count)
            });
            match parent {
                Some(j) => How::SameAsParent(j),
                None if pop.count >= pop.members.len() / 8 && pop.count >= 4096 => {
                    How::Masked(Bitset::from_bools(&pop.members))
                }
                // Through packed bits: the cost follows the members, not
                // the file's events.
                None => How::Indexed(Bitset::from_bools(&pop.members).iter_ones().collect()),
            }
        })
        .collect();
    let mut out = vec![vec![None; markers.len()]; pops.len()];
    let (mut scratch, mut words) = (Vec::new(), Vec::new());
    for (m, marker) in markers.iter().enumerate() {
        let Some(values) = gated.marker_values(marker) else {
            continue;
        };
        for ((h, pop), medians) in how.iter().zip(pops).zip(out.iter_mut()) {
            let median = match h {
                How::SameAsParent(_) => continue,
                How::Masked(bits) => {
                    median_masked(values, &pop.members, bits.words(), &mut words, &mut scratch)
                }
                How::Indexed(idx) => median_at(values, idx, &mut scratch),
            };
            if let Some(slot) = medians.get_mut(m) {
                *slot = median;
            }
        }
    }
    // Parents come first in tree order, so theirs are final here.
    for (i, h) in how.iter().enumerate() {
        if let How::SameAsParent(j) = *h {
            if let Some(parent) = out.get(j).cloned() {
                if let Some(slot) = out.get_mut(i) {
                    *slot = parent;
                }
            }
        }
    }
    out
}

/// The results columns of one sample, aligned with `columns`.
pub fn column_values(
    columns: &[ColumnSpec],
    stats: &[PopulationStats],
    gated: &Gated,
    inputs: &Inputs,
) -> Vec<Option<f64>> {
    let find = |id: &str| stats.iter().find(|s| s.id == id);
    let mut out: Vec<Option<f64>> = Vec::with_capacity(columns.len());
    for c in columns {
        let v = match &c.stat {
            Stat::Count(id) => find(id).map(|s| s.count as f64),
            Stat::PercentOf(a, b) => match (find(a), find(b)) {
                (Some(a), Some(b)) => pct(a.count, b.count),
                _ => None,
            },
            Stat::PerUl(id) => find(id).and_then(|s| s.per_ul),
            Stat::Median(id, marker) => {
                let pop = gated.population(id);
                let vals = gated.marker_values(marker);
                match (pop, vals) {
                    (Some(pop), Some(vals)) => {
                        let sel: Vec<f64> = vals
                            .iter()
                            .zip(&pop.members)
                            .filter(|(_, k)| **k)
                            .map(|(x, _)| *x)
                            .collect();
                        median(&sel)
                    }
                    _ => None,
                }
            }
            Stat::TimesSheetPercent(col, sheet_col) => {
                let base = columns
                    .iter()
                    .position(|x| &x.name == col)
                    .and_then(|k| out.get(k).copied().flatten());
                let pctv = inputs
                    .sheet_percent
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(sheet_col))
                    .and_then(|(_, v)| *v);
                base.zip(pctv).map(|(b, q)| b * q / 100.0)
            }
        };
        out.push(v);
    }
    out
}

/// QC flags from the pipeline's rules (in rule order).
pub fn qc_flags(rules: &[QcRule], stats: &[PopulationStats]) -> Vec<String> {
    let find = |id: &str| stats.iter().find(|s| s.id == id);
    let mut flags = Vec::new();
    for r in rules {
        match r {
            QcRule::MinCount {
                population,
                min,
                flag,
            } => {
                if find(population).is_some_and(|s| s.count < *min) {
                    flags.push(flag.clone());
                }
            }
            QcRule::MaxRemovedPercent {
                population,
                max_percent,
                flag,
            } => {
                if find(population)
                    .and_then(|s| s.pct_parent)
                    .is_some_and(|p| 100.0 - p > *max_percent)
                {
                    flags.push(flag.clone());
                }
            }
        }
    }
    flags
}
