//! The reader: locates a data set through the `$NEXTDATA` chain, parses its
//! HEADER and TEXT (plus supplemental TEXT), resolves where DATA really is,
//! and decodes it into a [`Sample`].
//!
//! Sizes are checked against the bytes actually present before anything is
//! allocated: `$PAR` against the keywords, `$TOT` × event width against the
//! file, segment offsets against the file length. A damaged file therefore
//! costs at most a small multiple of its own size, never what it claims.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use super::alloc;
use super::decode::{self, ByteSource, FileSource};
use super::error::{human_bytes, thousands, FcsError, Segment};
use super::header::{Header, HEADER_LEN};
use super::layout::{self, parse_u64, KeywordMap, Layout};
use super::text::parse_text;
use crate::matrix::EventMatrix;
use crate::sample::{Keywords, Sample, Scale, Warning};

/// Reads FCS files; keeps its buffers between reads, so a batch that reads
/// file after file with one `Reader` (and [`Reader::read_into`] one
/// `Sample`) allocates almost nothing per file.
#[derive(Debug, Default)]
pub struct Reader {
    /// HEADER + TEXT bytes of the data set being parsed.
    text_buf: Vec<u8>,
}

/// HEADER and keywords of one data set.
struct DataSetText {
    base: u64,
    header: Header,
    /// Deduplicated keywords in file order (primary TEXT, then supplemental).
    entries: Vec<(String, String)>,
    map: KeywordMap,
    /// Relative inclusive TEXT range.
    text: (u64, u64),
    /// The TEXT delimiter byte.
    delimiter: Option<u8>,
    warnings: Vec<String>,
}

impl Reader {
    /// A reader with empty buffers.
    pub fn new() -> Self {
        Reader::default()
    }

    /// Reads data set `k` (0-based) of the file at `path`.
    pub fn read(&mut self, path: &Path, k: usize) -> Result<Sample, FcsError> {
        let mut sample = empty_sample();
        self.read_into(path, k, &mut sample)?;
        Ok(sample)
    }

    /// Reads data set `k` of `path` into `sample`, reusing the allocation of
    /// its event matrix when large enough (see [`EventMatrix::reset`]).
    pub fn read_into(
        &mut self,
        path: &Path,
        k: usize,
        sample: &mut Sample,
    ) -> Result<(), FcsError> {
        let name = path.display().to_string();
        let io = |source| FcsError::Io {
            file: name.clone(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let src = FileSource { file, len };
        self.read_source(&name, &src, k, sample)
    }

    /// Reads data set `k` from bytes in memory (`name` is used in messages).
    pub fn read_bytes_into(
        &mut self,
        name: &str,
        bytes: &[u8],
        k: usize,
        sample: &mut Sample,
    ) -> Result<(), FcsError> {
        self.read_source(name, bytes, k, sample)
    }

    fn read_source(
        &mut self,
        name: &str,
        src: &(impl ByteSource + ?Sized),
        k: usize,
        sample: &mut Sample,
    ) -> Result<(), FcsError> {
        let len = src.len();
        let mut base = 0u64;
        let mut index = 0usize;
        let mut target = None;
        let mut chain_warnings = Vec::new();
        // Data sets may point their TEXT at the same bytes; bounding the TEXT
        // parsed along the chain keeps a crafted chain from taking
        // quadratic time.
        let budget = len.saturating_mul(4).saturating_add(1 << 20);
        let mut parsed_bytes = 0u64;
        let count = loop {
            let parsed = match self.parse_text_segments(name, src, base) {
                Ok(p) => p,
                Err(e) if index <= k => return Err(e),
                Err(e) => {
                    chain_warnings.push(format!(
                        "TEXT: $NEXTDATA of data set {} points to byte {base}, which is not a readable data set ({e}); counted {index} data set(s)",
                        index - 1
                    ));
                    break index;
                }
            };
            parsed_bytes = parsed_bytes.saturating_add(parsed.text.1 - parsed.text.0 + 1);
            let mut next = next_dataset(&parsed, len, &mut chain_warnings);
            if next.is_some() && parsed_bytes > budget {
                if index < k {
                    return Err(FcsError::Invalid {
                        file: name.to_string(),
                        segment: Segment::Text,
                        offset: Some(base),
                        keyword: Some("$NEXTDATA".into()),
                        message: format!(
                            "the $NEXTDATA chain re-reads the same TEXT bytes over and over ({} data sets so far); data set {k} is not reachable",
                            index + 1
                        ),
                    });
                }
                chain_warnings.push(format!(
                    "TEXT: the $NEXTDATA chain re-reads the same bytes; stopped counting data sets after {}",
                    index + 1
                ));
                next = None;
            }
            if index == k {
                target = Some(parsed);
            }
            match next {
                Some(nb) => {
                    base = nb;
                    index += 1;
                }
                None => break index + 1,
            }
        };
        let Some(ds) = target else {
            return Err(FcsError::NoSuchDataset {
                file: name.to_string(),
                index: k,
                count,
            });
        };
        let DataSetText {
            base,
            header,
            entries,
            map,
            text,
            delimiter,
            mut warnings,
        } = ds;
        warnings.extend(chain_warnings);
        let (layout, channels) = layout::build(name, &map, &mut warnings)?;
        let (start, n_events) =
            resolve_data(name, &header, &map, &layout, base, text, len, &mut warnings)?;

        let data_end = (n_events as u64)
            .checked_mul(layout.event_width as u64)
            .and_then(|n| (start + n).checked_sub(1));
        let analysis = self.analysis_segment(
            src,
            Segments {
                base,
                header: &header,
                map: &map,
                text,
                data: data_end.map(|e| (start, e)),
                delimiter,
            },
            &mut warnings,
        );

        let names: Vec<String> = channels.iter().map(|c| c.name.clone()).collect();
        alloc::prepare(&mut sample.events, names, n_events);
        decode::decode_data(
            src,
            base + start,
            &layout,
            n_events,
            sample.events.as_mut_slice(),
        )
        .map_err(|e| FcsError::Invalid {
            file: name.to_string(),
            segment: Segment::Data,
            offset: Some(base + start),
            keyword: None,
            message: format!("reading {} events failed: {e}", thousands(n_events as u64)),
        })?;
        sample.source = name.to_string();
        sample.fcs_version = header.version;
        sample.dataset = k;
        sample.n_datasets = count;
        sample.keywords = entries.into_iter().collect();
        sample.analysis = analysis;
        sample.channels = channels;
        sample.scale = Scale::Raw;
        sample.warnings = warnings
            .into_iter()
            .map(|message| Warning { message })
            .collect();
        Ok(())
    }

    /// Parses the HEADER, TEXT and supplemental TEXT of the data set at `base`.
    fn parse_text_segments(
        &mut self,
        name: &str,
        src: &(impl ByteSource + ?Sized),
        base: u64,
    ) -> Result<DataSetText, FcsError> {
        let avail = src.len().saturating_sub(base);
        let mut head = [0u8; HEADER_LEN];
        let head_len = avail.min(HEADER_LEN as u64) as usize;
        src.read_exact_at(base, &mut head[..head_len])
            .map_err(|source| FcsError::Io {
                file: name.to_string(),
                source,
            })?;
        let header = Header::parse(name, &head[..head_len], base)?;
        let mut warnings = header.warnings.clone();
        let invalid = |message: String| FcsError::Invalid {
            file: name.to_string(),
            segment: Segment::Header,
            offset: Some(base + 10),
            keyword: None,
            message,
        };
        let (Some(tb), Some(mut te)) = header.text else {
            return Err(invalid("the TEXT offsets are blank".into()));
        };
        if tb < HEADER_LEN as u64 || te < tb {
            return Err(invalid(format!(
                "TEXT segment {tb}–{te} is impossible (it must start after the {HEADER_LEN}-byte HEADER and end after it starts)"
            )));
        }
        if tb >= avail {
            return Err(invalid(format!(
                "TEXT starts at byte {tb}, but the file has only {} bytes; the file is truncated",
                thousands(avail)
            )));
        }
        if te >= avail {
            warnings.push(format!(
                "HEADER: TEXT end {te} is beyond the end of the file; read to byte {}",
                avail - 1
            ));
            te = avail - 1;
        }
        let text_len = (te - tb + 1) as usize;
        self.text_buf.clear();
        self.text_buf.resize(text_len, 0);
        src.read_exact_at(base + tb, &mut self.text_buf)
            .map_err(|source| FcsError::Io {
                file: name.to_string(),
                source,
            })?;
        let delimiter = self.text_buf.first().copied();
        let parsed = parse_text(&self.text_buf);
        warnings.extend(parsed.warnings.into_iter().map(|w| format!("TEXT: {w}")));
        let mut entries: Vec<(String, String)> = Vec::with_capacity(parsed.keywords.len());
        let mut index: HashMap<String, usize> = HashMap::with_capacity(parsed.keywords.len());
        for kw in parsed.keywords {
            match index.get(&kw.key) {
                Some(&i) => {
                    if let Some(e) = entries.get_mut(i) {
                        if e.1 != kw.value {
                            warnings.push(format!(
                                "TEXT: duplicate keyword {} ({:?}, then {:?}); the last is used",
                                kw.key, e.1, kw.value
                            ));
                        }
                        e.1 = kw.value;
                    }
                }
                None => {
                    index.insert(kw.key.clone(), entries.len());
                    entries.push((kw.key, kw.value));
                }
            }
        }
        let mut ds = DataSetText {
            base,
            header,
            map: HashMap::new(),
            entries,
            text: (tb, te),
            delimiter,
            warnings,
        };
        self.supplemental_text(src, &mut ds, &index, delimiter);
        ds.map = ds.entries.iter().cloned().collect();
        Ok(ds)
    }

    /// Adds the keywords of the supplemental TEXT segment, if there is a
    /// usable one. Primary TEXT wins on conflicts; anything odd is a warning,
    /// never an error (some instruments put a ZIP archive there).
    fn supplemental_text(
        &mut self,
        src: &(impl ByteSource + ?Sized),
        ds: &mut DataSetText,
        index: &HashMap<String, usize>,
        delimiter: Option<u8>,
    ) {
        let get = |k: &str| {
            index
                .get(k)
                .and_then(|&i| ds.entries.get(i))
                .and_then(|e| parse_u64(&e.1))
        };
        let (Some(sb), Some(se)) = (get("$BEGINSTEXT"), get("$ENDSTEXT")) else {
            return;
        };
        if sb == 0 && se == 0 {
            return;
        }
        let (tb, te) = ds.text;
        let avail = src.len().saturating_sub(ds.base);
        if (sb, se) == (tb, te) {
            // Some writers repeat the primary TEXT's offsets: nothing to add.
            return;
        }
        let problem = if se < sb || se >= avail {
            Some("lies outside the file".to_string())
        } else if sb <= te && se >= tb {
            Some(format!("overlaps the primary TEXT ({tb}–{te})"))
        } else if sb < HEADER_LEN as u64 {
            Some("overlaps the HEADER".to_string())
        } else {
            None
        };
        if let Some(p) = problem {
            ds.warnings.push(format!(
                "supplemental TEXT: $BEGINSTEXT/$ENDSTEXT = {sb}–{se} {p}; ignored"
            ));
            return;
        }
        self.text_buf.clear();
        self.text_buf.resize((se - sb + 1) as usize, 0);
        if src.read_exact_at(ds.base + sb, &mut self.text_buf).is_err() {
            ds.warnings.push(format!(
                "supplemental TEXT: bytes {sb}–{se} could not be read; ignored"
            ));
            return;
        }
        if self.text_buf.first().copied() != delimiter {
            ds.warnings.push(format!(
                "supplemental TEXT: bytes {sb}–{se} do not start with the TEXT delimiter (not keywords); ignored"
            ));
            return;
        }
        let parsed = parse_text(&self.text_buf);
        ds.warnings.extend(
            parsed
                .warnings
                .into_iter()
                .map(|w| format!("supplemental TEXT: {w}")),
        );
        let mut seen: HashMap<&str, ()> = HashMap::new();
        let mut added = Vec::new();
        for kw in parsed.keywords {
            if index.contains_key(&kw.key) {
                let primary = index
                    .get(&kw.key)
                    .and_then(|&i| ds.entries.get(i))
                    .map(|e| e.1.as_str());
                if primary != Some(kw.value.as_str()) {
                    ds.warnings.push(format!(
                        "supplemental TEXT: {} repeats a primary TEXT keyword with another value; the primary value is used",
                        kw.key
                    ));
                }
                continue;
            }
            added.push((kw.key, kw.value));
        }
        // Later duplicates inside STEXT: last wins, like the primary TEXT.
        let mut keep = vec![true; added.len()];
        for (i, (k, _)) in added.iter().enumerate().rev() {
            if seen.insert(k.as_str(), ()).is_some() {
                keep[i] = false;
            }
        }
        let added: Vec<_> = added
            .into_iter()
            .zip(keep)
            .filter_map(|(e, k)| k.then_some(e))
            .collect();
        ds.entries.extend(added);
    }
}

/// What locating the ANALYSIS segment needs to know about its data set
/// (offsets relative to the data set, ranges inclusive).
struct Segments<'a> {
    base: u64,
    header: &'a Header,
    map: &'a KeywordMap,
    text: (u64, u64),
    /// DATA as resolved; `None` when the data set has no events.
    data: Option<(u64, u64)>,
    delimiter: Option<u8>,
}

impl Reader {
    /// The keywords of the ANALYSIS segment, when the data set has a usable
    /// one: offsets from the HEADER, or from `$BEGINANALYSIS`/`$ENDANALYSIS`
    /// when the HEADER's are blank, zero or implausible (beyond 99,999,999
    /// bytes the HEADER cannot hold them). ANALYSIS holds the results of an
    /// earlier analysis and no event depends on it, so anything wrong with it
    /// is a warning and the segment is skipped — never an error.
    fn analysis_segment(
        &mut self,
        src: &(impl ByteSource + ?Sized),
        seg: Segments<'_>,
        warnings: &mut Vec<String>,
    ) -> Keywords {
        let pair = |p: (Option<u64>, Option<u64>)| match p {
            (Some(b), Some(e)) if (b, e) != (0, 0) => Some((b, e)),
            _ => None,
        };
        let mut kw = |k: &str| {
            seg.map.get(k).and_then(|v| {
                let v = v.trim();
                if v.is_empty() {
                    return None;
                }
                let n = parse_u64(v);
                if n.is_none() {
                    warnings.push(format!(
                        "TEXT: {k} = {v:?} is not a number; the ANALYSIS segment it locates is ignored"
                    ));
                }
                n
            })
        };
        let from_text = pair((kw("$BEGINANALYSIS"), kw("$ENDANALYSIS")));
        let from_header = pair(seg.header.analysis);
        let avail = src.len().saturating_sub(seg.base);
        let (tb, te) = seg.text;
        let problem = |(b, e): (u64, u64)| -> Option<String> {
            let overlaps = |(s, t): (u64, u64)| b <= t && e >= s;
            if e < b {
                Some("ends before it starts".into())
            } else if e >= avail {
                Some(format!(
                    "lies beyond the end of the data set ({} bytes)",
                    thousands(avail)
                ))
            } else if b < HEADER_LEN as u64 {
                Some("overlaps the HEADER".into())
            } else if overlaps((tb, te)) {
                Some(format!("overlaps TEXT ({tb}–{te})"))
            } else {
                seg.data
                    .filter(|&d| overlaps(d))
                    .map(|d| format!("overlaps DATA ({}–{})", d.0, d.1))
            }
        };
        let chosen = match (from_header, from_text) {
            (None, None) => return Keywords::new(),
            (Some(h), t) if problem(h).is_none() => {
                if let Some(t) = t.filter(|&t| t != h) {
                    warnings.push(format!(
                        "TEXT: $BEGINANALYSIS/$ENDANALYSIS ({}–{}) disagree with HEADER ({}–{}); HEADER used",
                        t.0, t.1, h.0, h.1
                    ));
                }
                h
            }
            (h, Some(t)) if problem(t).is_none() => {
                if let Some(h) = h.filter(|&h| h != t) {
                    warnings.push(format!(
                        "HEADER: ANALYSIS offsets {}–{} {}; TEXT $BEGINANALYSIS/$ENDANALYSIS ({}–{}) used",
                        h.0,
                        h.1,
                        problem(h).unwrap_or_default(),
                        t.0,
                        t.1
                    ));
                }
                t
            }
            (h, t) => {
                for (what, c) in [("HEADER offsets", h), ("$BEGINANALYSIS/$ENDANALYSIS", t)] {
                    if let Some(c) = c {
                        warnings.push(format!(
                            "ANALYSIS: segment {}–{} ({what}) {}; ignored",
                            c.0,
                            c.1,
                            problem(c).unwrap_or_default()
                        ));
                    }
                }
                return Keywords::new();
            }
        };
        let (b, e) = chosen;
        self.text_buf.clear();
        self.text_buf.resize((e - b + 1) as usize, 0);
        if src.read_exact_at(seg.base + b, &mut self.text_buf).is_err() {
            warnings.push(format!(
                "ANALYSIS: bytes {b}–{e} could not be read; ignored"
            ));
            return Keywords::new();
        }
        if self.text_buf.first().copied() != seg.delimiter {
            warnings.push(format!(
                "ANALYSIS: bytes {b}–{e} do not start with the TEXT delimiter (not keyword/value pairs); ignored"
            ));
            return Keywords::new();
        }
        let parsed = parse_text(&self.text_buf);
        warnings.extend(
            parsed
                .warnings
                .into_iter()
                .map(|w| format!("ANALYSIS: {w}")),
        );
        parsed
            .keywords
            .into_iter()
            .map(|k| (k.key, k.value))
            .collect()
    }
}

/// The absolute offset of the next data set, when `$NEXTDATA` names a
/// usable one. Offsets must move forward, so a chain always ends.
fn next_dataset(ds: &DataSetText, len: u64, warnings: &mut Vec<String>) -> Option<u64> {
    let v = ds.map.get("$NEXTDATA")?;
    let Some(nd) = parse_u64(v) else {
        warnings.push(format!("TEXT: $NEXTDATA = {v:?} is not a number; ignored"));
        return None;
    };
    if nd == 0 {
        return None;
    }
    match ds.base.checked_add(nd) {
        Some(next) if next.saturating_add(HEADER_LEN as u64) <= len => Some(next),
        _ => {
            warnings.push(format!(
                "TEXT: $NEXTDATA = {nd} points beyond the end of the file ({} bytes); no further data sets",
                thousands(len)
            ));
            None
        }
    }
}

/// Where DATA starts (relative to the data set) and how many events it holds.
///
/// HEADER and TEXT (`$BEGINDATA`/`$ENDDATA`) can disagree; real files get
/// either one wrong. A candidate is plausible when its length matches
/// `$TOT` × event width (or one more: many writers point DATA end one byte
/// past the last byte), it does not start inside the HEADER or TEXT, and its
/// bytes are inside the file. HEADER is preferred when both are, as the FCS
/// 3.x standard makes it primary for offsets below 99,999,999.
#[allow(clippy::too_many_arguments)]
fn resolve_data(
    name: &str,
    header: &Header,
    map: &KeywordMap,
    layout: &Layout,
    base: u64,
    text: (u64, u64),
    len: u64,
    warnings: &mut Vec<String>,
) -> Result<(u64, usize), FcsError> {
    let avail = len.saturating_sub(base);
    let w = layout.event_width as u64;
    let from_header = match header.data {
        (Some(b), Some(e)) if (b, e) != (0, 0) => Some((b, e)),
        _ => None,
    };
    let kw = |k: &str| map.get(k).and_then(|v| parse_u64(v));
    let from_text = match (kw("$BEGINDATA"), kw("$ENDDATA")) {
        (Some(b), Some(e)) if (b, e) != (0, 0) => Some((b, e)),
        _ => None,
    };
    let err = |offset: Option<u64>, keyword: Option<&str>, message: String| FcsError::Invalid {
        file: name.to_string(),
        segment: Segment::Data,
        offset,
        keyword: keyword.map(str::to_string),
        message,
    };
    let describe = |(b, e): (u64, u64)| format!("{}–{}", thousands(b), thousands(e));
    let (tb, te) = text;
    let starts_ok = |b: u64| b >= HEADER_LEN as u64 && !(tb <= b && b < te);

    let Some(tot) = layout.n_events else {
        // FCS 2.0 may omit $TOT: the DATA length decides.
        let pick = [from_header, from_text]
            .into_iter()
            .flatten()
            .find(|&(b, e)| starts_ok(b) && e >= b && b < avail)
            .ok_or_else(|| {
                err(
                    None,
                    Some("$TOT"),
                    "$TOT is missing and no usable DATA offsets are given".into(),
                )
            })?;
        let end = pick.1.min(avail - 1);
        let n = (end - pick.0 + 1).checked_div(w).unwrap_or(0);
        warnings.push(format!(
            "TEXT: $TOT is missing; {} events inferred from the DATA length",
            thousands(n)
        ));
        return Ok((pick.0, n as usize));
    };
    if tot == 0 {
        return Ok((0, 0));
    }
    let needed = tot.checked_mul(w);
    let fits = |(b, _e): (u64, u64)| {
        needed.is_some_and(|n| b.checked_add(n).is_some_and(|end| end <= avail))
    };
    let exact = |(b, e): (u64, u64)| {
        needed.is_some_and(|n| {
            e.checked_sub(b)
                .map(|d| d + 1)
                .is_some_and(|l| l == n || l == n + 1)
                || (n == 0 && e <= b)
        })
    };
    let plausible = |c: (u64, u64)| starts_ok(c.0) && fits(c) && exact(c);
    let chosen = match (from_header, from_text) {
        (Some(h), _) if plausible(h) => {
            if let Some(t) = from_text.filter(|&t| t != h) {
                warnings.push(format!(
                    "TEXT: $BEGINDATA/$ENDDATA ({}) disagree with HEADER ({}); HEADER used, it matches $TOT × {w} bytes",
                    describe(t),
                    describe(h)
                ));
            }
            Some(h)
        }
        (h, Some(t)) if plausible(t) => {
            if let Some(h) = h.filter(|&h| h != t) {
                warnings.push(format!(
                    "HEADER: DATA offsets ({}) are implausible; TEXT $BEGINDATA/$ENDDATA ({}) used",
                    describe(h),
                    describe(t)
                ));
            }
            Some(t)
        }
        _ => None,
    };
    let chosen = match chosen {
        Some(c) => c,
        None => {
            // No exact match: accept a segment with room to spare, else explain.
            let roomy = [from_header, from_text]
                .into_iter()
                .flatten()
                .find(|&c| starts_ok(c.0) && fits(c) && c.1 >= c.0);
            match roomy {
                Some(c) => {
                    let declared = c.1 - c.0 + 1;
                    let need = needed.unwrap_or(0);
                    warnings.push(if declared > need {
                        format!(
                            "DATA: segment {} is {} bytes but $TOT × {w} = {} bytes; the first {} bytes are read",
                            describe(c),
                            thousands(declared),
                            thousands(need),
                            thousands(need)
                        )
                    } else {
                        format!(
                            "DATA: segment {} is {} bytes, short of $TOT × {w} = {} bytes; the file holds them, so {} bytes from its start are read",
                            describe(c),
                            thousands(declared),
                            thousands(need),
                            thousands(need)
                        )
                    });
                    c
                }
                None => {
                    let Some(c) = from_header.or(from_text) else {
                        return Err(err(
                            None,
                            Some("$BEGINDATA"),
                            "no DATA offsets: HEADER fields are blank or zero and TEXT has no $BEGINDATA/$ENDDATA".into(),
                        ));
                    };
                    let need_text = match needed {
                        Some(n) => human_bytes(n as u128),
                        None => "more than 18 EB".to_string(),
                    };
                    if !starts_ok(c.0) {
                        return Err(err(
                            Some(base + c.0),
                            Some("$BEGINDATA"),
                            format!(
                                "DATA would start at byte {}, inside the HEADER or TEXT segment ({tb}–{te})",
                                thousands(c.0)
                            ),
                        ));
                    }
                    let have = avail.saturating_sub(c.0);
                    let message = if c.1 >= avail && c.0 < avail {
                        format!(
                            "DATA is declared at bytes {} but the file ends at byte {}: the file is truncated ($TOT = {tot} events × {w} bytes needs {need_text}, {} bytes are present)",
                            describe(c),
                            thousands(len),
                            thousands(have)
                        )
                    } else if c.0 >= avail {
                        format!(
                            "DATA is declared at bytes {} but the file ends at byte {}: the file is truncated (no DATA present)",
                            describe(c),
                            thousands(len)
                        )
                    } else {
                        format!(
                            "$TOT = {tot} events × {w} bytes needs {need_text}, but DATA ({}) holds {} bytes",
                            describe(c),
                            thousands(have.min(c.1.saturating_sub(c.0) + 1))
                        )
                    };
                    return Err(err(Some(base + c.0), Some("$TOT"), message));
                }
            }
        }
    };
    if let Some(n) = needed {
        if chosen.1.checked_sub(chosen.0).map(|d| d + 1) == Some(n + 1) && n > 0 {
            warnings.push("DATA: end offset points one byte past the last data byte (a common writer slip); ignored".into());
        }
    }
    Ok((chosen.0, tot as usize))
}

/// A sample with no events, to read into.
pub fn empty_sample() -> Sample {
    Sample {
        source: String::new(),
        fcs_version: String::new(),
        dataset: 0,
        n_datasets: 0,
        keywords: Keywords::new(),
        analysis: Default::default(),
        channels: Vec::new(),
        events: EventMatrix::zeros(Vec::new(), 0),
        scale: Scale::Raw,
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::fcs::read_bytes;

    /// TEXT always occupies bytes 58–569 (space-padded), DATA follows at 570.
    fn fcs(header_data: (&str, &str), keywords: &[(&str, &str)], data: &[u8]) -> Vec<u8> {
        let mut text = String::from("/");
        for (k, v) in keywords {
            text.push_str(&format!("{k}/{v}/"));
        }
        assert!(text.len() <= 512);
        let text = format!("{text:<512}");
        let mut b = format!(
            "FCS3.0    {:>8}{:>8}{:>8}{:>8}{:>8}{:>8}",
            58, 569, header_data.0, header_data.1, 0, 0
        )
        .into_bytes();
        b.extend_from_slice(text.as_bytes());
        b.extend_from_slice(data);
        b
    }

    /// Two 16-bit big-endian events of two channels, with flag bits above $PnR.
    const DATA: [u8; 8] = [0xFC, 0x05, 0x00, 0x07, 0x00, 0x09, 0x04, 0x01];

    fn keywords<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut k = vec![
            ("$DATATYPE", "I"),
            ("$BYTEORD", "4,3,2,1"),
            ("$MODE", "L"),
            ("$PAR", "2"),
            ("$P1N", "FSC"),
            ("$P1B", "16"),
            ("$P1R", "1024"),
            ("$P2N", "SSC"),
            ("$P2B", "16"),
            ("$P2R", "1024"),
        ];
        k.extend_from_slice(extra);
        k
    }

    #[test]
    fn masks_and_byte_order() {
        let b = fcs(("570", "577"), &keywords(&[("$TOT", "2")]), &DATA);
        let s = read_bytes("t.fcs", &b, 0).unwrap();
        assert_eq!(s.events.column(0), &[5.0, 9.0]);
        assert_eq!(s.events.column(1), &[7.0, 1.0]);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn implausible_header_offsets_fall_back_to_text() {
        let text_ok = [("$TOT", "2"), ("$BEGINDATA", "570"), ("$ENDDATA", "577")];
        // HEADER DATA start inside TEXT.
        let b = fcs(("100", "107"), &keywords(&text_ok), &DATA);
        let s = read_bytes("t.fcs", &b, 0).unwrap();
        assert_eq!(s.events.column(0), &[5.0, 9.0]);
        assert!(
            s.warnings[0].message.contains("implausible"),
            "{:?}",
            s.warnings
        );
        // HEADER DATA end beyond the end of the file.
        let b = fcs(("570", "999"), &keywords(&text_ok), &DATA);
        assert_eq!(
            read_bytes("t.fcs", &b, 0).unwrap().events.column(1),
            &[7.0, 1.0]
        );
        // HEADER blank (offsets above 99,999,999 are written there as blanks).
        let b = fcs(("", ""), &keywords(&text_ok), &DATA);
        let s = read_bytes("t.fcs", &b, 0).unwrap();
        assert_eq!(s.events.column(1), &[7.0, 1.0]);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn one_byte_past_and_missing_tot() {
        let mut data = DATA.to_vec();
        data.push(0);
        let b = fcs(("570", "578"), &keywords(&[("$TOT", "2")]), &data);
        let s = read_bytes("t.fcs", &b, 0).unwrap();
        assert_eq!(s.n_events(), 2);
        assert!(
            s.warnings[0].message.contains("one byte past"),
            "{:?}",
            s.warnings
        );
        let b = fcs(("570", "577"), &keywords(&[]), &DATA);
        let s = read_bytes("t.fcs", &b, 0).unwrap();
        assert_eq!(s.n_events(), 2);
        assert!(
            s.warnings[0].message.contains("$TOT is missing"),
            "{:?}",
            s.warnings
        );
    }

    /// `fcs(..)` with an ANALYSIS segment appended after DATA (at 578) and
    /// the HEADER's ANALYSIS offsets set to `header`.
    fn with_analysis(extra: &[(&str, &str)], header: (&str, &str), analysis: &[u8]) -> Vec<u8> {
        let mut kw = keywords(&[("$TOT", "2")]);
        kw.extend_from_slice(extra);
        let mut b = fcs(("570", "577"), &kw, &DATA);
        let fields = format!("{:>8}{:>8}", header.0, header.1);
        b[42..58].copy_from_slice(fields.as_bytes());
        b.extend_from_slice(analysis);
        b
    }

    #[test]
    fn analysis_segment_from_header_or_text() {
        let seg = b"/P$GATE_NAME0/R1/\nP$REGION_POINT0[0]/11141, 10375/";
        let end = (578 + seg.len() - 1).to_string();
        let expect = [
            ("P$GATE_NAME0", "R1"),
            ("P$REGION_POINT0[0]", "11141, 10375"),
        ];
        // HEADER only (FCS 2.0 style), and TEXT only (HEADER zero).
        for (extra, header) in [
            (vec![], ("578", end.as_str())),
            (
                vec![("$BEGINANALYSIS", "578"), ("$ENDANALYSIS", end.as_str())],
                ("0", "0"),
            ),
        ] {
            let s = read_bytes("a.fcs", &with_analysis(&extra, header, seg), 0).unwrap();
            let got: Vec<(&str, &str)> = s.analysis.iter().collect();
            assert_eq!(got, expect);
            assert!(s.warnings.is_empty(), "{:?}", s.warnings);
            assert_eq!(s.events.column(0), &[5.0, 9.0]);
            assert!(s.keywords.get("P$GATE_NAME0").is_none());
        }
        // HEADER pointing into DATA: TEXT's offsets win, with a warning.
        let extra = [("$BEGINANALYSIS", "578"), ("$ENDANALYSIS", end.as_str())];
        let s = read_bytes("a.fcs", &with_analysis(&extra, ("572", "580"), seg), 0).unwrap();
        assert_eq!(s.analysis.len(), 2);
        assert!(
            s.warnings[0].message.contains("overlaps DATA"),
            "{:?}",
            s.warnings
        );
        // No ANALYSIS: nothing, no warning.
        let s = read_bytes("a.fcs", &with_analysis(&[], ("0", "0"), b""), 0).unwrap();
        assert!(s.analysis.is_empty() && s.warnings.is_empty());
    }

    #[test]
    fn broken_analysis_segments_are_warnings_not_errors() {
        let seg = b"/K/v/";
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            (&'a str, &'a str),
            &'a [u8],
            &'a str,
        );
        let cases: [Case; 6] = [
            (&[], ("578", "9999"), seg, "beyond the end"),
            (&[], ("600", "590"), seg, "ends before it starts"),
            (&[], ("100", "104"), seg, "overlaps TEXT"),
            (
                &[],
                ("578", "582"),
                b"PK\x03\x04z",
                "do not start with the TEXT delimiter",
            ),
            (&[], ("57x", "582"), seg, "not a number"),
            (
                &[("$BEGINANALYSIS", "abc"), ("$ENDANALYSIS", "582")],
                ("0", "0"),
                seg,
                "not a number",
            ),
        ];
        for (extra, header, bytes, why) in cases {
            let s = read_bytes("a.fcs", &with_analysis(extra, header, bytes), 0).unwrap();
            assert!(s.analysis.is_empty(), "{why}");
            assert_eq!(s.events.column(1), &[7.0, 1.0]);
            assert!(
                s.warnings.iter().any(|w| w.message.contains(why)),
                "{why}: {:?}",
                s.warnings
            );
        }
    }

    #[test]
    fn nextdata_chain_and_bad_links() {
        let second = fcs(("570", "573"), &keywords(&[("$TOT", "1")]), &DATA[4..]);
        let probe = fcs(
            ("570", "577"),
            &keywords(&[("$TOT", "2"), ("$NEXTDATA", "0000")]),
            &DATA,
        );
        let next = format!("{:04}", probe.len());
        let mut b = fcs(
            ("570", "577"),
            &keywords(&[("$TOT", "2"), ("$NEXTDATA", &next)]),
            &DATA,
        );
        b.extend_from_slice(&second);
        let s = read_bytes("t.fcs", &b, 1).unwrap();
        assert_eq!((s.dataset, s.n_datasets, s.n_events()), (1, 2, 1));
        assert_eq!(s.events.column(0), &[9.0]);
        let s = read_bytes("t.fcs", &b, 0).unwrap();
        assert_eq!((s.n_datasets, s.n_events()), (2, 2));
        let e = read_bytes("t.fcs", &b, 2).unwrap_err().to_string();
        assert!(e.contains("holds 2 data set"), "{e}");
        // A link beyond the end of the file is reported, not followed.
        let b = fcs(
            ("570", "577"),
            &keywords(&[("$TOT", "2"), ("$NEXTDATA", "9999")]),
            &DATA,
        );
        let s = read_bytes("t.fcs", &b, 0).unwrap();
        assert_eq!(s.n_datasets, 1);
        assert!(
            s.warnings.iter().any(|w| w.message.contains("$NEXTDATA")),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn chain_rereading_one_text_is_cut_short() {
        // 2,000 HEADERs back to back, all pointing at one 1 MB TEXT whose
        // $NEXTDATA = 58 leads to the next HEADER: 2 GB of parsing unless
        // the chain's TEXT budget stops it.
        let n = 2000u64;
        let mut text = String::from("/$NEXTDATA/58/");
        for (k, v) in keywords(&[("$TOT", "0")]) {
            text.push_str(&format!("{k}/{v}/"));
        }
        while text.len() < 1 << 20 {
            text.push_str("PADDING/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/");
        }
        let text_start = n * 58;
        let mut b = Vec::new();
        for i in 0..n {
            let base = i * 58;
            let tb = text_start - base;
            let te = tb + text.len() as u64 - 1;
            b.extend_from_slice(
                format!("FCS3.0    {tb:>8}{te:>8}{:>8}{:>8}{:>8}{:>8}", 0, 0, 0, 0).as_bytes(),
            );
        }
        b.extend_from_slice(text.as_bytes());
        let t = std::time::Instant::now();
        let s = read_bytes("chain.fcs", &b, 0).unwrap();
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
        assert!(s.n_datasets < 10, "{}", s.n_datasets);
        assert!(
            s.warnings.iter().any(|w| w.message.contains("re-reads")),
            "{:?}",
            s.warnings
        );
        let e = read_bytes("chain.fcs", &b, 1500).unwrap_err().to_string();
        assert!(e.contains("not reachable"), "{e}");
    }
}
