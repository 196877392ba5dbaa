//! The report as a pipeline stage + sink.
//!
//! [`ReportStage`] runs in the runner's worker, where the sample's events
//! and populations still exist: it draws every gate on its parent's events
//! (gates sharing a parent and axes on one plot; one-dimensional threshold
//! gates as histograms with their peaks and valley; the flow-rate filter as
//! rate over time) and attaches the PNGs to the result as an artifact.
//! [`ReportSink`] receives every result in input order (failed files too),
//! adds the results row and flags, and writes the report at the end.
//!
//! Wiring (in the `run` command): push `ReportStage::default()` into the
//! stages and `ReportSink::new(outdir)` into the sinks.

use std::path::PathBuf;
use std::sync::Arc;

use crate::pipeline::engine::{GateDetail, Gated, Population};
use crate::pipeline::resolved::{Dim, ResolvedGate};
use crate::pipeline::result::{BatchInfo as RunBatch, SampleResult};
use crate::pipeline::runner::Stage;
use crate::pipeline::scale::Axis;
use crate::pipeline::sink::{fmt_num, BatchSummary, Sink, SinkError};
use crate::report::adapt::gate_shape;
use crate::report::model::{
    AxisSpec, BatchInfo, CohortSpec, CoordSpace, DensitySpec, FlowRateSpec, GateOverlay, GateShape,
    HeatmapSpec, HistogramSpec, Members,
};
use crate::report::plots::{render_density, render_flow_rate, render_histogram, RenderOptions};
use crate::report::writer::{PlotOutcome, RenderedSample, ReportBuilder, ReportOptions};
use crate::report::AxisScale;

/// Artifact key (and stage name).
pub const ARTIFACT: &str = "report";

/// Artifact key of the FlowSOM heatmap (a [`HeatmapSpec`]) that the
/// pipeline's cluster stage attaches to the results it clustered.
pub const FLOWSOM_HEATMAP: &str = "flowsom_heatmap";

/// What the stage attaches to a sample's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportArtifact {
    /// The gating hierarchy's plots, parent before child.
    pub plots: Vec<PlotOutcome>,
    /// Flow rate over time, when the pipeline has a flow-rate gate.
    pub flow_rate: Option<PlotOutcome>,
    /// Plots that could not be drawn.
    pub warnings: Vec<String>,
}

/// Renders each sample's gating plots in the worker.
#[derive(Debug, Clone, Default)]
pub struct ReportStage {
    /// Rendering knobs.
    pub render: RenderOptions,
}

impl Stage for ReportStage {
    fn name(&self) -> &str {
        ARTIFACT
    }

    fn sample(
        &self,
        _batch: &RunBatch,
        gated: &Gated,
        result: &mut SampleResult,
    ) -> Result<(), String> {
        let art = render_gated(gated, self.render);
        result.artifacts.insert(ARTIFACT.to_string(), Arc::new(art));
        Ok(())
    }
}

/// Plots sharing a parent and axes.
struct Group<'g> {
    parent: &'g Population,
    x: Dim,
    y: Option<Dim>,
    gates: Vec<&'g Population>,
}

fn same(a: &Dim, b: &Dim) -> bool {
    a.channel == b.channel && a.compensated == b.compensated
}

/// Draws every gate of a gated sample on its parent's events.
pub fn render_gated(g: &Gated, opts: RenderOptions) -> ReportArtifact {
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut booleans: Vec<&Population> = Vec::new();
    let mut flow = None;
    let mut warnings = Vec::new();
    for pop in g.populations.iter().skip(1) {
        let (Some(gate), Some(parent_id)) = (&pop.gate, &pop.parent) else {
            continue;
        };
        let Some(parent) = g.population(parent_id) else {
            continue;
        };
        let dims: (Dim, Option<Dim>) = match gate {
            ResolvedGate::Rectangle { intervals } => match intervals.as_slice() {
                [a] => (a.dim.clone(), None),
                [a, b, ..] => (a.dim.clone(), Some(b.dim.clone())),
                [] => continue,
            },
            ResolvedGate::Polygon { x, y, .. } => (x.clone(), Some(y.clone())),
            ResolvedGate::AnyOf { .. } => {
                if let Some(GateDetail::FlowRate { profile }) = &pop.detail {
                    let pct = (parent.count > 0).then(|| {
                        100.0 * (parent.count - pop.count.min(parent.count)) as f64
                            / parent.count as f64
                    });
                    let spec = FlowRateSpec::from_flow_rate(profile, pct);
                    let title = format!("{}: flow rate over time", pop.id);
                    flow = Some(match render_flow_rate(&spec, &title) {
                        Ok(p) => PlotOutcome::Drawn(p),
                        Err(message) => PlotOutcome::Failed { title, message },
                    });
                }
                continue;
            }
            ResolvedGate::Not { .. } => {
                booleans.push(pop);
                continue;
            }
            // Imported Gating-ML gates live in their own transformed
            // space; not drawn on the pipeline's axes.
            ResolvedGate::Gatingml(_) => continue,
        };
        match groups.iter_mut().find(|gr| {
            gr.parent.id == parent.id
                && same(&gr.x, &dims.0)
                && match (&gr.y, &dims.1) {
                    (Some(a), Some(b)) => same(a, b),
                    (None, None) => true,
                    _ => false,
                }
        }) {
            Some(gr) => gr.gates.push(pop),
            None => groups.push(Group {
                parent,
                x: dims.0,
                y: dims.1,
                gates: vec![pop],
            }),
        }
    }
    let mut plots = Vec::new();
    for gr in &groups {
        let outcome = render_group(g, gr, &booleans, opts);
        if let PlotOutcome::Failed { title, message } = &outcome {
            warnings.push(format!("plot {title:?} not drawn: {message}"));
        }
        plots.push(outcome);
    }
    ReportArtifact {
        plots,
        flow_rate: flow,
        warnings,
    }
}

/// The density axis a data-driven threshold on this channel was found on,
/// if one of the plotted gates has one. A marker's axis depends on the
/// parent population it was resolved in (the arcsinh cofactor is estimated
/// on the parent's events), so the plot must use the gate's own axis for
/// its peaks and valley to land where the pipeline found them.
fn threshold_axis(g: &Gated, gates: &[&Population], channel: &str) -> Option<Axis> {
    gates.iter().find_map(|p| match &p.detail {
        Some(GateDetail::Thresholds { dims }) => dims
            .iter()
            .find(|d| g.panel.get(&d.marker).is_some_and(|r| r.channel == channel))
            .map(|d| d.axis),
        _ => None,
    })
}

/// The axis of one gate dimension: its column, title `marker (channel)`,
/// the density axis its thresholds were found on (else the pipeline's
/// first axis for that marker), range `0..$PnR` for linear channels and
/// from the data otherwise.
fn axis_for(g: &Gated, d: &Dim, found_on: Option<Axis>) -> Result<AxisSpec, String> {
    let idx = g
        .channels
        .iter()
        .position(|c| c.name == d.channel)
        .ok_or_else(|| format!("no channel {:?} in the file", d.channel))?;
    let m = if d.compensated {
        &g.compensated
    } else {
        &g.uncompensated
    };
    let column = m
        .names()
        .get(idx)
        .cloned()
        .ok_or_else(|| format!("channel {:?} has no column", d.channel))?;
    let marker = g
        .panel
        .iter()
        .find(|(_, r)| r.channel == d.channel)
        .map(|(k, _)| k.clone());
    let title = match &marker {
        Some(mk) if !mk.eq_ignore_ascii_case(&d.channel) => format!("{mk} ({})", d.channel),
        _ => d.channel.clone(),
    };
    let axis = found_on.or_else(|| marker.as_ref().and_then(|mk| g.axes.get(mk)).copied());
    let scale = match axis {
        Some(Axis::Arcsinh { cofactor }) => AxisScale::Asinh { cofactor },
        _ => AxisScale::Linear,
    };
    let linear = scale.is_linear();
    let mut spec = AxisSpec::new(column, title, scale).with_data_values();
    let range = g.channels.get(idx).map_or(0.0, |c| c.range);
    if linear && range > 0.0 && !g.channels.get(idx).is_some_and(|c| c.is_time()) {
        spec = spec.with_data_range(0.0, range);
    }
    Ok(spec)
}

fn render_group(
    g: &Gated,
    gr: &Group<'_>,
    booleans: &[&Population],
    opts: RenderOptions,
) -> PlotOutcome {
    let names: Vec<&str> = gr.gates.iter().map(|p| p.id.as_str()).collect();
    let title = format!("{} → {}", gr.parent.id, names.join(", "));
    let fail = |message: String| PlotOutcome::Failed {
        title: title.clone(),
        message,
    };
    let x = match axis_for(g, &gr.x, threshold_axis(g, &gr.gates, &gr.x.channel)) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let events = if gr.x.compensated {
        &g.compensated
    } else {
        &g.uncompensated
    };
    let parent = Members::Mask(&gr.parent.members);
    let pct = |p: &Population| {
        (gr.parent.count > 0).then(|| 100.0 * p.count as f64 / gr.parent.count as f64)
    };
    let y_channel = gr.y.as_ref().map(|d| d.channel.as_str());
    let mut overlays: Vec<GateOverlay> = gr
        .gates
        .iter()
        .filter_map(|p| {
            let shape = gate_shape(p.gate.as_ref()?, &gr.parent.id, &gr.x.channel, y_channel)?;
            Some(GateOverlay {
                name: p.id.clone(),
                count: p.count,
                pct_parent: pct(p),
                shape,
                space: CoordSpace::Data,
            })
        })
        .collect();
    let r = match &gr.y {
        Some(yd) => {
            let y = match axis_for(g, yd, threshold_axis(g, &gr.gates, &yd.channel)) {
                Ok(a) => a,
                Err(e) => return fail(e),
            };
            // NOT gates of this parent are listed on its first 2-D plot.
            for b in booleans
                .iter()
                .filter(|b| b.parent.as_deref() == Some(&gr.parent.id))
            {
                if let Some(ResolvedGate::Not { of }) = &b.gate {
                    overlays.push(GateOverlay {
                        name: b.id.clone(),
                        count: b.count,
                        pct_parent: pct(b),
                        shape: GateShape::Boolean {
                            expression: format!("{} AND NOT {of}", gr.parent.id),
                        },
                        space: CoordSpace::Data,
                    });
                }
            }
            let spec = DensitySpec {
                title: title.clone(),
                parent: gr.parent.id.clone(),
                x,
                y,
                gates: overlays,
            };
            render_density(&spec, events, parent, opts)
        }
        None => {
            let (mut peaks, mut valleys, mut note) = (Vec::new(), Vec::new(), None);
            for p in &gr.gates {
                if let Some(GateDetail::Thresholds { dims }) = &p.detail {
                    for d in dims.iter().filter(|d| {
                        g.panel
                            .get(&d.marker)
                            .is_some_and(|r| r.channel == gr.x.channel)
                    }) {
                        peaks.extend(d.found.peaks.iter().copied());
                        if d.found.valley_found {
                            valleys.push(d.found.value);
                        } else {
                            note = Some(format!(
                                "{}: no valley found on {}; fallback threshold used",
                                p.id, d.marker
                            ));
                        }
                    }
                }
            }
            peaks.sort_by(f64::total_cmp);
            peaks.dedup();
            let spec = HistogramSpec {
                title: title.clone(),
                parent: gr.parent.id.clone(),
                x,
                gates: overlays,
                peaks,
                valleys,
                // Peaks and valleys are found on the density axis (plotted units).
                marks_space: CoordSpace::Plotted,
                note,
            };
            render_histogram(&spec, events, parent, opts)
        }
    };
    match r {
        Ok(p) => PlotOutcome::Drawn(p),
        Err(m) => fail(m),
    }
}

/// Collects every sample's result and writes `OUTDIR/report.html` at the end.
#[derive(Debug)]
pub struct ReportSink {
    outdir: PathBuf,
    builder: Option<ReportBuilder>,
    /// The FlowSOM heatmap, from the first result that carries one.
    flowsom: Option<HeatmapSpec>,
}

impl ReportSink {
    /// A report into `outdir`.
    pub fn new(outdir: impl Into<PathBuf>) -> Result<Self, crate::report::ReportError> {
        Ok(ReportSink {
            outdir: outdir.into(),
            builder: Some(ReportBuilder::new(ReportOptions::default())?),
            flowsom: None,
        })
    }
}

/// The results row as (column, value), as results.csv writes it.
fn summary_row(batch: &RunBatch, r: &SampleResult) -> Vec<(String, String)> {
    let mut row = vec![("file".to_string(), r.file_name.clone())];
    for (k, c) in batch.sheet_columns.iter().enumerate() {
        row.push((c.clone(), r.sheet.get(k).cloned().unwrap_or_default()));
    }
    for (k, c) in batch.stat_columns.iter().enumerate() {
        row.push((c.clone(), fmt_num(r.columns.get(k).copied().flatten())));
    }
    row
}

/// The FlowSOM heatmap the cluster stage attached to a result, if any.
pub(crate) fn flowsom_heatmap(r: &SampleResult) -> Option<HeatmapSpec> {
    r.artifacts
        .get(FLOWSOM_HEATMAP)
        .and_then(|a| a.clone().downcast::<HeatmapSpec>().ok())
        .map(|h| (*h).clone())
}

/// A pushed result as the report shows it: the results row, flags,
/// warnings (the run's and the plots'), and the plots the stage attached.
pub(crate) fn rendered_sample(batch: &RunBatch, r: &SampleResult) -> RenderedSample {
    let art = r
        .artifacts
        .get(ARTIFACT)
        .and_then(|a| a.clone().downcast::<ReportArtifact>().ok());
    let mut warnings = r.warnings.clone();
    let (plots, flow_rate) = match &art {
        Some(a) => {
            warnings.extend(a.warnings.iter().cloned());
            (a.plots.clone(), a.flow_rate.clone())
        }
        None => (Vec::new(), None),
    };
    RenderedSample {
        file: r.file_name.clone(),
        index: r.index,
        error: r.error.clone(),
        warnings,
        qc_flags: r.flags.clone(),
        summary: summary_row(batch, r),
        plots,
        flow_rate,
    }
}

/// The report's header facts and cohort plots for a batch.
pub(crate) fn batch_info(batch: &RunBatch, summary: &BatchSummary) -> BatchInfo {
    let has = |c: &str| batch.stat_columns.iter().any(|s| s == c);
    let groups: Vec<String> = ["cohort", "dose_cohort", "dose", "arm", "group", "day"]
        .iter()
        .filter(|g| batch.sheet_columns.iter().any(|c| c == *g))
        .map(|s| s.to_string())
        .collect();
    let cohort = [
        ("nk_per_ul", "NK cells / µL"),
        ("pct_nkg2c", "% NKG2C+ of NK"),
        ("pct_kir", "% KIR+ of NK"),
        ("pct_nkg2c_kir", "% NKG2C+KIR+ of NK"),
        ("pct_cd56bright", "% CD56bright of NK"),
    ]
    .iter()
    .filter(|(c, _)| has(c))
    .map(|(c, t)| CohortSpec {
        value_column: c.to_string(),
        title: t.to_string(),
        group_by: groups.clone(),
    })
    .collect();
    BatchInfo {
        title: format!("nkflow QC report: {}", batch.pipeline_name),
        facts: vec![
            ("pipeline".into(), batch.pipeline_path.clone()),
            ("pipeline sha256".into(), batch.pipeline_sha256.clone()),
            ("nkflow".into(), batch.nkflow_version.clone()),
            (
                "samplesheet".into(),
                batch.samplesheet.clone().unwrap_or_else(|| "none".into()),
            ),
            ("threads".into(), batch.threads.to_string()),
            (
                "run time".into(),
                format!("{:.1} s", summary.elapsed_ms / 1000.0),
            ),
        ],
        skipped: batch
            .skipped
            .iter()
            .map(|(p, why)| format!("{p}: {why}"))
            .collect(),
        cohort,
        flowsom: None,
    }
}

impl Sink for ReportSink {
    fn sample(&mut self, batch: &RunBatch, r: &SampleResult) -> Result<(), SinkError> {
        if self.flowsom.is_none() {
            self.flowsom = flowsom_heatmap(r);
        }
        if let Some(b) = &self.builder {
            b.add_rendered(rendered_sample(batch, r));
        }
        Ok(())
    }

    fn finish(&mut self, batch: &RunBatch, summary: &BatchSummary) -> Result<(), SinkError> {
        let Some(builder) = self.builder.take() else {
            return Ok(());
        };
        let mut info = batch_info(batch, summary);
        info.flowsom = self.flowsom.take();
        builder
            .finish(&self.outdir, &info)
            .map_err(|e| SinkError::Write {
                path: self.outdir.join("report.html"),
                message: e.to_string(),
            })?;
        Ok(())
    }
}
