//! k-means metaclustering of the codes with linfa, the alternative to
//! consensus hierarchical clustering (FlowSOM's `metaClustering_kmeans`).
//!
//! k-means++ initialisation, not linfa's default k-means||: k-means|| seeds
//! one generator per rayon thread, so its result would depend on the thread
//! count. k-means++ draws from the one seeded generator we pass in, and the
//! parallel membership step is a per-code function, so the result is the same
//! for any thread count.

use linfa::prelude::*;
use linfa_clustering::{KMeans, KMeansInit};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::consensus::relabel_by_first_appearance;
use super::ClusterError;

/// k-means of `n` node-major codes (`n × dim`) into `k` groups, best of 10
/// seeded runs; labels numbered by first appearance over the nodes.
pub(crate) fn kmeans(
    rows: &[f64],
    n: usize,
    dim: usize,
    k: usize,
    seed: u64,
) -> Result<Vec<usize>, ClusterError> {
    let records = Array2::from_shape_vec((n, dim), rows.to_vec())
        .map_err(|e| ClusterError::KMeans(e.to_string()))?;
    let dataset = DatasetBase::from(records.clone());
    let model = KMeans::params_with_rng(k, ChaCha8Rng::seed_from_u64(seed))
        .init_method(KMeansInit::KMeansPlusPlus)
        .n_runs(10)
        .max_n_iterations(300)
        .tolerance(1e-8)
        .fit(&dataset)
        .map_err(|e| ClusterError::KMeans(e.to_string()))?;
    let labels = model.predict(&records);
    Ok(relabel_by_first_appearance(&labels.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_distant_groups() {
        let mut rows = Vec::new();
        for i in 0..40 {
            let g = (i % 4) as f64 * 5.0;
            rows.push(g + (i as f64 * 0.7).sin() * 0.2);
            rows.push(g * 0.5 + (i as f64 * 1.3).cos() * 0.2);
        }
        let labels = kmeans(&rows, 40, 2, 4, 1).unwrap();
        for (i, &l) in labels.iter().enumerate() {
            assert_eq!(l, i % 4, "node {i}");
        }
        assert_eq!(labels, kmeans(&rows, 40, 2, 4, 1).unwrap());
    }
}
