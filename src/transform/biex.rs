//! FlowJo's `biex` transform (FlowJo 10 workspaces: `transforms:biex` with
//! width, neg, pos, maxRange). It is FlowJo's own logicle variant, defined by
//! a lookup table: 4,097 data values, one per display channel 0…4096, and
//! linear interpolation between them (clamped to the table's ends). FlowJo
//! exports such tables (`shared/flowjo/flowjo_xforms/`); FlowKit rebuilds them
//! from the parameters (after cytolib, itself after FlowJo's Java code).
//!
//! How the table is built (`width` is FlowJo's negative "width basis"):
//! - w = log10(−width); decades = pos − w/2; extra = max(neg, 0) + w/2;
//! - zero = ⌊min(extra·R/(extra + decades), R/2)⌋ with R = 4096 channels,
//!   and, when zero > 0, decades = extra·R/zero; w ← w/(2·decades);
//! - p = decades·ln10, and d solves 2·ln(d/p) + w·(p + d) = 0 (the logicle
//!   equation, d ≤ p);
//! - for channel i: value = min·(e^(i/(R+1)·p) − s·e^(−i/(R+1)·d) − c), with
//!   min = maxRange/e^p, s = e^((p + d)·(w + extra/decades)) and c chosen so
//!   that channel `zero` maps to 0; channels below `zero` mirror those above.

use serde::{Deserialize, Serialize};

use super::TransformError;

/// FlowJo's biex display range: channels 0…4096.
const CHANNEL_RANGE: usize = 4096;

/// The parameters of [`Biex`] (FlowJo names).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BiexParams {
    /// Width basis, negative (FlowJo default −10).
    pub width: f64,
    /// Extra negative decades (default 0).
    pub neg: f64,
    /// Positive decades (default 4.41854).
    pub pos: f64,
    /// Top of the data range (default 262144.000029).
    pub max_range: f64,
}

/// FlowJo biex: data → display channel 0…4096 by table interpolation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "BiexParams", try_from = "BiexParams")]
pub struct Biex {
    params: BiexParams,
    /// Data value at channel i (increasing).
    lut: Vec<f64>,
}

impl From<Biex> for BiexParams {
    fn from(b: Biex) -> Self {
        b.params
    }
}

impl TryFrom<BiexParams> for Biex {
    type Error = TransformError;
    fn try_from(p: BiexParams) -> Result<Self, Self::Error> {
        Biex::new(p.width, p.neg, p.pos, p.max_range)
    }
}

impl Biex {
    /// Builds the table. Requires width ≤ −1 (FlowJo's width basis is
    /// negative; log10(−width) is the linear width in decades), neg ≥ 0,
    /// pos > log10(−width)/2 and max_range > 0, all finite.
    pub fn new(width: f64, neg: f64, pos: f64, max_range: f64) -> Result<Biex, TransformError> {
        let bad = |reason: String| TransformError::Parameter {
            transform: "biex",
            reason,
        };
        if ![width, neg, pos, max_range].iter().all(|v| v.is_finite()) {
            return Err(bad(format!(
                "parameters must be finite (width={width}, neg={neg}, pos={pos}, max_range={max_range})"
            )));
        }
        if width > -1.0 {
            return Err(bad(format!(
                "width (FlowJo's width basis) must be ≤ −1 (width={width})"
            )));
        }
        if neg < 0.0 {
            return Err(bad(format!("neg must be ≥ 0 (neg={neg})")));
        }
        if max_range <= 0.0 {
            return Err(bad(format!(
                "max_range must be > 0 (max_range={max_range})"
            )));
        }
        let w_dec = (-width).log10();
        if pos <= w_dec / 2.0 {
            return Err(bad(format!(
                "pos must exceed log10(−width)/2 = {} (pos={pos})",
                w_dec / 2.0
            )));
        }
        let lut = build_lut(w_dec, neg, pos, max_range)
            .ok_or_else(|| bad(format!("no table for width={width}, neg={neg}, pos={pos}")))?;
        Ok(Biex {
            params: BiexParams {
                width,
                neg,
                pos,
                max_range,
            },
            lut,
        })
    }

    /// The parameters as given.
    pub fn params(&self) -> BiexParams {
        self.params
    }

    /// The data value at each display channel 0…4096.
    pub fn table(&self) -> &[f64] {
        &self.lut
    }

    /// Display channel (0…4096) of data value `x`, clamped at the ends.
    pub fn apply(&self, x: f64) -> f64 {
        interpolate(&self.lut, x, |i| i as f64)
    }

    /// Data value at display channel `y`, clamped to the table's data range.
    pub fn inverse(&self, y: f64) -> f64 {
        if y.is_nan() {
            return y;
        }
        let n = self.lut.len();
        let (first, last) = match (self.lut.first(), self.lut.last()) {
            (Some(&f), Some(&l)) => (f, l),
            _ => return f64::NAN,
        };
        if y < 0.0 {
            return first;
        }
        if y > (n - 1) as f64 {
            return last;
        }
        // Channels are the integers 0…n−1: the bracket is ⌊y⌋, as a search
        // with numpy's side='left' finds it (an exact integer uses the
        // interval below it).
        let hi = (y.ceil() as usize).clamp(1, n - 1);
        let lo = hi - 1;
        let (x_lo, x_hi) = (self.lut[lo], self.lut[hi]);
        let slope = (x_hi - x_lo) / (hi as f64 - lo as f64);
        slope * (y - lo as f64) + x_lo
    }
}

/// Linear interpolation of a table (xs increasing, y = g(index)) as
/// `scipy.interpolate.interp1d(kind='linear')` computes it: bracket by
/// binary search (side='left'), then y_lo + slope·(x − x_lo); values outside
/// the table take the end values.
fn interpolate(xs: &[f64], x: f64, g: impl Fn(usize) -> f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let n = xs.len();
    let (Some(&first), Some(&last)) = (xs.first(), xs.last()) else {
        return f64::NAN;
    };
    if n < 2 {
        return g(0);
    }
    if x < first {
        return g(0);
    }
    if x > last {
        return g(n - 1);
    }
    let hi = xs.partition_point(|&v| v < x).clamp(1, n - 1);
    let lo = hi - 1;
    let slope = (g(hi) - g(lo)) / (xs[hi] - xs[lo]);
    slope * (x - xs[lo]) + g(lo)
}

/// The 4,097-entry table (see the module docs).
fn build_lut(w_dec: f64, neg: f64, pos: f64, max_range: f64) -> Option<Vec<f64>> {
    let r = CHANNEL_RANGE as f64;
    let mut decades = pos - w_dec / 2.0;
    let extra = neg.max(0.0) + w_dec / 2.0;
    let zero = ((extra * r / (extra + decades)).trunc())
        .min(r / 2.0)
        .trunc();
    if !(0.0..=r / 2.0).contains(&zero) {
        return None;
    }
    let zero = zero as usize;
    if zero > 0 {
        decades = extra * r / zero as f64;
    }
    let width = w_dec / (2.0 * decades);
    let positive_range = std::f64::consts::LN_10 * decades;
    let minimum = max_range / positive_range.exp();
    let negative_range = solve_root(positive_range, width)?;
    let n_points = CHANNEL_RANGE + 1;
    let s = ((positive_range + negative_range) * (width + extra / decades)).exp();
    let pos_at = |i: usize| (i as f64 / n_points as f64 * positive_range).exp();
    let neg_at = |i: usize| (i as f64 / n_points as f64 * -negative_range).exp() * s;
    let shift = pos_at(zero) - neg_at(zero);
    let mut lut = vec![0.0; n_points];
    for (i, v) in lut.iter_mut().enumerate().skip(zero) {
        *v = minimum * ((pos_at(i) - neg_at(i)) - shift);
    }
    for i in 0..zero {
        let mirror = 2 * zero - i;
        lut[i] = -lut.get(mirror).copied()?;
    }
    if lut.windows(2).any(|p| p[1] < p[0]) || lut.iter().any(|v| !v.is_finite()) {
        return None;
    }
    Some(lut)
}

/// The d ∈ (0, b] with 2·ln(d/b) + w·(b + d) = 0, to full precision.
fn solve_root(b: f64, w: f64) -> Option<f64> {
    if w == 0.0 {
        return Some(b);
    }
    // g is increasing in d, negative near 0 and g(b) = 2·w·b ≥ 0: bisect to
    // a bracket of a few ulps, polishing with Newton steps inside it.
    let g = |d: f64| 2.0 * (d.ln() - b.ln()) + w * (b + d);
    let (mut lo, mut hi) = (0.0_f64, b);
    let mut d = b / 2.0;
    for _ in 0..200 {
        let gd = g(d);
        if gd < 0.0 {
            lo = d;
        } else {
            hi = d;
        }
        let newton = d - gd / (2.0 / d + w);
        let next = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if next == d || hi - lo <= 2.0 * f64::EPSILON * hi {
            return Some(next);
        }
        d = next;
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_monotonic_and_zero_at_zero_point() {
        let b = Biex::new(-10.0, 0.0, 4.41854, 262144.000029).unwrap();
        assert_eq!(b.table().len(), 4097);
        assert!(b.apply(0.0) > 0.0);
        assert!((b.inverse(b.apply(1234.5)) - 1234.5).abs() < 1e-9 * 1234.5);
        assert_eq!(b.apply(1e12), 4096.0);
    }

    #[test]
    fn rejects_positive_width() {
        assert!(Biex::new(10.0, 0.0, 4.4, 262144.0).is_err());
    }
}
