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

/// How the DATA segment encodes values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueType {
    /// `$DATATYPE F`, 32 bits per value (the default).
    #[default]
    Float32,
    /// `$DATATYPE I`, each channel in its own `Channel::bits` (8, 16, 32 or
    /// 64): values are rounded and clamped to `0..2^bits`, as integer
    /// instruments store them.
    Int,
}

/// Byte order of the DATA segment (`$BYTEORD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Endian {
    /// `1,2,3,4` (the default).
    #[default]
    Little,
    /// `4,3,2,1`.
    Big,
}

/// Encoding options; the default (float32, little-endian) is what [`write`]
/// uses. Other encodings exist so that tests and the simulator can produce
/// files like every instrument does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    pub value_type: ValueType,
    pub endian: Endian,
}

/// Writes `sample` to `path` atomically: into a temporary file in the same
/// directory, renamed over `path` only when complete.
pub fn write(path: &Path, sample: &Sample) -> Result<(), FcsError> {
    write_with(path, sample, &WriteOptions::default())
}

/// [`write`] with a chosen value type and byte order.
pub fn write_with(path: &Path, sample: &Sample, opts: &WriteOptions) -> Result<(), FcsError> {
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
        write_named(&mut w, sample, &file, opts)?;
        w.flush().map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Writes `sample` as FCS 3.1 to any writer.
pub fn write_to(w: &mut impl Write, sample: &Sample) -> Result<(), FcsError> {
    write_named(w, sample, "<stream>", &WriteOptions::default())
}

/// [`write_to`] with a chosen value type and byte order.
pub fn write_to_with(
    w: &mut impl Write,
    sample: &Sample,
    opts: &WriteOptions,
) -> Result<(), FcsError> {
    write_named(w, sample, "<stream>", opts)
}

/// Bytes per value of each channel under `opts`, or an error naming the
/// channel whose `$PnB` cannot be written as integers.
fn widths(sample: &Sample, opts: &WriteOptions, file: &str) -> Result<Vec<usize>, FcsError> {
    sample
        .channels
        .iter()
        .map(|ch| match opts.value_type {
            ValueType::Float32 => Ok(4),
            ValueType::Int => match ch.bits {
                8 | 16 | 32 | 64 => Ok(ch.bits as usize / 8),
                b => Err(FcsError::Write {
                    file: file.to_string(),
                    message: format!(
                        "channel {} ({}) has $PnB {b}; integer data needs 8, 16, 32 or 64 bits",
                        ch.number, ch.name
                    ),
                }),
            },
        })
        .collect()
}

/// Encodes one value into `dst` (its width is the channel's).
fn put_value(dst: &mut [u8], v: f64, opts: &WriteOptions) {
    let big = opts.endian == Endian::Big;
    match (opts.value_type, dst.len()) {
        (ValueType::Float32, _) => {
            let f = v as f32;
            dst.copy_from_slice(&if big {
                f.to_be_bytes()
            } else {
                f.to_le_bytes()
            });
        }
        (ValueType::Int, width) => {
            // Round and clamp to the bit width (NaN becomes 0).
            let max = if width >= 8 {
                u64::MAX as f64
            } else {
                ((1u64 << (8 * width)) - 1) as f64
            };
            let u = if v.is_nan() {
                0
            } else {
                v.round().clamp(0.0, max) as u64
            };
            let bytes = if big {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            };
            if big {
                dst.copy_from_slice(&bytes[8 - width..]);
            } else {
                dst.copy_from_slice(&bytes[..width]);
            }
        }
    }
}

fn write_named(
    w: &mut impl Write,
    sample: &Sample,
    file: &str,
    opts: &WriteOptions,
) -> Result<(), FcsError> {
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
    let width = widths(sample, opts, file)?;
    let row_len: usize = width.iter().sum();
    let offset: Vec<usize> = width
        .iter()
        .scan(0, |acc, &w| {
            let o = *acc;
            *acc += w;
            Some(o)
        })
        .collect();
    let data_len = (n as u64) * (row_len as u64);

    let keywords = keyword_list(sample, &width);
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
        text = render_text(&keywords, delimiter, data, n, p, opts);
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

    // DATA: events row by row, a block at a time.
    const BLOCK: usize = 4096;
    let mut buf = vec![0u8; BLOCK * row_len];
    let mut start = 0;
    while start < n {
        let m = BLOCK.min(n - start);
        let rows = &mut buf[..m * row_len];
        for j in 0..p {
            let col = &sample.events.column(j)[start..start + m];
            let (o, wj) = (offset[j], width[j]);
            for (row, &v) in rows.chunks_exact_mut(row_len).zip(col) {
                if let Some(dst) = row.get_mut(o..o + wj) {
                    put_value(dst, v, opts);
                }
            }
        }
        w.write_all(rows).map_err(io)?;
        start += m;
    }
    Ok(())
}

/// Channel keywords, then the sample's own (non-structural) keywords.
fn keyword_list(sample: &Sample, width: &[usize]) -> Vec<(String, String)> {
    let p = sample.channels.len();
    let mut out = Vec::new();
    for (i, ch) in sample.channels.iter().enumerate() {
        let n = i + 1;
        out.push((format!("$P{n}N"), ch.name.clone()));
        if let Some(l) = &ch.label {
            out.push((format!("$P{n}S"), l.clone()));
        }
        out.push((format!("$P{n}R"), number(ch.range)));
        let bytes = width.get(i).copied().unwrap_or(4);
        out.push((format!("$P{n}B"), (8 * bytes).to_string()));
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
    opts: &WriteOptions,
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
        (
            "$BYTEORD",
            match opts.endian {
                Endian::Little => "1,2,3,4",
                Endian::Big => "4,3,2,1",
            }
            .to_string(),
        ),
        (
            "$DATATYPE",
            match opts.value_type {
                ValueType::Float32 => "F",
                ValueType::Int => "I",
            }
            .to_string(),
        ),
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

    fn two_channel_sample(bits: u32) -> Sample {
        use crate::sample::{Channel, Keywords};
        let ch = |n: usize, name: &str| Channel {
            number: n,
            name: name.into(),
            label: None,
            range: 1024.0,
            bits,
            gain: None,
            log: None,
        };
        Sample {
            source: "t".into(),
            fcs_version: "3.1".into(),
            dataset: 0,
            n_datasets: 1,
            keywords: Keywords::new(),
            analysis: Default::default(),
            channels: vec![ch(1, "A"), ch(2, "B")],
            events: crate::EventMatrix::from_columns(
                vec!["A".into(), "B".into()],
                vec![vec![0.4, 1023.0, -5.0], vec![2.5, 70_000.0, 7.0]],
            )
            .unwrap(),
            scale: Scale::Raw,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn integer_big_endian_round_trips_through_the_reader() {
        let s = two_channel_sample(16);
        let mut bytes = Vec::new();
        let opts = WriteOptions {
            value_type: ValueType::Int,
            endian: Endian::Big,
        };
        write_to_with(&mut bytes, &s, &opts).unwrap();
        let back = crate::fcs::read_bytes("t", &bytes, 0).unwrap();
        assert_eq!(back.keywords.get("$DATATYPE"), Some("I"));
        assert_eq!(back.keywords.get("$BYTEORD"), Some("4,3,2,1"));
        assert_eq!(back.channels[0].bits, 16);
        // Rounded and clamped at zero; 70,000 does not fit 16 bits → 65,535,
        // which the reader masks to the $PnR range (1023).
        assert_eq!(back.events.column(0), &[0.0, 1023.0, 0.0]);
        assert_eq!(back.events.column(1)[0], 3.0);
        assert_eq!(back.events.column(1)[2], 7.0);
        // 2 channels × 2 bytes × 3 events of DATA.
        assert_eq!(
            bytes.len()
                - back
                    .keywords
                    .get("$BEGINDATA")
                    .unwrap()
                    .parse::<usize>()
                    .unwrap(),
            12
        );
    }

    #[test]
    fn float_big_endian_round_trips() {
        let s = two_channel_sample(32);
        let mut bytes = Vec::new();
        let opts = WriteOptions {
            value_type: ValueType::Float32,
            endian: Endian::Big,
        };
        write_to_with(&mut bytes, &s, &opts).unwrap();
        let back = crate::fcs::read_bytes("t", &bytes, 0).unwrap();
        assert_eq!(back.keywords.get("$BYTEORD"), Some("4,3,2,1"));
        assert_eq!(back.events.column(0), &[0.4f32 as f64, 1023.0, -5.0]);
    }

    #[test]
    fn integer_data_refuses_odd_bit_widths() {
        let s = two_channel_sample(20);
        let opts = WriteOptions {
            value_type: ValueType::Int,
            endian: Endian::Little,
        };
        let err = write_to_with(&mut Vec::new(), &s, &opts).unwrap_err();
        assert!(err.to_string().contains("$PnB 20"), "{err}");
    }
}
