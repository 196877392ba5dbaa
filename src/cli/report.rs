//! `nkflow report OUTDIR`: rebuilds OUTDIR/report.html and OUTDIR/plots/
//! from the run recorded in OUTDIR/run.json (see [`crate::report::replay`]
//! for why it re-runs the recorded pipeline and how it proves the gates are
//! the run's).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::report::replay::{report_from_run, ReplayError};

/// Write the QC report of a finished run.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The output folder of `nkflow run` (holds run.json).
    pub outdir: PathBuf,
    /// Worker threads (default: all cores). The report is identical for any value.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

// crate::Error is large because of another module's variant (see cli/info.rs).
#[allow(clippy::result_large_err)]
pub fn run(args: &ReportArgs) -> crate::Result<ExitCode> {
    let summary = report_from_run(&args.outdir, args.threads, &super::run::read_fcs)
        .map_err(|e: ReplayError| crate::Error::Usage(format!("report: {e}")))?;
    for (_, why) in &summary.not_reproduced {
        eprintln!("nkflow report: {why}");
    }
    eprintln!(
        "nkflow report: {} inputs ({} not reproduced) → {}",
        summary.inputs,
        summary.not_reproduced.len(),
        args.outdir.join("report.html").display()
    );
    Ok(ExitCode::SUCCESS)
}
