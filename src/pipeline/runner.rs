//! The batch runner: inputs → per-file pipeline (rayon, one file per task)
//! → stages → sinks.
//!
//! Guarantees:
//! - **One bad file never stops the batch.** A file that cannot be read,
//!   matched to the panel or gated becomes a result with `error` set; the
//!   others are unaffected.
//! - **Same bytes for any thread count.** Each file's result is a pure
//!   function of the file, the pipeline and its samplesheet row; results are
//!   collected in input order before any sink sees them.
//! - **Memory bounded by threads × one file.** A worker holds one file's
//!   events at a time; only statistics (and what stages choose to keep)
//!   outlive it.
//!
//! Extension points: a [`Stage`] sees each gated sample in its worker (and
//! the whole batch afterwards) and may add results columns or artifacts —
//! this is where clustering and report images plug in; a
//! [`Sink`](super::sink::Sink) receives the finished results.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::definition::{AbsoluteSpec, Pipeline, Stat};
use super::engine::{self, Gated};
use super::result::{BatchInfo, SampleResult};
use super::samplesheet::{Lookup, Samplesheet};
use super::sink::{BatchSummary, Sink, SinkError};
use super::stats::{self, Inputs};
use crate::Sample;

/// Reads one data set from a file's bytes (`name` for messages). The CLI
/// passes the FCS reader; tests may pass synthetic ones.
pub type Reader = dyn Fn(&str, &[u8]) -> Result<Sample, String> + Sync;

/// A processing step that plugs into the runner without editing it.
pub trait Stage: Send + Sync {
    /// Name (timings in run.json, artifact key).
    fn name(&self) -> &str;
    /// results.csv columns this stage adds, after the pipeline's.
    fn columns(&self) -> Vec<String> {
        Vec::new()
    }
    /// In the worker, with the sample's events and populations. Set this
    /// stage's columns via `result.columns` (by [`BatchInfo::stat_columns`]
    /// position) or attach artifacts.
    fn sample(
        &self,
        _batch: &BatchInfo,
        _gated: &Gated,
        _result: &mut SampleResult,
    ) -> Result<(), String> {
        Ok(())
    }
    /// After every sample, before the sinks (batch-trained outputs). Runs
    /// in the batch's thread pool.
    fn batch(&self, _batch: &BatchInfo, _results: &mut [SampleResult]) -> Result<(), String> {
        Ok(())
    }
    /// Columns of [`Stage::columns`] whose values depend on the whole batch
    /// (e.g. trained on all files), not on their file alone; run.json lists
    /// them.
    fn batch_dependent_columns(&self) -> Vec<String> {
        Vec::new()
    }
    /// What the stage records in run.json under `stages.<name>` (settings,
    /// what it trained on), asked after [`Stage::batch`].
    fn provenance(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Why a batch could not run at all (bad files are not this).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Definition(#[from] super::definition::DefinitionError),
    #[error(transparent)]
    Samplesheet(#[from] super::samplesheet::SamplesheetError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("{0}")]
    Input(String),
}

/// Everything a batch needs.
pub struct RunOptions {
    pub pipeline: Pipeline,
    pub pipeline_path: PathBuf,
    /// Files and folders (folders read non-recursively, FCS files only).
    pub inputs: Vec<PathBuf>,
    pub samplesheet: Option<PathBuf>,
    /// Panel overrides (`--panel FILE`), marker → channel.
    pub panel_overrides: BTreeMap<String, String>,
    pub outdir: PathBuf,
    /// Worker threads (0 = rayon's default).
    pub threads: usize,
    /// Show a progress bar (the CLI sets it when stderr is a terminal).
    pub progress: bool,
}

/// True when the bytes start with the FCS magic: `FCS` + a version like `3.1`.
pub fn is_fcs_magic(head: &[u8]) -> bool {
    head.len() >= 6
        && &head[..3] == b"FCS"
        && head[3].is_ascii_digit()
        && head[4] == b'.'
        && head[5].is_ascii_digit()
}

/// An input left out of the batch: (path, reason).
pub type Skipped = (String, String);

/// Expands the inputs: files are taken as given; folders contribute their
/// regular files that start with the FCS magic, sorted by name. Returns the
/// inputs and the skipped paths with a reason.
pub fn collect_inputs(inputs: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<Skipped>), RunError> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let rd = std::fs::read_dir(input)
                .map_err(|e| RunError::Input(format!("{}: {e}", input.display())))?;
            let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            for p in entries {
                if !p.is_file() {
                    skipped.push((p.display().to_string(), "not a regular file".into()));
                    continue;
                }
                let mut head = [0u8; 6];
                let ok = std::fs::File::open(&p)
                    .and_then(|mut f| f.read_exact(&mut head))
                    .is_ok();
                if ok && is_fcs_magic(&head) {
                    files.push(p);
                } else {
                    skipped.push((
                        p.display().to_string(),
                        "does not start with the FCS magic (\"FCS\" + version)".into(),
                    ));
                }
            }
        } else if input.exists() {
            files.push(input.clone());
        } else {
            return Err(RunError::Input(format!(
                "{}: no such file or folder",
                input.display()
            )));
        }
    }
    Ok((files, skipped))
}

/// Asks glibc's allocator to keep freed memory for the next file instead of
/// returning it to the kernel. Each file allocates and frees a few
/// matrices of megabytes; by default glibc trims the heap (or unmaps the
/// blocks) after every file, and the next file's first touches fault every
/// page back in — measured on the bench cohort (200 files × 50k events),
/// that kernel time was 25–40% of the batch's CPU time. Memory stays
/// bounded by what one file per thread needs: what is kept is what the
/// previous file used. No effect elsewhere than Linux with glibc.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator tunables (thread-safe in glibc);
    // a refused value leaves the default in place.
    unsafe {
        // Blocks below 32 MiB (glibc's maximum for this setting) come from
        // the heap, not from mmap, so freeing them does not unmap them ...
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        // ... and up to 1 GiB of free heap top is kept, not trimmed.
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Runs a batch: every input through the pipeline, the stages, then the sinks.
pub fn run(
    opts: &RunOptions,
    reader: &Reader,
    stages: &[Box<dyn Stage>],
    sinks: &mut [Box<dyn Sink>],
) -> Result<(BatchInfo, BatchSummary), RunError> {
    let t0 = Instant::now();
    keep_freed_memory();
    let (files, skipped) = collect_inputs(&opts.inputs)?;
    let sheet = match &opts.samplesheet {
        Some(p) => Some(Samplesheet::from_file(p)?),
        None => None,
    };
    let pipeline_bytes = std::fs::read(&opts.pipeline_path).unwrap_or_default();
    let mut stat_columns: Vec<String> = Vec::new();
    let mut column_specs = Vec::new();
    for c in &opts.pipeline.columns {
        // Columns fed by a samplesheet percentage exist only when the sheet
        // has that column.
        if let Stat::TimesSheetPercent(_, sheet_col) = &c.stat {
            if !sheet.as_ref().is_some_and(|s| s.has_column(sheet_col)) {
                continue;
            }
        }
        stat_columns.push(c.name.clone());
        column_specs.push(c.clone());
    }
    for s in stages {
        stat_columns.extend(s.columns());
    }
    let sheet_columns = sheet
        .as_ref()
        .map(|s| s.columns.clone())
        .unwrap_or_default();
    for c in &sheet_columns {
        if stat_columns.contains(c) || c == "qc_flags" || c == "error" {
            return Err(RunError::Input(format!(
                "samplesheet column {c:?} has the name of a results column; rename it"
            )));
        }
    }
    let threads = if opts.threads == 0 {
        rayon::current_num_threads()
    } else {
        opts.threads
    };
    let batch = BatchInfo {
        nkflow_version: env!("CARGO_PKG_VERSION").to_string(),
        pipeline_name: opts.pipeline.name.clone(),
        pipeline_path: opts.pipeline_path.display().to_string(),
        pipeline_sha256: hex(&Sha256::digest(&pipeline_bytes)),
        outdir: opts.outdir.clone(),
        samplesheet: opts.samplesheet.as_ref().map(|p| p.display().to_string()),
        sheet_columns,
        stat_columns,
        median_markers: stats::median_markers(&opts.pipeline),
        threads,
        skipped,
        pipeline: opts.pipeline.clone(),
        panel_overrides: opts.panel_overrides.clone(),
        samplesheet_sha256: opts
            .samplesheet
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| hex(&Sha256::digest(&b))),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| RunError::Input(format!("thread pool: {e}")))?;
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(files.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} files {elapsed_precise} eta {eta} {wide_msg}",
        ) {
            b.set_style(style);
        }
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let ctx = FileContext {
        pipeline: &opts.pipeline,
        columns: &column_specs,
        sheet: sheet.as_ref(),
        overrides: &opts.panel_overrides,
        batch: &batch,
        reader,
        stages,
    };
    let mut results: Vec<SampleResult> = pool.install(|| {
        files
            .par_iter()
            .enumerate()
            .map(|(i, path)| {
                let r = process_file(&ctx, i, path);
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut stage_ms = Vec::new();
    let mut stage_info = BTreeMap::new();
    let mut batch_dependent_columns = Vec::new();
    for s in stages {
        let ts = Instant::now();
        // In the pool, so that --threads bounds batch-level work too.
        if let Err(e) = pool.install(|| s.batch(&batch, &mut results)) {
            for r in results.iter_mut().filter(|r| r.error.is_none()) {
                r.warnings.push(format!("stage {}: {e}", s.name()));
            }
        }
        stage_ms.push((s.name().to_string(), ts.elapsed().as_secs_f64() * 1e3));
        if let Some(v) = s.provenance() {
            stage_info.insert(s.name().to_string(), v);
        }
        batch_dependent_columns.extend(s.batch_dependent_columns());
    }
    let summary = BatchSummary {
        n_inputs: results.len(),
        n_failed: results.iter().filter(|r| r.error.is_some()).count(),
        elapsed_ms: t0.elapsed().as_secs_f64() * 1e3,
        stage_ms,
        stages: stage_info,
        batch_dependent_columns,
    };
    // In the pool too: sinks whose per-file work is independent (gates/,
    // run.json entries) spread it over the batch's threads, so the serial
    // tail of the batch stays short.
    pool.install(|| -> Result<(), SinkError> {
        for s in sinks.iter_mut() {
            s.begin(&batch)?;
        }
        for s in sinks.iter_mut() {
            s.prepare(&batch, &results)?;
        }
        for r in &results {
            for s in sinks.iter_mut() {
                s.sample(&batch, r)?;
            }
        }
        for s in sinks.iter_mut() {
            s.finish(&batch, &summary)?;
        }
        Ok(())
    })?;
    Ok((batch, summary))
}

struct FileContext<'a> {
    pipeline: &'a Pipeline,
    columns: &'a [super::definition::ColumnSpec],
    sheet: Option<&'a Samplesheet>,
    overrides: &'a BTreeMap<String, String>,
    batch: &'a BatchInfo,
    reader: &'a Reader,
    stages: &'a [Box<dyn Stage>],
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One input through the pipeline; never fails — errors go into the result.
fn process_file(ctx: &FileContext<'_>, index: usize, path: &Path) -> SampleResult {
    let t0 = Instant::now();
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let mut r = SampleResult {
        index,
        input: path.to_path_buf(),
        file_name: file_name.clone(),
        sheet: vec![String::new(); ctx.batch.sheet_columns.len()],
        columns: vec![None; ctx.batch.stat_columns.len()],
        ..SampleResult::default()
    };
    if let Err(e) = fill(ctx, path, &file_name, &mut r) {
        // Reader errors already start with the file name; say it once.
        r.error = Some(if e.starts_with(&format!("{file_name}: ")) {
            e
        } else {
            format!("{file_name}: {e}")
        });
        r.columns = vec![None; ctx.batch.stat_columns.len()];
        r.populations.clear();
        r.gates.clear();
    }
    r.elapsed_ms = t0.elapsed().as_secs_f64() * 1e3;
    r
}

fn fill(
    ctx: &FileContext<'_>,
    path: &Path,
    name: &str,
    r: &mut SampleResult,
) -> Result<(), String> {
    let p = ctx.pipeline;
    // The samplesheet row (metadata, numbers, panel overrides).
    let mut overrides = ctx.overrides.clone();
    let mut inputs = Inputs::default();
    let mut row_error = None;
    match ctx.sheet.map(|s| (s, s.lookup(path))) {
        None => {}
        Some((_, Lookup::Missing)) => {
            r.warnings.push("no samplesheet row for this file".into());
            r.flags.push("no_samplesheet_row".into());
        }
        Some((s, Lookup::Duplicate(lines))) => {
            row_error = Some(format!(
                "{}: lines {} all name this file",
                s.source,
                lines
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Some((s, Lookup::Found(row))) => {
            if let Some(e) = &row.error {
                row_error = Some(e.clone());
            } else {
                r.sheet = row.values.clone();
                overrides.extend(s.panel_overrides(row));
                let num = |c: &str| s.number(row, c);
                let needs: &[&str] = match &p.absolute {
                    Some(AbsoluteSpec::Beads { .. }) => &["beads_per_tube", "blood_volume_ul"],
                    Some(AbsoluteSpec::DualPlatform { .. }) => &["alc_per_ul"],
                    _ => &[],
                };
                for c in needs {
                    num(c)?;
                }
                inputs.beads_per_tube = num("beads_per_tube").ok().flatten();
                inputs.blood_volume_ul = num("blood_volume_ul").ok().flatten();
                inputs.alc_per_ul = num("alc_per_ul").ok().flatten();
                for c in ctx.columns {
                    if let Stat::TimesSheetPercent(_, col) = &c.stat {
                        inputs.sheet_percent.push((col.clone(), num(col)?));
                    }
                }
            }
        }
    }
    if let Some(e) = row_error {
        return Err(e);
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    r.sha256 = Some(hex(&Sha256::digest(&bytes)));
    let sample = (ctx.reader)(name, &bytes)?;
    drop(bytes);
    r.n_events = sample.n_events();
    r.warnings
        .extend(sample.warnings.iter().map(|w| w.message.clone()));
    inputs.vol_nl = sample
        .keywords
        .get_nonblank("$VOL")
        .and_then(|v| v.parse::<f64>().ok());
    let gated = engine::gate_sample(p, sample, &overrides).map_err(|e| e.to_string())?;
    r.gates_not_applied = gated.skipped.clone();
    let mut flags = Vec::new();
    let pops = stats::population_stats(p, &gated, &inputs, &mut flags);
    let values = stats::column_values(ctx.columns, &pops, &gated, &inputs);
    for (k, v) in values.into_iter().enumerate() {
        if let Some(slot) = r.columns.get_mut(k) {
            *slot = v;
        }
    }
    flags.extend(stats::qc_flags(&p.qc, &pops));
    flags.extend(
        gated
            .fallbacks
            .iter()
            .map(|f| format!("valley_not_found:{f}")),
    );
    r.flags.extend(flags);
    r.populations = pops;
    r.gates = engine::applied_gates(&gated);
    r.panel = gated.panel.clone();
    r.compensation = gated.compensation.clone();
    r.axes = gated.axes.clone();
    for s in ctx.stages {
        if let Err(e) = s.sample(ctx.batch, &gated, r) {
            r.warnings.push(format!("stage {}: {e}", s.name()));
        }
    }
    Ok(())
}

/// Keeps the type used for artifacts nameable by stages.
pub type Artifact = Arc<dyn std::any::Any + Send + Sync>;
