//! Shared by the transform and compensation benches: the synthetic data set
//! of the issue (1M events × 20 channels, 13 fluorescence), and running the
//! peers' timing script on the very same values.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use nkflow::EventMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const N_EVENTS: usize = 1_000_000;
/// Scatter (6), 13 fluorescence, Time.
pub const FLUO: std::ops::Range<usize> = 6..19;
/// The 8 fluorescence channels compensated.
pub const SPILL_COLS: std::ops::Range<usize> = 6..14;

pub fn names() -> Vec<String> {
    let mut n: Vec<String> = ["FSC-A", "FSC-H", "FSC-W", "SSC-A", "SSC-H", "SSC-W"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    n.extend((1..=13).map(|i| format!("FL{i}-A")));
    n.push("Time".into());
    n
}

/// Deterministic events: fluorescence is a mix of a negative/dim population
/// around 0 (spread 150, as compensated data) and log-normal positives up to
/// ~1e5; scatter uniform; time increasing.
pub fn events() -> EventMatrix {
    let mut rng = ChaCha8Rng::seed_from_u64(20261125);
    let names = names();
    let mut m = EventMatrix::zeros(names, N_EVENTS);
    for j in 0..20 {
        let col = m.column_mut(j);
        for (i, v) in col.iter_mut().enumerate() {
            *v = if j == 19 {
                i as f64 * 0.01
            } else if FLUO.contains(&j) {
                if rng.gen_bool(0.3) {
                    (rng.gen::<f64>() + rng.gen::<f64>() + rng.gen::<f64>() - 1.5) * 300.0
                } else {
                    10f64.powf(rng.gen_range(1.5..5.0))
                }
            } else {
                rng.gen_range(0.0..262144.0)
            };
        }
    }
    m
}

/// A spillover keyword over the 8 compensated channels.
pub fn spill_text() -> String {
    let names = names();
    let det: Vec<&str> = SPILL_COLS.map(|j| names[j].as_str()).collect();
    let n = det.len();
    let mut s = format!("{n},{}", det.join(","));
    for i in 0..n {
        for j in 0..n {
            let v = if i == j {
                1.0
            } else {
                0.2 / (1.0 + (i as f64 - j as f64).abs() * 3.0)
            };
            s.push_str(&format!(",{v}"));
        }
    }
    s
}

/// Best wall time of `reps` runs of `f` (after one warm-up run).
pub fn best_of(reps: usize, mut f: impl FnMut()) -> Duration {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Runs one closure on a single rayon thread.
pub fn single_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("rayon pool")
        .install(f)
}

/// flowutils' timings on the same data, or `None` (with a note) without peers.
pub fn peer_timings(events: &EventMatrix) -> Option<serde_json::Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let py = std::env::var_os("NKFLOW_PEERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".peers/bin/python"));
    if !py.exists() {
        eprintln!(
            "peers: no Python at {} — flowutils not measured",
            py.display()
        );
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    let data = dir.path().join("events.bin");
    let bytes: Vec<u8> = events
        .as_slice()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(&data, bytes).ok()?;
    let join = |r: std::ops::Range<usize>| r.map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let out = Command::new(&py)
        .arg(root.join("benches/peers_bench.py"))
        .arg(&data)
        .arg(N_EVENTS.to_string())
        .arg(events.n_channels().to_string())
        .arg(join(FLUO))
        .arg(join(SPILL_COLS))
        .arg(spill_text())
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "peers: bench script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}
