//! Output sinks: the runner pushes, sinks receive (ripgrep's `Sink` model).
//!
//! The runner drives the files through the pipeline and pushes every
//! [`SampleResult`] — in input order, whatever the thread count — into each
//! sink; a new output format is a new sink, not an edit of the runner. Sinks
//! write their files atomically (temp file in the output folder + rename), so
//! an existing OUTDIR never holds a half-written results.csv.

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::result::{BatchInfo, SampleResult};

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// Receives the batch's results.
pub trait Sink: Send {
    /// Called once before the first sample.
    fn begin(&mut self, _batch: &BatchInfo) -> Result<(), SinkError> {
        Ok(())
    }
    /// Called once with every result (input order) before the `sample`
    /// calls, in the batch's thread pool: a sink whose per-input work is
    /// independent may do it here in parallel (and then skip it in
    /// `sample`), so that the batch's serial tail stays short. Default:
    /// nothing.
    fn prepare(&mut self, _batch: &BatchInfo, _results: &[SampleResult]) -> Result<(), SinkError> {
        Ok(())
    }
    /// Called for every input, in input order (failed ones included).
    fn sample(&mut self, batch: &BatchInfo, result: &SampleResult) -> Result<(), SinkError>;
    /// Called once after the last sample.
    fn finish(&mut self, _batch: &BatchInfo, _summary: &BatchSummary) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Batch-level facts known only at the end (for run.json and the CLI).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchSummary {
    pub n_inputs: usize,
    pub n_failed: usize,
    pub elapsed_ms: f64,
    /// Per stage name, wall time in ms.
    pub stage_ms: Vec<(String, f64)>,
    /// Per stage name, what it recorded (run.json `stages`).
    #[serde(skip)]
    pub stages: std::collections::BTreeMap<String, serde_json::Value>,
    /// results.csv columns that depend on the whole batch (run.json
    /// `batch_dependent_columns`).
    #[serde(skip)]
    pub batch_dependent_columns: Vec<String>,
}

/// Writes `bytes` to `path` atomically: a temp file in the same folder,
/// flushed, then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SinkError> {
    let err = |message: String| SinkError::Write {
        path: path.to_path_buf(),
        message,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| err(e.to_string()))?;
    tmp.write_all(bytes).map_err(|e| err(e.to_string()))?;
    tmp.persist(path).map_err(|e| err(e.error.to_string()))?;
    Ok(())
}

/// Formats a number for CSV: empty when absent or not finite; Rust's
/// shortest round-trip decimal otherwise (no exponent, so every CSV reader
/// takes it as a number).
pub fn fmt_num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => String::new(),
    }
}

/// `results.csv`: one wide row per input.
#[derive(Debug, Default)]
pub struct ResultsCsv {
    rows: Vec<Vec<String>>,
}

impl ResultsCsv {
    /// The header for a batch.
    pub fn header(batch: &BatchInfo) -> Vec<String> {
        let mut h = vec!["file".to_string()];
        h.extend(batch.sheet_columns.iter().cloned());
        h.extend(batch.stat_columns.iter().cloned());
        h.push("qc_flags".into());
        h.push("error".into());
        h
    }
}

impl Sink for ResultsCsv {
    fn sample(&mut self, batch: &BatchInfo, r: &SampleResult) -> Result<(), SinkError> {
        let mut row = vec![r.file_name.clone()];
        for k in 0..batch.sheet_columns.len() {
            row.push(r.sheet.get(k).cloned().unwrap_or_default());
        }
        for k in 0..batch.stat_columns.len() {
            row.push(fmt_num(r.columns.get(k).copied().flatten()));
        }
        row.push(r.flags.join(";"));
        row.push(r.error.clone().unwrap_or_default());
        self.rows.push(row);
        Ok(())
    }

    fn finish(&mut self, batch: &BatchInfo, _s: &BatchSummary) -> Result<(), SinkError> {
        let path = batch.outdir.join("results.csv");
        write_atomic(&path, &to_csv(&Self::header(batch), &self.rows, &path)?)
    }
}

fn to_csv(header: &[String], rows: &[Vec<String>], path: &Path) -> Result<Vec<u8>, SinkError> {
    let err = |e: csv::Error| SinkError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(r).map_err(err)?;
    }
    w.into_inner().map_err(|e| SinkError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// `populations.csv`: one long row per sample × population.
#[derive(Debug, Default)]
pub struct PopulationsCsv {
    rows: Vec<Vec<String>>,
}

/// populations.csv rows of one input.
fn population_rows(r: &SampleResult) -> Vec<Vec<String>> {
    r.populations
        .iter()
        .map(|p| {
            let mut row = vec![
                r.file_name.clone(),
                p.id.clone(),
                p.path.clone(),
                p.parent.clone().unwrap_or_default(),
                p.count.to_string(),
                fmt_num(p.pct_parent),
                fmt_num(p.pct_total),
                fmt_num(p.per_ul),
            ];
            row.extend(p.medians.iter().map(|m| fmt_num(*m)));
            row
        })
        .collect()
}

impl PopulationsCsv {
    /// The header for a batch.
    pub fn header(batch: &BatchInfo) -> Vec<String> {
        let mut h: Vec<String> = [
            "file",
            "population",
            "path",
            "parent",
            "count",
            "pct_parent",
            "pct_total",
            "per_ul",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        h.extend(batch.median_markers.iter().map(|m| format!("median_{m}")));
        h
    }
}

impl Sink for PopulationsCsv {
    fn prepare(&mut self, _batch: &BatchInfo, results: &[SampleResult]) -> Result<(), SinkError> {
        let per_input: Vec<Vec<Vec<String>>> = results.par_iter().map(population_rows).collect();
        self.rows.extend(per_input.into_iter().flatten());
        Ok(())
    }

    /// The rows were made in `prepare`.
    fn sample(&mut self, _batch: &BatchInfo, _r: &SampleResult) -> Result<(), SinkError> {
        Ok(())
    }

    fn finish(&mut self, batch: &BatchInfo, _s: &BatchSummary) -> Result<(), SinkError> {
        let path = batch.outdir.join("populations.csv");
        write_atomic(&path, &to_csv(&Self::header(batch), &self.rows, &path)?)
    }
}

/// `run.json`: provenance of the batch (versions, hashes, the resolved
/// panel and compensation per input, warnings, errors, timings).
///
/// The per-input entries are rendered in `prepare`, in the batch's thread
/// pool (where the runner calls the sinks), each to pretty JSON
/// indented for its place in the document, and spliced into the document's
/// `inputs` array: the same bytes as rendering the whole document at once,
/// with the serial part of the batch reduced to the splice.
#[derive(Default)]
pub struct RunJson {
    /// The inputs' entries, rendered by `prepare`.
    rendered: Vec<Vec<u8>>,
}

/// One input's run.json entry, pretty-printed and indented for its place.
fn render_entry(v: &serde_json::Value) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec_pretty(v).map(|b| indent_entry(&b))
}

/// One input's run.json entry.
fn run_json_entry(r: &SampleResult) -> serde_json::Value {
    serde_json::json!({
            "file": r.file_name,
            "input": r.input,
            "sha256": r.sha256,
            "n_events": r.n_events,
            "error": r.error,
            "warnings": r.warnings,
            "qc_flags": r.flags,
            "panel": r.panel,
            "compensation": r.compensation,
            "axes": r.axes,
            "gates": r.gates,
            "gates_not_applied": r.gates_not_applied.iter().map(|(id, why)| serde_json::json!({"gate": id, "reason": why})).collect::<Vec<_>>(),
            "elapsed_ms": r.elapsed_ms,
    })
}

impl Sink for RunJson {
    fn prepare(&mut self, batch: &BatchInfo, results: &[SampleResult]) -> Result<(), SinkError> {
        let rendered = results
            .par_iter()
            .map(|r| render_entry(&run_json_entry(r)))
            .collect::<Result<Vec<Vec<u8>>, _>>()
            .map_err(|e| SinkError::Write {
                path: batch.outdir.join("run.json"),
                message: e.to_string(),
            })?;
        self.rendered = rendered;
        Ok(())
    }

    /// The entries were rendered in `prepare`.
    fn sample(&mut self, _batch: &BatchInfo, _r: &SampleResult) -> Result<(), SinkError> {
        Ok(())
    }

    fn finish(&mut self, batch: &BatchInfo, s: &BatchSummary) -> Result<(), SinkError> {
        let path = batch.outdir.join("run.json");
        let doc = serde_json::json!({
            "nkflow_version": batch.nkflow_version,
            "pipeline": {
                "name": batch.pipeline_name,
                "path": batch.pipeline_path,
                "sha256": batch.pipeline_sha256,
                "definition": batch.pipeline,
            },
            "panel_overrides": batch.panel_overrides,
            "samplesheet": batch.samplesheet,
            "samplesheet_sha256": batch.samplesheet_sha256,
            // Relative input, pipeline and samplesheet paths are relative to
            // this folder (`nkflow report` resolves them against it).
            "cwd": std::env::current_dir().ok(),
            "threads": batch.threads,
            // The instruction-set tier the hot loops ran at: it explains
            // timings, never results (every tier writes the same bytes).
            "simd": crate::simd::tier().name(),
            "results_columns": ResultsCsv::header(batch),
            "skipped": batch.skipped.iter().map(|(p, why)| serde_json::json!({"path": p, "reason": why})).collect::<Vec<_>>(),
            "summary": s,
            // Every results column is a function of its file alone except
            // these (trained on the whole batch, e.g. FlowSOM).
            "batch_dependent_columns": s.batch_dependent_columns,
            "stages": s.stages,
            "inputs": [],
        });
        let err = |e: serde_json::Error| SinkError::Write {
            path: path.clone(),
            message: e.to_string(),
        };
        let entries = std::mem::take(&mut self.rendered);
        let bytes = splice_inputs(&serde_json::to_vec_pretty(&doc).map_err(err)?, &entries);
        write_atomic(&path, &bytes)
    }
}

/// A top-level pretty-printed value re-indented as an element of a
/// top-level key's array (two levels deeper: four spaces after every line
/// break; JSON strings hold no raw line breaks).
fn indent_entry(pretty: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pretty.len() + pretty.len() / 8);
    out.extend_from_slice(b"    ");
    for &b in pretty {
        out.push(b);
        if b == b'\n' {
            out.extend_from_slice(b"    ");
        }
    }
    out
}

/// Replaces the document's empty top-level `"inputs": []` by the rendered
/// entries, laid out as serde_json's pretty printer lays out an array.
fn splice_inputs(doc: &[u8], entries: &[Vec<u8>]) -> Vec<u8> {
    const EMPTY: &[u8] = b"\n  \"inputs\": []";
    let Some(at) = doc.windows(EMPTY.len()).position(|w| w == EMPTY) else {
        return doc.to_vec();
    };
    if entries.is_empty() {
        return doc.to_vec();
    }
    let body: usize = entries.iter().map(|e| e.len() + 2).sum();
    let mut out = Vec::with_capacity(doc.len() + body + 8);
    out.extend_from_slice(&doc[..at]);
    out.extend_from_slice(b"\n  \"inputs\": [\n");
    for (k, e) in entries.iter().enumerate() {
        if k > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(e);
    }
    out.extend_from_slice(b"\n  ]");
    out.extend_from_slice(&doc[at + EMPTY.len()..]);
    out
}

/// `gates/<file name>.xml`: the gates applied to each file, data-driven
/// ones resolved to coordinates, as Gating-ML 2.0 (see
/// [`export`](super::export)). Failed files get none.
///
/// The files are written at the end of the batch, in its thread pool (the
/// runner calls the sinks inside it): one file per input, independent of
/// the others, so the work need not be serial.
#[derive(Debug, Default)]
pub struct GatesXml {
    pending: Vec<(PathBuf, Vec<super::result::AppliedGate>)>,
}

impl Sink for GatesXml {
    fn sample(&mut self, batch: &BatchInfo, r: &SampleResult) -> Result<(), SinkError> {
        if r.error.is_some() {
            return Ok(());
        }
        let path = batch
            .outdir
            .join("gates")
            .join(format!("{}.xml", r.file_name));
        self.pending.push((path, r.gates.clone()));
        Ok(())
    }

    fn finish(&mut self, _batch: &BatchInfo, _s: &BatchSummary) -> Result<(), SinkError> {
        let pending = std::mem::take(&mut self.pending);
        // Every file is attempted; the first failure in input order is
        // reported.
        let written: Vec<Result<(), SinkError>> = pending
            .par_iter()
            .map(|(path, gates)| {
                let err = |message: String| SinkError::Write {
                    path: path.clone(),
                    message,
                };
                let strategy = super::export::to_strategy(gates).map_err(|e| err(e.to_string()))?;
                let xml =
                    crate::gatingml::write_string(&strategy).map_err(|e| err(e.to_string()))?;
                write_atomic(path, xml.as_bytes())
            })
            .collect();
        written.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spliced_inputs_render_like_the_whole_document() {
        let entries = [
            serde_json::json!({"file": "a.fcs", "gates": [{"id": "x", "v": [1.5, -2.0]}], "error": null}),
            serde_json::json!({"file": "b\nc.fcs", "warnings": [], "panel": {}}),
        ];
        for n in 0..=entries.len() {
            let whole = serde_json::json!({"a": 1, "inputs": entries[..n], "z": {"inputs": []}});
            let empty = serde_json::json!({"a": 1, "inputs": [], "z": {"inputs": []}});
            let rendered: Vec<Vec<u8>> = entries[..n]
                .iter()
                .map(|v| indent_entry(&serde_json::to_vec_pretty(v).unwrap()))
                .collect();
            assert_eq!(
                String::from_utf8(splice_inputs(
                    &serde_json::to_vec_pretty(&empty).unwrap(),
                    &rendered
                ))
                .unwrap(),
                String::from_utf8(serde_json::to_vec_pretty(&whole).unwrap()).unwrap(),
                "{n} entries"
            );
        }
    }

    #[test]
    fn numbers_and_atomic_write() {
        assert_eq!(fmt_num(Some(12.5)), "12.5");
        assert_eq!(fmt_num(Some(1e-7)), "0.0000001");
        assert_eq!(fmt_num(Some(f64::NAN)), "");
        assert_eq!(fmt_num(None), "");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("x.csv");
        write_atomic(&p, b"a\n").unwrap();
        write_atomic(&p, b"b\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"b\n");
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
