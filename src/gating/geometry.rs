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
    let mut words = vec![0u64; n.div_ceil(64)];
    let run = |chunk_index: usize, chunk: &mut [u64]| {
        let first = chunk_index * (CHUNK_EVENTS / 64);
        for (k, w) in chunk.iter_mut().enumerate() {
            let start = (first + k) * 64;
            *w = word(start, (n - start).min(64));
        }
    };
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
    fill(n, |start, len| {
        let mut acc = if len == 64 {
            u64::MAX
        } else {
            (1u64 << len) - 1
        };
        for (col, b) in columns.iter().zip(bounds) {
            let Some(xs) = col.get(start..start + len) else {
                return 0;
            };
            let mut w = 0u64;
            for (k, &x) in xs.iter().enumerate() {
                w |= u64::from((x >= b.lo) & (x < b.hi)) << k;
            }
            acc &= w;
        }
        acc
    })
}

/// One polygon edge, with what the per-event test needs precomputed.
#[derive(Debug, Clone, Copy)]
struct Edge {
    ax: f64,
    ay: f64,
    bx: f64,
    by: f64,
    min_x: f64,
    max_x: f64,
    min_y: f64,
    max_y: f64,
    /// by > ay: the crossing test's sign convention.
    rising: bool,
}

/// A polygon prepared for testing (closed: last vertex joins the first).
#[derive(Debug, Clone)]
pub(crate) struct Polygon {
    edges: Vec<Edge>,
}

impl Polygon {
    pub(crate) fn new(vertices: &[(f64, f64)]) -> Self {
        let n = vertices.len();
        let edges = (0..n)
            .map(|i| {
                let (ax, ay) = vertices[i];
                let (bx, by) = vertices[(i + 1) % n];
                Edge {
                    ax,
                    ay,
                    bx,
                    by,
                    min_x: ax.min(bx),
                    max_x: ax.max(bx),
                    min_y: ay.min(by),
                    max_y: ay.max(by),
                    rising: by > ay,
                }
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
        let mut odd = false;
        let mut on_edge = false;
        for e in &self.edges {
            let cross = (e.bx - e.ax) * (py - e.ay) - (px - e.ax) * (e.by - e.ay);
            on_edge |= (cross == 0.0)
                & (px >= e.min_x)
                & (px <= e.max_x)
                & (py >= e.min_y)
                & (py <= e.max_y);
            let straddles = (e.ay > py) != (e.by > py);
            odd ^= straddles & ((cross > 0.0) == e.rising);
        }
        on_edge | odd
    }
}

/// Polygon over two columns.
///
/// Edge-major within each 64-event word: for one edge, the same arithmetic
/// runs over 64 contiguous events with no data-dependent branch, which the
/// compiler turns into SIMD; the per-event flags are packed at the end. The
/// arithmetic is exactly [`Polygon::contains`]'s, so results are identical.
pub(crate) fn polygon(x: &[f64], y: &[f64], poly: &Polygon, n: usize) -> Bitset {
    fill(n, |start, len| {
        let (Some(xs), Some(ys)) = (x.get(start..start + len), y.get(start..start + len)) else {
            return 0;
        };
        let mut odd = [false; 64];
        let mut on = [false; 64];
        for e in &poly.edges {
            let (dx, dy) = (e.bx - e.ax, e.by - e.ay);
            for (((&px, &py), o), b) in xs.iter().zip(ys).zip(&mut odd).zip(&mut on) {
                let cross = dx * (py - e.ay) - (px - e.ax) * dy;
                *b |= (cross == 0.0)
                    & (px >= e.min_x)
                    & (px <= e.max_x)
                    & (py >= e.min_y)
                    & (py <= e.max_y);
                *o ^= ((e.ay > py) != (e.by > py)) & ((cross > 0.0) == e.rising);
            }
        }
        let mut w = 0u64;
        for (k, ((&px, &py), (o, b))) in xs.iter().zip(ys).zip(odd.iter().zip(&on)).enumerate() {
            w |= u64::from((*o | *b) & px.is_finite() & py.is_finite()) << k;
        }
        w
    })
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
