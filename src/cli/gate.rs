//! `nkflow gate`: apply a Gating-ML 2.0 file to FCS files and print the
//! counts per population (a table, or JSON), optionally the per-event
//! membership of one file as CSV.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use rayon::prelude::*;
use serde::Serialize;

use crate::gating::{GatingResults, GatingStrategy};
use crate::Error;

/// Arguments of `nkflow gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// Gating-ML 2.0 file with the gates (and their transforms and matrices).
    #[arg(long, value_name = "GATES.xml")]
    pub gatingml: PathBuf,
    /// FCS files to gate (evaluated in parallel, reported in this order).
    #[arg(value_name = "FILE.fcs", required = true)]
    pub files: Vec<PathBuf>,
    /// With one FCS file: write each event's membership (0/1 per population,
    /// parents included; one column per population id) to this CSV.
    #[arg(long, value_name = "OUT.csv")]
    pub membership: Option<PathBuf>,
    /// Print JSON: an array of `{file, events, gates:[{id, parent, count,
    /// pct_parent, pct_total}]}`, one object per file.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct FileJson<'a> {
    file: String,
    events: usize,
    gates: Vec<GateJson<'a>>,
}

#[derive(Serialize)]
struct GateJson<'a> {
    id: &'a str,
    parent: Option<&'a str>,
    count: usize,
    pct_parent: f64,
    pct_total: f64,
}

/// Runs `nkflow gate`.
pub fn run(args: GateArgs) -> crate::Result<ExitCode> {
    if args.membership.is_some() && args.files.len() != 1 {
        return Err(Error::Usage(format!(
            "--membership writes one file's events: give exactly one FCS file (got {})",
            args.files.len()
        )));
    }
    let strategy = crate::gatingml::read_path(&args.gatingml)?;
    let outcomes: Vec<crate::Result<GatingResults>> = args
        .files
        .par_iter()
        .map(|f| gate_file(&strategy, f))
        .collect();

    let mut failed = 0usize;
    let mut ok: Vec<(&PathBuf, &GatingResults)> = Vec::new();
    for (f, r) in args.files.iter().zip(&outcomes) {
        match r {
            Ok(r) => ok.push((f, r)),
            Err(e) => {
                failed += 1;
                eprintln!("nkflow: error: {e}");
            }
        }
    }

    // The membership file first: it is the product; stdout is a summary.
    if let (Some(path), Some((_, r))) = (&args.membership, ok.first()) {
        write_membership(path, r)?;
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let io = |e| Error::io("<stdout>", e);
    if args.json {
        let files: Vec<FileJson> = ok.iter().map(|(f, r)| file_json(f, r)).collect();
        let text = serde_json::to_string_pretty(&files)
            .map_err(|e| Error::Usage(format!("cannot encode JSON: {e}")))?;
        writeln!(out, "{text}").map_err(io)?;
    } else {
        for (f, r) in &ok {
            write_table(&mut out, f, r).map_err(io)?;
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn gate_file(strategy: &GatingStrategy, path: &Path) -> crate::Result<GatingResults> {
    let sample = crate::fcs::read(path)?;
    strategy
        .gate_sample(&sample)
        .map_err(|source| Error::GatingFile {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
}

fn file_json<'a>(file: &Path, r: &'a GatingResults) -> FileJson<'a> {
    FileJson {
        file: file.display().to_string(),
        events: r.n_events(),
        gates: r
            .iter()
            .map(|p| GateJson {
                id: &p.id,
                parent: p.parent.as_deref(),
                count: p.count,
                pct_parent: p.pct_parent(),
                pct_total: r.pct_total(&p.id).unwrap_or(0.0),
            })
            .collect(),
    }
}

fn write_table(
    out: &mut impl std::io::Write,
    file: &Path,
    r: &GatingResults,
) -> std::io::Result<()> {
    writeln!(out, "{}  ({} events)", file.display(), r.n_events())?;
    let label = |p: &crate::gating::PopulationResult| format!("{}{}", "  ".repeat(p.depth), p.id);
    let width = r
        .iter()
        .map(|p| label(p).chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    writeln!(
        out,
        "  {:<width$}  {:>10}  {:>9}  {:>9}",
        "population", "count", "% parent", "% total"
    )?;
    for p in r.iter() {
        writeln!(
            out,
            "  {:<width$}  {:>10}  {:>9.3}  {:>9.3}",
            label(p),
            p.count,
            p.pct_parent(),
            r.pct_total(&p.id).unwrap_or(0.0)
        )?;
    }
    writeln!(out)
}

/// Header = population ids in tree order (quoted by the csv crate when an id
/// needs it); one row per event in file order, 0/1.
fn write_membership(path: &Path, r: &GatingResults) -> crate::Result<()> {
    let io = |e| Error::io(path, e);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    {
        let mut out = std::io::BufWriter::new(tmp.as_file());
        {
            let mut header = csv::Writer::from_writer(&mut out);
            header
                .write_record(r.ids())
                .map_err(|e| io(std::io::Error::other(e)))?;
            header.flush().map_err(io)?;
        }
        let sets: Vec<_> = r.iter().map(|p| &p.membership).collect();
        let mut line = Vec::with_capacity(2 * sets.len() + 1);
        for i in 0..r.n_events() {
            line.clear();
            for (k, s) in sets.iter().enumerate() {
                if k > 0 {
                    line.push(b',');
                }
                line.push(if s.get(i) { b'1' } else { b'0' });
            }
            line.push(b'\n');
            out.write_all(&line).map_err(io)?;
        }
        out.flush().map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
