//! FlowSOM as a pipeline stage: the `cluster` block of a pipeline JSON, the
//! [`ClusterStage`] the runner drives and the [`ClusterOutputs`] sink.
//!
//! # Batch flow (two passes, memory bounded)
//! 1. **In each file's worker** ([`Stage::sample`]), while the file's events
//!    are in memory: the clustered population's events (e.g. live CD45+
//!    lymphocytes) are transformed per marker (estimated logicle, see
//!    [`preprocess`](super::preprocess)) and kept as row-major `f32` rows,
//!    with their event indices (`u32`) and whether each lies in the scored
//!    population (e.g. the NK gate); the described markers (see
//!    [`ClusterSpec::describe_markers`]) are kept the same way, beside them.
//!    The file's matrices are then dropped as for any run. Kept per file:
//!    `4·m + 5` bytes per clustered event (m markers clustered and
//!    described) — 37 bytes with the preset's 3 + 5 markers, so 1 M
//!    lymphocytes hold 37 MB — plus, with `--assignments`, the same events'
//!    metacluster (2 bytes) until the outputs are written.
//! 2. **After the last file** ([`Stage::batch`]): one map is trained on a
//!    fixed-size seeded subsample drawn evenly from the files
//!    ([`FlowSom::train_rows`]; each file's draw comes from its own stream,
//!    keyed by its position in the input list, so a failed file is simply
//!    absent), then every file's rows are mapped (in parallel, a pure
//!    per-event function) and scored; the rows are freed file by file.
//!
//! # Which markers shape the map
//! The map is built on [`ClusterSpec::markers`] only; the
//! [`ClusterSpec::describe_markers`] are reported per metacluster (medians
//! in clusters.csv and the heatmap) without moving any event. This is the
//! split of the CyTOF workflow (Nowicka et al. 2017, CATALYST): cluster on
//! lineage ("type") markers, describe the clusters by "state" markers. Why
//! the preset needs it: with NKG2C, KIR, NKG2A, CD57 and Ki-67 in the
//! Euclidean distance, an NKT-like cell (CD3+ CD56+) that also carries
//! CD16, KIR and NKG2A differs from an NK cell in CD3 alone but from a
//! typical NKT cell in three markers, so it lands in an NK node. On
//! simulated cohorts that put 4–10 such cells into the NK metaclusters of
//! an NK-poor control (25–55 NK cells): F1 0.71–0.96 against the true NK
//! cells with all 8 markers clustered, ≥ 0.96 with the 3 lineage markers
//! (benches/cluster_nk_peer.rs, 14 cohorts).
//!
//! Everything is a function of the inputs in input order, so clusters.csv,
//! the assignments and `flowsom_<score>_f1` are byte-identical for any
//! `--threads` and across runs. They are the only outputs that depend on
//! the rest of the batch (a different batch trains a different map);
//! run.json says so.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{
    preprocess, tables, write_assignments_csv, write_clusters_table, ConsensusSettings, FlowSom,
    FlowSomParams, Grid, Metaclustering, RowsInput, SampleTable, SomAlgorithm,
};
use crate::pipeline::engine::Gated;
use crate::pipeline::result::{BatchInfo, SampleResult};
use crate::pipeline::runner::Stage;
use crate::pipeline::sink::{write_atomic, BatchSummary, Sink, SinkError};
use crate::report::HeatmapSpec;

/// Stage name and artifact key of the per-file clustering data.
pub const STAGE: &str = "cluster";

/// Metaclustering method in the pipeline JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MetaclusteringSpec {
    /// Consensus hierarchical clustering (R FlowSOM's default).
    #[default]
    Consensus,
    /// k-means (linfa).
    Kmeans,
}

/// The `cluster` block of a pipeline: FlowSOM on one population of every
/// file, one map for the batch.
///
/// ```json
/// "cluster": {"markers": ["CD56", "CD16", "CD3"], "population": "lymphocytes",
///             "score": "nk", "grid": [10, 10], "k": 10, "seed": 1}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Panel markers to cluster on: they alone shape the map and name the
    /// metaclusters.
    pub markers: Vec<String>,
    /// Panel markers reported per metacluster (median in clusters.csv and
    /// the report's heatmap, after the clustered markers) that do not shape
    /// the map: the "state" markers of the cells the lineage markers
    /// cluster (see the module docs for why). Default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub describe_markers: Vec<String>,
    /// The population whose events are clustered (a gate id or `root`).
    pub population: String,
    /// The gated population the metaclusters are scored against (results
    /// column `flowsom_<score>_f1`); default `nk`, `null` for none.
    #[serde(default = "default_score")]
    pub score: Option<String>,
    /// SOM grid `[xdim, ydim]` (default 10 × 10).
    #[serde(default = "default_grid")]
    pub grid: [usize; 2],
    /// Number of metaclusters (default 10).
    #[serde(default = "ten")]
    pub k: usize,
    /// Passes over the training events (default 10).
    #[serde(default = "ten")]
    pub rlen: usize,
    /// Seed of every random step (default 1).
    #[serde(default = "one")]
    pub seed: u64,
    /// Metaclustering method (default `consensus`).
    #[serde(default)]
    pub metaclustering: MetaclusteringSpec,
    /// SOM training (`"online"`, the default, as R FlowSOM; or `"batch"`).
    #[serde(default)]
    pub som: SomAlgorithm,
    /// Training events drawn evenly from the files (default 100,000; all
    /// clustered events when the batch has fewer).
    #[serde(default = "default_train_events")]
    pub train_events: usize,
}

fn default_score() -> Option<String> {
    Some("nk".into())
}
fn default_grid() -> [usize; 2] {
    [10, 10]
}
fn ten() -> usize {
    10
}
fn one() -> u64 {
    1
}
fn default_train_events() -> usize {
    100_000
}

impl ClusterSpec {
    /// The FlowSOM parameters this block asks for.
    pub fn params(&self) -> FlowSomParams {
        FlowSomParams {
            grid: Grid {
                xdim: self.grid[0],
                ydim: self.grid[1],
            },
            rlen: self.rlen,
            k: self.k,
            seed: self.seed,
            metaclustering: match self.metaclustering {
                MetaclusteringSpec::Consensus => {
                    Metaclustering::Consensus(ConsensusSettings::default())
                }
                MetaclusteringSpec::Kmeans => Metaclustering::KMeans,
            },
            train_events: Some(self.train_events),
            algorithm: self.som,
            ..FlowSomParams::default()
        }
    }

    /// The clustered markers, then the described ones: the median columns
    /// of clusters.csv and the heatmap.
    pub fn all_markers(&self) -> Vec<String> {
        self.markers
            .iter()
            .chain(&self.describe_markers)
            .cloned()
            .collect()
    }

    /// The results.csv column with the agreement F1, if scored.
    pub fn score_column(&self) -> Option<String> {
        self.score.as_ref().map(|s| format!("flowsom_{s}_f1"))
    }

    /// Checks the block against the pipeline's markers and populations.
    /// Errors are `(field path, message)`, as
    /// [`Pipeline::validate`](crate::pipeline::definition::Pipeline::validate).
    pub fn validate(
        &self,
        known_marker: impl Fn(&str) -> bool,
        known_population: impl Fn(&str) -> bool,
    ) -> Result<(), (String, String)> {
        let err = |f: &str, m: String| Err((format!("cluster.{f}"), m));
        if self.markers.is_empty() {
            return err("markers", "needs at least one marker".into());
        }
        let listed = (self
            .markers
            .iter()
            .enumerate()
            .map(|(i, m)| ("markers", i, m)))
        .chain((self.describe_markers.iter().enumerate()).map(|(i, m)| ("describe_markers", i, m)));
        for (field, i, m) in listed {
            if !known_marker(m) {
                return err(
                    &format!("{field}[{i}]"),
                    format!("{m:?} is not a marker of the panel"),
                );
            }
        }
        if let Some(r) = repeated_marker(&self.markers, &self.describe_markers) {
            let field = if r.described {
                "describe_markers"
            } else {
                "markers"
            };
            return err(
                &format!("{field}[{}]", r.index),
                format!(
                    "{:?} is listed twice (markers and describe_markers together)",
                    r.marker
                ),
            );
        }
        if !known_population(&self.population) {
            return err(
                "population",
                format!("{:?} is not a gate (or \"root\")", self.population),
            );
        }
        if let Some(s) = &self.score {
            if !known_population(s) {
                return err(
                    "score",
                    format!("{s:?} is not a gate (set \"score\": null to score against none)"),
                );
            }
        }
        if self.train_events == 0 {
            return err("train_events", "needs at least one event".into());
        }
        if let Err(super::ClusterError::InvalidParameter {
            name,
            value,
            reason,
        }) = self.params().validate()
        {
            return err(name, format!("{value}: {reason}"));
        }
        let nodes = self.grid[0] * self.grid[1];
        if nodes > self.train_events {
            return err(
                "train_events",
                format!(
                    "{} training events cannot train a {}x{} grid (one per node at least)",
                    self.train_events, self.grid[0], self.grid[1]
                ),
            );
        }
        Ok(())
    }
}

/// A marker named a second time across the clustered and the described
/// lists (see [`repeated_marker`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepeatedMarker<'a> {
    /// The second mention, as written.
    pub marker: &'a str,
    /// Whether the second mention is in the described list.
    pub described: bool,
    /// Its 0-based position in that list.
    pub index: usize,
    /// Whether the first mention was in the described list.
    pub first_described: bool,
}

/// The first marker named twice in `markers` and `describe` together
/// (case-insensitively, as panel markers match): a marker either shapes the
/// map or describes it, and is reported once. The pipeline's
/// [`ClusterSpec::validate`] and `nkflow cluster --describe` share this rule.
pub fn repeated_marker<'a>(
    markers: &'a [String],
    describe: &'a [String],
) -> Option<RepeatedMarker<'a>> {
    let mut seen = std::collections::BTreeMap::new();
    let listed = (markers.iter().enumerate().map(|(i, m)| (false, i, m)))
        .chain(describe.iter().enumerate().map(|(i, m)| (true, i, m)));
    for (described, index, m) in listed {
        if let Some(&first_described) = seen.get(&m.to_ascii_lowercase()) {
            return Some(RepeatedMarker {
                marker: m,
                described,
                index,
                first_described,
            });
        }
        seen.insert(m.to_ascii_lowercase(), described);
    }
    None
}

/// One file's clustered events exactly as the cluster stage trains on and
/// maps them (pass 1): what the worker keeps of a file, and what
/// [`preprocess_file`] returns so that a comparison (e.g. Python flowsom in
/// `benches/cluster_nk_peer.rs`) can start from the identical matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRows {
    /// Row-major `f32`, one row per clustered event, markers in spec order,
    /// each marker logicle-transformed (see [`preprocess`]): the matrix the
    /// map is trained on and maps.
    pub rows: Vec<f32>,
    /// The same events' described markers (`describe_markers`, same
    /// transform), row-major; empty without them.
    pub described: Vec<f32>,
    /// Event index of each row in the file.
    pub events: Vec<u32>,
    /// Whether each row's event lies in the scored population.
    pub scored: Vec<bool>,
    /// Events of the scored population in the whole file (those outside the
    /// clustered population count as misses).
    pub scored_total: usize,
    /// Events in the file.
    pub n_events: usize,
}

/// One file's clustering, attached to its result for the sinks (pass 2).
#[derive(Debug)]
pub struct FileClusters {
    /// Count, percent and medians per metacluster.
    pub table: SampleTable,
    /// Events in the file.
    pub n_events: usize,
    /// With `--assignments`: (event index, 0-based metacluster) of every
    /// clustered event, in event order.
    pub assignments: Option<(Vec<u32>, Vec<u16>)>,
    /// The batch's model summary.
    pub batch: Arc<BatchClusters>,
}

/// What every file's clustering shares: the markers and metacluster names.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchClusters {
    pub markers: Vec<String>,
    pub names: Vec<String>,
}

/// The pipeline's FlowSOM stage (see the module docs for the batch flow).
#[derive(Debug)]
pub struct ClusterStage {
    spec: ClusterSpec,
    /// Whether to keep per-event metaclusters for assignments/.
    assignments: bool,
    /// run.json record, written by `batch`.
    provenance: Mutex<Option<serde_json::Value>>,
}

impl ClusterStage {
    /// The stage for a pipeline's `cluster` block; `assignments` keeps every
    /// clustered event's metacluster for `OUTDIR/assignments/`.
    pub fn new(spec: ClusterSpec, assignments: bool) -> Self {
        ClusterStage {
            spec,
            assignments,
            provenance: Mutex::new(None),
        }
    }

    fn set_provenance(&self, v: serde_json::Value) {
        if let Ok(mut p) = self.provenance.lock() {
            *p = Some(v);
        }
    }

    fn base_provenance(&self) -> serde_json::Value {
        let s = &self.spec;
        serde_json::json!({
            "method": match s.som {
                SomAlgorithm::Online => "FlowSOM (online SOM as R FlowSOM, then metaclustering)",
                SomAlgorithm::Batch => "FlowSOM with Kohonen's batch map (not R FlowSOM's online SOM), then metaclustering",
            },
            "markers": s.markers,
            "describe_markers": s.describe_markers,
            "population": s.population,
            "score": s.score,
            "transform": "logicle per marker and file, estimated as flowCore's estimateLogicle (T = file maximum, M = 4.5, A = 0, W from the 5% quantile of the negatives)",
            "grid": s.grid,
            "k": s.k,
            "rlen": s.rlen,
            "alpha": [0.05, 0.01],
            "seed": s.seed,
            "metaclustering": s.metaclustering,
            "train_events_requested": s.train_events,
            "batch_dependent": "one map is trained on an even subsample of all files of this batch: clusters.csv, assignments/ and the columns listed in batch_dependent_columns change when the batch changes; every other output is a function of its file alone",
        })
    }
}

/// Pass 1 of the cluster stage, for one gated file: the clustered
/// population's events transformed per marker (logicle estimated on the
/// file, see [`preprocess`]) as row-major `f32` rows, with their event
/// indices and scored-population membership. The stage calls exactly this,
/// so its result is the matrix the batch's map is trained on and maps.
/// Errors are one sentence naming the marker or population.
pub fn preprocess_file(spec: &ClusterSpec, gated: &Gated) -> Result<FileRows, String> {
    let n = gated.compensated.n_events();
    if u32::try_from(n).is_err() {
        return Err(format!(
            "{n} events are more than the clustering stage's 2^32 per file"
        ));
    }
    let pop = gated.population(&spec.population).ok_or_else(|| {
        format!(
            "population {:?} was not evaluated for this file",
            spec.population
        )
    })?;
    let events: Vec<u32> = pop
        .members
        .iter()
        .enumerate()
        .filter(|(_, &m)| m)
        .map(|(i, _)| i as u32)
        .collect();
    let rows = transformed(gated, &spec.markers, &events)?;
    let described = transformed(gated, &spec.describe_markers, &events)?;
    let (scored, scored_total) = match &spec.score {
        Some(s) => {
            let p = gated
                .population(s)
                .ok_or_else(|| format!("population {s:?} was not evaluated for this file"))?;
            let scored = events
                .iter()
                .map(|&i| p.members.get(i as usize).copied().unwrap_or(false))
                .collect();
            (scored, p.count)
        }
        None => (Vec::new(), 0),
    };
    Ok(FileRows {
        rows,
        described,
        events,
        scored,
        scored_total,
        n_events: n,
    })
}

/// The `events` of `markers` transformed (see [`preprocess`]), row-major.
fn transformed(gated: &Gated, markers: &[String], events: &[u32]) -> Result<Vec<f32>, String> {
    let mut columns = Vec::with_capacity(markers.len());
    for m in markers {
        let values = panel_column(gated, m)
            .ok_or_else(|| format!("marker {m:?} is not in this file's panel"))?;
        columns.push(values);
    }
    let mut rows = Vec::new();
    preprocess::transformed_rows(&columns, events, &mut rows).map_err(|(j, e)| {
        format!(
            "marker {:?}: logicle estimate failed: {e}",
            markers.get(j).map_or("", String::as_str)
        )
    })?;
    let dim = markers.len();
    if let Some(k) = rows.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "event {} has a non-finite {} value after the logicle transform; FlowSOM needs finite values",
            events.get(k / dim).copied().unwrap_or(0),
            markers.get(k % dim).map_or("", String::as_str)
        ));
    }
    Ok(rows)
}

/// A panel marker's compensated values (marker names match case-insensitively,
/// as the pipeline's validation does).
fn panel_column<'g>(gated: &'g Gated, marker: &str) -> Option<&'g [f64]> {
    let r = gated.panel.get(marker).or_else(|| {
        gated
            .panel
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(marker))
            .map(|(_, r)| r)
    })?;
    (r.index < gated.compensated.n_channels()).then(|| gated.compensated.column(r.index))
}

impl Stage for ClusterStage {
    fn name(&self) -> &str {
        STAGE
    }

    fn columns(&self) -> Vec<String> {
        self.spec.score_column().into_iter().collect()
    }

    fn batch_dependent_columns(&self) -> Vec<String> {
        self.columns()
    }

    fn sample(
        &self,
        _batch: &BatchInfo,
        gated: &Gated,
        result: &mut SampleResult,
    ) -> Result<(), String> {
        let rows = preprocess_file(&self.spec, gated)?;
        result.artifacts.insert(STAGE.to_string(), Arc::new(rows));
        Ok(())
    }

    fn batch(&self, batch: &BatchInfo, results: &mut [SampleResult]) -> Result<(), String> {
        let spec = &self.spec;
        let mut prov = self.base_provenance();
        // Pass 1's rows, of the files that got this far (in input order).
        let mut files: Vec<(usize, FileRows)> = Vec::new();
        for (k, r) in results.iter_mut().enumerate() {
            let Some(a) = r.artifacts.remove(STAGE) else {
                continue;
            };
            if r.error.is_some() {
                continue;
            }
            if let Ok(rows) = a.downcast::<FileRows>() {
                match Arc::try_unwrap(rows) {
                    Ok(rows) => files.push((k, rows)),
                    Err(_) => return Err("clustering data is shared; internal error".into()),
                }
            }
        }
        let markers: Vec<&str> = spec.markers.iter().map(String::as_str).collect();
        let inputs: Vec<RowsInput> = files
            .iter()
            .map(|(k, f)| RowsInput {
                name: results.get(*k).map_or("", |r| r.file_name.as_str()),
                rows: &f.rows,
                position: results.get(*k).map_or(*k, |r| r.index),
            })
            .collect();
        let trained = if inputs.is_empty() {
            Err("no file reached the clustering stage".to_string())
        } else {
            FlowSom::train_rows(&inputs, &markers, &spec.params()).map_err(|e| e.to_string())
        };
        drop(inputs);
        let model = match trained {
            Ok(m) => m,
            Err(e) => {
                prov["error"] = serde_json::Value::String(e.clone());
                self.set_provenance(prov);
                return Err(e);
            }
        };
        let shared = Arc::new(BatchClusters {
            markers: spec.all_markers(),
            names: model.metacluster_names().to_vec(),
        });
        let (dim, n_described) = (spec.markers.len(), spec.describe_markers.len());
        let mut heat_rows = HeatRows::new(dim + n_described, files.len());
        let score_col = spec
            .score_column()
            .and_then(|c| batch.stat_columns.iter().position(|s| *s == c));
        let mut totals = vec![0usize; model.k()];
        let mut f1s = serde_json::Map::new();
        for (k, f) in files {
            let Some(r) = results.get_mut(k) else {
                continue;
            };
            let mcs = model.metaclusters_of_rows(&f.rows);
            let mut table = model.table_of_rows(&r.file_name, &f.rows, &mcs);
            if n_described > 0 {
                let described =
                    tables::sample_table_rows("", &f.described, n_described, &mcs, model.k());
                tables::append_described(&mut table, described);
            }
            heat_rows.push(&f.rows, dim, &f.described, n_described, &mcs);
            drop(f.rows);
            drop(f.described);
            for row in &table.rows {
                if let Some(t) = totals.get_mut(row.metacluster as usize) {
                    *t += row.count;
                }
            }
            if spec.score.is_some() {
                let clustered: Vec<Option<u16>> = mcs.iter().map(|&m| Some(m)).collect();
                let mut a = super::agreement(&r.file_name, &clustered, &f.scored, model.k())
                    .map_err(|e| e.to_string())?;
                // Scored events outside the clustered population are misses.
                a.actual = f.scored_total;
                let f1 = a.f1();
                let value = f1.is_finite().then_some(f1);
                if let Some(slot) = score_col.and_then(|c| r.columns.get_mut(c)) {
                    *slot = value;
                }
                f1s.insert(
                    r.file_name.clone(),
                    serde_json::json!({
                        "f1": value,
                        "metaclusters": a.metaclusters.iter().map(|m| m + 1).collect::<Vec<_>>(),
                    }),
                );
            }
            let assignments = self.assignments.then_some((f.events, mcs));
            r.artifacts.insert(
                STAGE.to_string(),
                Arc::new(FileClusters {
                    table,
                    n_events: f.n_events,
                    assignments,
                    batch: shared.clone(),
                }),
            );
        }
        // The heatmap needs the batch totals, known only now.
        let heat = Arc::new(heatmap(&model, &spec.all_markers(), &heat_rows, &totals));
        for r in results.iter_mut() {
            if r.artifacts.contains_key(STAGE) {
                r.artifacts.insert(
                    crate::report::stage::FLOWSOM_HEATMAP.to_string(),
                    heat.clone(),
                );
            }
        }
        prov["train_events"] = model.train_events().into();
        prov["metaclusters"] = model
            .metacluster_names()
            .iter()
            .enumerate()
            .map(|(m, n)| serde_json::json!({"metacluster": m + 1, "name": n, "events": totals.get(m)}))
            .collect::<Vec<_>>()
            .into();
        if spec.score.is_some() {
            prov["agreement"] = f1s.into();
        }
        self.set_provenance(prov);
        Ok(())
    }

    fn provenance(&self) -> Option<serde_json::Value> {
        self.provenance.lock().ok().and_then(|p| p.clone())
    }
}

/// At most this many clustered events of the batch give the heatmap's
/// medians.
const HEATMAP_EVENTS: usize = 50_000;

/// The heatmap's sample of the batch: each file's clustered events, evenly
/// strided down to an equal share of [`HEATMAP_EVENTS`], so that every file
/// weighs about equally (as in the training draw) and memory stays bounded.
struct HeatRows {
    /// Row-major: clustered then described markers.
    rows: Vec<f32>,
    metaclusters: Vec<u16>,
    per_file: usize,
}

impl HeatRows {
    fn new(dim: usize, files: usize) -> Self {
        let per_file = HEATMAP_EVENTS.div_ceil(files.max(1));
        HeatRows {
            rows: Vec::with_capacity(per_file.min(HEATMAP_EVENTS) * dim),
            metaclusters: Vec::new(),
            per_file,
        }
    }

    /// Adds a file's share: its clustered rows, described rows and
    /// metaclusters (one per event).
    fn push(
        &mut self,
        rows: &[f32],
        dim: usize,
        described: &[f32],
        n_described: usize,
        mcs: &[u16],
    ) {
        let stride = mcs.len().div_ceil(self.per_file).max(1);
        for i in (0..mcs.len()).step_by(stride) {
            let (Some(r), Some(&m)) = (rows.get(i * dim..(i + 1) * dim), mcs.get(i)) else {
                continue;
            };
            self.rows.extend_from_slice(r);
            if let Some(d) = described.get(i * n_described..(i + 1) * n_described) {
                self.rows.extend_from_slice(d);
            }
            self.metaclusters.push(m);
        }
    }
}

/// The report's FlowSOM heatmap: medians per metacluster and marker
/// (clustered, then described) of the batch's clustered events (an evenly
/// strided share of each file, see [`HeatRows`]) on the logicle scale, and
/// each metacluster's events over the whole batch.
fn heatmap(model: &FlowSom, markers: &[String], heat: &HeatRows, totals: &[usize]) -> HeatmapSpec {
    let t = tables::sample_table_rows("", &heat.rows, markers.len(), &heat.metaclusters, model.k());
    HeatmapSpec {
        title: "FlowSOM metaclusters: median per marker (logicle scale, clustered events)".into(),
        rows: model
            .metacluster_names()
            .iter()
            .enumerate()
            .map(|(m, n)| format!("{}: {n}", m + 1))
            .collect(),
        columns: markers.to_vec(),
        values: t.rows.iter().map(|r| r.medians.clone()).collect(),
        row_counts: (totals.len() == t.rows.len()).then(|| totals.to_vec()),
    }
}

/// Writes `OUTDIR/clusters.csv` (sample × metacluster) and, when asked,
/// `OUTDIR/assignments/<file name>.csv`; atomically, like every sink.
#[derive(Debug)]
pub struct ClusterOutputs {
    markers: Vec<String>,
    assignments: bool,
    tables: Vec<SampleTable>,
    batch: Option<Arc<BatchClusters>>,
}

impl ClusterOutputs {
    /// Outputs of a pipeline's `cluster` block.
    pub fn new(spec: &ClusterSpec, assignments: bool) -> Self {
        ClusterOutputs {
            markers: spec.all_markers(),
            assignments,
            tables: Vec::new(),
            batch: None,
        }
    }
}

impl Sink for ClusterOutputs {
    fn sample(&mut self, batch: &BatchInfo, r: &SampleResult) -> Result<(), SinkError> {
        let path = batch
            .outdir
            .join("assignments")
            .join(format!("{}.csv", r.file_name));
        let clusters = r
            .artifacts
            .get(STAGE)
            .and_then(|a| a.clone().downcast::<FileClusters>().ok());
        let Some(c) = clusters else {
            // No clustering for this file: no stale assignments either.
            if self.assignments && path.exists() {
                std::fs::remove_file(&path).map_err(|e| SinkError::Write {
                    path: path.clone(),
                    message: format!("removing the previous run's assignments: {e}"),
                })?;
            }
            return Ok(());
        };
        self.tables.push(c.table.clone());
        self.batch.get_or_insert_with(|| c.batch.clone());
        if let (true, Some((events, mcs))) = (self.assignments, &c.assignments) {
            let mut per_event = vec![None; c.n_events];
            for (&i, &m) in events.iter().zip(mcs) {
                if let Some(slot) = per_event.get_mut(i as usize) {
                    *slot = Some(m);
                }
            }
            let mut bytes = Vec::with_capacity(c.n_events * 2 + 16);
            write_assignments_csv(&mut bytes, &per_event).map_err(|e| SinkError::Write {
                path: path.clone(),
                message: e.to_string(),
            })?;
            write_atomic(&path, &bytes)?;
        }
        Ok(())
    }

    fn finish(&mut self, batch: &BatchInfo, _s: &BatchSummary) -> Result<(), SinkError> {
        let path = batch.outdir.join("clusters.csv");
        let (markers, names) = match &self.batch {
            Some(b) => (b.markers.clone(), b.names.clone()),
            None => (self.markers.clone(), Vec::new()),
        };
        let mut bytes = Vec::new();
        write_clusters_table(&mut bytes, &markers, &names, &self.tables).map_err(|e| {
            SinkError::Write {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
        write_atomic(&path, &bytes)
    }
}

/// Stages and sinks to add to a run.
pub type StagesAndSinks = (Vec<Box<dyn Stage>>, Vec<Box<dyn Sink>>);

/// The stage and sink a pipeline's `cluster` block needs (none without one).
pub fn for_pipeline(spec: Option<&ClusterSpec>, assignments: bool) -> StagesAndSinks {
    match spec {
        Some(s) => (
            vec![Box::new(ClusterStage::new(s.clone(), assignments))],
            vec![Box::new(ClusterOutputs::new(s, assignments))],
        ),
        None => (Vec::new(), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::definition::Pipeline;

    const PRESET: &str = include_str!("../../pipelines/nk-day30.json");

    fn with_cluster(block: &str) -> Result<Pipeline, String> {
        let mut v: serde_json::Value = serde_json::from_str(PRESET).unwrap();
        v["cluster"] = serde_json::from_str(block).unwrap();
        Pipeline::from_json(&v.to_string(), "p.json").map_err(|e| e.to_string())
    }

    #[test]
    fn preset_clusters_lymphocytes_on_the_nk_markers_scored_against_nk() {
        let p = Pipeline::from_json(PRESET, "nk-day30.json").unwrap();
        let c = p.cluster.unwrap();
        assert_eq!(c.population, "lymphocytes");
        assert_eq!(c.score_column().as_deref(), Some("flowsom_nk_f1"));
        // The lineage markers shape the map; the NK phenotype only describes it.
        assert_eq!(c.markers, ["CD56", "CD16", "CD3"]);
        assert_eq!(
            c.describe_markers,
            ["NKG2C", "KIR", "NKG2A", "CD57", "Ki-67"]
        );
        assert_eq!(
            c.all_markers(),
            ["CD56", "CD16", "CD3", "NKG2C", "KIR", "NKG2A", "CD57", "Ki-67"]
        );
        let params = c.params();
        assert_eq!((params.grid.xdim, params.grid.ydim), (10, 10));
        assert_eq!(params.train_events, Some(100_000));
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let p =
            with_cluster(r#"{"markers": ["CD3", "CD56"], "population": "lymphocytes"}"#).unwrap();
        let c = p.cluster.unwrap();
        assert_eq!(c.score.as_deref(), Some("nk"));
        assert_eq!((c.grid, c.k, c.rlen, c.seed), ([10, 10], 10, 10, 1));
        assert!(c.describe_markers.is_empty());
        assert_eq!(c.metaclustering, MetaclusteringSpec::Consensus);
        let none = with_cluster(
            r#"{"markers": ["CD3"], "population": "root", "score": null, "metaclustering": "kmeans"}"#,
        )
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(none.score_column(), None);
        assert_eq!(none.params().metaclustering, Metaclustering::KMeans);
        assert_eq!(c.params().algorithm, SomAlgorithm::Online);
        let batch = with_cluster(r#"{"markers": ["CD3"], "population": "root", "som": "batch"}"#)
            .unwrap()
            .cluster
            .unwrap();
        assert_eq!(batch.params().algorithm, SomAlgorithm::Batch);
        let bad = with_cluster(r#"{"markers": ["CD3"], "population": "root", "som": "fast"}"#)
            .unwrap_err();
        assert!(bad.contains("cluster.som: unknown variant `fast`"), "{bad}");
    }

    #[test]
    fn heatmap_rows_take_an_even_share_of_each_file_with_the_described_markers() {
        let mut heat = HeatRows::new(3, 2);
        // File 1: 60,000 events, 2 clustered + 1 described marker: every 3rd.
        let n = 60_000;
        let rows: Vec<f32> = (0..n).flat_map(|i| [i as f32, -(i as f32)]).collect();
        let described: Vec<f32> = (0..n).map(|i| 0.5 + i as f32).collect();
        let mcs: Vec<u16> = (0..n).map(|i| (i % 7) as u16).collect();
        heat.push(&rows, 2, &described, 1, &mcs);
        // File 2: 10 events, all kept.
        heat.push(&[1.0; 20], 2, &[2.0; 10], 1, &[6; 10]);
        assert_eq!(heat.metaclusters.len(), 20_000 + 10);
        assert_eq!(heat.rows.len(), 3 * (20_000 + 10));
        assert_eq!(&heat.rows[3..6], &[3.0, -3.0, 3.5]);
        assert_eq!(heat.metaclusters[1], 3);
        assert_eq!(&heat.rows[3 * 20_000..3 * 20_001], &[1.0, 1.0, 2.0]);
    }

    #[test]
    fn a_repeated_marker_is_found_where_it_is_named_again() {
        let v = |s: &[&str]| s.iter().map(|m| m.to_string()).collect::<Vec<_>>();
        assert_eq!(repeated_marker(&v(&["CD3", "CD56"]), &v(&["KIR"])), None);
        let (m, d) = (v(&["CD3", "CD56"]), v(&["KIR", "cd56"]));
        assert_eq!(
            repeated_marker(&m, &d),
            Some(RepeatedMarker {
                marker: "cd56",
                described: true,
                index: 1,
                first_described: false
            })
        );
        let (m, d) = (v(&["CD3"]), v(&["KIR", "NKG2C", "Kir"]));
        let r = repeated_marker(&m, &d).unwrap();
        assert_eq!((r.described, r.index, r.first_described), (true, 2, true));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"markers": ["CD3", "CD99"], "population": "lymphocytes"}"#,
                "cluster.markers[1]: \"CD99\" is not a marker of the panel",
            ),
            (
                r#"{"markers": ["CD3", "cd3"], "population": "lymphocytes"}"#,
                "cluster.markers[1]",
            ),
            (
                r#"{"markers": ["CD3"], "describe_markers": ["KIR", "cd3"], "population": "lymphocytes"}"#,
                "cluster.describe_markers[1]: \"cd3\" is listed twice",
            ),
            (
                r#"{"markers": ["CD3"], "describe_markers": ["CD99"], "population": "lymphocytes"}"#,
                "cluster.describe_markers[0]: \"CD99\" is not a marker of the panel",
            ),
            (
                r#"{"markers": [], "population": "lymphocytes"}"#,
                "cluster.markers",
            ),
            (
                r#"{"markers": ["CD3"], "population": "lymphs"}"#,
                "cluster.population: \"lymphs\" is not a gate",
            ),
            (
                r#"{"markers": ["CD3"], "population": "lymphocytes", "score": "nkk"}"#,
                "cluster.score: \"nkk\"",
            ),
            (
                r#"{"markers": ["CD3"], "population": "lymphocytes", "k": 101}"#,
                "cluster.k: 101",
            ),
            (
                r#"{"markers": ["CD3"], "population": "lymphocytes", "grid": [0, 4]}"#,
                "cluster.grid",
            ),
            (
                r#"{"markers": ["CD3"], "population": "lymphocytes", "rlen": 0}"#,
                "cluster.rlen",
            ),
            (
                r#"{"markers": ["CD3"], "population": "lymphocytes", "train_events": 50}"#,
                "cluster.train_events",
            ),
            (
                r#"{"markers": ["CD3"], "population": "lymphocytes", "gird": [5, 5]}"#,
                "unknown field `gird`",
            ),
        ];
        for (block, want) in cases {
            let e = with_cluster(block).unwrap_err();
            assert!(e.contains(want), "{block}: {e}");
        }
    }
}
