//! The report sink: renders each pushed sample at once (in the caller's
//! thread, so the runner's rayon fan-out renders in parallel), keeps only the
//! PNG bytes, and writes `report.html`, `report/*.html` and `plots/**.png`
//! at the end, each file atomically (temp file + rename).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::report::html;
use crate::report::model::{BatchInfo, PlotSpec, SampleReport};
use crate::report::plots::{
    render_cohort, render_density, render_flow_rate, render_heatmap, render_histogram, CohortPoint,
    RenderOptions, RenderedPlot,
};
use crate::report::ReportError;

/// Report-wide options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// Plot rendering knobs.
    pub render: RenderOptions,
    /// Above this many samples, each sample gets its own page under
    /// `OUTDIR/report/` (a single file of 200 samples' plots is too heavy
    /// for a browser or a mail).
    pub split_over: usize,
    /// Also write every plot as a PNG under `OUTDIR/plots/`.
    pub write_pngs: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            render: RenderOptions::default(),
            split_over: 50,
            write_pngs: true,
        }
    }
}

/// A plot, or why it could not be drawn (shown in its place).
#[derive(Debug, Clone, PartialEq)]
pub enum PlotOutcome {
    /// Rendered.
    Drawn(RenderedPlot),
    /// Not rendered: title and reason.
    Failed {
        /// The plot's title.
        title: String,
        /// One sentence naming what is missing or wrong.
        message: String,
    },
}

impl PlotOutcome {
    /// The plot's title.
    pub fn title(&self) -> &str {
        match self {
            PlotOutcome::Drawn(p) => &p.title,
            PlotOutcome::Failed { title, .. } => title,
        }
    }
}

/// One sample after rendering: its text and its plots' PNGs.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedSample {
    /// Exact input file name.
    pub file: String,
    /// Input order.
    pub index: usize,
    /// Error that stopped the file (shown instead of plots).
    pub error: Option<String>,
    /// Warnings (reader repairs, missing samplesheet row, plot problems).
    pub warnings: Vec<String>,
    /// QC flags.
    pub qc_flags: Vec<String>,
    /// The results row.
    pub summary: Vec<(String, String)>,
    /// Plots of the gating hierarchy, in the given order.
    pub plots: Vec<PlotOutcome>,
    /// Flow rate over time.
    pub flow_rate: Option<PlotOutcome>,
}

/// Renders one sample's plots. Pure: no files touched; safe to call from
/// many threads at once.
pub fn render_sample(s: &SampleReport<'_>, opts: RenderOptions) -> RenderedSample {
    let mut warnings = s.warnings.clone();
    let mut plots = Vec::new();
    if s.error.is_none() {
        for spec in &s.plots {
            let outcome = render_plot(s, spec, opts);
            if let PlotOutcome::Failed { title, message } = &outcome {
                warnings.push(format!("plot {title:?} not drawn: {message}"));
            }
            plots.push(outcome);
        }
    }
    let flow_rate = if s.error.is_none() {
        s.flow_rate.as_ref().map(|f| {
            let title = "Flow rate over time";
            match render_flow_rate(f, title) {
                Ok(p) => PlotOutcome::Drawn(p),
                Err(message) => PlotOutcome::Failed {
                    title: title.to_string(),
                    message,
                },
            }
        })
    } else {
        None
    };
    RenderedSample {
        file: s.file.clone(),
        index: s.index,
        error: s.error.clone(),
        warnings,
        qc_flags: s.qc_flags.clone(),
        summary: s.summary.clone(),
        plots,
        flow_rate,
    }
}

fn render_plot(s: &SampleReport<'_>, spec: &PlotSpec, opts: RenderOptions) -> PlotOutcome {
    let fail = |message: String| PlotOutcome::Failed {
        title: spec.title().to_string(),
        message,
    };
    let Some(events) = s.events else {
        return fail("no events were handed to the report".to_string());
    };
    let Some(parent) = s.populations.iter().find(|p| p.name == spec.parent()) else {
        return fail(format!(
            "parent population {:?} is not among the sample's populations ({})",
            spec.parent(),
            s.populations
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let r = match spec {
        PlotSpec::Density(d) => render_density(d, events, parent.members, opts),
        PlotSpec::Histogram(h) => render_histogram(h, events, parent.members, opts),
    };
    match r {
        Ok(p) => PlotOutcome::Drawn(p),
        Err(m) => fail(m),
    }
}

/// Collects rendered samples (thread-safe) and writes the report.
#[derive(Debug)]
pub struct ReportBuilder {
    options: ReportOptions,
    samples: Mutex<Vec<RenderedSample>>,
}

/// What [`ReportBuilder::finish`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `OUTDIR/report.html`.
    pub html: PathBuf,
    /// Per-sample pages (large batches only).
    pub pages: Vec<PathBuf>,
    /// PNG files written under `OUTDIR/plots/`.
    pub pngs: Vec<PathBuf>,
}

impl ReportBuilder {
    /// A new, empty report. Fails only if the embedded font is broken.
    pub fn new(options: ReportOptions) -> Result<Self, ReportError> {
        crate::report::canvas::ensure_font().map_err(ReportError::Font)?;
        Ok(ReportBuilder {
            options,
            samples: Mutex::new(Vec::new()),
        })
    }

    /// Renders a sample's plots now and keeps them for the report.
    pub fn add(&self, sample: &SampleReport<'_>) {
        let r = render_sample(sample, self.options.render);
        self.add_rendered(r);
    }

    /// Keeps an already rendered sample.
    pub fn add_rendered(&self, sample: RenderedSample) {
        // A poisoned lock only means another thread panicked mid-push; the
        // vector itself is still valid.
        let mut v = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        v.push(sample);
    }

    /// Number of samples pushed so far.
    pub fn len(&self) -> usize {
        self.samples.lock().map_or(0, |v| v.len())
    }

    /// True when no sample was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes `OUTDIR/report.html` (+ `report/*.html` above
    /// `split_over` samples, + `plots/**.png`).
    pub fn finish(self, outdir: &Path, batch: &BatchInfo) -> Result<ReportFiles, ReportError> {
        let mut samples = self.samples.into_inner().unwrap_or_else(|e| e.into_inner());
        samples.sort_by(|a, b| a.index.cmp(&b.index).then_with(|| a.file.cmp(&b.file)));
        let slugs = unique_slugs(samples.iter().map(|s| s.file.as_str()));
        let cohort = cohort_plots(&samples, batch);
        let flowsom = batch.flowsom.as_ref().map(|h| match render_heatmap(h) {
            Ok(p) => PlotOutcome::Drawn(p),
            Err(message) => PlotOutcome::Failed {
                title: h.title.clone(),
                message,
            },
        });
        create_dir(outdir)?;
        let mut pngs = Vec::new();
        if self.options.write_pngs {
            let plots_dir = outdir.join("plots");
            let written: Vec<Vec<PathBuf>> = samples
                .par_iter()
                .zip(&slugs)
                .map(|(s, slug)| {
                    let dir = plots_dir.join(slug);
                    let all = s.plots.iter().chain(s.flow_rate.as_ref());
                    write_pngs(&dir, all)
                })
                .collect::<Result<_, _>>()?;
            pngs.extend(written.into_iter().flatten());
            pngs.extend(write_pngs(
                &plots_dir.join("cohort"),
                cohort.iter().chain(flowsom.as_ref()),
            )?);
            // A rerun into the same OUTDIR must not leave an earlier batch's
            // plots beside this one's: a tech browsing plots/ would sign off
            // pictures of files that are no longer in the report.
            remove_stale(&plots_dir, &pngs, "png")?;
        }
        let split = samples.len() > self.options.split_over;
        let mut pages = Vec::new();
        if split {
            let dir = outdir.join("report");
            create_dir(&dir)?;
            let written: Vec<PathBuf> = samples
                .par_iter()
                .zip(&slugs)
                .map(|(s, slug)| {
                    let path = dir.join(format!("{slug}.html"));
                    let page = html::sample_page(s, slug, &batch.title);
                    write_atomic(&path, page.as_bytes())?;
                    Ok(path)
                })
                .collect::<Result<_, ReportError>>()?;
            pages = written;
        }
        remove_stale(&outdir.join("report"), &pages, "html")?;
        let doc = html::main_page(&samples, &slugs, batch, &cohort, flowsom.as_ref(), split);
        let html_path = outdir.join("report.html");
        write_atomic(&html_path, doc.as_bytes())?;
        Ok(ReportFiles {
            html: html_path,
            pages,
            pngs,
        })
    }
}

/// Removes the `*.ext` files under `dir` (and one level of subfolders) that
/// this report did not write, then any subfolder left empty. Only files of
/// the report's own kind are touched; a missing `dir` is fine.
fn remove_stale(dir: &Path, keep: &[PathBuf], ext: &str) -> Result<(), ReportError> {
    let io = |path: &Path, source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let keep: std::collections::HashSet<&Path> = keep.iter().map(PathBuf::as_path).collect();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut folders = vec![dir.to_path_buf()];
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            folders.push(e.path());
        }
    }
    for folder in &folders {
        let Ok(entries) = std::fs::read_dir(folder) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let ours = path.extension().is_some_and(|x| x == ext)
                && e.file_type().is_ok_and(|t| t.is_file());
            if ours && !keep.contains(path.as_path()) {
                std::fs::remove_file(&path).map_err(|err| io(&path, err))?;
            }
        }
    }
    for folder in folders.iter().skip(1) {
        // Fails when something is left in it: then it stays.
        let _ = std::fs::remove_dir(folder);
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

fn write_pngs<'a>(
    dir: &Path,
    plots: impl Iterator<Item = &'a PlotOutcome>,
) -> Result<Vec<PathBuf>, ReportError> {
    let drawn: Vec<&RenderedPlot> = plots
        .filter_map(|p| match p {
            PlotOutcome::Drawn(r) => Some(r),
            PlotOutcome::Failed { .. } => None,
        })
        .collect();
    if drawn.is_empty() {
        return Ok(Vec::new());
    }
    create_dir(dir)?;
    let names = unique_slugs(drawn.iter().map(|p| p.title.as_str()));
    let mut out = Vec::with_capacity(drawn.len());
    for (k, (p, name)) in drawn.iter().zip(names).enumerate() {
        let path = dir.join(format!("{:02}_{name}.png", k + 1));
        write_atomic(&path, &p.png)?;
        out.push(path);
    }
    Ok(out)
}

/// Writes a file atomically: a temp file in the same folder, renamed over
/// the target, so a reader never sees half a report.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let io = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".nkflow-report-")
        .tempfile_in(dir)
        .map_err(io)?;
    // No fsync: the rename alone keeps readers from seeing half a file, a
    // report lost to a power cut is rebuilt by `nkflow report OUTDIR`, and
    // a sync per PNG (thousands for a large batch) cost more wall time than
    // rendering them.
    tmp.write_all(bytes).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// A file-name-safe form of a name: ASCII letters, digits, `.`, `-`, `_`
/// kept, everything else `_`; a leading dot removed (no hidden files).
pub(crate) fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.');
    if s.is_empty() {
        "_".to_string()
    } else {
        s.chars().take(120).collect()
    }
}

/// Slugs made unique in order: a later duplicate gets `-2`, `-3`, …
/// (two inputs with the same name from different folders).
pub(crate) fn unique_slugs<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashSet::new();
    names
        .map(|n| {
            let base = slug(n);
            let mut s = base.clone();
            let mut k = 2;
            while !seen.insert(s.to_ascii_lowercase()) {
                s = format!("{base}-{k}");
                k += 1;
            }
            s
        })
        .collect()
}

/// Cohort plots: for each spec, the value by samplesheet group, one point
/// per sample with a number in that column.
fn cohort_plots(samples: &[RenderedSample], batch: &BatchInfo) -> Vec<PlotOutcome> {
    batch
        .cohort
        .iter()
        .map(|spec| {
            let lookup = |s: &RenderedSample, col: &str| {
                s.summary
                    .iter()
                    .find(|(k, _)| k == col)
                    .map(|(_, v)| v.trim().to_string())
            };
            let mut points = Vec::new();
            for s in samples.iter().filter(|s| s.error.is_none()) {
                let Some(value) = lookup(s, &spec.value_column).and_then(|v| v.parse::<f64>().ok())
                else {
                    continue;
                };
                let group = spec
                    .group_by
                    .iter()
                    .map(|g| {
                        let v = lookup(s, g).unwrap_or_default();
                        if v.is_empty() {
                            format!("{g}: –")
                        } else {
                            v
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" · ");
                points.push(CohortPoint {
                    group,
                    sample: s.file.clone(),
                    value,
                });
            }
            let mut groups: Vec<String> = points.iter().map(|p| p.group.clone()).collect();
            groups.sort_by(|a, b| natural_cmp(a, b));
            groups.dedup();
            let title = format!(
                "{} by {}",
                spec.title,
                if spec.group_by.is_empty() {
                    "batch".to_string()
                } else {
                    spec.group_by.join(" × ")
                }
            );
            match render_cohort(&title, &spec.title, &groups, &points) {
                Ok(p) => PlotOutcome::Drawn(p),
                Err(message) => PlotOutcome::Failed { title, message },
            }
        })
        .collect()
}

/// Orders "day 7" before "day 30": runs of digits compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let d = c.is_ascii_digit();
            match out.last_mut() {
                Some((kind, buf)) if *kind == d => buf.push(c),
                _ => out.push((d, c.to_string())),
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let o = match (x.0, y.0) {
            (true, true) => {
                let (p, q) = (x.1.trim_start_matches('0'), y.1.trim_start_matches('0'));
                p.len().cmp(&q.len()).then_with(|| p.cmp(q))
            }
            _ => x.1.cmp(&y.1),
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_and_unique() {
        let s = unique_slugs(["P 01.fcs", "P_01.fcs", ".hidden", "é.fcs"].into_iter());
        assert_eq!(s, ["P_01.fcs", "P_01.fcs-2", "hidden", "_.fcs"]);
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["day 30", "day 7", "day 100", "A"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["A", "day 7", "day 30", "day 100"]);
    }
}
