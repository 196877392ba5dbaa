//! FCS read speed through the public API the CLI uses.
//!
//! A 1M-event × 20-channel float32 file (≈ 80 MB, written by our writer) is
//! read from the page cache:
//! - `floor`: its bytes into an already-allocated buffer (what any reader
//!   must at least pay);
//! - `read_into (reuse)`: parse into a reused event matrix, as in a batch;
//! - `read (fresh)`: parse into a newly allocated matrix (first-touch page
//!   faults of 160 MB of f64 included);
//! - `batch`: 200 files × 20k events, files/s with 1 and 2 rayon threads.
//!
//! FlowIO's in-process parse of the same file (`benches/flowio_read.py`) is
//! run when the peers' Python is available and printed beside ours.
//! Run: `cargo bench --bench fcs_read -- --warm-up-time 1 --measurement-time 3`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nkflow::fcs::{self, Reader};
use nkflow::sample::{Channel, Keywords, Sample, Scale};
use nkflow::EventMatrix;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

const BIG_EVENTS: usize = 1_000_000;
const CHANNELS: usize = 20;
const BATCH_FILES: usize = 200;
const BATCH_EVENTS: usize = 20_000;

fn sample(n: usize, seed: u64) -> Sample {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let names: Vec<String> = (0..CHANNELS).map(|j| format!("FL{j}-A")).collect();
    let mut events = EventMatrix::zeros(names.clone(), n);
    for j in 0..CHANNELS {
        for v in events.column_mut(j) {
            *v = rng.gen_range(-100.0f32..262_144.0) as f64;
        }
    }
    let channels = names
        .iter()
        .enumerate()
        .map(|(i, name)| Channel {
            number: i + 1,
            name: name.clone(),
            label: None,
            range: 262_144.0,
            bits: 32,
            gain: None,
            log: None,
        })
        .collect();
    let mut keywords = Keywords::new();
    keywords.insert("$CYT", "nkflow bench");
    Sample {
        source: "bench".into(),
        fcs_version: "3.1".into(),
        dataset: 0,
        n_datasets: 1,
        keywords,
        analysis: Default::default(),
        channels,
        events,
        scale: Scale::Raw,
        warnings: vec![],
    }
}

fn flowio_figure(path: &Path) -> Option<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let py = std::env::var_os("NKFLOW_PEERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".peers/bin/python"));
    if !py.exists() {
        return None;
    }
    let out = Command::new(py)
        .arg(root.join("benches/flowio_read.py"))
        .arg(path)
        .arg("5")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big_1M_x20.fcs");
    fcs::write(&big, &sample(BIG_EVENTS, 1)).unwrap();
    let size = std::fs::metadata(&big).unwrap().len();

    let mut g = c.benchmark_group("fcs_read_1M_x20_f32");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(size));
    let mut buf = vec![0u8; size as usize];
    g.bench_function("floor: bytes into allocated buffer", |b| {
        b.iter(|| {
            let mut f = std::fs::File::open(&big).unwrap();
            f.read_exact(&mut buf).unwrap();
            buf[buf.len() / 2]
        })
    });
    let mut reader = Reader::new();
    let mut reused = fcs::empty_sample();
    reader.read_into(&big, 0, &mut reused).unwrap();
    assert_eq!(reused.n_events(), BIG_EVENTS);
    g.bench_function("Reader::read_into (matrix reused)", |b| {
        b.iter(|| {
            reader.read_into(&big, 0, &mut reused).unwrap();
            reused.events.get(BIG_EVENTS - 1, CHANNELS - 1)
        })
    });
    g.bench_function("fcs::read (fresh matrix)", |b| {
        b.iter(|| fcs::read(&big).unwrap().n_events())
    });
    g.finish();

    let files: Vec<PathBuf> = (0..BATCH_FILES)
        .map(|i| {
            let p = dir.path().join(format!("batch_{i:03}.fcs"));
            if i < 8 {
                fcs::write(&p, &sample(BATCH_EVENTS, 100 + i as u64)).unwrap();
            } else {
                // Same bytes as an earlier file, different path: writing 200
                // distinct random samples would dominate the setup time.
                std::fs::copy(dir.path().join(format!("batch_{:03}.fcs", i % 8)), &p).unwrap();
            }
            p
        })
        .collect();
    let mut g = c.benchmark_group("fcs_batch_200_x_20k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH_FILES as u64));
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        g.bench_with_input(
            BenchmarkId::new("files", format!("{threads} thread(s)")),
            &threads,
            |b, _| {
                b.iter(|| {
                    pool.install(|| {
                        files
                            .par_iter()
                            .map_init(
                                || (Reader::new(), fcs::empty_sample()),
                                |(r, s), f| {
                                    r.read_into(f, 0, s).unwrap();
                                    s.n_events()
                                },
                            )
                            .sum::<usize>()
                    })
                })
            },
        );
    }
    g.finish();

    summary(&big, size as usize);
}

/// Median of `runs` timings in milliseconds.
fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

/// One line per figure, interleaved runs so that machine load hits all
/// alike, with the ratios the targets are stated in.
fn summary(big: &Path, size: usize) {
    let mut buf = vec![0u8; size];
    let mut reader = Reader::new();
    let mut reused = fcs::empty_sample();
    reader.read_into(big, 0, &mut reused).unwrap();
    let floor = median_ms(15, || {
        std::fs::File::open(big)
            .unwrap()
            .read_exact(&mut buf)
            .unwrap();
    });
    let reuse = median_ms(15, || reader.read_into(big, 0, &mut reused).unwrap());
    let fresh = median_ms(7, || drop(fcs::read(big).unwrap()));
    println!("summary (medians): floor {floor:.1} ms, read_into (reuse) {reuse:.1} ms = {:.2}x floor, fcs::read (fresh) {fresh:.1} ms = {:.2}x floor", reuse / floor, fresh / floor);
    match flowio_figure(big) {
        Some(line) => {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            match v["median_ms"].as_f64() {
                Some(fl) => println!(
                    "FlowIO, same file: median {fl:.1} ms = {:.1}x our reuse, {:.1}x our fresh ({line})",
                    fl / reuse,
                    fl / fresh
                ),
                None => println!("FlowIO, same file: {line}"),
            }
        }
        None => println!("FlowIO: peers' Python not available; no comparison figure"),
    }
}

criterion_group! {
    name = benches;
    // No plots: the plotters backend panics on machines without fonts.
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
