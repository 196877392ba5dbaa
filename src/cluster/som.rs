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
//! - codes in blocks of 16 nodes (`CodeBook`): per marker, 16 nodes side
//!   by side, so the distance to 16 codes and their update are one AVX-512
//!   operation per marker;
//! - the winner is one integer minimum over (distance bits, node) keys:
//!   distances are ≥ 0, so their bits order as the values do, and the node
//!   in the low half settles ties as R does (first index);
//! - each step also searches for the next step's winner (the next event is
//!   already drawn), summing the distances of the blocks it just moved
//!   while their codes are still in registers: a step is a chain of
//!   dependent work (winner → update → next distances → next winner), and
//!   this takes the round trip through memory out of it;
//! - the event of step `t + PREFETCH` is drawn early and its row
//!   prefetched, hiding the cache miss of a random row of a 40 MB matrix
//!   (the random stream is the same; it is only consumed earlier);
//! - only the blocks that hold a node of the neighbourhood are updated
//!   (late in training one or two of the seven);
//! - R's `change` (summed `|x − code|` of a pass, for the early stop) is
//!   summed only until it reaches 1: the sum only grows, so the rest of the
//!   pass cannot change the decision.
//!
//! Determinism follows for free: one thread, one seeded ChaCha stream. The
//! parallel part — mapping every event to its nearest code — is a pure
//! per-event function, so any thread count gives identical results.
//!
//! The AVX-512 kernel and the portable one (used elsewhere, and compiled
//! for AVX2 where present) do, per node, the same `f32` operations in the
//! same order with no fused multiply-add, so they find the same winners and
//! make the same codes; a unit test runs both. Nodes outside the
//! neighbourhood are moved by `(x − code) · 0`, which leaves their value
//! as it was.
//!
//! Measured (AMD EPYC Zen 5, 1M events × 10 markers, 10 × 10 grid, rlen
//! 10): ~57 ns per step, 10M steps in ~0.57 s (was ~131 ns with
//! auto-vectorised lanes and a scalar winner search).
//!
//! # The optional batch map
//! `train_batch` (`SomAlgorithm::Batch`) is Kohonen's batch map, for when
//! R's exact algorithm is not required: each pass maps all events in
//! parallel and replaces each code by the mean of the events won within the
//! radius. It parallelises (about 0.3 s for the same 1M events) but is a
//! different estimator; the online SOM stays the default.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// How many steps ahead the event row is drawn and prefetched: 32 steps
/// (a couple of µs) cover a DRAM miss plus a page walk. (With the current
/// kernel 8, 16, 32 and 64 measured the same, 75 ns per step then.)
const PREFETCH: usize = 32;
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

/// Nodes per block: one AVX-512 register of `f32`.
const BLOCK: usize = 16;

/// One value per node of a block, aligned so that a block is one cache
/// line and one aligned vector load.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(64))]
struct Lanes([f32; BLOCK]);

/// Codes stored in blocks of [`BLOCK`] nodes: block `b` holds, marker by
/// marker, the values of nodes `16b..16b + 16` side by side. The distance
/// from an event to 16 codes is then one vector operation per marker, and a
/// block's codes are one contiguous run (640 bytes for 10 markers) for both
/// the search and the update. Padding nodes sit far away so they never win.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CodeBook {
    dim: usize,
    n_nodes: usize,
    /// `n_blocks × dim` lane vectors.
    blocks: Vec<Lanes>,
}

/// Where padding lanes sit: far from any transformed value, yet its square
/// times a few markers stays finite in `f32`.
const PAD_VALUE: f32 = 1.0e15;

impl CodeBook {
    /// From node-major rows (`n_nodes × dim`).
    pub(crate) fn from_rows(rows: &[f32], n_nodes: usize, dim: usize) -> Self {
        let n_blocks = n_nodes.div_ceil(BLOCK);
        let mut blocks = vec![Lanes([PAD_VALUE; BLOCK]); n_blocks * dim];
        for (node, row) in rows.chunks_exact(dim.max(1)).enumerate().take(n_nodes) {
            let (b, l) = (node / BLOCK, node % BLOCK);
            for (lanes, &v) in blocks[b * dim..].iter_mut().zip(row) {
                lanes.0[l] = v;
            }
        }
        CodeBook {
            dim,
            n_nodes,
            blocks,
        }
    }

    /// Node-major rows (`n_nodes × dim`).
    pub(crate) fn to_rows(&self) -> Vec<f32> {
        let mut rows = Vec::with_capacity(self.n_nodes * self.dim);
        for node in 0..self.n_nodes {
            let (b, l) = (node / BLOCK, node % BLOCK);
            let block = self.blocks.get(b * self.dim..(b + 1) * self.dim);
            rows.extend(block.unwrap_or(&[]).iter().map(|v| v.0[l]));
        }
        rows
    }

    /// The nearest node to `x` (first of equal distances), on the widest
    /// vector unit the CPU has (the same result on each). Mapping calls
    /// the kernels directly, once per chunk of events.
    #[cfg(test)]
    pub(crate) fn nearest(&self, x: &[f32]) -> usize {
        #[cfg(target_arch = "x86_64")]
        {
            if avx512::available() {
                // SAFETY: the AVX-512 tier is reported only when the CPU has it.
                return unsafe { avx512::nearest_node(self, x) };
            }
        }
        Portable::nearest(self, x)
    }
}

/// The two hot operations of a training step, once in portable Rust and
/// once in AVX-512 intrinsics. Both do, per node and lane, the same IEEE
/// `f32` operations in the same order (no fused multiply-add), so they
/// return the same winners and the same codes.
trait Kernel {
    /// The nearest node to `x`: smallest squared Euclidean distance, summed
    /// marker by marker; the smallest node index among equal distances.
    fn nearest(book: &CodeBook, x: &[f32]) -> usize;

    /// One training step, and the search for the next one: moves every
    /// node within `thr` grid distance (per `grid_d`) of the winner towards
    /// `x` by `alpha` (`code += (x − code) · alpha`; only blocks `lo..=hi`
    /// can hold such nodes), then finds the nearest node to `x_next` on the
    /// moved codes. Returns that node and, with `TRACK`, the summed
    /// `|x − code|` of the moved nodes (R's `change`), else 0.
    #[allow(clippy::too_many_arguments)]
    fn step<const TRACK: bool>(
        book: &mut CodeBook,
        x: &[f32],
        x_next: &[f32],
        grid_d: &[Lanes],
        lo: usize,
        hi: usize,
        thr: f32,
        alpha: f32,
    ) -> (usize, f64);
}

/// Portable Rust; the reference the vector kernel must match.
struct Portable;

impl Kernel for Portable {
    #[inline(always)]
    fn nearest(book: &CodeBook, x: &[f32]) -> usize {
        let mut best = [f32::INFINITY; BLOCK];
        let mut best_node = [0u32; BLOCK];
        for (b, block) in book.blocks.chunks_exact(book.dim.max(1)).enumerate() {
            let mut acc = [0.0f32; BLOCK];
            for (c, &xj) in block.iter().zip(x) {
                for (a, &cl) in acc.iter_mut().zip(&c.0) {
                    let diff = xj - cl;
                    *a += diff * diff;
                }
            }
            for (l, ((m, nd), &dl)) in best
                .iter_mut()
                .zip(best_node.iter_mut())
                .zip(&acc)
                .enumerate()
            {
                // Strictly smaller wins, so earlier blocks keep ties.
                if dl < *m {
                    *m = dl;
                    *nd = (b * BLOCK + l) as u32;
                }
            }
        }
        let min = best.iter().copied().fold(f32::INFINITY, f32::min);
        best.iter()
            .zip(&best_node)
            .filter(|(&d, _)| d == min)
            .map(|(_, &nd)| nd as usize)
            .min()
            .unwrap_or(0)
    }

    #[inline(always)]
    fn step<const TRACK: bool>(
        book: &mut CodeBook,
        x: &[f32],
        x_next: &[f32],
        grid_d: &[Lanes],
        lo: usize,
        hi: usize,
        thr: f32,
        alpha: f32,
    ) -> (usize, f64) {
        let change = Portable::update::<TRACK>(book, x, grid_d, lo, hi, thr, alpha);
        (Portable::nearest(book, x_next), change)
    }
}

impl Portable {
    /// The update half of [`Kernel::step`].
    #[inline(always)]
    fn update<const TRACK: bool>(
        book: &mut CodeBook,
        x: &[f32],
        grid_d: &[Lanes],
        lo: usize,
        hi: usize,
        thr: f32,
        alpha: f32,
    ) -> f64 {
        let dim = book.dim;
        let mut moved = [0.0f32; BLOCK];
        let first = lo.min(grid_d.len());
        let range = grid_d.get(first..=hi).unwrap_or(&[]);
        for (b, g) in (first..).zip(range) {
            let Some(block) = book.blocks.get_mut(b * dim..(b + 1) * dim) else {
                continue;
            };
            let mut w = [0.0f32; BLOCK];
            for (wl, &gl) in w.iter_mut().zip(&g.0) {
                *wl = if gl <= thr { alpha } else { 0.0 };
            }
            for (c, &xj) in block.iter_mut().zip(x) {
                for ((cl, &wl), mv) in c.0.iter_mut().zip(&w).zip(moved.iter_mut()) {
                    let diff = xj - *cl;
                    *cl += diff * wl;
                    if TRACK && wl != 0.0 {
                        *mv += diff.abs();
                    }
                }
            }
        }
        moved.iter().map(|&m| m as f64).sum()
    }
}

/// The AVX-512 kernel: one block of 16 nodes per register. Its intrinsics
/// are stable since Rust 1.89; older compilers (the crate builds from 1.80)
/// get the stand-in below and run the portable kernel, with the same
/// results.
#[cfg(target_arch = "x86_64")]
#[rustversion::since(1.89)]
#[clippy::msrv = "1.89"]
mod avx512 {
    use super::{CodeBook, Kernel, Lanes, BLOCK};
    use std::arch::x86_64::*;

    /// Whether the hot loops run at the AVX-512 tier ([`crate::simd::tier`]:
    /// the CPU has it and `NKFLOW_SIMD` does not cap it).
    pub(super) fn available() -> bool {
        crate::simd::tier() == crate::simd::Tier::Avx512
    }

    pub(super) struct Avx512;

    impl Kernel for Avx512 {
        #[inline(always)]
        fn nearest(book: &CodeBook, x: &[f32]) -> usize {
            // SAFETY: `Avx512` is only used from functions compiled for,
            // and entered after checking, AVX-512F.
            unsafe { nearest_node(book, x) }
        }

        #[inline(always)]
        fn step<const TRACK: bool>(
            book: &mut CodeBook,
            x: &[f32],
            x_next: &[f32],
            grid_d: &[Lanes],
            lo: usize,
            hi: usize,
            thr: f32,
            alpha: f32,
        ) -> (usize, f64) {
            // SAFETY: as above.
            unsafe { fused_step::<TRACK>(book, x, x_next, grid_d, lo, hi, thr, alpha) }
        }
    }

    /// See [`Kernel::step`]. Each block of the neighbourhood is moved and
    /// its distances to `x_next` summed from the moved codes while they are
    /// still in registers, so the next search does not wait for the stores
    /// to reach memory; other blocks only get their distances.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn fused_step<const TRACK: bool>(
        book: &mut CodeBook,
        x: &[f32],
        x_next: &[f32],
        grid_d: &[Lanes],
        lo: usize,
        hi: usize,
        thr: f32,
        alpha: f32,
    ) -> (usize, f64) {
        let dim = book.dim.max(1);
        let thr_v = _mm512_set1_ps(thr);
        let alpha_v = _mm512_set1_ps(alpha);
        let mut moved = _mm512_setzero_ps();
        let mut keys = MinKeys::new();
        let mut node = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let step = _mm512_set1_epi32(BLOCK as i32);
        for (b, block) in book.blocks.chunks_exact_mut(dim).enumerate() {
            let mut acc = _mm512_setzero_ps();
            match grid_d.get(b) {
                Some(g) if b >= lo && b <= hi => {
                    let inside =
                        _mm512_cmp_ps_mask::<_CMP_LE_OQ>(_mm512_load_ps(g.0.as_ptr()), thr_v);
                    let w = _mm512_maskz_mov_ps(inside, alpha_v);
                    for ((c, &xj), &yj) in block.iter_mut().zip(x).zip(x_next) {
                        let code = _mm512_load_ps(c.0.as_ptr());
                        let diff = _mm512_sub_ps(_mm512_set1_ps(xj), code);
                        let next = _mm512_add_ps(code, _mm512_mul_ps(diff, w));
                        _mm512_store_ps(c.0.as_mut_ptr(), next);
                        if TRACK {
                            moved = _mm512_mask_add_ps(moved, inside, moved, _mm512_abs_ps(diff));
                        }
                        let d2 = _mm512_sub_ps(_mm512_set1_ps(yj), next);
                        acc = _mm512_add_ps(acc, _mm512_mul_ps(d2, d2));
                    }
                }
                _ => acc = block_distances(block, x_next),
            }
            keys.push(acc, node);
            node = _mm512_add_epi32(node, step);
        }
        let change = if TRACK {
            let mut lanes = [0.0f32; BLOCK];
            _mm512_storeu_ps(lanes.as_mut_ptr(), moved);
            lanes.iter().map(|&m| m as f64).sum()
        } else {
            0.0
        };
        (keys.winner(), change)
    }

    /// See [`Kernel::nearest`].
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn nearest_node(book: &CodeBook, x: &[f32]) -> usize {
        let mut keys = MinKeys::new();
        let mut node = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let step = _mm512_set1_epi32(BLOCK as i32);
        for block in book.blocks.chunks_exact(book.dim.max(1)) {
            keys.push(block_distances(block, x), node);
            node = _mm512_add_epi32(node, step);
        }
        keys.winner()
    }

    /// Squared distances from `x` to the 16 codes of a block, summed
    /// marker by marker.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block_distances(block: &[Lanes], x: &[f32]) -> __m512 {
        let mut acc = _mm512_setzero_ps();
        for (c, &xj) in block.iter().zip(x) {
            let diff = _mm512_sub_ps(_mm512_set1_ps(xj), _mm512_load_ps(c.0.as_ptr()));
            acc = _mm512_add_ps(acc, _mm512_mul_ps(diff, diff));
        }
        acc
    }

    /// The running minimum of (distance, node) keys over the blocks.
    ///
    /// Distances are ≥ 0, so their bits order as unsigned integers do. A
    /// key is a node's distance bits above its index: the smallest key is
    /// the smallest distance and, among equal ones, the smallest node. Two
    /// vectors of eight 64-bit keys hold the 16 lanes.
    struct MinKeys {
        lo: __m512i,
        hi: __m512i,
    }

    impl MinKeys {
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn new() -> Self {
            MinKeys {
                lo: _mm512_set1_epi64(-1),
                hi: _mm512_set1_epi64(-1),
            }
        }

        /// Adds the distances of one block and its node indices.
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn push(&mut self, dist: __m512, node: __m512i) {
            let bits = _mm512_castps_si512(dist);
            self.lo = _mm512_min_epu64(self.lo, _mm512_unpacklo_epi32(node, bits));
            self.hi = _mm512_min_epu64(self.hi, _mm512_unpackhi_epi32(node, bits));
        }

        /// The winning node.
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn winner(&self) -> usize {
            let key = _mm512_reduce_min_epu64(_mm512_min_epu64(self.lo, self.hi));
            (key & 0xFFFF_FFFF) as usize
        }
    }

    /// The training loop with the AVX-512 kernel.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn train(
        data: &[f32],
        dim: usize,
        init: &[f32],
        settings: &super::SomSettings,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Vec<f32> {
        super::train_with::<Avx512>(data, dim, init, settings, rng)
    }

    /// Mapping with the AVX-512 kernel.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn map_chunk(
        book: &CodeBook,
        columns: &[&[f64]],
        mask: Option<&[bool]>,
        start: usize,
        chunk: &mut [Option<u16>],
    ) {
        super::map_chunk_with::<Avx512>(book, columns, mask, start, chunk)
    }

    /// Row mapping with the AVX-512 kernel.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn map_rows_chunk(book: &CodeBook, rows: &[f32], out: &mut [u16]) {
        super::map_rows_with::<Avx512>(book, rows, out)
    }
}

/// Stand-in for compilers before Rust 1.89: never available.
#[cfg(target_arch = "x86_64")]
#[rustversion::before(1.89)]
mod avx512 {
    use super::{CodeBook, Portable};

    pub(super) fn available() -> bool {
        false
    }

    #[cfg(test)]
    pub(super) unsafe fn nearest_node(book: &CodeBook, x: &[f32]) -> usize {
        <Portable as super::Kernel>::nearest(book, x)
    }

    pub(super) unsafe fn train(
        data: &[f32],
        dim: usize,
        init: &[f32],
        settings: &super::SomSettings,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Vec<f32> {
        super::train_with::<Portable>(data, dim, init, settings, rng)
    }

    pub(super) unsafe fn map_chunk(
        book: &CodeBook,
        columns: &[&[f64]],
        mask: Option<&[bool]>,
        start: usize,
        chunk: &mut [Option<u16>],
    ) {
        super::map_chunk_with::<Portable>(book, columns, mask, start, chunk)
    }

    pub(super) unsafe fn map_rows_chunk(book: &CodeBook, rows: &[f32], out: &mut [u16]) {
        super::map_rows_with::<Portable>(book, rows, out)
    }
}

/// Grid neighbourhoods, precomputed per winner: the grid distance to every
/// node in block layout (padding lanes infinitely far), and for each whole
/// radius the blocks that hold a node within it.
struct Neighbourhoods {
    /// `n_nodes × n_blocks` grid distances.
    dist: Vec<Lanes>,
    n_blocks: usize,
    /// Largest grid distance.
    max_radius: usize,
    /// `n_nodes × (max_radius + 1)`: first and last block holding a node
    /// within distance r of the winner.
    blocks: Vec<(u16, u16)>,
}

impl Neighbourhoods {
    fn new(grid: Grid) -> Self {
        let n = grid.n_nodes();
        let n_blocks = n.div_ceil(BLOCK);
        let mut dist = vec![Lanes([f32::INFINITY; BLOCK]); n * n_blocks];
        let max_radius = grid.xdim.max(grid.ydim).saturating_sub(1);
        let mut blocks = vec![(u16::MAX, 0u16); n * (max_radius + 1)];
        for w in 0..n {
            for c in 0..n {
                let d = grid.distance(w, c);
                dist[w * n_blocks + c / BLOCK].0[c % BLOCK] = d as f32;
                let b = (c / BLOCK) as u16;
                for range in &mut blocks[w * (max_radius + 1)..][d..=max_radius] {
                    *range = (range.0.min(b), range.1.max(b));
                }
            }
        }
        Neighbourhoods {
            dist,
            n_blocks,
            max_radius,
            blocks,
        }
    }

    /// The winner's grid distances per block, and the blocks `lo..=hi`
    /// holding every node within `threshold` of it (grid distances are
    /// whole numbers, so this is a lookup at `⌊threshold⌋`).
    #[inline(always)]
    fn within(&self, winner: usize, threshold: f32) -> (&[Lanes], usize, usize) {
        let r = (threshold.max(0.0) as usize).min(self.max_radius);
        let (lo, hi) = self
            .blocks
            .get(winner * (self.max_radius + 1) + r)
            .copied()
            .unwrap_or((1, 0));
        let dist = self
            .dist
            .get(winner * self.n_blocks..(winner + 1) * self.n_blocks)
            .unwrap_or(&[]);
        (dist, lo as usize, hi as usize)
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
/// Uses the AVX-512 kernel where the CPU has it, else portable Rust; both
/// give the same codes (see [`Kernel`]).
pub(crate) fn train(
    data: &[f32],
    dim: usize,
    init: &[f32],
    settings: &SomSettings,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    {
        if avx512::available() {
            // SAFETY: the AVX-512 tier is reported only when the CPU has it.
            return unsafe { avx512::train(data, dim, init, settings, rng) };
        }
        if crate::simd::tier() >= crate::simd::Tier::Avx2 {
            // SAFETY: the tier is reported only when the CPU has AVX2.
            return unsafe { train_portable_avx2(data, dim, init, settings, rng) };
        }
    }
    train_with::<Portable>(data, dim, init, settings, rng)
}

/// The portable kernel compiled for AVX2 (whatever the compiler vectorises;
/// the same operations, so the same codes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn train_portable_avx2(
    data: &[f32],
    dim: usize,
    init: &[f32],
    settings: &SomSettings,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    train_with::<Portable>(data, dim, init, settings, rng)
}

/// R FlowSOM's training loop over a kernel.
#[inline(always)]
fn train_with<K: Kernel>(
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
    let hood = Neighbourhoods::new(settings.grid);
    let niter = settings.rlen.saturating_mul(n);
    let radius0 = settings.grid.start_radius();
    let threshold_step = radius0 / niter.max(1) as f64;
    let (a0, a1) = settings.alpha;
    let mut threshold = radius0;
    // R starts `change` at 1 so that the first pass never stops early.
    let mut change = 1.0f64;
    let mut pass_left = 0usize;
    let mut ahead = [0usize; PREFETCH];
    for slot in ahead.iter_mut() {
        *slot = rng.gen_range(0..n);
        prefetch_row(data, *slot, dim);
    }

    let mut alpha_next = a0 as f32;
    // The event of step k is `ahead[k % PREFETCH]` until step k draws its
    // replacement, so the next step's event is always known: each step
    // also finds the next winner (see [`Kernel::step`]).
    let row = |i: usize| data.get(i * dim..(i + 1) * dim).unwrap_or(&[]);
    let mut winner = K::nearest(&book, row(ahead[0]));
    for k in 0..niter {
        if pass_left == 0 {
            if change < 1.0 {
                break;
            }
            change = 0.0;
            pass_left = n;
        }
        pass_left -= 1;
        let slot = k % PREFETCH;
        let x = row(ahead[slot]);
        ahead[slot] = rng.gen_range(0..n);
        prefetch_row(data, ahead[slot], dim);
        let x_next = row(ahead[(k + 1) % PREFETCH]);

        if threshold < 1.0 {
            threshold = 0.5;
        }
        // Computed a step ahead: the division is then off the step's path.
        let alpha = alpha_next;
        alpha_next = (a0 - (a0 - a1) * (k + 1) as f64 / niter as f64) as f32;
        let thr = threshold as f32;
        let (grid_d, lo, hi) = hood.within(winner, thr);
        // R stops after a pass whose summed change is below 1. The sum only
        // grows, so once it reaches 1 the rest of the pass cannot change the
        // decision and is not summed.
        if change < 1.0 {
            let (next, moved) = K::step::<true>(&mut book, x, x_next, grid_d, lo, hi, thr, alpha);
            change += moved;
            winner = next;
        } else {
            winner = K::step::<false>(&mut book, x, x_next, grid_d, lo, hi, thr, alpha).0;
        }
        threshold -= threshold_step;
    }
    book.to_rows()
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
                if avx512::available() {
                    // SAFETY: the AVX-512 tier is reported only when the CPU has it.
                    return unsafe { avx512::map_chunk(book, columns, mask, start, chunk) };
                }
            }
            map_chunk_with::<Portable>(book, columns, mask, start, chunk)
        });
    out
}

/// Maps events `start..start + chunk.len()`.
#[inline(always)]
fn map_chunk_with<K: Kernel>(
    book: &CodeBook,
    columns: &[&[f64]],
    mask: Option<&[bool]>,
    start: usize,
    chunk: &mut [Option<u16>],
) {
    let mut x = vec![0.0f32; book.dim];
    for (o, slot) in chunk.iter_mut().enumerate() {
        let i = start + o;
        if mask.is_some_and(|m| !m.get(i).copied().unwrap_or(false)) {
            continue;
        }
        for (xj, col) in x.iter_mut().zip(columns) {
            *xj = col.get(i).copied().unwrap_or(0.0) as f32;
        }
        *slot = Some(K::nearest(book, &x) as u16);
    }
}

/// Maps row-major `f32` events to their nearest node, in parallel.
pub(crate) fn map_rows(book: &CodeBook, data: &[f32]) -> Vec<u16> {
    let dim = book.dim.max(1);
    let mut out = vec![0u16; data.len() / dim];
    out.par_chunks_mut(MAP_CHUNK)
        .zip(data.par_chunks(MAP_CHUNK * dim))
        .for_each(|(o, rows)| nearest_rows(book, rows, o));
    out
}

/// The nearest node of each row of `rows` into `out`, on the widest vector
/// unit the CPU has.
fn nearest_rows(book: &CodeBook, rows: &[f32], out: &mut [u16]) {
    #[cfg(target_arch = "x86_64")]
    {
        if avx512::available() {
            // SAFETY: the AVX-512 tier is reported only when the CPU has it.
            return unsafe { avx512::map_rows_chunk(book, rows, out) };
        }
    }
    map_rows_with::<Portable>(book, rows, out)
}

/// Events per task of the batch map's pass; fixed, so that the partial sums
/// (and their order) do not depend on the thread count.
const BATCH_CHUNK: usize = 1 << 15;

/// Kohonen's batch map: an optional alternative to the online SOM (not R
/// FlowSOM's algorithm; see [`crate::cluster::SomAlgorithm`]).
///
/// Each of `rlen` passes maps every event to its nearest code (in
/// parallel), then sets every code to the mean of the events whose winner
/// lies within the pass's radius of it on the grid (codes with no such
/// event stay). The radius falls linearly over the passes from the same
/// start as the online SOM, held at 0.5 (the winner's own events only) once
/// below 1; the learning rate plays no part. The per-node sums are taken in
/// `f64` over fixed chunks of events and combined in chunk order, so the
/// codes are the same for any thread count.
pub(crate) fn train_batch(
    data: &[f32],
    dim: usize,
    init: &[f32],
    settings: &SomSettings,
) -> Vec<f32> {
    let grid = settings.grid;
    let n_nodes = grid.n_nodes();
    let mut codes = init.to_vec();
    if data.len() < dim || dim == 0 || codes.len() != n_nodes * dim {
        return codes;
    }
    let radius0 = grid.start_radius();
    let rlen = settings.rlen.max(1);
    for pass in 0..rlen {
        let mut threshold = radius0 * (1.0 - pass as f64 / rlen as f64);
        if threshold < 1.0 {
            threshold = 0.5;
        }
        let book = CodeBook::from_rows(&codes, n_nodes, dim);
        let partial: Vec<(Vec<f64>, Vec<u64>)> = data
            .par_chunks(BATCH_CHUNK * dim)
            .map(|rows| {
                let mut winners = vec![0u16; rows.len() / dim];
                nearest_rows(&book, rows, &mut winners);
                let mut sums = vec![0.0f64; n_nodes * dim];
                let mut counts = vec![0u64; n_nodes];
                for (x, &w) in rows.chunks_exact(dim).zip(&winners) {
                    let w = w as usize;
                    if let (Some(c), Some(s)) =
                        (counts.get_mut(w), sums.get_mut(w * dim..(w + 1) * dim))
                    {
                        *c += 1;
                        for (sj, &xj) in s.iter_mut().zip(x) {
                            *sj += xj as f64;
                        }
                    }
                }
                (sums, counts)
            })
            .collect();
        let mut sums = vec![0.0f64; n_nodes * dim];
        let mut counts = vec![0u64; n_nodes];
        for (s, c) in &partial {
            sums.iter_mut().zip(s).for_each(|(a, b)| *a += b);
            counts.iter_mut().zip(c).for_each(|(a, b)| *a += b);
        }
        for (node, code) in codes.chunks_exact_mut(dim).enumerate() {
            let mut total = vec![0.0f64; dim];
            let mut count = 0u64;
            for (w, (s, &c)) in sums.chunks_exact(dim).zip(&counts).enumerate() {
                if grid.distance(w, node) as f64 <= threshold {
                    count += c;
                    total.iter_mut().zip(s).for_each(|(a, b)| *a += b);
                }
            }
            if count > 0 {
                for (v, t) in code.iter_mut().zip(&total) {
                    *v = (t / count as f64) as f32;
                }
            }
        }
    }
    codes
}

/// Maps the rows of one chunk.
#[inline(always)]
fn map_rows_with<K: Kernel>(book: &CodeBook, rows: &[f32], out: &mut [u16]) {
    for (slot, x) in out.iter_mut().zip(rows.chunks_exact(book.dim.max(1))) {
        *slot = K::nearest(book, x) as u16;
    }
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
        assert_eq!(book.nearest(&[1.0, 1.0]), 1);
        assert_eq!(book.nearest(&[0.1, 0.0]), 0);
        assert_eq!(book.nearest(&[-5.0, -5.0]), 3);
        assert_eq!(book.to_rows(), rows.to_vec());
        // Ties across blocks: nodes 5 (block 0, lane 5), 20 and 36 (lane 4
        // of blocks 1 and 2) sit on the same point; the smallest index wins.
        let mut rows = vec![9.0f32; 40 * 2];
        for node in [5, 20, 36] {
            rows[node * 2..node * 2 + 2].copy_from_slice(&[0.5, 0.5]);
        }
        let book = CodeBook::from_rows(&rows, 40, 2);
        assert_eq!(book.nearest(&[0.5, 0.6]), 5);
        assert_eq!(Portable::nearest(&book, &[0.5, 0.6]), 5);
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

    /// The AVX-512 and portable kernels make the same codes, winners and
    /// early-stop decisions (on a CPU without AVX-512 this checks nothing
    /// beyond the portable run).
    #[test]
    fn vector_and_portable_kernels_agree() {
        for (xdim, ydim, dim, n) in [(10, 10, 10, 3000), (7, 5, 3, 800), (3, 1, 17, 300)] {
            let grid = Grid { xdim, ydim };
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            let data: Vec<f32> = (0..n * dim).map(|_| rng.gen_range(0.0..4.5)).collect();
            let settings = SomSettings {
                grid,
                rlen: 4,
                alpha: (0.05, 0.01),
            };
            let init = initial_codes(
                &data,
                dim,
                grid.n_nodes(),
                &mut ChaCha8Rng::seed_from_u64(1),
            );
            let portable = train_with::<Portable>(
                &data,
                dim,
                &init,
                &settings,
                &mut ChaCha8Rng::seed_from_u64(2),
            );
            let fast = train(
                &data,
                dim,
                &init,
                &settings,
                &mut ChaCha8Rng::seed_from_u64(2),
            );
            assert_eq!(fast, portable, "{xdim}x{ydim}, {dim} markers");
            let book = CodeBook::from_rows(&fast, grid.n_nodes(), dim);
            for x in data.chunks_exact(dim).step_by(7) {
                assert_eq!(book.nearest(x), Portable::nearest(&book, x));
            }
        }
    }

    /// R's early stop: when a pass changes the codes by less than 1 in
    /// total, training ends after that pass. Seen in the random stream:
    /// exactly `PREFETCH + n` draws were taken (one pass), not `rlen · n`.
    #[test]
    fn training_stops_after_a_pass_that_changes_nothing() {
        let grid = Grid { xdim: 1, ydim: 1 };
        let n = 100;
        let data: Vec<f32> = [1.0f32, 2.0].repeat(n);
        let settings = SomSettings {
            grid,
            rlen: 10,
            alpha: (0.05, 0.01),
        };
        let draws_after = |data: &[f32]| {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            train(data, 2, &[1.0, 2.0], &settings, &mut rng);
            let next = rng.gen::<u64>();
            let mut fresh = ChaCha8Rng::seed_from_u64(3);
            (0..10 * n + PREFETCH)
                .position(|_| {
                    let _ = fresh.gen_range(0..n);
                    fresh.clone().gen::<u64>() == next
                })
                .map(|p| p + 1)
        };
        assert_eq!(draws_after(&data), Some(n + PREFETCH));
        // Two alternating events keep the code moving: all ten passes run.
        let moving: Vec<f32> = [1.0f32, 2.0, 3.0, 4.0].repeat(n / 2);
        assert_eq!(draws_after(&moving), Some(10 * n + PREFETCH));
    }

    /// The batch map: the same codes for any thread count, and on two
    /// separated groups it puts codes on both.
    #[test]
    fn batch_map_is_identical_for_any_thread_count() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let n = 3 * BATCH_CHUNK + 123;
        let data: Vec<f32> = (0..n)
            .flat_map(|i| {
                let c = if i % 3 == 0 { 3.0 } else { 0.5 };
                [c + rng.gen_range(-0.2..0.2), c + rng.gen_range(-0.2..0.2)]
            })
            .collect();
        let settings = SomSettings {
            grid: Grid { xdim: 4, ydim: 4 },
            rlen: 10,
            alpha: (0.05, 0.01),
        };
        let init = initial_codes(&data, 2, 16, &mut ChaCha8Rng::seed_from_u64(1));
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| train_batch(&data, 2, &init, &settings))
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
        let near = |c: f32| {
            one.chunks_exact(2)
                .any(|code| (code[0] - c).abs() < 0.1 && (code[1] - c).abs() < 0.1)
        };
        assert!(near(3.0) && near(0.5), "{one:?}");
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
