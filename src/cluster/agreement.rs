//! Agreement of metaclusters with a gated population: the union of the
//! metaclusters whose majority of events lies in the population, scored
//! against the population by F1 (the harmonic mean of precision and recall).
//!
//! Why "majority": it is the rule a reviewer applies by eye ("these clusters
//! are the NK cells"), needs no tuning, and a metacluster split half-in
//! half-out costs F1 whichever way it falls.

use super::ClusterError;

/// How well a union of metaclusters reproduces a population.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    /// The metaclusters (0-based) with a strict majority of their events in
    /// the population.
    pub metaclusters: Vec<u16>,
    /// Events both in the population and in a selected metacluster.
    pub true_positive: usize,
    /// Events in a selected metacluster.
    pub predicted: usize,
    /// Events in the population (including any outside the clustered set,
    /// which count as misses).
    pub actual: usize,
}

impl Agreement {
    /// Precision: `tp / predicted` (NaN when nothing is predicted).
    pub fn precision(&self) -> f64 {
        self.true_positive as f64 / self.predicted as f64
    }

    /// Recall: `tp / actual` (NaN for an empty population).
    pub fn recall(&self) -> f64 {
        self.true_positive as f64 / self.actual as f64
    }

    /// F1 = `2·tp / (predicted + actual)`; NaN when both are empty.
    pub fn f1(&self) -> f64 {
        2.0 * self.true_positive as f64 / (self.predicted + self.actual) as f64
    }
}

/// Scores per-event metaclusters (`None` = not clustered) against a
/// population mask of the same length, for `k` metaclusters.
pub fn agreement(
    sample: &str,
    metaclusters: &[Option<u16>],
    population: &[bool],
    k: usize,
) -> Result<Agreement, ClusterError> {
    if metaclusters.len() != population.len() {
        return Err(ClusterError::MaskLength {
            sample: sample.to_string(),
            what: "population",
            mask: population.len(),
            events: metaclusters.len(),
        });
    }
    let mut inside = vec![0usize; k];
    let mut total = vec![0usize; k];
    for (mc, &pop) in metaclusters.iter().zip(population) {
        if let Some(slot) = mc.and_then(|m| total.get_mut(m as usize)) {
            *slot += 1;
            if pop {
                inside[mc.map_or(0, |m| m as usize)] += 1;
            }
        }
    }
    let selected: Vec<u16> = (0..k)
        .filter(|&m| 2 * inside[m] > total[m])
        .map(|m| m as u16)
        .collect();
    Ok(Agreement {
        true_positive: selected.iter().map(|&m| inside[m as usize]).sum(),
        predicted: selected.iter().map(|&m| total[m as usize]).sum(),
        actual: population.iter().filter(|&&p| p).count(),
        metaclusters: selected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_union_and_f1() {
        // mc0: 3 of 4 in pop (selected); mc1: 1 of 2 (not a strict majority);
        // mc2: 0 of 2; one pop event unclustered.
        let mc = [
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(1),
            Some(1),
            Some(2),
            Some(2),
            None,
        ];
        let pop = [true, true, true, false, true, false, false, false, true];
        let a = agreement("s", &mc, &pop, 3).unwrap();
        assert_eq!(a.metaclusters, vec![0]);
        assert_eq!((a.true_positive, a.predicted, a.actual), (3, 4, 5));
        assert!((a.f1() - 6.0 / 9.0).abs() < 1e-12);
        assert!((a.precision() - 0.75).abs() < 1e-12);
        assert!((a.recall() - 0.6).abs() < 1e-12);
        assert!(agreement("s", &mc, &pop[..3], 3).is_err());
    }
}
