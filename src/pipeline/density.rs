//! One-dimensional density estimates and their peaks and valleys.
//!
//! Every data-driven threshold of a pipeline starts here: a Gaussian kernel
//! density estimate on a regular grid (binned, so its cost does not grow with
//! the number of events beyond one pass), its local maxima ("peaks") and the
//! minimum between two peaks ("valley"). Working on a grid keeps the result a
//! pure function of the values, so it is identical whatever the thread count.

/// Number of grid points of a density estimate: fine enough that a threshold
/// lands within 0.2% of the data range, coarse enough to cost nothing.
pub const GRID: usize = 512;

/// A kernel density estimate on a regular grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Density {
    /// Grid start (value of point 0).
    pub lo: f64,
    /// Grid step.
    pub step: f64,
    /// Density at each grid point (integrates to ~1).
    pub y: Vec<f64>,
    /// Kernel bandwidth used.
    pub bandwidth: f64,
}

impl Density {
    /// Value at grid point `i`.
    pub fn x(&self, i: usize) -> f64 {
        self.lo + self.step * i as f64
    }

    /// Estimates the density of the finite values of `values`.
    ///
    /// The grid spans the 0.05%–99.95% quantiles padded by three bandwidths
    /// (so a handful of outliers cannot squeeze the populations into a few
    /// bins). The bandwidth is Silverman's rule of thumb times `adjust`
    /// (openCyto's mindensity smooths with `adjust = 2` by default).
    /// Returns `None` when fewer than 3 finite values or no spread.
    pub fn estimate(values: &[f64], adjust: f64) -> Option<Density> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        sort_total(&mut v);
        Density::estimate_sorted(&v, adjust)
    }

    crate::simd::multiversion! {
        /// [`Density::estimate`] of values already finite and sorted ascending
        /// (by `f64::total_cmp`): callers that sorted them for something else
        /// (the cofactor, a quantile window) need not sort them again.
        pub fn estimate_sorted(v: &[f64], adjust: f64) -> Option<Density> {
            if v.len() < 3 {
                return None;
            }
            let n = v.len() as f64;
            let q = |p: f64| quantile_sorted(v, p);
            let sd = {
                let mean = sum4(v, |x| x) / n;
                (sum4(v, |x| (x - mean) * (x - mean)) / (n - 1.0)).sqrt()
            };
            let iqr = q(0.75) - q(0.25);
            let spread = if iqr > 0.0 { sd.min(iqr / 1.34) } else { sd };
            if spread.is_nan() || spread <= 0.0 {
                return None;
            }
            let bandwidth = 0.9 * spread * n.powf(-0.2) * adjust.max(1e-3);
            let lo = q(0.0005) - 3.0 * bandwidth;
            let hi = q(0.9995) + 3.0 * bandwidth;
            let step = (hi - lo) / (GRID - 1) as f64;
            if step.is_nan() || step <= 0.0 {
                return None;
            }
            // Linear binning: each value splits its weight between its two
            // neighbouring grid points. The values are sorted, so each grid cell
            // receives one run of them: a run's weights are summed in registers
            // (four partial sums, so no long chain of dependent additions) and
            // added to the grid once — not one read-modify-write per value.
            let mut counts = vec![0.0; GRID];
            let mut flush = |cell: usize, len: usize, fsum: [f64; 4]| {
                let f = (fsum[0] + fsum[1]) + (fsum[2] + fsum[3]);
                if let Some(c) = counts.get_mut(cell) {
                    *c += len as f64 - f;
                }
                if let Some(c) = counts.get_mut(cell + 1) {
                    *c += f;
                }
            };
            // The four partial sums rotate through registers: after k values
            // of a run, `t[j]` holds the sum of the values whose index in the
            // run is ≡ k + j (mod 4); `by_class` puts them back in class order.
            let by_class = |t: [f64; 4], len: usize| {
                let r = 4 - len % 4;
                [t[r % 4], t[(r + 1) % 4], t[(r + 2) % 4], t[(r + 3) % 4]]
            };
            let (mut cell, mut len) = (usize::MAX, 0usize);
            let mut t = [0.0f64; 4];
            for &x in v {
                let pos = (x - lo) / step;
                if pos < 0.0 || pos > (GRID - 1) as f64 {
                    continue;
                }
                // 0 ≤ pos ≤ GRID − 1 here, so truncation is the floor
                // (without a call), and an i32 holds it: one instruction,
                // where a float → usize conversion takes several before
                // AVX-512.
                let k = pos as i32;
                let i = k as usize;
                if i != cell {
                    if len > 0 {
                        flush(cell, len, by_class(t, len));
                    }
                    (cell, len, t) = (i, 0, [0.0; 4]);
                }
                t = [t[1], t[2], t[3], t[0] + (pos - f64::from(k))];
                len += 1;
            }
            if len > 0 {
                flush(cell, len, by_class(t, len));
            }
            let h = bandwidth / step;
            let half = (4.0 * h).ceil() as usize;
            let kernel: Vec<f64> = (0..=half)
                .map(|k| (-0.5 * (k as f64 / h).powi(2)).exp())
                .collect();
            // The kernel mirrored (index half + d for offset d), so that each
            // grid point's spread is one contiguous multiply-add the compiler
            // vectorises; every y[j] still sums its terms in order of i.
            let full: Vec<f64> = kernel
                .iter()
                .rev()
                .chain(kernel.iter().skip(1))
                .copied()
                .collect();
            let norm = 1.0 / (n * bandwidth * (2.0 * std::f64::consts::PI).sqrt());
            let mut y = vec![0.0; GRID];
            for (i, &c) in counts.iter().enumerate() {
                if c == 0.0 {
                    continue;
                }
                let a = i.saturating_sub(half);
                let b = (i + half).min(GRID - 1);
                let (Some(ys), Some(ks)) = (y.get_mut(a..=b), full.get(half + a - i..=half + b - i))
                else {
                    continue;
                };
                for (yj, &k) in ys.iter_mut().zip(ks) {
                    *yj += c * k;
                }
            }
            y.iter_mut().for_each(|d| *d *= norm);
            Some(Density {
                lo,
                step,
                y,
                bandwidth,
            })
        }
    }

    /// Grid indices of local maxima whose height is at least `min_height`
    /// times the highest one, in increasing order of position. A plateau
    /// counts once (its first point).
    pub fn peaks(&self, min_height: f64) -> Vec<usize> {
        let max = self.y.iter().copied().fold(0.0, f64::max);
        let floor = max * min_height;
        let y = &self.y;
        let mut out = Vec::new();
        let mut i = 0;
        while i < y.len() {
            // Extend over a plateau of equal values.
            let mut j = i;
            while j + 1 < y.len() && y[j + 1] == y[i] {
                j += 1;
            }
            let left_lower = i == 0 || y[i - 1] < y[i];
            let right_lower = j + 1 == y.len() || y[j + 1] < y[i];
            if left_lower && right_lower && y[i] >= floor && y[i] > 0.0 {
                out.push(i);
            }
            i = j + 1;
        }
        out
    }

    /// Index of the lowest point strictly between grid points `a < b`
    /// (the first one on ties).
    pub fn valley_between(&self, a: usize, b: usize) -> Option<usize> {
        (a + 1..b).min_by(|&i, &j| self.y[i].total_cmp(&self.y[j]).then(i.cmp(&j)))
    }
}

/// Sum in four interleaved partial sums (element k into sum k mod 4),
/// combined as (s0 + s1) + (s2 + s3): a fixed order, so the same values
/// always give the same bits, without one long chain of dependent
/// additions.
pub fn sum4(values: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    // Four named accumulators (a dynamically indexed array would live in
    // memory, each addition waiting on the store of the one before).
    let (mut s0, mut s1, mut s2, mut s3) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut quads = values.chunks_exact(4);
    for q in &mut quads {
        s0 += f(q[0]);
        s1 += f(q[1]);
        s2 += f(q[2]);
        s3 += f(q[3]);
    }
    let mut s = [s0, s1, s2, s3];
    for (acc, &x) in s.iter_mut().zip(quads.remainder()) {
        *acc += f(x);
    }
    (s[0] + s[1]) + (s[2] + s[3])
}

/// The `p` quantile (0–1) of sorted values, linear interpolation (R type 7).
/// `NaN` for an empty slice.
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let i = h.floor() as usize;
    let f = h - i as f64;
    match (sorted.get(i), sorted.get(i + 1)) {
        (Some(a), Some(b)) => a + f * (b - a),
        (Some(a), None) => *a,
        _ => f64::NAN,
    }
}

/// The median of the finite values (`None` when there are none). Uses a
/// selection, not a sort; the upper and lower middle are averaged for an
/// even count, as R and numpy do.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    median_in_place(&mut v)
}

/// [`median`] of values the caller no longer needs (reordered in place;
/// non-finite values are dropped first). Selection runs on the integer keys
/// of [`total_key`], which order exactly as `f64::total_cmp` but compare
/// faster, so the result is the same as a float selection.
pub fn median_in_place(v: &mut Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    let n = v.len();
    if n == 0 {
        return None;
    }
    let mut keys: Vec<u64> = v.iter().map(|&x| total_key(x)).collect();
    let mid = n / 2;
    let (lower, m, _) = keys.select_nth_unstable(mid);
    let m = from_total_key(*m);
    if n % 2 == 1 {
        Some(m)
    } else {
        let below = lower.iter().copied().max().map(from_total_key)?;
        Some((below + m) / 2.0)
    }
}

crate::simd::multiversion! {
    /// The median of the finite `values[i]` for `i` in `idx` (`None` when there
    /// are none) — exactly [`median`] of those values, without gathering and
    /// selecting all of them: a strided sample of the keys brackets the middle,
    /// one pass counts the keys below the bracket and keeps only those inside,
    /// and the selection runs on that small remainder. When the bracket misses
    /// the middle (unlikely, and detected by the counts) every key is selected
    /// as [`median_in_place`] does. `buf` is scratch space, reused across calls.
    pub fn median_at(values: &[f64], idx: &[usize], buf: &mut Vec<u64>) -> Option<f64> {
        const SAMPLE: usize = 1024;
        // Half-width of the bracket in sample ranks: ~4 standard deviations of
        // the sample median's rank (√SAMPLE / 2 = 16).
        const HALF: usize = 64;
        let gather_all = |buf: &mut Vec<u64>| {
            buf.clear();
            buf.extend(
                idx.iter()
                    .filter_map(|&i| values.get(i).copied())
                    .filter(|x| x.is_finite())
                    .map(total_key),
            );
        };
        let n = idx.len();
        if n < 8 * SAMPLE {
            gather_all(buf);
            return median_of_keys(buf);
        }
        let step = n / SAMPLE;
        buf.clear();
        buf.extend(
            (0..SAMPLE)
                .filter_map(|j| idx.get(j * step).and_then(|&i| values.get(i).copied()))
                .filter(|x| x.is_finite())
                .map(total_key),
        );
        let ns = buf.len();
        if ns <= 2 * HALF + 1 {
            gather_all(buf);
            return median_of_keys(buf);
        }
        let (a, b) = (ns / 2 - HALF, ns / 2 + HALF);
        let (_, lo, upper) = buf.select_nth_unstable(a);
        let lo = *lo;
        let (_, hi, _) = upper.select_nth_unstable(b - a - 1);
        let hi = *hi;
        // One pass: count the finite keys below the bracket and keep the ones
        // inside it (written unconditionally, kept by advancing `len`, so the
        // loop has no data-dependent branch).
        buf.clear();
        buf.resize(n, 0);
        let (mut finite, mut below, mut len) = (0usize, 0usize, 0usize);
        for &i in idx {
            let Some(&x) = values.get(i) else { continue };
            if !x.is_finite() {
                continue;
            }
            let k = total_key(x);
            finite += 1;
            below += usize::from(k < lo);
            if let Some(slot) = buf.get_mut(len) {
                *slot = k;
            }
            len += usize::from(k >= lo && k <= hi);
        }
        if finite == 0 {
            return None;
        }
        let upper_mid = finite / 2;
        let lower_mid = if finite % 2 == 1 {
            upper_mid
        } else {
            upper_mid - 1
        };
        if below > lower_mid || upper_mid >= below + len {
            gather_all(buf);
            return median_of_keys(buf);
        }
        let s = &mut buf[..len];
        let (_, m, rest) = s.select_nth_unstable(lower_mid - below);
        let m = from_total_key(*m);
        if finite % 2 == 1 {
            Some(m)
        } else {
            let above = rest.iter().copied().min().map(from_total_key)?;
            Some((m + above) / 2.0)
        }
    }
}

crate::simd::multiversion! {
    /// The median of the finite `values[i]` for which `members[i]` is true —
    /// exactly [`median`] of those values — for populations given as a
    /// membership mask. Same bracket idea as [`median_at`], laid out for large
    /// populations: the bracket pass runs over the whole column contiguously
    /// (no index gather), compares floats and writes one bit per event into
    /// `words` (a loop the compiler vectorises), and only the bracketed events
    /// are visited again, through those bits. Columns with non-finite values
    /// and brackets bounded by ±0 (where float and total order disagree) take
    /// the plain gather-and-select path.
    pub fn median_masked(
        values: &[f64],
        members: &[bool],
        member_words: &[u64],
        words: &mut Vec<u64>,
        buf: &mut Vec<u64>,
    ) -> Option<f64> {
        const SAMPLE: usize = 2048;
        let n = values.len().min(members.len());
        let (values, members) = (&values[..n], &members[..n]);
        let gather_all = |buf: &mut Vec<u64>| {
            buf.clear();
            buf.extend(
                values
                    .iter()
                    .zip(members)
                    .filter(|(x, m)| **m && x.is_finite())
                    .map(|(x, _)| total_key(*x)),
            );
            median_of_keys(buf)
        };
        let step = (n / SAMPLE).max(1);
        buf.clear();
        // Strided by index (a zipped iterator's `step_by` walks every element
        // in between).
        buf.extend(
            (0..n)
                .step_by(step)
                .filter_map(|i| Some((*values.get(i)?, *members.get(i)?)))
                .filter(|(x, m)| *m && x.is_finite())
                .map(|(x, _)| total_key(x)),
        );
        let ns = buf.len();
        // Half-width in sample ranks: 4 standard deviations of the sample
        // median's rank (√ns / 2).
        let half = 2 * (ns as f64).sqrt().ceil() as usize;
        if ns < 64 || ns <= 2 * half + 1 {
            return gather_all(buf);
        }
        let (a, b) = (ns / 2 - half, ns / 2 + half);
        let (_, lo, upper) = buf.select_nth_unstable(a);
        let lo = from_total_key(*lo);
        let (_, hi, _) = upper.select_nth_unstable(b - a - 1);
        let hi = from_total_key(*hi);
        if lo == 0.0 || hi == 0.0 {
            return gather_all(buf);
        }
        let c = bracket_pass(values, members, member_words, lo, hi, words);
        if c.non_finite > 0 {
            return gather_all(buf);
        }
        let finite = c.members;
        if finite == 0 {
            return None;
        }
        let upper_mid = finite / 2;
        let lower_mid = if finite % 2 == 1 {
            upper_mid
        } else {
            upper_mid - 1
        };
        if c.below > lower_mid || upper_mid >= c.below + c.inside {
            return gather_all(buf);
        }
        buf.clear();
        for (w, &bits) in words.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                let j = w * 64 + bits.trailing_zeros() as usize;
                if let Some(&x) = values.get(j) {
                    buf.push(total_key(x));
                }
                bits &= bits - 1;
            }
        }
        let s = &mut buf[..];
        let (_, m, rest) = s.select_nth_unstable(lower_mid - c.below);
        let m = from_total_key(*m);
        if finite % 2 == 1 {
            Some(m)
        } else {
            let above = rest.iter().copied().min().map(from_total_key)?;
            Some((m + above) / 2.0)
        }
    }
}

/// What one bracket pass counted over the members.
struct BracketCounts {
    members: usize,
    below: usize,
    inside: usize,
    non_finite: usize,
}

fn bracket_pass(
    values: &[f64],
    members: &[bool],
    member_words: &[u64],
    lo: f64,
    hi: f64,
    words: &mut Vec<u64>,
) -> BracketCounts {
    #[cfg(target_arch = "x86_64")]
    if member_words.len() == values.len().div_ceil(64) {
        match crate::simd::tier() {
            crate::simd::Tier::Avx512 => {
                // SAFETY: the tier is reported only when the CPU has AVX-512.
                return unsafe { bracket512::bracket_pass(values, member_words, lo, hi, words) };
            }
            crate::simd::Tier::Avx2 => {
                // SAFETY: the tier is reported only when the CPU has AVX2.
                return unsafe { bracket_pass_avx2(values, member_words, lo, hi, words) };
            }
            crate::simd::Tier::Portable => {}
        }
    }
    bracket_pass_generic(values, members, lo, hi, words)
}

impl BracketCounts {
    fn new() -> Self {
        BracketCounts {
            members: 0,
            below: 0,
            inside: 0,
            non_finite: 0,
        }
    }

    /// Counts one block of 64 events from its member bits and its bits
    /// below / inside the bracket / finite; returns its members-inside word.
    #[inline(always)]
    fn add(&mut self, member: u64, below: u64, inside: u64, finite: u64) -> u64 {
        self.members += member.count_ones() as usize;
        self.below += (below & member).count_ones() as usize;
        self.inside += (inside & member).count_ones() as usize;
        self.non_finite += (!finite & member).count_ones() as usize;
        inside & member
    }
}

/// Below / inside / finite bits of up to 64 events, one at a time (the
/// portable pass, and the SIMD passes' last, shorter block).
#[inline(always)]
fn block_bits(xs: &[f64], lo: f64, hi: f64) -> (u64, u64, u64) {
    let (mut below, mut inside, mut finite) = (0u64, 0u64, 0u64);
    for (j, &x) in xs.iter().enumerate() {
        below |= u64::from(x < lo) << j;
        inside |= u64::from((x >= lo) & (x <= hi)) << j;
        finite |= u64::from(x.is_finite()) << j;
    }
    (below, inside, finite)
}

/// [`bracket_pass_generic`] with AVX2 compares and movemasks, four events
/// per instruction, on the membership packed as bits (`member_words`, one
/// word per 64 events, as [`crate::gating::Bitset::from_bools`] packs them).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn bracket_pass_avx2(
    values: &[f64],
    member_words: &[u64],
    lo: f64,
    hi: f64,
    words: &mut Vec<u64>,
) -> BracketCounts {
    use std::arch::x86_64::*;
    words.clear();
    let mut c = BracketCounts::new();
    let (vlo, vhi) = (_mm256_set1_pd(lo), _mm256_set1_pd(hi));
    for (xs, &mw) in values.chunks(64).zip(member_words) {
        let (mut below, mut inside, mut finite) = (0u64, 0u64, 0u64);
        if let Ok(block) = <&[f64; 64]>::try_from(xs) {
            for (q, quad) in block.chunks_exact(4).enumerate() {
                // SAFETY: `quad` holds exactly four f64 (an unaligned load).
                let x = unsafe { _mm256_loadu_pd(quad.as_ptr()) };
                let lt = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(x, vlo)) as u64;
                let ge = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_GE_OQ>(x, vlo)) as u64;
                let le = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_LE_OQ>(x, vhi)) as u64;
                // x − x is 0 for finite x, NaN for ±inf and NaN.
                let d = _mm256_sub_pd(x, x);
                let fin = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_ORD_Q>(d, d)) as u64;
                below |= lt << (4 * q);
                inside |= (ge & le) << (4 * q);
                finite |= fin << (4 * q);
            }
        } else {
            (below, inside, finite) = block_bits(xs, lo, hi);
        }
        words.push(c.add(mw, below, inside, finite));
    }
    c
}

/// The AVX-512 bracket pass: eight events per compare, straight into mask
/// registers (no movemask), and "inside" as `≤ hi and not < lo` — one
/// compare fewer, the same bits for every value including NaN and ±∞.
#[cfg(target_arch = "x86_64")]
#[rustversion::since(1.89)]
#[clippy::msrv = "1.89"]
mod bracket512 {
    use super::{block_bits, BracketCounts};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f,avx512dq,popcnt")]
    pub(super) unsafe fn bracket_pass(
        values: &[f64],
        member_words: &[u64],
        lo: f64,
        hi: f64,
        words: &mut Vec<u64>,
    ) -> BracketCounts {
        words.clear();
        let mut c = BracketCounts::new();
        let (vlo, vhi) = (_mm512_set1_pd(lo), _mm512_set1_pd(hi));
        for (xs, &mw) in values.chunks(64).zip(member_words) {
            let (mut below, mut inside, mut finite) = (0u64, 0u64, 0u64);
            if let Ok(block) = <&[f64; 64]>::try_from(xs) {
                for (q, oct) in block.chunks_exact(8).enumerate() {
                    // SAFETY: `oct` holds exactly eight f64 (an unaligned load).
                    let x = unsafe { _mm512_loadu_pd(oct.as_ptr()) };
                    let lt = u64::from(_mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, vlo));
                    let le = u64::from(_mm512_cmp_pd_mask::<_CMP_LE_OQ>(x, vhi));
                    // x − x is 0 for finite x, NaN for ±inf and NaN.
                    let d = _mm512_sub_pd(x, x);
                    let fin = u64::from(_mm512_cmp_pd_mask::<_CMP_ORD_Q>(d, d));
                    below |= lt << (8 * q);
                    inside |= (le & !lt) << (8 * q);
                    finite |= fin << (8 * q);
                }
            } else {
                (below, inside, finite) = block_bits(xs, lo, hi);
            }
            words.push(c.add(mw, below, inside, finite));
        }
        c
    }
}

/// Stand-in for compilers before 1.89, which never select the AVX-512 tier.
#[cfg(target_arch = "x86_64")]
#[rustversion::before(1.89)]
mod bracket512 {
    use super::BracketCounts;
    pub(super) unsafe fn bracket_pass(
        _: &[f64],
        _: &[u64],
        _: f64,
        _: f64,
        _: &mut Vec<u64>,
    ) -> BracketCounts {
        BracketCounts::new()
    }
}

/// Per block of 64 events: bit j of `words[w]` is set when event
/// `64w + j` is a member inside `[lo, hi]`; counts members, members below
/// `lo` and non-finite members.
#[inline(always)]
fn bracket_pass_generic(
    values: &[f64],
    members: &[bool],
    lo: f64,
    hi: f64,
    words: &mut Vec<u64>,
) -> BracketCounts {
    words.clear();
    let mut c = BracketCounts::new();
    for (xs, ms) in values.chunks(64).zip(members.chunks(64)) {
        let member = ms
            .iter()
            .enumerate()
            .fold(0u64, |acc, (j, &m)| acc | (u64::from(m) << j));
        let (below, inside, finite) = block_bits(xs, lo, hi);
        words.push(c.add(member, below, inside, finite));
    }
    c
}

/// The median of finite values' [`total_key`]s (reordered in place).
fn median_of_keys(keys: &mut [u64]) -> Option<f64> {
    let n = keys.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (lower, m, _) = keys.select_nth_unstable(mid);
    let m = from_total_key(*m);
    if n % 2 == 1 {
        Some(m)
    } else {
        let below = lower.iter().copied().max().map(from_total_key)?;
        Some((below + m) / 2.0)
    }
}

/// An unsigned key whose integer order is `f64::total_cmp`'s order
/// (negative values bit-flipped, positive ones with the sign bit set).
pub fn total_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// The inverse of [`total_key`].
pub fn from_total_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

crate::simd::multiversion! {
    /// Sorts by `f64::total_cmp` — the same order, bit for bit — with an LSD
    /// radix sort on [`total_key`]s: every density estimate and cofactor sorts
    /// its parent's events, and a comparison sort made those sorts the largest
    /// cost of resolving a file's gates.
    ///
    /// Only the top 33 bits of a key (sign, exponent and 21 bits of mantissa,
    /// a relative resolution of 5e-7) go through the radix passes — three
    /// instead of six. Keys that agree on those bits are then adjacent, and
    /// each run of them is finished by a comparison sort: with events spread
    /// over a data range such runs are a handful of pairs, and however the
    /// values cluster the result is the one total order. Digits that are the
    /// same for every value are skipped.
    pub fn sort_total(v: &mut [f64]) {
        if v.len() < 256 || v.len() > u32::MAX as usize {
            v.sort_unstable_by(f64::total_cmp);
            return;
        }
        const BITS: u32 = 11;
        const MASK: u64 = (1 << BITS) - 1;
        // The lowest key bit the radix passes look at.
        const LOW: u32 = 64 - 3 * BITS;
        let mut keys: Vec<u64> = v.iter().map(|&x| total_key(x)).collect();
        let mut tmp = vec![0u64; keys.len()];
        // The two mantissa digits spread over their 2048 buckets: one
        // histogram each, filled in one pass.
        let mut hist = [[0u32; 1 << BITS]; 2];
        for &k in &keys {
            for (d, h) in hist.iter_mut().enumerate() {
                h[((k >> (LOW + BITS * d as u32)) & MASK) as usize] += 1;
            }
        }
        for (d, h) in hist.iter().enumerate() {
            // A digit shared by every key does not reorder anything.
            if h.iter().any(|&c| c as usize == keys.len()) {
                continue;
            }
            let shift = LOW + BITS * d as u32;
            let mut offsets = [0usize; 1 << BITS];
            let mut sum = 0;
            for (o, &c) in offsets.iter_mut().zip(h) {
                *o = sum;
                sum += c as usize;
            }
            for &k in &keys {
                // The digit is < 2048 and the offsets stay below the length, so
                // neither index can be out of range.
                let o = &mut offsets[((k >> shift) & MASK) as usize];
                if let Some(t) = tmp.get_mut(*o) {
                    *t = k;
                }
                *o += 1;
            }
            std::mem::swap(&mut keys, &mut tmp);
        }
        top_digit_pass(&mut keys, &mut tmp, LOW + 2 * BITS);
        // Runs of keys equal in the radix bits, each ordered by its low bits.
        let mut start = 0;
        while start < keys.len() {
            let top = keys[start] >> LOW;
            let mut end = start + 1;
            while keys.get(end).is_some_and(|k| k >> LOW == top) {
                end += 1;
            }
            let run = &mut keys[start..end];
            if run.len() > 1 && !run.windows(2).all(|w| w[0] <= w[1]) {
                run.sort_unstable();
            }
            start = end;
        }
        for (x, k) in v.iter_mut().zip(&keys) {
            *x = from_total_key(*k);
        }
    }
}

/// The last (most significant) LSD pass of [`sort_total`], on the digit
/// `keys >> shift` (sign and exponent). Events of one population share a few
/// exponents, so consecutive keys mostly land in the same bucket, and a
/// single counter per bucket turns the pass into one long chain of
/// load-increment-store. The keys are therefore cut into four quarters, each
/// with its own counters — four independent chains interleaved — and each
/// bucket's output range is split between them in quarter order, so the pass
/// stays stable.
#[inline(always)]
fn top_digit_pass(keys: &mut Vec<u64>, tmp: &mut Vec<u64>, shift: u32) {
    const BUCKETS: usize = 1 << 11;
    let n = keys.len();
    let q = n / 4;
    let digit = |k: u64| ((k >> shift) as usize) & (BUCKETS - 1);
    let (first, rest) = keys.split_at(q);
    let (second, rest) = rest.split_at(q);
    let (third, fourth) = rest.split_at(q);
    // Counting and scattering both walk the quarters in step.
    let in_step = || {
        first
            .iter()
            .zip(second)
            .zip(third)
            .zip(fourth)
            .map(|(((&a, &b), &c), &d)| [a, b, c, d])
    };
    let mut counts = vec![[0u32; 4]; BUCKETS];
    let mut count = |c: usize, k: u64| {
        if let Some(b) = counts.get_mut(digit(k)) {
            b[c] += 1;
        }
    };
    for ks in in_step() {
        for (c, k) in ks.into_iter().enumerate() {
            count(c, k);
        }
    }
    for &k in fourth.get(q..).unwrap_or_default() {
        count(3, k);
    }
    if counts.iter().any(|b| b.iter().sum::<u32>() as usize == n) {
        return;
    }
    let mut offsets = vec![[0usize; 4]; BUCKETS];
    let mut sum = 0;
    for (o, b) in offsets.iter_mut().zip(&counts) {
        for c in 0..4 {
            o[c] = sum;
            sum += b[c] as usize;
        }
    }
    let mut put = |c: usize, k: u64| {
        if let Some(o) = offsets.get_mut(digit(k)) {
            if let Some(t) = tmp.get_mut(o[c]) {
                *t = k;
            }
            o[c] += 1;
        }
    };
    for ks in in_step() {
        for (c, k) in ks.into_iter().enumerate() {
            put(c, k);
        }
    }
    for &k in fourth.get(q..).unwrap_or_default() {
        put(3, k);
    }
    std::mem::swap(keys, tmp);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gating::Bitset;

    #[test]
    fn radix_sort_and_median_agree_with_total_cmp() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let d = Normal::new(0.0, 1e3).unwrap();
        for n in [0usize, 1, 2, 255, 256, 257, 5000] {
            let mut v: Vec<f64> = (0..n).map(|_| d.sample(&mut rng)).collect();
            if n > 10 {
                v[3] = -0.0;
                v[4] = 0.0;
                v[5] = f64::INFINITY;
                v[6] = f64::NEG_INFINITY;
                v[7] = 1e300;
                v[8] = -5e-324;
                v[9] = v[10];
            }
            let mut want = v.clone();
            want.sort_unstable_by(f64::total_cmp);
            let mut got = v.clone();
            sort_total(&mut got);
            let bits = |s: &[f64]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "n = {n}");
            let finite: Vec<f64> = want.iter().copied().filter(|x| x.is_finite()).collect();
            let m = finite.len();
            let expect = (m > 0).then(|| {
                if m % 2 == 1 {
                    finite[m / 2]
                } else {
                    (finite[m / 2 - 1] + finite[m / 2]) / 2.0
                }
            });
            assert_eq!(
                median(&v).map(f64::to_bits),
                expect.map(f64::to_bits),
                "n = {n}"
            );
        }
    }
    #[test]
    fn radix_sort_orders_values_that_share_their_top_bits() {
        // Values alike in sign, exponent and 21 mantissa bits differ only in
        // the bits the radix passes skip: whole runs go to the fix-up sort.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let u = Uniform::new(0.0, 1e-7);
        let mut v: Vec<f64> = (0..20_000)
            .map(|i| match i % 4 {
                0 => 1000.0 + u.sample(&mut rng),
                1 => -1000.0 - u.sample(&mut rng),
                2 => f64::from(u.sample(&mut rng) as f32),
                _ => 0.0,
            })
            .collect();
        v.push(-0.0);
        let mut want = v.clone();
        want.sort_unstable_by(f64::total_cmp);
        sort_total(&mut v);
        let bits = |s: &[f64]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&v), bits(&want));
    }

    #[test]
    fn median_at_equals_median_of_the_gathered_values() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(10);
        let d = Normal::new(300.0, 1e3).unwrap();
        let mut buf = Vec::new();
        for n in [0usize, 1, 2, 3, 8191, 8192, 8193, 50_000, 50_001] {
            let mut v: Vec<f64> = (0..n + 100).map(|_| d.sample(&mut rng)).collect();
            if n > 10 {
                v[3] = f64::NAN;
                v[5] = f64::INFINITY;
                v[8] = -0.0;
                v[9] = 0.0;
            }
            // Every index, every other one, and a sorted input (the strided
            // sample then brackets the middle badly only by bad luck).
            let all: Vec<usize> = (0..n).collect();
            let odd: Vec<usize> = (0..n).filter(|i| i % 2 == 1).collect();
            for idx in [&all, &odd] {
                let gathered: Vec<f64> = idx.iter().map(|&i| v[i]).collect();
                assert_eq!(
                    median_at(&v, idx, &mut buf).map(f64::to_bits),
                    median(&gathered).map(f64::to_bits),
                    "n = {n}"
                );
            }
            let mut sorted = v.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            let gathered: Vec<f64> = all.iter().map(|&i| sorted[i]).collect();
            assert_eq!(
                median_at(&sorted, &all, &mut buf).map(f64::to_bits),
                median(&gathered).map(f64::to_bits),
                "sorted, n = {n}"
            );
        }
        // A bracket that misses (all sampled positions hold one value, the
        // middle is elsewhere) falls back to the full selection.
        let n = 20_000;
        let step = n / 1024;
        let v: Vec<f64> = (0..n)
            .map(|i| if i % step == 0 { 5.0 } else { i as f64 })
            .collect();
        let all: Vec<usize> = (0..n).collect();
        assert_eq!(median_at(&v, &all, &mut buf), median(&v));
    }
    #[test]
    fn median_masked_equals_median_of_the_members() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let d = Normal::new(300.0, 1e3).unwrap();
        let (mut words, mut buf) = (Vec::new(), Vec::new());
        for n in [0usize, 1, 2, 3, 100, 4095, 4096, 50_000, 50_001] {
            let v: Vec<f64> = (0..n).map(|_| d.sample(&mut rng)).collect();
            let masks: Vec<Vec<bool>> = vec![
                vec![true; n],
                (0..n).map(|i| i % 3 != 0).collect(),
                (0..n).map(|i| i % 7 == 0).collect(),
                (0..n).map(|i| i < n / 2).collect(),
            ];
            for (k, m) in masks.iter().enumerate() {
                let picked: Vec<f64> = v.iter().zip(m).filter(|p| *p.1).map(|p| *p.0).collect();
                assert_eq!(
                    median_masked(&v, m, Bitset::from_bools(m).words(), &mut words, &mut buf)
                        .map(f64::to_bits),
                    median(&picked).map(f64::to_bits),
                    "n = {n}, mask {k}"
                );
            }
            // Non-finite values and ±0 take the plain path, same answer.
            if n > 100 {
                let mut w = v.clone();
                w[3] = f64::NAN;
                w[4] = f64::NEG_INFINITY;
                let all = vec![true; n];
                assert_eq!(
                    median_masked(
                        &w,
                        &all,
                        Bitset::from_bools(&all).words(),
                        &mut words,
                        &mut buf
                    )
                    .map(f64::to_bits),
                    median(&w).map(f64::to_bits)
                );
                let z: Vec<f64> = (0..n)
                    .map(|i| if i % 2 == 0 { 0.0 } else { -0.0 })
                    .collect();
                assert_eq!(
                    median_masked(
                        &z,
                        &all,
                        Bitset::from_bools(&all).words(),
                        &mut words,
                        &mut buf
                    )
                    .map(f64::to_bits),
                    median(&z).map(f64::to_bits)
                );
            }
        }
    }

    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal, Uniform};

    fn mixture(seed: u64, parts: &[(f64, f64, usize)]) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut v = Vec::new();
        for &(mu, sd, n) in parts {
            let d = Normal::new(mu, sd).unwrap();
            v.extend((0..n).map(|_| d.sample(&mut rng)));
        }
        v
    }

    #[test]
    fn density_integrates_to_one_and_finds_two_peaks() {
        let v = mixture(1, &[(0.0, 1.0, 5000), (8.0, 1.0, 2000)]);
        let d = Density::estimate(&v, 1.0).unwrap();
        let integral: f64 = d.y.iter().sum::<f64>() * d.step;
        assert!((integral - 1.0).abs() < 0.01, "integral {integral}");
        let p = d.peaks(0.05);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!((d.x(p[0]) - 0.0).abs() < 0.3);
        assert!((d.x(p[1]) - 8.0).abs() < 0.3);
        let v = d.valley_between(p[0], p[1]).unwrap();
        // The valley of an equal-sd mixture with weights 5:2 lies a bit
        // right of the midpoint (4 + ln(5/2)/8 = 4.11).
        assert!((d.x(v) - 4.11).abs() < 0.3, "valley at {}", d.x(v));
    }

    #[test]
    fn medians_and_quantiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
        assert_eq!(median(&[]), None);
        assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
    }

    #[test]
    fn degenerate_inputs_give_none() {
        assert!(Density::estimate(&[1.0, 1.0, 1.0, 1.0], 1.0).is_none());
        assert!(Density::estimate(&[1.0], 1.0).is_none());
    }
}
