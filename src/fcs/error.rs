//! Errors from reading and writing FCS files.
//!
//! Every error names the file and, where it applies, the segment, the byte
//! offset and the keyword involved, so that one line tells a user what is
//! wrong and where to look ("P07.fcs: TEXT: $TOT = 99999999 events × 60 bytes
//! needs 6.0 GB, but the file holds 3,729,600 bytes after $BEGINDATA").

use std::fmt;

/// The part of an FCS file an error or warning refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// The fixed-layout HEADER (version and segment offsets).
    Header,
    /// The primary TEXT segment (keywords).
    Text,
    /// The supplemental TEXT segment (`$BEGINSTEXT`/`$ENDSTEXT`).
    SupplementalText,
    /// The DATA segment (events).
    Data,
    /// The ANALYSIS segment.
    Analysis,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Segment::Header => "HEADER",
            Segment::Text => "TEXT",
            Segment::SupplementalText => "supplemental TEXT",
            Segment::Data => "DATA",
            Segment::Analysis => "ANALYSIS",
        })
    }
}

/// Why an FCS file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FcsError {
    /// The operating system refused to open, read or write the file.
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The file breaks the FCS format in a way the reader cannot repair.
    #[error("{file}: {segment}{}: {message}", at(.offset))]
    Invalid {
        file: String,
        segment: Segment,
        /// Absolute byte offset in the file, when one applies.
        offset: Option<u64>,
        /// The keyword involved, when one is (upper-cased).
        keyword: Option<String>,
        message: String,
    },
    /// A valid FCS feature that nkflow does not decode (`$MODE` C/U, `$DATATYPE` A).
    #[error("{file}: TEXT: {keyword} = {value}: {message}")]
    Unsupported {
        file: String,
        keyword: String,
        value: String,
        message: String,
    },
    /// A data set index beyond the `$NEXTDATA` chain.
    #[error("{file}: data set {index} requested, but the file holds {count} data set(s) (indices are 0-based)")]
    NoSuchDataset {
        file: String,
        index: usize,
        count: usize,
    },
    /// The sample cannot be written as FCS (inconsistent shape, I/O failure).
    #[error("{file}: cannot write FCS: {message}")]
    Write { file: String, message: String },
}

fn at(offset: &Option<u64>) -> String {
    match offset {
        Some(o) => format!(" at byte {o}"),
        None => String::new(),
    }
}

impl FcsError {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            FcsError::Io { file, .. }
            | FcsError::Invalid { file, .. }
            | FcsError::Unsupported { file, .. }
            | FcsError::NoSuchDataset { file, .. }
            | FcsError::Write { file, .. } => file,
        }
    }

    /// The keyword involved, if any.
    pub fn keyword(&self) -> Option<&str> {
        match self {
            FcsError::Invalid { keyword, .. } => keyword.as_deref(),
            FcsError::Unsupported { keyword, .. } => Some(keyword),
            _ => None,
        }
    }
}

/// Formats a byte count with thousands separators ("3,729,600"), as users
/// compare it with `ls -l`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A size in human units ("6.0 GB") for messages about absurd sizes.
pub(crate) fn human_bytes(n: u128) -> String {
    const UNITS: [&str; 6] = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_readable() {
        assert_eq!(thousands(3_729_600), "3,729,600");
        assert_eq!(thousands(999), "999");
        assert_eq!(human_bytes(5_999_999_940), "6.0 GB");
    }

    #[test]
    fn display_names_file_segment_offset() {
        let e = FcsError::Invalid {
            file: "P07.fcs".into(),
            segment: Segment::Header,
            offset: Some(10),
            keyword: None,
            message: "TEXT start is not a number".into(),
        };
        assert_eq!(
            e.to_string(),
            "P07.fcs: HEADER at byte 10: TEXT start is not a number"
        );
    }
}
