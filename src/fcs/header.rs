//! The HEADER segment: version and the byte offsets of TEXT, DATA and ANALYSIS.
//!
//! Layout (all FCS versions): bytes 0–5 `FCS3.1`, 6–9 spaces, then six
//! right-justified ASCII integers of 8 bytes each: TEXT start/end, DATA
//! start/end, ANALYSIS start/end. Offsets are inclusive and relative to the
//! start of the data set. Real files pad with spaces on either side or with
//! zeros, and leave DATA/ANALYSIS blank or zero when an offset exceeds
//! 99,999,999 (the TEXT keywords then hold it), so a blank field is `None`,
//! not an error.

use super::error::{FcsError, Segment};

/// Length of the fixed part of the HEADER.
pub const HEADER_LEN: usize = 58;

/// A parsed HEADER. Offsets are relative to the data set's first byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// "2.0", "3.0", "3.1", "3.2" (whatever follows "FCS").
    pub version: String,
    pub text: (Option<u64>, Option<u64>),
    pub data: (Option<u64>, Option<u64>),
    pub analysis: (Option<u64>, Option<u64>),
    /// What was wrong with fields that are not needed to read events (the
    /// ANALYSIS offsets): a garbled one is `None` and a warning, not an error.
    pub warnings: Vec<String>,
}

impl Header {
    /// Parses the first 58 bytes of a data set starting at absolute byte `base`.
    pub fn parse(file: &str, bytes: &[u8], base: u64) -> Result<Header, FcsError> {
        let invalid = |offset: u64, message: String| FcsError::Invalid {
            file: file.to_string(),
            segment: Segment::Header,
            offset: Some(base + offset),
            keyword: None,
            message,
        };
        let Some(head) = bytes.get(..HEADER_LEN) else {
            return Err(invalid(
                0,
                format!(
                    "only {} bytes, shorter than the {HEADER_LEN}-byte FCS HEADER; the file is truncated or not FCS",
                    bytes.len()
                ),
            ));
        };
        if &head[..3] != b"FCS" {
            return Err(invalid(
                0,
                format!(
                    "starts with {:?}, not \"FCS\"; this is not an FCS file",
                    String::from_utf8_lossy(&head[..6])
                ),
            ));
        }
        let version = String::from_utf8_lossy(&head[3..6]).trim().to_string();
        let field = |i: usize| -> Result<Option<u64>, FcsError> {
            let start = 10 + 8 * i;
            let raw = &head[start..start + 8];
            let s = std::str::from_utf8(raw).unwrap_or("?").trim();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<u64>().map(Some).map_err(|_| {
                invalid(
                    start as u64,
                    format!(
                        "{} offset {:?} is not a number",
                        [
                            "TEXT start",
                            "TEXT end",
                            "DATA start",
                            "DATA end",
                            "ANALYSIS start",
                            "ANALYSIS end"
                        ][i],
                        String::from_utf8_lossy(raw)
                    ),
                )
            })
        };
        let mut warnings = Vec::new();
        let mut lenient = |i: usize| {
            field(i).unwrap_or_else(|e| {
                let why = match e {
                    FcsError::Invalid { message, .. } => message,
                    other => other.to_string(),
                };
                warnings.push(format!("HEADER: {why}; the ANALYSIS segment is ignored"));
                None
            })
        };
        let analysis = (lenient(4), lenient(5));
        Ok(Header {
            version,
            text: (field(0)?, field(1)?),
            data: (field(2)?, field(3)?),
            analysis,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_padded_offsets() {
        let h = format!(
            "FCS3.0    {:>8}{:>8}{:>8}{:>8}{:>8}{:>8}",
            58, 1234, "", " 99 ", 0, 0
        );
        let bytes = h.into_bytes();
        let hd = Header::parse("x.fcs", &bytes, 0).unwrap();
        assert_eq!(hd.version, "3.0");
        assert_eq!(hd.text, (Some(58), Some(1234)));
        assert_eq!(hd.data, (None, Some(99)));
        assert_eq!(hd.analysis, (Some(0), Some(0)));
        assert!(hd.warnings.is_empty());
    }

    #[test]
    fn garbled_analysis_offsets_are_a_warning() {
        let h = format!(
            "FCS3.1    {:>8}{:>8}{:>8}{:>8}{:>8}{:>8}",
            58, 1234, 1235, 2000, "12x4", 7
        );
        let hd = Header::parse("a.fcs", h.as_bytes(), 0).unwrap();
        assert_eq!(hd.analysis, (None, Some(7)));
        assert_eq!(hd.warnings.len(), 1);
        assert!(
            hd.warnings[0].contains("ANALYSIS start"),
            "{:?}",
            hd.warnings
        );
    }

    #[test]
    fn short_or_foreign_files_fail_with_context() {
        let e = Header::parse("junk.fcs", b"0123456789", 0).unwrap_err();
        assert!(e.to_string().contains("junk.fcs: HEADER"), "{e}");
        assert!(e.to_string().contains("10 bytes"), "{e}");
        let mut b = vec![b' '; 58];
        b[..6].copy_from_slice(b"PK\x03\x04ab");
        assert!(Header::parse("z.fcs", &b, 0)
            .unwrap_err()
            .to_string()
            .contains("not an FCS file"));
    }
}
