//! The data-driven gate algorithms, as pure functions on slices.
//!
//! Each takes the parent population's values of one or two channels and
//! returns numbers (a threshold, a ratio band, a polygon, time intervals);
//! turning them into [`ResolvedGate`](super::resolved::ResolvedGate)s is the
//! caller's job. Nothing here knows about files, markers or threads, so each
//! algorithm is tested on synthetic mixtures with a known answer.

use serde::{Deserialize, Serialize};

use super::density::{quantile_sorted, Density};

/// Which valley to take when the density has several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// The valley with the lowest density relative to its smaller peak.
    #[default]
    Deepest,
    /// The valley at the lowest value (e.g. negatives vs the first positives).
    First,
    /// The valley at the highest value (e.g. cells vs very bright beads).
    Last,
}

/// What to do when no valley qualifies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Fallback {
    /// Tallest peak + `sds` × its one-sided spread. A positive `sds` puts the
    /// threshold above the peak and measures the spread on the peak's lower
    /// side (the side no positive population contaminates); a negative one
    /// goes below and uses the upper side.
    PeakOffset { sds: f64 },
    /// The `p` quantile (0–1) of the values.
    Quantile { p: f64 },
}

impl Default for Fallback {
    fn default() -> Self {
        Fallback::PeakOffset { sds: 3.0 }
    }
}

/// Parameters of a density-valley threshold (openCyto's `mindensity` idea).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValleyParams {
    /// Bandwidth multiplier over Silverman's rule.
    pub adjust: f64,
    /// Peaks lower than this fraction of the tallest are ignored.
    pub min_peak_height: f64,
    /// Two peaks count as separate populations only when the valley between
    /// them is at most this fraction of the smaller peak.
    pub max_valley_ratio: f64,
    /// Which valley when there are several.
    pub pick: Pick,
    /// Only valleys between these quantiles (0–1) of the values count: a
    /// window that moves with the data, unlike one in fixed units.
    pub window: Option<[f64; 2]>,
    /// Used when no valley qualifies (the gate is then flagged).
    pub fallback: Fallback,
    /// When set to `k`, a valley found below the lower edge of the highest
    /// peak — that peak minus `k` × its upper-side spread — is raised to
    /// that edge. For "negative or low" versus "bright" splits (CD56bright
    /// NK are CD16−/low): a dim population that makes only a shoulder on
    /// the negative peak pulls the valley into itself, and the edge of the
    /// bright peak keeps it whole on the low side. The threshold is never
    /// lowered by this.
    pub top_peak_edge: Option<f64>,
}

impl Default for ValleyParams {
    fn default() -> Self {
        ValleyParams {
            adjust: 1.5,
            min_peak_height: 0.01,
            max_valley_ratio: 0.8,
            pick: Pick::Deepest,
            window: None,
            fallback: Fallback::default(),
            top_peak_edge: None,
        }
    }
}

/// A threshold found on one axis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    /// The threshold, in the units of the values given.
    pub value: f64,
    /// Positions of the peaks that survived merging, ascending.
    pub peaks: Vec<f64>,
    /// True when `value` is a density valley; false when the fallback made it.
    pub valley_found: bool,
}

/// Finds the density valley between two peaks of `values` (transformed
/// units), or applies the fallback. `None` only when there are too few
/// finite values to say anything.
///
/// Peaks are merged persistence-style: while some pair of neighbouring peaks
/// has a valley above `max_valley_ratio` of the smaller one, the smaller
/// peak is dropped. What remains are populations, and every valley between
/// neighbours is a real gap.
pub fn valley_threshold(values: &[f64], p: &ValleyParams) -> Option<Threshold> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    super::density::sort_total(&mut v);
    valley_threshold_sorted(&v, p)
}

/// [`valley_threshold`] of values already finite and sorted ascending (by
/// `f64::total_cmp`): the one sort serves the density, the quantile window
/// and the quantile fallback.
pub fn valley_threshold_sorted(values: &[f64], p: &ValleyParams) -> Option<Threshold> {
    let d = Density::estimate_sorted(values, p.adjust)?;
    let mut peaks = d.peaks(p.min_peak_height);
    // Persistence merge.
    loop {
        let mut worst: Option<(usize, f64)> = None;
        for k in 0..peaks.len().saturating_sub(1) {
            let (a, b) = (peaks[k], peaks[k + 1]);
            let v = d.valley_between(a, b).unwrap_or(a);
            let ratio = d.y[v] / d.y[a].min(d.y[b]);
            if worst.is_none_or_lt(ratio) {
                worst = Some((k, ratio));
            }
        }
        match worst {
            Some((k, ratio)) if ratio > p.max_valley_ratio => {
                let drop = if d.y[peaks[k]] < d.y[peaks[k + 1]] {
                    k
                } else {
                    k + 1
                };
                peaks.remove(drop);
            }
            _ => break,
        }
    }
    let window = p
        .window
        .map(|[lo, hi]| (quantile_sorted(values, lo), quantile_sorted(values, hi)));
    let mut candidates = Vec::new();
    for k in 0..peaks.len().saturating_sub(1) {
        let (a, b) = (peaks[k], peaks[k + 1]);
        if let Some(v) = d.valley_between(a, b) {
            let x = d.x(v);
            if window.is_none_or_contains(x) {
                candidates.push((v, d.y[v] / d.y[a].min(d.y[b])));
            }
        }
    }
    let chosen = match p.pick {
        Pick::First => candidates.first().copied(),
        Pick::Last => candidates.last().copied(),
        Pick::Deepest => candidates
            .iter()
            .copied()
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0))),
    };
    let peak_x: Vec<f64> = peaks.iter().map(|&i| d.x(i)).collect();
    if let Some((v, _)) = chosen {
        let mut value = d.x(v);
        if let (Some(k), Some(&top)) = (p.top_peak_edge, peak_x.last()) {
            // Only the values above the valley belong to the top peak's
            // population; its upper side is free of the low shoulder.
            let edge = top - k * one_sided_spread(values, top, true);
            if edge.is_finite() && edge > value && edge < top {
                value = edge;
            }
        }
        return Some(Threshold {
            value,
            peaks: peak_x,
            valley_found: true,
        });
    }
    let value = match p.fallback {
        Fallback::Quantile { p: q } => {
            let x = quantile_sorted(values, q);
            // At p = 0 or 1 the bound would sit exactly on the extreme event:
            // Gating-ML's max is exclusive, and a reader whose compensation
            // differs in the last digits (FlowKit) would drop or keep that
            // event by rounding. Just outside it, every reader keeps it.
            let nudge = 1e-9 * x.abs().max(1.0);
            if q <= 0.0 {
                x - nudge
            } else if q >= 1.0 {
                x + nudge
            } else {
                x
            }
        }
        Fallback::PeakOffset { sds } => {
            let top = peaks
                .iter()
                .copied()
                .max_by(|&a, &b| d.y[a].total_cmp(&d.y[b]).then(b.cmp(&a)))?;
            let mode = d.x(top);
            mode + sds * one_sided_spread(values, mode, sds < 0.0)
        }
    };
    Some(Threshold {
        value,
        peaks: peak_x,
        valley_found: false,
    })
}

/// Root-mean-square distance from `center` of the values on one side of it
/// (below when `upper` is false): the spread of a population measured on the
/// side that a neighbouring population does not contaminate.
pub fn one_sided_spread(values: &[f64], center: f64, upper: bool) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for &x in values {
        if x.is_finite() && ((upper && x > center) || (!upper && x < center)) {
            s += (x - center).powi(2);
            n += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        (s / n as f64).sqrt()
    }
}

/// Small helpers that keep the Option logic above readable on Rust 1.80.
trait OptExt {
    fn is_none_or_lt(&self, ratio: f64) -> bool;
}
impl OptExt for Option<(usize, f64)> {
    fn is_none_or_lt(&self, ratio: f64) -> bool {
        self.map_or(true, |(_, r)| ratio > r)
    }
}
trait WindowExt {
    fn is_none_or_contains(&self, x: f64) -> bool;
}
impl WindowExt for Option<(f64, f64)> {
    fn is_none_or_contains(&self, x: f64) -> bool {
        self.map_or(true, |(lo, hi)| x >= lo && x <= hi)
    }
}

/// The singlet band of FSC-A/FSC-H ratios: `[mode − k·s, mode + k·s]`, with
/// `s` the spread of ratios below the mode (doublets only ever raise the
/// ratio, so the lower side is clean singlets).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatioBand {
    pub mode: f64,
    pub lo: f64,
    pub hi: f64,
}

/// Finds the singlet ratio band from area and height values of the parent.
pub fn singlet_band(area: &[f64], height: &[f64], k: f64) -> Option<RatioBand> {
    let ratios: Vec<f64> = area
        .iter()
        .zip(height)
        .filter(|(a, h)| a.is_finite() && **h > 0.0)
        .map(|(a, h)| a / h)
        .collect();
    let d = Density::estimate(&ratios, 1.0)?;
    let top = d
        .peaks(0.0)
        .into_iter()
        .max_by(|&a, &b| d.y[a].total_cmp(&d.y[b]).then(b.cmp(&a)))?;
    let mode = d.x(top);
    let s = one_sided_spread(&ratios, mode, false);
    Some(RatioBand {
        mode,
        lo: (mode - k * s).max(0.0),
        hi: mode + k * s,
    })
}

/// Which 2-D density peak a scatter gate is built around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PeakPick {
    /// The densest peak.
    #[default]
    Highest,
    /// The peak with the lowest y (e.g. lymphocytes: lowest SSC).
    LowestY,
    /// The peak with the highest x.
    HighestX,
}

/// Parameters of a scatter gate around a 2-D density peak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeakRegionParams {
    /// Histogram bins per axis.
    pub bins: usize,
    /// Gaussian smoothing, in bins.
    pub smooth: f64,
    /// Peaks lower than this fraction of the tallest are ignored.
    pub min_peak_height: f64,
    /// The region grows downhill from the peak until the density falls
    /// below this fraction of the peak.
    pub level: f64,
    pub pick: PeakPick,
}

impl Default for PeakRegionParams {
    fn default() -> Self {
        PeakRegionParams {
            bins: 128,
            smooth: 1.5,
            min_peak_height: 0.05,
            level: 0.02,
            pick: PeakPick::Highest,
        }
    }
}

/// Finds the population around a 2-D density peak and returns its outline
/// as a convex polygon (counter-clockwise), in the units of `x` and `y`.
///
/// The region is grown from the peak bin over neighbours that are no denser
/// than the bin they are reached from (downhill only, so it stops in the
/// valley to the next population) and at least `level` × the peak.
pub fn peak_region(x: &[f64], y: &[f64], p: &PeakRegionParams) -> Option<Vec<(f64, f64)>> {
    let pairs: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| (*a, *b))
        .collect();
    if pairs.len() < 10 {
        return None;
    }
    let nb = p.bins.clamp(16, 1024);
    let axis = |f: &dyn Fn(&(f64, f64)) -> f64| {
        let mut v: Vec<f64> = pairs.iter().map(f).collect();
        super::density::sort_total(&mut v);
        let (lo, hi) = (quantile_sorted(&v, 0.001), quantile_sorted(&v, 0.999));
        let pad = (hi - lo) * 0.05;
        (lo - pad, (hi - lo + 2.0 * pad) / nb as f64)
    };
    let (x0, dx) = axis(&|p| p.0);
    let (y0, dy) = axis(&|p| p.1);
    if dx.is_nan() || dy.is_nan() || dx <= 0.0 || dy <= 0.0 {
        return None;
    }
    let mut h = vec![0.0f64; nb * nb];
    for &(a, b) in &pairs {
        let i = ((a - x0) / dx).floor();
        let j = ((b - y0) / dy).floor();
        if i >= 0.0 && j >= 0.0 && (i as usize) < nb && (j as usize) < nb {
            h[j as usize * nb + i as usize] += 1.0;
        }
    }
    let h = smooth2d(&h, nb, p.smooth);
    let max = h.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return None;
    }
    // Local maxima (8-neighbourhood, ties broken by index so plateaus count once).
    let mut peaks = Vec::new();
    for j in 0..nb {
        for i in 0..nb {
            let v = h[j * nb + i];
            if v < p.min_peak_height * max || v <= 0.0 {
                continue;
            }
            let mut is_max = true;
            for (di, dj) in NEIGH8 {
                let (ni, nj) = (i as isize + di, j as isize + dj);
                if ni < 0 || nj < 0 || ni >= nb as isize || nj >= nb as isize {
                    continue;
                }
                let w = h[nj as usize * nb + ni as usize];
                let later = (nj as usize * nb + ni as usize) > j * nb + i;
                if w > v || (w == v && later) {
                    is_max = false;
                    break;
                }
            }
            if is_max {
                peaks.push((i, j, v));
            }
        }
    }
    let &(pi, pj, pv) = match p.pick {
        PeakPick::Highest => peaks.iter().max_by(|a, b| a.2.total_cmp(&b.2)),
        PeakPick::LowestY => peaks
            .iter()
            .min_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0))),
        PeakPick::HighestX => peaks
            .iter()
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1))),
    }?;
    // Downhill region growing.
    let floor = p.level * pv;
    let mut inside = vec![false; nb * nb];
    let mut stack = vec![(pi, pj)];
    inside[pj * nb + pi] = true;
    while let Some((i, j)) = stack.pop() {
        let v = h[j * nb + i];
        for (di, dj) in [(1isize, 0isize), (-1, 0), (0, 1), (0, -1)] {
            let (ni, nj) = (i as isize + di, j as isize + dj);
            if ni < 0 || nj < 0 || ni >= nb as isize || nj >= nb as isize {
                continue;
            }
            let (ni, nj) = (ni as usize, nj as usize);
            let w = h[nj * nb + ni];
            if !inside[nj * nb + ni] && w >= floor && w <= v {
                inside[nj * nb + ni] = true;
                stack.push((ni, nj));
            }
        }
    }
    let mut corners = Vec::new();
    for j in 0..nb {
        for i in 0..nb {
            if inside[j * nb + i] {
                for (ci, cj) in [(i, j), (i + 1, j), (i, j + 1), (i + 1, j + 1)] {
                    corners.push((x0 + ci as f64 * dx, y0 + cj as f64 * dy));
                }
            }
        }
    }
    let hull = convex_hull(corners);
    (hull.len() >= 3).then_some(hull)
}

const NEIGH8: [(isize, isize); 8] = [
    (-1, -1),
    (0, -1),
    (1, -1),
    (-1, 0),
    (1, 0),
    (-1, 1),
    (0, 1),
    (1, 1),
];

/// Separable Gaussian smoothing of an `n × n` grid (row-major).
fn smooth2d(h: &[f64], n: usize, sigma: f64) -> Vec<f64> {
    if sigma <= 0.0 {
        return h.to_vec();
    }
    let half = (3.0 * sigma).ceil() as usize;
    let k: Vec<f64> = (0..=half)
        .map(|d| (-0.5 * (d as f64 / sigma).powi(2)).exp())
        .collect();
    let mut tmp = vec![0.0; n * n];
    for j in 0..n {
        for i in 0..n {
            let v = h[j * n + i];
            if v == 0.0 {
                continue;
            }
            for t in i.saturating_sub(half)..=(i + half).min(n - 1) {
                tmp[j * n + t] += v * k[i.abs_diff(t)];
            }
        }
    }
    let mut out = vec![0.0; n * n];
    for j in 0..n {
        for i in 0..n {
            let v = tmp[j * n + i];
            if v == 0.0 {
                continue;
            }
            for t in j.saturating_sub(half)..=(j + half).min(n - 1) {
                out[t * n + i] += v * k[j.abs_diff(t)];
            }
        }
    }
    out
}

/// Convex hull (Andrew's monotone chain), counter-clockwise, no repeated
/// first point, collinear points dropped.
pub fn convex_hull(mut pts: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: (f64, f64), a: (f64, f64), b: (f64, f64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut lower: Vec<(f64, f64)> = Vec::new();
    for &p in &pts {
        while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], p) <= 0.0 {
            lower.pop();
        }
        lower.push(p);
    }
    let mut upper: Vec<(f64, f64)> = Vec::new();
    for &p in pts.iter().rev() {
        while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], p) <= 0.0 {
            upper.pop();
        }
        upper.push(p);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    lower
}

/// Parameters of the flow-rate anomaly filter (PeacoQC / flowAI style: the
/// acquisition is cut into time bins and bins whose event rate departs from
/// the run's typical rate are removed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowRateParams {
    /// Target events per bin (PeacoQC uses 1000); between 10 and 500 bins.
    pub events_per_bin: usize,
    /// A bin is anomalous when its count departs from the median bin count
    /// by more than `mads` robust standard deviations (1.4826 × MAD) …
    pub mads: f64,
    /// … and by more than this fraction of the median (so perfectly steady
    /// runs, whose MAD is tiny, do not lose bins to Poisson noise).
    pub min_relative: f64,
}

impl Default for FlowRateParams {
    fn default() -> Self {
        FlowRateParams {
            events_per_bin: 1000,
            mads: 4.0,
            min_relative: 0.2,
        }
    }
}

/// Result of the flow-rate filter: the time intervals kept (`[min, max)`,
/// open at the run's two ends) plus the bin profile for plots and QC.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowRate {
    pub keep: Vec<(Option<f64>, Option<f64>)>,
    /// Bin edges (`n_bins + 1` values).
    pub edges: Vec<f64>,
    /// Events per bin.
    pub counts: Vec<usize>,
    /// Which bins were removed.
    pub removed: Vec<bool>,
}

/// Finds the anomalous time bins of a run from its time values.
pub fn flow_rate(time: &[f64], p: &FlowRateParams) -> FlowRate {
    let finite: Vec<f64> = time.iter().copied().filter(|t| t.is_finite()).collect();
    let (tmin, tmax) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &t| {
            (a.min(t), b.max(t))
        });
    let everything = FlowRate {
        keep: vec![(None, None)],
        edges: Vec::new(),
        counts: Vec::new(),
        removed: Vec::new(),
    };
    if tmax.partial_cmp(&tmin) != Some(std::cmp::Ordering::Greater) {
        return everything;
    }
    let n_bins = (finite.len() / p.events_per_bin.max(1)).clamp(10, 500);
    let w = (tmax - tmin) / n_bins as f64;
    let edges: Vec<f64> = (0..=n_bins).map(|k| tmin + w * k as f64).collect();
    let mut counts = vec![0usize; n_bins];
    // Events come in acquisition order, so an event's bin is nearly always
    // the previous event's: that guess is tried first. It is the bin the
    // search below returns whenever `edges[k] ≤ t < edges[k + 1]` (the
    // edges never decrease), with the first and last bins open outwards.
    let mut k = 0;
    for &t in &finite {
        let lower_ok = k == 0 || edges.get(k).is_some_and(|&e| e <= t);
        let upper_ok = k + 1 == n_bins || edges.get(k + 1).is_some_and(|&e| t < e);
        if !(lower_ok && upper_ok) {
            // Upper bin on an edge, as the half-open rectangles will decide.
            k = edges
                .partition_point(|&e| e <= t)
                .saturating_sub(1)
                .min(n_bins - 1);
        }
        if let Some(c) = counts.get_mut(k) {
            *c += 1;
        }
    }
    let mut sorted: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let med = quantile_sorted(&sorted, 0.5);
    let mut dev: Vec<f64> = sorted.iter().map(|c| (c - med).abs()).collect();
    dev.sort_unstable_by(f64::total_cmp);
    let mad = 1.4826 * quantile_sorted(&dev, 0.5);
    let limit = (p.mads * mad).max(p.min_relative * med);
    let removed: Vec<bool> = counts
        .iter()
        .map(|&c| (c as f64 - med).abs() > limit)
        .collect();
    let mut keep = Vec::new();
    let mut k = 0;
    while k < n_bins {
        if removed[k] {
            k += 1;
            continue;
        }
        let start = k;
        while k < n_bins && !removed[k] {
            k += 1;
        }
        let min = (start > 0).then(|| edges[start]);
        let max = (k < n_bins).then(|| edges[k]);
        keep.push((min, max));
    }
    FlowRate {
        keep,
        edges,
        counts,
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, Normal};

    fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(seed)
    }

    fn normal(r: &mut rand_chacha::ChaCha8Rng, mu: f64, sd: f64, n: usize) -> Vec<f64> {
        let d = Normal::new(mu, sd).unwrap();
        (0..n).map(|_| d.sample(r)).collect()
    }

    #[test]
    fn valley_between_negative_and_positive() {
        let mut r = rng(7);
        let mut v = normal(&mut r, 0.0, 1.0, 9000);
        v.extend(normal(&mut r, 10.0, 1.0, 1000));
        let t = valley_threshold(&v, &ValleyParams::default()).unwrap();
        assert!(t.valley_found);
        assert_eq!(t.peaks.len(), 2);
        // The true minimum of this mixture lies near 5.2; anything in (4, 7)
        // misclassifies < 0.1% of events.
        assert!(t.value > 4.0 && t.value < 7.0, "{t:?}");
    }

    #[test]
    fn pick_first_and_last_of_three_populations() {
        let mut r = rng(8);
        let mut v = normal(&mut r, 0.0, 1.0, 5000);
        v.extend(normal(&mut r, 10.0, 1.0, 3000));
        v.extend(normal(&mut r, 20.0, 1.0, 2000));
        let first = ValleyParams {
            pick: Pick::First,
            ..Default::default()
        };
        let last = ValleyParams {
            pick: Pick::Last,
            ..Default::default()
        };
        let a = valley_threshold(&v, &first).unwrap().value;
        let b = valley_threshold(&v, &last).unwrap().value;
        assert!(a > 3.0 && a < 7.0, "{a}");
        assert!(b > 13.0 && b < 17.0, "{b}");
        // A quantile window that excludes the first valley.
        let windowed = ValleyParams {
            window: Some([0.6, 1.0]),
            ..Default::default()
        };
        let c = valley_threshold(&v, &windowed).unwrap().value;
        assert!(c > 13.0 && c < 17.0, "{c}");
    }

    #[test]
    fn top_peak_edge_keeps_a_low_shoulder_below_the_threshold() {
        // Negatives (0, sd 1), a low shoulder (4, sd 1) and a bright peak
        // (12, sd 1): the valley falls inside the shoulder; the bright
        // peak's edge at 3 sds (≈ 9) keeps the shoulder on the low side.
        let mut r = rng(11);
        let mut v = normal(&mut r, 0.0, 1.0, 6000);
        v.extend(normal(&mut r, 4.0, 1.0, 1500));
        v.extend(normal(&mut r, 12.0, 1.0, 6000));
        let plain = valley_threshold(&v, &ValleyParams::default()).unwrap();
        let edged = valley_threshold(
            &v,
            &ValleyParams {
                top_peak_edge: Some(3.0),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(plain.valley_found && edged.valley_found);
        assert!(plain.value < 8.0, "{plain:?}");
        assert!((edged.value - 9.0).abs() < 0.3, "{edged:?}");
        let shoulder_kept = v.iter().filter(|x| **x < edged.value && **x > 2.0).count();
        assert!(
            shoulder_kept as f64 > 0.97 * 1500.0 * 0.97,
            "{shoulder_kept}"
        );
        // A valley already above the edge is not lowered.
        let far = ValleyParams {
            top_peak_edge: Some(20.0),
            ..Default::default()
        };
        assert_eq!(valley_threshold(&v, &far).unwrap().value, plain.value);
    }

    #[test]
    fn unimodal_uses_the_peak_offset_fallback() {
        let mut r = rng(9);
        let v = normal(&mut r, 5.0, 2.0, 20000);
        let t = valley_threshold(&v, &ValleyParams::default()).unwrap();
        assert!(!t.valley_found);
        // mode 5 + 3 × lower-side RMS (= sd 2) = 11.
        assert!((t.value - 11.0).abs() < 0.4, "{t:?}");
        let q = ValleyParams {
            fallback: Fallback::Quantile { p: 0.5 },
            ..Default::default()
        };
        assert!((valley_threshold(&v, &q).unwrap().value - 5.0).abs() < 0.1);
    }

    #[test]
    fn extreme_quantile_fallbacks_keep_the_extreme_events() {
        let mut r = rng(11);
        let v = normal(&mut r, 5.0, 2.0, 5000);
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        let at = |p: f64| {
            let params = ValleyParams {
                fallback: Fallback::Quantile { p },
                ..Default::default()
            };
            valley_threshold(&v, &params).unwrap().value
        };
        // Strictly outside (min inclusive and max exclusive would otherwise
        // hinge on the last digit), and by no more than a rounding margin.
        let (below, above) = (at(0.0), at(1.0));
        assert!(below < lo && lo - below < 1e-8, "{below} vs min {lo}");
        assert!(above > hi && above - hi < 1e-7, "{above} vs max {hi}");
        assert!(v.iter().all(|&x| x >= below && x < above));
    }

    #[test]
    fn singlet_band_excludes_doublets() {
        let mut r = rng(10);
        let h: Vec<f64> = (0..20000).map(|_| r.gen_range(20000.0..80000.0)).collect();
        let ratio = Normal::new(1.1, 0.03).unwrap();
        let mut a: Vec<f64> = h.iter().map(|h| h * ratio.sample(&mut r)).collect();
        // 10% doublets: area ~1.7× height.
        for x in a.iter_mut().take(2000) {
            *x *= 1.55;
        }
        let band = singlet_band(&a, &h, 4.0).unwrap();
        assert!((band.mode - 1.1).abs() < 0.01, "{band:?}");
        assert!(band.hi > 1.2 && band.hi < 1.3, "{band:?}");
        assert!(band.lo > 0.9 && band.lo < 1.0, "{band:?}");
    }

    #[test]
    fn peak_region_finds_the_low_y_population() {
        let mut r = rng(11);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        // "lymphocytes" (30%) and "granulocytes" (70%).
        x.extend(normal(&mut r, 50.0, 5.0, 3000));
        y.extend(normal(&mut r, 20.0, 3.0, 3000));
        x.extend(normal(&mut r, 80.0, 8.0, 7000));
        y.extend(normal(&mut r, 120.0, 15.0, 7000));
        let p = PeakRegionParams {
            pick: PeakPick::LowestY,
            ..Default::default()
        };
        let poly = peak_region(&x, &y, &p).unwrap();
        let inside = |from: usize, to: usize| {
            (from..to)
                .filter(|&i| super::super::resolved::in_polygon(x[i], y[i], &poly))
                .count()
        };
        let lymph = inside(0, 3000);
        let gran = inside(3000, 10000);
        assert!(lymph > 2910, "kept {lymph} of 3000");
        assert!(gran < 20, "took {gran} granulocytes");
    }

    #[test]
    fn flow_rate_bins_events_as_a_search_of_the_edges_does() {
        // In order (the common case, where the previous bin is the guess),
        // shuffled, and with events exactly on edges.
        let mut r = rng(13);
        let mut t: Vec<f64> = (0..20_000).map(|i| i as f64 * 0.01).collect();
        // 0 and 200 make the edges whole multiples of the bin width.
        t.extend([0.0, 200.0, 100.0, 50.0, 150.0]);
        let mut shuffled = t.clone();
        rand::seq::SliceRandom::shuffle(shuffled.as_mut_slice(), &mut r);
        for times in [t, shuffled] {
            let fr = flow_rate(&times, &FlowRateParams::default());
            let n_bins = fr.counts.len();
            let mut want = vec![0usize; n_bins];
            for &x in &times {
                let k = fr
                    .edges
                    .partition_point(|&e| e <= x)
                    .saturating_sub(1)
                    .min(n_bins - 1);
                want[k] += 1;
            }
            assert_eq!(fr.counts, want);
        }
    }

    #[test]
    fn flow_rate_removes_a_clog() {
        let mut r = rng(12);
        // 100 s at 1000 ev/s, with a clog from 40 to 45 s (10% rate) and a
        // burst right after (45–47 s, 3× rate).
        let mut t = Vec::new();
        for s in 0..100 {
            let rate = match s {
                40..=44 => 100,
                45..=46 => 3000,
                _ => 1000,
            };
            t.extend((0..rate).map(|_| s as f64 + r.gen::<f64>()));
        }
        let fr = flow_rate(&t, &FlowRateParams::default());
        assert_eq!(fr.keep.len(), 2, "{:?}", fr.keep);
        let (a, b) = (fr.keep[0].1.unwrap(), fr.keep[1].0.unwrap());
        assert!(a > 39.0 && a <= 40.5, "{a}");
        assert!((46.5..48.0).contains(&b), "{b}");
        let steady: Vec<f64> = (0..50000).map(|_| r.gen_range(0.0..50.0)).collect();
        assert_eq!(
            flow_rate(&steady, &FlowRateParams::default()).keep,
            vec![(None, None)]
        );
    }
}
