//! `nkflow convert FILE.fcs -o OUT.csv [--compensate auto|none|MATRIX.csv]
//! [--transform SPEC]... [--raw]`: all events as CSV, so users can check
//! values in any tool.
//!
//! The header holds the `$PnN` names; one row per event, in file order.
//! Values are on the FCS scale (log amplification, gain and `$TIMESTEP`
//! applied, as Gating-ML and FlowKit use them), then compensated and
//! transformed as asked. Numbers are written with Rust's shortest
//! round-trip formatting, so every f64 reads back exactly. `--raw` writes the
//! values as stored and refuses compensation and transforms, which are
//! defined on the FCS scale.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::compensation::Matrix;
use crate::error::Error;
use crate::fcs;
use crate::sample::Sample;
use crate::transform::{estimate_logicle, Channels, SpecTransform, TransformSpec};
use crate::EventMatrix;

/// Arguments of `nkflow convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// The FCS file.
    #[arg(value_name = "FILE.fcs")]
    pub file: PathBuf,
    /// Output CSV file ("-" for standard output).
    #[arg(short = 'o', long = "output", value_name = "OUT.csv")]
    pub output: PathBuf,
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
#[allow(clippy::result_large_err)]
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
    let mut sample = fcs::read_dataset(&args.file, args.dataset)?;
    let file = args.file.display().to_string();
    for w in &sample.warnings {
        eprintln!("nkflow: warning: {file}: {w}");
    }
    if !args.raw {
        sample.apply_scale();
        let matrix = compensation(args, &sample, &file)?;
        if let Some(m) = &matrix {
            m.compensate_sample(&mut sample)?;
        }
        apply_transforms(&specs, matrix.as_ref(), &mut sample, &file)?;
    }
    write_csv(&args.output, &sample.events)?;
    Ok(ExitCode::SUCCESS)
}

/// The matrix `--compensate` asks for, if any.
#[allow(clippy::result_large_err)]
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
#[allow(clippy::result_large_err)]
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

#[allow(clippy::result_large_err)]
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
#[allow(clippy::result_large_err)]
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
