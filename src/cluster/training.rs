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

/// A sample's clustered events as the training draw sees them: how many
/// there are, and their rows by rank (position among the clustered events,
/// in file order).
pub(crate) trait TrainSource {
    /// Clustered events.
    fn n_clustered(&self) -> usize;
    /// Appends the rows of every clustered event (`ranks` = `None`) or of
    /// the given ranks (sorted ascending), in rank order.
    fn push_rows(&self, ranks: Option<&[usize]>, out: &mut Vec<f32>);
    /// Which ChaCha stream draws this sample's subsample: a stable id of the
    /// sample (its position in the batch), so a sample that is absent (a
    /// failed file) does not shift the others' draws.
    fn stream(&self) -> u64;
}

/// One sample's marker columns and mask, already validated.
pub(crate) struct Resolved<'a> {
    pub columns: Vec<&'a [f64]>,
    pub mask: Option<&'a [bool]>,
    pub n_events: usize,
    /// Position of the sample in its batch.
    pub position: usize,
}

impl Resolved<'_> {
    fn included(&self, i: usize) -> bool {
        self.mask
            .map_or(true, |m| m.get(i).copied().unwrap_or(false))
    }

    fn push_row(&self, i: usize, out: &mut Vec<f32>) {
        out.extend(
            self.columns
                .iter()
                .map(|c| c.get(i).copied().unwrap_or(0.0) as f32),
        );
    }
}

impl TrainSource for Resolved<'_> {
    fn n_clustered(&self) -> usize {
        match self.mask {
            Some(m) => m.iter().filter(|&&b| b).count(),
            None => self.n_events,
        }
    }

    fn push_rows(&self, ranks: Option<&[usize]>, out: &mut Vec<f32>) {
        let events = (0..self.n_events).filter(|&i| self.included(i));
        match ranks {
            None => events.for_each(|i| self.push_row(i, out)),
            Some(ranks) => {
                let mut next = ranks.iter().peekable();
                for (rank, i) in events.enumerate() {
                    if next.peek().is_some_and(|&&r| r == rank) {
                        self.push_row(i, out);
                        next.next();
                    }
                }
            }
        }
    }

    fn stream(&self) -> u64 {
        self.position as u64
    }
}

/// Row-major `f32` rows of the clustered events only (what the pipeline's
/// cluster stage keeps per file).
pub(crate) struct Rows<'a> {
    pub rows: &'a [f32],
    pub dim: usize,
    pub position: usize,
}

impl TrainSource for Rows<'_> {
    fn n_clustered(&self) -> usize {
        self.rows.len() / self.dim.max(1)
    }

    fn push_rows(&self, ranks: Option<&[usize]>, out: &mut Vec<f32>) {
        match ranks {
            None => out.extend_from_slice(self.rows),
            Some(ranks) => {
                for &r in ranks {
                    if let Some(row) = self.rows.get(r * self.dim..(r + 1) * self.dim) {
                        out.extend_from_slice(row);
                    }
                }
            }
        }
    }

    fn stream(&self) -> u64 {
        self.position as u64
    }
}

/// Builds the row-major training matrix of `dim` markers. `train_events`:
/// `None` (or at least the total) takes every clustered event in sample and
/// event order; otherwise each sample contributes `⌈wanted / samples⌉`
/// events (all of a smaller one), drawn without replacement from its own
/// seeded stream and kept in file order.
pub(crate) fn training_rows<S: TrainSource>(
    samples: &[S],
    dim: usize,
    train_events: Option<usize>,
    seed: u64,
) -> Vec<f32> {
    let counts: Vec<usize> = samples.iter().map(TrainSource::n_clustered).collect();
    let total: usize = counts.iter().sum();
    let wanted = train_events.unwrap_or(total).min(total);
    // Plain pages. A transparent-huge-page hint (MADV_HUGEPAGE) used to
    // shorten the page walk of training's random row reads; since rows are
    // prefetched a step chain ahead it saves nothing measurable (55.0 vs
    // 55.1 ns per step, 1M events), while faulting the hinted pages in cost
    // 30-170 ms on first touch here (THP defrag "madvise": the kernel
    // compacts memory for such faults) against ~15 ms.
    let mut rows = Vec::with_capacity(wanted * dim);
    if wanted == total {
        for s in samples {
            s.push_rows(None, &mut rows);
        }
        return rows;
    }
    let quota = wanted.div_ceil(samples.len().max(1));
    for (s, &count) in samples.iter().zip(&counts) {
        let take = quota.min(count);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(STREAM_SUBSAMPLE + s.stream());
        // Ranks among the clustered events, in file order.
        let mut ranks = rand::seq::index::sample(&mut rng, count, take).into_vec();
        ranks.sort_unstable();
        s.push_rows(Some(&ranks), &mut rows);
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
                position: 0,
            },
            Resolved {
                columns: vec![&b],
                mask: None,
                n_events: 10,
                position: 1,
            },
        ];
        let all = training_rows(&s, 1, None, 1);
        assert_eq!(all.len(), 60);
        assert_eq!(&all[..3], &[0.0, 2.0, 4.0]);
        assert_eq!(all[50], 1000.0);
        // 30 wanted over 2 samples: 15 from the first, all 10 of the second.
        let sub = training_rows(&s, 1, Some(30), 1);
        assert_eq!(sub.len(), 25);
        assert!(sub[..15].iter().all(|v| *v < 100.0 && (*v as i64) % 2 == 0));
        assert!(sub[..15].windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            &sub[15..],
            &b.iter().map(|&v| v as f32).collect::<Vec<_>>()[..]
        );
        assert_eq!(sub, training_rows(&s, 1, Some(30), 1));
        assert_ne!(sub, training_rows(&s, 1, Some(30), 2));
        // The same draw from row-major rows of the clustered events.
        let a_rows: Vec<f32> = (0..100).filter(|i| i % 2 == 0).map(|i| i as f32).collect();
        let b_rows: Vec<f32> = b.iter().map(|&v| v as f32).collect();
        let r = vec![
            Rows {
                rows: &a_rows,
                dim: 1,
                position: 0,
            },
            Rows {
                rows: &b_rows,
                dim: 1,
                position: 1,
            },
        ];
        assert_eq!(training_rows(&r, 1, Some(30), 1), sub);
        assert_eq!(training_rows(&r, 1, None, 1), all);
        // An absent sample does not change another's draw: the second
        // sample alone, at position 1, with the same quota.
        assert_eq!(
            training_rows(&r[1..], 1, Some(15), 1),
            training_rows(&r, 1, Some(30), 1)[15..]
        );
    }
}
