//! The report's inputs: plain structs the pipeline runner fills with what it
//! already has after gating one sample (the transformed event matrix, the
//! populations' membership, the resolved gates, thresholds/peaks/valleys of
//! data-driven gates, flow-rate QC, the results row). Nothing here refers to
//! the gating or transform types, so the report can render anything a
//! producer can describe (the runner, a FlowJo workspace, a test).

use crate::matrix::EventMatrix;
use crate::report::axis::AxisScale;

/// Which units a coordinate is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CoordSpace {
    /// FCS scale units (after `$PnG`/`$PnE`, compensation): mapped through the
    /// axis scale before drawing. A straight polygon edge in data space is
    /// densified so that it curves on a logicle axis as it should.
    #[default]
    Data,
    /// Already on the plotted (transformed) coordinate, as Gating-ML gates
    /// with a `transformation-ref` are.
    Plotted,
}

/// One axis of a plot.
#[derive(Debug, Clone)]
pub struct AxisSpec {
    /// The column of the sample's event matrix to plot.
    pub column: String,
    /// Axis title: `marker (channel)`, e.g. "CD56 (PE-Cy7-A)".
    pub title: String,
    /// How data values map to the plotted coordinate (for ticks and gates).
    pub scale: AxisScale,
    /// Units of the column's values: `Plotted` when the runner hands over its
    /// transformed matrix (no work here), `Data` to have the report map them.
    pub values: CoordSpace,
    /// Visible range on the plotted coordinate; `None` = from the data
    /// (0.1–99.9th percentile of the parent's events, padded).
    pub range: Option<(f64, f64)>,
}

impl AxisSpec {
    /// An axis over a column whose values are already on the plotted scale.
    pub fn new(column: impl Into<String>, title: impl Into<String>, scale: AxisScale) -> Self {
        AxisSpec {
            column: column.into(),
            title: title.into(),
            scale,
            values: CoordSpace::Plotted,
            range: None,
        }
    }

    /// Sets the visible range from data units (e.g. `0..$PnR`).
    pub fn with_data_range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((self.scale.forward(lo), self.scale.forward(hi)));
        self
    }

    /// Sets the visible range on the plotted coordinate.
    pub fn with_range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((lo, hi));
        self
    }

    /// Declares that the column holds data units (the report maps them).
    pub fn with_data_values(mut self) -> Self {
        self.values = CoordSpace::Data;
        self
    }
}

/// One half-open or closed interval of a rectangle gate dimension.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Interval {
    /// Lower bound, `None` = unbounded.
    pub min: Option<f64>,
    /// Upper bound, `None` = unbounded.
    pub max: Option<f64>,
}

/// A corner of a quadrant gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corner {
    /// x ≥ divider, y ≥ divider (e.g. NKG2C+ KIR+).
    UpperRight,
    /// x < divider, y ≥ divider.
    UpperLeft,
    /// x < divider, y < divider.
    LowerLeft,
    /// x ≥ divider, y < divider.
    LowerRight,
}

/// The geometry of a gate, as resolved for this sample.
#[derive(Debug, Clone, PartialEq)]
pub enum GateShape {
    /// Axis-aligned rectangle (either bound may be open).
    Rectangle {
        /// Bounds on the x axis.
        x: Interval,
        /// Bounds on the y axis.
        y: Interval,
    },
    /// Closed polygon, vertices in order.
    Polygon {
        /// (x, y) vertices.
        vertices: Vec<(f64, f64)>,
    },
    /// Gating-ML ellipsoid: `(p−μ)ᵀ Σ⁻¹ (p−μ) ≤ D²`.
    Ellipse {
        /// Centre μ.
        mean: (f64, f64),
        /// Covariance Σ (row-major 2×2).
        covariance: [[f64; 2]; 2],
        /// D².
        distance_square: f64,
    },
    /// One quadrant of a quadrant gate; draws both dividers.
    Quadrant {
        /// Divider on x.
        x: f64,
        /// Divider on y.
        y: f64,
        /// Which quadrant this population is.
        corner: Corner,
    },
    /// A 1-D interval (threshold gates on a histogram: `min` = threshold of a
    /// "+" gate, `max` = threshold of a "−" gate).
    Range(Interval),
    /// A Boolean combination of other gates: no outline, listed by name.
    Boolean {
        /// Human-readable expression, e.g. "NKG2C+ AND KIR+".
        expression: String,
    },
}

/// A gate drawn on its parent's events, with the population it makes.
#[derive(Debug, Clone, PartialEq)]
pub struct GateOverlay {
    /// Population name, e.g. "NK".
    pub name: String,
    /// Events in the gated population.
    pub count: usize,
    /// Percent of the parent population (0–100); `None` when the parent is
    /// empty.
    pub pct_parent: Option<f64>,
    /// The resolved geometry.
    pub shape: GateShape,
    /// Units of the geometry's coordinates.
    pub space: CoordSpace,
}

/// A 2-D pseudocolour density plot of a parent population with the gates
/// defined on it.
#[derive(Debug, Clone)]
pub struct DensitySpec {
    /// Plot title (usually the parent's path).
    pub title: String,
    /// Name of the population whose events are plotted.
    pub parent: String,
    /// Horizontal axis.
    pub x: AxisSpec,
    /// Vertical axis.
    pub y: AxisSpec,
    /// Gates drawn on it.
    pub gates: Vec<GateOverlay>,
}

/// A 1-D histogram of a parent population, with data-driven thresholds and
/// the density peaks/valley they were derived from.
#[derive(Debug, Clone)]
pub struct HistogramSpec {
    /// Plot title.
    pub title: String,
    /// Name of the population whose events are plotted.
    pub parent: String,
    /// Horizontal axis.
    pub x: AxisSpec,
    /// Threshold/range gates on it.
    pub gates: Vec<GateOverlay>,
    /// Density peaks the threshold search found.
    pub peaks: Vec<f64>,
    /// Valleys (the chosen one first).
    pub valleys: Vec<f64>,
    /// Units of `peaks` and `valleys`.
    pub marks_space: CoordSpace,
    /// A note shown under the plot (e.g. "no valley in window: fallback").
    pub note: Option<String>,
}

/// One plot of a sample's gating hierarchy.
#[derive(Debug, Clone)]
pub enum PlotSpec {
    /// Bivariate pseudocolour plot.
    Density(DensitySpec),
    /// Univariate histogram.
    Histogram(HistogramSpec),
}

impl PlotSpec {
    /// The plot's title.
    pub fn title(&self) -> &str {
        match self {
            PlotSpec::Density(d) => &d.title,
            PlotSpec::Histogram(h) => &h.title,
        }
    }

    /// The plotted population's name.
    pub fn parent(&self) -> &str {
        match self {
            PlotSpec::Density(d) => &d.parent,
            PlotSpec::Histogram(h) => &h.parent,
        }
    }

    /// The gates drawn on it.
    pub fn gates(&self) -> &[GateOverlay] {
        match self {
            PlotSpec::Density(d) => &d.gates,
            PlotSpec::Histogram(h) => &h.gates,
        }
    }
}

/// Which events of the sample belong to a population.
#[derive(Debug, Clone, Copy)]
pub enum Members<'a> {
    /// Every event (the root population).
    All,
    /// One flag per event.
    Mask(&'a [bool]),
    /// Ascending event indices.
    Indices(&'a [u32]),
    /// Bit `i % 64` of word `i / 64` set for member event `i`.
    Bits(&'a [u64]),
}

impl Members<'_> {
    /// Calls `f(i)` for each member event index below `n`, in order.
    pub fn for_each(&self, n: usize, mut f: impl FnMut(usize)) {
        match self {
            Members::All => (0..n).for_each(f),
            Members::Mask(m) => m
                .iter()
                .take(n)
                .enumerate()
                .filter(|(_, &b)| b)
                .for_each(|(i, _)| f(i)),
            Members::Indices(ix) => ix
                .iter()
                .map(|&i| i as usize)
                .filter(|&i| i < n)
                .for_each(f),
            Members::Bits(words) => {
                for (w, &word) in words.iter().enumerate() {
                    let mut bits = word;
                    while bits != 0 {
                        let i = w * 64 + bits.trailing_zeros() as usize;
                        if i >= n {
                            return;
                        }
                        f(i);
                        bits &= bits - 1;
                    }
                }
            }
        }
    }

    /// Number of member events below `n`.
    pub fn count(&self, n: usize) -> usize {
        let mut c = 0;
        self.for_each(n, |_| c += 1);
        c
    }
}

/// A named population and its members.
#[derive(Debug, Clone)]
pub struct PopulationView<'a> {
    /// Name as used by [`PlotSpec::parent`].
    pub name: String,
    /// Full path for display, e.g. "root/Leukocytes/Singlets".
    pub path: String,
    /// Its events.
    pub members: Members<'a>,
}

/// Flow rate over acquisition time and the intervals the QC removed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FlowRateSpec {
    /// Bin centres, seconds.
    pub time_s: Vec<f64>,
    /// Events per second in each bin.
    pub rate: Vec<f64>,
    /// Removed time intervals `(start, end)`, seconds.
    pub removed: Vec<(f64, f64)>,
    /// Percent of events removed (for the caption).
    pub pct_removed: Option<f64>,
}

impl FlowRateSpec {
    /// Bins a time column (seconds) into `n_bins` equal bins.
    pub fn from_times(times_s: &[f64], n_bins: usize, removed: Vec<(f64, f64)>) -> Self {
        let finite = times_s.iter().copied().filter(|t| t.is_finite());
        let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), t| {
            (a.min(t), b.max(t))
        });
        let n_bins = n_bins.max(1);
        if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
            return FlowRateSpec {
                removed,
                ..Default::default()
            };
        }
        let w = (hi - lo) / n_bins as f64;
        let mut counts = vec![0usize; n_bins];
        for &t in times_s.iter().filter(|t| t.is_finite()) {
            let b = (((t - lo) / w) as usize).min(n_bins - 1);
            counts[b] += 1;
        }
        FlowRateSpec {
            time_s: (0..n_bins).map(|b| lo + (b as f64 + 0.5) * w).collect(),
            rate: counts.iter().map(|&c| c as f64 / w).collect(),
            removed,
            pct_removed: None,
        }
    }
}

/// Everything the report shows about one input file.
#[derive(Debug, Clone, Default)]
pub struct SampleReport<'a> {
    /// The exact input file name (as in results.csv).
    pub file: String,
    /// Position in the run's input order (the report keeps this order).
    pub index: usize,
    /// Why the file could not be read or gated; shown instead of plots.
    pub error: Option<String>,
    /// Reader repairs, missing samplesheet row, … (always shown).
    pub warnings: Vec<String>,
    /// QC flags from results.csv (highlighted in the summary).
    pub qc_flags: Vec<String>,
    /// The results.csv row as (column, value) in column order.
    pub summary: Vec<(String, String)>,
    /// The event matrix the plots' axis columns refer to.
    pub events: Option<&'a EventMatrix>,
    /// Populations referenced by the plots.
    pub populations: Vec<PopulationView<'a>>,
    /// The gating hierarchy, parent before child.
    pub plots: Vec<PlotSpec>,
    /// Flow rate over time, when the time QC ran.
    pub flow_rate: Option<FlowRateSpec>,
}

/// A cohort plot: one value of the results by samplesheet group, one point
/// per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortSpec {
    /// results.csv column with the value (e.g. "nk_per_ul").
    pub value_column: String,
    /// Axis title for it (e.g. "NK cells / µL").
    pub title: String,
    /// Samplesheet columns forming the group (e.g. ["cohort", "day"]).
    pub group_by: Vec<String>,
}

/// A FlowSOM heatmap: metacluster medians per marker.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapSpec {
    /// Title.
    pub title: String,
    /// Row labels (metaclusters), top to bottom.
    pub rows: Vec<String>,
    /// Column labels (markers).
    pub columns: Vec<String>,
    /// `values[row][column]` (on the transformed scale the clustering used).
    pub values: Vec<Vec<f64>>,
    /// Events per row (shown beside the label), when known.
    pub row_counts: Option<Vec<usize>>,
}

/// Batch-level facts shown at the top of the report.
#[derive(Debug, Clone, Default)]
pub struct BatchInfo {
    /// Report title.
    pub title: String,
    /// Lines of run facts (pipeline, version, hash, threads, timings).
    pub facts: Vec<(String, String)>,
    /// Inputs skipped (not FCS) with the reason.
    pub skipped: Vec<String>,
    /// Cohort plots to draw from the summary rows.
    pub cohort: Vec<CohortSpec>,
    /// FlowSOM heatmap, when clustering ran.
    pub flowsom: Option<HeatmapSpec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_forms_agree() {
        let mask = [true, false, true, true, false, false, true];
        let idx = [0u32, 2, 3, 6];
        let bits = [0b100_1101u64];
        let collect = |m: Members| {
            let mut v = Vec::new();
            m.for_each(7, |i| v.push(i));
            v
        };
        assert_eq!(collect(Members::Mask(&mask)), [0, 2, 3, 6]);
        assert_eq!(collect(Members::Indices(&idx)), [0, 2, 3, 6]);
        assert_eq!(collect(Members::Bits(&bits)), [0, 2, 3, 6]);
        assert_eq!(Members::All.count(7), 7);
        assert_eq!(Members::Bits(&bits).count(4), 3);
    }

    #[test]
    fn flow_rate_from_times() {
        let t: Vec<f64> = (0..1000).map(|i| i as f64 * 0.01).collect();
        let f = FlowRateSpec::from_times(&t, 10, vec![(2.0, 3.0)]);
        assert_eq!(f.rate.len(), 10);
        let total: f64 = f.rate.iter().sum::<f64>() * (9.99 / 10.0);
        assert!((total - 1000.0).abs() < 1e-6);
    }
}
