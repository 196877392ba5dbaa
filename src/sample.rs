//! The sample model: what one FCS data set is, independent of how it was read.
//!
//! Names follow FlowKit: a [`Sample`] has keywords, channels and events. The
//! events are kept as stored ("raw", after the `$PnR` bit mask) until
//! [`Sample::apply_scale`] turns them into FCS "scale" values — the units
//! Gating-ML 2.0 gates, FlowKit and flowCore's
//! `linearize-with-PnG-scaling` work in (see `shared/gatingml/SEMANTICS.md` §1).

use crate::matrix::EventMatrix;

/// FCS keywords of one data set: keys upper-cased and trimmed (FCS keywords
/// are case-insensitive), values as decoded, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keywords {
    entries: Vec<(String, String)>,
}

impl Keywords {
    /// An empty keyword set.
    pub fn new() -> Self {
        Keywords::default()
    }

    /// Normalises a key the way every lookup does: trimmed, upper-case.
    pub fn normalize_key(key: &str) -> String {
        key.trim().to_ascii_uppercase()
    }

    /// Adds or replaces a keyword. Returns the previous value when the key was
    /// already present (the reader reports duplicates as warnings).
    pub fn insert(&mut self, key: &str, value: impl Into<String>) -> Option<String> {
        let key = Self::normalize_key(key);
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// The value of a keyword, looked up case-insensitively.
    pub fn get(&self, key: &str) -> Option<&str> {
        let key = Self::normalize_key(key);
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value, trimmed, or `None` when absent or blank.
    pub fn get_nonblank(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Removes a keyword, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let key = Self::normalize_key(key);
        let i = self.entries.iter().position(|(k, _)| *k == key)?;
        Some(self.entries.remove(i).1)
    }

    /// All keywords in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of keywords.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no keywords.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl FromIterator<(String, String)> for Keywords {
    /// Builds a keyword set in one pass: a hash index finds repeated keys, so
    /// a TEXT segment with thousands of keywords is not quadratic (as repeated
    /// [`Keywords::insert`] would be). A repeated key keeps its first position
    /// and takes the later value, as `insert` does.
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut index = std::collections::HashMap::new();
        let mut entries: Vec<(String, String)> = Vec::new();
        for (k, v) in iter {
            let k = Self::normalize_key(&k);
            match index.get(&k) {
                Some(&i) => {
                    if let Some(e) = entries.get_mut(i) {
                        let e: &mut (String, String) = e;
                        e.1 = v;
                    }
                }
                None => {
                    index.insert(k.clone(), entries.len());
                    entries.push((k, v));
                }
            }
        }
        Keywords { entries }
    }
}

/// One parameter (`$Pn…`) of a data set.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// 1-based parameter number `n`.
    pub number: usize,
    /// `$PnN`, verbatim (trimmed).
    pub name: String,
    /// `$PnS`, `None` when absent or blank.
    pub label: Option<String>,
    /// `$PnR`.
    pub range: f64,
    /// `$PnB` as written (bits per value in the DATA segment).
    pub bits: u32,
    /// `$PnG`; `None` when absent, 0 or 1 (no gain division).
    pub gain: Option<f64>,
    /// `$PnE` as `(f1, f2)` when `f1 > 0` (log amplification); `f2` of 0 is
    /// already replaced by 1 as the FCS standard says.
    pub log: Option<(f64, f64)>,
}

impl Channel {
    /// True for the acquisition time channel (`$PnN` "Time", any case).
    pub fn is_time(&self) -> bool {
        self.name.trim().eq_ignore_ascii_case("time")
    }

    /// True for forward/side scatter channels.
    pub fn is_scatter(&self) -> bool {
        let n = self.name.trim().to_ascii_uppercase();
        n.starts_with("FSC") || n.starts_with("SSC") || n.starts_with("FS ") || n.starts_with("SS ")
    }

    /// Converts a stored value to the FCS scale: log amplification first
    /// (`f2·10^(f1·x/$PnR)`), then division by the gain — both when a channel
    /// has both (the time step is applied by [`Sample::apply_scale`]).
    ///
    /// Why both: FCS 3.1 only discourages `$PnG` on log-amplified channels,
    /// so real files carry both (Guava Muse: `$PnE 4,1` with `$PnG 2.95`), and
    /// the reference for FCS scale values — FlowIO's
    /// `FlowData.as_array(preprocess=True)`, which FlowKit and
    /// `shared/gatingml/SEMANTICS.md` §1 follow — linearises the log value and
    /// then divides it by the gain. tests/fcs_scale_flowio.rs checks this.
    #[inline]
    pub fn scale_value(&self, raw: f64) -> f64 {
        let x = match self.log {
            Some((f1, f2)) => f2 * 10f64.powf(f1 * raw / self.range),
            None => raw,
        };
        match self.gain {
            Some(g) => x / g,
            None => x,
        }
    }

    /// Converts a stored column of this channel to the FCS scale in place.
    /// The time channel takes only `$TIMESTEP`: instruments (BD FACSDiva)
    /// also write a `$PnG` for Time, equal to the time step, which is not an
    /// amplifier gain — FlowIO/FlowKit ignore it, and so do we.
    pub fn scale_column(&self, timestep: Option<f64>, col: &mut [f64]) {
        if self.is_time() {
            if let Some(t) = timestep {
                col.iter_mut().for_each(|x| *x *= t);
            }
        } else {
            if let Some((f1, f2)) = self.log {
                let k = f1 / self.range;
                col.iter_mut().for_each(|x| *x = f2 * 10f64.powf(k * *x));
            }
            if let Some(g) = self.gain {
                col.iter_mut().for_each(|x| *x /= g);
            }
        }
    }
}

/// Which units the events are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// As stored in the DATA segment (after the `$PnR` mask).
    Raw,
    /// FCS scale: `$PnE` log amplification, `$PnG` gain and `$TIMESTEP` applied.
    Fcs,
}

/// Something the reader repaired or ignored; travels with the sample so that
/// `info`, run.json and the report can show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// One sentence naming the segment/keyword and what was done.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One FCS data set: keywords, channels and events.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Where it came from (file name or path as given), for messages.
    pub source: String,
    /// "2.0", "3.0", "3.1", "3.2".
    pub fcs_version: String,
    /// 0-based index of this data set in the file.
    pub dataset: usize,
    /// Number of data sets in the file (by `$NEXTDATA`).
    pub n_datasets: usize,
    /// All TEXT (and supplemental TEXT) keywords.
    pub keywords: Keywords,
    /// Keywords of the ANALYSIS segment (results of an earlier analysis that
    /// some instruments store, such as gate definitions); empty when the data
    /// set has none. Never consulted for decoding.
    pub analysis: Keywords,
    /// Parameters in `$Pn` order; column `j` of `events` is `channels[j]`.
    pub channels: Vec<Channel>,
    /// Events × channels, column names = `$PnN`.
    pub events: EventMatrix,
    /// Units of `events`.
    pub scale: Scale,
    /// Repairs and oddities the reader noticed.
    pub warnings: Vec<Warning>,
}

impl Sample {
    /// `$TIMESTEP`, when present and a positive number.
    pub fn timestep(&self) -> Option<f64> {
        self.keywords
            .get_nonblank("$TIMESTEP")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t > 0.0)
    }

    /// Number of events.
    pub fn n_events(&self) -> usize {
        self.events.n_events()
    }

    /// Index of a channel by `$PnN` name, or else by `$PnS` label (exact,
    /// then case-insensitive).
    pub fn channel_index(&self, name_or_label: &str) -> Option<usize> {
        let q = name_or_label.trim();
        self.channels
            .iter()
            .position(|c| c.name == q)
            .or_else(|| {
                self.channels
                    .iter()
                    .position(|c| c.label.as_deref() == Some(q))
            })
            .or_else(|| {
                self.channels
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(q))
            })
            .or_else(|| {
                self.channels.iter().position(|c| {
                    c.label
                        .as_deref()
                        .is_some_and(|l| l.eq_ignore_ascii_case(q))
                })
            })
    }

    /// The spillover keyword text, by the precedence real files need:
    /// `$SPILLOVER`, `SPILL`, `$SPILL`, then `$COMP`. Returns `(keyword, value)`.
    pub fn spillover_text(&self) -> Option<(&'static str, &str)> {
        ["$SPILLOVER", "SPILL", "$SPILL", "$COMP"]
            .into_iter()
            .find_map(|k| self.keywords.get_nonblank(k).map(|v| (k, v)))
    }

    /// Converts the events in place from raw to FCS scale values (no-op when
    /// already scaled). Column-wise, so each channel's rule is decided once.
    pub fn apply_scale(&mut self) {
        if self.scale == Scale::Fcs {
            return;
        }
        let timestep = self.timestep();
        for (j, ch) in self.channels.iter().enumerate() {
            ch.scale_column(timestep, self.events.column_mut(j));
        }
        self.scale = Scale::Fcs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &str, gain: Option<f64>, log: Option<(f64, f64)>) -> Channel {
        Channel {
            number: 1,
            name: name.into(),
            label: None,
            range: 1024.0,
            bits: 16,
            gain,
            log,
        }
    }

    #[test]
    fn keywords_are_case_insensitive_and_trimmed() {
        let mut k = Keywords::new();
        assert_eq!(k.insert(" $tot ", "10"), None);
        assert_eq!(k.get("$TOT"), Some("10"));
        assert_eq!(k.insert("$Tot", "11"), Some("10".into()));
        assert_eq!(k.len(), 1);
    }

    #[test]
    fn scale_follows_gatingml_rules() {
        // FL1-H of data1.fcs: $P3E = 4,0 (f2 = 0 → 1), $PnR = 1024.
        let log = channel("FL1-H", None, Some((4.0, 1.0)));
        assert!((log.scale_value(207.0) - 6.4356698).abs() < 1e-6);
        // FSC-H with $P1G = 3.67: 103 / 3.67 = 28.065395…
        let gain = channel("FSC-H", Some(3.67), None);
        assert!((gain.scale_value(103.0) - 28.065395).abs() < 1e-6);
        // Log amplification and gain together: linearise, then divide.
        let both = channel("YEL-HLog", Some(2.0), Some((4.0, 1.0)));
        assert_eq!(both.scale_value(512.0), 50.0);
        let mut col = [512.0, 0.0];
        both.scale_column(None, &mut col);
        assert_eq!(col, [50.0, 0.5]);
    }
}
