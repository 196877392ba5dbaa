//! The FCS 3.1 writer: float32, list mode, little-endian, one data set.
//!
//! Structural keywords (offsets, `$PAR`, `$TOT`, `$DATATYPE`, `$BYTEORD`,
//! `$MODE`, `$NEXTDATA` and each channel's `$PnN/S/R/B/E/G`) are generated
//! from the sample; all other keywords of `sample.keywords` are written as
//! they are, so `$SPILLOVER` (or any spillover keyword) is written when the
//! caller puts it there. Values are stored as float32: integer data up to
//! 2^24 and float32 data round-trip exactly, `$DATATYPE D` data is rounded.
//!
//! The delimiter is the first byte of a short list that occurs in no keyword
//! or value, so nothing needs escaping (and readers with weak escape handling
//! read the file); only if every candidate occurs is `/` used with escapes.
//!
//! Events are written as the sample holds them: a `Scale::Raw` sample keeps
//! its `$PnE`/`$PnG`, so a reader scales it as the original; for a
//! `Scale::Fcs` sample those are already applied and are written as linear,
//! no gain.

use std::io::Write;
use std::path::Path;

use super::error::FcsError;
use super::header::HEADER_LEN;
use crate::sample::{Sample, Scale};

const DELIMITER_CANDIDATES: [u8; 8] = [b'|', b'/', b'\\', 0x0C, 0x1E, b'!', b'~', b'^'];

/// Keywords the writer generates itself (never copied from the sample).
const STRUCTURAL: [&str; 12] = [
    "$BEGINANALYSIS",
    "$ENDANALYSIS",
    "$BEGINSTEXT",
    "$ENDSTEXT",
    "$BEGINDATA",
    "$ENDDATA",
    "$BYTEORD",
    "$DATATYPE",
    "$MODE",
    "$NEXTDATA",
    "$PAR",
    "$TOT",
];

/// Writes `sample` to `path` atomically: into a temporary file in the same
/// directory, renamed over `path` only when complete.
pub fn write(path: &Path, sample: &Sample) -> Result<(), FcsError> {
    let file = path.display().to_string();
    let io = |e: std::io::Error| FcsError::Io {
        file: file.clone(),
        source: e,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        write_named(&mut w, sample, &file)?;
        w.flush().map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Writes `sample` as FCS 3.1 to any writer.
pub fn write_to(w: &mut impl Write, sample: &Sample) -> Result<(), FcsError> {
    write_named(w, sample, "<stream>")
}

fn write_named(w: &mut impl Write, sample: &Sample, file: &str) -> Result<(), FcsError> {
    let fail = |message: String| FcsError::Write {
        file: file.to_string(),
        message,
    };
    let io = |e: std::io::Error| FcsError::Io {
        file: file.to_string(),
        source: e,
    };
    let p = sample.channels.len();
    if p != sample.events.n_channels() {
        return Err(fail(format!(
            "{} channels but the event matrix has {} columns",
            p,
            sample.events.n_channels()
        )));
    }
    if p == 0 {
        return Err(fail("a data set needs at least one channel".into()));
    }
    let n = sample.n_events();
    let data_len = (n as u64) * (p as u64) * 4;

    let keywords = keyword_list(sample);
    let delimiter = DELIMITER_CANDIDATES
        .into_iter()
        .find(|&d| {
            keywords
                .iter()
                .all(|(k, v)| !k.as_bytes().contains(&d) && !v.as_bytes().contains(&d))
        })
        .unwrap_or(b'/');

    // The offsets are written inside TEXT, so TEXT's length depends on them:
    // iterate until they are stable (two rounds at most in practice).
    let mut data = (0u64, 0u64);
    let mut text = Vec::new();
    for _ in 0..8 {
        text = render_text(&keywords, delimiter, data, n, p);
        let text_end = HEADER_LEN as u64 + text.len() as u64 - 1;
        let next = if n == 0 {
            (0, 0)
        } else {
            (text_end + 1, text_end + data_len)
        };
        if next == data {
            break;
        }
        data = next;
    }
    let text_end = HEADER_LEN as u64 + text.len() as u64 - 1;
    if text_end > 99_999_999 {
        return Err(fail(format!(
            "TEXT would end at byte {text_end}, beyond the HEADER's 8 digits"
        )));
    }
    // Offsets above 99,999,999 do not fit the HEADER: 0 there, TEXT has them.
    let hdr_data = if data.1 > 99_999_999 { (0, 0) } else { data };
    let header = format!(
        "FCS3.1    {:>8}{:>8}{:>8}{:>8}{:>8}{:>8}",
        HEADER_LEN, text_end, hdr_data.0, hdr_data.1, 0, 0
    );
    w.write_all(header.as_bytes()).map_err(io)?;
    w.write_all(&text).map_err(io)?;

    // DATA: events row by row, float32 little-endian, a block at a time.
    const BLOCK: usize = 4096;
    let mut buf = vec![0u8; BLOCK * p * 4];
    let mut start = 0;
    while start < n {
        let m = BLOCK.min(n - start);
        let rows = &mut buf[..m * p * 4];
        for j in 0..p {
            let col = &sample.events.column(j)[start..start + m];
            for (row, &v) in rows.chunks_exact_mut(p * 4).zip(col) {
                if let Some(dst) = row.get_mut(j * 4..j * 4 + 4) {
                    dst.copy_from_slice(&(v as f32).to_le_bytes());
                }
            }
        }
        w.write_all(rows).map_err(io)?;
        start += m;
    }
    Ok(())
}

/// Channel keywords, then the sample's own (non-structural) keywords.
fn keyword_list(sample: &Sample) -> Vec<(String, String)> {
    let p = sample.channels.len();
    let mut out = Vec::new();
    for (i, ch) in sample.channels.iter().enumerate() {
        let n = i + 1;
        out.push((format!("$P{n}N"), ch.name.clone()));
        if let Some(l) = &ch.label {
            out.push((format!("$P{n}S"), l.clone()));
        }
        out.push((format!("$P{n}R"), number(ch.range)));
        out.push((format!("$P{n}B"), "32".into()));
        let log = ch.log.filter(|_| sample.scale == Scale::Raw);
        out.push((
            format!("$P{n}E"),
            match log {
                Some((f1, f2)) => format!("{},{}", number(f1), number(f2)),
                None => "0,0".into(),
            },
        ));
        if let Some(g) = ch.gain.filter(|_| sample.scale == Scale::Raw) {
            out.push((format!("$P{n}G"), number(g)));
        }
    }
    for (k, v) in sample.keywords.iter() {
        if STRUCTURAL.contains(&k) {
            continue;
        }
        if let Some((n, suffix)) = parameter_keyword(k) {
            // Regenerated above; other $Pn keywords only for existing channels.
            if matches!(suffix, "N" | "S" | "R" | "B" | "E" | "G" | "DATATYPE") || n == 0 || n > p {
                continue;
            }
        }
        out.push((k.to_string(), v.to_string()));
    }
    out
}

/// `$P12V` → (12, "V").
fn parameter_keyword(k: &str) -> Option<(usize, &str)> {
    let rest = k.strip_prefix("$P")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n = rest.get(..digits)?.parse().ok()?;
    Some((n, rest.get(digits..)?))
}

fn render_text(
    keywords: &[(String, String)],
    d: u8,
    data: (u64, u64),
    n: usize,
    p: usize,
) -> Vec<u8> {
    let mut t = vec![d];
    let mut put = |s: &str| {
        for &b in s.as_bytes() {
            t.push(b);
            if b == d {
                t.push(d);
            }
        }
        t.push(d);
    };
    let structural = [
        ("$BEGINANALYSIS", "0".to_string()),
        ("$ENDANALYSIS", "0".to_string()),
        ("$BEGINSTEXT", "0".to_string()),
        ("$ENDSTEXT", "0".to_string()),
        ("$BEGINDATA", data.0.to_string()),
        ("$ENDDATA", data.1.to_string()),
        ("$BYTEORD", "1,2,3,4".to_string()),
        ("$DATATYPE", "F".to_string()),
        ("$MODE", "L".to_string()),
        ("$NEXTDATA", "0".to_string()),
        ("$PAR", p.to_string()),
        ("$TOT", n.to_string()),
    ];
    for (k, v) in &structural {
        put(k);
        put(v);
    }
    for (k, v) in keywords {
        put(k);
        // FCS 3.1 forbids empty values; a space reads back (trimmed) as empty.
        put(if v.is_empty() { " " } else { v });
    }
    t
}

/// A number as FCS keywords write it: integers without a decimal point.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_keywords_are_recognised() {
        assert_eq!(parameter_keyword("$P12V"), Some((12, "V")));
        assert_eq!(parameter_keyword("$PAR"), None);
        assert_eq!(number(262144.0), "262144");
        assert_eq!(number(0.5), "0.5");
    }
}
