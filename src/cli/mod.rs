//! The command-line interface: a thin layer over the library. Each subcommand
//! lives in its own file with its clap `Args` and a `run` function returning
//! `Result<ExitCode, nkflow::Error>`; `main` prints an error with its context.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod cluster;
pub mod convert;
pub mod gate;
pub mod info;
pub mod report;
pub mod run;
pub mod simulate;
pub mod workspace;

/// nkflow: FCS files in, NK-cell trial tables and QC reports out.
#[derive(Debug, Parser)]
#[command(name = "nkflow", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// FlowSOM on FCS files: one map for all files, metaclusters per file
    /// (OUTDIR/clusters.csv; --assignments: per-event metaclusters).
    Cluster(cluster::ClusterArgs),
    /// Write all events of an FCS file as CSV or FCS (FCS scale, optionally
    /// compensated and transformed; --raw for the stored values), or with
    /// --pipeline/--population only one pipeline population's events.
    Convert(convert::ConvertArgs),
    /// Show what FCS files hold: version, instrument, events × channels,
    /// channel table, spillover, warnings (`--json`: one object per file).
    Info(info::InfoArgs),
    /// Write OUTDIR/report.html and OUTDIR/plots/ for a finished run: re-runs
    /// the pipeline recorded in OUTDIR/run.json on its inputs (missing or
    /// changed inputs are shown as such).
    Report(report::ReportArgs),
    /// Run a preset pipeline over a batch of FCS files: results.csv,
    /// populations.csv, gates/<file>.xml (Gating-ML), run.json.
    Run(run::RunArgs),
    /// Apply a Gating-ML 2.0 file to FCS files: counts per population, or
    /// per-event membership.
    Gate(gate::GateArgs),
    /// Simulate a cohort of NK-panel FCS files with known truth (N files,
    /// samplesheet.csv, truth.json).
    Simulate(simulate::SimulateArgs),
    /// Apply a FlowJo workspace (.wsp) to its FCS files and compare with
    /// FlowJo's saved counts (populations.csv, summary.txt).
    Workspace(workspace::WorkspaceArgs),
}

/// Runs the parsed command line and maps errors to a message on stderr and a
/// non-zero exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result: crate::Result<ExitCode> = match cli.command {
        Command::Cluster(args) => cluster::run(&args),
        Command::Convert(args) => convert::run(&args),
        Command::Info(args) => info::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Run(args) => run::run(args),
        Command::Gate(args) => gate::run(args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Workspace(args) => workspace::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("nkflow: error: {err}");
            ExitCode::FAILURE
        }
    }
}
