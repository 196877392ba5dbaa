//! What the runner pushes into sinks: one [`SampleResult`] per input (a
//! failed file is a result too) and the [`BatchInfo`] every sink shares.

use std::any::Any;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::engine::{CompensationUsed, GateDetail};
use super::panel::ResolvedPanel;
use super::resolved::ResolvedGate;
use super::scale::Axis;
use super::stats::PopulationStats;

/// Facts about the whole batch, fixed before the first sample is pushed.
#[derive(Debug, Clone, Serialize)]
pub struct BatchInfo {
    pub nkflow_version: String,
    pub pipeline_name: String,
    pub pipeline_path: String,
    /// SHA-256 of the pipeline file's bytes.
    pub pipeline_sha256: String,
    pub outdir: PathBuf,
    pub samplesheet: Option<String>,
    /// Samplesheet columns carried into results.csv, in order.
    pub sheet_columns: Vec<String>,
    /// Statistic columns of results.csv (pipeline columns, then stage
    /// columns), in order.
    pub stat_columns: Vec<String>,
    /// Markers with a median column in populations.csv.
    pub median_markers: Vec<String>,
    pub threads: usize,
    /// Inputs skipped because they are not FCS files (path, reason).
    pub skipped: Vec<(String, String)>,
    /// The pipeline as run: run.json keeps it so that `nkflow report` can
    /// rebuild the run even after the pipeline file was edited or moved.
    pub pipeline: super::definition::Pipeline,
    /// Panel overrides of the whole batch (`--panel`), marker → channel.
    pub panel_overrides: BTreeMap<String, String>,
    /// SHA-256 of the samplesheet's bytes (to tell whether it changed since).
    pub samplesheet_sha256: Option<String>,
}

/// One gate as applied to one file.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedGate {
    pub id: String,
    pub parent: Option<String>,
    pub gate: ResolvedGate,
    pub detail: Option<GateDetail>,
}

/// Everything the pipeline produced for one input, without its events.
#[derive(Default, Serialize)]
pub struct SampleResult {
    /// Position in the batch (input order).
    pub index: usize,
    pub input: PathBuf,
    /// The input's file name (results' `file` column, gates/<file>.xml).
    pub file_name: String,
    pub sha256: Option<String>,
    /// Samplesheet values aligned with [`BatchInfo::sheet_columns`].
    pub sheet: Vec<String>,
    /// Why the file could not be processed (the row's `error` column).
    pub error: Option<String>,
    pub warnings: Vec<String>,
    /// Gates not applied to this file, with why (an optional marker it
    /// needs is absent, e.g. no HLA antibody in this panel): not a warning,
    /// the file simply lacks that measurement; their columns are empty.
    pub gates_not_applied: Vec<(String, String)>,
    /// QC flags, in a stable order.
    pub flags: Vec<String>,
    /// Values aligned with [`BatchInfo::stat_columns`].
    pub columns: Vec<Option<f64>>,
    pub n_events: usize,
    pub populations: Vec<PopulationStats>,
    pub gates: Vec<AppliedGate>,
    pub panel: ResolvedPanel,
    pub compensation: Option<CompensationUsed>,
    pub axes: BTreeMap<String, Axis>,
    pub elapsed_ms: f64,
    /// Data that stages attach for their sinks (e.g. report images),
    /// by stage name.
    #[serde(skip)]
    pub artifacts: BTreeMap<String, Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for SampleResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleResult")
            .field("file_name", &self.file_name)
            .field("error", &self.error)
            .field("flags", &self.flags)
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl SampleResult {
    /// The value of a results column by name.
    pub fn column(&self, batch: &BatchInfo, name: &str) -> Option<f64> {
        let k = batch.stat_columns.iter().position(|c| c == name)?;
        self.columns.get(k).copied().flatten()
    }
}
