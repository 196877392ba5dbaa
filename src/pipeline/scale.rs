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
            Axis::Arcsinh { cofactor } => asinh(x / cofactor),
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

/// `asinh(x)` to a relative error below 2e-15 (worst just above |x| = 1/8,
/// where the logarithm's argument is near 1), about three times
/// as fast as `f64::asinh` (which pays for `hypot` and `ln_1p`): every
/// data-driven threshold maps each of its parent's events to the density
/// axis, so this is the innermost loop of gating a file. Odd, exact at 0,
/// and monotone (non-decreasing) like the exact function within each
/// branch, since each step rounds monotonically; where the series meets
/// the logarithm (|x| = 1/8) the two may disagree by a few units in the
/// last place, which [`forward_sorted`] checks for.
#[inline]
pub fn asinh(x: f64) -> f64 {
    if x.abs() < 1e150 {
        asinh_kernel(x)
    } else if x.is_nan() {
        x
    } else {
        let y = x.abs().ln() + std::f64::consts::LN_2;
        if x.is_sign_negative() {
            -y
        } else {
            y
        }
    }
}

/// [`asinh`] for |x| < 1e150, without branches (both forms are computed
/// and one is selected) and without library calls, so that a loop over
/// many values vectorises: a Taylor series in x² below |x| = 1/8, else
/// ln(t + √(t² + 1)) with [`ln_kernel`].
#[inline(always)]
fn asinh_kernel(x: f64) -> f64 {
    let t = x.abs();
    // Taylor series in t² (|t²| < 1/64: ten terms reach 1e-17).
    let u = t * t;
    let p = -143.0 / 10240.0 + u * (6435.0 / 557056.0 + u * (-12155.0 / 1245184.0));
    let p = 231.0 / 13312.0 + u * p;
    let p = -63.0 / 2816.0 + u * p;
    let p = 35.0 / 1152.0 + u * p;
    let p = -5.0 / 112.0 + u * p;
    let p = 3.0 / 40.0 + u * p;
    let p = -1.0 / 6.0 + u * p;
    let series = t + t * u * p;
    let log = ln_kernel(t + (u + 1.0).sqrt());
    let y = if t < 0.125 { series } else { log };
    if x.is_sign_negative() {
        -y
    } else {
        y
    }
}

/// ln(z) for finite z ≥ 1 (positive, normal): z = 2^e · m with m folded
/// into [√½, √2), ln m = 2·atanh((m − 1)/(m + 1)) by its series (eleven
/// terms: |s| ≤ 0.172, the first one left out is below 1e-18), and e·ln 2
/// added in two parts. Within a few units in the last place of `f64::ln`,
/// from IEEE operations only.
#[inline(always)]
fn ln_kernel(z: f64) -> f64 {
    // ln 2 = LN2_HI + LN2_LO, the high part with 32 low zero bits so that
    // e · LN2_HI is exact (fdlibm's split).
    const LN2_HI: f64 = 0.693_147_180_369_123_8; // bits 0x3fe62e42fee00000
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10; // bits 0x3dea39ef35793c76
    let bits = z.to_bits();
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    // The biased exponent as a float without an integer conversion:
    // 2^52 + k has k in its low mantissa bits.
    let biased = f64::from_bits((bits >> 52) | 0x4330_0000_0000_0000) - 4_503_599_627_370_496.0;
    let fold = m > std::f64::consts::SQRT_2;
    let m = if fold { m * 0.5 } else { m };
    let e = biased - 1023.0 + if fold { 1.0 } else { 0.0 };
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let p = 2.0 / 19.0 + s2 * (2.0 / 21.0);
    let p = 2.0 / 17.0 + s2 * p;
    let p = 2.0 / 15.0 + s2 * p;
    let p = 2.0 / 13.0 + s2 * p;
    let p = 2.0 / 11.0 + s2 * p;
    let p = 2.0 / 9.0 + s2 * p;
    let p = 2.0 / 7.0 + s2 * p;
    let p = 2.0 / 5.0 + s2 * p;
    let p = 2.0 / 3.0 + s2 * p;
    let ln_m = 2.0 * s + s * s2 * p;
    e * LN2_HI + (e * LN2_LO + ln_m)
}

impl AxisScale {
    /// Resolves the axis for one file from the marker's values (any order;
    /// non-finite values are ignored).
    pub fn resolve(&self, values: &[f64]) -> Axis {
        self.resolve_with(|| estimate_cofactor(values))
    }

    /// [`AxisScale::resolve`] from values already sorted (finite, ascending
    /// by `f64::total_cmp`), so that the caller's sort serves the cofactor
    /// estimate too.
    pub fn resolve_sorted(&self, sorted: &[f64]) -> Axis {
        self.resolve_with(|| estimate_cofactor_sorted(sorted))
    }

    /// The axis, estimating the cofactor (`cofactor()`) only when the scale
    /// asks for it.
    fn resolve_with(&self, cofactor: impl FnOnce() -> f64) -> Axis {
        match *self {
            AxisScale::Linear => Axis::Linear,
            AxisScale::Arcsinh(c) if c > 0.0 => Axis::Arcsinh { cofactor: c },
            AxisScale::Arcsinh(_) | AxisScale::Auto => Axis::Arcsinh {
                cofactor: cofactor(),
            },
        }
    }
}

/// Maps sorted values (finite, ascending) to `axis` units in place; they
/// stay sorted, since the axis maps are monotone (re-sorted should rounding
/// ever disagree, so the result is always the sorted transformed values).
pub fn forward_sorted(axis: Axis, sorted: &mut [f64]) {
    if let Axis::Linear = axis {
        return;
    }
    match axis {
        // Sorted and finite: the extremes bound every |x / c|, so when they
        // are in the kernel's range the whole slice takes the
        // vectorisable loop.
        Axis::Arcsinh { cofactor }
            if sorted.first().zip(sorted.last()).is_some_and(|(a, b)| {
                (a / cofactor).abs() < 1e150 && (b / cofactor).abs() < 1e150
            }) =>
        {
            asinh_slice(sorted, cofactor);
        }
        _ => {
            for v in sorted.iter_mut() {
                *v = axis.forward(*v);
            }
        }
    }
    if !sorted.windows(2).all(|w| w[0] <= w[1]) {
        super::density::sort_total(sorted);
    }
}

crate::simd::multiversion! {
    /// `v[i] = asinh(v[i] / c)` for values whose |v / c| < 1e150, eight at
    /// a time with AVX-512 (four with AVX2) when the CPU has it: the same
    /// IEEE operations in every lane, so the same bits as [`asinh`] one by
    /// one.
    fn asinh_slice(v: &mut [f64], c: f64) {
        for x in v.iter_mut() {
            *x = asinh_kernel(*x / c);
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
    super::density::sort_total(&mut v);
    estimate_cofactor_sorted(&v)
}

/// [`estimate_cofactor`] of values already sorted (finite, ascending).
pub fn estimate_cofactor_sorted(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 1.0;
    }
    let top = quantile_sorted(v, 0.999).abs().max(f64::MIN_POSITIVE);
    let negatives = v.partition_point(|&x| x < 0.0);
    let c = if negatives >= 20.max(v.len() / 50) {
        let ms = super::density::sum4(&v[..negatives], |x| x * x) / negatives as f64;
        2.0 * ms.sqrt()
    } else {
        quantile_sorted(v, 0.05).abs()
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
    fn fast_asinh_agrees_with_std_and_is_monotone() {
        let mut prev = f64::NEG_INFINITY;
        let mut worst: f64 = 0.0;
        // Log-spaced magnitudes from 1e-12 to 1e12, both signs, plus the
        // branch points.
        let mut xs: Vec<f64> = (0..=24_000)
            .map(|i| 10f64.powf(-12.0 + i as f64 * 1e-3))
            .collect();
        xs.extend([0.125, 0.125 - 1e-17, 0.125 + 1e-16, 1e150, 1e151, 0.0]);
        xs.extend(xs.clone().iter().map(|x| -x));
        xs.sort_unstable_by(f64::total_cmp);
        for &x in &xs {
            let (got, want) = (asinh(x), x.asinh());
            let rel = if want == 0.0 {
                got.abs()
            } else {
                ((got - want) / want).abs()
            };
            worst = worst.max(rel);
            let at_branch = (x.abs() - 0.125).abs() < 1e-15;
            assert!(
                got >= prev || at_branch,
                "not monotone at {x}: {got} < {prev}"
            );
            prev = got;
        }
        assert!(worst < 2e-15, "worst relative error {worst:e}");
        // The logarithm on its own, across exponents and the fold at √2.
        let mut worst_ln: f64 = 0.0;
        for i in 0..200_000 {
            let z = 1.0 + (i as f64 * 1e-3).powi(3);
            for z in [
                z,
                std::f64::consts::SQRT_2 * (1.0 + (i as f64 - 1e5) * 1e-17),
            ] {
                if z >= 1.0 {
                    let (got, want) = (ln_kernel(z), z.ln());
                    worst_ln = worst_ln.max(((got - want) / want.max(1e-300)).abs());
                }
            }
        }
        assert!(
            worst_ln < 4.0 * f64::EPSILON,
            "ln worst relative error {worst_ln:e}"
        );
        assert_eq!(asinh(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(asinh(-0.0).to_bits(), (-0.0f64).to_bits());
        assert!(asinh(f64::NAN).is_nan());
        assert_eq!(asinh(f64::INFINITY), f64::INFINITY);
        // Sorted in, sorted out — even straddling the branch point.
        let a = Axis::Arcsinh { cofactor: 1.0 };
        let mut v: Vec<f64> = (-40..=40).map(|i| 0.125 + i as f64 * 1e-18).collect();
        v.extend([-3.0, 0.0, 1e6]);
        v.sort_unstable_by(f64::total_cmp);
        let mut want: Vec<f64> = v.iter().map(|&x| a.forward(x)).collect();
        want.sort_unstable_by(f64::total_cmp);
        forward_sorted(a, &mut v);
        assert_eq!(v, want);
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
