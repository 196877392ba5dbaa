//! The axis on which data-driven thresholds are searched.
//!
//! Fluorescence populations are roughly bell-shaped on a log-like axis that
//! stays linear around zero (compensated negatives spread symmetrically
//! there), so densities and valleys are found after such a transform and
//! the threshold is mapped back to data units. The transform only decides
//! *where* a valley is; gates are written in data units (see
//! [`resolved`](super::resolved)), so it never has to be reproduced by a
//! re-application.

use serde::{Deserialize, Serialize};

use super::density::quantile_sorted;

/// A density axis for one marker.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AxisScale {
    /// Arcsinh with a cofactor estimated from each file (see [`estimate_cofactor`]).
    #[default]
    Auto,
    /// Data units as they are (scatter, time).
    Linear,
    /// `asinh(x / cofactor)` with a fixed cofactor.
    Arcsinh(f64),
}

/// A resolved axis: forward and inverse maps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Axis {
    Linear,
    Arcsinh { cofactor: f64 },
}

impl Axis {
    /// Data → axis units.
    #[inline]
    pub fn forward(&self, x: f64) -> f64 {
        match *self {
            Axis::Linear => x,
            Axis::Arcsinh { cofactor } => (x / cofactor).asinh(),
        }
    }

    /// Axis units → data.
    #[inline]
    pub fn inverse(&self, y: f64) -> f64 {
        match *self {
            Axis::Linear => y,
            Axis::Arcsinh { cofactor } => y.sinh() * cofactor,
        }
    }
}

impl AxisScale {
    /// Resolves the axis for one file from the marker's values (the root
    /// population's, so every gate on this marker shares one axis).
    pub fn resolve(&self, values: &[f64]) -> Axis {
        match *self {
            AxisScale::Linear => Axis::Linear,
            AxisScale::Arcsinh(c) if c > 0.0 => Axis::Arcsinh { cofactor: c },
            AxisScale::Arcsinh(_) | AxisScale::Auto => Axis::Arcsinh {
                cofactor: estimate_cofactor(values),
            },
        }
    }
}

/// Estimates an arcsinh cofactor from the data, in the spirit of flowCore's
/// `estimateLogicle` (the linear region should just hold the spread of the
/// negative, compensated values).
///
/// Compensated negatives are the lower half of a population centred near
/// zero, so their root-mean-square is that population's spread σ whatever
/// share of the events the positives take. A cofactor `c ≥ σ` keeps that
/// population one hump on the arcsinh axis (smaller ones split it into two
/// fake peaks at ±asinh(σ/c)); `c = 2σ` leaves a margin. Without enough
/// negatives (uncompensated or log data, or a population shifted above
/// zero) the magnitude of the 5% quantile is used. The
/// cofactor never falls below 1e-4 of the 99.9% quantile, so a channel of
/// mostly zeros cannot stretch noise into fake populations.
pub fn estimate_cofactor(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 1.0;
    }
    super::density::sort_total(&mut v);
    let top = quantile_sorted(&v, 0.999).abs().max(f64::MIN_POSITIVE);
    let negatives = v.partition_point(|&x| x < 0.0);
    let c = if negatives >= 20.max(v.len() / 50) {
        let ms = v[..negatives].iter().map(|x| x * x).sum::<f64>() / negatives as f64;
        2.0 * ms.sqrt()
    } else {
        quantile_sorted(&v, 0.05).abs()
    };
    let c = c.max(top * 1e-4);
    if c.is_finite() && c > 0.0 {
        c
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arcsinh_round_trips() {
        let a = Axis::Arcsinh { cofactor: 150.0 };
        for x in [-500.0, 0.0, 3.0, 1e5] {
            assert!((a.inverse(a.forward(x)) - x).abs() < 1e-9 * x.abs().max(1.0));
        }
    }

    #[test]
    fn cofactor_follows_the_negative_spread() {
        // A negative population uniform on [-200, 200] (RMS of its lower
        // half 200/√3) and 80% positives: c = 2 × 115.47.
        let mut v: Vec<f64> = (0..=1000).map(|i| -200.0 + 0.4 * i as f64).collect();
        v.extend((0..4000).map(|i| 1e4 + i as f64));
        let c = estimate_cofactor(&v);
        assert!((c - 2.0 * 200.0 / 3f64.sqrt()).abs() < 1.0, "{c}");
        // No negatives: the 5% quantile.
        let pos: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((estimate_cofactor(&pos) - 5.95).abs() < 1e-9);
        assert_eq!(
            AxisScale::Arcsinh(5.0).resolve(&v),
            Axis::Arcsinh { cofactor: 5.0 }
        );
    }
}
