//! Estimated logicle parameters, as flowCore's `estimateLogicle` chooses
//! them for pipelines that fix none: given T (top of scale), M (decades) and
//! A, the linear width is
//!
//! W = (M − log10(T / |r|)) / 2, r = the q-quantile (default 5 %) of the
//! channel's negative values (R's default quantile, type 7), plus machine ε.
//!
//! So the most negative 5 % of the data land just inside the linear region.
//! Without negative values W = 0. flowCore stops when W < 0; here W is
//! clamped at 0 and a warning says so (and likewise clamped at M/2, the
//! largest width logicle allows, when |r| > T), so a batch of files never
//! fails on one odd channel.

use super::{Logicle, TransformError};

/// The outcome of [`estimate_logicle`].
#[derive(Debug, Clone, PartialEq)]
pub struct EstimatedLogicle {
    /// The transform with the estimated W.
    pub logicle: Logicle,
    /// The negative quantile r, when there were negative values.
    pub r: Option<f64>,
    /// Set when W had to be clamped; one sentence saying why.
    pub warning: Option<String>,
}

/// The `q`-quantile of `values` by R's type 7 (linear between order
/// statistics). `values` is reordered.
fn quantile_type7(values: &mut [f64], q: f64) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor() as usize;
    let (_, &mut x_lo, upper) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let x_hi = if lo + 1 < n {
        upper.iter().copied().fold(f64::INFINITY, f64::min)
    } else {
        x_lo
    };
    Some(x_lo + (h - lo as f64) * (x_hi - x_lo))
}

/// Estimates a logicle for one channel's values (FCS scale, compensated as
/// they will be gated). `t`, `m`, `a` as for [`Logicle::new`]; `q` the
/// quantile of the negatives (flowCore: 0.05). NaNs are ignored.
pub fn estimate_logicle(
    values: &[f64],
    t: f64,
    m: f64,
    a: f64,
    q: f64,
) -> Result<EstimatedLogicle, TransformError> {
    if !(0.0..=1.0).contains(&q) {
        return Err(TransformError::Parameter {
            transform: "estimated logicle",
            reason: format!("quantile q must lie in [0, 1] (q={q})"),
        });
    }
    let mut negatives: Vec<f64> = values.iter().copied().filter(|v| *v < 0.0).collect();
    let mut warning = None;
    let (w, r) = match quantile_type7(&mut negatives, q) {
        None => (0.0, None),
        Some(r) => {
            let r = r + f64::EPSILON;
            let w = (m - (t / r.abs()).log10()) / 2.0;
            if w < 0.0 {
                warning = Some(format!(
                    "estimated logicle width W = {w:.4} < 0 (negative {q}-quantile {r:.4} is small against T = {t}); using W = 0"
                ));
                (0.0, Some(r))
            } else if w > m / 2.0 {
                warning = Some(format!(
                    "estimated logicle width W = {w:.4} > M/2 (negative {q}-quantile {r:.4} is beyond −T = −{t}); using W = M/2 = {}",
                    m / 2.0
                ));
                (m / 2.0, Some(r))
            } else {
                (w, Some(r))
            }
        }
    };
    Ok(EstimatedLogicle {
        logicle: Logicle::new(t, w, m, a)?,
        r,
        warning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_r_type7() {
        // R: quantile(c(-10, -8, -6, -4, -2), 0.05) = -9.6
        let mut v = vec![-2.0, -4.0, -6.0, -8.0, -10.0];
        assert!((quantile_type7(&mut v, 0.05).unwrap() - (-9.6)).abs() < 1e-12);
        let mut one = vec![-3.0];
        assert_eq!(quantile_type7(&mut one, 0.05), Some(-3.0));
    }

    #[test]
    fn width_from_negative_quantile() {
        // Negatives −1…−1000: r = −950.05 (type 7), W = (4.5 − log10(262143/950.05))/2.
        let mut v: Vec<f64> = (1..=1000).map(|i| -(i as f64)).collect();
        v.extend((0..5000).map(|i| i as f64 * 10.0));
        let e = estimate_logicle(&v, 262143.0, 4.5, 0.0, 0.05).unwrap();
        let r = -950.05 + f64::EPSILON;
        let w = (4.5 - (262143.0 / r.abs()).log10()) / 2.0;
        assert!((e.logicle.params().w - w).abs() < 1e-12);
        assert!(e.warning.is_none());
    }

    #[test]
    fn no_negatives_gives_zero_width_and_tiny_ones_warn() {
        let e = estimate_logicle(&[1.0, 2.0, 3.0], 262143.0, 4.5, 0.0, 0.05).unwrap();
        assert_eq!(e.logicle.params().w, 0.0);
        assert!(e.r.is_none() && e.warning.is_none());
        let e = estimate_logicle(&[-0.001, 5.0], 262143.0, 4.5, 0.0, 0.05).unwrap();
        assert_eq!(e.logicle.params().w, 0.0);
        assert!(e.warning.unwrap().contains("< 0"));
    }
}
