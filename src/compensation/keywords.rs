//! Reading spillover matrices from where files keep them: the FCS keywords
//! (`$SPILLOVER` in FCS 3.1, `SPILL`/`$SPILL` written by BD FACSDiva and
//! others, FCS 3.0 `$COMP`, FCS 2.0 `$DFCiTOj`) and FlowJo/FlowKit CSV files.

use super::{CompensationError, Matrix};
use crate::Sample;

/// The single-value spillover keywords, in precedence order.
pub const SPILLOVER_KEYWORDS: [&str; 4] = ["$SPILLOVER", "SPILL", "$SPILL", "$COMP"];

fn keyword_error(keyword: &str, reason: impl Into<String>) -> CompensationError {
    CompensationError::Keyword {
        keyword: keyword.to_string(),
        reason: reason.into(),
    }
}

fn parse_number(keyword: &str, field: usize, s: &str) -> Result<f64, CompensationError> {
    let t = s.trim();
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| keyword_error(keyword, format!("field {field} is {t:?}, not a number")))
}

/// `n, name_1…name_n, s_11 … s_nn`. Trailing empty fields (a final comma)
/// are tolerated; any other count mismatch is an error.
pub(super) fn parse_spillover(keyword: &str, text: &str) -> Result<Matrix, CompensationError> {
    let mut fields: Vec<&str> = text.split(',').collect();
    while fields.len() > 1 && fields.last().is_some_and(|f| f.trim().is_empty()) {
        fields.pop();
    }
    let first = fields.first().map(|f| f.trim()).unwrap_or("");
    let n: usize = first.parse().map_err(|_| {
        keyword_error(
            keyword,
            format!("first field {first:?} should be the number of detectors"),
        )
    })?;
    if n == 0 {
        return Err(keyword_error(keyword, "lists 0 detectors"));
    }
    let expected = 1 + n + n * n;
    if fields.len() != expected {
        return Err(keyword_error(
            keyword,
            format!(
                "n = {n} needs {expected} comma-separated fields (n, {n} names, {} values), found {}",
                n * n,
                fields.len()
            ),
        ));
    }
    let names: Vec<String> = fields[1..=n]
        .iter()
        .map(|s| s.trim().replace('\n', ""))
        .collect();
    let values = fields[n + 1..]
        .iter()
        .enumerate()
        .map(|(k, s)| parse_number(keyword, n + 2 + k, s))
        .collect::<Result<Vec<_>, _>>()?;
    Matrix::new(names.clone(), names, values, false)
        .map_err(|e| keyword_error(keyword, e.to_string()))
}

/// FCS 3.0 `$COMP`: either the spillover layout with names, or `n` and n²
/// values without names. Without names the rows/columns are taken to be the
/// sample's first n parameters when n = `$PAR`, else its n fluorescence
/// channels (not scatter, not time) in `$Pn` order; any other n is an error.
/// No corpus file carries `$COMP`, so this reading is from the FCS 3.0 text
/// only.
fn parse_comp(sample: &Sample, text: &str) -> Result<Matrix, CompensationError> {
    if let Ok(m) = parse_spillover("$COMP", text) {
        return Ok(m);
    }
    let fields: Vec<&str> = text.split(',').filter(|f| !f.trim().is_empty()).collect();
    let first = fields.first().map(|f| f.trim()).unwrap_or("");
    let n: usize = first
        .parse()
        .map_err(|_| keyword_error("$COMP", format!("first field {first:?} is not a count")))?;
    if fields.len() != 1 + n * n {
        return Err(keyword_error(
            "$COMP",
            format!(
                "n = {n} needs n² = {} values, found {}",
                n * n,
                fields.len() - 1
            ),
        ));
    }
    let names: Vec<String> = if n == sample.channels.len() {
        sample.channels.iter().map(|c| c.name.clone()).collect()
    } else {
        let fluo: Vec<String> = sample
            .channels
            .iter()
            .filter(|c| !c.is_scatter() && !c.is_time())
            .map(|c| c.name.clone())
            .collect();
        if fluo.len() != n {
            return Err(keyword_error(
                "$COMP",
                format!(
                    "lists no names and n = {n} matches neither $PAR = {} nor the {} fluorescence channels",
                    sample.channels.len(),
                    fluo.len()
                ),
            ));
        }
        fluo
    };
    let values = fields[1..]
        .iter()
        .enumerate()
        .map(|(k, s)| parse_number("$COMP", k + 2, s))
        .collect::<Result<Vec<_>, _>>()?;
    Matrix::new(names.clone(), names, values, false)
        .map_err(|e| keyword_error("$COMP", e.to_string()))
}

/// The channel of fluorescence detector `FLi`: a `$PnN` that is "FLi" or
/// starts with "FLi" followed by a non-digit ("FL1-H", "FL1 INT LOG").
fn fl_channel(sample: &Sample, i: usize) -> Option<String> {
    let tag = format!("FL{i}");
    sample
        .channels
        .iter()
        .find(|c| {
            let n = c.name.trim().to_ascii_uppercase();
            n.strip_prefix(&tag)
                .is_some_and(|rest| !rest.starts_with(|ch: char| ch.is_ascii_digit()))
        })
        .map(|c| c.name.clone())
}

/// FCS 2.0 `$DFCiTOj`: "% of FLi to subtract from FLj", i and j fluorescence
/// detector numbers (Beckman Coulter's documentation). Read as spillover
/// fractions S[i][j] = value/100 with 1 on the diagonal, over the detectors
/// that have a channel in the file; instruments list all their detectors
/// (e.g. 10) even when fewer were recorded.
fn parse_dfc(sample: &Sample) -> Result<Option<Matrix>, CompensationError> {
    let mut entries: Vec<(usize, usize, f64, String)> = Vec::new();
    for (k, v) in sample.keywords.iter() {
        let Some(rest) = k.strip_prefix("$DFC") else {
            continue;
        };
        let Some((i, j)) = rest.split_once("TO") else {
            continue;
        };
        let (Ok(i), Ok(j)) = (i.parse::<usize>(), j.parse::<usize>()) else {
            continue;
        };
        let value = parse_number(k, 1, v)?;
        entries.push((i, j, value, k.to_string()));
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let mut numbers: Vec<usize> = entries.iter().flat_map(|e| [e.0, e.1]).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let present: Vec<(usize, String)> = numbers
        .into_iter()
        .filter_map(|i| fl_channel(sample, i).map(|name| (i, name)))
        .collect();
    if present.is_empty() {
        return Err(keyword_error(
            "$DFCiTOj",
            "no channel named FL<i> for any of the listed fluorescence detectors",
        ));
    }
    let n = present.len();
    let mut values = vec![0.0; n * n];
    for r in 0..n {
        values[r * n + r] = 1.0;
    }
    for (i, j, v, _) in &entries {
        if i == j {
            continue;
        }
        let (Some(r), Some(c)) = (
            present.iter().position(|p| p.0 == *i),
            present.iter().position(|p| p.0 == *j),
        ) else {
            continue;
        };
        values[r * n + c] = v / 100.0;
    }
    let names: Vec<String> = present.into_iter().map(|p| p.1).collect();
    Matrix::new(names.clone(), names, values, false)
        .map(Some)
        .map_err(|e| keyword_error("$DFCiTOj", e.to_string()))
}

pub(super) fn from_sample(sample: &Sample) -> Result<Option<Matrix>, CompensationError> {
    for key in SPILLOVER_KEYWORDS {
        if let Some(text) = sample.keywords.get_nonblank(key) {
            return if key == "$COMP" {
                parse_comp(sample, text).map(Some)
            } else {
                parse_spillover(key, text).map(Some)
            };
        }
    }
    parse_dfc(sample)
}

fn split_cells(line: &str) -> Vec<String> {
    line.split(['\t', ','])
        .map(|c| c.trim().trim_matches('"').trim().to_string())
        .collect()
}

/// FlowJo/FlowKit CSV or TSV: header of detector names, then rows.
pub(super) fn parse_csv(text: &str) -> Result<Matrix, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or("the file is empty")?;
    let header = header.trim_start().trim_start_matches('#');
    let mut header = split_cells(header);
    while header.last().is_some_and(|c| c.is_empty()) {
        header.pop();
    }
    let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
    for (no, line) in lines {
        let mut cells = split_cells(line);
        while cells.last().is_some_and(|c| c.is_empty()) {
            cells.pop();
        }
        rows.push((no + 1, cells));
    }
    if rows.is_empty() {
        return Err("the header line is not followed by any row of values".into());
    }
    // Rows start with a name when their first cell is not a number.
    let named_rows = rows
        .first()
        .and_then(|(_, r)| r.first())
        .is_some_and(|c| c.parse::<f64>().is_err());
    let detectors: Vec<String> = if named_rows && header.len() == rows[0].1.len() {
        header[1..].to_vec()
    } else {
        // A tab after the `#` of a FlowJo header leaves an empty first cell.
        header.into_iter().skip_while(String::is_empty).collect()
    };
    let nd = detectors.len();
    if detectors.iter().any(String::is_empty) {
        return Err("the header has an empty detector name".into());
    }
    let mut fluorochromes = Vec::new();
    let mut values = Vec::with_capacity(rows.len() * nd);
    for (line_no, cells) in &rows {
        let cells: &[String] = if named_rows {
            fluorochromes.push(cells.first().cloned().unwrap_or_default());
            cells.get(1..).unwrap_or(&[])
        } else {
            cells
        };
        if cells.len() != nd {
            return Err(format!(
                "line {line_no} has {} values but the header names {nd} detectors",
                cells.len()
            ));
        }
        for c in cells {
            let v = c
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("line {line_no}: {c:?} is not a number"))?;
            values.push(v);
        }
    }
    if !named_rows {
        if rows.len() != nd {
            return Err(format!(
                "{} rows of values for {nd} detectors: rows without names must form a square matrix",
                rows.len()
            ));
        }
        fluorochromes = detectors.clone();
    }
    Matrix::new(fluorochromes, detectors, values, false).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Channel, Keywords, Scale};
    use crate::EventMatrix;

    fn sample(names: &[&str], keywords: &[(&str, &str)]) -> Sample {
        let mut k = Keywords::new();
        for (key, v) in keywords {
            k.insert(key, *v);
        }
        let channels: Vec<Channel> = names
            .iter()
            .enumerate()
            .map(|(i, n)| Channel {
                number: i + 1,
                name: n.to_string(),
                label: None,
                range: 1024.0,
                bits: 16,
                gain: None,
                log: None,
            })
            .collect();
        Sample {
            source: "test.fcs".into(),
            fcs_version: "3.0".into(),
            dataset: 0,
            n_datasets: 1,
            keywords: k,
            analysis: Default::default(),
            channels,
            events: EventMatrix::zeros(names.iter().map(|s| s.to_string()).collect(), 1),
            scale: Scale::Fcs,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn keyword_precedence() {
        let s = sample(
            &["FSC-H", "FL1-H", "FL2-H"],
            &[
                ("SPILL", "2,FL1-H,FL2-H,1,0.3,0,1"),
                ("$SPILLOVER", "2,FL1-H,FL2-H,1,0.1,0,1"),
                ("$DFC1TO2", "50"),
            ],
        );
        let m = from_sample(&s).unwrap().unwrap();
        assert_eq!(m.values()[1], 0.1);
        let s = sample(
            &["FSC-H", "FL1-H", "FL2-H"],
            &[("SPILL", "2,FL1-H,FL2-H,1,0.3,0,1"), ("$DFC1TO2", "50")],
        );
        assert_eq!(from_sample(&s).unwrap().unwrap().values()[1], 0.3);
        assert!(from_sample(&sample(&["FSC-H"], &[])).unwrap().is_none());
    }

    #[test]
    fn dfc_percentages_over_present_detectors() {
        // Navios-style: FL1..FL3 listed, only FL1 and FL3 recorded.
        let s = sample(
            &["FS INT LIN", "FL1 INT LOG", "FL3 INT LOG", "FL10 INT LOG"],
            &[
                ("$DFC1TO3", "13.4"),
                ("$DFC3TO1", "1.2"),
                ("$DFC2TO1", "44.8"),
                ("$DFC1TO1", "0.0"),
            ],
        );
        let m = from_sample(&s).unwrap().unwrap();
        assert_eq!(
            m.detectors(),
            &["FL1 INT LOG".to_string(), "FL3 INT LOG".to_string()]
        );
        assert_eq!(m.values(), &[1.0, 0.134, 0.012, 1.0]);
    }

    #[test]
    fn comp_without_names_uses_fluorescence_channels() {
        let s = sample(
            &["FSC-H", "SSC-H", "FL1-H", "FL2-H", "Time"],
            &[("$COMP", "2,1,0.25,0,1")],
        );
        let m = from_sample(&s).unwrap().unwrap();
        assert_eq!(m.detectors(), &["FL1-H".to_string(), "FL2-H".to_string()]);
        assert_eq!(m.values(), &[1.0, 0.25, 0.0, 1.0]);
        let bad = sample(&["FL1-H"], &[("$COMP", "2,1,0,0,1")]);
        let e = from_sample(&bad).unwrap_err().to_string();
        assert!(e.contains("$COMP") && e.contains("n = 2"), "{e}");
    }

    #[test]
    fn spillover_keyword_is_row_major() {
        let m = parse_spillover("SPILL", "2,FL1-H,FL2-H,1,0.2,0.05,1,").unwrap();
        assert_eq!(m.detectors(), &["FL1-H".to_string(), "FL2-H".to_string()]);
        assert_eq!(m.values(), &[1.0, 0.2, 0.05, 1.0]);
        // S⁻¹ of [[1, .2], [.05, 1]] = 1/0.99 · [[1, −.2], [−.05, 1]].
        let k = m.compensation_matrix();
        assert!((k[1] - (-0.2 / 0.99)).abs() < 1e-15);
        assert!((k[2] - (-0.05 / 0.99)).abs() < 1e-15);
    }

    #[test]
    fn spillover_keyword_errors_name_the_problem() {
        let e = parse_spillover("SPILL", "3,A,B,1,0,0,1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("SPILL") && e.contains("n = 3"), "{e}");
        let e = parse_spillover("SPILL", "2,A,B,1,x,0,1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"x\""), "{e}");
        let e = parse_spillover("SPILL", "2,A,B,1,1,1,1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("singular"), "{e}");
    }

    #[test]
    fn csv_with_and_without_row_names() {
        let m = parse_csv("FITC-A,PE-A\n1,0.1\n0.02,1\n").unwrap();
        assert_eq!(m.fluorochromes(), m.detectors());
        assert_eq!(m.values(), &[1.0, 0.1, 0.02, 1.0]);
        let m = parse_csv(",FITC-A,PE-A\nFITC,1,0.1\nPE,0.02,1\n").unwrap();
        assert_eq!(m.fluorochromes(), &["FITC".to_string(), "PE".to_string()]);
        assert_eq!(m.detectors(), &["FITC-A".to_string(), "PE-A".to_string()]);
        let m = parse_csv("#\tA\tB\n1\t0\n0\t1\n").unwrap();
        assert_eq!(m.detectors(), &["A".to_string(), "B".to_string()]);
        assert!(parse_csv("A,B\n1,0\n").is_err());
    }
}
