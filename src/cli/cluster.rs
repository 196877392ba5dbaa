//! `nkflow cluster FILE... --markers CD56,CD16,... -o OUTDIR`: FlowSOM on FCS
//! files, one map for all of them.
//!
//! Each file is read, scaled, compensated with its own spillover keyword,
//! its markers resolved by the pipeline's panel rules ($PnS/$PnN, whole-token
//! aliases, -A over -H/-W), and each marker logicle-transformed with
//! parameters estimated from that file (flowCore's `estimateLogicle` rule)
//! unless `--logicle T,W,M,A` fixes them. Then [`cluster_batch`] trains one
//! map on all files and maps every event. Outputs: `OUTDIR/clusters.csv`
//! and, with `--assignments`, `OUTDIR/assignments/<file name>.csv`.
//!
//! `--describe NKG2C,KIR,...` adds markers that are prepared the same way
//! but do not shape the map: clusters.csv reports their medians per file
//! and metacluster after the clustered markers', as the pipeline's cluster
//! stage reports its `describe_markers` (cluster on "type" markers, describe
//! by "state" markers; see [`crate::cluster::stage`] for why).

// crate::Error's GatingFile variant makes every crate::Result large; boxing it
// belongs to its owner (same allowance as `info` and `simulate`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::cluster::{
    cluster_batch, stage::repeated_marker, write_assignments_csv, write_clusters_table,
    ClusterInput, ConsensusSettings, FlowSomParams, Grid, Metaclustering, SomAlgorithm,
};
use crate::compensation::Matrix;
use crate::pipeline::panel::{self, MarkerSpec};
use crate::transform::Logicle;
use crate::{Error, EventMatrix};

/// Metaclustering method on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetaMethod {
    /// Consensus hierarchical clustering (R FlowSOM's default).
    Consensus,
    /// k-means (linfa).
    Kmeans,
}

/// SOM training on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SomMethod {
    /// R FlowSOM's online SOM (one event at a time; sequential).
    Online,
    /// Kohonen's batch map (parallel, several times faster; a different estimator).
    Batch,
}

/// Arguments of `nkflow cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// FCS files; one map is trained on all of them.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Markers to cluster on, comma-separated (matched to $PnS/$PnN as panels are).
    #[arg(long, value_delimiter = ',', required = true)]
    pub markers: Vec<String>,
    /// Markers that describe the metaclusters without shaping them,
    /// comma-separated: same panel rules and transform as --markers, their
    /// medians in clusters.csv after the clustered markers' (e.g. the
    /// "state" markers NKG2C,KIR of cells clustered on CD56,CD16,CD3).
    #[arg(long, value_delimiter = ',')]
    pub describe: Vec<String>,
    /// Output directory (created if missing).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Also write assignments/<file name>.csv: the metacluster of every event.
    #[arg(long)]
    pub assignments: bool,
    /// Seed of every random step.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// SOM grid as XxY.
    #[arg(long, default_value = "10x10", value_parser = parse_grid)]
    pub grid: Grid,
    /// Number of metaclusters.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Passes over the training events.
    #[arg(long, default_value_t = 10)]
    pub rlen: usize,
    /// Train on at most this many events, drawn evenly from the files (default: all).
    #[arg(long)]
    pub train_events: Option<usize>,
    /// Metaclustering method.
    #[arg(long, value_enum, default_value_t = MetaMethod::Consensus)]
    pub metaclustering: MetaMethod,
    /// SOM training.
    #[arg(long, value_enum, default_value_t = SomMethod::Online)]
    pub som: SomMethod,
    /// Fixed logicle parameters T,W,M,A for every marker (default: estimated per marker and file).
    #[arg(long)]
    pub logicle: Option<String>,
    /// Worker threads (default: all cores). Results are identical for any number.
    #[arg(long)]
    pub threads: Option<usize>,
}

fn parse_grid(s: &str) -> Result<Grid, String> {
    let (x, y) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("grid {s:?} is not XxY (e.g. 10x10)"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("grid {s:?} is not XxY (e.g. 10x10)"))
    };
    Ok(Grid {
        xdim: parse(x)?,
        ydim: parse(y)?,
    })
}

/// Runs `nkflow cluster`.
pub fn run(args: &ClusterArgs) -> crate::Result<ExitCode> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {:?} threads: {e}", args.threads)))?;
    pool.install(|| run_in_pool(args))
}

fn run_in_pool(args: &ClusterArgs) -> crate::Result<ExitCode> {
    let markers = marker_list(&args.markers);
    let describe = marker_list(&args.describe);
    check_marker_lists(&markers, &describe)?;
    // Clustered then described markers: every file's prepared columns.
    let all_markers: Vec<String> = markers.iter().chain(&describe).cloned().collect();
    let fixed = args.logicle.as_deref().map(parse_logicle).transpose()?;
    let mut names = Vec::with_capacity(args.files.len());
    let mut matrices = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let name = file_name(path);
        matrices.push(prepare(path, &name, &all_markers, fixed.as_ref())?);
        names.push(name);
    }
    let params = FlowSomParams {
        grid: args.grid,
        rlen: args.rlen,
        k: args.k,
        seed: args.seed,
        train_events: args.train_events,
        metaclustering: match args.metaclustering {
            MetaMethod::Consensus => Metaclustering::Consensus(ConsensusSettings::default()),
            MetaMethod::Kmeans => Metaclustering::KMeans,
        },
        algorithm: match args.som {
            SomMethod::Online => SomAlgorithm::Online,
            SomMethod::Batch => SomAlgorithm::Batch,
        },
        ..FlowSomParams::default()
    };
    let inputs: Vec<ClusterInput> = names
        .iter()
        .zip(&matrices)
        .map(|(n, m)| ClusterInput::new(n, m))
        .collect();
    // Only the clustered markers shape the map (and name the metaclusters).
    let marker_refs: Vec<&str> = markers.iter().map(String::as_str).collect();
    let mut run = cluster_batch(&inputs, &marker_refs, &params)?;
    if !describe.is_empty() {
        let describe_refs: Vec<&str> = describe.iter().map(String::as_str).collect();
        for (sample, input) in run.samples.iter_mut().zip(&inputs) {
            sample.describe(input, &describe_refs)?;
        }
    }

    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    let tables: Vec<_> = run.samples.iter().map(|s| s.table.clone()).collect();
    let clusters = args.out.join("clusters.csv");
    write_atomically(&clusters, |w| {
        write_clusters_table(w, &all_markers, run.model.metacluster_names(), &tables)
            .map_err(|e| Error::Usage(e.to_string()))
    })?;
    if args.assignments {
        let dir = args.out.join("assignments");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        for s in &run.samples {
            let path = dir.join(format!("{}.csv", s.name));
            write_atomically(&path, |w| Ok(write_assignments_csv(w, &s.metaclusters)?))?;
        }
    }
    println!(
        "FlowSOM: {} files, {} training events, {}x{} grid, {} metaclusters → {}",
        run.samples.len(),
        run.model.train_events(),
        args.grid.xdim,
        args.grid.ydim,
        run.model.k(),
        clusters.display()
    );
    for (m, name) in run.model.metacluster_names().iter().enumerate() {
        println!("  {:>2}  {name}", m + 1);
    }
    Ok(ExitCode::SUCCESS)
}

/// A comma-separated option's markers, trimmed, empty entries dropped.
fn marker_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

/// A marker either shapes the map or describes it, and is named once: the
/// pipeline's `cluster` block rule ([`repeated_marker`]), in option names.
fn check_marker_lists(markers: &[String], describe: &[String]) -> crate::Result<()> {
    let Some(r) = repeated_marker(markers, describe) else {
        return Ok(());
    };
    let option = |described: bool| if described { "--describe" } else { "--markers" };
    Err(Error::Usage(if r.described == r.first_described {
        format!("{} lists marker {:?} twice", option(r.described), r.marker)
    } else {
        format!(
            "marker {:?} is in both --markers and --describe: a marker either shapes the map (--markers) or only describes it (--describe)",
            r.marker
        )
    }))
}

/// The file name as given (e.g. `P01_D30.fcs`), used for sample names and
/// assignment file names.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Reads one file and returns its transformed marker columns, named by marker.
fn prepare(
    path: &Path,
    name: &str,
    markers: &[String],
    fixed: Option<&Logicle>,
) -> crate::Result<EventMatrix> {
    let mut sample = crate::fcs::read(path)?;
    marker_matrix(&mut sample, name, markers, fixed)
}

/// The preprocessing `nkflow cluster` applies to one sample: FCS scale,
/// compensation with the sample's own spillover, markers resolved by the
/// panel rules, each logicle-transformed (`fixed`, else estimated from this
/// sample). Returns the marker columns named by marker.
pub fn marker_matrix(
    sample: &mut crate::Sample,
    name: &str,
    markers: &[String],
    fixed: Option<&Logicle>,
) -> crate::Result<EventMatrix> {
    sample.apply_scale();
    if let Some(matrix) = Matrix::from_sample(sample)? {
        matrix.compensate_sample(sample)?;
    }
    let known = preset_panel();
    let specs: Vec<MarkerSpec> = markers
        .iter()
        .map(|m| MarkerSpec {
            marker: m.clone(),
            aliases: known
                .iter()
                .find(|k| k.marker.eq_ignore_ascii_case(m))
                .map(|k| k.aliases.clone())
                .unwrap_or_default(),
            optional: false,
        })
        .collect();
    let resolved = panel::resolve(&specs, &sample.channels, &BTreeMap::new())
        .map_err(|e| Error::Usage(format!("{name}: {e}")))?;
    let mut columns = Vec::with_capacity(markers.len());
    for m in markers {
        let idx = resolved
            .get(m)
            .map(|r| r.index)
            .ok_or_else(|| Error::Usage(format!("{name}: marker {m:?} was not resolved")))?;
        let mut col = sample.events.column(idx).to_vec();
        match fixed {
            Some(l) => l.apply_slice(&mut col),
            None => estimate_logicle(&col)
                .map_err(|e| Error::Usage(format!("{name}: marker {m}: {e}")))?
                .apply_slice(&mut col),
        }
        columns.push(col);
    }
    Ok(EventMatrix::from_columns(markers.to_vec(), columns)?)
}

/// The NK preset's panel (`pipelines/nk-day30.json`): its aliases let
/// `--markers KIR` find `CD158 APC`, as the pipeline would. Only the `panel`
/// entry is read, so the rest of the preset can evolve freely.
fn preset_panel() -> Vec<MarkerSpec> {
    const PRESET: &str = include_str!("../../pipelines/nk-day30.json");
    serde_json::from_str::<serde_json::Value>(PRESET)
        .ok()
        .and_then(|v| v.get("panel").cloned())
        .and_then(|p| serde_json::from_value(p).ok())
        .unwrap_or_default()
}

fn parse_logicle(s: &str) -> crate::Result<Logicle> {
    let v: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| Error::Usage(format!("--logicle {s:?}: expected T,W,M,A numbers")))?;
    match v.as_slice() {
        [t, w, m, a] => Ok(Logicle::new(*t, *w, *m, *a)?),
        _ => Err(Error::Usage(format!(
            "--logicle {s:?}: expected four numbers T,W,M,A"
        ))),
    }
}

/// The estimated-logicle rule, shared with the pipeline's cluster stage.
pub use crate::cluster::preprocess::estimate_logicle;

/// Writes through a temporary file in the same directory, renamed into
/// place only when complete.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> crate::Result<()>,
) -> crate::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    write(tmp.as_file_mut())?;
    tmp.as_file_mut().flush().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_aliases_are_available() {
        let panel = preset_panel();
        let kir = panel.iter().find(|m| m.marker == "KIR").unwrap();
        assert!(kir.aliases.iter().any(|a| a == "CD158*"));
    }

    #[test]
    fn a_marker_is_clustered_or_described_not_both() {
        let v = |s: &[&str]| s.iter().map(|m| m.to_string()).collect::<Vec<_>>();
        assert!(check_marker_lists(&v(&["CD56", "CD3"]), &v(&["NKG2C", "KIR"])).is_ok());
        assert!(check_marker_lists(&v(&["CD56"]), &[]).is_ok());
        let both = check_marker_lists(&v(&["CD56", "CD3"]), &v(&["KIR", "cd56"]))
            .unwrap_err()
            .to_string();
        assert!(
            both.contains("\"cd56\" is in both --markers and --describe"),
            "{both}"
        );
        let twice = check_marker_lists(&v(&["CD56"]), &v(&["KIR", "kir"]))
            .unwrap_err()
            .to_string();
        assert!(
            twice.contains("--describe lists marker \"kir\" twice"),
            "{twice}"
        );
    }

    #[test]
    fn grid_parses() {
        assert_eq!(parse_grid("7x5"), Ok(Grid { xdim: 7, ydim: 5 }));
        assert!(parse_grid("10").is_err());
    }
}
