//! The QC report: gating plots for every sample, cohort plots, QC flags, in
//! one self-contained `report.html` a lab tech can mail and sign off.
//!
//! Why it looks the way it does: lab techs judge a batch by the gates on the
//! dot plots, not by the numbers, so every gate is drawn on its parent's
//! events (pseudocolour density on the transformed axes, ticks in data units
//! like FlowJo) with its name, count and % of parent; the data-driven
//! thresholds are shown on the histograms they were found in, with the peaks
//! and valley, so a misplaced valley is visible at a glance.
//!
//! How it fits the pipeline: the runner pushes each sample's result into
//! sinks (see `STYLE.md`). The report is one of them: the runner fills a
//! [`SampleReport`] with data it already has (transformed events, membership
//! of each population, resolved gates) and calls [`ReportBuilder::add`] from
//! its worker thread, which renders that sample's plots to PNG at once and
//! keeps only the PNG bytes; [`ReportBuilder::finish`] writes the HTML, the
//! per-sample pages of large batches and `plots/*.png`. A failed file is a
//! result too: it is pushed like the others and shown with its error.
//!
//! ```no_run
//! use nkflow::report::{BatchInfo, ReportBuilder, ReportOptions, SampleReport};
//! let report = ReportBuilder::new(ReportOptions::default())?;
//! report.add(&SampleReport {
//!     file: "P07.fcs".into(),
//!     error: Some("P07.fcs: TEXT: $TOT missing".into()),
//!     ..Default::default()
//! });
//! report.finish(std::path::Path::new("out"), &BatchInfo::default())?;
//! # Ok::<(), nkflow::report::ReportError>(())
//! ```

pub mod adapt;
pub mod axis;
mod canvas;
mod gates;
mod html;
pub mod model;
pub mod plots;
pub mod replay;
pub mod stage;
mod writer;

use std::path::PathBuf;

pub use axis::AxisScale;
pub use model::{
    AxisSpec, BatchInfo, CohortSpec, CoordSpace, Corner, DensitySpec, FlowRateSpec, GateOverlay,
    GateShape, HeatmapSpec, HistogramSpec, Interval, Members, PlotSpec, PopulationView,
    SampleReport,
};
pub use plots::{DrawnGate, RenderOptions, RenderedPlot};
pub use writer::{
    render_sample, PlotOutcome, RenderedSample, ReportBuilder, ReportFiles, ReportOptions,
};

/// Errors writing a report. Problems with one plot or one sample never fail
/// the report: they are shown in it, where the plot would have been.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The embedded font could not be loaded (a broken build).
    #[error("report: {0}")]
    Font(String),
    /// Writing an output file failed.
    #[error("report: writing {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
