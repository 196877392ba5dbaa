//! TEXT segments: keyword/value pairs between delimiter bytes.
//!
//! The first byte of the segment is the delimiter (any byte: `/`, `\`, `|`,
//! form feed 0x0C, …). A doubled delimiter inside a keyword or value stands
//! for one literal delimiter. Real files bend this in three ways the tokenizer
//! accepts:
//! - an empty value written as a doubled delimiter (`/KEY//NEXT/…`): a
//!   delimiter always ends a key, and a delimiter right where a value starts
//!   ends an empty value — keys or values that really start with the
//!   delimiter character are far rarer than this;
//! - a last value not followed by a delimiter, or padding (spaces, NULs, the
//!   first DATA byte) after the last delimiter: kept / ignored with a warning;
//! - bytes that are not UTF-8 (CellQuest's Mac-Roman "™"): such a token is
//!   decoded as Latin-1, byte by byte, so reading never fails on encoding.
//!
//! Keys are trimmed (a key with a leading space, ` $DATATYPE`, is still
//! `$DATATYPE`); values are trimmed of spaces and NULs, which pad numbers.

/// One keyword as found in the segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawKeyword {
    /// Trimmed, upper-cased.
    pub key: String,
    /// Trimmed of whitespace and NULs.
    pub value: String,
}

/// The keywords of one TEXT segment, in order, plus what was repaired.
#[derive(Debug, Default)]
pub struct ParsedText {
    pub keywords: Vec<RawKeyword>,
    pub warnings: Vec<String>,
}

/// Tokenizes a TEXT (or supplemental TEXT / ANALYSIS) segment. `bytes` is the
/// whole segment including its leading delimiter. Never fails: whatever does
/// not form a keyword/value pair is reported in the warnings.
pub fn parse_text(bytes: &[u8]) -> ParsedText {
    let mut out = ParsedText::default();
    let Some((&delim, body)) = bytes.split_first() else {
        return out;
    };
    let mut non_utf8 = false;
    let mut pos = 0usize;
    let mut token = Vec::new();
    loop {
        if pos >= body.len() {
            break;
        }
        // Key.
        let (next, terminated) = read_token(body, pos, delim, false, &mut token);
        if !terminated {
            if token.iter().any(|&b| !b.is_ascii_whitespace() && b != 0) {
                out.warnings.push(format!(
                    "{} byte(s) after the last keyword/value pair ignored",
                    body.len() - pos
                ));
            }
            break;
        }
        let key = decode(&token, &mut non_utf8);
        pos = next;
        // Value.
        let (next, terminated) = read_token(body, pos, delim, true, &mut token);
        let value = decode(&token, &mut non_utf8);
        pos = next;
        if !terminated {
            out.warnings.push(format!(
                "the last value ({key}) is not followed by a delimiter; kept as {:?}",
                value.trim()
            ));
        }
        let key = key.trim().to_ascii_uppercase();
        if key.is_empty() {
            out.warnings.push(format!(
                "a value without keyword ({:?}) ignored",
                value.trim()
            ));
            continue;
        }
        let value = value
            .trim_matches(|c: char| c.is_whitespace() || c == '\0')
            .to_string();
        out.keywords.push(RawKeyword { key, value });
        if !terminated {
            break;
        }
    }
    if non_utf8 {
        out.warnings
            .push("some keyword values are not UTF-8; decoded as Latin-1".to_string());
    }
    out
}

/// Reads one token starting at `pos` into `out` (unescaped). Returns the
/// position after the terminating delimiter and whether there was one.
fn read_token(
    body: &[u8],
    pos: usize,
    delim: u8,
    is_value: bool,
    out: &mut Vec<u8>,
) -> (usize, bool) {
    out.clear();
    let mut j = pos;
    if is_value && body.get(j) == Some(&delim) {
        // Empty value written as a doubled delimiter.
        return (j + 1, true);
    }
    while let Some(&b) = body.get(j) {
        if b == delim {
            // Keys never hold the delimiter in practice, while `KEY//` for an
            // empty value is common: in a key, a delimiter always ends it.
            if is_value && body.get(j + 1) == Some(&delim) {
                out.push(delim);
                j += 2;
                continue;
            }
            return (j + 1, true);
        }
        out.push(b);
        j += 1;
    }
    (j, false)
}

fn decode(bytes: &[u8], non_utf8: &mut bool) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            *non_utf8 = true;
            bytes.iter().map(|&b| b as char).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(p: &ParsedText) -> Vec<(&str, &str)> {
        p.keywords
            .iter()
            .map(|k| (k.key.as_str(), k.value.as_str()))
            .collect()
    }

    #[test]
    fn escapes_and_empty_values() {
        let p = parse_text(b"/$FIL/a//b.fcs/ $datatype /F/$P1S//$P1N/FSC/$END/x///");
        assert_eq!(
            kv(&p),
            vec![
                ("$FIL", "a/b.fcs"),
                ("$DATATYPE", "F"),
                ("$P1S", ""),
                ("$P1N", "FSC"),
                ("$END", "x/"),
            ]
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn text_ending_in_doubled_delimiter_or_unterminated() {
        let p = parse_text(b"\\A\\1\\B\\\\");
        assert_eq!(kv(&p), vec![("A", "1"), ("B", "")]);
        let p = parse_text(b"\x0cA\x0c1\x0cB\x0c20200722   ");
        assert_eq!(kv(&p), vec![("A", "1"), ("B", "20200722")]);
        assert_eq!(p.warnings.len(), 1);
        let p = parse_text(b"|A|1|   \0\0");
        assert_eq!(kv(&p), vec![("A", "1")]);
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn latin1_fallback() {
        let p = parse_text(b"/$CREATOR/CELLQuest\xaa 3.3/");
        assert_eq!(kv(&p), vec![("$CREATOR", "CELLQuest\u{aa} 3.3")]);
        assert_eq!(p.warnings.len(), 1);
    }
}
