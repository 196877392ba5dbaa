//! The training set: the clustered events of every sample, as one row-major
//! `f32` matrix, optionally a fixed-size seeded subsample drawn evenly from
//! the samples (R FlowSOM's `AggregateFlowFrames`: the same number from each
//! file, all of a file that has fewer).
//!
//! Why one map for the whole batch: metacluster 3 then means the same cells
//! in every patient, so the per-sample tables are comparable. Why an even
//! draw: a file with ten times the events must not dominate the map.
//! Why `f32` rows: half the memory of the `f64` columns, and a training step
//! reads one random event, which is then one contiguous 40-byte row.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// ChaCha stream base for the per-sample draws (sample `f` uses base + f).
const STREAM_SUBSAMPLE: u64 = 1 << 32;

/// One sample's marker columns and mask, already validated.
pub(crate) struct Resolved<'a> {
    pub columns: Vec<&'a [f64]>,
    pub mask: Option<&'a [bool]>,
    pub n_events: usize,
}

impl Resolved<'_> {
    fn included(&self, i: usize) -> bool {
        self.mask
            .map_or(true, |m| m.get(i).copied().unwrap_or(false))
    }

    pub(crate) fn n_clustered(&self) -> usize {
        match self.mask {
            Some(m) => m.iter().filter(|&&b| b).count(),
            None => self.n_events,
        }
    }

    fn push_row(&self, i: usize, out: &mut Vec<f32>) {
        out.extend(
            self.columns
                .iter()
                .map(|c| c.get(i).copied().unwrap_or(0.0) as f32),
        );
    }
}

/// Builds the row-major training matrix. `train_events`: `None` (or at least
/// the total) takes every clustered event in sample and event order.
pub(crate) fn training_rows(
    samples: &[Resolved<'_>],
    train_events: Option<usize>,
    seed: u64,
) -> Vec<f32> {
    let dim = samples.first().map_or(0, |s| s.columns.len());
    let counts: Vec<usize> = samples.iter().map(Resolved::n_clustered).collect();
    let total: usize = counts.iter().sum();
    let wanted = train_events.unwrap_or(total).min(total);
    let mut rows = Vec::with_capacity(wanted * dim);
    if wanted == total {
        for s in samples {
            for i in (0..s.n_events).filter(|&i| s.included(i)) {
                s.push_row(i, &mut rows);
            }
        }
        return rows;
    }
    let quota = wanted.div_ceil(samples.len().max(1));
    for (f, (s, &count)) in samples.iter().zip(&counts).enumerate() {
        let take = quota.min(count);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(STREAM_SUBSAMPLE + f as u64);
        // Ranks among the clustered events, in file order.
        let mut ranks = rand::seq::index::sample(&mut rng, count, take).into_vec();
        ranks.sort_unstable();
        let mut next = ranks.iter().peekable();
        for (rank, i) in (0..s.n_events).filter(|&i| s.included(i)).enumerate() {
            if next.peek().is_some_and(|&&r| r == rank) {
                s.push_row(i, &mut rows);
                next.next();
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_events_in_order_or_an_even_seeded_draw() {
        let a: Vec<f64> = (0..100).map(f64::from).collect();
        let b: Vec<f64> = (1000..1010).map(f64::from).collect();
        let mask: Vec<bool> = (0..100).map(|i| i % 2 == 0).collect();
        let s = vec![
            Resolved {
                columns: vec![&a],
                mask: Some(&mask),
                n_events: 100,
            },
            Resolved {
                columns: vec![&b],
                mask: None,
                n_events: 10,
            },
        ];
        let all = training_rows(&s, None, 1);
        assert_eq!(all.len(), 60);
        assert_eq!(&all[..3], &[0.0, 2.0, 4.0]);
        assert_eq!(all[50], 1000.0);
        // 30 wanted over 2 samples: 15 from the first, all 10 of the second.
        let sub = training_rows(&s, Some(30), 1);
        assert_eq!(sub.len(), 25);
        assert!(sub[..15].iter().all(|v| *v < 100.0 && (*v as i64) % 2 == 0));
        assert!(sub[..15].windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            &sub[15..],
            &b.iter().map(|&v| v as f32).collect::<Vec<_>>()[..]
        );
        assert_eq!(sub, training_rows(&s, Some(30), 1));
        assert_ne!(sub, training_rows(&s, Some(30), 2));
    }
}
