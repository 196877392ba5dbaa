//! FlowSOM clustering: an unsupervised second opinion on every gate.
//!
//! FlowSOM as the R package runs it, in three steps:
//! 1. **SOM** ([`som`]): a self-organising map on an `xdim × ydim` grid
//!    (default 10 × 10) trained online for `rlen` passes (default 10),
//!    learning rate 0.05 → 0.01, neighbourhood radius from the 0.67 quantile
//!    of grid distances down to 0, Euclidean distance.
//! 2. **Metaclustering** of the nodes into `k` groups: consensus hierarchical
//!    clustering ([`consensus`], the default) or k-means ([`Metaclustering::KMeans`],
//!    linfa).
//! 3. **Mapping** every event to its nearest node (in parallel), hence to a
//!    metacluster; per-sample tables ([`tables`]), names ([`naming`]) and
//!    agreement with a gated population ([`agreement`]).
//!
//! The input is what the caller has already compensated and transformed: an
//! [`EventMatrix`] per sample, the marker column names, and optionally a mask
//! of the events to cluster (e.g. live CD45+ lymphocytes). One map is trained
//! for a whole batch, so metaclusters mean the same cells in every sample.
//!
//! **Determinism**: one seed drives everything through separate ChaCha
//! streams; training is sequential and every parallel step is either a
//! per-event function or an integer sum, so results are identical for any
//! thread count and across runs. (The optional batch map,
//! [`SomAlgorithm::Batch`], trains in parallel with sums over fixed chunks
//! combined in a fixed order: also identical for any thread count.)
//!
//! ```
//! use nkflow::cluster::{cluster_batch, ClusterInput, FlowSomParams, Grid};
//! use nkflow::EventMatrix;
//!
//! // Two well-separated populations in two markers.
//! let n = 2000;
//! let a: Vec<f64> = (0..n).map(|i| if i < 1500 { 0.5 } else { 3.0 } + (i % 7) as f64 * 0.01).collect();
//! let b: Vec<f64> = (0..n).map(|i| if i < 1500 { 3.0 } else { 0.4 } + (i % 5) as f64 * 0.01).collect();
//! let m = EventMatrix::from_columns(vec!["CD56".into(), "CD3".into()], vec![a, b]).unwrap();
//! let params = FlowSomParams { grid: Grid { xdim: 4, ydim: 4 }, k: 2, ..FlowSomParams::default() };
//! let run = cluster_batch(&[ClusterInput::new("s1", &m)], &["CD56", "CD3"], &params).unwrap();
//! let mc = &run.samples[0].metaclusters;
//! assert_ne!(mc[0], mc[n - 1]);
//! assert_eq!(run.samples[0].table.rows.iter().map(|r| r.count).sum::<usize>(), n);
//! ```

pub mod agreement;
pub mod consensus;
mod kmeans;
pub mod naming;
pub mod preprocess;
pub mod som;
pub mod stage;
pub mod tables;
mod training;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::EventMatrix;
pub use agreement::{agreement, Agreement};
pub use consensus::ConsensusSettings;
pub use naming::MarkerLevels;
pub use som::Grid;
pub use tables::{
    write_assignments_csv, write_clusters_csv, write_clusters_table, MetaclusterStats, SampleTable,
};

use som::{CodeBook, SomSettings};
use training::{Resolved, Rows};

/// ChaCha streams of the one seed, one per random step.
const STREAM_INIT: u64 = 1;
const STREAM_SOM: u64 = 2;
/// Offset of the metaclustering seed from the SOM seed.
const META_SEED_OFFSET: u64 = 0x5EED_0000_0000_0001;
/// At most this many training events are mapped to name the metaclusters.
const NAMING_EVENTS: usize = 50_000;

/// Errors of the clustering stage.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No markers were given.
    #[error("FlowSOM needs at least one marker to cluster on")]
    NoMarkers,
    /// No samples were given.
    #[error("FlowSOM needs at least one sample")]
    NoSamples,
    /// A marker is not a column of a sample's matrix.
    #[error(
        "{sample}: marker {marker:?} is not a column of the event matrix (columns: {available})"
    )]
    UnknownMarker {
        sample: String,
        marker: String,
        available: String,
    },
    /// A mask whose length differs from the sample's events.
    #[error("{sample}: the {what} mask has {mask} entries but the sample has {events} events")]
    MaskLength {
        sample: String,
        what: &'static str,
        mask: usize,
        events: usize,
    },
    /// A NaN or infinite value in a clustered event.
    #[error("{sample}: event {event} has the non-finite value {value} in marker {marker:?}; FlowSOM needs finite, transformed values (check the transform or exclude the event with the mask)")]
    NonFinite {
        sample: String,
        event: usize,
        marker: String,
        value: f64,
    },
    /// Fewer training events than nodes.
    #[error("FlowSOM's {xdim}×{ydim} grid needs at least {needed} training events (one per node), but the clustered populations hold {available}; use a smaller --grid or a larger population")]
    TooFewEvents {
        xdim: usize,
        ydim: usize,
        needed: usize,
        available: usize,
    },
    /// A parameter out of range.
    #[error("invalid FlowSOM parameter {name} = {value}: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
    /// Row-major rows whose length is not a multiple of the markers.
    #[error("{sample}: {values} values are not whole rows of {markers} markers")]
    RowLength {
        sample: String,
        values: usize,
        markers: usize,
    },
    /// linfa's k-means failed.
    #[error("k-means metaclustering failed: {0}")]
    KMeans(String),
    /// Writing an output failed.
    #[error("writing cluster output: {0}")]
    Write(#[source] std::io::Error),
}

/// How nodes are grouped into metaclusters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metaclustering {
    /// ConsensusClusterPlus-style consensus of average-linkage clusterings
    /// (R FlowSOM's default).
    Consensus(ConsensusSettings),
    /// k-means (linfa, k-means++ start, best of 10 runs).
    KMeans,
}

/// How the SOM is trained (`"som"` in a pipeline's `cluster` block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SomAlgorithm {
    /// R FlowSOM's online SOM (the default): one event at a time, learning
    /// rate `alpha`, sequential (see [`som`]).
    #[default]
    Online,
    /// Kohonen's batch map, an option for speed: each pass maps every event
    /// in parallel and sets each code to the mean of the events won within
    /// the pass's radius; no learning rate. A different estimator from R's
    /// (and from Python flowsom's `BatchFlowSOM`, which trains online maps
    /// on slices); the same result for any thread count.
    Batch,
}

/// FlowSOM settings; the defaults are R FlowSOM's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowSomParams {
    /// SOM grid (default 10 × 10).
    pub grid: Grid,
    /// Passes over the training events (default 10).
    pub rlen: usize,
    /// Learning rate from → to (default 0.05 → 0.01).
    pub alpha: (f64, f64),
    /// Number of metaclusters (default 10).
    pub k: usize,
    /// Seed of every random step.
    pub seed: u64,
    /// Metaclustering method.
    pub metaclustering: Metaclustering,
    /// Train on at most this many events, drawn evenly from the samples;
    /// `None` trains on every clustered event.
    pub train_events: Option<usize>,
    /// Online (R FlowSOM, the default) or batch SOM.
    pub algorithm: SomAlgorithm,
}

impl Default for FlowSomParams {
    fn default() -> Self {
        FlowSomParams {
            grid: Grid { xdim: 10, ydim: 10 },
            rlen: 10,
            alpha: (0.05, 0.01),
            k: 10,
            seed: 1,
            metaclustering: Metaclustering::Consensus(ConsensusSettings::default()),
            train_events: None,
            algorithm: SomAlgorithm::Online,
        }
    }
}

impl FlowSomParams {
    /// Checks every parameter; the error names the parameter.
    pub fn validate(&self) -> Result<(), ClusterError> {
        let bad = |name, value: String, reason| {
            Err(ClusterError::InvalidParameter {
                name,
                value,
                reason,
            })
        };
        let nodes = self.grid.n_nodes();
        if self.grid.xdim == 0 || self.grid.ydim == 0 || nodes > u16::MAX as usize {
            return bad(
                "grid",
                format!("{}x{}", self.grid.xdim, self.grid.ydim),
                "needs 1 to 65,535 nodes",
            );
        }
        if self.rlen == 0 {
            return bad("rlen", "0".into(), "needs at least one pass");
        }
        let (a0, a1) = self.alpha;
        if !(a0.is_finite() && a1.is_finite() && a0 > 0.0 && a1 >= 0.0) {
            return bad("alpha", format!("{a0}→{a1}"), "needs finite rates > 0");
        }
        if self.k == 0 || self.k > nodes {
            return bad(
                "k",
                self.k.to_string(),
                "needs 1 to the number of grid nodes",
            );
        }
        if self.train_events == Some(0) {
            return bad("train_events", "0".into(), "needs at least one event");
        }
        if let Metaclustering::Consensus(c) = self.metaclustering {
            if c.reps == 0 || !(c.p_item > 0.0 && c.p_item <= 1.0) {
                return bad(
                    "consensus",
                    format!("reps {} p_item {}", c.reps, c.p_item),
                    "needs reps ≥ 1 and 0 < p_item ≤ 1",
                );
            }
        }
        Ok(())
    }
}

/// One sample to cluster: its name (for errors and outputs), its
/// transformed events, and optionally which events to cluster.
#[derive(Debug, Clone, Copy)]
pub struct ClusterInput<'a> {
    /// Sample name, e.g. the input file name.
    pub name: &'a str,
    /// Compensated, transformed events (must hold the marker columns).
    pub events: &'a EventMatrix,
    /// Events to cluster (`true`); `None` clusters all.
    pub mask: Option<&'a [bool]>,
}

impl<'a> ClusterInput<'a> {
    /// All events of a sample.
    pub fn new(name: &'a str, events: &'a EventMatrix) -> Self {
        ClusterInput {
            name,
            events,
            mask: None,
        }
    }

    /// Only the events whose mask entry is `true`.
    pub fn with_mask(mut self, mask: &'a [bool]) -> Self {
        self.mask = Some(mask);
        self
    }

    /// Looks up the marker columns and checks the mask and values.
    fn resolve(&self, markers: &[String], position: usize) -> Result<Resolved<'a>, ClusterError> {
        let events = self.events;
        let n = events.n_events();
        if let Some(m) = self.mask {
            if m.len() != n {
                return Err(ClusterError::MaskLength {
                    sample: self.name.to_string(),
                    what: "event",
                    mask: m.len(),
                    events: n,
                });
            }
        }
        let mut columns = Vec::with_capacity(markers.len());
        for marker in markers {
            let col = events
                .column_by_name(marker)
                .ok_or_else(|| ClusterError::UnknownMarker {
                    sample: self.name.to_string(),
                    marker: marker.clone(),
                    available: events.names().join(", "),
                })?;
            if let Some((event, value)) = first_non_finite(col, self.mask) {
                return Err(ClusterError::NonFinite {
                    sample: self.name.to_string(),
                    event,
                    marker: marker.clone(),
                    value,
                });
            }
            columns.push(col);
        }
        Ok(Resolved {
            columns,
            mask: self.mask,
            n_events: n,
            position,
        })
    }
}

/// Values checked per parallel task for non-finite values.
const CHECK_CHUNK: usize = 1 << 16;

/// The first non-finite value of `col` among the events in `mask`, if any.
/// Chunks of finite values (the normal case) are cleared by one branch-free
/// pass that vectorises; only a chunk holding a NaN or infinity is searched
/// event by event.
fn first_non_finite(col: &[f64], mask: Option<&[bool]>) -> Option<(usize, f64)> {
    col.par_chunks(CHECK_CHUNK)
        .enumerate()
        .find_map_first(|(c, chunk)| {
            if chunk.iter().fold(true, |ok, v| ok & v.is_finite()) {
                return None;
            }
            let start = c * CHECK_CHUNK;
            chunk.iter().enumerate().find_map(|(o, &v)| {
                let i = start + o;
                let clustered = mask.map_or(true, |m| m.get(i).copied().unwrap_or(false));
                (!v.is_finite() && clustered).then_some((i, v))
            })
        })
}

/// One sample as row-major `f32` rows of its clustered events.
#[derive(Debug, Clone, Copy)]
pub struct RowsInput<'a> {
    /// Sample name, for errors.
    pub name: &'a str,
    /// `events × markers` values, row-major, transformed.
    pub rows: &'a [f32],
    /// Position of the sample in its batch (input order); picks its
    /// subsample stream.
    pub position: usize,
}

/// A trained FlowSOM model: the map and its metaclusters.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSom {
    markers: Vec<String>,
    params: FlowSomParams,
    /// Node-major codes (`n_nodes × markers`).
    codes: Vec<f32>,
    book: CodeBook,
    node_metacluster: Vec<u16>,
    levels: Vec<MarkerLevels>,
    names: Vec<String>,
    train_events: usize,
    /// Medians per metacluster of (a strided sample of) the training events.
    training_table: SampleTable,
}

/// What every training entry point refuses before touching data: invalid
/// parameters, no markers, no samples.
fn check_request(
    params: &FlowSomParams,
    markers: &[&str],
    n_samples: usize,
) -> Result<(), ClusterError> {
    params.validate()?;
    if markers.is_empty() {
        return Err(ClusterError::NoMarkers);
    }
    if n_samples == 0 {
        return Err(ClusterError::NoSamples);
    }
    Ok(())
}

/// A checked training request: the markers, each sample's columns and
/// mask, and the training rows.
struct Request<'a> {
    markers: Vec<String>,
    resolved: Vec<Resolved<'a>>,
    data: Vec<f32>,
}

/// Checks a training request on samples and resolves them.
fn training_request<'a>(
    inputs: &[ClusterInput<'a>],
    markers: &[&str],
    params: &FlowSomParams,
) -> Result<Request<'a>, ClusterError> {
    check_request(params, markers, inputs.len())?;
    let markers: Vec<String> = markers.iter().map(|m| m.to_string()).collect();
    let resolved = inputs
        .iter()
        .enumerate()
        .map(|(f, inp)| inp.resolve(&markers, f))
        .collect::<Result<Vec<_>, _>>()?;
    let data = training::training_rows(&resolved, markers.len(), params.train_events, params.seed);
    Ok(Request {
        markers,
        resolved,
        data,
    })
}

impl FlowSom {
    /// Trains one map on the clustered events of all `inputs` (or an even
    /// seeded subsample of them, see [`FlowSomParams::train_events`]) and
    /// metaclusters its nodes.
    pub fn train(
        inputs: &[ClusterInput<'_>],
        markers: &[&str],
        params: &FlowSomParams,
    ) -> Result<FlowSom, ClusterError> {
        let req = training_request(inputs, markers, params)?;
        Self::train_on(req.data, req.markers, params)
    }

    /// Trains one map on samples given as row-major `f32` rows of their
    /// clustered events only (`markers.len()` values per row), as the
    /// pipeline's cluster stage keeps them. Each sample carries its position
    /// in the batch, which picks its subsample stream: an absent sample (a
    /// failed file) leaves the others' draws as they were.
    pub fn train_rows(
        samples: &[RowsInput<'_>],
        markers: &[&str],
        params: &FlowSomParams,
    ) -> Result<FlowSom, ClusterError> {
        check_request(params, markers, samples.len())?;
        let dim = markers.len();
        let mut sources = Vec::with_capacity(samples.len());
        for s in samples {
            if s.rows.len() % dim != 0 {
                return Err(ClusterError::RowLength {
                    sample: s.name.to_string(),
                    values: s.rows.len(),
                    markers: dim,
                });
            }
            if let Some(i) = s.rows.iter().position(|v| !v.is_finite()) {
                return Err(ClusterError::NonFinite {
                    sample: s.name.to_string(),
                    event: i / dim,
                    marker: markers
                        .get(i % dim)
                        .map_or_else(String::new, |m| m.to_string()),
                    value: s.rows[i] as f64,
                });
            }
            sources.push(Rows {
                rows: s.rows,
                dim,
                position: s.position,
            });
        }
        let data = training::training_rows(&sources, dim, params.train_events, params.seed);
        let markers: Vec<String> = markers.iter().map(|m| m.to_string()).collect();
        Self::train_on(data, markers, params)
    }

    /// The SOM's codes (node-major) trained on the training rows.
    fn train_codes(
        data: &[f32],
        dim: usize,
        params: &FlowSomParams,
    ) -> Result<Vec<f32>, ClusterError> {
        let n_train = data.len() / dim.max(1);
        let n_nodes = params.grid.n_nodes();
        if n_train < n_nodes {
            return Err(ClusterError::TooFewEvents {
                xdim: params.grid.xdim,
                ydim: params.grid.ydim,
                needed: n_nodes,
                available: n_train,
            });
        }

        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        rng.set_stream(STREAM_INIT);
        let init = som::initial_codes(data, dim, n_nodes, &mut rng);
        let settings = SomSettings {
            grid: params.grid,
            rlen: params.rlen,
            alpha: params.alpha,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        rng.set_stream(STREAM_SOM);
        Ok(match params.algorithm {
            SomAlgorithm::Online => som::train(data, dim, &init, &settings, &mut rng),
            SomAlgorithm::Batch => som::train_batch(data, dim, &init, &settings),
        })
    }

    /// The SOM, metaclustering and naming on the training rows.
    fn train_on(
        data: Vec<f32>,
        markers: Vec<String>,
        params: &FlowSomParams,
    ) -> Result<FlowSom, ClusterError> {
        let codes = Self::train_codes(&data, markers.len(), params)?;
        Self::finish(data, markers, params, codes)
    }

    /// Metaclustering and naming of trained codes.
    fn finish(
        data: Vec<f32>,
        markers: Vec<String>,
        params: &FlowSomParams,
        codes: Vec<f32>,
    ) -> Result<FlowSom, ClusterError> {
        let dim = markers.len();
        let n_train = data.len() / dim.max(1);
        let n_nodes = params.grid.n_nodes();
        let book = CodeBook::from_rows(&codes, n_nodes, dim);

        let codes64: Vec<f64> = codes.iter().map(|&v| v as f64).collect();
        let meta_seed = params.seed.wrapping_add(META_SEED_OFFSET);
        let labels = match params.metaclustering {
            Metaclustering::Consensus(c) => {
                consensus::consensus(&codes64, n_nodes, dim, params.k, &c, meta_seed)
            }
            Metaclustering::KMeans => kmeans::kmeans(&codes64, n_nodes, dim, params.k, meta_seed)?,
        };
        let node_metacluster: Vec<u16> = labels.iter().map(|&l| l as u16).collect();
        let k_found = labels.iter().max().map_or(0, |&m| m + 1);

        // Names from the medians of (a strided sample of) the training events.
        let stride = n_train.div_ceil(NAMING_EVENTS).max(1);
        let sample: Vec<f32> = data
            .chunks_exact(dim)
            .step_by(stride)
            .flatten()
            .copied()
            .collect();
        drop(data);
        let nodes = som::map_rows(&book, &sample);
        let cols: Vec<Vec<f64>> = (0..dim)
            .map(|j| {
                sample
                    .iter()
                    .skip(j)
                    .step_by(dim)
                    .map(|&v| v as f64)
                    .collect()
            })
            .collect();
        let levels: Vec<MarkerLevels> = cols.iter().map(|c| naming::marker_levels(c)).collect();
        let mc: Vec<Option<u16>> = nodes
            .iter()
            .map(|&nd| node_metacluster.get(nd as usize).copied())
            .collect();
        let col_refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let table = tables::sample_table("", &col_refs, &mc, k_found);
        let names = table
            .rows
            .iter()
            .map(|r| naming::name(&markers, &levels, &r.medians))
            .collect();

        Ok(FlowSom {
            markers,
            params: *params,
            codes,
            book,
            node_metacluster,
            levels,
            names,
            train_events: n_train,
            training_table: table,
        })
    }

    /// The markers, in the order of the code columns.
    pub fn markers(&self) -> &[String] {
        &self.markers
    }

    /// The parameters it was trained with.
    pub fn params(&self) -> &FlowSomParams {
        &self.params
    }

    /// Node-major codes (`n_nodes × markers`), `f32`.
    pub fn codes(&self) -> &[f32] {
        &self.codes
    }

    /// The metacluster (0-based) of each node.
    pub fn node_metacluster(&self) -> &[u16] {
        &self.node_metacluster
    }

    /// Number of metaclusters.
    pub fn k(&self) -> usize {
        self.names.len()
    }

    /// Automatic names of the metaclusters (e.g. `CD3− CD56bright CD16−`).
    pub fn metacluster_names(&self) -> &[String] {
        &self.names
    }

    /// The per-marker level thresholds used for the names.
    pub fn marker_levels(&self) -> &[MarkerLevels] {
        &self.levels
    }

    /// How many events the map was trained on.
    pub fn train_events(&self) -> usize {
        self.train_events
    }

    /// Count and medians per metacluster of the training events (at most
    /// 50,000 of them, evenly strided): the batch's view of each
    /// metacluster, every file weighted as the training draw weighted it.
    pub fn training_table(&self) -> &SampleTable {
        &self.training_table
    }

    /// The metacluster (0-based) of each row-major `f32` row (in parallel;
    /// identical for any thread count).
    pub fn metaclusters_of_rows(&self, rows: &[f32]) -> Vec<u16> {
        som::map_rows(&self.book, rows)
            .into_iter()
            .map(|nd| self.node_metacluster.get(nd as usize).copied().unwrap_or(0))
            .collect()
    }

    /// Count, percent and medians per metacluster of a sample given as
    /// row-major `f32` rows and their metaclusters.
    pub fn table_of_rows(&self, name: &str, rows: &[f32], metaclusters: &[u16]) -> SampleTable {
        tables::sample_table_rows(name, rows, self.markers.len(), metaclusters, self.k())
    }

    /// Maps a sample's clustered events to nodes and metaclusters (in
    /// parallel; identical for any thread count).
    pub fn assign(&self, input: &ClusterInput<'_>) -> Result<SampleClusters, ClusterError> {
        let r = input.resolve(&self.markers, 0)?;
        let nodes = som::map_columns(&self.book, &r.columns, r.mask);
        Ok(self.clusters_of(input.name, &r, nodes))
    }

    /// Metaclusters and table of a sample whose events are mapped to nodes.
    fn clusters_of(&self, name: &str, r: &Resolved<'_>, nodes: Vec<Option<u16>>) -> SampleClusters {
        let metaclusters: Vec<Option<u16>> = nodes
            .iter()
            .map(|nd| nd.and_then(|nd| self.node_metacluster.get(nd as usize).copied()))
            .collect();
        let table = tables::sample_table(name, &r.columns, &metaclusters, self.k());
        SampleClusters {
            name: name.to_string(),
            nodes,
            metaclusters,
            table,
        }
    }
}

/// One sample's clustering.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleClusters {
    /// Sample name.
    pub name: String,
    /// Node (0-based) per event; `None` outside the mask.
    pub nodes: Vec<Option<u16>>,
    /// Metacluster (0-based) per event; `None` outside the mask.
    pub metaclusters: Vec<Option<u16>>,
    /// Count, percent and medians per metacluster.
    pub table: SampleTable,
}

impl SampleClusters {
    /// Adds the medians of `markers` per metacluster to the table, after
    /// the clustered markers' (as the pipeline's cluster stage reports its
    /// `describe_markers`): markers of `input` (the sample this was mapped
    /// from) that describe the metaclusters without having shaped the map.
    /// Errors name the sample and the marker (missing, or a non-finite value
    /// of a clustered event).
    pub fn describe(
        &mut self,
        input: &ClusterInput<'_>,
        markers: &[&str],
    ) -> Result<(), ClusterError> {
        let markers: Vec<String> = markers.iter().map(|m| m.to_string()).collect();
        let r = input.resolve(&markers, 0)?;
        let k = self.table.rows.len();
        let described = tables::sample_table(&self.name, &r.columns, &self.metaclusters, k);
        tables::append_described(&mut self.table, described);
        Ok(())
    }

    /// Agreement with a gated population (mask over all events of the
    /// sample): F1 of the majority-population metaclusters.
    pub fn agreement(&self, population: &[bool]) -> Result<Agreement, ClusterError> {
        let k = self.table.rows.len();
        agreement::agreement(&self.name, &self.metaclusters, population, k)
    }
}

/// A batch clustered with one map.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRun {
    /// The trained model.
    pub model: FlowSom,
    /// Each input's clustering, in input order.
    pub samples: Vec<SampleClusters>,
}

/// Trains one map on the batch and maps every sample (the CLI's call; the
/// pipeline's stage trains from rows, [`FlowSom::train_rows`]). The same
/// result as [`FlowSom::train`] then [`FlowSom::assign`] per sample, with
/// the mapping run beside the metaclustering.
pub fn cluster_batch(
    inputs: &[ClusterInput<'_>],
    markers: &[&str],
    params: &FlowSomParams,
) -> Result<ClusterRun, ClusterError> {
    let Request {
        markers,
        resolved,
        data,
    } = training_request(inputs, markers, params)?;
    let dim = markers.len();
    let codes = FlowSom::train_codes(&data, dim, params)?;
    // Mapping every event to its node needs only the codes: it runs beside
    // the metaclustering and naming (mostly sequential) instead of after.
    let book = CodeBook::from_rows(&codes, params.grid.n_nodes(), dim);
    let (model, nodes) = rayon::join(
        || FlowSom::finish(data, markers, params, codes),
        || {
            resolved
                .iter()
                .map(|r| som::map_columns(&book, &r.columns, r.mask))
                .collect::<Vec<_>>()
        },
    );
    let model = model?;
    let samples = inputs
        .iter()
        .zip(&resolved)
        .zip(nodes)
        .map(|((inp, r), nodes)| model.clusters_of(inp.name, r, nodes))
        .collect();
    Ok(ClusterRun { model, samples })
}
