//! Automatic metacluster names from marker medians, e.g. `CD3− CD56bright
//! CD16−`.
//!
//! Each marker gets thresholds from its own distribution over the training
//! events (Otsu's method on a histogram): one threshold (levels `−`, `+`) or,
//! when the marker clearly has three modes (negative, dim, bright — CD56 on
//! lymphocytes), two (levels `−`, `dim`, `bright`). A metacluster is named by
//! where its median falls for every marker, in marker order.
//!
//! Three levels are used only when the three-class split explains at least
//! 90% of the variance and removes at least half of what the two-class split
//! leaves unexplained; a single Gaussian split three ways explains ~81%, a
//! uniform ~89%, so neither is called "dim/bright".

/// Histogram bins for Otsu's method: fine enough for transformed data
/// (a few decades over ~4.5 logicle units), cheap for the O(bins²) search.
const BINS: usize = 128;

/// The cut points of one marker.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkerLevels {
    /// One threshold: `−` below, `+` at or above. Two: `−`, `dim`, `bright`.
    pub thresholds: Vec<f64>,
}

impl MarkerLevels {
    /// The level suffix for a median value: `−` (U+2212), `+`, `dim` or
    /// `bright`.
    pub fn suffix(&self, median: f64) -> &'static str {
        match self.thresholds.as_slice() {
            [t] if median >= *t => "+",
            [_] => "\u{2212}",
            [lo, hi] if median >= *hi => "bright",
            [lo, _] if median >= *lo => "dim",
            _ => "\u{2212}",
        }
    }
}

/// Otsu thresholds of one marker's values (non-finite values ignored).
pub fn marker_levels(values: &[f64]) -> MarkerLevels {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return MarkerLevels {
            thresholds: vec![if lo.is_finite() { lo } else { 0.0 }],
        };
    }
    let width = (hi - lo) / BINS as f64;
    let mut hist = [0.0f64; BINS];
    for &v in values.iter().filter(|v| v.is_finite()) {
        let b = (((v - lo) / width) as usize).min(BINS - 1);
        hist[b] += 1.0;
    }
    let centre = |b: usize| lo + (b as f64 + 0.5) * width;
    // Prefix sums of weight and first moment.
    let mut w = [0.0f64; BINS + 1];
    let mut m = [0.0f64; BINS + 1];
    for b in 0..BINS {
        w[b + 1] = w[b] + hist[b];
        m[b + 1] = m[b] + hist[b] * centre(b);
    }
    let total_w = w[BINS];
    let mu = m[BINS] / total_w;
    let total_var = (0..BINS)
        .map(|b| hist[b] * (centre(b) - mu).powi(2))
        .sum::<f64>()
        / total_w;
    // Between-class variance contribution of bins [a, b).
    let part = |a: usize, b: usize| {
        let wc = w[b] - w[a];
        if wc <= 0.0 {
            return 0.0;
        }
        let mc = (m[b] - m[a]) / wc;
        wc / total_w * (mc - mu).powi(2)
    };
    let mut best2 = (f64::NEG_INFINITY, 1);
    for t in 1..BINS {
        let v = part(0, t) + part(t, BINS);
        if v > best2.0 {
            best2 = (v, t);
        }
    }
    let mut best3 = (f64::NEG_INFINITY, 1, 2);
    for t1 in 1..BINS - 1 {
        for t2 in t1 + 1..BINS {
            let v = part(0, t1) + part(t1, t2) + part(t2, BINS);
            if v > best3.0 {
                best3 = (v, t1, t2);
            }
        }
    }
    let edge = |t: usize| lo + t as f64 * width;
    if total_var > 0.0 {
        let eta2 = best2.0 / total_var;
        let eta3 = best3.0 / total_var;
        if eta3 >= 0.9 && (1.0 - eta3) <= 0.5 * (1.0 - eta2) {
            return MarkerLevels {
                thresholds: vec![edge(best3.1), edge(best3.2)],
            };
        }
    }
    MarkerLevels {
        thresholds: vec![edge(best2.1)],
    }
}

/// The name of a metacluster from its per-marker medians.
pub fn name(markers: &[String], levels: &[MarkerLevels], medians: &[f64]) -> String {
    markers
        .iter()
        .zip(levels)
        .zip(medians)
        .map(|((marker, lv), &med)| {
            if med.is_finite() {
                format!("{marker}{}", lv.suffix(med))
            } else {
                format!("{marker}?")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    fn mixture(parts: &[(f64, f64, usize)]) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut v = Vec::new();
        for &(mean, sd, n) in parts {
            let d = Normal::new(mean, sd).unwrap();
            v.extend((0..n).map(|_| d.sample(&mut rng)));
        }
        v
    }

    #[test]
    fn two_modes_give_negative_and_positive() {
        let lv = marker_levels(&mixture(&[(0.5, 0.2, 8000), (3.0, 0.25, 2000)]));
        assert_eq!(lv.thresholds.len(), 1);
        assert!(lv.thresholds[0] > 1.0 && lv.thresholds[0] < 2.5, "{lv:?}");
        assert_eq!(lv.suffix(0.5), "\u{2212}");
        assert_eq!(lv.suffix(3.0), "+");
    }

    #[test]
    fn three_modes_give_dim_and_bright() {
        let lv = marker_levels(&mixture(&[
            (0.5, 0.2, 7000),
            (2.2, 0.2, 2500),
            (3.8, 0.2, 500),
        ]));
        assert_eq!(lv.thresholds.len(), 2, "{lv:?}");
        assert_eq!(lv.suffix(0.5), "\u{2212}");
        assert_eq!(lv.suffix(2.2), "dim");
        assert_eq!(lv.suffix(3.8), "bright");
    }

    #[test]
    fn one_mode_is_not_split_three_ways() {
        let lv = marker_levels(&mixture(&[(1.0, 0.5, 10000)]));
        assert_eq!(lv.thresholds.len(), 1);
    }

    #[test]
    fn names_join_markers_in_order() {
        let markers = vec!["CD3".to_string(), "CD56".to_string(), "CD16".to_string()];
        let levels = vec![
            MarkerLevels {
                thresholds: vec![1.5],
            },
            MarkerLevels {
                thresholds: vec![1.2, 3.0],
            },
            MarkerLevels {
                thresholds: vec![1.5],
            },
        ];
        assert_eq!(
            name(&markers, &levels, &[0.3, 3.5, 0.2]),
            "CD3\u{2212} CD56bright CD16\u{2212}"
        );
        assert_eq!(
            name(&markers, &levels, &[0.3, 2.0, 2.5]),
            "CD3\u{2212} CD56dim CD16+"
        );
    }
}
