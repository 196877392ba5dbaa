//! The self-organising map: R FlowSOM's online SOM (`SOM()` in FlowSOM's C
//! code), made fast without changing the algorithm.
//!
//! # The algorithm (as in R FlowSOM)
//! - Nodes on an `xdim × ydim` grid, node `x + xdim·y`; grid distance is the
//!   Chebyshev ("maximum") distance between grid positions.
//! - Codes start as distinct random events.
//! - `rlen · n` steps. Each step draws one event uniformly at random, finds
//!   its nearest code (Euclidean; first index wins ties) and moves every code
//!   within the current radius of that winner on the grid towards the event
//!   by `alpha`. `alpha` falls linearly from 0.05 to 0.01, the radius linearly
//!   from the 0.67 quantile of all grid distances to 0; once below 1 it is
//!   held at 0.5 (only the winner moves). After each full pass R stops early
//!   if the summed absolute change of the pass was below 1.
//!
//! # Why online and sequential, not a batch SOM
//! The online SOM is inherently sequential: step `t + 1` searches the codes
//! step `t` just moved. Batch variants (Python flowsom's `BatchFlowSOM`)
//! train independent maps on slices and take their median, which is a
//! different estimator whose result depends on the number of slices. Per-step
//! threading cannot pay either: one step is ~1,000 multiply-adds (100 codes ×
//! 10 markers), far below the cost of waking a second thread. So training
//! runs the exact R algorithm on one thread and is made fast instead:
//! - events as `f32`, row-major (one event = one 40-byte row);
//! - codes transposed ("lanes": per marker, all nodes side by side), so the
//!   distance to every code and the neighbourhood update are straight
//!   vector loops over nodes;
//! - the event of step `t + PREFETCH` is drawn early and its row
//!   prefetched, hiding the cache miss of a random row of a 40 MB matrix
//!   (the random stream is the same; it is only consumed earlier), and the
//!   matrix is put on transparent huge pages (`training.rs`) so the row's
//!   page walk is short;
//! - late in training, when the neighbourhood is a handful of nodes, only
//!   those nodes are touched.
//!
//! Determinism follows for free: one thread, one seeded ChaCha stream. The
//! parallel part — mapping every event to its nearest code — is a pure
//! per-event function, so any thread count gives identical results.
//!
//! Every code update is the same sequence of `f32` operations whichever path
//! does it (Rust never fuses `a * b + c` into an FMA on its own), so the
//! dense and sparse update paths agree bit for bit.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Nodes processed per vector step; the lane layout pads to a multiple.
const LANE_PAD: usize = 16;
/// How many steps ahead the event row is drawn and prefetched: 32 steps
/// (a few µs) cover a DRAM miss plus a page walk; at 8 the prefetch
/// instruction itself still held ~24% of the training samples (perf, 1 M
/// events), at 32 ~13% (~9% with the matrix on huge pages).
const PREFETCH: usize = 32;
/// Neighbourhoods of at most this many nodes are updated node by node;
/// larger ones by a masked sweep over all lanes.
const SPARSE_MAX: usize = 16;
/// Events per parallel mapping task.
const MAP_CHUNK: usize = 8192;

/// The SOM grid: `xdim × ydim` nodes, node `x + xdim·y` (R's `expand.grid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Nodes along x.
    pub xdim: usize,
    /// Nodes along y.
    pub ydim: usize,
}

impl Grid {
    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.xdim * self.ydim
    }

    /// Grid position `(x, y)` of a node.
    pub fn position(&self, node: usize) -> (usize, usize) {
        (node % self.xdim, node / self.xdim)
    }

    /// Chebyshev distance between two nodes on the grid.
    pub fn distance(&self, a: usize, b: usize) -> usize {
        let (ax, ay) = self.position(a);
        let (bx, by) = self.position(b);
        ax.abs_diff(bx).max(ay.abs_diff(by))
    }

    /// The starting neighbourhood radius: the 0.67 quantile (R's default
    /// type 7, linear interpolation) of all `n²` grid distances, as R FlowSOM.
    pub fn start_radius(&self) -> f64 {
        let n = self.n_nodes();
        let mut d: Vec<usize> = (0..n * n).map(|i| self.distance(i / n, i % n)).collect();
        d.sort_unstable();
        quantile_type7(&d, 0.67)
    }
}

/// R's `quantile(type = 7)` of sorted values.
fn quantile_type7(sorted: &[usize], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let (a, b) = (sorted[lo] as f64, sorted[hi] as f64);
    a + (h - lo as f64) * (b - a)
}

/// Training settings of the online SOM.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SomSettings {
    /// The grid.
    pub grid: Grid,
    /// Passes over the training events (`rlen`).
    pub rlen: usize,
    /// Learning rate at the start and at the end.
    pub alpha: (f64, f64),
}

/// Codes stored as lanes: for marker `j`, `lanes` consecutive values, one per
/// node (padding nodes sit far away so they never win).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CodeBook {
    dim: usize,
    n_nodes: usize,
    lanes: usize,
    t: Vec<f32>,
}

/// Where padding lanes sit: far from any transformed value, yet its square
/// times a few markers stays finite in `f32`.
const PAD_VALUE: f32 = 1.0e15;

impl CodeBook {
    /// From node-major rows (`n_nodes × dim`).
    pub(crate) fn from_rows(rows: &[f32], n_nodes: usize, dim: usize) -> Self {
        let lanes = n_nodes.div_ceil(LANE_PAD) * LANE_PAD;
        let mut t = vec![PAD_VALUE; lanes * dim];
        for (node, row) in rows.chunks_exact(dim).enumerate().take(n_nodes) {
            for (j, &v) in row.iter().enumerate() {
                t[j * lanes + node] = v;
            }
        }
        CodeBook {
            dim,
            n_nodes,
            lanes,
            t,
        }
    }

    /// Node-major rows (`n_nodes × dim`).
    pub(crate) fn to_rows(&self) -> Vec<f32> {
        let mut rows = Vec::with_capacity(self.n_nodes * self.dim);
        for node in 0..self.n_nodes {
            for j in 0..self.dim {
                rows.push(self.t[j * self.lanes + node]);
            }
        }
        rows
    }

    /// The nearest node to `x` (first of equal distances). `scratch` is
    /// `lanes` long and receives the squared distances.
    ///
    /// Blocked by [`LANE_PAD`] nodes: a block's 16 sums stay in registers
    /// while the markers are added in marker order, so each node's distance
    /// is the same sequence of operations as a plain scalar loop.
    #[inline(always)]
    pub(crate) fn nearest(&self, x: &[f32], scratch: &mut [f32]) -> usize {
        // Per lane: the smallest distance seen and the first block holding
        // it (strictly smaller wins, so earlier blocks win ties).
        let mut lane_min = [f32::INFINITY; LANE_PAD];
        let mut lane_block = [0u32; LANE_PAD];
        for (b, out) in scratch.chunks_exact_mut(LANE_PAD).enumerate() {
            let mut acc = [0.0f32; LANE_PAD];
            for (j, &xj) in x.iter().enumerate() {
                let off = j * self.lanes + b * LANE_PAD;
                for (a, &c) in acc.iter_mut().zip(&self.t[off..off + LANE_PAD]) {
                    let diff = xj - c;
                    *a += diff * diff;
                }
            }
            for (((m, blk), o), &a) in lane_min
                .iter_mut()
                .zip(lane_block.iter_mut())
                .zip(out.iter_mut())
                .zip(&acc)
            {
                *o = a;
                let better = a < *m;
                *m = if better { a } else { *m };
                *blk = if better { b as u32 } else { *blk };
            }
        }
        // The first node overall with the smallest distance: among lanes
        // holding it, the smallest node index.
        let best = lane_min.iter().copied().fold(f32::INFINITY, f32::min);
        lane_min
            .iter()
            .zip(&lane_block)
            .enumerate()
            .filter(|(_, (&m, _))| m == best)
            .map(|(l, (_, &blk))| blk as usize * LANE_PAD + l)
            .min()
            .unwrap_or(0)
    }
}

/// Grid neighbourhoods, precomputed per winner: the grid distance to every
/// lane (padding lanes infinitely far), and the nodes sorted by grid
/// distance so that "all nodes within r" is a prefix.
struct Neighbourhoods {
    /// `n_nodes × lanes` grid distances.
    dist: Vec<f32>,
    /// `n_nodes × n_nodes`: nodes ordered by (distance, index).
    order: Vec<u32>,
    /// Largest grid distance.
    max_radius: usize,
    /// `n_nodes × (max_radius + 1)`: nodes within distance r of the winner.
    within: Vec<u32>,
}

impl Neighbourhoods {
    fn new(grid: Grid, lanes: usize) -> Self {
        let n = grid.n_nodes();
        let mut dist = vec![f32::INFINITY; n * lanes];
        let max_radius = grid.xdim.max(grid.ydim).saturating_sub(1);
        let mut order = Vec::with_capacity(n * n);
        let mut within = vec![0u32; n * (max_radius + 1)];
        for w in 0..n {
            for c in 0..n {
                let d = grid.distance(w, c);
                dist[w * lanes + c] = d as f32;
                for r in d..=max_radius {
                    within[w * (max_radius + 1) + r] += 1;
                }
            }
            let mut nodes: Vec<u32> = (0..n as u32).collect();
            nodes.sort_by_key(|&c| (grid.distance(w, c as usize), c));
            order.extend(nodes);
        }
        Neighbourhoods {
            dist,
            order,
            max_radius,
            within,
        }
    }

    /// How many nodes lie within `threshold` of `winner`. Grid distances
    /// are whole numbers, so this is a table lookup at `⌊threshold⌋`.
    fn count_within(&self, winner: usize, threshold: f32) -> usize {
        if threshold < 0.0 {
            return 0;
        }
        let r = (threshold as usize).min(self.max_radius);
        self.within[winner * (self.max_radius + 1) + r] as usize
    }
}

/// Picks `n_nodes` distinct training events as the starting codes (R:
/// `data[sample(nrow(data), nCodes), ]`).
pub(crate) fn initial_codes(
    data: &[f32],
    dim: usize,
    n_nodes: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let n = data.len() / dim.max(1);
    let picks = rand::seq::index::sample(rng, n, n_nodes.min(n));
    let mut rows = Vec::with_capacity(n_nodes * dim);
    for i in picks.iter() {
        rows.extend_from_slice(&data[i * dim..(i + 1) * dim]);
    }
    rows
}

/// Trains the map on `data` (row-major `n × dim` `f32`) from `init` codes
/// (node-major), returning the codes node-major.
///
/// Runs the same code compiled for the widest vector unit the CPU has
/// (AVX-512, AVX2, else the baseline). The result is identical on all of
/// them: every lane does the same IEEE operations in the same order and no
/// multiply-add is fused; only the number of lanes per instruction differs.
pub(crate) fn train(
    data: &[f32],
    dim: usize,
    init: &[f32],
    settings: &SomSettings,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return unsafe { isa::train_avx512(data, dim, init, settings, rng) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { isa::train_avx2(data, dim, init, settings, rng) };
        }
    }
    train_generic(data, dim, init, settings, rng)
}

/// The ISA-specific instances of the hot loops (same source, wider lanes).
#[cfg(target_arch = "x86_64")]
mod isa {
    use super::*;

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn train_avx512(
        data: &[f32],
        dim: usize,
        init: &[f32],
        settings: &SomSettings,
        rng: &mut ChaCha8Rng,
    ) -> Vec<f32> {
        train_generic(data, dim, init, settings, rng)
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn train_avx2(
        data: &[f32],
        dim: usize,
        init: &[f32],
        settings: &SomSettings,
        rng: &mut ChaCha8Rng,
    ) -> Vec<f32> {
        train_generic(data, dim, init, settings, rng)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn map_chunk_avx512(
        book: &CodeBook,
        columns: &[&[f64]],
        mask: Option<&[bool]>,
        start: usize,
        chunk: &mut [Option<u16>],
    ) {
        map_chunk_generic(book, columns, mask, start, chunk)
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn map_chunk_avx2(
        book: &CodeBook,
        columns: &[&[f64]],
        mask: Option<&[bool]>,
        start: usize,
        chunk: &mut [Option<u16>],
    ) {
        map_chunk_generic(book, columns, mask, start, chunk)
    }
}

#[inline(always)]
fn train_generic(
    data: &[f32],
    dim: usize,
    init: &[f32],
    settings: &SomSettings,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let n_nodes = settings.grid.n_nodes();
    let mut book = CodeBook::from_rows(init, n_nodes, dim);
    let n = data.len() / dim.max(1);
    if n == 0 || dim == 0 {
        return book.to_rows();
    }
    let lanes = book.lanes;
    let hood = Neighbourhoods::new(settings.grid, lanes);
    let niter = settings.rlen.saturating_mul(n);
    let radius0 = settings.grid.start_radius();
    let threshold_step = radius0 / niter.max(1) as f64;
    let (a0, a1) = settings.alpha;
    let mut threshold = radius0;
    // R starts `change` at 1 so that the first pass never stops early.
    let mut change = 1.0f64;
    let mut change_lanes = vec![0.0f32; lanes];
    let mut dists = vec![0.0f32; lanes];
    let mut ahead = [0usize; PREFETCH];
    for slot in ahead.iter_mut() {
        *slot = rng.gen_range(0..n);
        prefetch_row(data, *slot, dim);
    }

    for k in 0..niter {
        if k % n == 0 {
            change += change_lanes.iter().map(|&c| c as f64).sum::<f64>();
            change_lanes.fill(0.0);
            if change < 1.0 {
                break;
            }
            change = 0.0;
        }
        let slot = k % PREFETCH;
        let i = ahead[slot];
        ahead[slot] = rng.gen_range(0..n);
        prefetch_row(data, ahead[slot], dim);
        let x = &data[i * dim..(i + 1) * dim];

        let winner = book.nearest(x, &mut dists);
        if threshold < 1.0 {
            threshold = 0.5;
        }
        let alpha = (a0 - (a0 - a1) * k as f64 / niter as f64) as f32;
        let thr = threshold as f32;
        let count = hood.count_within(winner, thr);
        if count <= SPARSE_MAX {
            let nodes = &hood.order[winner * n_nodes..winner * n_nodes + count];
            for &c in nodes {
                let c = c as usize;
                // A local sum per node keeps the chain of additions short
                // (one running f64 total serialised every update).
                let mut moved = 0.0f32;
                for (j, &xj) in x.iter().enumerate() {
                    let code = &mut book.t[j * lanes + c];
                    let diff = xj - *code;
                    moved += diff.abs();
                    *code += diff * alpha;
                }
                change_lanes[c] += moved;
            }
        } else {
            let row = &hood.dist[winner * lanes..(winner + 1) * lanes];
            dense_update(&mut book, x, row, thr, alpha, &mut change_lanes);
        }
        threshold -= threshold_step;
    }
    book.to_rows()
}

/// Moves every node within `thr` grid distance (per `row`) towards `x` by
/// `alpha`, block by block; blocks with no node inside are skipped. Each
/// moved node gets exactly `code += (x − code) · alpha`; the others are not
/// written.
#[inline(always)]
fn dense_update(
    book: &mut CodeBook,
    x: &[f32],
    row: &[f32],
    thr: f32,
    alpha: f32,
    change_lanes: &mut [f32],
) {
    let lanes = book.lanes;
    for (b, (grid_d, ch)) in row
        .chunks_exact(LANE_PAD)
        .zip(change_lanes.chunks_exact_mut(LANE_PAD))
        .enumerate()
    {
        let mut w = [0.0f32; LANE_PAD];
        let mut m = [0.0f32; LANE_PAD];
        let mut any = false;
        for ((wl, ml), &g) in w.iter_mut().zip(m.iter_mut()).zip(grid_d) {
            let inside = g <= thr;
            any |= inside;
            *wl = if inside { alpha } else { 0.0 };
            *ml = if inside { 1.0 } else { 0.0 };
        }
        if !any {
            continue;
        }
        let mut acc = [0.0f32; LANE_PAD];
        for (j, &xj) in x.iter().enumerate() {
            let off = j * lanes + b * LANE_PAD;
            for (((code, &wl), &ml), a) in book.t[off..off + LANE_PAD]
                .iter_mut()
                .zip(&w)
                .zip(&m)
                .zip(acc.iter_mut())
            {
                let diff = xj - *code;
                *a += diff.abs() * ml;
                // For nodes outside, diff · 0 = ±0 and code ± 0 = code.
                *code += diff * wl;
            }
        }
        for (c, a) in ch.iter_mut().zip(&acc) {
            *c += a;
        }
    }
}

/// Hints the CPU to fetch event `i`'s row; a no-op where not supported.
#[inline(always)]
fn prefetch_row(data: &[f32], i: usize, dim: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = i * dim;
        if let Some(first) = data.get(start) {
            // SAFETY: prefetching is only a hint and never faults; both
            // addresses are inside `data`.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>((first as *const f32).cast::<i8>());
                if let Some(last) = data.get(start + dim - 1) {
                    _mm_prefetch::<_MM_HINT_T0>((last as *const f32).cast::<i8>());
                }
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (data, i, dim);
    }
}

/// Maps events to their nearest node, in parallel. `columns` are the marker
/// columns (`f64`, equal length); events with `mask` false get `None`. The
/// result for an event depends only on that event and the codes, so it is
/// the same for every thread count.
pub(crate) fn map_columns(
    book: &CodeBook,
    columns: &[&[f64]],
    mask: Option<&[bool]>,
) -> Vec<Option<u16>> {
    let n = columns.first().map_or(0, |c| c.len());
    let mut out = vec![None; n];
    out.par_chunks_mut(MAP_CHUNK)
        .enumerate()
        .for_each(|(ci, chunk)| {
            let start = ci * MAP_CHUNK;
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F (checked just above).
                    return unsafe { isa::map_chunk_avx512(book, columns, mask, start, chunk) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2 (checked just above).
                    return unsafe { isa::map_chunk_avx2(book, columns, mask, start, chunk) };
                }
            }
            map_chunk_generic(book, columns, mask, start, chunk)
        });
    out
}

/// Maps events `start..start + chunk.len()`.
#[inline(always)]
fn map_chunk_generic(
    book: &CodeBook,
    columns: &[&[f64]],
    mask: Option<&[bool]>,
    start: usize,
    chunk: &mut [Option<u16>],
) {
    let mut x = vec![0.0f32; book.dim];
    let mut scratch = vec![0.0f32; book.lanes];
    for (o, slot) in chunk.iter_mut().enumerate() {
        let i = start + o;
        if mask.is_some_and(|m| !m.get(i).copied().unwrap_or(false)) {
            continue;
        }
        for (xj, col) in x.iter_mut().zip(columns) {
            *xj = col.get(i).copied().unwrap_or(0.0) as f32;
        }
        *slot = Some(book.nearest(&x, &mut scratch) as u16);
    }
}

/// Maps row-major `f32` events to their nearest node, in parallel.
pub(crate) fn map_rows(book: &CodeBook, data: &[f32]) -> Vec<u16> {
    let dim = book.dim.max(1);
    let mut out = vec![0u16; data.len() / dim];
    out.par_chunks_mut(MAP_CHUNK)
        .zip(data.par_chunks(MAP_CHUNK * dim))
        .for_each(|(o, rows)| {
            let mut scratch = vec![0.0f32; book.lanes];
            for (slot, x) in o.iter_mut().zip(rows.chunks_exact(dim)) {
                *slot = book.nearest(x, &mut scratch) as u16;
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn grid_distances_and_radius_match_r() {
        let g = Grid { xdim: 10, ydim: 10 };
        assert_eq!(g.position(23), (3, 2));
        assert_eq!(g.distance(0, 99), 9);
        assert_eq!(g.distance(23, 34), 1);
        // numpy.quantile(squareform(pdist(grid, "chebyshev")), 0.67), as
        // Python flowsom computes it (= R's type-7 quantile).
        assert_eq!(g.start_radius(), 6.0);
        assert_eq!(Grid { xdim: 7, ydim: 5 }.start_radius(), 3.0);
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile_type7(&[0, 10], 0.5), 5.0);
        assert!((quantile_type7(&[1, 2, 3, 4], 0.67) - 3.01).abs() < 1e-12);
    }

    #[test]
    fn nearest_is_first_of_ties_and_skips_padding() {
        let rows = [0.0f32, 0.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0];
        let book = CodeBook::from_rows(&rows, 4, 2);
        let mut s = vec![0.0; book.lanes];
        assert_eq!(book.nearest(&[1.0, 1.0], &mut s), 1);
        assert_eq!(book.nearest(&[0.1, 0.0], &mut s), 0);
        assert_eq!(book.nearest(&[-5.0, -5.0], &mut s), 3);
        assert_eq!(book.to_rows(), rows.to_vec());
    }

    /// The dense (masked) and sparse update paths make the same map as a
    /// plain transcription of R's loop.
    #[test]
    fn training_matches_plain_r_loop() {
        let grid = Grid { xdim: 4, ydim: 4 };
        let dim = 3;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let data: Vec<f32> = (0..600 * dim).map(|_| rng.gen_range(-2.0..2.0)).collect();
        let settings = SomSettings {
            grid,
            rlen: 3,
            alpha: (0.05, 0.01),
        };
        let init = initial_codes(&data, dim, 16, &mut ChaCha8Rng::seed_from_u64(1));
        let fast = train(
            &data,
            dim,
            &init,
            &settings,
            &mut ChaCha8Rng::seed_from_u64(2),
        );

        // Plain loop: same random stream, node-major codes, scalar updates.
        let mut codes = init.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let n = 600;
        let niter = 3 * n;
        let r0 = grid.start_radius();
        let step = r0 / niter as f64;
        let mut threshold = r0;
        for k in 0..niter {
            let i = rng.gen_range(0..n);
            let x = &data[i * dim..(i + 1) * dim];
            let mut best = 0;
            let mut bd = f32::INFINITY;
            for c in 0..16 {
                let mut d = 0.0f32;
                for j in 0..dim {
                    let diff = x[j] - codes[c * dim + j];
                    d += diff * diff;
                }
                if d < bd {
                    bd = d;
                    best = c;
                }
            }
            if threshold < 1.0 {
                threshold = 0.5;
            }
            let alpha = (0.05 - 0.04 * k as f64 / niter as f64) as f32;
            for c in 0..16 {
                if grid.distance(c, best) as f32 > threshold as f32 {
                    continue;
                }
                for j in 0..dim {
                    let diff = x[j] - codes[c * dim + j];
                    codes[c * dim + j] += diff * alpha;
                }
            }
            threshold -= step;
        }
        assert_eq!(fast, codes);
    }

    #[test]
    fn mapping_is_identical_for_any_thread_count() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let n = 30_000;
        let cols: Vec<Vec<f64>> = (0..4)
            .map(|_| (0..n).map(|_| rng.gen_range(-3.0..3.0)).collect())
            .collect();
        let rows: Vec<f32> = (0..100 * 4).map(|_| rng.gen_range(-3.0..3.0)).collect();
        let book = CodeBook::from_rows(&rows, 100, 4);
        let refs: Vec<&[f64]> = cols.iter().map(|c| c.as_slice()).collect();
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| map_columns(&book, &refs, None))
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
        // And it is the true nearest code.
        for i in (0..n).step_by(997) {
            let mut best = (f32::INFINITY, 0);
            for c in 0..100 {
                let mut d = 0.0f32;
                for j in 0..4 {
                    let diff = cols[j][i] as f32 - rows[c * 4 + j];
                    d += diff * diff;
                }
                if d < best.0 {
                    best = (d, c);
                }
            }
            assert_eq!(one[i], Some(best.1 as u16));
        }
    }
}
