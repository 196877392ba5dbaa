//! The pipeline definition: what `pipelines/*.json` may say, and the checks
//! that run before any file is touched (so a typo fails in a second, naming
//! the field, instead of after an hour of batch).
//!
//! A pipeline is a marker panel, a compensation source, a density axis per
//! marker, a list of gates (each with a parent, in tree order), an absolute
//! count method, the columns of results.csv and QC rules. See
//! `pipelines/nk-day30.json` for a complete example and `COLUMNS.md` for
//! what its columns mean.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::adaptive::{FlowRateParams, PeakRegionParams, ValleyParams};
use super::panel::MarkerSpec;
use super::scale::AxisScale;

/// The id of the implicit root population (all events of the file).
pub const ROOT: &str = "root";

/// A whole pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Short name, written into run.json.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Markers and how to find their channels.
    pub panel: Vec<MarkerSpec>,
    /// Where the spillover matrix comes from.
    #[serde(default)]
    pub compensation: Compensation,
    /// Density axis per marker for data-driven thresholds; markers not
    /// listed use `auto` (arcsinh with a cofactor estimated per file) unless
    /// they are scatter or time channels (linear).
    #[serde(default)]
    pub scales: BTreeMap<String, AxisScale>,
    /// The population tree, parents before children.
    pub gates: Vec<GateSpec>,
    /// How counts become cells per µL of blood.
    #[serde(default)]
    pub absolute: Option<AbsoluteSpec>,
    /// results.csv statistic columns, in order (after `file` and the
    /// samplesheet columns).
    #[serde(default)]
    pub columns: Vec<ColumnSpec>,
    /// QC rules that add flags (never blank a value).
    #[serde(default)]
    pub qc: Vec<QcRule>,
    /// FlowSOM on one population, one map for the batch (see
    /// [`ClusterSpec`](crate::cluster::stage::ClusterSpec)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::cluster::stage::ClusterSpec>,
    /// Gates of type `gatingml`, read from their XML files when the
    /// pipeline is loaded, by pipeline gate id.
    #[serde(skip)]
    pub imported: BTreeMap<String, super::imported::ImportedGate>,
}

/// Source of the compensation matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Compensation {
    /// The file's `$SPILLOVER` (or `SPILL`/`$SPILL`/`$COMP`); none → none.
    #[default]
    File,
    /// No compensation.
    None,
}

/// One gate of the population tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    /// Population id (unique; used by columns, QC and Gating-ML).
    pub id: String,
    /// Parent population id; `root` (all events) when absent.
    #[serde(default)]
    pub parent: Option<String>,
    /// What kind of gate.
    pub gate: GateKind,
}

impl GateSpec {
    /// The parent id, `root` when absent.
    pub fn parent_id(&self) -> &str {
        self.parent.as_deref().unwrap_or(ROOT)
    }
}

/// Above or below a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// `x ≥ threshold` (inclusive minimum).
    Above,
    /// `x < threshold` (exclusive maximum).
    Below,
}

/// One dimension of a threshold gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdDim {
    pub marker: String,
    pub side: Side,
    /// How the threshold is found on the parent's events.
    #[serde(default)]
    pub valley: ValleyParams,
    /// Find the threshold on this (earlier) population instead of the
    /// parent: a population that always holds negatives, e.g. CD56 on all
    /// lymphocytes, whose T cells are the CD56− reference even in a sample
    /// where CD3− cells are nearly all NK.
    #[serde(default)]
    pub reference: Option<String>,
}

/// One dimension of a fixed rectangle, in FCS-scale data units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedInterval {
    pub marker: String,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// Read compensated values (default true).
    #[serde(default = "yes")]
    pub compensated: bool,
}

fn yes() -> bool {
    true
}

fn default_singlet_k() -> f64 {
    4.0
}

/// The kinds of gates a pipeline may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum GateKind {
    /// Removes time bins whose event rate departs from the run's typical
    /// rate (clogs, bubbles).
    FlowRate {
        time: String,
        #[serde(default)]
        params: FlowRateParams,
    },
    /// Removes events piled at the top of a channel's range (`$PnR`),
    /// uncompensated.
    Margin { markers: Vec<String> },
    /// Counting beads: bright in every listed channel (uncompensated, since
    /// compensating a particle bright everywhere is meaningless); each
    /// lower bound is the last density valley of that channel.
    Beads {
        markers: Vec<String>,
        #[serde(default = "bead_valley")]
        valley: ValleyParams,
    },
    /// Singlets: FSC-A/FSC-H ratio within `k` lower-side spreads of its mode.
    Singlets {
        area: String,
        height: String,
        #[serde(default = "default_singlet_k")]
        k: f64,
    },
    /// The population around a 2-D density peak (e.g. FSC/SSC, CD45/SSC).
    PeakRegion {
        x: String,
        y: String,
        #[serde(default)]
        params: PeakRegionParams,
    },
    /// Data-driven thresholds, one per dimension (a rectangle).
    Threshold { dims: Vec<ThresholdDim> },
    /// The intersection of sibling threshold/rectangle gates (same parent):
    /// one rectangle with all their intervals (e.g. NKG2C+ KIR+).
    And { of: Vec<String> },
    /// The parent's events outside a sibling gate (e.g. CD56dim = NK not
    /// CD56bright).
    Not { of: String },
    /// A fixed rectangle in data units.
    Rectangle { dims: Vec<FixedInterval> },
    /// A fixed polygon in data units (compensated values).
    Polygon {
        x: String,
        y: String,
        vertices: Vec<(f64, f64)>,
    },
    /// A fixed gate from a Gating-ML 2.0 file (path relative to the
    /// pipeline file): a rectangle, polygon, ellipsoid or one quadrant, with
    /// its own compensation and transforms. Dimension names that are panel
    /// markers map to each file's channel. See [`super::imported`].
    /// With `subtree`, the gate's descendants in the XML come too, as
    /// populations named by their XML ids (expanded when the pipeline is
    /// loaded, into one `gatingml` gate each, right after this one).
    Gatingml {
        file: String,
        id: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        subtree: bool,
    },
}

fn bead_valley() -> ValleyParams {
    ValleyParams {
        pick: super::adaptive::Pick::Last,
        fallback: super::adaptive::Fallback::Quantile { p: 1.0 },
        ..ValleyParams::default()
    }
}

impl GateKind {
    /// Markers the gate reads.
    pub fn markers(&self) -> Vec<&str> {
        match self {
            GateKind::FlowRate { time, .. } => vec![time],
            GateKind::Margin { markers } | GateKind::Beads { markers, .. } => {
                markers.iter().map(String::as_str).collect()
            }
            GateKind::Singlets { area, height, .. } => vec![area, height],
            GateKind::PeakRegion { x, y, .. } | GateKind::Polygon { x, y, .. } => vec![x, y],
            GateKind::Threshold { dims } => dims.iter().map(|d| d.marker.as_str()).collect(),
            GateKind::Rectangle { dims } => dims.iter().map(|d| d.marker.as_str()).collect(),
            // A Gating-ML gate's dimensions are channel names or markers,
            // mapped per file (see `imported`).
            GateKind::And { .. } | GateKind::Not { .. } | GateKind::Gatingml { .. } => Vec::new(),
        }
    }
}

/// How absolute counts (cells per µL of blood) are computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum AbsoluteSpec {
    /// Bead-based single platform: events / bead events × `beads_per_tube`
    /// / `blood_volume_ul` (samplesheet columns).
    Beads { beads: String },
    /// Dual platform: events / lymphocyte events × `alc_per_ul`
    /// (samplesheet column, absolute lymphocyte count from the analyser).
    DualPlatform { lymphocytes: String },
    /// Volumetric: events / (`$VOL` nL / 1000).
    Volumetric,
}

/// One statistic column of results.csv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(flatten)]
    pub stat: Stat,
}

/// What a results column holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    /// Events in the population.
    Count(String),
    /// 100 × population / other population (0–100).
    PercentOf(String, String),
    /// Cells per µL of blood (by the pipeline's absolute method).
    PerUl(String),
    /// Median of a marker on the population, FCS scale (compensated).
    Median(String, String),
    /// Another column × a samplesheet percentage / 100, present only when
    /// the samplesheet has that column (e.g. donor NK per µL from
    /// `nk_donor_chimerism_pct`).
    TimesSheetPercent(String, String),
}

/// A QC rule: adds `flag` to the sample's `qc_flags` when it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum QcRule {
    /// Fires when the population has fewer than `min` events.
    MinCount {
        population: String,
        min: usize,
        flag: String,
    },
    /// Fires when the gate removed more than `max_percent` of its parent.
    MaxRemovedPercent {
        population: String,
        max_percent: f64,
        flag: String,
    },
}

/// Populations expanded from a `"subtree": true` import, by pipeline id:
/// their subtree top's XML id and pipeline id.
type SubtreeTops = BTreeMap<String, (String, String)>;

/// Why a pipeline file is not usable.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line {line}, column {column}: {field}{message}")]
    Json {
        path: String,
        line: usize,
        column: usize,
        /// The JSON path of the offending value (`cluster.som: `,
        /// `gates[3].type: `), empty for a syntax error at the top.
        field: String,
        message: String,
    },
    #[error("{path}: {field}: {message}")]
    Invalid {
        path: String,
        field: String,
        message: String,
    },
}

impl Pipeline {
    /// Reads and validates a pipeline file.
    pub fn from_file(path: &Path) -> Result<Pipeline, DefinitionError> {
        let text = std::fs::read_to_string(path).map_err(|source| DefinitionError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Pipeline::from_json(&text, &path.display().to_string())
    }

    /// Parses and validates pipeline JSON; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Pipeline, DefinitionError> {
        // serde_path_to_error tracks where in the document a type error
        // happened, so "unknown variant `fast`" comes with `cluster.som`
        // instead of only a line and column.
        let mut de = serde_json::Deserializer::from_str(text);
        let mut p: Pipeline = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let (line, column) = (inner.line(), inner.column());
            let message = inner.to_string();
            // serde_json appends the position, which the error already has.
            let message = message
                .strip_suffix(&format!(" at line {line} column {column}"))
                .unwrap_or(&message)
                .to_string();
            DefinitionError::Json {
                path: origin.to_string(),
                line,
                column,
                field: if field == "." {
                    String::new()
                } else {
                    format!("{field}: ")
                },
                message,
            }
        })?;
        let invalid = |(field, message)| DefinitionError::Invalid {
            path: origin.to_string(),
            field,
            message,
        };
        // Gating-ML files are relative to the pipeline file's folder.
        let base = Path::new(origin)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // Subtrees first, so that columns and QC rules may name their
        // populations.
        let tops = p.expand_subtrees(base).map_err(invalid)?;
        p.validate().map_err(invalid)?;
        p.load_imported(base, &tops).map_err(invalid)?;
        Ok(p)
    }

    /// Replaces each `gatingml` gate with `subtree: true` by itself and one
    /// `gatingml` gate per descendant population in the XML (tree order,
    /// parents mapped: the top keeps the pipeline's id and parent). Returns,
    /// for each population added so, its subtree top as `(XML id, pipeline
    /// id)`: what lets a Boolean gate inside the subtree be imported.
    fn expand_subtrees(&mut self, base: &Path) -> Result<SubtreeTops, (String, String)> {
        let mut cache = BTreeMap::new();
        let mut tops = SubtreeTops::new();
        let mut out: Vec<GateSpec> = Vec::with_capacity(self.gates.len());
        for (i, g) in self.gates.iter().enumerate() {
            let GateKind::Gatingml {
                file,
                id,
                subtree: true,
            } = &g.gate
            else {
                out.push(g.clone());
                continue;
            };
            let field = format!("gates[{i}] ({}).gate", g.id);
            let nodes = super::imported::subtree(base, file, id, &mut cache)
                .map_err(|m| (field.clone(), m))?;
            out.push(GateSpec {
                id: g.id.clone(),
                parent: g.parent.clone(),
                gate: GateKind::Gatingml {
                    file: file.clone(),
                    id: id.clone(),
                    subtree: false,
                },
            });
            for (pop, parent) in nodes {
                let parent = if &parent == id { g.id.clone() } else { parent };
                tops.insert(pop.clone(), (id.clone(), g.id.clone()));
                out.push(GateSpec {
                    id: pop.clone(),
                    parent: Some(parent),
                    gate: GateKind::Gatingml {
                        file: file.clone(),
                        id: pop,
                        subtree: false,
                    },
                });
            }
        }
        self.gates = out;
        Ok(tops)
    }

    /// Reads every `gatingml` gate's XML (each file once) and checks that
    /// transform and matrix ids mean one thing across the imported gates
    /// (they share one namespace in gates/<file>.xml).
    fn load_imported(&mut self, base: &Path, tops: &SubtreeTops) -> Result<(), (String, String)> {
        let mut cache = BTreeMap::new();
        let mut imported: BTreeMap<String, super::imported::ImportedGate> = BTreeMap::new();
        for (i, g) in self.gates.iter().enumerate() {
            let GateKind::Gatingml { file, id, .. } = &g.gate else {
                continue;
            };
            let field = format!("gates[{i}] ({}).gate", g.id);
            let top = tops.get(&g.id).map(|(x, p)| (x.as_str(), p.as_str()));
            let ig = super::imported::load(base, file, id, top, &mut cache)
                .map_err(|m| (field.clone(), m))?;
            for other in imported.values() {
                for (tid, def) in &ig.transforms {
                    if other.transforms.iter().any(|(k, d)| k == tid && d != def) {
                        return Err((
                            field,
                            format!(
                                "transform id {tid:?} of {file} differs from the one of {} (gate {:?}); give one of them another id",
                                other.file, other.xml_id
                            ),
                        ));
                    }
                }
                for (mid, m) in &ig.matrices {
                    if other.matrices.iter().any(|(k, d)| k == mid && d != m) {
                        return Err((
                            field,
                            format!(
                                "spectrum matrix id {mid:?} of {file} differs from the one of {} (gate {:?}); give one of them another id",
                                other.file, other.xml_id
                            ),
                        ));
                    }
                }
            }
            imported.insert(g.id.clone(), ig);
        }
        self.imported = imported;
        Ok(())
    }

    /// Marker names, as declared.
    pub fn marker_names(&self) -> impl Iterator<Item = &str> {
        self.panel.iter().map(|m| m.marker.as_str())
    }

    /// The gate with this id.
    pub fn gate(&self, id: &str) -> Option<&GateSpec> {
        self.gates.iter().find(|g| g.id == id)
    }

    /// Checks references and values. Errors are `(field path, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |f: String, m: String| Err((f, m));
        if self.name.trim().is_empty() {
            return err("name".into(), "must not be empty".into());
        }
        let mut markers = BTreeSet::new();
        for (i, m) in self.panel.iter().enumerate() {
            if m.marker.trim().is_empty() {
                return err(format!("panel[{i}].marker"), "must not be empty".into());
            }
            if !markers.insert(m.marker.to_ascii_lowercase()) {
                return err(
                    format!("panel[{i}].marker"),
                    format!("{:?} is declared twice", m.marker),
                );
            }
        }
        let known_marker = |m: &str| markers.contains(&m.to_ascii_lowercase());
        for name in self.scales.keys() {
            if !known_marker(name) {
                return err(format!("scales.{name}"), "not a marker of the panel".into());
            }
        }
        let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, g) in self.gates.iter().enumerate() {
            let f = |s: &str| format!("gates[{i}] ({}).{s}", g.id);
            if g.id.trim().is_empty() || g.id == ROOT {
                return err(
                    format!("gates[{i}].id"),
                    format!("{:?} is not a usable id", g.id),
                );
            }
            if !g
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return err(
                    format!("gates[{i}].id"),
                    format!(
                        "{:?}: use letters, digits, '_' or '-' (it becomes a Gating-ML id)",
                        g.id
                    ),
                );
            }
            if ids.contains_key(g.id.as_str()) {
                return err(
                    format!("gates[{i}].id"),
                    format!("{:?} is used twice", g.id),
                );
            }
            let parent = g.parent_id();
            if parent != ROOT && !ids.contains_key(parent) {
                return err(
                    f("parent"),
                    format!("{parent:?} is not a gate listed before this one (or \"root\")"),
                );
            }
            for m in g.gate.markers() {
                if !known_marker(m) {
                    return err(f("gate"), format!("marker {m:?} is not in the panel"));
                }
            }
            match &g.gate {
                GateKind::And { of } => {
                    if of.len() < 2 {
                        return err(f("gate.of"), "needs at least two gates".into());
                    }
                    for o in of {
                        let Some(other) = ids.get(o.as_str()).map(|&k| &self.gates[k]) else {
                            return err(f("gate.of"), format!("{o:?} is not a gate listed before"));
                        };
                        if other.parent_id() != parent {
                            return err(
                                f("gate.of"),
                                format!("{o:?} has parent {:?}, not {parent:?}", other.parent_id()),
                            );
                        }
                        if !matches!(
                            other.gate,
                            GateKind::Threshold { .. } | GateKind::Rectangle { .. }
                        ) {
                            return err(
                                f("gate.of"),
                                format!("{o:?} is not a threshold or rectangle gate"),
                            );
                        }
                    }
                }
                GateKind::Not { of } => {
                    let Some(other) = ids.get(of.as_str()).map(|&k| &self.gates[k]) else {
                        return err(f("gate.of"), format!("{of:?} is not a gate listed before"));
                    };
                    if other.parent_id() != parent {
                        return err(
                            f("gate.of"),
                            format!("{of:?} has parent {:?}, not {parent:?}", other.parent_id()),
                        );
                    }
                }
                GateKind::Threshold { dims } if dims.is_empty() => {
                    return err(f("gate.dims"), "needs at least one dimension".into());
                }
                GateKind::Threshold { dims } => {
                    for (k, d) in dims.iter().enumerate() {
                        if let Some(r) = &d.reference {
                            if r != ROOT && !ids.contains_key(r.as_str()) {
                                return err(
                                    f(&format!("gate.dims[{k}].reference")),
                                    format!("{r:?} is not a gate listed before this one"),
                                );
                            }
                        }
                    }
                }
                GateKind::Rectangle { dims } => {
                    for (k, d) in dims.iter().enumerate() {
                        if d.min.is_none() && d.max.is_none() {
                            return err(f(&format!("gate.dims[{k}]")), "needs min or max".into());
                        }
                    }
                }
                GateKind::Polygon { vertices, .. } if vertices.len() < 3 => {
                    return err(f("gate.vertices"), "needs at least 3 vertices".into());
                }
                GateKind::Singlets { k, .. } if k.is_nan() || *k <= 0.0 => {
                    return err(f("gate.k"), "must be > 0".into());
                }
                GateKind::Margin { markers } | GateKind::Beads { markers, .. }
                    if markers.is_empty() =>
                {
                    return err(f("gate.markers"), "needs at least one marker".into());
                }
                _ => {}
            }
            ids.insert(&g.id, i);
        }
        let known_pop = |p: &str| p == ROOT || ids.contains_key(p);
        match &self.absolute {
            Some(AbsoluteSpec::Beads { beads: p })
            | Some(AbsoluteSpec::DualPlatform { lymphocytes: p })
                if !known_pop(p) =>
            {
                return err("absolute".into(), format!("population {p:?} is not a gate"));
            }
            _ => {}
        }
        let mut names = BTreeSet::new();
        for (i, c) in self.columns.iter().enumerate() {
            let f = format!("columns[{i}] ({})", c.name);
            if !names.insert(c.name.as_str()) || c.name == "file" || c.name == "error" {
                return err(f, "column name is used twice or reserved".into());
            }
            let pops: Vec<&str> = match &c.stat {
                Stat::Count(p) | Stat::PerUl(p) => vec![p],
                Stat::PercentOf(a, b) => vec![a, b],
                Stat::Median(p, m) => {
                    if !known_marker(m) {
                        return err(f, format!("marker {m:?} is not in the panel"));
                    }
                    vec![p]
                }
                Stat::TimesSheetPercent(col, _) => {
                    if !names.contains(col.as_str()) {
                        return err(f, format!("column {col:?} must be defined before"));
                    }
                    vec![]
                }
            };
            for p in pops {
                if !known_pop(p) {
                    return err(f, format!("population {p:?} is not a gate"));
                }
            }
            if matches!(c.stat, Stat::PerUl(_)) && self.absolute.is_none() {
                return err(f, "per_ul needs an \"absolute\" method".into());
            }
        }
        for (i, q) in self.qc.iter().enumerate() {
            let (QcRule::MinCount { population, .. }
            | QcRule::MaxRemovedPercent { population, .. }) = q;
            if !known_pop(population) {
                return err(
                    format!("qc[{i}].population"),
                    format!("{population:?} is not a gate"),
                );
            }
        }
        if let Some(c) = &self.cluster {
            c.validate(known_marker, known_pop)?;
            if let Some(col) = c.score_column() {
                if names.contains(col.as_str()) {
                    return err(
                        "cluster.score".into(),
                        format!("its results column {col:?} is also a pipeline column"),
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = r#"{
      "name": "mini",
      "panel": [{"marker": "CD3"}, {"marker": "CD56", "aliases": ["NCAM1"]}],
      "gates": [
        {"id": "t", "gate": {"type": "threshold", "dims": [{"marker": "CD3", "side": "above"}]}},
        {"id": "nt", "gate": {"type": "not", "of": "t"}}
      ],
      "columns": [{"name": "t_events", "count": "t"}, {"name": "pct_t", "percent_of": ["t", "root"]}]
    }"#;

    #[test]
    fn parses_and_validates() {
        let p = Pipeline::from_json(MINI, "mini.json").unwrap();
        assert_eq!(p.gates.len(), 2);
        assert_eq!(
            p.columns[1].stat,
            Stat::PercentOf("t".into(), "root".into())
        );
        // Round trip.
        let again: Pipeline = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn errors_name_the_field() {
        let bad = MINI.replace(r#""marker": "CD3", "side""#, r#""marker": "CD4", "side""#);
        let e = Pipeline::from_json(&bad, "mini.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("gates[0] (t).gate") && e.contains("\"CD4\""),
            "{e}"
        );
        let bad = MINI.replace(r#""of": "t""#, r#""of": "x""#);
        let e = Pipeline::from_json(&bad, "mini.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("gates[1] (nt).gate.of"), "{e}");
        let bad = MINI.replace(r#""count": "t""#, r#""count": "nk""#);
        let e = Pipeline::from_json(&bad, "mini.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("columns[0] (t_events)") && e.contains("\"nk\""),
            "{e}"
        );
        let bad = MINI.replace(r#""side": "above""#, r#""side": "up""#);
        let e = Pipeline::from_json(&bad, "mini.json")
            .unwrap_err()
            .to_string();
        // The JSON path comes with the position (serde_path_to_error).
        assert!(
            e.contains("mini.json: line") && e.contains("gates[0].gate: unknown variant `up`"),
            "{e}"
        );
    }

    #[test]
    fn preset_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/nk-day30.json");
        let p = Pipeline::from_file(&path).unwrap();
        assert_eq!(p.columns[0].name, "nk_per_ul");
    }
}
