//! Robustness: thousands of seeded mutations of the real corpus files
//! (truncation anywhere, flipped bytes, corrupted HEADER offsets, corrupted
//! and absurd keyword values such as huge `$TOT`/`$PAR`, shifted TEXT). Every
//! read must return `Ok` or `Err` — no panic, no hang — and, measured with a
//! counting global allocator, never hold more memory than a small multiple of
//! the file's size: sizes the file claims are checked against the bytes it
//! has before anything is allocated.
//!
//! One `#[test]` only, so the global allocation counters see this test alone.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nkflow::fcs;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Counts live heap bytes and their peak since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Keywords whose corruption exercises the size and offset checks.
const TARGETS: [&[u8]; 14] = [
    b"$TOT",
    b"$PAR",
    b"$BEGINDATA",
    b"$ENDDATA",
    b"$NEXTDATA",
    b"$BYTEORD",
    b"$DATATYPE",
    b"$P1B",
    b"$P2B",
    b"$P1R",
    b"$BEGINSTEXT",
    b"$ENDSTEXT",
    b"$MODE",
    b"$P1E",
];

const ABSURD: [&str; 12] = [
    "99999999",
    "999999999999999999999",
    "18446744073709551615",
    "0",
    "",
    "-1",
    "1e9",
    "4294967296",
    "2,1,3",
    "A",
    "65",
    "7",
];

fn digits(rng: &mut ChaCha8Rng) -> String {
    let n = rng.gen_range(1..=12);
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// One seeded mutation of `orig`; returns a label for messages.
fn mutate(orig: &[u8], rng: &mut ChaCha8Rng) -> (Vec<u8>, &'static str) {
    let mut b = orig.to_vec();
    let len = b.len();
    // Most structure lives in the first few kB (HEADER, TEXT).
    let head = len.min(8192);
    match rng.gen_range(0..7) {
        0 => {
            b.truncate(rng.gen_range(0..len));
            (b, "truncate")
        }
        1 => {
            for _ in 0..rng.gen_range(1..8) {
                let i = if rng.gen_bool(0.7) {
                    rng.gen_range(0..head)
                } else {
                    rng.gen_range(0..len)
                };
                b[i] ^= 1 << rng.gen_range(0..8);
            }
            (b, "flip bits")
        }
        2 => {
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..head);
                b[i] = rng.gen();
            }
            (b, "random bytes")
        }
        3 => {
            // A HEADER offset field: random digits, blank, or past the end.
            if len >= 58 {
                let f = rng.gen_range(0..6);
                let v = match rng.gen_range(0..4) {
                    0 => digits(rng),
                    1 => String::new(),
                    2 => (len as u64 + rng.gen_range(0..100_000)).to_string(),
                    _ => rng.gen_range(0..len as u64).to_string(),
                };
                let v = format!("{:>8}", &v[..v.len().min(8)]);
                b[10 + 8 * f..18 + 8 * f].copy_from_slice(v.as_bytes());
            }
            (b, "header offset")
        }
        4 | 5 => {
            // A structural keyword's value replaced (lengths change, so every
            // later offset shifts too).
            let key = TARGETS[rng.gen_range(0..TARGETS.len())];
            if let Some(pos) = find(&b[..head], key) {
                let delim = b.get(pos.saturating_sub(1)).copied().unwrap_or(b'/');
                let vstart = pos + key.len() + 1;
                let vend = b
                    .get(vstart..head)
                    .and_then(|rest| rest.iter().position(|&c| c == delim))
                    .map_or(vstart, |e| vstart + e);
                let v = if rng.gen_bool(0.5) {
                    ABSURD[rng.gen_range(0..ABSURD.len())].to_string()
                } else {
                    digits(rng)
                };
                if vstart <= vend && vend <= len {
                    b.splice(vstart..vend, v.bytes());
                }
            }
            (b, "keyword value")
        }
        _ => {
            // Insert or delete bytes inside TEXT.
            let i = rng.gen_range(0..head);
            if rng.gen_bool(0.5) {
                b.remove(i);
            } else {
                b.insert(i, rng.gen());
            }
            (b, "shift")
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn mutated_corpus_files_never_panic_hang_or_overallocate() {
    let Some(dir) = common::require_shared("fcs-corpus") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().and_then(|e| e.to_str()) != Some("json")
                && p.extension().and_then(|e| e.to_str()) != Some("md")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 41);
    let tmp = tempfile::tempdir().unwrap();
    // Warm up rayon's pool and the reader's thread-local buffers.
    for f in &files {
        let _ = fcs::read(f);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x05ee_dfc5);
    let (mut n_reads, mut n_ok, mut n_err) = (0usize, 0usize, 0usize);
    let mut slowest = (Duration::ZERO, String::new());
    let mut worst_ratio = 0.0f64;
    let mut worst_small = 0usize;
    let started = Instant::now();
    for f in &files {
        let orig = std::fs::read(f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        // Fewer rounds for the multi-MB files keep the whole run well under a minute.
        let rounds = if orig.len() > 1_000_000 { 60 } else { 400 };
        for round in 0..rounds {
            let (bytes, what) = mutate(&orig, &mut rng);
            let label = format!("{name} round {round} ({what})");
            let via_file = round % 10 == 0;
            let path = tmp.path().join("mutant.fcs");
            if via_file {
                std::fs::write(&path, &bytes).unwrap();
            }
            let base = LIVE.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            let t = Instant::now();
            let k = if round % 7 == 0 { 1 } else { 0 };
            let result = std::panic::catch_unwind(|| {
                if via_file {
                    fcs::read_dataset(&path, k)
                } else {
                    fcs::read_bytes(&label, &bytes, k)
                }
            });
            let took = t.elapsed();
            let extra = PEAK.load(Ordering::Relaxed).saturating_sub(base);
            let result = result.unwrap_or_else(|_| panic!("{label}: the reader panicked"));
            n_reads += 1;
            match &result {
                Ok(s) => {
                    n_ok += 1;
                    assert_eq!(s.events.n_channels(), s.channels.len(), "{label}");
                }
                Err(e) => {
                    n_err += 1;
                    let msg = e.to_string();
                    assert!(!msg.is_empty(), "{label}");
                }
            }
            drop(result);
            // The sample (≤ 8 bytes per stored byte, for 1-byte integers) plus
            // keywords and parse state: bounded by the file, whatever it claims.
            let limit = 10 * bytes.len() + (256 << 10);
            assert!(
                extra <= limit,
                "{label}: {extra} bytes allocated for a {}-byte file",
                bytes.len()
            );
            if bytes.len() >= 100_000 {
                worst_ratio = worst_ratio.max(extra as f64 / bytes.len() as f64);
            } else {
                worst_small = worst_small.max(extra);
            }
            if took > slowest.0 {
                slowest = (took, label.clone());
            }
            assert!(took < Duration::from_secs(2), "{label}: read took {took:?}");
        }
    }
    eprintln!(
        "{n_reads} mutated reads ({n_ok} Ok, {n_err} Err) in {:?}; slowest {:?} ({}); peak allocation up to {worst_ratio:.2}× file size (files ≥ 100 kB), {worst_small} bytes (smaller files)",
        started.elapsed(),
        slowest.0,
        slowest.1
    );
    assert!(n_reads >= 10_000);
    // Both outcomes occur: mutations that break files and ones that do not.
    assert!(n_ok > 1000 && n_err > 1000, "{n_ok} Ok, {n_err} Err");
}
