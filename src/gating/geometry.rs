//! Membership kernels: a gate's own test over columns of final (compensated,
//! transformed) values, written straight into bitset words.
//!
//! Each kernel is a pure function of one event's coordinates, so the words can
//! be filled in any order and split between threads without changing a bit.
//! Boundary rules (SEMANTICS.md §4): rectangle `min ≤ x < max`; polygon
//! even–odd with points on an edge inside; ellipsoid `≤ distanceSquare`; an
//! event with a non-finite value in any dimension is outside.

use rayon::prelude::*;

use super::bitset::Bitset;

/// Events per rayon task: big enough that scheduling is negligible, small
/// enough that 2–8 cores share a 1M-event file evenly. A multiple of 64.
const CHUNK_EVENTS: usize = 64 * 1024;

/// Below this many events, run on the calling thread.
const PARALLEL_MIN_EVENTS: usize = 2 * CHUNK_EVENTS;

/// Fills one bit per event with `word(start, len)`, which returns the bits of
/// events `start..start+len` (len ≤ 64) packed into a word.
pub(crate) fn fill<F>(n: usize, word: F) -> Bitset
where
    F: Fn(usize, usize) -> u64 + Sync,
{
    fill_chunks(n, |first, chunk| {
        for (k, w) in chunk.iter_mut().enumerate() {
            let start = (first + k) * 64;
            *w = word(start, (n - start).min(64));
        }
    })
}

/// Fills the words of a bitset of `n` events chunk by chunk: `chunk(first,
/// words)` writes `words`, whose first one holds events `64 * first ..`.
/// A kernel compiled per CPU tier ([`crate::simd::multiversion!`]) is called
/// once per chunk, so its loop runs at that tier.
pub(crate) fn fill_chunks<F>(n: usize, chunk: F) -> Bitset
where
    F: Fn(usize, &mut [u64]) + Sync,
{
    let mut words = vec![0u64; n.div_ceil(64)];
    let run = |chunk_index: usize, c: &mut [u64]| chunk(chunk_index * (CHUNK_EVENTS / 64), c);
    if n >= PARALLEL_MIN_EVENTS {
        words
            .par_chunks_mut(CHUNK_EVENTS / 64)
            .enumerate()
            .for_each(|(i, c)| run(i, c));
    } else {
        words
            .chunks_mut(CHUNK_EVENTS / 64)
            .enumerate()
            .for_each(|(i, c)| run(i, c));
    }
    Bitset::from_words(words, n)
}

/// Half-open bounds `[lo, hi)` of one rectangle axis, with open sides made
/// finite-excluding: `lo` never below `f64::MIN` (so −∞ and NaN fail `x ≥ lo`)
/// and `hi` at most +∞ (so +∞ and NaN fail `x < hi`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    lo: f64,
    hi: f64,
}

impl Bounds {
    pub(crate) fn new(min: Option<f64>, max: Option<f64>) -> Self {
        Bounds {
            lo: min.unwrap_or(f64::MIN).max(f64::MIN),
            hi: max.unwrap_or(f64::INFINITY),
        }
    }
}

/// Rectangle: every axis `lo ≤ x < hi`.
pub(crate) fn rectangle(columns: &[&[f64]], bounds: &[Bounds], n: usize) -> Bitset {
    fill_chunks(n, |first, words| {
        rectangle_words(columns, bounds, n, first, words)
    })
}

crate::simd::multiversion! {
    /// [`rectangle`]'s words `first ..` of `n` events.
    fn rectangle_words(columns: &[&[f64]], bounds: &[Bounds], n: usize, first: usize, words: &mut [u64]) {
        for (k, word) in words.iter_mut().enumerate() {
            let start = (first + k) * 64;
            let len = n.saturating_sub(start).min(64);
            let mut acc = if len == 64 {
                u64::MAX
            } else {
                (1u64 << len) - 1
            };
            for (col, b) in columns.iter().zip(bounds) {
                let Some(xs) = col.get(start..start + len) else {
                    acc = 0;
                    break;
                };
                let mut w = 0u64;
                for (k, &x) in xs.iter().enumerate() {
                    w |= u64::from((x >= b.lo) & (x < b.hi)) << k;
                }
                acc &= w;
            }
            *word = acc;
        }
    }
}

/// One polygon edge, with what the per-event test needs precomputed.
#[derive(Debug, Clone, Copy)]
struct Edge {
    ax: f64,
    ay: f64,
    by: f64,
    /// `bx − ax` and `by − ay`, the same roundings the cross product always used.
    dx: f64,
    dy: f64,
    min_x: f64,
    max_x: f64,
    min_y: f64,
    max_y: f64,
    /// by > ay: the crossing test's sign convention.
    rising: bool,
}

impl Edge {
    /// The cross product `(bx−ax)(py−ay) − (px−ax)(by−ay)`: zero on the
    /// edge's line, and its sign says on which side of it the point lies.
    #[inline(always)]
    fn cross(&self, px: f64, py: f64) -> f64 {
        self.dx * (py - self.ay) - (px - self.ax) * self.dy
    }

    /// Whether a ray from the point to +x crosses this edge (half-open in y).
    #[cfg(test)]
    fn crossed(&self, cross: f64, py: f64) -> bool {
        ((self.ay > py) != (self.by > py)) & ((cross > 0.0) == self.rising)
    }

    /// Whether the point lies exactly on this edge (segment, ends included).
    #[inline(always)]
    fn touches(&self, cross: f64, px: f64, py: f64) -> bool {
        (cross == 0.0)
            & (px >= self.min_x)
            & (px <= self.max_x)
            & (py >= self.min_y)
            & (py <= self.max_y)
    }
}

/// A polygon prepared for testing (closed: last vertex joins the first).
#[derive(Debug, Clone)]
pub(crate) struct Polygon {
    edges: Vec<Edge>,
}

impl Polygon {
    pub(crate) fn new(vertices: &[(f64, f64)]) -> Self {
        let edges = vertices
            .iter()
            .zip(vertices.iter().cycle().skip(1))
            .map(|(&(ax, ay), &(bx, by))| Edge {
                ax,
                ay,
                by,
                dx: bx - ax,
                dy: by - ay,
                min_x: ax.min(bx),
                max_x: ax.max(bx),
                min_y: ay.min(by),
                max_y: ay.max(by),
                rising: by > ay,
            })
            .collect();
        Polygon { edges }
    }

    /// Even–odd test with points exactly on an edge inside.
    ///
    /// Why exact arithmetic on the cross product instead of computing the
    /// crossing abscissa by division: the ISAC data put events exactly on a
    /// diagonal edge, and `ax + (py−ay)(bx−ax)/(by−ay)` can round either way.
    /// The cross product `(bx−ax)(py−ay) − (px−ax)(by−ay)` is zero for them, and
    /// its sign also decides the crossing: the ray to +x crosses a straddling
    /// edge exactly when the sign of the cross product matches the edge's
    /// direction in y.
    /// (The kernel [`polygon`] runs this same arithmetic edge-major; tests
    /// check the two agree point by point.)
    #[cfg(test)]
    pub(crate) fn contains(&self, px: f64, py: f64) -> bool {
        if !(px.is_finite() && py.is_finite()) {
            return false;
        }
        self.on_edge(px, py) | self.odd(px, py)
    }

    #[cfg(test)]
    fn odd(&self, px: f64, py: f64) -> bool {
        self.edges
            .iter()
            .fold(false, |odd, e| odd ^ e.crossed(e.cross(px, py), py))
    }

    fn on_edge(&self, px: f64, py: f64) -> bool {
        self.edges
            .iter()
            .any(|e| e.touches(e.cross(px, py), px, py))
    }

    /// The even–odd parity of 64 events as a word, and a word flagging the
    /// events whose cross product is exactly zero for some edge — the only
    /// ones that can lie on an edge, to be checked one by one.
    ///
    /// Edge-major with one u64 lane per event: for one edge the same
    /// branch-free arithmetic runs over 64 contiguous events, which the
    /// compiler turns into SIMD (f64 compares give 64-bit masks, so lanes need
    /// no narrowing). The bounding-box part of the on-edge test, four compares
    /// per edge and event, is left to the rare flagged events.
    #[inline(always)]
    fn word(&self, xs: &[f64; 64], ys: &[f64; 64]) -> (u64, u64) {
        let mut odd = [0u64; 64];
        let mut zero = [0u64; 64];
        for e in &self.edges {
            let flip = u64::from(!e.rising);
            for k in 0..64 {
                let (px, py) = (xs[k], ys[k]);
                let cross = e.cross(px, py);
                let straddles = u64::from((e.ay > py) != (e.by > py));
                odd[k] ^= straddles & (u64::from(cross > 0.0) ^ flip);
                zero[k] |= u64::from(cross == 0.0);
            }
        }
        let (mut w_odd, mut w_zero) = (0u64, 0u64);
        for k in 0..64 {
            let finite = u64::from(xs[k].is_finite() & ys[k].is_finite());
            w_odd |= (odd[k] & finite) << k;
            w_zero |= (zero[k] & finite) << k;
        }
        (w_odd, w_zero)
    }

    /// The polygon's bits of 64 events: the crossing parity of
    /// [`Polygon::word`], plus the events on an edge (exact test, rare).
    #[inline(always)]
    fn membership(&self, xs: &[f64; 64], ys: &[f64; 64]) -> u64 {
        let (odd, zero) = self.word(xs, ys);
        let mut w = odd;
        let mut z = zero & !odd;
        while z != 0 {
            let k = z.trailing_zeros() as usize;
            if self.on_edge(xs[k], ys[k]) {
                w |= 1 << k;
            }
            z &= z - 1;
        }
        w
    }
}

/// Polygon over two columns: even–odd with points on an edge inside, the
/// arithmetic of [`Polygon::contains`] run 64 events at a time.
pub(crate) fn polygon(x: &[f64], y: &[f64], poly: &Polygon, n: usize) -> Bitset {
    fill_chunks(n, |first, words| polygon_words(x, y, poly, n, first, words))
}

crate::simd::multiversion! {
    /// [`polygon`]'s words `first ..` of `n` events.
    fn polygon_words(x: &[f64], y: &[f64], poly: &Polygon, n: usize, first: usize, words: &mut [u64]) {
        for (k, word) in words.iter_mut().enumerate() {
            let start = (first + k) * 64;
            let len = n.saturating_sub(start).min(64);
            let (Some(xs), Some(ys)) = (x.get(start..start + len), y.get(start..start + len)) else {
                *word = 0;
                continue;
            };
            *word = match (<&[f64; 64]>::try_from(xs), <&[f64; 64]>::try_from(ys)) {
                (Ok(xs), Ok(ys)) => poly.membership(xs, ys),
                _ => {
                    // The last, partial word: pad with NaN (never inside).
                    let (mut bx, mut by) = ([f64::NAN; 64], [f64::NAN; 64]);
                    bx.iter_mut().zip(xs).for_each(|(d, s)| *d = *s);
                    by.iter_mut().zip(ys).for_each(|(d, s)| *d = *s);
                    poly.membership(&bx, &by)
                }
            };
        }
    }
}

/// Inverts a square matrix by Gauss–Jordan elimination with partial pivoting;
/// `None` when it is singular (to working precision).
pub(crate) fn invert(m: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = m.len();
    let mut a: Vec<Vec<f64>> = m
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut r = row.clone();
            r.extend((0..n).map(|j| if i == j { 1.0 } else { 0.0 }));
            r
        })
        .collect();
    let scale = m
        .iter()
        .flatten()
        .fold(0.0f64, |acc, v| acc.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() <= scale * 1e-14 {
            return None;
        }
        a.swap(col, pivot);
        let p = a[col][col];
        a[col].iter_mut().for_each(|v| *v /= p);
        let pivot_row = a[col].clone();
        for (i, row) in a.iter_mut().enumerate() {
            if i != col {
                let f = row[col];
                if f != 0.0 {
                    row.iter_mut()
                        .zip(&pivot_row)
                        .for_each(|(v, p)| *v -= f * p);
                }
            }
        }
    }
    Some(a.into_iter().map(|r| r[n..].to_vec()).collect())
}

/// Ellipsoid: `(x − μ)ᵀ S (x − μ) ≤ d²` with `S` = Σ⁻¹ (row-major, n×n).
pub(crate) fn ellipsoid(
    columns: &[&[f64]],
    mean: &[f64],
    inverse: &[f64],
    distance_square: f64,
    n: usize,
) -> Bitset {
    if let ([x, y], [m0, m1], &[i00, i01, i10, i11]) = (columns, mean, inverse) {
        return ellipse(x, y, (*m0, *m1), [i00, i01, i10, i11], distance_square, n);
    }
    ellipsoid_nd(columns, mean, inverse, distance_square, n)
}

/// Any number of dimensions, one event at a time.
fn ellipsoid_nd(
    columns: &[&[f64]],
    mean: &[f64],
    inverse: &[f64],
    distance_square: f64,
    n: usize,
) -> Bitset {
    let dims = columns.len();
    fill(n, |start, len| {
        let mut diff = vec![0.0; dims];
        let mut w = 0u64;
        for k in 0..len {
            let i = start + k;
            let mut finite = true;
            for ((d, col), m) in diff.iter_mut().zip(columns).zip(mean) {
                let x = col.get(i).copied().unwrap_or(f64::NAN);
                finite &= x.is_finite();
                *d = x - m;
            }
            if !finite {
                continue;
            }
            let mut q = 0.0;
            for (r, dr) in diff.iter().enumerate() {
                let row = inverse.get(r * dims..(r + 1) * dims).unwrap_or(&[]);
                let s: f64 = row.iter().zip(&diff).map(|(a, b)| a * b).sum();
                q += dr * s;
            }
            w |= u64::from(q <= distance_square) << k;
        }
        w
    })
}

/// The 2-D ellipsoid, 64 events at a time with no per-event branch. The
/// arithmetic is the general kernel's for two dimensions — row sums
/// `s_r = S[r][0]·d0 + S[r][1]·d1`, then `q = d0·s_0 + d1·s_1` in that order —
/// so results are identical.
fn ellipse(
    x: &[f64],
    y: &[f64],
    (m0, m1): (f64, f64),
    [i00, i01, i10, i11]: [f64; 4],
    distance_square: f64,
    n: usize,
) -> Bitset {
    fill(n, |start, len| {
        let (Some(xs), Some(ys)) = (x.get(start..start + len), y.get(start..start + len)) else {
            return 0;
        };
        let mut w = 0u64;
        for (k, (&px, &py)) in xs.iter().zip(ys).enumerate() {
            let (d0, d1) = (px - m0, py - m1);
            let (s0, s1) = (i00 * d0 + i01 * d1, i10 * d0 + i11 * d1);
            let q = d0 * s0 + d1 * s1;
            w |= u64::from((q <= distance_square) & px.is_finite() & py.is_finite()) << k;
        }
        w
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangle_is_half_open_and_rejects_non_finite() {
        let x = [1.0, 2.0, 3.0, f64::NAN, f64::NEG_INFINITY, f64::INFINITY];
        let b = rectangle(&[&x], &[Bounds::new(Some(1.0), Some(3.0))], x.len());
        assert_eq!(b.to_bools(), [true, true, false, false, false, false]);
        let open = rectangle(&[&x], &[Bounds::new(None, None)], x.len());
        assert_eq!(open.to_bools(), [true, true, true, false, false, false]);
    }

    #[test]
    fn polygon_edges_are_inside_and_even_odd_holds() {
        let tri = Polygon::new(&[(5.0, 5.0), (500.0, 5.0), (500.0, 500.0)]);
        assert!(tri.contains(100.0, 100.0)); // on the diagonal edge
        assert!(tri.contains(5.0, 5.0)); // a vertex
        assert!(tri.contains(500.0, 250.0)); // right edge
        assert!(tri.contains(250.0, 5.0)); // bottom edge
        assert!(tri.contains(400.0, 100.0));
        assert!(!tri.contains(100.0, 400.0));
        assert!(!tri.contains(f64::NAN, 10.0));
        // A pentagram: the centre is wound twice, so even–odd puts it outside.
        let star: Vec<(f64, f64)> = (0..5)
            .map(|k| {
                let a =
                    std::f64::consts::FRAC_PI_2 + (k * 2) as f64 * 2.0 * std::f64::consts::PI / 5.0;
                (a.cos(), a.sin())
            })
            .collect();
        let star = Polygon::new(&star);
        assert!(!star.contains(0.0, 0.0));
        assert!(star.contains(0.0, 0.7));
    }

    #[test]
    fn polygon_kernel_matches_point_test() {
        let v = [
            (1.0, 1.0),
            (9.0, 2.0),
            (5.0, 9.0),
            (2.0, 6.0),
            (5.0, 5.0),
            (1.5, 3.0),
        ];
        let poly = Polygon::new(&v);
        // A grid through vertices and edges, plus non-finite values.
        let mut xs: Vec<f64> = (0..400).map(|i| (i % 20) as f64 * 0.5).collect();
        let mut ys: Vec<f64> = (0..400).map(|i| (i / 20) as f64 * 0.5).collect();
        xs.extend([f64::NAN, 3.0, f64::INFINITY]);
        ys.extend([3.0, f64::NAN, 3.0]);
        let b = polygon(&xs, &ys, &poly, xs.len());
        for (i, (&x, &y)) in xs.iter().zip(&ys).enumerate() {
            assert_eq!(b.get(i), poly.contains(x, y), "({x}, {y})");
        }
        assert!(b.count() > 50);
    }

    #[test]
    fn polygon_kernel_matches_point_test_on_lattice_points() {
        // Small integer polygons (horizontal, vertical and repeated vertices
        // included) and lattice points: many events lie on an edge or on an
        // edge's line outside the segment, the cases the word kernel hands
        // to the per-event on-edge check.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % m) as f64
        };
        for _ in 0..50 {
            let nv = 3 + next(6) as usize;
            let v: Vec<(f64, f64)> = (0..nv).map(|_| (next(9), next(9))).collect();
            let poly = Polygon::new(&v);
            let xs: Vec<f64> = (0..1000).map(|_| next(21) * 0.5 - 0.5).collect();
            let ys: Vec<f64> = (0..1000).map(|_| next(21) * 0.5 - 0.5).collect();
            let b = polygon(&xs, &ys, &poly, xs.len());
            for (i, (&x, &y)) in xs.iter().zip(&ys).enumerate() {
                assert_eq!(b.get(i), poly.contains(x, y), "{v:?} ({x}, {y})");
            }
        }
    }

    #[test]
    fn ellipse_kernel_matches_general_kernel() {
        // Non-symmetric inverse, points straddling the boundary, non-finite.
        let inv = [2.0e-3, 3.0e-4, -1.0e-4, 5.0e-3];
        let mean = [90.0, 40.0];
        let mut xs: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 401) as f64 * 0.25)
            .collect();
        let mut ys: Vec<f64> = (0..5000)
            .map(|i| ((i * 104_729) % 397) as f64 * 0.25)
            .collect();
        xs.extend([f64::NAN, 90.0, f64::INFINITY, f64::NEG_INFINITY]);
        ys.extend([40.0, f64::NAN, 40.0, 40.0]);
        let n = xs.len();
        let fast = ellipsoid(&[&xs, &ys], &mean, &inv, 4.0, n);
        let general = ellipsoid_nd(&[&xs, &ys], &mean, &inv, 4.0, n);
        assert_eq!(fast, general);
        assert!(
            fast.count() > 100 && fast.count() < 4000,
            "{}",
            fast.count()
        );
    }

    #[test]
    fn inverse_of_non_symmetric_matrix() {
        let m = vec![vec![2.0, 1.0], vec![0.0, 4.0]];
        let inv = invert(&m).unwrap();
        assert_eq!(inv, vec![vec![0.5, -0.125], vec![0.0, 0.25]]);
        assert!(invert(&[vec![1.0, 2.0], vec![2.0, 4.0]]).is_none());
    }

    #[test]
    fn parallel_fill_matches_serial() {
        let n = PARALLEL_MIN_EVENTS * 2 + 77;
        let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64).collect();
        let b = rectangle(&[&x], &[Bounds::new(Some(100.0), Some(600.0))], n);
        let expect = x.iter().filter(|&&v| (100.0..600.0).contains(&v)).count();
        assert_eq!(b.count(), expect);
        assert!(x
            .iter()
            .enumerate()
            .all(|(i, &v)| b.get(i) == (100.0..600.0).contains(&v)));
    }
}
