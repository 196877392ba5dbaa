//! `nkflow convert FILE.fcs -o OUT.csv|OUT.fcs [--compensate auto|none|MATRIX.csv]
//! [--transform SPEC]... [--raw]`: all events as CSV (or FCS), so users can
//! check values in any tool; with `--pipeline P.json --population NAME`, only
//! the events of that pipeline population.
//!
//! The header holds the `$PnN` names; one row per event, in file order.
//! Values are on the FCS scale (log amplification, gain and `$TIMESTEP`
//! applied, as Gating-ML and FlowKit use them), then compensated and
//! transformed as asked. Numbers are written with Rust's shortest
//! round-trip formatting, so every f64 reads back exactly. `--raw` writes the
//! values as stored and refuses compensation and transforms, which are
//! defined on the FCS scale.
//!
//! **Population export.** `--population NAME --pipeline P.json` gates the
//! file exactly as `nkflow run` does (same panel, compensation and
//! data-driven thresholds, so the row count equals that population's count
//! in populations.csv) and writes the population's events: FCS scale,
//! compensated by the pipeline's compensation source (see
//! [`crate::pipeline::extract`]); `--transform` applies afterwards.
//!
//! **FCS output** (`-o OUT.fcs`): nkflow's FCS 3.1 writer, float32. Scaled
//! values are written as linear parameters (`$PnE 0,0`, no gain); compensated
//! values carry no spillover keyword, so no reader compensates them twice.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::compensation::Matrix;
use crate::error::Error;
use crate::fcs;
use crate::pipeline::definition::Pipeline;
use crate::pipeline::extract;
use crate::sample::{Sample, Scale};
use crate::transform::{estimate_logicle, Channels, SpecTransform, TransformSpec};
use crate::EventMatrix;

/// Arguments of `nkflow convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// The FCS file.
    #[arg(value_name = "FILE.fcs")]
    pub file: PathBuf,
    /// Output file: CSV ("-" for standard output), or FCS when the name ends
    /// in `.fcs`.
    #[arg(short = 'o', long = "output", value_name = "OUT.csv|OUT.fcs")]
    pub output: PathBuf,
    /// Pipeline whose population `--population` names.
    #[arg(long, value_name = "PIPELINE.json", requires = "population")]
    pub pipeline: Option<PathBuf>,
    /// Export only this population's events (a gate id of `--pipeline`, or
    /// `root`), gated as `nkflow run` gates the file.
    #[arg(long, value_name = "NAME", requires = "pipeline")]
    pub population: Option<String>,
    /// Panel override for `--pipeline`: JSON {"marker": "channel"} or CSV
    /// marker,channel (as `nkflow run --panel`).
    #[arg(long, value_name = "FILE", requires = "pipeline")]
    pub panel: Option<PathBuf>,
    /// Compensation: `auto` (the file's own spillover keyword), `none`, or a
    /// FlowJo/FlowKit matrix CSV (header of detector names, one row per
    /// fluorochrome). Default: none.
    #[arg(long, value_name = "auto|none|MATRIX.csv")]
    pub compensate: Option<String>,
    /// CHANNELS=KIND(PARAMS), repeatable. CHANNELS: comma list of $PnN names
    /// or $PnS labels, or `fluorescence`. KIND: linear, log, arcsinh,
    /// logicle, hyperlog, biex, flin, flog, fasinh; e.g.
    /// `fluorescence=logicle(T=262144,W=0.5,M=4.5,A=0)`, `FSC-A=linear`,
    /// `PE-A=arcsinh(cofactor=150)`. `logicle` without W estimates W per
    /// channel (flowCore estimateLogicle).
    #[arg(long = "transform", value_name = "SPEC")]
    pub transforms: Vec<String>,
    /// Write the values as stored in the DATA segment (no scaling); cannot
    /// be combined with --compensate or --transform.
    #[arg(long)]
    pub raw: bool,
    /// Data set to convert (0-based, following $NEXTDATA).
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub dataset: usize,
}

/// Runs `nkflow convert`.
// `crate::Error` grew a large variant (GatingFile); boxing it is for its owner.
pub fn run(args: &ConvertArgs) -> crate::Result<ExitCode> {
    if args.raw && (args.compensate.is_some() || !args.transforms.is_empty()) {
        return Err(Error::Usage(
            "--raw writes the values as stored; compensation and transforms work on the FCS scale, so --raw cannot be combined with --compensate or --transform".into(),
        ));
    }
    let specs = args
        .transforms
        .iter()
        .map(|s| s.parse::<TransformSpec>())
        .collect::<Result<Vec<_>, _>>()?;
    let pipeline = match &args.pipeline {
        Some(p) => {
            if args.raw || args.compensate.is_some() {
                return Err(Error::Usage(
                    "--population exports the values the pipeline gates (FCS scale, compensated by the pipeline's compensation source); it cannot be combined with --raw or --compensate".into(),
                ));
            }
            let pipeline =
                Pipeline::from_file(p).map_err(crate::pipeline::runner::RunError::from)?;
            if let Some(pop) = &args.population {
                extract::check_population(&pipeline, pop)
                    .map_err(|e| Error::Usage(format!("--population: {e}")))?;
            }
            Some(pipeline)
        }
        None => None,
    };
    let mut sample = fcs::read_dataset(&args.file, args.dataset)?;
    let file = args.file.display().to_string();
    for w in &sample.warnings {
        eprintln!("nkflow: warning: {file}: {w}");
    }
    if let (Some(pipeline), Some(pop)) = (&pipeline, &args.population) {
        let overrides = match &args.panel {
            Some(p) => crate::pipeline::panel::read_override_file(p).map_err(Error::Usage)?,
            None => Default::default(),
        };
        sample = extract::population_events(pipeline, sample, &overrides, pop)
            .map_err(|e| Error::Usage(e.to_string()))?;
        eprintln!(
            "nkflow convert: {file}: population {pop}: {} events",
            sample.n_events()
        );
        // Compensated already (and the spillover keyword removed), so
        // `fluorescence` means every channel that is neither scatter nor time.
        apply_transforms(&specs, None, &mut sample, &file)?;
    } else if !args.raw {
        sample.apply_scale();
        let matrix = compensation(args, &sample, &file)?;
        if let Some(m) = &matrix {
            m.compensate_sample(&mut sample)?;
            // The values are compensated: an FCS output must not carry the
            // matrix, or a reader would compensate them again.
            for k in ["$SPILLOVER", "SPILL", "$SPILL", "$COMP"] {
                sample.keywords.remove(k);
            }
        }
        apply_transforms(&specs, matrix.as_ref(), &mut sample, &file)?;
    }
    if is_fcs_path(&args.output) {
        write_fcs(&args.output, sample)?;
    } else {
        write_csv(&args.output, &sample.events)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// True when the output name ends in `.fcs` (any case).
fn is_fcs_path(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("fcs"))
}

/// Writes the events as FCS 3.1 (float32) with nkflow's writer. A scaled
/// sample is written as linear parameters; time is then in seconds, so
/// `$TIMESTEP` becomes 1.
fn write_fcs(path: &Path, mut sample: Sample) -> crate::Result<()> {
    if sample.scale == Scale::Fcs && sample.keywords.get_nonblank("$TIMESTEP").is_some() {
        sample.keywords.insert("$TIMESTEP", "1");
    }
    sample.n_datasets = 1;
    sample.dataset = 0;
    fcs::write(path, &sample)?;
    Ok(())
}

/// The matrix `--compensate` asks for, if any.
fn compensation(args: &ConvertArgs, sample: &Sample, file: &str) -> crate::Result<Option<Matrix>> {
    match args.compensate.as_deref() {
        None | Some("none") => Ok(None),
        Some("auto") => {
            let m = Matrix::from_sample(sample)?;
            if m.is_none() {
                eprintln!(
                    "nkflow: note: {file} has no spillover keyword; values are not compensated"
                );
            }
            Ok(m)
        }
        Some(path) => Ok(Some(Matrix::from_csv(path)?)),
    }
}

/// Column indices of a spec's channels.
fn spec_columns(
    spec: &TransformSpec,
    matrix: Option<&Matrix>,
    sample: &Sample,
    file: &str,
) -> crate::Result<Vec<usize>> {
    match &spec.channels {
        Channels::Named(names) => names
            .iter()
            .map(|n| {
                sample.channel_index(n).ok_or_else(|| {
                    Error::Usage(format!(
                        "--transform: {file} has no channel with $PnN name or $PnS label {n:?} (channels: {})",
                        sample.events.names().join(", ")
                    ))
                })
            })
            .collect(),
        Channels::Fluorescence => {
            // The matrix in use, else the file's own (when it is usable),
            // else every channel that is neither scatter nor time.
            let own = match matrix {
                Some(_) => None,
                None => Matrix::from_sample(sample).ok().flatten(),
            };
            if let Some(m) = matrix.or(own.as_ref()) {
                if let Ok(cols) = m.detector_columns(&sample.events, Some(&sample.channels)) {
                    return Ok(cols);
                }
            }
            Ok(sample
                .channels
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.is_scatter() && !c.is_time())
                .map(|(j, _)| j)
                .collect())
        }
    }
}

fn apply_transforms(
    specs: &[TransformSpec],
    matrix: Option<&Matrix>,
    sample: &mut Sample,
    file: &str,
) -> crate::Result<()> {
    let mut assigned: Vec<Option<usize>> = vec![None; sample.events.n_channels()];
    let mut plan = Vec::new();
    for (k, spec) in specs.iter().enumerate() {
        for j in spec_columns(spec, matrix, sample, file)? {
            if let Some(prev) = assigned.get(j).copied().flatten() {
                return Err(Error::Usage(format!(
                    "--transform: channel {:?} is given two transforms (#{} and #{})",
                    sample.events.names()[j],
                    prev + 1,
                    k + 1
                )));
            }
            if let Some(slot) = assigned.get_mut(j) {
                *slot = Some(k);
            }
            plan.push((j, spec));
        }
    }
    for (j, spec) in plan {
        let name = sample.events.names()[j].clone();
        match &spec.transform {
            SpecTransform::Fixed(t) => t.apply_slice(sample.events.column_mut(j)),
            SpecTransform::EstimatedLogicle { t, m, a, q } => {
                let top = match (t, sample.channels.get(j)) {
                    (Some(t), _) => *t,
                    // The FCS-scale value of the largest storable value
                    // ($PnR − 1 for a plain linear channel, as flowCore).
                    (None, Some(ch)) => ch.scale_value(ch.range - 1.0),
                    (None, None) => 262143.0,
                };
                let est = estimate_logicle(sample.events.column(j), top, *m, *a, *q)?;
                if let Some(w) = &est.warning {
                    eprintln!("nkflow: warning: {file}: {name}: {w}");
                }
                let p = est.logicle.params();
                eprintln!(
                    "nkflow: {file}: {name}: estimated logicle T={} W={} M={} A={}",
                    p.t, p.w, p.m, p.a
                );
                est.logicle.apply_slice(sample.events.column_mut(j));
            }
        }
    }
    Ok(())
}

/// A header cell, quoted when it holds a comma, quote or line break.
fn header_cell(name: &str) -> String {
    if name.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_string()
    }
}

fn write_rows(w: &mut impl Write, events: &EventMatrix) -> std::io::Result<()> {
    let header: Vec<String> = events.names().iter().map(|n| header_cell(n)).collect();
    writeln!(w, "{}", header.join(","))?;
    let cols: Vec<&[f64]> = (0..events.n_channels()).map(|j| events.column(j)).collect();
    for i in 0..events.n_events() {
        for (j, c) in cols.iter().enumerate() {
            if j > 0 {
                w.write_all(b",")?;
            }
            // `{}` on f64 is the shortest string that reads back to the same value.
            write!(w, "{}", c[i])?;
        }
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes the CSV atomically (temporary file beside it, then rename), or to
/// standard output for "-".
fn write_csv(path: &Path, events: &EventMatrix) -> crate::Result<()> {
    if path.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::new(stdout.lock());
        return match write_rows(&mut w, events).and_then(|_| w.flush()) {
            // A reader that stopped early (`| head`) is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.map_err(|e| Error::io("standard output", e)),
        };
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp);
    write_rows(&mut w, events)
        .and_then(|_| w.flush())
        .map_err(|e| Error::io(path, e))?;
    let tmp = w
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
