//! Synthetic lymphocyte cohorts with known labels, for the FlowSOM tests and
//! bench: Gaussian populations in transformed units (0–4.5, as logicle
//! output), NK cells split into CD56bright CD16− and CD56dim CD16+ with
//! NKG2C+ (adaptive) and KIR+ subsets, beside T, NKT-like, B cells and
//! monocytes. Each file shifts the population sizes and centres a little, as
//! patients do. Shared by `tests/cluster_*.rs` and `benches/cluster_flowsom.rs`.
#![allow(dead_code)]

use nkflow::EventMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// The ten markers, in column order.
pub const MARKERS: [&str; 10] = [
    "CD45", "CD3", "CD19", "CD14", "CD56", "CD16", "NKG2C", "KIR", "CD57", "NKG2A",
];

/// Population labels.
pub const T: u8 = 0;
pub const NKT: u8 = 1;
pub const B: u8 = 2;
pub const MONO: u8 = 3;
pub const NK_BRIGHT: u8 = 4;
pub const NK_DIM: u8 = 5;

/// Whether a label is an NK cell.
pub fn is_nk(label: u8) -> bool {
    label == NK_BRIGHT || label == NK_DIM
}

/// Centre of each population (marker order as [`MARKERS`]); NK-dim subsets
/// (NKG2C, KIR, CD57) are drawn per event below.
fn centre(label: u8) -> [f64; 10] {
    match label {
        T => [3.2, 3.0, 0.4, 0.5, 0.5, 0.4, 0.5, 0.5, 0.8, 0.6],
        NKT => [3.2, 2.9, 0.4, 0.5, 2.3, 1.2, 0.6, 1.4, 1.6, 1.2],
        B => [3.1, 0.4, 3.0, 0.5, 0.4, 0.4, 0.4, 0.4, 0.5, 0.5],
        MONO => [2.8, 0.5, 0.5, 3.2, 0.6, 1.3, 0.4, 0.4, 0.4, 0.4],
        NK_BRIGHT => [3.2, 0.4, 0.4, 0.5, 3.7, 0.5, 0.6, 0.6, 0.5, 3.0],
        _ => [3.2, 0.4, 0.4, 0.5, 2.4, 3.0, 0.6, 0.6, 0.7, 1.5],
    }
}

/// Population fractions of the lymphocyte gate (T, NKT, B, mono, bright, dim).
const FRACTIONS: [f64; 6] = [0.56, 0.04, 0.13, 0.10, 0.015, 0.155];

/// One file: `n` events, seeded; returns the matrix and a label per event.
pub fn sample(n: usize, seed: u64) -> (EventMatrix, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Per-file variation: fractions ×(0.7–1.3), centres ±0.1.
    let mut w: Vec<f64> = FRACTIONS
        .iter()
        .map(|f| f * rng.gen_range(0.7..1.3))
        .collect();
    let total: f64 = w.iter().sum();
    w.iter_mut().for_each(|x| *x /= total);
    let shift: Vec<f64> = (0..10).map(|_| rng.gen_range(-0.1..0.1)).collect();
    let adaptive = rng.gen_range(0.1..0.4); // NKG2C+ fraction of NK-dim
    let kir_pos = rng.gen_range(0.3..0.6);

    let mut labels = Vec::with_capacity(n);
    let mut cum = [0.0; 6];
    let mut acc = 0.0;
    for (c, x) in cum.iter_mut().zip(&w) {
        acc += x;
        *c = acc;
    }
    for _ in 0..n {
        let u: f64 = rng.gen();
        labels.push(cum.iter().position(|&c| u < c).unwrap_or(5) as u8);
    }
    let mut m = EventMatrix::zeros(MARKERS.iter().map(|s| s.to_string()).collect(), n);
    let noise = Normal::new(0.0, 0.28).unwrap();
    // Subset flags of NK-dim events, drawn once per event.
    let subsets: Vec<(bool, bool)> = labels
        .iter()
        .map(|_| (rng.gen::<f64>() < adaptive, rng.gen::<f64>() < kir_pos))
        .collect();
    for j in 0..10 {
        let col = m.column_mut(j);
        for ((v, &l), &(g2c, kir)) in col.iter_mut().zip(&labels).zip(&subsets) {
            let mut c = centre(l)[j];
            if l == NK_DIM {
                match MARKERS[j] {
                    "NKG2C" if g2c => c = 2.9,
                    "KIR" if kir => c = 2.6,
                    "CD57" if g2c || kir => c = 2.7,
                    "NKG2A" if g2c => c = 0.6,
                    _ => {}
                }
            }
            *v = c + shift[j] + noise.sample(&mut rng);
        }
    }
    (m, labels)
}
