//! Renders each kind of report plot to a PNG.
//!
//! Cost is kept proportional to the events once: a density plot bins the
//! parent's events into a fixed grid (128 × 128 by default) and colours
//! pixels per bin, never one marker per event; the rest is a few hundred
//! draw calls for axes, outlines and text.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::matrix::EventMatrix;
use crate::report::axis::AxisScale;
use crate::report::canvas::{
    heatcolor, label_box, pseudocolor, text, text_vertical, text_width, Area, Axis, Canvas, Frame,
    GATE, INK,
};
use crate::report::gates::{outline, quadrant_anchor, View};
use crate::report::model::{
    AxisSpec, CoordSpace, DensitySpec, FlowRateSpec, GateOverlay, GateShape, HeatmapSpec,
    HistogramSpec, Members,
};

/// Rendering knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Bins per axis of density plots (and of histograms).
    pub bins: usize,
    /// Pixel size of the square data area of density plots (a multiple of
    /// `bins` keeps every bin the same size).
    pub plot_px: u32,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            bins: 128,
            plot_px: 256,
        }
    }
}

/// A gate as drawn: its label and pixel evidence of its outline.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawnGate {
    /// Population name.
    pub name: String,
    /// The label text drawn (name, count, % of parent).
    pub label: String,
    /// Pixels on the drawn outline (midpoints of its clipped segments);
    /// empty for a Boolean gate or an outline entirely off the view.
    pub outline_pixels: Vec<(i32, i32)>,
}

/// One rendered plot.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedPlot {
    /// Title shown above the image.
    pub title: String,
    /// Name of the plotted population (empty for batch-level plots).
    pub parent: String,
    /// PNG bytes.
    pub png: Vec<u8>,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Events drawn (binned); equals the parent count unless some values
    /// were NaN (`nan_events`).
    pub events_plotted: usize,
    /// Events of the plotted parent population.
    pub parent_count: usize,
    /// Events outside the axis range, piled on the nearest edge bin.
    pub off_scale: usize,
    /// Events with a NaN value in a plotted column (not drawn).
    pub nan_events: usize,
    /// Gates drawn on it.
    pub gates: Vec<DrawnGate>,
    /// One line of text under the plot.
    pub caption: String,
}

/// Formats a count with thousands grouped by a narrow no-break space
/// (U+202F, the SI style): 12 345. Not a comma: at plot label size a comma
/// renders as a dot, and "6.093" reads as six events to half the world.
pub fn fmt_count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len());
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// "NK 1,234 (12.3%)".
pub fn gate_label(g: &GateOverlay) -> String {
    match g.pct_parent {
        Some(p) => format!("{} {} ({:.1}%)", g.name, fmt_count(g.count), p),
        None => format!("{} {}", g.name, fmt_count(g.count)),
    }
}

fn valid((lo, hi): (f64, f64)) -> bool {
    lo.is_finite() && hi.is_finite() && hi > lo
}

/// The event column an axis plots.
fn column<'e>(events: &'e EventMatrix, axis: &AxisSpec) -> Result<&'e [f64], String> {
    events.column_by_name(&axis.column).ok_or_else(|| {
        format!(
            "no column {:?} in the event matrix (columns: {})",
            axis.column,
            events.names().join(", ")
        )
    })
}

/// One value on the plotted coordinate. A finite data value the scale
/// cannot map (log of ≤ 0) is below the axis, piled on its minimum like
/// FlowJo does.
#[inline]
fn plotted_value(axis: &AxisSpec, v: f64) -> f64 {
    match axis.values {
        CoordSpace::Plotted => v,
        CoordSpace::Data => {
            let m = axis.scale.forward(v);
            if m.is_nan() && !v.is_nan() {
                f64::NEG_INFINITY
            } else {
                m
            }
        }
    }
}

/// The parent's values on one axis, in plotted coordinates.
fn axis_values(
    events: &EventMatrix,
    axis: &AxisSpec,
    members: Members<'_>,
) -> Result<Vec<f64>, String> {
    let col = column(events, axis)?;
    let mut out = Vec::with_capacity(capacity(members, col.len()));
    members.for_each(col.len(), |i| out.push(plotted_value(axis, col[i])));
    Ok(out)
}

/// An upper bound of the members below `n`, cheap to get: vectors sized
/// once instead of grown (each regrowth of a 50k-event vector is a fresh
/// allocation that the kernel has to fault in).
fn capacity(members: Members<'_>, n: usize) -> usize {
    match members {
        Members::All => n,
        Members::Mask(m) => m.iter().take(n).filter(|&&b| b).count(),
        Members::Indices(ix) => ix.len().min(n),
        Members::Bits(words) => words
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum::<usize>()
            .min(n),
    }
}

/// The coordinates a gate reaches on one axis (0 = x, 1 = y), plotted.
fn gate_extent(g: &GateOverlay, axis: &AxisSpec, which: usize) -> Vec<f64> {
    let raw: Vec<f64> = match &g.shape {
        GateShape::Range(iv) if which == 0 => [iv.min, iv.max].into_iter().flatten().collect(),
        GateShape::Rectangle { x, y } => {
            let iv = if which == 0 { x } else { y };
            [iv.min, iv.max].into_iter().flatten().collect()
        }
        GateShape::Quadrant { x, y, .. } => vec![if which == 0 { *x } else { *y }],
        GateShape::Polygon { vertices } => vertices
            .iter()
            .map(|v| if which == 0 { v.0 } else { v.1 })
            .collect(),
        GateShape::Ellipse {
            mean,
            covariance,
            distance_square,
        } => {
            let (m, var) = if which == 0 {
                (mean.0, covariance[0][0])
            } else {
                (mean.1, covariance[1][1])
            };
            let r = (distance_square * var).max(0.0).sqrt();
            vec![m - r, m + r]
        }
        _ => Vec::new(),
    };
    raw.into_iter()
        .map(|v| match g.space {
            CoordSpace::Plotted => v,
            CoordSpace::Data => axis.scale.forward(v),
        })
        .filter(|v| v.is_finite())
        .collect()
}

/// An automatic range widened to show every gate's boundary (a fallback
/// threshold at the data's minimum must still be visible).
fn include_gates(
    (lo, hi): (f64, f64),
    gates: &[GateOverlay],
    axis: &AxisSpec,
    which: usize,
) -> (f64, f64) {
    let (mut a, mut b) = (lo, hi);
    for g in gates {
        for v in gate_extent(g, axis, which) {
            a = a.min(v);
            b = b.max(v);
        }
    }
    if (a, b) == (lo, hi) {
        return (lo, hi);
    }
    let pad = 0.04 * (b - a);
    (
        if a < lo { a - pad } else { lo },
        if b > hi { b + pad } else { hi },
    )
}

/// Visible range: the spec's, else the 0.1–99.9th percentile of the finite
/// values padded by 5% (so a few outliers don't squash the population).
fn resolve_range(axis: &AxisSpec, values: &[f64]) -> (f64, f64) {
    resolve_range_mapped(axis, values, |v| v)
}

/// [`resolve_range`] of `map(values)` for a non-decreasing `map` whose
/// result is finite exactly for finite input: the order statistics are
/// taken on the values and only the two picked are mapped.
fn resolve_range_mapped(axis: &AxisSpec, values: &[f64], map: impl Fn(f64) -> f64) -> (f64, f64) {
    if let Some((lo, hi)) = axis.range {
        if lo.is_finite() && hi.is_finite() && hi > lo {
            return (lo, hi);
        }
    }
    let mut v: Vec<f64> = Vec::with_capacity(values.len());
    v.extend(values.iter().copied().filter(|x| x.is_finite()));
    if v.is_empty() {
        return (0.0, 1.0);
    }
    // Two order statistics by selection (linear), not a full sort: this
    // runs on every plot's parent population.
    let last = v.len() - 1;
    let mut q = |p: f64| {
        let k = ((last as f64 * p).round() as usize).min(last);
        let (_, x, _) = v.select_nth_unstable_by(k, f64::total_cmp);
        map(*x)
    };
    let (lo, hi) = (q(0.001), q(0.999));
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// Bins one axis's values, which may be data values that the axis maps.
///
/// For an arcsinh axis over data values the bin edges are mapped back to
/// data units once (`sinh`), and each event is placed by a binary search
/// over those edges instead of an `asinh` per event: the per-event
/// transform was the larger part of the report's cost. The bins are the
/// same as binning the transformed values (asinh is monotone), up to an
/// event lying within rounding of an edge.
enum AxisBinner {
    /// Values on the plotted coordinate (or a scale mapped per event).
    Plotted(Binner),
    /// Arcsinh axis: data-unit edges of the plotted bins.
    DataEdges { edges: Vec<f64>, nb: usize },
}

impl AxisBinner {
    fn new(axis: &AxisSpec, lo: f64, hi: f64, nb: usize) -> Self {
        match (&axis.values, &axis.scale) {
            (CoordSpace::Data, AxisScale::Asinh { cofactor }) => {
                let step = (hi - lo) / nb as f64;
                let edges = (0..=nb)
                    .map(|k| (lo + k as f64 * step).sinh() * cofactor)
                    .collect();
                AxisBinner::DataEdges { edges, nb }
            }
            _ => AxisBinner::Plotted(Binner::new(lo, hi, nb)),
        }
    }

    /// True when [`AxisBinner::bin`] takes data values as they are.
    fn takes_data(&self) -> bool {
        matches!(self, AxisBinner::DataEdges { .. })
    }

    #[inline]
    fn bin(&self, v: f64) -> Option<(usize, bool)> {
        match self {
            AxisBinner::Plotted(b) => b.bin(v),
            AxisBinner::DataEdges { edges, nb } => {
                if v.is_nan() {
                    return None;
                }
                let (first, last) = (edges.first()?, edges.last()?);
                if v < *first {
                    return Some((0, true));
                }
                if v > *last {
                    return Some((nb - 1, true));
                }
                let k = edges.partition_point(|e| *e <= v).saturating_sub(1);
                Some((k.min(nb - 1), false))
            }
        }
    }
}

/// The parent's values of one axis, ready for its binner: data values
/// when the binner takes them, else plotted values.
fn values_for(
    events: &EventMatrix,
    axis: &AxisSpec,
    members: Members<'_>,
    data: bool,
) -> Result<Vec<f64>, String> {
    if data {
        let col = column(events, axis)?;
        let mut out = Vec::with_capacity(capacity(members, col.len()));
        members.for_each(col.len(), |i| out.push(col[i]));
        Ok(out)
    } else {
        axis_values(events, axis, members)
    }
}

/// True when an axis over data values is arcsinh (binned by data edges).
fn data_binned(axis: &AxisSpec) -> bool {
    matches!(
        (&axis.values, &axis.scale),
        (CoordSpace::Data, AxisScale::Asinh { .. })
    )
}

/// The visible range of an axis from the values [`values_for`] gave.
fn range_for(axis: &AxisSpec, values: &[f64], data: bool) -> (f64, f64) {
    if data {
        resolve_range_mapped(axis, values, |v| axis.scale.forward(v))
    } else {
        resolve_range(axis, values)
    }
}

/// Maps plotted values to bins of a fixed grid.
#[derive(Debug, Clone, Copy)]
struct Binner {
    lo: f64,
    hi: f64,
    /// Bins per plotted unit (a multiply per event instead of a divide).
    scale: f64,
    nb: usize,
}

impl Binner {
    fn new(lo: f64, hi: f64, nb: usize) -> Self {
        Binner {
            lo,
            hi,
            scale: nb as f64 / (hi - lo),
            nb,
        }
    }

    /// Bin index of `v`, clamped to the edges; the flag says whether it was
    /// clamped (off scale). `None` for NaN.
    #[inline]
    fn bin(&self, v: f64) -> Option<(usize, bool)> {
        if v.is_nan() {
            return None;
        }
        let f = (v - self.lo) * self.scale;
        if f < 0.0 {
            Some((0, true))
        } else if f >= self.nb as f64 {
            Some((self.nb - 1, f > self.nb as f64 || v > self.hi))
        } else {
            Some(((f as usize).min(self.nb - 1), false))
        }
    }
}

/// Bin index of `v` in `nb` bins over `[lo, hi)` (see [`Binner::bin`]).
#[inline]
fn bin(v: f64, lo: f64, hi: f64, nb: usize) -> Option<(usize, bool)> {
    Binner::new(lo, hi, nb).bin(v)
}

/// Density plot layout: margins around the square data area.
const D_LEFT: i32 = 66;
const D_TOP: i32 = 30;
const D_RIGHT: i32 = 14;
const D_BOTTOM: i32 = 46;

/// Renders a bivariate pseudocolour plot of `parent` with its gates.
pub fn render_density(
    spec: &DensitySpec,
    events: &EventMatrix,
    parent: Members<'_>,
    opts: RenderOptions,
) -> Result<RenderedPlot, String> {
    // Arcsinh axes are binned on data values (edges mapped once), other
    // scales on plotted values mapped once per event.
    let (dx, dy) = (data_binned(&spec.x), data_binned(&spec.y));
    let xs = values_for(events, &spec.x, parent, dx)?;
    let ys = values_for(events, &spec.y, parent, dy)?;
    let parent_count = xs.len().min(ys.len());
    let (xlo, xhi) = match spec.x.range {
        Some(r) if valid(r) => r,
        _ => include_gates(range_for(&spec.x, &xs, dx), &spec.gates, &spec.x, 0),
    };
    let (ylo, yhi) = match spec.y.range {
        Some(r) if valid(r) => r,
        _ => include_gates(range_for(&spec.y, &ys, dy), &spec.gates, &spec.y, 1),
    };
    let nb = opts.bins.max(2);
    let mut grid = vec![0u32; nb * nb];
    let (mut plotted, mut off, mut nan) = (0usize, 0usize, 0usize);
    let bx_ = AxisBinner::new(&spec.x, xlo, xhi, nb);
    let by_ = AxisBinner::new(&spec.y, ylo, yhi, nb);
    debug_assert!(bx_.takes_data() == dx && by_.takes_data() == dy);
    for (&x, &y) in xs.iter().zip(&ys) {
        match (bx_.bin(x), by_.bin(y)) {
            (Some((bx, cx)), Some((by, cy))) => {
                grid[by * nb + bx] += 1;
                plotted += 1;
                off += usize::from(cx || cy);
            }
            _ => nan += 1,
        }
    }
    let side = opts.plot_px as i32;
    // Boolean gates have no outline: their labels go under the plot.
    let n_bool = spec
        .gates
        .iter()
        .filter(|g| matches!(g.shape, GateShape::Boolean { .. }))
        .count() as i32;
    let (w, h) = (
        (D_LEFT + side + D_RIGHT) as u32,
        (D_TOP + side + D_BOTTOM + 16 * n_bool) as u32,
    );
    let mut canvas = Canvas::new(w, h);
    // Density pixels, written straight into the buffer; colour by log count
    // so sparse populations stay visible next to dense ones (as FlowJo).
    let max = grid.iter().copied().max().unwrap_or(0);
    // The scale tops out at no less than 16 events per bin: in a sparse
    // plot (a few dozen events) single events stay blue instead of all
    // showing as the hottest colour, which reads as "dense" to an eye used
    // to FlowJo.
    let lmax = (1.0 + (max as f64).max(16.0)).ln();
    for by in 0..nb {
        for bx in 0..nb {
            let c = grid[by * nb + bx];
            if c == 0 {
                continue;
            }
            let t = if lmax > 0.0 {
                (1.0 + c as f64).ln() / lmax
            } else {
                1.0
            };
            // 64 colour levels: indistinguishable from continuous, and keeps
            // the PNG palette-encodable.
            let t = (t * 63.0).round() / 63.0;
            let x0 = D_LEFT as i64 + (bx as i64 * side as i64) / nb as i64;
            let x1 = D_LEFT as i64 + ((bx as i64 + 1) * side as i64) / nb as i64;
            let y1 = (D_TOP + side) as i64 - (by as i64 * side as i64) / nb as i64;
            let y0 = (D_TOP + side) as i64 - ((by as i64 + 1) * side as i64) / nb as i64;
            canvas.fill_rect(x0, y0, x1, y1, pseudocolor(t));
        }
    }
    let frame = Frame {
        left: D_LEFT,
        top: D_TOP,
        width: side,
        height: side,
        x: Axis {
            scale: spec.x.scale.clone(),
            lo: xlo,
            hi: xhi,
            title: spec.x.title.clone(),
        },
        y: Axis {
            scale: spec.y.scale.clone(),
            lo: ylo,
            hi: yhi,
            title: spec.y.title.clone(),
        },
    };
    let view = View {
        x: (xlo, xhi),
        y: (ylo, yhi),
    };
    let mut drawn = Vec::new();
    canvas.draw(|area| {
        frame.draw_axes(area)?;
        header(area, &spec.title, parent_count, w as i32)?;
        let mut booleans = Vec::new();
        for g in &spec.gates {
            let label = gate_label(g);
            if let GateShape::Boolean { expression } = &g.shape {
                booleans.push(format!("{label} = {expression}"));
                drawn.push(DrawnGate {
                    name: g.name.clone(),
                    label,
                    outline_pixels: Vec::new(),
                });
                continue;
            }
            let lines = outline(&g.shape, g.space, &spec.x.scale, Some(&spec.y.scale), view)
                .map_err(|e| format!("gate {:?}: {e}", g.name))?;
            let mut evidence = Vec::new();
            for l in &lines {
                evidence.extend(frame.draw_polyline(area, l, GATE, 2)?);
            }
            place_label(area, &frame, g, &label, &evidence, view)?;
            drawn.push(DrawnGate {
                name: g.name.clone(),
                label,
                outline_pixels: evidence,
            });
        }
        for (k, b) in booleans.iter().enumerate() {
            text(
                area,
                b,
                (8, D_TOP + side + D_BOTTOM + 16 * k as i32),
                10.5,
                INK,
                (HPos::Left, VPos::Top),
            )?;
        }
        Ok(())
    })?;
    let caption = caption_for(&spec.gates, parent_count, off, nan);
    Ok(RenderedPlot {
        title: spec.title.clone(),
        parent: spec.parent.clone(),
        png: canvas.to_png()?,
        width: w,
        height: h,
        events_plotted: plotted,
        parent_count,
        off_scale: off,
        nan_events: nan,
        gates: drawn,
        caption,
    })
}

fn caption_for(gates: &[GateOverlay], parent: usize, off: usize, nan: usize) -> String {
    let mut s = format!("{} events", fmt_count(parent));
    if off > 0 {
        s.push_str(&format!(", {} off scale (on the edges)", fmt_count(off)));
    }
    if nan > 0 {
        s.push_str(&format!(", {} NaN not drawn", fmt_count(nan)));
    }
    for g in gates {
        s.push_str("; ");
        s.push_str(&gate_label(g));
    }
    s
}

/// Title line: plot title on the left, parent count on the right.
fn header(area: &Area<'_>, title: &str, n: usize, width: i32) -> Result<(), String> {
    let count = format!("n = {}", fmt_count(n));
    let cw = text_width(area, &count, 11.0) as i32;
    let mut t = title.to_string();
    // Keep the title clear of the count: shorten from the left (the leaf
    // of a path is the informative end).
    while text_width(area, &t, 12.5) as i32 > width - cw - 24 && t.chars().count() > 4 {
        let rest: String = t.chars().skip(2).collect();
        t = format!("…{rest}");
    }
    text(area, &t, (8, 14), 12.5, INK, (HPos::Left, VPos::Center))?;
    text(
        area,
        &count,
        (width - 8, 14),
        11.0,
        INK,
        (HPos::Right, VPos::Center),
    )
}

/// Places a gate's label near its outline (above its top edge, inside the
/// data area), or in its corner for a quadrant.
fn place_label(
    area: &Area<'_>,
    frame: &Frame,
    g: &GateOverlay,
    label: &str,
    evidence: &[(i32, i32)],
    view: View,
) -> Result<(), String> {
    let (l, t, r, b) = (
        frame.left,
        frame.top,
        frame.left + frame.width,
        frame.top + frame.height,
    );
    let lw = text_width(area, label, 10.5) as i32;
    if let GateShape::Quadrant { corner, .. } = g.shape {
        let (qx, qy, right, top) = quadrant_anchor(corner, view);
        let x = frame.px(qx).round() as i32 + if right { -4 } else { 4 };
        let y = frame.py(qy).round() as i32 + if top { 4 } else { -4 };
        let hp = if right { HPos::Right } else { HPos::Left };
        let vp = if top { VPos::Top } else { VPos::Bottom };
        return label_box(area, label, (x, y), 10.5, (hp, vp));
    }
    if evidence.is_empty() {
        // Outline wholly off the view: say so inside the plot.
        return label_box(
            area,
            &format!("{label} (outside view)"),
            (l + 4, b - 4),
            10.5,
            (HPos::Left, VPos::Bottom),
        );
    }
    let x0 = evidence.iter().map(|p| p.0).min().unwrap_or(l);
    let y0 = evidence.iter().map(|p| p.1).min().unwrap_or(t);
    let x = x0.clamp(l + 3, (r - lw - 3).max(l + 3));
    if y0 - 16 >= t {
        label_box(area, label, (x, y0 - 3), 10.5, (HPos::Left, VPos::Bottom))
    } else {
        label_box(
            area,
            label,
            (x, (y0 + 3).max(t + 3)),
            10.5,
            (HPos::Left, VPos::Top),
        )
    }
}

/// Histogram layout.
const H_LEFT: i32 = 66;
const H_TOP: i32 = 30;
const H_RIGHT: i32 = 14;
const H_BOTTOM: i32 = 46;
const H_HEIGHT: i32 = 180;

/// Renders a 1-D histogram with threshold gates, peaks (▼) and valleys (◆).
pub fn render_histogram(
    spec: &HistogramSpec,
    events: &EventMatrix,
    parent: Members<'_>,
    opts: RenderOptions,
) -> Result<RenderedPlot, String> {
    let dx = data_binned(&spec.x);
    let xs = values_for(events, &spec.x, parent, dx)?;
    let parent_count = xs.len();
    let (lo, hi) = match spec.x.range {
        Some(r) if valid(r) => r,
        _ => include_gates(range_for(&spec.x, &xs, dx), &spec.gates, &spec.x, 0),
    };
    let nb = opts.bins.max(2);
    let mut counts = vec![0u32; nb];
    let (mut plotted, mut off, mut nan) = (0usize, 0usize, 0usize);
    let binner = AxisBinner::new(&spec.x, lo, hi, nb);
    for &x in &xs {
        match binner.bin(x) {
            Some((b, clamped)) => {
                counts[b] += 1;
                plotted += 1;
                off += usize::from(clamped);
            }
            None => nan += 1,
        }
    }
    let side = opts.plot_px as i32;
    let (w, h) = (
        (H_LEFT + side + H_RIGHT) as u32,
        (H_TOP + H_HEIGHT + H_BOTTOM) as u32,
    );
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    // At least 0..5 so that sparse histograms get whole-event ticks
    // (0, 1, 2 …), never 0.5 events.
    let ymax = (max * 1.15).max(5.0);
    let frame = Frame {
        left: H_LEFT,
        top: H_TOP,
        width: side,
        height: H_HEIGHT,
        x: Axis {
            scale: spec.x.scale.clone(),
            lo,
            hi,
            title: spec.x.title.clone(),
        },
        y: Axis {
            scale: AxisScale::Linear,
            lo: 0.0,
            hi: ymax,
            title: "Events".to_string(),
        },
    };
    let mut canvas = Canvas::new(w, h);
    for (b, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let x0 = H_LEFT as i64 + (b as i64 * side as i64) / nb as i64;
        let x1 = H_LEFT as i64 + ((b as i64 + 1) * side as i64) / nb as i64;
        let y0 = frame.py(c as f64).round() as i64;
        canvas.fill_rect(x0, y0, x1, (H_TOP + H_HEIGHT) as i64, [150, 175, 215]);
    }
    let view = View {
        x: (lo, hi),
        y: (0.0, ymax),
    };
    let mark = |v: f64| match spec.marks_space {
        CoordSpace::Plotted => v,
        CoordSpace::Data => spec.x.scale.forward(v),
    };
    let height_at = |p: f64| -> f64 { bin(p, lo, hi, nb).map_or(0.0, |(b, _)| counts[b] as f64) };
    let mut drawn = Vec::new();
    canvas.draw(|area| {
        frame.draw_axes(area)?;
        header(area, &spec.title, parent_count, w as i32)?;
        for g in &spec.gates {
            let label = gate_label(g);
            let lines = outline(&g.shape, g.space, &spec.x.scale, None, view)
                .map_err(|e| format!("gate {:?}: {e}", g.name))?;
            let mut evidence = Vec::new();
            for l in &lines {
                evidence.extend(frame.draw_polyline(area, l, GATE, 2)?);
            }
            // Label on the gated side of the threshold.
            if let GateShape::Range(iv) = &g.shape {
                let y = H_TOP + 4 + 15 * drawn.len() as i32;
                match (iv.min, iv.max) {
                    // On the gated side of the line, or across it (the
                    // arrow still points into the gate) when it would not
                    // fit inside the plot.
                    (Some(a), None) => {
                        let x = frame.px(map_gate(g.space, &spec.x.scale, a)).round() as i32;
                        let x = x.clamp(H_LEFT, H_LEFT + side);
                        let text = format!("{label} →");
                        let tw = text_width(area, &text, 10.5) as i32;
                        let (x, hp) = if x + 4 + tw + 4 <= H_LEFT + side {
                            (x + 4, HPos::Left)
                        } else {
                            ((x - 4).max(H_LEFT + 4 + tw), HPos::Right)
                        };
                        label_box(area, &text, (x, y), 10.5, (hp, VPos::Top))?;
                    }
                    (None, Some(b)) => {
                        let x = frame.px(map_gate(g.space, &spec.x.scale, b)).round() as i32;
                        let x = x.clamp(H_LEFT, H_LEFT + side);
                        let text = format!("← {label}");
                        let tw = text_width(area, &text, 10.5) as i32;
                        let (x, hp) = if x - 4 - tw - 4 >= H_LEFT {
                            (x - 4, HPos::Right)
                        } else {
                            ((x + 4).min(H_LEFT + side - 4 - tw), HPos::Left)
                        };
                        label_box(area, &text, (x, y), 10.5, (hp, VPos::Top))?;
                    }
                    (a, b) => {
                        let pa = a.map_or(lo, |v| map_gate(g.space, &spec.x.scale, v));
                        let pb = b.map_or(hi, |v| map_gate(g.space, &spec.x.scale, v));
                        let x = frame.px(0.5 * (pa + pb)).round() as i32;
                        let x = x.clamp(H_LEFT + 30, H_LEFT + side - 30);
                        label_box(area, &label, (x, y), 10.5, (HPos::Center, VPos::Top))?;
                    }
                }
            }
            drawn.push(DrawnGate {
                name: g.name.clone(),
                label,
                outline_pixels: evidence,
            });
        }
        // Peaks and valleys differ only in glyph and colour.
        let markers = [
            (&spec.peaks, "▼", RGBColor(200, 30, 30)),
            (&spec.valleys, "◆", RGBColor(20, 90, 200)),
        ];
        for (values, glyph, colour) in markers {
            for &v in values.iter() {
                let pv = mark(v);
                if !(pv >= lo && pv <= hi) {
                    continue;
                }
                let x = frame.px(pv).round() as i32;
                let y = frame.py(height_at(pv)).round() as i32 - 7;
                text(
                    area,
                    glyph,
                    (x, y),
                    12.0,
                    colour,
                    (HPos::Center, VPos::Center),
                )?;
            }
        }
        if !spec.peaks.is_empty() || !spec.valleys.is_empty() {
            text(
                area,
                "▼ peak  ◆ valley",
                (w as i32 - 6, h as i32 - 4),
                9.5,
                INK,
                (HPos::Right, VPos::Bottom),
            )?;
        }
        Ok(())
    })?;
    let mut caption = caption_for(&spec.gates, parent_count, off, nan);
    if let Some(n) = &spec.note {
        caption.push_str("; ");
        caption.push_str(n);
    }
    Ok(RenderedPlot {
        title: spec.title.clone(),
        parent: spec.parent.clone(),
        png: canvas.to_png()?,
        width: w,
        height: h,
        events_plotted: plotted,
        parent_count,
        off_scale: off,
        nan_events: nan,
        gates: drawn,
        caption,
    })
}

fn map_gate(space: CoordSpace, scale: &AxisScale, v: f64) -> f64 {
    match space {
        CoordSpace::Plotted => v,
        CoordSpace::Data => scale.forward(v),
    }
}

/// Renders flow rate over time with the removed intervals shaded.
pub fn render_flow_rate(spec: &FlowRateSpec, title: &str) -> Result<RenderedPlot, String> {
    let (w, h) = (560u32, 230u32);
    let (left, top, pw, ph) = (66, 30, 480, 150);
    let tmin = spec.time_s.iter().copied().fold(f64::INFINITY, f64::min);
    let tmax = spec
        .time_s
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let (tmin, tmax) = if tmax > tmin {
        (tmin, tmax)
    } else {
        (0.0, 1.0)
    };
    let rmax = spec
        .rate
        .iter()
        .copied()
        .filter(|r| r.is_finite())
        .fold(0.0, f64::max);
    let frame = Frame {
        left,
        top,
        width: pw,
        height: ph,
        x: Axis {
            scale: AxisScale::Linear,
            lo: tmin,
            hi: tmax,
            title: "Time (s)".to_string(),
        },
        y: Axis {
            scale: AxisScale::Linear,
            lo: 0.0,
            hi: (rmax * 1.15).max(1.0),
            title: "Events / s".to_string(),
        },
    };
    let mut canvas = Canvas::new(w, h);
    for &(a, b) in &spec.removed {
        let x0 = frame.px(a.max(tmin)).round() as i64;
        let x1 = frame.px(b.min(tmax)).round() as i64;
        canvas.fill_rect(
            x0,
            top as i64,
            x1.max(x0 + 1),
            (top + ph) as i64,
            [255, 205, 205],
        );
    }
    let n_events = spec.rate.len();
    canvas.draw(|area| {
        frame.draw_axes(area)?;
        text(area, title, (8, 14), 12.5, INK, (HPos::Left, VPos::Center))?;
        let pts: Vec<(f64, f64)> = spec
            .time_s
            .iter()
            .copied()
            .zip(spec.rate.iter().copied())
            .collect();
        frame.draw_polyline(area, &pts, RGBColor(30, 70, 160), 1)?;
        if !spec.removed.is_empty() {
            text(
                area,
                "shaded: removed by flow-rate QC",
                (left + pw - 4, top + 4),
                10.0,
                RGBColor(170, 30, 30),
                (HPos::Right, VPos::Top),
            )?;
        }
        Ok(())
    })?;
    let mut caption = format!("{} time bins", n_events);
    caption.push_str(&format!("; {} interval(s) removed", spec.removed.len()));
    if let Some(p) = spec.pct_removed {
        caption.push_str(&format!(" ({p:.1}% of events)"));
    }
    Ok(RenderedPlot {
        title: title.to_string(),
        parent: String::new(),
        png: canvas.to_png()?,
        width: w,
        height: h,
        events_plotted: 0,
        parent_count: 0,
        off_scale: 0,
        nan_events: 0,
        gates: Vec::new(),
        caption,
    })
}

/// One point of a cohort plot.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortPoint {
    /// Group label (e.g. "A · day 30").
    pub group: String,
    /// Sample file name.
    pub sample: String,
    /// The value.
    pub value: f64,
}

/// Renders a value by group, one point per sample, with the group median.
/// Groups are drawn in the order given.
pub fn render_cohort(
    title: &str,
    value_title: &str,
    groups: &[String],
    points: &[CohortPoint],
) -> Result<RenderedPlot, String> {
    let ng = groups.len().max(1);
    let slot = 90i32;
    let (left, top, ph) = (66, 30, 200);
    let pw = (slot * ng as i32).max(240);
    let (w, h) = ((left + pw + 14) as u32, (top + ph + 62) as u32);
    let finite: Vec<f64> = points
        .iter()
        .map(|p| p.value)
        .filter(|v| v.is_finite())
        .collect();
    let vmax = finite.iter().copied().fold(0.0, f64::max);
    let vmin = finite.iter().copied().fold(0.0, f64::min);
    let span = (vmax - vmin).max(1e-9);
    let frame = Frame {
        left,
        top,
        width: pw,
        height: ph,
        x: Axis {
            scale: AxisScale::Linear,
            lo: 0.0,
            hi: ng as f64,
            title: String::new(),
        },
        y: Axis {
            scale: AxisScale::Linear,
            lo: vmin - 0.02 * span,
            hi: vmax + 0.08 * span,
            title: value_title.to_string(),
        },
    };
    let mut canvas = Canvas::new(w, h);
    let mut n_drawn = 0usize;
    canvas.draw(|area| {
        // Only the y axis carries ticks; the x axis is categorical.
        let yframe = Frame {
            x: Axis {
                scale: AxisScale::Custom {
                    name: "categorical".into(),
                    forward: std::sync::Arc::new(|_| f64::NAN),
                    linear: false,
                },
                ..frame.x.clone()
            },
            ..frame.clone()
        };
        yframe.draw_axes(area)?;
        text(area, title, (8, 14), 12.5, INK, (HPos::Left, VPos::Center))?;
        for (gi, g) in groups.iter().enumerate() {
            let cx = frame.px(gi as f64 + 0.5);
            let vals: Vec<f64> = points
                .iter()
                .filter(|p| &p.group == g && p.value.is_finite())
                .map(|p| p.value)
                .collect();
            if !vals.is_empty() {
                let mut sorted = vals.clone();
                sorted.sort_by(f64::total_cmp);
                let n = sorted.len();
                let med = if n % 2 == 1 {
                    sorted[n / 2]
                } else {
                    0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
                };
                let y = frame.py(med).round() as i32;
                let half = (slot as f64 * 0.35) as i32;
                area.draw(&PathElement::new(
                    vec![(cx as i32 - half, y), (cx as i32 + half, y)],
                    RGBColor(200, 30, 30).stroke_width(2),
                ))
                .map_err(crate::report::canvas::perr)?;
            }
            for (k, v) in vals.iter().enumerate() {
                // Deterministic jitter (golden-ratio sequence) so that equal
                // values stay distinguishable.
                let j = ((k as f64 * 0.618_033_988_75).fract() - 0.5) * 0.5 * slot as f64;
                let (x, y) = ((cx + j).round() as i32, frame.py(*v).round() as i32);
                area.draw(&Circle::new(
                    (x, y),
                    4,
                    RGBColor(30, 70, 160).mix(0.75).filled(),
                ))
                .map_err(crate::report::canvas::perr)?;
                n_drawn += 1;
            }
            let mut label = g.clone();
            while text_width(area, &label, 10.5) > slot as f64 - 4.0 && label.chars().count() > 3 {
                let keep: String = label.chars().take(label.chars().count() - 2).collect();
                label = format!("{keep}…");
            }
            text(
                area,
                &label,
                (cx as i32, top + ph + 8),
                10.5,
                INK,
                (HPos::Center, VPos::Top),
            )?;
            text(
                area,
                &format!("n={}", vals.len()),
                (cx as i32, top + ph + 22),
                9.5,
                INK,
                (HPos::Center, VPos::Top),
            )?;
        }
        text(
            area,
            "red bar: group median",
            (left + pw - 4, top + 4),
            9.5,
            INK,
            (HPos::Right, VPos::Top),
        )
    })?;
    Ok(RenderedPlot {
        title: title.to_string(),
        parent: String::new(),
        png: canvas.to_png()?,
        width: w,
        height: h,
        events_plotted: n_drawn,
        parent_count: points.len(),
        off_scale: 0,
        nan_events: points.len() - n_drawn,
        gates: Vec::new(),
        caption: format!(
            "{} samples with a value in {} group(s)",
            n_drawn,
            groups.len()
        ),
    })
}

/// Renders a FlowSOM heatmap of metacluster medians, each marker (column)
/// scaled to its own min–max so that every marker's contrast is visible.
pub fn render_heatmap(spec: &HeatmapSpec) -> Result<RenderedPlot, String> {
    let (nr, nc) = (spec.rows.len(), spec.columns.len());
    if spec.values.len() != nr || spec.values.iter().any(|r| r.len() != nc) {
        return Err(format!("heatmap values are not {nr} rows × {nc} columns"));
    }
    let (cw, ch) = (46i32, 22i32);
    let row_label = |i: usize, name: &String| match spec.row_counts.as_ref().and_then(|c| c.get(i))
    {
        Some(n) => format!("{name} ({})", fmt_count(*n)),
        None => name.clone(),
    };
    // Room for the longest row label (phenotype names like "NKG2Abright
    // CD57− Ki-67− (1 088)" were cut at a fixed 150 px): 6.6 px per
    // character bounds DejaVu Sans at 11 px.
    let longest = spec
        .rows
        .iter()
        .enumerate()
        .map(|(i, n)| row_label(i, n).chars().count())
        .max()
        .unwrap_or(0);
    let left = (14 + (longest as f64 * 6.6).ceil() as i32).max(150);
    let top = 96i32;
    let (w, h) = (
        (left + cw * nc as i32 + 20).max(300) as u32,
        (top + ch * nr as i32 + 40) as u32,
    );
    let mut canvas = Canvas::new(w, h);
    let mut ranges = Vec::with_capacity(nc);
    for j in 0..nc {
        let col = spec.values.iter().map(|r| r[j]).filter(|v| v.is_finite());
        let (a, b) = col.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        ranges.push((a, b));
    }
    for (i, row) in spec.values.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let (a, b) = ranges[j];
            let t = if b > a { (v - a) / (b - a) } else { 0.5 };
            let c = if v.is_finite() {
                heatcolor(t)
            } else {
                [230, 230, 230]
            };
            let x0 = (left + cw * j as i32) as i64;
            let y0 = (top + ch * i as i32) as i64;
            canvas.fill_rect(x0, y0, x0 + cw as i64 - 1, y0 + ch as i64 - 1, c);
        }
    }
    canvas.draw(|area| {
        text(
            area,
            &spec.title,
            (8, 14),
            12.5,
            INK,
            (HPos::Left, VPos::Center),
        )?;
        for (j, name) in spec.columns.iter().enumerate() {
            let x = left + cw * j as i32 + cw / 2;
            text_vertical(area, name, (x, top - 36), 11.0)?;
        }
        for (i, name) in spec.rows.iter().enumerate() {
            let y = top + ch * i as i32 + ch / 2;
            let label = row_label(i, name);
            text(
                area,
                &label,
                (left - 6, y),
                11.0,
                INK,
                (HPos::Right, VPos::Center),
            )?;
            for (j, &v) in spec.values[i].iter().enumerate() {
                let (a, b) = ranges[j];
                let t = if b > a { (v - a) / (b - a) } else { 0.5 };
                let ink = if (0.3..0.8).contains(&t) {
                    INK
                } else {
                    RGBColor(250, 250, 250)
                };
                let s = if v.is_finite() {
                    format!("{v:.2}")
                } else {
                    "–".into()
                };
                text(
                    area,
                    &s,
                    (left + cw * j as i32 + cw / 2, y),
                    9.0,
                    ink,
                    (HPos::Center, VPos::Center),
                )?;
            }
        }
        text(
            area,
            "colour: each marker scaled to its own min–max",
            (left, top + ch * nr as i32 + 10),
            10.0,
            INK,
            (HPos::Left, VPos::Top),
        )?;
        Ok(())
    })?;
    Ok(RenderedPlot {
        title: spec.title.clone(),
        parent: String::new(),
        png: canvas.to_png()?,
        width: w,
        height: h,
        events_plotted: 0,
        parent_count: 0,
        off_scale: 0,
        nan_events: 0,
        gates: Vec::new(),
        caption: format!("{nr} metaclusters × {nc} markers (medians)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arcsinh_axes_bin_data_values_like_their_transform() {
        let axis = AxisSpec::new("x", "CD56 (PE-Cy7-A)", AxisScale::Asinh { cofactor: 150.0 })
            .with_data_values();
        let (lo, hi, nb) = (-1.5, 7.0, 128);
        let by_edges = AxisBinner::new(&axis, lo, hi, nb);
        assert!(by_edges.takes_data());
        let plain = Binner::new(lo, hi, nb);
        let mut same = 0;
        // −300 … 500,000 in uneven steps, plus off-scale values and NaN.
        let mut v = -300.0;
        while v < 5e5 {
            let want = plain.bin((v / 150.0f64).asinh());
            let got = by_edges.bin(v);
            let (w, g) = (want.unwrap(), got.unwrap());
            // Equal, or neighbours for a value within rounding of an edge.
            assert!(w.0.abs_diff(g.0) <= 1 && w.1 == g.1, "{v}: {w:?} vs {g:?}");
            same += usize::from(w == g);
            v += (v.abs() * 0.013).max(0.7);
        }
        assert!(same > 800, "only {same} equal bins");
        assert_eq!(by_edges.bin(-1e6), Some((0, true)));
        assert_eq!(by_edges.bin(1e12), Some((nb - 1, true)));
        assert_eq!(by_edges.bin(f64::INFINITY), Some((nb - 1, true)));
        assert_eq!(by_edges.bin(f64::NAN), None);
        // The range from data values equals the range from plotted values.
        let data: Vec<f64> = (0..5000).map(|i| (i as f64 - 900.0) * 37.0).collect();
        let plotted: Vec<f64> = data.iter().map(|x| (x / 150.0).asinh()).collect();
        assert_eq!(
            range_for(&axis, &data, true),
            range_for(&axis, &plotted, false)
        );
    }

    #[test]
    fn counts_format_with_separators() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(1000), "1\u{202f}000");
        assert_eq!(fmt_count(1_234_567), "1\u{202f}234\u{202f}567");
    }

    #[test]
    fn binning_clamps_and_flags() {
        assert_eq!(bin(-1.0, 0.0, 1.0, 10), Some((0, true)));
        assert_eq!(bin(0.05, 0.0, 1.0, 10), Some((0, false)));
        assert_eq!(bin(0.999, 0.0, 1.0, 10), Some((9, false)));
        assert_eq!(bin(7.0, 0.0, 1.0, 10), Some((9, true)));
        assert_eq!(bin(f64::NEG_INFINITY, 0.0, 1.0, 10), Some((0, true)));
        assert_eq!(bin(f64::NAN, 0.0, 1.0, 10), None);
    }
}
