//! `nkflow simulate`: writes a simulated NK-panel cohort with known truth.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};

use crate::simulate::{write_cohort, ByteOrder, DataType, Range, Settings, Style};

/// Lab export styles (`mixed` cycles through the labs file by file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PanelStyle {
    Mixed,
    Diva,
    Cytoflex,
    Navios,
}

/// Instrument ranges (`$PnR`); `auto` keeps each lab's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InstrumentRange {
    Auto,
    #[value(name = "16bit")]
    Bits16,
    #[value(name = "18bit")]
    Bits18,
    #[value(name = "20bit")]
    Bits20,
    #[value(name = "24bit")]
    Bits24,
}

/// DATA value types; `auto` keeps each lab's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Datatype {
    Auto,
    Float,
    Int,
}

/// DATA byte orders; `auto` keeps each lab's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Endianness {
    Auto,
    Big,
    Little,
}

/// Simulate a cohort of NK-panel FCS files with known truth: N files,
/// samplesheet.csv and truth.json in DIR.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Output directory (created if missing; must be empty unless --force).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Master seed: the same seed and options give byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of FCS files, controls included.
    #[arg(long, default_value_t = 12)]
    pub samples: usize,
    /// Events per file (default: 50,000–250,000, drawn per file).
    #[arg(long)]
    pub events: Option<usize>,
    /// Lab export style: parameter names, $PnS spellings, channel and
    /// $SPILLOVER order, gains.
    #[arg(long, value_enum, default_value_t = PanelStyle::Mixed)]
    pub panel_style: PanelStyle,
    /// Instrument range of every parameter.
    #[arg(long, value_enum, default_value_t = InstrumentRange::Auto)]
    pub instrument_range: InstrumentRange,
    /// DATA value type.
    #[arg(long, value_enum, default_value_t = Datatype::Auto)]
    pub datatype: Datatype,
    /// DATA byte order.
    #[arg(long, value_enum, default_value_t = Endianness::Auto)]
    pub byte_order: Endianness,
    /// Fraction of files (0–1) whose acquisition has a clog interval (slow
    /// flow, dimmed signals) for testing time QC.
    #[arg(long, default_value_t = 0.0)]
    pub clog_fraction: f64,
    /// Day-to-day detector gain variation (log-sd).
    #[arg(long, default_value_t = 0.15)]
    pub gain_spread: f64,
    /// Also write per-event population labels to DIR/labels/<file>.labels.csv.
    #[arg(long)]
    pub labels: bool,
    /// Replace the cohort files (*.fcs, samplesheet.csv, truth.json, labels/)
    /// already in DIR.
    #[arg(long)]
    pub force: bool,
    /// Add a donor-specific HLA antibody channel (labelled HLA-A2 / HLA-A*02;
    /// donor cells positive, recipient cells negative); truth.json then holds
    /// pct_donor_nk_by_hla. Off: files are unchanged.
    #[arg(long)]
    pub hla: bool,
}

impl SimulateArgs {
    /// The library settings these arguments ask for.
    pub fn settings(&self) -> Settings {
        Settings {
            seed: self.seed,
            samples: self.samples,
            events: self.events,
            style: match self.panel_style {
                PanelStyle::Mixed => None,
                PanelStyle::Diva => Some(Style::Diva),
                PanelStyle::Cytoflex => Some(Style::Cytoflex),
                PanelStyle::Navios => Some(Style::Navios),
            },
            range: match self.instrument_range {
                InstrumentRange::Auto => None,
                InstrumentRange::Bits16 => Some(Range::Bits16),
                InstrumentRange::Bits18 => Some(Range::Bits18),
                InstrumentRange::Bits20 => Some(Range::Bits20),
                InstrumentRange::Bits24 => Some(Range::Bits24),
            },
            datatype: match self.datatype {
                Datatype::Auto => None,
                Datatype::Float => Some(DataType::Float),
                Datatype::Int => Some(DataType::Int),
            },
            byte_order: match self.byte_order {
                Endianness::Auto => None,
                Endianness::Big => Some(ByteOrder::Big),
                Endianness::Little => Some(ByteOrder::Little),
            },
            clog_fraction: self.clog_fraction,
            gain_spread: self.gain_spread,
            labels: self.labels,
            force: self.force,
            hla: self.hla,
        }
    }
}

/// Runs `nkflow simulate`.
// crate::Error's GatingFile variant makes every crate::Result large; boxing it
// belongs to its owner (same allowance as `info`).
pub fn run(args: &SimulateArgs) -> crate::Result<ExitCode> {
    let start = Instant::now();
    let summary = write_cohort(&args.settings(), &args.out)?;
    eprintln!(
        "nkflow simulate: wrote {} FCS files ({} events) + samplesheet.csv + truth.json to {} in {:.2} s",
        summary.files.len(),
        summary.events,
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
