//! `nkflow run PIPELINE.json INPUT... -o OUTDIR`: the batch runner.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::pipeline::definition::Pipeline;
use crate::pipeline::runner::{self, RunOptions};
use crate::pipeline::sink::{GatesXml, PopulationsCsv, ResultsCsv, RunJson, Sink};
use crate::report::stage::{ReportSink, ReportStage};

/// Run a preset pipeline over a batch of FCS files.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline definition (e.g. pipelines/nk-day30.json).
    pub pipeline: PathBuf,
    /// FCS files and/or folders (read non-recursively; only files that start
    /// with the FCS magic are taken, the rest are listed in run.json).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Samplesheet CSV: `file` plus metadata (beads_per_tube,
    /// blood_volume_ul, alc_per_ul, nk_donor_chimerism_pct, channel:<marker>, …).
    #[arg(long)]
    pub samplesheet: Option<PathBuf>,
    /// Panel override for every file: JSON {"marker": "channel"} or CSV marker,channel.
    #[arg(long)]
    pub panel: Option<PathBuf>,
    /// Output folder (created if needed; outputs in it are replaced atomically).
    #[arg(short = 'o', long = "out")]
    pub outdir: PathBuf,
    /// Worker threads (default: all cores). Outputs are identical for any value.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Also write OUTDIR/assignments/<input file name>.csv: the FlowSOM
    /// metacluster of every event (empty outside the clustered population);
    /// needs a pipeline with a "cluster" block.
    #[arg(long)]
    pub assignments: bool,
    /// Also write OUTDIR/report.html (gating plots per sample, cohort plots,
    /// QC flags) and the plots as PNGs under OUTDIR/plots/.
    #[arg(long)]
    pub report: bool,
}

/// Reads one FCS data set from bytes with the crate's reader.
pub fn read_fcs(name: &str, bytes: &[u8]) -> Result<crate::Sample, String> {
    crate::fcs::read_bytes(name, bytes, 0).map_err(|e| e.to_string())
}

/// The default sinks of `nkflow run`.
pub fn default_sinks() -> Vec<Box<dyn Sink>> {
    vec![
        Box::new(ResultsCsv::default()),
        Box::new(PopulationsCsv::default()),
        Box::new(GatesXml::default()),
        Box::new(RunJson::default()),
    ]
}

// crate::Error is large because of another module's variant (see cli/info.rs).
pub fn run(args: RunArgs) -> crate::Result<ExitCode> {
    let pipeline = Pipeline::from_file(&args.pipeline).map_err(runner::RunError::from)?;
    let panel_overrides = match &args.panel {
        Some(p) => crate::pipeline::panel::read_override_file(p).map_err(crate::Error::Usage)?,
        None => Default::default(),
    };
    let opts = RunOptions {
        pipeline,
        pipeline_path: args.pipeline.clone(),
        inputs: args.inputs.clone(),
        samplesheet: args.samplesheet.clone(),
        panel_overrides,
        outdir: args.outdir.clone(),
        threads: args.threads,
        progress: std::io::stderr().is_terminal(),
    };
    // The report is one more stage (plots drawn in each file's worker, while
    // its events are in memory) and one more sink (report.html at the end).
    if args.assignments && opts.pipeline.cluster.is_none() {
        return Err(crate::Error::Usage(format!(
            "--assignments: {} has no \"cluster\" block, so nothing is clustered",
            args.pipeline.display()
        )));
    }
    // FlowSOM (when the pipeline has a cluster block): rows kept per file in
    // the worker, one map trained after the last file, clusters.csv and
    // assignments/ from its sink.
    let (mut stages, cluster_sinks) =
        crate::cluster::stage::for_pipeline(opts.pipeline.cluster.as_ref(), args.assignments);
    let mut sinks = default_sinks();
    sinks.extend(cluster_sinks);
    if args.report {
        stages.push(Box::new(ReportStage::default()));
        sinks.push(Box::new(ReportSink::new(&args.outdir).map_err(|e| {
            crate::Error::Usage(format!("{}: report: {e}", args.outdir.display()))
        })?));
    }
    let (batch, summary) = runner::run(&opts, &read_fcs, &stages, &mut sinks)?;
    eprintln!(
        "nkflow run: {} files ({} failed, {} skipped) in {:.1} s → {}",
        summary.n_inputs,
        summary.n_failed,
        batch.skipped.len(),
        summary.elapsed_ms / 1e3,
        args.outdir.display()
    );
    Ok(ExitCode::SUCCESS)
}
