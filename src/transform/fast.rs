//! Fast evaluation of the root-solved transforms (logicle, hyperlog).
//!
//! Solving B(y) = x by Halley's method costs two or three `exp` calls per
//! iteration and a few iterations per value: ~100 ns, too slow for millions
//! of events × a dozen channels. Instead each transform builds, once per
//! parameter set, a table of polynomials that reproduce the exact solution:
//!
//! - The positive data range is cut by the bits of the `f64` itself: each
//!   binade [2^e, 2^(e+1)) is split into 16 equal segments by the top four
//!   mantissa bits, so finding the segment is a shift and a mask, no search
//!   and no logarithm.
//! - On each segment the exact solution is interpolated at Chebyshev nodes by
//!   a polynomial of degree 7 in a local variable s ∈ [−1, 1) taken from the
//!   remaining mantissa bits (exactly). Each segment spans at most 1/16 of
//!   its left end, where the solution is smooth (≈ log or ≈ linear), so the
//!   interpolation error is ~1e-15 — far inside the 1e-10 tolerance against
//!   flowutils; `tests::table_matches_exact_solver` bounds it over dense
//!   random points.
//! - Values outside the tabulated binades (tiny |x| near 0, huge |x|,
//!   non-finite) fall back to the exact solver; negatives reflect about x1.
//!
//! Tables are cached per parameter set for the whole process, so building
//! the same transform for every sample of a batch costs one table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Segments per binade = 2^SEG_BITS.
const SEG_BITS: u32 = 4;
/// Polynomial degree per segment.
const DEG: usize = 7;
const N_COEF: usize = DEG + 1;
/// Binades below / above the one containing T that are tabulated.
const BINADES_BELOW: u64 = 40;
const BINADES_ABOVE: u64 = 12;
/// Mantissa bits below the segment bits.
const FRAC_BITS: u32 = 52 - SEG_BITS;

/// Piecewise-polynomial table of y(x) for x > 0.
pub(super) struct RootTable {
    /// Biased exponent of the first tabulated binade.
    e_lo: u64,
    /// First biased exponent that is not tabulated.
    e_hi: u64,
    coefs: Vec<[f64; N_COEF]>,
}

impl RootTable {
    /// Tabulates `exact` (defined for x > 0) around the binade of `top`.
    pub(super) fn build(top: f64, exact: impl Fn(f64) -> f64) -> RootTable {
        let e_top = (top.to_bits() >> 52) & 0x7ff;
        let e_lo = e_top.saturating_sub(BINADES_BELOW).max(1);
        let e_hi = (e_top + BINADES_ABOVE).min(0x7fe);
        let n_seg = ((e_hi - e_lo) << SEG_BITS) as usize;
        // Chebyshev nodes of the first kind and T_j at each node.
        let nodes: Vec<f64> = (0..N_COEF)
            .map(|k| (std::f64::consts::PI * (k as f64 + 0.5) / N_COEF as f64).cos())
            .collect();
        let cheb_at = |s: f64| {
            let mut t = [0.0; N_COEF];
            t[0] = 1.0;
            if N_COEF > 1 {
                t[1] = s;
            }
            for j in 2..N_COEF {
                t[j] = 2.0 * s * t[j - 1] - t[j - 2];
            }
            t
        };
        let t_nodes: Vec<[f64; N_COEF]> = nodes.iter().map(|&s| cheb_at(s)).collect();
        let mono = chebyshev_to_monomial();
        let mut coefs = Vec::with_capacity(n_seg);
        for seg in 0..n_seg {
            let e = e_lo + (seg as u64 >> SEG_BITS);
            let m = (seg as u64) & ((1 << SEG_BITS) - 1);
            let lo = f64::from_bits((e << 52) | (m << FRAC_BITS));
            let hi = if m + 1 == (1 << SEG_BITS) {
                f64::from_bits((e + 1) << 52)
            } else {
                f64::from_bits((e << 52) | ((m + 1) << FRAC_BITS))
            };
            let half = 0.5 * (hi - lo);
            let mid = lo + half;
            let f: Vec<f64> = nodes.iter().map(|&s| exact(mid + half * s)).collect();
            let mut c = [0.0; N_COEF];
            for (j, cj) in c.iter_mut().enumerate() {
                let sum: f64 = f.iter().zip(&t_nodes).map(|(fk, tk)| fk * tk[j]).sum();
                *cj = sum * 2.0 / N_COEF as f64;
            }
            c[0] *= 0.5;
            let mut p = [0.0; N_COEF];
            for (j, cj) in c.iter().enumerate() {
                for (i, pi) in p.iter_mut().enumerate() {
                    *pi += cj * mono[j][i];
                }
            }
            coefs.push(p);
        }
        RootTable { e_lo, e_hi, coefs }
    }

    /// y(x) for x > 0 from the table, or `None` outside the tabulated range
    /// (and for 0, subnormals, ∞ and NaN).
    #[inline(always)]
    pub(super) fn eval(&self, x: f64) -> Option<f64> {
        let bits = x.to_bits();
        let e = bits >> 52;
        if e < self.e_lo || e >= self.e_hi {
            return None;
        }
        let seg = (((e - self.e_lo) << SEG_BITS) | ((bits >> FRAC_BITS) & ((1 << SEG_BITS) - 1)))
            as usize;
        let frac = (bits & ((1u64 << FRAC_BITS) - 1)) as f64;
        // s ∈ [−1, 1): exact (FRAC_BITS-bit integer times a power of two).
        let s = frac * (1.0 / (1u64 << (FRAC_BITS - 1)) as f64) - 1.0;
        let p = self.coefs.get(seg)?;
        let mut acc = p[DEG];
        for i in (0..DEG).rev() {
            acc = acc * s + p[i];
        }
        Some(acc)
    }
}

impl std::fmt::Debug for RootTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RootTable {{ binades: 2^{}..2^{}, segments: {} }}",
            self.e_lo as i64 - 1023,
            self.e_hi as i64 - 1023,
            self.coefs.len()
        )
    }
}

/// mono[j][i]: coefficient of s^i in the Chebyshev polynomial T_j(s).
fn chebyshev_to_monomial() -> [[f64; N_COEF]; N_COEF] {
    let mut m = [[0.0; N_COEF]; N_COEF];
    m[0][0] = 1.0;
    if N_COEF > 1 {
        m[1][1] = 1.0;
    }
    for j in 2..N_COEF {
        for i in 0..N_COEF {
            let shifted = if i > 0 { 2.0 * m[j - 1][i - 1] } else { 0.0 };
            m[j][i] = shifted - m[j - 2][i];
        }
    }
    m
}

/// Which transform a cached table belongs to, with its parameters' bits.
pub(super) type TableKey = (&'static str, [u64; 4]);

/// Process-wide cache of tables by transform and parameters.
pub(super) fn cached(key: TableKey, build: impl FnOnce() -> RootTable) -> Arc<RootTable> {
    static CACHE: OnceLock<Mutex<HashMap<TableKey, Arc<RootTable>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(map) = cache.lock() {
        if let Some(t) = map.get(&key) {
            return Arc::clone(t);
        }
    }
    // Build outside the lock: two threads may build the same table once each,
    // which is harmless (the tables are identical).
    let table = Arc::new(build());
    if let Ok(mut map) = cache.lock() {
        // Bound the cache: a pipeline uses a handful of parameter sets, an
        // estimated logicle per sample can make many.
        if map.len() >= 256 {
            map.clear();
        }
        map.insert(key, Arc::clone(&table));
    }
    table
}

/// A lazily built, shared table: clones of a transform share one.
#[derive(Debug, Clone, Default)]
pub(super) struct LazyTable(Arc<OnceLock<Arc<RootTable>>>);

/// The table is a pure function of the transform's parameters, which the
/// owner compares; two tables never make otherwise-equal transforms differ.
impl PartialEq for LazyTable {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl LazyTable {
    #[inline]
    pub(super) fn get(&self, key: TableKey, build: impl FnOnce() -> RootTable) -> &RootTable {
        self.0.get_or_init(|| cached(key, build))
    }
}

/// A transform whose positive half is the root of an increasing function
/// and whose negative half is the reflection about x1 (logicle, hyperlog).
/// The table lookup, the exact fallback and the reflection are the same for
/// both, so they live here once; each transform supplies only its solver.
pub(super) trait ReflectedRoot: Sync {
    /// Name in the table cache key (tables of different transforms with
    /// equal parameters must not be shared).
    const NAME: &'static str;
    /// T, W, M, A as given: the cache key.
    fn twma(&self) -> [f64; 4];
    /// Scale value of data 0.
    fn x1(&self) -> f64;
    /// The scale value y ≥ x1 of data `value` ≥ 0, exactly.
    fn solve_positive(&self, value: f64) -> f64;
    /// The transform's lazily built table.
    fn lazy_table(&self) -> &LazyTable;

    /// The table, built on first use (cached per parameter set).
    fn table(&self) -> &RootTable {
        let [t, ..] = self.twma();
        let key = (Self::NAME, self.twma().map(f64::to_bits));
        self.lazy_table()
            .get(key, || RootTable::build(t, |x| self.solve_positive(x)))
    }

    /// The scale value of `x` from `table`, falling back to the exact solver
    /// outside it; negatives by reflection about x1, NaN passes through.
    #[inline(always)]
    fn apply_with(&self, table: &RootTable, x: f64) -> f64 {
        let ax = x.abs();
        let y = match table.eval(ax) {
            Some(y) => y,
            None if x.is_nan() => return x,
            None => self.solve_positive(ax),
        };
        if x < 0.0 {
            2.0 * self.x1() - y
        } else {
            y
        }
    }

    /// [`ReflectedRoot::apply_with`] over a slice (table looked up once).
    fn apply_slice_fast(&self, xs: &mut [f64]) {
        let table = self.table();
        super::map_in_place(xs, |x| self.apply_with(table, x));
    }
}

/// Checks T, W, M, A of logicle and hyperlog: all finite, T > 0, M > 0,
/// W ≤ M/2, −W ≤ A ≤ M − 2W, and W ≥ 0 (logicle: W = 0 is the pure
/// biexponential) or W > 0 (hyperlog: its linear slope is 1/W).
pub(super) fn check_twma(
    transform: &'static str,
    [t, w, m, a]: [f64; 4],
    zero_width_ok: bool,
) -> Result<(), super::TransformError> {
    let bad = |reason: String| super::TransformError::Parameter { transform, reason };
    if ![t, w, m, a].iter().all(|v| v.is_finite()) {
        return Err(bad(format!(
            "parameters must be finite numbers (T={t}, W={w}, M={m}, A={a})"
        )));
    }
    if t <= 0.0 {
        return Err(bad(format!("T must be > 0 (T={t})")));
    }
    if m <= 0.0 {
        return Err(bad(format!("M must be > 0 (M={m})")));
    }
    if zero_width_ok && w < 0.0 {
        return Err(bad(format!("W must be ≥ 0 (W={w})")));
    }
    if !zero_width_ok && w <= 0.0 {
        return Err(bad(format!("W must be > 0 (W={w})")));
    }
    if 2.0 * w > m {
        return Err(bad(format!("W must be ≤ M/2 (W={w}, M={m})")));
    }
    if -a > w || a + w > m - w {
        return Err(bad(format!(
            "A must lie in [−W, M − 2W] (A={a}, W={w}, M={m})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::transform::{Hyperlog, Logicle};

    /// Log-uniform magnitudes over 1e-9…1e11, both signs (deterministic LCG).
    fn sample_points(n: usize) -> Vec<f64> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        (0..n)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                let mag = 10f64.powf(-9.0 + 20.0 * u);
                if i % 2 == 0 {
                    mag
                } else {
                    -mag
                }
            })
            .collect()
    }

    #[test]
    fn table_matches_exact_solver() {
        let xs = sample_points(200_000);
        let mut worst = 0.0_f64;
        for (t, w, m, a) in [
            (262144.0, 0.5, 4.5, 0.0),
            (10000.0, 0.5, 4.5, 0.0),
            (262144.0, 1.0, 4.5, 1.0),
            (1000.0, 0.0, 3.0, 0.0),
            (4096.0, 1.5, 5.0, 2.0),
            (262144.0, 0.05, 4.5, 0.0),
        ] {
            let l = Logicle::new(t, w, m, a).unwrap();
            for &x in &xs {
                let (f, e) = (l.apply(x), l.apply_exact(x));
                worst = worst.max((f - e).abs() / e.abs().max(1.0));
            }
            if w > 0.0 {
                let h = Hyperlog::new(t, w, m, a).unwrap();
                for &x in &xs {
                    let (f, e) = (h.apply(x), h.apply_exact(x));
                    worst = worst.max((f - e).abs() / e.abs().max(1.0));
                }
            }
        }
        eprintln!("largest table error: {worst:e}");
        assert!(worst <= 1e-13, "largest table error {worst:e}");
    }
}
