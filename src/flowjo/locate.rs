//! Finding the FCS file of each workspace sample.
//!
//! FlowJo records a sample's file three ways: the `DataSet` URI (an absolute
//! path on the machine that saved the workspace, often a Windows drive), the
//! `SampleNode` name (the file name when it was added) and the `$FIL` keyword
//! (the name the instrument gave it). Workspaces travel between machines, so
//! the URI rarely resolves as is; the names are tried next, beside the
//! workspace or in the directory the user gives.

use std::path::{Path, PathBuf};

use super::model::WspSample;

/// Names a sample's file may have, most specific first, without duplicates:
/// the URI's last component, the `SampleNode` name, then `$FIL`.
pub fn candidate_names(s: &WspSample) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let uri_name = s.uri.as_deref().map(uri_path).and_then(|p| {
        p.rsplit(['/', '\\'])
            .next()
            .filter(|n| !n.is_empty())
            .map(str::to_string)
    });
    for n in [
        uri_name,
        Some(s.name.clone()),
        s.keyword("$FIL").map(str::to_string),
    ]
    .into_iter()
    .flatten()
    {
        let n = n.trim().to_string();
        if !n.is_empty() && !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// The path part of a `file:` URI, percent-decoded (`file:/V:/a%20b.fcs` →
/// `/V:/a b.fcs`, `file:///x.fcs` → `/x.fcs`); other strings unchanged.
pub fn uri_path(uri: &str) -> String {
    let p = match uri.strip_prefix("file:") {
        Some(rest) => match rest.strip_prefix("//") {
            // file://host/path: drop an (empty or local) authority.
            Some(r) => r.find('/').map_or(r, |i| &r[i..]),
            None => rest,
        },
        None => uri,
    };
    percent_decode(p)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a sample's FCS file is, or what was tried.
pub fn locate(s: &WspSample, wsp_dir: &Path, fcs_dir: Option<&Path>) -> Result<PathBuf, String> {
    let names = candidate_names(s);
    let mut tried: Vec<String> = Vec::new();
    if let Some(dir) = fcs_dir {
        if let Some(p) = find_in_dir(dir, &names) {
            return Ok(p);
        }
        tried.push(format!("{} in {}", names.join(" / "), dir.display()));
    } else {
        if let Some(uri) = &s.uri {
            let p = PathBuf::from(uri_path(uri));
            let p = if p.is_absolute() { p } else { wsp_dir.join(p) };
            if p.is_file() {
                return Ok(p);
            }
            tried.push(p.display().to_string());
        }
        if let Some(p) = find_in_dir(wsp_dir, &names) {
            return Ok(p);
        }
        tried.push(format!("{} in {}", names.join(" / "), wsp_dir.display()));
    }
    Err(format!("FCS file not found (tried {})", tried.join("; ")))
}

/// A file in `dir` with one of `names`: exact first, then ignoring case
/// (files copied through case-insensitive file systems).
fn find_in_dir(dir: &Path, names: &[String]) -> Option<PathBuf> {
    for n in names {
        let p = dir.join(n);
        if p.is_file() {
            return Some(p);
        }
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    names.iter().find_map(|n| {
        entries
            .iter()
            .find(|p| {
                p.file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| f.eq_ignore_ascii_case(n))
            })
            .cloned()
    })
}

/// FCS files in a directory (by extension: .fcs, .lmd, or FCS 2.0-style
/// numbered extensions such as `.B08`, which instruments wrote), sorted by
/// name so that output order does not depend on the file system.
pub fn fcs_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("fcs") || e.eq_ignore_ascii_case("lmd"))
        })
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowjo::model::Compensation;

    fn sample(uri: Option<&str>, name: &str, fil: Option<&str>) -> WspSample {
        WspSample {
            sample_id: "1".into(),
            name: name.into(),
            uri: uri.map(str::to_string),
            keywords: fil
                .map(|f| vec![("$FIL".into(), f.into())])
                .unwrap_or_default(),
            compensation: Compensation::None,
            transforms: Vec::new(),
            count: None,
            populations: Vec::new(),
        }
    }

    #[test]
    fn uris_decode() {
        assert_eq!(uri_path("file:/V:/a%20b/c.fcs"), "/V:/a b/c.fcs");
        assert_eq!(uri_path("file:///home/x.fcs"), "/home/x.fcs");
        assert_eq!(uri_path("file://localhost/home/x.fcs"), "/home/x.fcs");
        assert_eq!(uri_path("x.fcs"), "x.fcs");
    }

    #[test]
    fn candidates_in_order_without_duplicates() {
        let s = sample(
            Some("file:/C:/data/run%201/A1.fcs"),
            "A1.fcs",
            Some("123.fcs"),
        );
        assert_eq!(candidate_names(&s), vec!["A1.fcs", "123.fcs"]);
        let s = sample(Some("C:\\data\\B2.fcs"), "B2 renamed", None);
        assert_eq!(candidate_names(&s), vec!["B2.fcs", "B2 renamed"]);
    }

    #[test]
    fn finds_beside_the_workspace_when_the_uri_is_foreign() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a1.FCS"), b"x").unwrap();
        let s = sample(Some("file:/V:/elsewhere/A1.fcs"), "A1.fcs", None);
        let p = locate(&s, dir.path(), None).unwrap();
        assert_eq!(p.file_name().unwrap(), "a1.FCS");
        let missing = sample(Some("file:/V:/elsewhere/Z.fcs"), "Z.fcs", Some("Z0.fcs"));
        let err = locate(&missing, dir.path(), None).unwrap_err();
        assert!(err.contains("Z.fcs") && err.contains("Z0.fcs"), "{err}");
    }
}
