//! Consensus hierarchical metaclustering, as R FlowSOM's
//! `metaClustering_consensus` runs ConsensusClusterPlus: `reps` times, draw
//! `⌊p_item · n⌋` nodes without replacement, cluster them by average linkage
//! on Euclidean distances and cut into `k`; the consensus of nodes `i, j` is
//! how often they were clustered together among the draws that held both.
//! The final clustering is average linkage on `1 − consensus`, cut into `k`.
//!
//! Why consensus rather than one hierarchical clustering: a single average
//! linkage tree on 100 codes can split a population on one outlying node;
//! resampling keeps only the groupings that are stable.
//!
//! Determinism: each resample has its own ChaCha stream (seed, rep), and the
//! co-clustering counts are integers, so running the resamples in parallel
//! gives the same matrix for any thread count.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Average-linkage (UPGMA) agglomeration of `n` items with the symmetric
/// distance matrix `dist` (`n × n`), stopped at `k` clusters. Returns a label
/// per item, numbered by first appearance (item 0 is in cluster 0). Ties in
/// the closest pair go to the first pair in (row, column) order.
pub(crate) fn average_linkage(dist: &[f64], n: usize, k: usize) -> Vec<usize> {
    let mut d = dist.to_vec();
    let mut size = vec![1usize; n];
    let mut active = vec![true; n];
    // parent[i] = the cluster item i was merged into (union by "lower index").
    let mut parent: Vec<usize> = (0..n).collect();
    let mut clusters = n;
    while clusters > k.max(1) {
        let mut best = (f64::INFINITY, 0, 0);
        for a in (0..n).filter(|&a| active[a]) {
            for b in (a + 1..n).filter(|&b| active[b]) {
                let v = d[a * n + b];
                if v < best.0 {
                    best = (v, a, b);
                }
            }
        }
        let (_, a, b) = best;
        if a == b {
            break; // only NaN distances left; nothing sensible to merge
        }
        let (na, nb) = (size[a] as f64, size[b] as f64);
        for c in (0..n).filter(|&c| active[c] && c != a && c != b) {
            let v = (na * d[a * n + c] + nb * d[b * n + c]) / (na + nb);
            d[a * n + c] = v;
            d[c * n + a] = v;
        }
        size[a] += size[b];
        active[b] = false;
        parent[b] = a;
        clusters -= 1;
    }
    let root = |mut i: usize| {
        while parent[i] != i {
            i = parent[i];
        }
        i
    };
    relabel_by_first_appearance(&(0..n).map(root).collect::<Vec<_>>())
}

/// Renumbers arbitrary labels 0, 1, 2, … in order of first appearance.
pub(crate) fn relabel_by_first_appearance(labels: &[usize]) -> Vec<usize> {
    let mut map: Vec<(usize, usize)> = Vec::new();
    labels
        .iter()
        .map(|&l| match map.iter().find(|(from, _)| *from == l) {
            Some(&(_, to)) => to,
            None => {
                let to = map.len();
                map.push((l, to));
                to
            }
        })
        .collect()
}

/// Euclidean distance matrix of node-major `rows` (`n × dim`).
fn euclidean_matrix(rows: &[f64], n: usize, dim: usize) -> Vec<f64> {
    let mut d = vec![0.0; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let s: f64 = rows[i * dim..(i + 1) * dim]
                .iter()
                .zip(&rows[j * dim..(j + 1) * dim])
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            d[i * n + j] = s.sqrt();
            d[j * n + i] = s.sqrt();
        }
    }
    d
}

/// Settings of the consensus metaclustering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConsensusSettings {
    /// Resamples (ConsensusClusterPlus `reps`; FlowSOM uses 100).
    pub reps: usize,
    /// Fraction of nodes in each resample (`pItem`; FlowSOM uses 0.9).
    pub p_item: f64,
}

impl Default for ConsensusSettings {
    fn default() -> Self {
        ConsensusSettings {
            reps: 100,
            p_item: 0.9,
        }
    }
}

/// Consensus metaclustering of `n` codes (node-major `rows`, `n × dim`) into
/// `k` groups; labels numbered by first appearance over the nodes.
pub(crate) fn consensus(
    rows: &[f64],
    n: usize,
    dim: usize,
    k: usize,
    settings: &ConsensusSettings,
    seed: u64,
) -> Vec<usize> {
    let dist = euclidean_matrix(rows, n, dim);
    let m = ((n as f64) * settings.p_item).floor() as usize;
    let m = m.clamp(1, n);
    let draws: Vec<(Vec<usize>, Vec<usize>)> = (0..settings.reps)
        .into_par_iter()
        .map(|rep| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(rep as u64);
            let mut picked = rand::seq::index::sample(&mut rng, n, m).into_vec();
            picked.sort_unstable();
            let mut sub = vec![0.0; m * m];
            for (a, &i) in picked.iter().enumerate() {
                for (b, &j) in picked.iter().enumerate() {
                    sub[a * m + b] = dist[i * n + j];
                }
            }
            let labels = average_linkage(&sub, m, k.min(m));
            (picked, labels)
        })
        .collect();
    let mut together = vec![0u32; n * n];
    let mut sampled = vec![0u32; n * n];
    for (picked, labels) in &draws {
        for (a, &i) in picked.iter().enumerate() {
            for (b, &j) in picked.iter().enumerate() {
                sampled[i * n + j] += 1;
                if labels[a] == labels[b] {
                    together[i * n + j] += 1;
                }
            }
        }
    }
    let consensus_dist: Vec<f64> = together
        .iter()
        .zip(&sampled)
        .enumerate()
        .map(|(idx, (&t, &s))| {
            if idx / n == idx % n {
                0.0
            } else if s == 0 {
                1.0
            } else {
                1.0 - t as f64 / s as f64
            }
        })
        .collect();
    average_linkage(&consensus_dist, n, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_linkage_merges_closest_groups() {
        // Points on a line: {0, 1}, {10, 11, 12}, {30}.
        let xs = [0.0, 10.0, 1.0, 30.0, 11.0, 12.0];
        let d = euclidean_matrix(&xs, 6, 1);
        assert_eq!(average_linkage(&d, 6, 3), vec![0, 1, 0, 2, 1, 1]);
        assert_eq!(average_linkage(&d, 6, 2), vec![0, 0, 0, 1, 0, 0]);
        assert_eq!(average_linkage(&d, 6, 6), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn average_linkage_uses_mean_distance() {
        // a=0, b=4, c=9, e=14.6. First {a,b} (4). Then average linkage has
        // d({a,b}, c) = (9 + 5) / 2 = 7 > d(c, e) = 5.6, so {c,e} joins next;
        // single linkage would have joined c to {a,b} (5) instead.
        let xs = [0.0, 4.0, 9.0, 14.6];
        let d = euclidean_matrix(&xs, 4, 1);
        assert_eq!(average_linkage(&d, 4, 3), vec![0, 0, 1, 2]);
        assert_eq!(average_linkage(&d, 4, 2), vec![0, 0, 1, 1]);
    }

    #[test]
    fn consensus_recovers_separated_groups_deterministically() {
        // 30 nodes in 3 tight, distant groups in 2-D.
        let mut rows = Vec::new();
        for i in 0..30 {
            let g = (i % 3) as f64 * 10.0;
            rows.push(g + (i as f64) * 0.01);
            rows.push(-g + (i as f64 * 0.37).sin() * 0.1);
        }
        let s = ConsensusSettings::default();
        let labels = consensus(&rows, 30, 2, 3, &s, 42);
        for (i, &l) in labels.iter().enumerate() {
            assert_eq!(l, i % 3);
        }
        let pool = |t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
                .install(|| consensus(&rows, 30, 2, 2, &s, 7))
        };
        assert_eq!(pool(1), pool(2));
    }
}
