//! `nkflow info [--json] [--dataset K] FILE...`: what an FCS file holds.
//!
//! Human output is a short summary per file; `--json` prints exactly one JSON
//! object per file and line (channels and per-channel statistics of the raw
//! values in `$Pn` order), for scripts and for comparing with other readers.
//! A file that cannot be read is reported on stderr (file and problem) and
//! makes the exit status non-zero; the other files are still shown.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use crate::fcs::{self, Reader};
use crate::sample::{Keywords, Sample};

/// Arguments of `nkflow info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// One JSON object per file (one per line).
    #[arg(long)]
    pub json: bool,
    /// Data set to show (0-based, following $NEXTDATA).
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub dataset: usize,
    /// FCS files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Serialize)]
struct ChannelJson<'a> {
    name: &'a str,
    label: Option<&'a str>,
    range: f64,
    bits: u32,
    gain: Option<f64>,
    log: Option<[f64; 2]>,
}

#[derive(Serialize)]
struct StatJson<'a> {
    channel: &'a str,
    sum: f64,
    min: Option<f64>,
    max: Option<f64>,
}

#[derive(Serialize)]
struct InfoJson<'a> {
    file: String,
    dataset: usize,
    fcs_version: &'a str,
    datatype: Option<&'a str>,
    byteord: Option<&'a str>,
    n_events: usize,
    n_params: usize,
    n_datasets: usize,
    channels: Vec<ChannelJson<'a>>,
    keywords: serde_json::Map<String, serde_json::Value>,
    /// ANALYSIS segment keywords; the key is absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    analysis: Option<serde_json::Map<String, serde_json::Value>>,
    warnings: Vec<String>,
    stats: Vec<StatJson<'a>>,
}

/// Runs `nkflow info`.
// `crate::Error` grew a large variant (GatingFile); boxing it is for its owner.
pub fn run(args: &InfoArgs) -> crate::Result<ExitCode> {
    let mut reader = Reader::new();
    let mut sample = fcs::empty_sample();
    let mut failed = false;
    let stdout = std::io::stdout();
    for path in &args.files {
        if let Err(e) = reader.read_into(path, args.dataset, &mut sample) {
            eprintln!("nkflow: error: {e}");
            failed = true;
            continue;
        }
        let text = if args.json {
            let mut s = serde_json::to_string(&to_json(&sample)).map_err(|e| {
                crate::Error::Usage(format!("{}: JSON output failed: {e}", path.display()))
            })?;
            s.push('\n');
            s
        } else {
            human(&sample)
        };
        let mut out = stdout.lock();
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(crate::Error::io("<stdout>", e));
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn to_json(s: &Sample) -> InfoJson<'_> {
    InfoJson {
        file: s.source.clone(),
        dataset: s.dataset,
        fcs_version: &s.fcs_version,
        datatype: s.keywords.get("$DATATYPE"),
        byteord: s.keywords.get("$BYTEORD"),
        n_events: s.n_events(),
        n_params: s.channels.len(),
        n_datasets: s.n_datasets,
        channels: s
            .channels
            .iter()
            .map(|c| ChannelJson {
                name: &c.name,
                label: c.label.as_deref(),
                range: c.range,
                bits: c.bits,
                gain: c.gain,
                log: c.log.map(|(a, b)| [a, b]),
            })
            .collect(),
        keywords: json_map(&s.keywords),
        analysis: (!s.analysis.is_empty()).then(|| json_map(&s.analysis)),
        warnings: s.warnings.iter().map(|w| w.message.clone()).collect(),
        stats: s
            .channels
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let col = s.events.column(j);
                let (sum, min, max) = column_stats(col);
                StatJson {
                    channel: &c.name,
                    sum,
                    min,
                    max,
                }
            })
            .collect(),
    }
}

fn json_map(k: &Keywords) -> serde_json::Map<String, serde_json::Value> {
    k.iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
        .collect()
}

/// Sum, minimum and maximum of one column (min/max `None` without events).
fn column_stats(col: &[f64]) -> (f64, Option<f64>, Option<f64>) {
    if col.is_empty() {
        return (0.0, None, None);
    }
    let sum = col.iter().sum();
    let min = col.iter().copied().fold(f64::INFINITY, f64::min);
    let max = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (sum, Some(min), Some(max))
}

fn human(s: &Sample) -> String {
    use std::fmt::Write as _;
    let k = |key: &str| s.keywords.get_nonblank(key).unwrap_or("-");
    let mut o = String::new();
    let _ = writeln!(o, "{}", s.source);
    let _ = writeln!(
        o,
        "  FCS {}, data set {} of {} (0-based), $DATATYPE {}, $BYTEORD {}",
        s.fcs_version,
        s.dataset,
        s.n_datasets,
        k("$DATATYPE"),
        k("$BYTEORD")
    );
    let _ = writeln!(o, "  instrument: {}", k("$CYT"));
    let _ = writeln!(
        o,
        "  events × channels: {} × {}",
        fcs::error::thousands(s.n_events() as u64),
        s.channels.len()
    );
    match s.spillover_text() {
        Some((key, v)) => {
            let n = v.split(',').next().unwrap_or("?").trim();
            let _ = writeln!(o, "  spillover: {key} ({n} channels)");
        }
        None => {
            let _ = writeln!(o, "  spillover: none");
        }
    }
    let name_w = s
        .channels
        .iter()
        .map(|c| c.name.chars().count())
        .chain([11])
        .max()
        .unwrap_or(11);
    let label_w = s
        .channels
        .iter()
        .map(|c| c.label.as_deref().map_or(1, |l| l.chars().count()))
        .chain([12])
        .max()
        .unwrap_or(12);
    let _ = writeln!(
        o,
        "  {:>3}  {:<name_w$}  {:<label_w$}  {:>12} {:>4} {:>8} {:>8}",
        "#", "name ($PnN)", "label ($PnS)", "range", "bits", "gain", "log"
    );
    for c in &s.channels {
        let gain = c.gain.map_or("-".to_string(), |g| g.to_string());
        let log = c.log.map_or("-".to_string(), |(a, b)| format!("{a},{b}"));
        let _ = writeln!(
            o,
            "  {:>3}  {:<name_w$}  {:<label_w$}  {:>12} {:>4} {:>8} {:>8}",
            c.number,
            c.name,
            c.label.as_deref().unwrap_or("-"),
            c.range,
            c.bits,
            gain,
            log
        );
    }
    if !s.analysis.is_empty() {
        let _ = writeln!(o, "  ANALYSIS segment: {} keywords", s.analysis.len());
        for (k, v) in s.analysis.iter() {
            // Values may span lines (Partec writes newline-separated lists).
            let v = v.replace(['\r', '\n'], " ");
            let _ = writeln!(o, "    {k} = {v}");
        }
    }
    if s.warnings.is_empty() {
        let _ = writeln!(o, "  warnings: none");
    } else {
        let _ = writeln!(o, "  warnings:");
        for w in &s.warnings {
            let _ = writeln!(o, "    - {w}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_empty_and_full_columns() {
        assert_eq!(column_stats(&[]), (0.0, None, None));
        assert_eq!(
            column_stats(&[3.0, -1.0, 2.0]),
            (4.0, Some(-1.0), Some(3.0))
        );
    }
}
