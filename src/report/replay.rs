//! `nkflow report OUTDIR`: the report of a finished run, rebuilt from
//! `OUTDIR/run.json` without touching the run's other outputs.
//!
//! **Why the pipeline is re-run rather than `gates/<file>.xml` re-applied.**
//! The plots need more than the fixed gates: the histograms show the peaks
//! and the valley each data-driven threshold was found at, the density axes
//! use the arcsinh cofactor estimated per file, the flow-rate plot needs the
//! rate profile, and the summary needs the results row. All of that is what
//! the pipeline computes on the way to the gates, and the runner is a pure
//! function of the file's bytes, the pipeline and the file's samplesheet row.
//! So the report re-runs exactly that (the pipeline definition stored in
//! run.json, not whatever the pipeline file says today) through the code
//! that `run --report` uses, and the two reports come out identical.
//!
//! **The report shows exactly the gates the run applied**, or says why not:
//! each input's bytes are hashed and compared with run.json's SHA-256, and
//! the gates re-resolved from them are compared, value for value, with the
//! gates run.json recorded (the ones `gates/<file>.xml` holds). An input that
//! is missing, changed, or gates differently now is shown under its file
//! name with that reason instead of plots; the others are unaffected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::pipeline::definition::Pipeline;
use crate::pipeline::result::{BatchInfo as RunBatch, SampleResult};
use crate::pipeline::runner::{self, Reader, RunOptions};
use crate::pipeline::sink::{BatchSummary, Sink, SinkError};
use crate::report::stage::{batch_info, flowsom_heatmap, rendered_sample, ReportStage};
use crate::report::writer::{RenderedSample, ReportBuilder, ReportOptions};

/// Why a report could not be rebuilt at all (one bad input is not this:
/// it is shown in the report).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// run.json could not be read.
    #[error("{path}: cannot read the run record: {source}")]
    Read {
        /// OUTDIR/run.json.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// run.json is not what `nkflow run` writes.
    #[error("{path}: {message}")]
    Record {
        /// OUTDIR/run.json.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The run cannot be rebuilt (pipeline or samplesheet gone or changed).
    #[error("{0}")]
    Rebuild(String),
    /// The re-run itself failed.
    #[error(transparent)]
    Run(#[from] runner::RunError),
    /// The report's font is broken.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
}

/// One input as run.json recorded it.
#[derive(Debug, Clone)]
struct Recorded {
    file: String,
    /// The path as recorded (shown in messages).
    input: String,
    /// Resolved against the run's working directory.
    path: PathBuf,
    sha256: Option<String>,
    error: Option<String>,
    flags: Vec<String>,
    gates: Value,
}

/// What the rebuilt report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Inputs run.json lists.
    pub inputs: usize,
    /// Inputs shown with a reason instead of plots because they are
    /// missing, changed or gate differently now (file name, reason).
    pub not_reproduced: Vec<(String, String)>,
}

/// Rebuilds `OUTDIR/report.html` and `OUTDIR/plots/` from `OUTDIR/run.json`.
/// `threads` as for `nkflow run` (0 = all cores; the report is the same).
pub fn report_from_run(
    outdir: &Path,
    threads: usize,
    reader: &Reader,
) -> Result<ReplaySummary, ReplayError> {
    let path = outdir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ReplayError::Read {
        path: path.clone(),
        source,
    })?;
    let bad = |message: String| ReplayError::Record {
        path: path.clone(),
        message,
    };
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("not JSON ({e}); was it written by `nkflow run`?")))?;
    let cwd = doc["cwd"].as_str().map(PathBuf::from);
    let resolve = |p: &str| match &cwd {
        Some(dir) if Path::new(p).is_relative() => dir.join(p),
        _ => PathBuf::from(p),
    };
    let pipeline_path = str_field(&doc["pipeline"]["path"]);
    let pipeline_sha = str_field(&doc["pipeline"]["sha256"]);
    let pipeline = match &doc["pipeline"]["definition"] {
        Value::Null => pipeline_from_file(&resolve(&pipeline_path), &pipeline_sha)?,
        def => {
            let p: Pipeline = serde_json::from_value(def.clone())
                .map_err(|e| bad(format!("pipeline.definition: {e}")))?;
            p.validate().map_err(|(field, message)| {
                bad(format!("pipeline.definition: {field}: {message}"))
            })?;
            p
        }
    };
    let samplesheet = doc["samplesheet"].as_str().map(|s| s.to_string());
    let sheet_path = samplesheet.as_deref().map(resolve);
    if let Some(p) = &sheet_path {
        check_samplesheet(p, doc["samplesheet_sha256"].as_str())?;
    }
    let panel_overrides: BTreeMap<String, String> = match &doc["panel_overrides"] {
        Value::Null => BTreeMap::new(),
        v => serde_json::from_value(v.clone()).map_err(|e| bad(format!("panel_overrides: {e}")))?,
    };
    let inputs = doc["inputs"]
        .as_array()
        .ok_or_else(|| bad("no \"inputs\" list".to_string()))?;
    let mut recorded = Vec::with_capacity(inputs.len());
    for (k, v) in inputs.iter().enumerate() {
        let input = v["input"]
            .as_str()
            .ok_or_else(|| bad(format!("inputs[{k}]: no \"input\" path")))?;
        let path = resolve(input);
        let file = v["file"].as_str().map_or_else(
            || {
                path.file_name()
                    .map_or(input.to_string(), |n| n.to_string_lossy().into_owned())
            },
            |s| s.to_string(),
        );
        recorded.push(Recorded {
            file,
            input: input.to_string(),
            path,
            sha256: v["sha256"].as_str().map(|s| s.to_string()),
            error: v["error"].as_str().map(|s| s.to_string()),
            flags: v["qc_flags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            gates: v["gates"].clone(),
        });
    }
    // Only inputs that still exist go through the runner; the others are
    // shown as missing, in their place.
    let present: Vec<usize> = (0..recorded.len())
        .filter(|&k| recorded[k].path.is_file())
        .collect();
    let opts = RunOptions {
        pipeline,
        pipeline_path: resolve(&pipeline_path),
        inputs: present.iter().map(|&k| recorded[k].path.clone()).collect(),
        samplesheet: sheet_path,
        panel_overrides,
        outdir: outdir.to_path_buf(),
        threads,
        progress: false,
    };
    let run = RunFacts {
        pipeline_path,
        pipeline_sha256: pipeline_sha,
        samplesheet,
        threads: doc["threads"].as_u64().map(|t| t as usize),
        elapsed_ms: doc["summary"]["elapsed_ms"].as_f64(),
        skipped: doc["skipped"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| (str_field(&s["path"]), str_field(&s["reason"])))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let n_inputs = recorded.len();
    let not_reproduced = Arc::new(Mutex::new(Vec::new()));
    let sink = ReplaySink {
        outdir: outdir.to_path_buf(),
        builder: Some(ReportBuilder::new(ReportOptions::default())?),
        recorded,
        order: present,
        next: 0,
        run,
        not_reproduced: Arc::clone(&not_reproduced),
        flowsom: None,
    };
    // The pipeline's FlowSOM stage runs again (deterministic: with the same
    // inputs it gives the run's flowsom_* columns and heatmap).
    let (mut stages, _) =
        crate::cluster::stage::for_pipeline(opts.pipeline.cluster.as_ref(), false);
    stages.push(Box::new(ReportStage::default()));
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(sink)];
    runner::run(&opts, reader, &stages, &mut sinks)?;
    drop(sinks);
    let not_reproduced = std::mem::take(
        &mut *not_reproduced
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    Ok(ReplaySummary {
        inputs: n_inputs,
        not_reproduced,
    })
}

fn str_field(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The pipeline of a run.json written before definitions were recorded:
/// only the file it names, and only if it is unchanged.
fn pipeline_from_file(path: &Path, sha: &str) -> Result<Pipeline, ReplayError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ReplayError::Rebuild(format!(
            "{}: cannot read the run's pipeline ({e}); run.json does not hold its definition, \
             so run `nkflow run` again",
            path.display()
        ))
    })?;
    let now = sha256_hex(&bytes);
    if now != sha {
        return Err(ReplayError::Rebuild(format!(
            "{}: the pipeline changed since the run (SHA-256 {}… now, {}… in run.json) and \
             run.json does not hold its definition; run `nkflow run` again",
            path.display(),
            short(&now),
            short(sha)
        )));
    }
    Pipeline::from_file(path).map_err(|e| ReplayError::Rebuild(e.to_string()))
}

/// The samplesheet gives each file its metadata and per-µL inputs: a report
/// from a different one would show numbers the run never produced.
fn check_samplesheet(path: &Path, sha: Option<&str>) -> Result<(), ReplayError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ReplayError::Rebuild(format!(
            "{}: cannot read the run's samplesheet ({e}); restore it or run `nkflow run` again",
            path.display()
        ))
    })?;
    if let Some(sha) = sha {
        let now = sha256_hex(&bytes);
        if now != sha {
            return Err(ReplayError::Rebuild(format!(
                "{}: the samplesheet changed since the run (SHA-256 {}… now, {}… in run.json), \
                 so the report would not show the run's numbers; run `nkflow run` again",
                path.display(),
                short(&now),
                short(sha)
            )));
        }
    }
    Ok(())
}

/// Facts of the original run the report header shows (not the re-run's).
#[derive(Debug)]
struct RunFacts {
    pipeline_path: String,
    pipeline_sha256: String,
    samplesheet: Option<String>,
    threads: Option<usize>,
    elapsed_ms: Option<f64>,
    skipped: Vec<(String, String)>,
}

/// Receives the re-run's results, checks each against run.json and puts
/// missing inputs back in their place.
struct ReplaySink {
    outdir: PathBuf,
    builder: Option<ReportBuilder>,
    recorded: Vec<Recorded>,
    /// Runner index → recorded index.
    order: Vec<usize>,
    /// Next recorded index not yet pushed.
    next: usize,
    run: RunFacts,
    /// (file, reason) of inputs shown without plots, for the caller.
    not_reproduced: Arc<Mutex<Vec<(String, String)>>>,
    /// The FlowSOM heatmap, from the first result that carries one.
    flowsom: Option<crate::report::HeatmapSpec>,
}

impl ReplaySink {
    fn push(&mut self, s: RenderedSample) {
        if let Some(b) = &self.builder {
            b.add_rendered(s);
        }
    }

    fn not_shown(&mut self, k: usize, message: String) {
        let Some(rec) = self.recorded.get(k) else {
            return;
        };
        let s = RenderedSample {
            file: rec.file.clone(),
            index: k,
            error: Some(message.clone()),
            warnings: Vec::new(),
            qc_flags: rec.flags.clone(),
            summary: vec![("file".to_string(), rec.file.clone())],
            plots: Vec::new(),
            flow_rate: None,
        };
        self.not_reproduced
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((rec.file.clone(), message));
        self.push(s);
    }

    /// Pushes the missing inputs recorded before index `upto`.
    fn missing_until(&mut self, upto: usize) {
        while self.next < upto {
            let k = self.next;
            self.next += 1;
            if let Some(rec) = self.recorded.get(k) {
                let msg = format!(
                    "{}: input missing: {} no longer exists (the run read it{}); \
                     no plots can be drawn",
                    rec.file,
                    rec.input,
                    rec.sha256
                        .as_deref()
                        .map(|s| format!(" with SHA-256 {}…", short(s)))
                        .unwrap_or_default()
                );
                self.not_shown(k, msg);
            }
        }
    }
}

/// Why a re-run result is not the run's, if it is not.
fn difference(rec: &Recorded, r: &SampleResult) -> Option<String> {
    if let (Some(was), Some(now)) = (&rec.sha256, &r.sha256) {
        if was != now {
            return Some(format!(
                "{}: input changed since the run: {} has SHA-256 {}… now, run.json records {}…; \
                 run `nkflow run` again to report it",
                rec.file,
                rec.input,
                short(now),
                short(was)
            ));
        }
    }
    if rec.error != r.error {
        return Some(format!(
            "{}: re-running gives a different outcome than the run (run: {}; now: {}); \
             run `nkflow run` again",
            rec.file,
            rec.error.as_deref().unwrap_or("no error"),
            r.error.as_deref().unwrap_or("no error")
        ));
    }
    let now = serde_json::to_value(&r.gates).unwrap_or(Value::Null);
    if rec.gates != now {
        return Some(format!(
            "{}: the gates resolved now differ from those the run applied (gates/{}.xml) at {}; \
             run `nkflow run` again",
            rec.file,
            rec.file,
            first_difference(&rec.gates, &now, "gates")
        ));
    }
    None
}

/// The JSON path of the first difference between two values.
fn first_difference(a: &Value, b: &Value, at: &str) -> String {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            for (k, (p, q)) in x.iter().zip(y).enumerate() {
                if p != q {
                    let id = p["id"].as_str().map_or(k.to_string(), |s| s.to_string());
                    return first_difference(p, q, &format!("{at}[{id}]"));
                }
            }
            format!("{at} (length {} vs {})", x.len(), y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            for (k, p) in x {
                if y.get(k) != Some(p) {
                    return match y.get(k) {
                        Some(q) => first_difference(p, q, &format!("{at}.{k}")),
                        None => format!("{at}.{k} (missing now)"),
                    };
                }
            }
            format!("{at} (new fields)")
        }
        _ => format!("{at} ({a} in run.json, {b} now)"),
    }
}

impl Sink for ReplaySink {
    fn sample(&mut self, batch: &RunBatch, r: &SampleResult) -> Result<(), SinkError> {
        let Some(&k) = self.order.get(r.index) else {
            return Ok(());
        };
        if self.flowsom.is_none() {
            self.flowsom = flowsom_heatmap(r);
        }
        self.missing_until(k);
        self.next = k + 1;
        let Some(rec) = self.recorded.get(k) else {
            return Ok(());
        };
        match difference(rec, r) {
            Some(msg) => self.not_shown(k, msg),
            None => {
                let mut s = rendered_sample(batch, r);
                s.index = k;
                self.push(s);
            }
        }
        Ok(())
    }

    fn finish(&mut self, batch: &RunBatch, summary: &BatchSummary) -> Result<(), SinkError> {
        self.missing_until(self.recorded.len());
        let Some(builder) = self.builder.take() else {
            return Ok(());
        };
        // The header describes the run, not this re-run.
        let mut b = batch.clone();
        b.pipeline_path = self.run.pipeline_path.clone();
        b.pipeline_sha256 = self.run.pipeline_sha256.clone();
        b.samplesheet = self.run.samplesheet.clone();
        b.skipped = self.run.skipped.clone();
        if let Some(t) = self.run.threads {
            b.threads = t;
        }
        let mut s = summary.clone();
        if let Some(ms) = self.run.elapsed_ms {
            s.elapsed_ms = ms;
        }
        let mut info = batch_info(&b, &s);
        info.flowsom = self.flowsom.take();
        builder
            .finish(&self.outdir, &info)
            .map_err(|e| SinkError::Write {
                path: self.outdir.join("report.html"),
                message: e.to_string(),
            })?;
        Ok(())
    }
}
