//! From keywords to the shape of the DATA segment: how many bytes each value
//! takes, how to decode it, which bits to keep; and the `Channel` metadata.
//!
//! The rules, all general (never keyed on a file name, `$CYT` or instrument):
//! - `$DATATYPE` I: each value takes ⌈`$PnB`/8⌉ bytes (so `$PnB`=10 is a
//!   16-bit word, 24 is three bytes); widths may differ within an event.
//!   Values are unsigned and masked with next_power_of_two(`$PnR`)−1 where
//!   that is narrower than the stored width (instruments put flag bits above
//!   the range); without a usable `$PnR`, with 2^`$PnB`−1.
//! - F is always 4 bytes and D always 8 (a stray `$PnB` of 16 on float data
//!   is reported, not obeyed); FCS 3.2's `$PnDATATYPE` overrides per channel.
//! - `$BYTEORD` is any permutation: ascending is little-endian, descending
//!   big-endian, anything else (FCS 2.0's 3,4,1,2 …) is applied byte by byte.

use std::collections::HashMap;

use super::error::{FcsError, Segment};
use crate::sample::Channel;

/// How one value is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Unsigned integer of `width` bytes.
    Uint,
    /// IEEE single.
    F32,
    /// IEEE double.
    F64,
}

/// One parameter's place and encoding within an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamLayout {
    pub kind: Kind,
    /// Bytes per value.
    pub width: usize,
    /// Byte offset within the event.
    pub offset: usize,
    /// Bits kept of an integer value (all ones: no mask).
    pub mask: u64,
}

/// Byte order of multi-byte values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteOrder {
    Little,
    Big,
    /// `perm[i]` = significance (0 = least) of the i-th stored byte, for
    /// values as wide as the permutation.
    Permuted(Vec<u8>),
}

/// Everything needed to decode the DATA segment of one data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub params: Vec<ParamLayout>,
    /// Bytes per event (sum of the widths).
    pub event_width: usize,
    pub order: ByteOrder,
    /// `$TOT`, when present.
    pub n_events: Option<u64>,
    /// `$DATATYPE` as written (I, F, D).
    pub datatype: String,
}

/// Keyword lookup for the structural keywords (upper-cased keys).
pub type KeywordMap = HashMap<String, String>;

struct Ctx<'a> {
    file: &'a str,
    map: &'a KeywordMap,
}

impl Ctx<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    fn invalid(&self, key: &str, message: String) -> FcsError {
        FcsError::Invalid {
            file: self.file.to_string(),
            segment: Segment::Text,
            offset: None,
            keyword: Some(key.to_string()),
            message,
        }
    }

    fn required(&self, key: &str) -> Result<&str, FcsError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| self.invalid(key, format!("required keyword {key} is missing")))
    }

    fn unsupported(&self, key: &str, value: &str, message: &str) -> FcsError {
        FcsError::Unsupported {
            file: self.file.to_string(),
            keyword: key.to_string(),
            value: value.to_string(),
            message: message.to_string(),
        }
    }
}

/// Parses a non-negative integer keyword value (padded with spaces or zeros).
pub fn parse_u64(v: &str) -> Option<u64> {
    v.trim().parse::<u64>().ok()
}

/// Builds the DATA layout and channel list from the data set's keywords.
/// Pushes repairs into `warnings`.
pub fn build(
    file: &str,
    map: &KeywordMap,
    warnings: &mut Vec<String>,
) -> Result<(Layout, Vec<Channel>), FcsError> {
    let cx = Ctx { file, map };
    if let Some(mode) = cx.get("$MODE") {
        if !mode.eq_ignore_ascii_case("L") && !mode.is_empty() {
            return Err(cx.unsupported(
                "$MODE",
                mode,
                "only list mode (L) data can be read; correlated (C) and uncorrelated (U) histograms hold no events",
            ));
        }
    }
    let datatype = cx.required("$DATATYPE")?.to_ascii_uppercase();
    let default_kind = match datatype.as_str() {
        "I" => Kind::Uint,
        "F" => Kind::F32,
        "D" => Kind::F64,
        "A" => {
            return Err(cx.unsupported(
                "$DATATYPE",
                &datatype,
                "ASCII data (deprecated since FCS 3.1) is not supported",
            ))
        }
        _ => {
            return Err(cx.invalid(
                "$DATATYPE",
                format!("$DATATYPE = {datatype:?} is not one of I, F, D"),
            ))
        }
    };
    let par_text = cx.required("$PAR")?;
    let n_par = parse_u64(par_text)
        .ok_or_else(|| cx.invalid("$PAR", format!("$PAR = {par_text:?} is not a number")))?;
    // Every parameter needs its own keywords, so $PAR cannot exceed the
    // number of keywords: checked before anything is sized by it.
    if n_par == 0 || n_par > map.len() as u64 {
        return Err(cx.invalid(
            "$PAR",
            format!(
                "$PAR = {n_par} is impossible: the TEXT segment holds {} keywords",
                map.len()
            ),
        ));
    }
    let n_par = n_par as usize;
    let n_events = match cx.get("$TOT").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(
            parse_u64(v)
                .ok_or_else(|| cx.invalid("$TOT", format!("$TOT = {v:?} is not a number")))?,
        ),
    };

    let mut params = Vec::with_capacity(n_par);
    let mut channels = Vec::with_capacity(n_par);
    let mut offset = 0usize;
    for n in 1..=n_par {
        let kind = match cx.get(&format!("$P{n}DATATYPE")).filter(|v| !v.is_empty()) {
            None => default_kind,
            Some(v) => match v.to_ascii_uppercase().as_str() {
                "I" => Kind::Uint,
                "F" => Kind::F32,
                "D" => Kind::F64,
                _ => {
                    return Err(cx.invalid(
                        &format!("$P{n}DATATYPE"),
                        format!("$P{n}DATATYPE = {v:?} is not one of I, F, D"),
                    ))
                }
            },
        };
        let bkey = format!("$P{n}B");
        let bits_text = cx.get(&bkey).unwrap_or("");
        let bits = parse_u64(bits_text);
        if bits_text == "*" {
            return Err(cx.unsupported(
                &bkey,
                bits_text,
                "ASCII-delimited values are not supported",
            ));
        }
        let range_text = cx.get(&format!("$P{n}R")).unwrap_or("");
        let range = range_text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r >= 0.0);
        if range.is_none() {
            warnings.push(format!(
                "TEXT: $P{n}R = {range_text:?} is missing or not a number"
            ));
        }
        let (width, mask) = match kind {
            Kind::Uint => {
                let bits = bits.filter(|b| (1..=64).contains(b)).ok_or_else(|| {
                    cx.invalid(
                        &bkey,
                        format!("{bkey} = {bits_text:?}: integer data needs 1 to 64 bits"),
                    )
                })?;
                let width = bits.div_ceil(8) as usize;
                let stored = if width >= 8 {
                    u64::MAX
                } else {
                    (1u64 << (8 * width)) - 1
                };
                let mask = match range.filter(|r| *r >= 1.0) {
                    Some(r) if r <= (1u64 << 63) as f64 => {
                        let m = (r.ceil() as u64).next_power_of_two() - 1;
                        m.min(stored)
                    }
                    Some(_) => stored,
                    None if bits < 64 => ((1u64 << bits) - 1).min(stored),
                    None => stored,
                };
                (width, mask)
            }
            Kind::F32 | Kind::F64 => {
                let width = if kind == Kind::F32 { 4 } else { 8 };
                if bits != Some(8 * width as u64) {
                    warnings.push(format!(
                        "TEXT: {bkey} = {bits_text:?} on {} data; values read as {}-bit floats",
                        if kind == Kind::F32 { "F" } else { "D" },
                        8 * width
                    ));
                }
                (width, u64::MAX)
            }
        };
        params.push(ParamLayout {
            kind,
            width,
            offset,
            mask,
        });
        offset += width;
        channels.push(channel(
            &cx,
            n,
            bits.unwrap_or(8 * width as u64) as u32,
            range.unwrap_or(0.0),
            warnings,
        ));
    }

    let needs_order = params.iter().any(|p| p.width > 1);
    let order = match cx.get("$BYTEORD").filter(|v| !v.is_empty()) {
        Some(v) => parse_byteord(v).ok_or_else(|| {
            cx.invalid(
                "$BYTEORD",
                format!("$BYTEORD = {v:?} is not a permutation like 1,2,3,4 or 4,3,2,1"),
            )
        })?,
        None if needs_order => {
            return Err(cx.invalid("$BYTEORD", "required keyword $BYTEORD is missing".into()))
        }
        None => ByteOrder::Little,
    };
    Ok((
        Layout {
            params,
            event_width: offset,
            order,
            n_events,
            datatype,
        },
        channels,
    ))
}

fn channel(cx: &Ctx<'_>, n: usize, bits: u32, range: f64, warnings: &mut Vec<String>) -> Channel {
    let name = match cx.get(&format!("$P{n}N")).filter(|v| !v.is_empty()) {
        Some(v) => v.to_string(),
        None => {
            warnings.push(format!("TEXT: $P{n}N is missing; channel named \"P{n}\""));
            format!("P{n}")
        }
    };
    let label = cx
        .get(&format!("$P{n}S"))
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let log = cx.get(&format!("$P{n}E")).and_then(|v| {
        let mut it = v.split(',').map(|x| x.trim().parse::<f64>());
        match (it.next(), it.next(), it.next()) {
            (Some(Ok(f1)), Some(Ok(f2)), None) if f1.is_finite() && f2.is_finite() => {
                (f1 > 0.0).then_some((f1, if f2 == 0.0 { 1.0 } else { f2 }))
            }
            _ => {
                warnings.push(format!(
                    "TEXT: $P{n}E = {v:?} is not \"f1,f2\"; channel treated as linear"
                ));
                None
            }
        }
    });
    if log.is_some() && range <= 0.0 {
        warnings.push(format!(
            "TEXT: $P{n}E is logarithmic but $P{n}R is unusable; scale values will be wrong"
        ));
    }
    let gain = cx
        .get(&format!("$P{n}G"))
        .and_then(|v| match v.trim().parse::<f64>() {
            Ok(g) if g.is_finite() && g > 0.0 => (g != 1.0).then_some(g),
            Ok(0.0) => None,
            _ => {
                warnings.push(format!(
                    "TEXT: $P{n}G = {v:?} is not a positive number; no gain applied"
                ));
                None
            }
        });
    Channel {
        number: n,
        name,
        label,
        range,
        bits,
        gain,
        log,
    }
}

/// Parses `$BYTEORD` ("1,2,3,4", "4,3,2,1", "1,2", "3,4,1,2").
pub fn parse_byteord(v: &str) -> Option<ByteOrder> {
    let digits: Vec<u8> = v
        .split(',')
        .map(|x| x.trim().parse::<u8>().ok())
        .collect::<Option<_>>()?;
    let k = digits.len();
    if k == 0 || k > 8 {
        return None;
    }
    let mut seen = [false; 8];
    for &d in &digits {
        if d == 0 || d as usize > k || seen[d as usize - 1] {
            return None;
        }
        seen[d as usize - 1] = true;
    }
    if digits.iter().enumerate().all(|(i, &d)| d as usize == i + 1) {
        Some(ByteOrder::Little)
    } else if digits.iter().enumerate().all(|(i, &d)| d as usize == k - i) {
        Some(ByteOrder::Big)
    } else {
        Some(ByteOrder::Permuted(digits.iter().map(|d| d - 1).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> KeywordMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn integer_widths_and_masks() {
        let m = map(&[
            ("$DATATYPE", "I"),
            ("$PAR", "3"),
            ("$TOT", " 000002"),
            ("$BYTEORD", "1,2,3,4"),
            ("$P1B", "10"),
            ("$P1R", "1024"),
            ("$P1N", "A"),
            ("$P2B", "32"),
            ("$P2R", "16777216"),
            ("$P2N", "B"),
            ("$P3B", "24"),
            ("$P3R", "1000"),
            ("$P3N", "C"),
            ("$P3E", "4,0"),
            ("$P3G", "1"),
        ]);
        let mut w = vec![];
        let (l, ch) = build("x", &m, &mut w).unwrap();
        assert_eq!(l.event_width, 2 + 4 + 3);
        assert_eq!(l.params[0].mask, 1023);
        assert_eq!(l.params[1].mask, (1 << 24) - 1);
        assert_eq!(l.params[2].mask, 1023);
        assert_eq!(l.n_events, Some(2));
        assert_eq!(ch[2].log, Some((4.0, 1.0)));
        assert_eq!(ch[2].gain, None);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn impossible_par_and_modes_are_errors() {
        let m = map(&[
            ("$DATATYPE", "F"),
            ("$PAR", "99999999"),
            ("$BYTEORD", "1,2,3,4"),
        ]);
        let e = build("P07.fcs", &m, &mut vec![]).unwrap_err();
        assert!(
            e.to_string().contains("$PAR = 99999999 is impossible"),
            "{e}"
        );
        let m = map(&[("$DATATYPE", "F"), ("$PAR", "1"), ("$MODE", "C")]);
        assert!(matches!(
            build("c.fcs", &m, &mut vec![]),
            Err(FcsError::Unsupported { .. })
        ));
    }

    #[test]
    fn byteorders() {
        assert_eq!(parse_byteord("1,2"), Some(ByteOrder::Little));
        assert_eq!(parse_byteord("4,3,2,1"), Some(ByteOrder::Big));
        assert_eq!(
            parse_byteord("3,4,1,2"),
            Some(ByteOrder::Permuted(vec![2, 3, 0, 1]))
        );
        assert_eq!(parse_byteord("1,1"), None);
        assert_eq!(parse_byteord("x"), None);
    }
}
