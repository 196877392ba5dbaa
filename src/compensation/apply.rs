//! Applying a spillover [`Matrix`] to events: C = D · K, K the precomputed
//! compensation matrix (detectors × fluorochromes).
//!
//! The events are column-major, so the work is done in blocks of rows: each
//! block's detector values are gathered into a small buffer (L1/L2-sized) and
//! every output column is accumulated as a sum of scaled input columns, a
//! loop the compiler vectorises. Blocks run in parallel with rayon; every
//! value is summed in the same order (k = 0, 1, …) whatever the split, so
//! results are identical for any thread count.

use rayon::prelude::*;

use super::{CompensationError, Matrix};
use crate::matrix::EventMatrix;
use crate::sample::{Channel, Sample, Scale};

/// Rows per block: 8 detectors × 1024 × 8 bytes = 64 KiB of buffer.
const BLOCK: usize = 1024;
/// Below this many events the work is done on the calling thread.
const PARALLEL_MIN: usize = 1 << 14;

impl Matrix {
    /// The column index of every detector, in detector order: by exact
    /// `$PnN` name, then (with the channels given, column j = `channels[j]`)
    /// by `$PnS` label, case-insensitively, and by bare parameter number.
    /// Errors name a detector that matches nothing, or two that match the
    /// same channel.
    pub fn detector_columns(
        &self,
        events: &EventMatrix,
        channels: Option<&[Channel]>,
    ) -> Result<Vec<usize>, CompensationError> {
        self.resolve(events, channels)
    }

    fn resolve(
        &self,
        events: &EventMatrix,
        channels: Option<&[Channel]>,
    ) -> Result<Vec<usize>, CompensationError> {
        let mut idx: Vec<usize> = Vec::with_capacity(self.detectors.len());
        for (k, det) in self.detectors.iter().enumerate() {
            let j = find_channel(det, events, channels).ok_or_else(|| {
                CompensationError::UnknownDetector {
                    detector: det.clone(),
                    labels: if channels.is_some() {
                        ", $PnS label or parameter number"
                    } else {
                        ""
                    },
                    available: events.names().join(", "),
                }
            })?;
            if let Some(prev) = idx.iter().position(|&p| p == j) {
                return Err(CompensationError::DuplicateDetector {
                    first: self.detectors[prev].clone(),
                    second: self.detectors[k].clone(),
                    channel: events.names()[j].clone(),
                });
            }
            idx.push(j);
        }
        Ok(idx)
    }

    /// Compensates the detector columns in place (square matrices): each
    /// detector column receives its compensated value and keeps its `$PnN`
    /// name; other columns (scatter, time) pass through. Inputs are
    /// FCS-scale values.
    pub fn compensate_in_place(&self, events: &mut EventMatrix) -> Result<(), CompensationError> {
        self.in_place(events, None)
    }

    /// As [`Matrix::compensate_in_place`], also matching detector names
    /// against the `$PnS` labels of `channels` (column j is `channels[j]`).
    pub fn compensate_in_place_with_channels(
        &self,
        events: &mut EventMatrix,
        channels: &[Channel],
    ) -> Result<(), CompensationError> {
        self.in_place(events, Some(channels))
    }

    /// Compensates a sample's events in place (`$PnN` or `$PnS` names). The
    /// events must be on the FCS scale ([`Sample::apply_scale`]).
    pub fn compensate_sample(&self, sample: &mut Sample) -> Result<(), CompensationError> {
        if sample.scale != Scale::Fcs {
            return Err(CompensationError::NotScaled {
                source_name: sample.source.clone(),
            });
        }
        self.in_place(&mut sample.events, Some(&sample.channels))
    }

    fn in_place(
        &self,
        events: &mut EventMatrix,
        channels: Option<&[Channel]>,
    ) -> Result<(), CompensationError> {
        if !self.is_square() {
            return Err(CompensationError::NotSquare {
                fluorochromes: self.fluorochromes.len(),
                detectors: self.detectors.len(),
            });
        }
        let idx = self.resolve(events, channels)?;
        let n_events = events.n_events();
        if n_events == 0 {
            return Ok(());
        }
        let n = idx.len();
        let mut columns: Vec<Option<&mut [f64]>> = events
            .as_mut_slice()
            .chunks_mut(n_events)
            .map(Some)
            .collect();
        let mut selected: Vec<&mut [f64]> = Vec::with_capacity(n);
        for &j in &idx {
            // `resolve` guarantees distinct indices, so every take succeeds.
            if let Some(col) = columns.get_mut(j).and_then(Option::take) {
                selected.push(col);
            }
        }
        let blocks = split_blocks(selected);
        let k = &self.comp;
        if n_events < PARALLEL_MIN {
            let mut buf = vec![0.0; n * BLOCK];
            blocks
                .into_iter()
                .for_each(|b| in_place_block(&mut buf, b, k));
        } else {
            blocks
                .into_par_iter()
                .for_each_init(|| vec![0.0; n * BLOCK], |buf, b| in_place_block(buf, b, k));
        }
        Ok(())
    }

    /// The compensated values only, one column per **fluorochrome**, named
    /// by fluorochrome (what Gating-ML `spectrumMatrix` references use).
    /// Works for wide (spectral) matrices too.
    pub fn compensate(&self, events: &EventMatrix) -> Result<EventMatrix, CompensationError> {
        self.out_of_place(events, None)
    }

    /// As [`Matrix::compensate`], also matching `$PnS` labels.
    pub fn compensate_with_channels(
        &self,
        events: &EventMatrix,
        channels: &[Channel],
    ) -> Result<EventMatrix, CompensationError> {
        self.out_of_place(events, Some(channels))
    }

    fn out_of_place(
        &self,
        events: &EventMatrix,
        channels: Option<&[Channel]>,
    ) -> Result<EventMatrix, CompensationError> {
        let idx = self.resolve(events, channels)?;
        let n_events = events.n_events();
        let mut out = EventMatrix::zeros(self.fluorochromes.clone(), n_events);
        if n_events == 0 {
            return Ok(out);
        }
        let inputs: Vec<&[f64]> = idx.iter().map(|&j| events.column(j)).collect();
        let outputs: Vec<&mut [f64]> = out.as_mut_slice().chunks_mut(n_events).collect();
        let in_blocks: Vec<Vec<&[f64]>> = (0..n_events.div_ceil(BLOCK))
            .map(|b| {
                let lo = b * BLOCK;
                let hi = (lo + BLOCK).min(n_events);
                inputs.iter().map(|c| &c[lo..hi]).collect()
            })
            .collect();
        let out_blocks = split_blocks(outputs);
        let k = &self.comp;
        if n_events < PARALLEL_MIN {
            for (ins, mut outs) in in_blocks.iter().zip(out_blocks) {
                kernel(ins, k, &mut outs);
            }
        } else {
            in_blocks
                .par_iter()
                .zip(out_blocks.into_par_iter())
                .for_each(|(ins, mut outs)| kernel(ins, k, &mut outs));
        }
        Ok(out)
    }
}

/// Finds a detector's column: exact `$PnN`, exact `$PnS`, then either
/// case-insensitively; with channels at hand, finally a bare parameter
/// number (BD Accuri C6 writes `$SPILLOVER` names as "3,4,5,…", the `$Pn`
/// numbers).
fn find_channel(name: &str, events: &EventMatrix, channels: Option<&[Channel]>) -> Option<usize> {
    let q = name.trim();
    if let Some(j) = events.index_of(q) {
        return Some(j);
    }
    let chans = channels.unwrap_or(&[]);
    let by_label = |exact: bool| {
        chans.iter().position(|c| {
            c.label.as_deref().is_some_and(|l| {
                if exact {
                    l.trim() == q
                } else {
                    l.trim().eq_ignore_ascii_case(q)
                }
            })
        })
    };
    by_label(true)
        .or_else(|| {
            events
                .names()
                .iter()
                .position(|n| n.trim().eq_ignore_ascii_case(q))
        })
        .or_else(|| by_label(false))
        .or_else(|| {
            let n: usize = q.parse().ok()?;
            chans.iter().position(|c| c.number == n)
        })
        .filter(|&j| j < events.n_channels())
}

/// Splits each column into BLOCK-row pieces and regroups them per block.
fn split_blocks(columns: Vec<&mut [f64]>) -> Vec<Vec<&mut [f64]>> {
    let n_blocks = columns.first().map_or(0, |c| c.len().div_ceil(BLOCK));
    let mut blocks: Vec<Vec<&mut [f64]>> = (0..n_blocks)
        .map(|_| Vec::with_capacity(columns.len()))
        .collect();
    for col in columns {
        for (b, piece) in col.chunks_mut(BLOCK).enumerate() {
            if let Some(block) = blocks.get_mut(b) {
                block.push(piece);
            }
        }
    }
    blocks
}

/// Compensates one block of rows in place. Square matrices of up to 16
/// detectors use a register-blocked kernel (all detectors of 4 events in
/// registers, every output from them), compiled twice: for the baseline
/// target and for AVX2+FMA when the CPU has it (runtime detection). Rust
/// never fuses a·b + c into an FMA on its own, so both compute exactly the
/// same sums in the same order as the generic kernel below: results do not
/// depend on the CPU, the block size or the thread count.
fn in_place_block(buf: &mut [f64], mut cols: Vec<&mut [f64]>, k: &[f64]) {
    macro_rules! fixed {
        ($($n:literal)*) => {
            match cols.len() {
                $($n => {
                    if let Ok(arr) = <&mut [&mut [f64]; $n]>::try_from(cols.as_mut_slice()) {
                        dispatch_fixed::<$n>(arr, k);
                        return;
                    }
                })*
                _ => {}
            }
        };
    }
    fixed!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
    // Any size: copy the block out, then accumulate column by column.
    let n = cols.len();
    let len = cols.first().map_or(0, |o| o.len());
    for (c, o) in cols.iter().enumerate() {
        buf[c * BLOCK..c * BLOCK + len].copy_from_slice(o);
    }
    let ins: Vec<&[f64]> = (0..n).map(|c| &buf[c * BLOCK..c * BLOCK + len]).collect();
    kernel(&ins, k, &mut cols);
}

fn dispatch_fixed<const N: usize>(cols: &mut [&mut [f64]; N], k: &[f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::tier() >= crate::simd::Tier::Avx2 {
            // SAFETY: the AVX2 tier is reported only when the CPU has AVX2
            // and FMA.
            unsafe { fixed_avx2::<N>(cols, k) };
            return;
        }
    }
    fixed_kernel::<N>(cols, k);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fixed_avx2<const N: usize>(cols: &mut [&mut [f64]; N], k: &[f64]) {
    fixed_kernel::<N>(cols, k);
}

/// In place: for every event r, c[j] = Σ_i x[i]·K[i][j] with x the event's
/// N detector values, 4 events at a time.
#[inline(always)]
fn fixed_kernel<const N: usize>(cols: &mut [&mut [f64]; N], k: &[f64]) {
    let mut kk = [[0.0_f64; N]; N];
    for (i, row) in kk.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = k.get(i * N + j).copied().unwrap_or(0.0);
        }
    }
    let len = cols.iter().map(|c| c.len()).min().unwrap_or(0);
    let full = len / 4 * 4;
    let mut r = 0;
    while r < full {
        let mut x = [[0.0_f64; 4]; N];
        for (xi, col) in x.iter_mut().zip(cols.iter()) {
            xi.copy_from_slice(&col[r..r + 4]);
        }
        for (j, col) in cols.iter_mut().enumerate() {
            let mut acc = [0.0_f64; 4];
            for l in 0..4 {
                acc[l] = x[0][l] * kk[0][j];
            }
            for i in 1..N {
                for l in 0..4 {
                    acc[l] += x[i][l] * kk[i][j];
                }
            }
            col[r..r + 4].copy_from_slice(&acc);
        }
        r += 4;
    }
    while r < len {
        let mut x = [0.0_f64; N];
        for (xi, col) in x.iter_mut().zip(cols.iter()) {
            *xi = col[r];
        }
        for (j, col) in cols.iter_mut().enumerate() {
            let mut acc = x[0] * kk[0][j];
            for i in 1..N {
                acc += x[i] * kk[i][j];
            }
            col[r] = acc;
        }
        r += 1;
    }
}

/// outs[j][r] = Σ_k ins[k][r] · K[k][j] (K row-major, ins.len() × outs.len()),
/// summed in order k = 0, 1, … .
#[inline]
fn kernel(ins: &[&[f64]], k: &[f64], outs: &mut [&mut [f64]]) {
    let n_out = outs.len();
    for (j, out) in outs.iter_mut().enumerate() {
        let Some((first, rest)) = ins.split_first() else {
            continue;
        };
        let c0 = k[j];
        for (o, &v) in out.iter_mut().zip(first.iter()) {
            *o = v * c0;
        }
        for (kk, col) in rest.iter().enumerate() {
            let c = k[(kk + 1) * n_out + j];
            for (o, &v) in out.iter_mut().zip(col.iter()) {
                *o += v * c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(names: &[&str], cols: Vec<Vec<f64>>) -> EventMatrix {
        EventMatrix::from_columns(names.iter().map(|s| s.to_string()).collect(), cols).unwrap()
    }

    #[test]
    fn in_place_maps_by_name_not_position() {
        // Detectors listed in the opposite order of the columns.
        let m = Matrix::from_spillover_keyword("2,FL2-H,FL1-H,1,0.5,0.25,1").unwrap();
        // True dye amounts: FL2 dye = 10, FL1 dye = 4 → observed
        // FL2-H = 10·1 + 4·0.25 = 11, FL1-H = 10·0.5 + 4·1 = 9.
        let mut e = events(
            &["FSC-H", "FL1-H", "FL2-H"],
            vec![vec![100.0], vec![9.0], vec![11.0]],
        );
        m.compensate_in_place(&mut e).unwrap();
        assert_eq!(e.get(0, 0), 100.0);
        assert!((e.get(0, 1) - 4.0).abs() < 1e-12);
        assert!((e.get(0, 2) - 10.0).abs() < 1e-12);
    }

    #[test]
    fn parallel_and_serial_agree_bitwise() {
        let m = Matrix::from_spillover_keyword("3,A,B,C,1,0.1,0.02,0.05,1,0.3,0.01,0.2,1").unwrap();
        let n = 100_003;
        let cols: Vec<Vec<f64>> = (0..3)
            .map(|c| {
                (0..n)
                    .map(|i| ((i * 7919 + c * 104729) % 10007) as f64 - 500.0)
                    .collect()
            })
            .collect();
        let mut big = events(&["A", "B", "C"], cols.clone());
        m.compensate_in_place(&mut big).unwrap();
        let out = m
            .compensate(&events(&["A", "B", "C"], cols.clone()))
            .unwrap();
        for i in (0..n).step_by(997) {
            let one = events(
                &["A", "B", "C"],
                vec![vec![cols[0][i]], vec![cols[1][i]], vec![cols[2][i]]],
            );
            let mut small = one.clone();
            m.compensate_in_place(&mut small).unwrap();
            for j in 0..3 {
                assert_eq!(small.get(0, j).to_bits(), big.get(i, j).to_bits());
                assert_eq!(out.get(i, j).to_bits(), big.get(i, j).to_bits());
            }
        }
    }

    #[test]
    fn unknown_detector_is_named() {
        let m = Matrix::from_spillover_keyword("1,PE-A,1").unwrap();
        let mut e = events(&["FITC-A"], vec![vec![1.0]]);
        let err = m.compensate_in_place(&mut e).unwrap_err().to_string();
        assert!(err.contains("\"PE-A\"") && err.contains("FITC-A"), "{err}");
    }

    #[test]
    fn label_match_with_channels() {
        let m = Matrix::from_spillover_keyword("1,CD3,1").unwrap();
        let mut e = events(&["FL1-H"], vec![vec![2.0]]);
        let ch = Channel {
            number: 1,
            name: "FL1-H".into(),
            label: Some("CD3".into()),
            range: 1024.0,
            bits: 16,
            gain: None,
            log: None,
        };
        assert!(m.compensate_in_place(&mut e).is_err());
        m.compensate_in_place_with_channels(&mut e, &[ch]).unwrap();
        assert_eq!(e.get(0, 0), 2.0);
    }

    #[test]
    fn spectral_least_squares_recovers_dyes() {
        // 2 dyes over 3 detectors; D = true · S exactly, so OLS recovers true.
        let s = vec![1.0, 0.3, 0.1, 0.2, 1.0, 0.4];
        let m = Matrix::new(
            vec!["FITC".into(), "PE".into()],
            vec!["D1".into(), "D2".into(), "D3".into()],
            s.clone(),
            false,
        )
        .unwrap();
        let (a, b) = (7.0, 3.0);
        let d: Vec<Vec<f64>> = (0..3).map(|j| vec![a * s[j] + b * s[3 + j]]).collect();
        let out = m.compensate(&events(&["D1", "D2", "D3"], d)).unwrap();
        assert_eq!(out.names(), &["FITC".to_string(), "PE".to_string()]);
        assert!((out.get(0, 0) - a).abs() < 1e-12);
        assert!((out.get(0, 1) - b).abs() < 1e-12);
        assert!(matches!(
            m.compensate_in_place(&mut EventMatrix::zeros(vec!["D1".into()], 1)),
            Err(CompensationError::NotSquare { .. })
        ));
    }
}
