//! Marker panel matching: which channel of a file carries which marker.
//!
//! Labs spell the same marker differently (`CD56`, `NCAM1`, `CD56 PE-Cy7`,
//! `CD56-BV605`), order channels differently and record both area and height
//! parameters. One preset reads them all under a single rule:
//!
//! **The matching rule.** A marker's alias matches a channel when, ignoring
//! case, the alias occurs in the channel's `$PnS` label or its `$PnN` name as
//! a *whole token*: the characters just before and after the occurrence are
//! the start/end of the text or not letters/digits. So `CD56` matches
//! `CD56 PE-Cy7` and `CD56-BV605` but not `CD564`; `CD16` does not match
//! `CD161`; `L/D` matches `L/D Aqua`. An alias ending in `*` may be followed
//! by more letters/digits: `KIR2DL*` matches `KIR2DL1`. A blank `$PnS` counts
//! as absent (only `$PnN` is tried).
//!
//! When several channels match, an area parameter wins over its height and
//! width siblings: if the candidates are one parameter family (same `$PnN`
//! up to a `-A`/`-H`/`-W` suffix), the `-A` one is taken. Otherwise the
//! marker is ambiguous and the error lists the candidates; a marker that
//! matches nothing is an error listing every channel. An override (samplesheet
//! column `channel:<marker>` or `--panel FILE`) names the channel directly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sample::Channel;

/// One marker of a panel and the names it may go by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkerSpec {
    /// The name the pipeline uses (gates, columns).
    pub marker: String,
    /// Spellings to look for (the marker name itself is always tried too).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// An optional marker may be missing without error (its gates and
    /// columns are then empty with a flag).
    #[serde(default)]
    pub optional: bool,
}

/// Why a panel could not be resolved for a file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PanelError {
    #[error("marker {marker:?} not found: no $PnS/$PnN matches any of [{aliases}]; channels: {channels}")]
    Missing {
        marker: String,
        aliases: String,
        channels: String,
    },
    #[error("marker {marker:?} is ambiguous: candidates {candidates}; name the channel with a samplesheet column \"channel:{marker}\" or --panel")]
    Ambiguous { marker: String, candidates: String },
    #[error("panel override for {marker:?} names channel {channel:?}, which is not in the file; channels: {channels}")]
    UnknownOverride {
        marker: String,
        channel: String,
        channels: String,
    },
    #[error("channel {channel} matches both markers {first:?} and {second:?}; name the channel with an override")]
    SharedChannel {
        channel: String,
        first: String,
        second: String,
    },
}

/// One resolved marker: the channel index and how it was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    /// 0-based column index in the file.
    pub index: usize,
    /// `$PnN` of that channel.
    pub channel: String,
    /// `$PnS` of that channel, if any.
    pub label: Option<String>,
    /// "override", or the alias that matched.
    pub matched_by: String,
}

/// The resolved panel of one file: marker → channel (absent optional markers
/// are left out).
pub type ResolvedPanel = BTreeMap<String, Resolved>;

/// True when `alias` occurs in `text` as a whole token (see the module docs).
pub fn alias_matches(alias: &str, text: &str) -> bool {
    let (alias, wildcard) = match alias.trim().strip_suffix('*') {
        Some(a) => (a, true),
        None => (alias.trim(), false),
    };
    if alias.is_empty() {
        return false;
    }
    let a: Vec<char> = alias.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    if a.len() > t.len() {
        return false;
    }
    for start in 0..=(t.len() - a.len()) {
        if t[start..start + a.len()] != a[..] {
            continue;
        }
        let before_ok = start == 0 || !t[start - 1].is_alphanumeric();
        let mut end = start + a.len();
        if wildcard {
            while end < t.len() && t[end].is_alphanumeric() {
                end += 1;
            }
        }
        let after_ok = end == t.len() || !t[end].is_alphanumeric();
        if before_ok && after_ok {
            return true;
        }
    }
    false
}

fn describe(c: &Channel) -> String {
    match &c.label {
        Some(l) => format!("{} ({})", c.name, l),
        None => c.name.clone(),
    }
}

/// `$PnN` without a trailing `-A`/`-H`/`-W`, and which suffix it had.
fn family(name: &str) -> (String, Option<char>) {
    let n = name.trim();
    let upper = n.to_ascii_uppercase();
    for s in ['A', 'H', 'W'] {
        if upper.ends_with(&format!("-{s}")) && n.len() > 2 {
            return (upper[..upper.len() - 2].to_string(), Some(s));
        }
    }
    (upper, None)
}

/// Resolves every marker of `markers` against `channels`.
///
/// `overrides` maps marker names (case-insensitive) to a channel `$PnN` (or,
/// failing that, an exact `$PnS`). Errors name the marker and the candidates.
pub fn resolve(
    markers: &[MarkerSpec],
    channels: &[Channel],
    overrides: &BTreeMap<String, String>,
) -> Result<ResolvedPanel, PanelError> {
    let all = || channels.iter().map(describe).collect::<Vec<_>>().join(", ");
    let mut out = ResolvedPanel::new();
    for m in markers {
        let over = overrides
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(m.marker.trim()))
            .map(|(_, v)| v.trim());
        if let Some(ch) = over.filter(|v| !v.is_empty()) {
            let idx = channels
                .iter()
                .position(|c| c.name == ch)
                .or_else(|| {
                    channels
                        .iter()
                        .position(|c| c.name.eq_ignore_ascii_case(ch))
                })
                .or_else(|| channels.iter().position(|c| c.label.as_deref() == Some(ch)))
                .ok_or_else(|| PanelError::UnknownOverride {
                    marker: m.marker.clone(),
                    channel: ch.to_string(),
                    channels: all(),
                })?;
            out.insert(m.marker.clone(), resolved(channels, idx, "override"));
            continue;
        }
        let mut names: Vec<&str> = vec![m.marker.as_str()];
        names.extend(m.aliases.iter().map(String::as_str));
        let mut cands: Vec<(usize, &str)> = Vec::new();
        for (i, c) in channels.iter().enumerate() {
            let label = c.label.as_deref().map(str::trim).filter(|l| !l.is_empty());
            if let Some(alias) = names
                .iter()
                .find(|a| label.is_some_and(|l| alias_matches(a, l)) || alias_matches(a, &c.name))
            {
                cands.push((i, alias));
            }
        }
        let pick = match cands.len() {
            0 if m.optional => continue,
            0 => {
                return Err(PanelError::Missing {
                    marker: m.marker.clone(),
                    aliases: names.join(", "),
                    channels: all(),
                })
            }
            1 => cands[0],
            _ => {
                let fams: Vec<(String, Option<char>)> = cands
                    .iter()
                    .map(|(i, _)| family(&channels[*i].name))
                    .collect();
                let one_family = fams.iter().all(|f| f.0 == fams[0].0);
                let areas: Vec<usize> = (0..cands.len())
                    .filter(|&k| fams[k].1 == Some('A'))
                    .collect();
                if one_family && areas.len() == 1 {
                    cands[areas[0]]
                } else {
                    return Err(PanelError::Ambiguous {
                        marker: m.marker.clone(),
                        candidates: cands
                            .iter()
                            .map(|(i, _)| describe(&channels[*i]))
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        };
        out.insert(m.marker.clone(), resolved(channels, pick.0, pick.1));
    }
    // One channel, one marker: two markers on one channel means a label
    // like "CD3 CD56" (a dump channel) that no preset should guess about.
    let mut seen: BTreeMap<usize, &str> = BTreeMap::new();
    for (marker, r) in &out {
        if let Some(first) = seen.insert(r.index, marker) {
            return Err(PanelError::SharedChannel {
                channel: r.channel.clone(),
                first: first.to_string(),
                second: marker.clone(),
            });
        }
    }
    Ok(out)
}

fn resolved(channels: &[Channel], idx: usize, how: &str) -> Resolved {
    let c = &channels[idx];
    Resolved {
        index: idx,
        channel: c.name.clone(),
        label: c.label.clone(),
        matched_by: how.to_string(),
    }
}

/// Reads a `--panel FILE`: either JSON (`{"CD56": "PE-Cy7-A", …}`) or CSV
/// with columns `marker,channel`.
pub fn read_override_file(path: &std::path::Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: not a JSON object of marker → channel: {e}",
                path.display()
            )
        });
    }
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let col = |n: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(n));
    let (Some(mi), Some(ci)) = (col("marker"), col("channel")) else {
        return Err(format!(
            "{}: a panel CSV needs columns \"marker\" and \"channel\" (found: {})",
            path.display(),
            headers.iter().collect::<Vec<_>>().join(", ")
        ));
    };
    let mut out = BTreeMap::new();
    for (k, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| format!("{}: row {}: {e}", path.display(), k + 2))?;
        let (Some(m), Some(c)) = (rec.get(mi), rec.get(ci)) else {
            return Err(format!(
                "{}: row {}: missing marker or channel",
                path.display(),
                k + 2
            ));
        };
        out.insert(m.to_string(), c.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(name: &str, label: Option<&str>) -> Channel {
        Channel {
            number: 1,
            name: name.into(),
            label: label.map(String::from),
            range: 262144.0,
            bits: 32,
            gain: None,
            log: None,
        }
    }

    fn spec(marker: &str, aliases: &[&str]) -> MarkerSpec {
        MarkerSpec {
            marker: marker.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            optional: false,
        }
    }

    #[test]
    fn whole_token_rule() {
        assert!(alias_matches("CD56", "CD56 PE-Cy7"));
        assert!(alias_matches("cd56", "CD56-BV605"));
        assert!(!alias_matches("CD56", "CD564"));
        assert!(!alias_matches("CD16", "CD161 FITC"));
        assert!(alias_matches("L/D", "L/D Aqua"));
        assert!(alias_matches("Ki-67", "ki-67 AF700"));
        assert!(alias_matches("KIR2DL*", "KIR2DL1/S1 APC"));
        assert!(!alias_matches("KIR2DL", "KIR2DL1"));
        assert!(alias_matches("FSC", "FSC-A"));
        assert!(!alias_matches("FSC-A", "FSC-H"));
    }

    #[test]
    fn area_wins_and_blank_label_is_absent() {
        let chans = vec![
            ch("FSC-A", None),
            ch("FSC-H", None),
            ch("B1-H", Some("NCAM1")),
            ch("B1-A", Some("NCAM1")),
            ch("V1-A", Some("  ")),
        ];
        let p = resolve(
            &[spec("CD56", &["NCAM1"]), spec("FSC-A", &["FSC"])],
            &chans,
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(p["CD56"].channel, "B1-A");
        assert_eq!(p["CD56"].matched_by, "NCAM1");
        assert_eq!(p["FSC-A"].channel, "FSC-A");
        let e = resolve(&[spec("CD3", &[])], &chans, &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("B1-A (NCAM1)"), "{e}");
    }

    #[test]
    fn ambiguous_lists_candidates_and_override_resolves() {
        let chans = vec![ch("R1-A", Some("CD158a")), ch("R2-A", Some("KIR2DL1"))];
        let kir = spec("KIR", &["CD158*", "KIR2DL*"]);
        let e = resolve(std::slice::from_ref(&kir), &chans, &BTreeMap::new()).unwrap_err();
        assert!(matches!(e, PanelError::Ambiguous { .. }));
        assert!(
            e.to_string().contains("R1-A (CD158a), R2-A (KIR2DL1)"),
            "{e}"
        );
        let over = BTreeMap::from([("kir".to_string(), "R2-A".to_string())]);
        assert_eq!(resolve(&[kir], &chans, &over).unwrap()["KIR"].index, 1);
    }

    #[test]
    fn one_channel_cannot_carry_two_markers() {
        let chans = vec![ch("V1-A", Some("CD3 CD56"))];
        let e = resolve(
            &[spec("CD3", &[]), spec("CD56", &[])],
            &chans,
            &BTreeMap::new(),
        );
        assert!(matches!(e, Err(PanelError::SharedChannel { .. })));
    }
}
