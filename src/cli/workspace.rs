//! `nkflow workspace FILE.wsp [--fcs DIR] [--group NAME] -o OUTDIR`: apply a
//! FlowJo workspace to its samples and compare with FlowJo's saved counts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::flowjo::{self, analyze, Analysis};
use crate::Error;

/// Arguments of `nkflow workspace`.
#[derive(Debug, Args)]
pub struct WorkspaceArgs {
    /// The FlowJo 10 workspace (.wsp).
    pub wsp: PathBuf,
    /// Directory of FCS files. Files matching a workspace sample (by file
    /// name, $FIL or URI) use that sample's gates; others get the group's
    /// template. Default: the paths the workspace records, or files beside it.
    #[arg(long, value_name = "DIR")]
    pub fcs: Option<PathBuf>,
    /// Only this sample group (its template applies to unmatched files).
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// Output directory (populations.csv, summary.txt).
    #[arg(short = 'o', long = "out", value_name = "OUTDIR")]
    pub out: PathBuf,
    /// Also write the group's template as an nkflow pipeline (fixed gates in
    /// data units) for `nkflow run`; what it approximates is listed in the
    /// summary.
    #[arg(long, value_name = "PIPELINE.json")]
    pub export_pipeline: Option<PathBuf>,
}

/// Runs the command. Exit status 0 when at least one sample was gated.
// `crate::Error` grew a large variant (GatingFile); boxing it is for its owner.
pub fn run(args: &WorkspaceArgs) -> crate::Result<ExitCode> {
    let ws = flowjo::read(&args.wsp)?;
    let opts = analyze::Options {
        fcs_dir: args.fcs.clone(),
        group: args.group.clone(),
    };
    let analysis = analyze::analyze(&ws, &args.wsp, &opts)?;
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    write_populations(&args.out.join("populations.csv"), &analysis)?;
    let mut summary = summary(&ws, &analysis);
    if let Some(p) = &args.export_pipeline {
        let export = analyze::export_pipeline(&ws, &args.wsp, &opts)?;
        export.pipeline.validate().map_err(|(field, msg)| {
            Error::Usage(format!(
                "exported pipeline is invalid at {field}: {msg} (please report this)"
            ))
        })?;
        let json = serde_json::to_string_pretty(&export.pipeline)
            .map_err(|e| Error::Usage(format!("cannot serialise the pipeline: {e}")))?;
        write_atomic(p, (json + "\n").as_bytes())?;
        let _ = writeln!(
            summary,
            "pipeline written to {} ({} gates)",
            p.display(),
            export.pipeline.gates.len()
        );
        for n in &export.notes {
            let _ = writeln!(summary, "  pipeline: {n}");
        }
    }
    let spath = args.out.join("summary.txt");
    write_atomic(&spath, summary.as_bytes())?;
    print!("{summary}");
    let any_ok = analysis.samples.iter().any(|s| s.error.is_none());
    Ok(if any_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `populations.csv`: one row per sample and population.
pub fn write_populations(path: &Path, analysis: &Analysis) -> crate::Result<()> {
    let io = |e: csv::Error| Error::io(path, std::io::Error::other(e.to_string()));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "file",
        "population",
        "parent",
        "count",
        "pct_parent",
        "flowjo_count",
        "note",
    ])
    .map_err(io)?;
    for s in &analysis.samples {
        for r in &s.rows {
            w.write_record([
                s.file.as_str(),
                &r.population,
                &r.parent,
                &r.count.map(|c| c.to_string()).unwrap_or_default(),
                &r.pct_parent.map(|p| format!("{p:.6}")).unwrap_or_default(),
                &r.flowjo_count.map(|c| c.to_string()).unwrap_or_default(),
                &r.note,
            ])
            .map_err(io)?;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
    write_atomic(path, &bytes)
}

/// Writes through a temporary file in the same directory and renames it, so
/// a reader never sees half a file (and an interrupted run leaves the old one).
fn write_atomic(path: &Path, bytes: &[u8]) -> crate::Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// A human-readable account: agreement with FlowJo, every difference, what
/// was not evaluated, failed samples and warnings.
pub fn summary(ws: &flowjo::Workspace, a: &Analysis) -> String {
    let mut s = String::new();
    let ok = a.samples.iter().filter(|x| x.error.is_none()).count();
    let _ = writeln!(
        s,
        "workspace {} (FlowJo {}): {} sample(s) gated, {} failed",
        ws.source,
        ws.flowjo_version.as_deref().unwrap_or("?"),
        ok,
        a.samples.len() - ok
    );
    let (eq, n) = a.agreement();
    let _ = writeln!(
        s,
        "populations with a FlowJo count: {n}; equal: {eq}; different: {}",
        n - eq
    );
    let mut diffs = String::new();
    let mut skipped = String::new();
    for smp in &a.samples {
        for r in &smp.rows {
            match (r.count, r.flowjo_count) {
                (Some(c), Some(f)) if c != f => {
                    let _ = writeln!(
                        diffs,
                        "  {} | {}: nkflow {c}, FlowJo {f} ({:+})",
                        smp.file,
                        r.population,
                        c as i64 - f as i64
                    );
                }
                (None, _) if smp.error.is_none() => {
                    let _ = writeln!(skipped, "  {} | {}: {}", smp.file, r.population, r.note);
                }
                _ => {}
            }
        }
    }
    if !diffs.is_empty() {
        let _ = write!(s, "differences:\n{diffs}");
    }
    if !skipped.is_empty() {
        let _ = write!(s, "not evaluated:\n{skipped}");
    }
    let failed: Vec<_> = a.samples.iter().filter(|x| x.error.is_some()).collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "failed samples:");
        for f in failed {
            let _ = writeln!(s, "  {}: {}", f.file, f.error.as_deref().unwrap_or(""));
        }
    }
    let warnings: Vec<String> = a
        .warnings
        .iter()
        .chain(a.samples.iter().flat_map(|x| &x.warnings))
        .map(|w| w.message.clone())
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(s, "warnings:");
        for w in warnings {
            let _ = writeln!(s, "  {w}");
        }
    }
    s
}
