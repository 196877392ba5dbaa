//! Applying a workspace to FCS files: locate each sample's file, build its
//! strategy ([`super::strategy::plan`]), gate it with the engine, and report
//! one row per population beside FlowJo's saved count.
//!
//! A sample that fails (file missing or unreadable, strategy inconsistent)
//! is a result too: its populations are listed without counts and the reason
//! is kept, so one bad file never hides the others' counts.

use std::path::{Path, PathBuf};

use crate::sample::{Sample, Warning};

use super::locate;
use super::model::{Population, Workspace, WspSample};
use super::strategy::{self, Plan};
use super::FlowJoError;

/// What to analyse.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Look for FCS files here instead of where the workspace says. Files in
    /// it that match no workspace sample get the group's template.
    pub fcs_dir: Option<PathBuf>,
    /// Only this group's samples (and its template for unmatched files).
    pub group: Option<String>,
}

/// Name of the root population in output rows.
pub const ROOT: &str = "root";

/// One population of one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationRow {
    /// `root`, or the '/'-separated path from the root ("Cells/Singlets").
    pub population: String,
    /// Parent population (`root` for top-level ones; empty for root).
    pub parent: String,
    /// Our count; `None` when not evaluated.
    pub count: Option<u64>,
    /// 100 × count / parent count.
    pub pct_parent: Option<f64>,
    /// FlowJo's saved count, where the workspace has one.
    pub flowjo_count: Option<u64>,
    /// Why there is no count (empty when there is one).
    pub note: String,
}

/// One analysed (or failed) sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOutcome {
    /// The FCS file (its name), or the workspace sample name when missing.
    pub file: String,
    /// The workspace sample it was matched to, if any.
    pub sample_name: Option<String>,
    /// Every population, in tree order, root first.
    pub rows: Vec<PopulationRow>,
    /// Why the sample has no counts at all.
    pub error: Option<String>,
    /// Reader and strategy warnings for this sample.
    pub warnings: Vec<Warning>,
}

/// Everything the workspace command reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub samples: Vec<SampleOutcome>,
    /// Workspace-level warnings (parser).
    pub warnings: Vec<Warning>,
}

impl Analysis {
    /// Rows where both counts exist: (equal, total).
    pub fn agreement(&self) -> (usize, usize) {
        let mut eq = 0;
        let mut n = 0;
        for r in self.samples.iter().flat_map(|s| &s.rows) {
            if let (Some(a), Some(b)) = (r.count, r.flowjo_count) {
                n += 1;
                eq += usize::from(a == b);
            }
        }
        (eq, n)
    }
}

/// The folder sample paths in the workspace are relative to.
fn workspace_dir(wsp_path: &Path) -> std::path::PathBuf {
    wsp_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// The samples of `group` (all samples without one). An unknown group is an
/// error listing the workspace's groups, for analysis and export alike.
fn group_members<'w>(
    ws: &'w Workspace,
    group: Option<&str>,
) -> Result<Vec<&'w WspSample>, FlowJoError> {
    let Some(name) = group else {
        return Ok(ws.samples.iter().collect());
    };
    let g = ws.group(name).ok_or_else(|| FlowJoError::UnknownGroup {
        path: ws.source.clone(),
        name: name.to_string(),
        available: ws
            .groups
            .iter()
            .map(|g| format!("{:?}", g.name))
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    Ok(g.sample_ids
        .iter()
        .filter_map(|id| ws.sample_by_id(id))
        .collect())
}

/// Analyses the workspace's samples (or the files in `opts.fcs_dir`).
pub fn analyze(ws: &Workspace, wsp_path: &Path, opts: &Options) -> Result<Analysis, FlowJoError> {
    let wsp_dir = workspace_dir(wsp_path);
    let members = group_members(ws, opts.group.as_deref())?;
    let mut samples = Vec::new();
    match &opts.fcs_dir {
        None => {
            for s in &members {
                samples.push(match locate::locate(s, &wsp_dir, None) {
                    Ok(path) => run_sample(s, &s.populations, &path, true, None),
                    Err(e) => missing(s, e),
                });
            }
        }
        Some(dir) => {
            let files = locate::fcs_files(dir).map_err(|source| FlowJoError::Io {
                path: dir.display().to_string(),
                source,
            })?;
            let template = template(ws, opts.group.as_deref(), &members);
            let mut matched = vec![false; members.len()];
            for f in &files {
                let fname = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                // By file name first (cheap); a renamed file is then matched
                // by the `$FIL` its instrument wrote, read from the file.
                let mut hit = members.iter().enumerate().position(|(i, s)| {
                    !matched.get(i).copied().unwrap_or(true)
                        && locate::candidate_names(s)
                            .iter()
                            .any(|n| n.eq_ignore_ascii_case(fname))
                });
                let mut preread = None;
                if hit.is_none() {
                    let read = crate::fcs::read(f);
                    if let Ok(fcs) = &read {
                        if let Some(fil) = fcs.keywords.get_nonblank("$FIL") {
                            hit = members.iter().enumerate().position(|(i, s)| {
                                !matched.get(i).copied().unwrap_or(true)
                                    && s.keyword("$FIL").map(str::trim) == Some(fil)
                            });
                        }
                    }
                    preread = Some(read);
                }
                match (hit.and_then(|i| members.get(i).map(|s| (i, *s))), &template) {
                    (Some((i, s)), _) => {
                        if let Some(m) = matched.get_mut(i) {
                            *m = true;
                        }
                        samples.push(run_sample(s, &s.populations, f, true, preread));
                    }
                    (None, Some((ts, pops))) => {
                        samples.push(run_sample(ts, pops, f, false, preread))
                    }
                    (None, None) => samples.push(SampleOutcome {
                        file: fname.to_string(),
                        sample_name: None,
                        rows: Vec::new(),
                        error: Some("matches no workspace sample and the workspace has no group template to apply".into()),
                        warnings: Vec::new(),
                    }),
                }
            }
            for (s, m) in members.iter().zip(&matched) {
                if !*m {
                    samples.push(missing(
                        s,
                        format!(
                            "FCS file not found (no file named {} in {})",
                            locate::candidate_names(s).join(" / "),
                            dir.display()
                        ),
                    ));
                }
            }
        }
    }
    Ok(Analysis {
        samples,
        warnings: ws.warnings.clone(),
    })
}

/// The group's template: its `GroupNode` gate tree (or, when FlowJo saved
/// none, the tree of its first sample), with that first sample's
/// compensation and transforms — FlowJo keeps those per sample, and a new
/// file has none of its own.
fn template<'a>(
    ws: &'a Workspace,
    group: Option<&str>,
    members: &[&'a WspSample],
) -> Option<(&'a WspSample, &'a [Population])> {
    let first = *members.first()?;
    let g = group
        .and_then(|n| ws.group(n))
        .or_else(|| ws.group("All Samples"))
        .filter(|g| !g.template.is_empty());
    Some(match g {
        Some(g) => (first, g.template.as_slice()),
        None => (first, first.populations.as_slice()),
    })
}

fn missing(s: &WspSample, reason: String) -> SampleOutcome {
    let mut rows = vec![PopulationRow {
        population: ROOT.into(),
        parent: String::new(),
        count: None,
        pct_parent: None,
        flowjo_count: s.count,
        note: reason.clone(),
    }];
    for p in &s.populations {
        p.walk("", &mut |path, pop| {
            rows.push(PopulationRow {
                population: path.to_string(),
                parent: parent_of(path),
                count: None,
                pct_parent: None,
                flowjo_count: pop.count,
                note: "sample not analysed".into(),
            })
        });
    }
    SampleOutcome {
        file: locate::candidate_names(s)
            .into_iter()
            .next()
            .unwrap_or_else(|| s.name.clone()),
        sample_name: Some(s.name.clone()),
        rows,
        error: Some(reason),
        warnings: Vec::new(),
    }
}

fn parent_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((p, _)) => p.to_string(),
        None => ROOT.to_string(),
    }
}

/// Gates one file with a sample's (or template's) tree. `own` is false for a
/// file that only borrows a template (FlowJo's counts are not its own).
fn run_sample(
    ws_sample: &WspSample,
    pops: &[Population],
    path: &Path,
    own: bool,
    preread: Option<Result<Sample, crate::fcs::FcsError>>,
) -> SampleOutcome {
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let fail = |error: String, warnings: Vec<Warning>| {
        let mut out = missing(ws_sample, error.clone());
        out.file = file.clone();
        out.warnings = warnings;
        if !own {
            out.rows.iter_mut().for_each(|r| r.flowjo_count = None);
        }
        out
    };
    let fcs: Sample = match preread.unwrap_or_else(|| crate::fcs::read(path)) {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot read FCS file: {e}"), Vec::new()),
    };
    let mut warnings: Vec<Warning> = fcs
        .warnings
        .iter()
        .map(|w| Warning {
            message: format!("{file}: {w}"),
        })
        .collect();
    let Plan {
        strategy,
        populations,
        warnings: plan_warnings,
    } = strategy::plan(ws_sample, pops, &fcs);
    warnings.extend(plan_warnings);
    let results = match strategy.gate_sample(&fcs) {
        Ok(r) => r,
        Err(e) => return fail(format!("gating failed: {e}"), warnings),
    };
    let n = results.n_events() as u64;
    if own {
        if let Some(saved) = ws_sample.count.filter(|&c| c != n) {
            warnings.push(Warning {
                message: format!(
                    "{file}: FlowJo saw {saved} events in sample {:?}, the file has {n}; counts cannot agree",
                    ws_sample.name
                ),
            });
        }
    }
    let mut rows = vec![PopulationRow {
        population: ROOT.into(),
        parent: String::new(),
        count: Some(n),
        pct_parent: Some(100.0),
        flowjo_count: if own { ws_sample.count } else { None },
        note: String::new(),
    }];
    for p in populations {
        let (count, pct, note) = match (&p.status, results.get(&p.path)) {
            (Ok(()), Some(r)) => (Some(r.count as u64), Some(r.pct_parent()), String::new()),
            (Ok(()), None) => (None, None, "not in the gating results".to_string()),
            (Err(e), _) => (None, None, format!("not evaluated: {e}")),
        };
        rows.push(PopulationRow {
            parent: p.parent.clone().unwrap_or_else(|| ROOT.to_string()),
            population: p.path,
            count,
            pct_parent: pct,
            flowjo_count: if own { p.flowjo_count } else { None },
            note,
        });
    }
    SampleOutcome {
        file,
        sample_name: Some(ws_sample.name.clone()),
        rows,
        error: None,
        warnings,
    }
}

/// The group template (see [`analyze`]) as a pipeline, with the notes on
/// what was approximated. Channel names come from the template sample's FCS
/// file, or the first FCS file in `opts.fcs_dir`.
pub fn export_pipeline(
    ws: &Workspace,
    wsp_path: &Path,
    opts: &Options,
) -> Result<super::export::Export, FlowJoError> {
    let wsp_dir = workspace_dir(wsp_path);
    let members = group_members(ws, opts.group.as_deref())?;
    let export_err = |reason: String| FlowJoError::Export {
        path: ws.source.clone(),
        reason,
    };
    let (ts, pops) = template(ws, opts.group.as_deref(), &members)
        .ok_or_else(|| export_err("the group has no samples to take a template from".into()))?;
    let file = match &opts.fcs_dir {
        Some(dir) => locate::locate(ts, dir, Some(dir)).or_else(|e| {
            locate::fcs_files(dir)
                .ok()
                .and_then(|f| f.into_iter().next())
                .ok_or(e)
        }),
        None => locate::locate(ts, &wsp_dir, None),
    }
    .map_err(|e| export_err(format!("an FCS file is needed for the channel names: {e}")))?;
    let fcs = crate::fcs::read(&file)
        .map_err(|e| export_err(format!("cannot read {}: {e}", file.display())))?;
    let stem = wsp_path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("workspace");
    let name = match &opts.group {
        Some(g) => format!("flowjo-{stem}-{g}"),
        None => format!("flowjo-{stem}"),
    };
    Ok(super::export::to_pipeline(&name, ts, pops, &fcs))
}
