//! Per-sample metacluster tables (count, percent, median per marker) and the
//! CSV outputs: `clusters.csv` (sample × metacluster) and one assignments
//! file per sample (`metacluster` per event, in file order).
//!
//! Metaclusters are numbered from 1 in every output, as R FlowSOM numbers
//! them; internally they are 0-based indices.

use std::io::Write;

use rayon::prelude::*;

use super::{ClusterError, FlowSom};

/// One metacluster in one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaclusterStats {
    /// 0-based metacluster index (written as index + 1).
    pub metacluster: u16,
    /// Events of the sample in this metacluster.
    pub count: usize,
    /// `count` as a percentage of the sample's clustered events.
    pub percent: f64,
    /// Median of each marker over those events (R's median: mean of the two
    /// middle values for an even count); NaN when `count` is 0.
    pub medians: Vec<f64>,
}

/// All metaclusters of one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleTable {
    /// Sample name (the input file name).
    pub sample: String,
    /// Events that were clustered (inside the mask).
    pub clustered: usize,
    /// One row per metacluster, in metacluster order.
    pub rows: Vec<MetaclusterStats>,
}

/// Builds a sample's table from its marker columns and per-event
/// metaclusters.
pub(crate) fn sample_table(
    sample: &str,
    columns: &[&[f64]],
    metaclusters: &[Option<u16>],
    k: usize,
) -> SampleTable {
    build_table(sample, columns.len(), k, metaclusters, |j, i| {
        columns
            .get(j)
            .and_then(|c| c.get(i))
            .copied()
            .unwrap_or(f64::NAN)
    })
}

/// Builds a sample's table from row-major `f32` rows (`dim` markers) of its
/// clustered events and their metaclusters (one per row).
pub(crate) fn sample_table_rows(
    sample: &str,
    rows: &[f32],
    dim: usize,
    metaclusters: &[u16],
    k: usize,
) -> SampleTable {
    let mc: Vec<Option<u16>> = metaclusters.iter().map(|&m| Some(m)).collect();
    build_table(sample, dim, k, &mc, |j, i| {
        rows.get(i * dim + j).map_or(f64::NAN, |&v| v as f64)
    })
}

/// Appends the medians of a sample's described markers (markers that did
/// not shape the map, see [`ClusterSpec::describe_markers`]) to its table,
/// metacluster by metacluster: the clustered markers' medians come first,
/// then the described ones, the column order of clusters.csv and the
/// heatmap. `described` is the same events' table over the described
/// markers (same metaclusters, so the same rows); only its medians are
/// taken, the counts are the clustered table's.
///
/// [`ClusterSpec::describe_markers`]: super::stage::ClusterSpec::describe_markers
pub(crate) fn append_described(table: &mut SampleTable, described: SampleTable) {
    for (row, d) in table.rows.iter_mut().zip(described.rows) {
        row.medians.extend(d.medians);
    }
}

/// Counts, percents and medians of `dim` markers (`value(marker, event)`)
/// per metacluster. Markers are done in parallel, each on one reused
/// per-thread buffer of the clustered values (a counting sort by
/// metacluster, then a selection per bucket); every median is exact and
/// independent of the others, so the table is the same for any thread
/// count.
fn build_table(
    sample: &str,
    dim: usize,
    k: usize,
    metaclusters: &[Option<u16>],
    value: impl Fn(usize, usize) -> f64 + Sync,
) -> SampleTable {
    let mut counts = vec![0usize; k];
    for m in metaclusters.iter().flatten() {
        if let Some(c) = counts.get_mut(*m as usize) {
            *c += 1;
        }
    }
    let clustered: usize = counts.iter().sum();
    // Bucket offsets of the counting sort.
    let mut offsets = vec![0usize; k + 1];
    for m in 0..k {
        offsets[m + 1] = offsets[m] + counts[m];
    }
    let per_marker: Vec<Vec<f64>> = (0..dim)
        .into_par_iter()
        .map_init(
            || vec![0.0f64; clustered],
            |buf, j| {
                let mut fill = offsets.clone();
                for (i, m) in metaclusters.iter().enumerate() {
                    if let Some(slot) = m.and_then(|m| fill.get_mut(m as usize)) {
                        if let Some(b) = buf.get_mut(*slot) {
                            *b = value(j, i);
                        }
                        *slot += 1;
                    }
                }
                offsets
                    .windows(2)
                    .map(|w| buf.get_mut(w[0]..w[1]).map_or(f64::NAN, median))
                    .collect()
            },
        )
        .collect();
    let medians: Vec<Vec<f64>> = (0..k)
        .map(|m| {
            per_marker
                .iter()
                .map(|col| col.get(m).copied().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    let rows = (0..k)
        .zip(medians)
        .map(|(m, medians)| MetaclusterStats {
            metacluster: m as u16,
            count: counts[m],
            percent: if clustered > 0 {
                100.0 * counts[m] as f64 / clustered as f64
            } else {
                0.0
            },
            medians,
        })
        .collect();
    SampleTable {
        sample: sample.to_string(),
        clustered,
        rows,
    }
}

/// R's median of finite values (reorders `v`); NaN for an empty slice.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let (_, &mut upper, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return upper;
    }
    let lower = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lower + upper) / 2.0
}

/// Writes `clusters.csv`: one row per sample × metacluster with columns
/// `sample, metacluster, name, count, percent, median_<marker>…`.
pub fn write_clusters_csv<W: Write>(
    out: W,
    model: &FlowSom,
    tables: &[SampleTable],
) -> Result<(), csv::Error> {
    write_clusters_table(out, model.markers(), model.metacluster_names(), tables)
}

/// [`write_clusters_csv`] from the parts: marker names (for the median
/// columns) and metacluster names. With no tables it writes the header only.
pub fn write_clusters_table<W: Write>(
    out: W,
    markers: &[String],
    names: &[String],
    tables: &[SampleTable],
) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec![
        "sample".to_string(),
        "metacluster".to_string(),
        "name".to_string(),
        "count".to_string(),
        "percent".to_string(),
    ];
    header.extend(markers.iter().map(|m| format!("median_{m}")));
    w.write_record(&header)?;
    for t in tables {
        for r in &t.rows {
            let mut rec = vec![
                t.sample.clone(),
                (r.metacluster as usize + 1).to_string(),
                names
                    .get(r.metacluster as usize)
                    .cloned()
                    .unwrap_or_default(),
                r.count.to_string(),
                format!("{:.4}", r.percent),
            ];
            rec.extend(r.medians.iter().map(|v| {
                if v.is_finite() {
                    format!("{v:.6}")
                } else {
                    String::new()
                }
            }));
            w.write_record(&rec)?;
        }
    }
    w.flush()?;
    Ok(())
}

/// Writes one sample's assignments: a `metacluster` column, one row per
/// event in file order, 1-based, empty for events that were not clustered.
///
/// The empty value is written as `""` (an RFC 4180 quoted empty field), not
/// as an empty line: pandas and Python's `csv` skip blank lines, which would
/// shift every later event's row; `""` reads as a missing value (pandas
/// NaN, readr NA) on its own row.
pub fn write_assignments_csv<W: Write>(
    out: W,
    metaclusters: &[Option<u16>],
) -> Result<(), ClusterError> {
    let mut w = std::io::BufWriter::with_capacity(1 << 16, out);
    let io = |e| ClusterError::Write(e);
    w.write_all(b"metacluster\n").map_err(io)?;
    for m in metaclusters {
        match m {
            Some(m) => writeln!(w, "{}", *m as usize + 1).map_err(io)?,
            None => w.write_all(b"\"\"\n").map_err(io)?,
        }
    }
    w.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_matches_r() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn table_counts_percents_and_medians() {
        let a = [1.0, 2.0, 3.0, 10.0, 20.0, 99.0];
        let b = [0.0, 0.0, 1.0, 5.0, 7.0, 99.0];
        let mc = [Some(0), Some(0), Some(0), Some(1), Some(1), None];
        let t = sample_table("s", &[&a, &b], &mc, 3);
        assert_eq!(t.clustered, 5);
        assert_eq!(t.rows[0].count, 3);
        assert!((t.rows[0].percent - 60.0).abs() < 1e-12);
        assert_eq!(t.rows[0].medians, vec![2.0, 0.0]);
        assert_eq!(t.rows[1].medians, vec![15.0, 6.0]);
        assert_eq!(t.rows[2].count, 0);
        assert!(t.rows[2].medians[0].is_nan());
        // The same table from row-major f32 rows of the clustered events.
        let rows: Vec<f32> = (0..5).flat_map(|i| [a[i] as f32, b[i] as f32]).collect();
        let r = sample_table_rows("s", &rows, 2, &[0, 0, 0, 1, 1], 3);
        assert_eq!(r.clustered, t.clustered);
        assert_eq!(r.rows[0], t.rows[0]);
        assert_eq!(r.rows[1], t.rows[1]);
    }

    #[test]
    fn assignments_are_one_based_with_blanks() {
        let mut out = Vec::new();
        write_assignments_csv(&mut out, &[Some(0), None, Some(9)]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "metacluster\n1\n\"\"\n10\n"
        );
    }
}
