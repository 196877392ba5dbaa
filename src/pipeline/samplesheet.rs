//! The samplesheet: per-file metadata that travels into results.csv and the
//! numbers absolute counts need.
//!
//! A CSV with a `file` column (a file name, or a path whose last component
//! is matched) plus any other columns. `beads_per_tube`, `blood_volume_ul`,
//! `alc_per_ul` and `nk_donor_chimerism_pct` are read as numbers when a
//! statistic needs them; `channel:<marker>` columns override the panel for
//! that file. Every column except `file` is carried into results.csv, in
//! sheet order.
//!
//! A malformed row (wrong number of fields, duplicate file) does not stop the
//! batch: it is remembered with its line number and becomes the error of the
//! file it names, while every other file is processed as usual.

use std::collections::BTreeMap;
use std::path::Path;

/// Why a samplesheet cannot be used at all (a bad *row* is not this).
#[derive(Debug, thiserror::Error)]
pub enum SamplesheetError {
    #[error("{path}: {message}")]
    Unusable { path: String, message: String },
}

/// One data row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line number in the CSV (header = 1).
    pub line: usize,
    /// The `file` value as written.
    pub file: String,
    /// Values aligned with [`Samplesheet::columns`] (empty when malformed).
    pub values: Vec<String>,
    /// Why this row cannot be used.
    pub error: Option<String>,
}

/// A parsed samplesheet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Samplesheet {
    /// Where it came from, for messages.
    pub source: String,
    /// Carried column names (every header except `file`), in order.
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

/// The 1-based line of the first non-blank line at or after byte `at` (the
/// csv crate reports a record's position before the blank lines it skipped).
fn line_of(bytes: &[u8], at: usize) -> usize {
    let at = at.min(bytes.len());
    let mut line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
    for &b in &bytes[at..] {
        match b {
            b'\n' => line += 1,
            b'\r' => {}
            _ => break,
        }
    }
    line
}

/// The outcome of looking an input up in the samplesheet.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<'a> {
    Found(&'a Row),
    /// No row names this file.
    Missing,
    /// Several rows name this file (their line numbers).
    Duplicate(Vec<usize>),
}

impl Samplesheet {
    /// Reads a samplesheet file.
    pub fn from_file(path: &Path) -> Result<Samplesheet, SamplesheetError> {
        let bytes = std::fs::read(path).map_err(|e| SamplesheetError::Unusable {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Samplesheet::from_bytes(&bytes, &path.display().to_string())
    }

    /// Parses samplesheet CSV bytes; `source` names it in messages.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Samplesheet, SamplesheetError> {
        let unusable = |message: String| SamplesheetError::Unusable {
            path: source.to_string(),
            message,
        };
        // A UTF-8 byte-order mark (Excel's "CSV UTF-8") is not part of the
        // first header.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let headers = rdr
            .headers()
            .map_err(|e| unusable(format!("header: {e}")))?
            .clone();
        let file_col = headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case("file"))
            .ok_or_else(|| {
                unusable(format!(
                    "no \"file\" column (columns: {})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ))
            })?;
        let columns: Vec<String> = headers
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != file_col)
            .map(|(_, h)| h.to_string())
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for c in &columns {
            if c.is_empty() || !seen.insert(c.to_ascii_lowercase()) {
                return Err(unusable(format!("column name {c:?} is empty or repeated")));
            }
        }
        let mut rows = Vec::new();
        for rec in rdr.records() {
            let rec = match rec {
                Ok(r) => r,
                // Only invalid UTF-8 gets here (flexible mode); the row's
                // file cannot be known, so it matches nothing.
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line() as usize);
                    rows.push(Row {
                        line,
                        file: String::new(),
                        values: Vec::new(),
                        error: Some(format!("{source}: line {line}: {e}")),
                    });
                    continue;
                }
            };
            let line = rec
                .position()
                .map_or(0, |p| line_of(bytes, p.byte() as usize));
            if rec.iter().all(str::is_empty) {
                continue;
            }
            let file = rec.get(file_col).unwrap_or("").to_string();
            let mut row = Row {
                line,
                file,
                values: Vec::new(),
                error: None,
            };
            if rec.len() != headers.len() {
                row.error = Some(format!(
                    "{source}: line {line}: {} fields, but the header has {}",
                    rec.len(),
                    headers.len()
                ));
            } else {
                row.values = rec
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| i != file_col)
                    .map(|(_, v)| v.to_string())
                    .collect();
            }
            rows.push(row);
        }
        Ok(Samplesheet {
            source: source.to_string(),
            columns,
            rows,
        })
    }

    /// Finds the row of an input file: by the path as given, else by the
    /// last component of the row's `file` against the input's file name.
    pub fn lookup(&self, input: &Path) -> Lookup<'_> {
        let name = input.file_name().map(|n| n.to_string_lossy().into_owned());
        let hits: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| {
                !r.file.is_empty()
                    && (Path::new(&r.file) == input
                        || Path::new(&r.file)
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            == name)
            })
            .collect();
        match hits.as_slice() {
            [] => Lookup::Missing,
            [one] => Lookup::Found(one),
            many => Lookup::Duplicate(many.iter().map(|r| r.line).collect()),
        }
    }

    /// The value of a column in a row (by case-insensitive name).
    pub fn value<'a>(&self, row: &'a Row, column: &str) -> Option<&'a str> {
        let i = self
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))?;
        row.values
            .get(i)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// True when the sheet has this column.
    pub fn has_column(&self, column: &str) -> bool {
        self.columns.iter().any(|c| c.eq_ignore_ascii_case(column))
    }

    /// A numeric value: `Ok(None)` when empty, an error naming the line and
    /// column when not a finite number.
    pub fn number(&self, row: &Row, column: &str) -> Result<Option<f64>, String> {
        match self.value(row, column) {
            None => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(format!(
                    "{}: line {}: {column} = {v:?} is not a number",
                    self.source, row.line
                )),
            },
        }
    }

    /// Panel overrides of a row: `channel:<marker>` columns with a value.
    pub fn panel_overrides(&self, row: &Row) -> BTreeMap<String, String> {
        self.columns
            .iter()
            .zip(&row.values)
            .filter_map(|(c, v)| {
                let m = c.strip_prefix("channel:")?;
                (!v.is_empty()).then(|| (m.to_string(), v.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHEET: &str = "\u{feff}file,patient_id,day,beads_per_tube,blood_volume_ul,channel:CD56\n\
        P01_D30.fcs,P01,30,50000,50,\n\
        data/P02_D30.fcs,P02,30,50000,50,B1-A\n\
        P03_D30.fcs,P03,30,5e4\n\
        P04_D30.fcs,P04,30,lots,50,\n\
        \n\
        P05.fcs,P05,7,1,1,\n\
        P05.fcs,P05b,7,1,1,\n";

    #[test]
    fn parses_rows_and_keeps_bad_ones_as_errors() {
        let s = Samplesheet::from_bytes(SHEET.as_bytes(), "sheet.csv").unwrap();
        assert_eq!(
            s.columns,
            [
                "patient_id",
                "day",
                "beads_per_tube",
                "blood_volume_ul",
                "channel:CD56"
            ]
        );
        let Lookup::Found(r1) = s.lookup(Path::new("/x/P01_D30.fcs")) else {
            panic!()
        };
        assert_eq!(s.number(r1, "beads_per_tube"), Ok(Some(50000.0)));
        assert_eq!(s.number(r1, "alc_per_ul"), Ok(None));
        assert!(s.panel_overrides(r1).is_empty());
        let Lookup::Found(r2) = s.lookup(Path::new("in/P02_D30.fcs")) else {
            panic!()
        };
        assert_eq!(s.panel_overrides(r2)["CD56"], "B1-A");
        let Lookup::Found(r3) = s.lookup(Path::new("P03_D30.fcs")) else {
            panic!()
        };
        assert_eq!(
            r3.error.as_deref(),
            Some("sheet.csv: line 4: 4 fields, but the header has 6")
        );
        let Lookup::Found(r4) = s.lookup(Path::new("P04_D30.fcs")) else {
            panic!()
        };
        assert!(s
            .number(r4, "beads_per_tube")
            .unwrap_err()
            .contains("line 5"));
        assert_eq!(
            s.lookup(Path::new("P05.fcs")),
            Lookup::Duplicate(vec![7, 8])
        );
        assert_eq!(s.lookup(Path::new("P09.fcs")), Lookup::Missing);
    }

    #[test]
    fn a_sheet_without_file_column_is_unusable() {
        let e = Samplesheet::from_bytes(b"name,day\nx,1\n", "s.csv").unwrap_err();
        assert!(e
            .to_string()
            .contains("no \"file\" column (columns: name, day)"));
    }
}
