//! Hyperlog (Bagwell 2005), parametrised as in Gating-ML 2.0 and flowutils:
//! T, W, M, A as for logicle.
//!
//! hyperlog(x) is the y that solves EH(y) = x with EH(y) = a·e^(b·y) + c·y − f
//! for y ≥ x1, reflected about x1 for negative data. The reflection matters:
//! the Gating-ML case ScalePar1 gets 26 events wrong without it
//! (`shared/gatingml/SEMANTICS.md` §3).

use serde::{Deserialize, Serialize};

use super::fast::{check_twma, LazyTable, ReflectedRoot};
use super::TransformError;

const LN_10: f64 = std::f64::consts::LN_10;
const TAYLOR_LENGTH: usize = 16;

/// The user-facing parameters (what is serialised).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HyperlogParams {
    pub t: f64,
    pub w: f64,
    pub m: f64,
    pub a: f64,
}

/// A hyperlog transform with its constants precomputed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "HyperlogParams", try_from = "HyperlogParams")]
pub struct Hyperlog {
    params: HyperlogParams,
    a: f64,
    b: f64,
    c: f64,
    f: f64,
    x1: f64,
    x_taylor: f64,
    taylor: [f64; TAYLOR_LENGTH],
    /// Fast path (see `fast.rs`), built on first use.
    fast: LazyTable,
}

impl From<Hyperlog> for HyperlogParams {
    fn from(h: Hyperlog) -> Self {
        h.params
    }
}

impl TryFrom<HyperlogParams> for Hyperlog {
    type Error = TransformError;
    fn try_from(p: HyperlogParams) -> Result<Self, Self::Error> {
        Hyperlog::new(p.t, p.w, p.m, p.a)
    }
}

impl Hyperlog {
    /// Validates the parameters and precomputes the constants: T > 0, M > 0,
    /// 0 < W ≤ M/2, −W ≤ A ≤ M − 2W, all finite.
    pub fn new(t: f64, w: f64, m: f64, a: f64) -> Result<Hyperlog, TransformError> {
        check_twma("hyperlog", [t, w, m, a], false)?;
        let w_s = w / (m + a);
        let x2 = a / (m + a);
        let x1 = x2 + w_s;
        let x0 = x2 + 2.0 * w_s;
        let b = (m + a) * LN_10;
        let c_a = (b * x0).exp() / w_s;
        let f_a = (b * x1).exp() + c_a * x1;
        let a_coef = t / ((b.exp() + c_a) - f_a);
        let c = c_a * a_coef;
        let f = f_a * a_coef;
        let mut taylor = [0.0; TAYLOR_LENGTH];
        let mut pos = a_coef * (b * x1).exp();
        for (i, coef) in taylor.iter_mut().enumerate() {
            pos *= b / (i as f64 + 1.0);
            *coef = pos;
        }
        taylor[0] += c;
        Ok(Hyperlog {
            params: HyperlogParams { t, w, m, a },
            a: a_coef,
            b,
            c,
            f,
            x1,
            x_taylor: x1 + w_s / 4.0,
            taylor,
            fast: LazyTable::default(),
        })
    }

    /// The parameters as given.
    pub fn params(&self) -> HyperlogParams {
        self.params
    }

    /// Scale value of data 0 (the reflection point).
    pub fn x1(&self) -> f64 {
        self.x1
    }

    #[inline]
    fn series(&self, y: f64) -> f64 {
        let u = y - self.x1;
        let mut sum = self.taylor[TAYLOR_LENGTH - 1] * u;
        for i in (0..TAYLOR_LENGTH - 1).rev() {
            sum = (sum + self.taylor[i]) * u;
        }
        sum
    }

    /// EH(y) for y ≥ x1 (series near x1, where the terms cancel).
    #[inline]
    fn eval(&self, y: f64) -> f64 {
        if y < self.x_taylor {
            self.series(y)
        } else {
            (self.a * (self.b * y).exp() + self.c * y) - self.f
        }
    }

    /// The data value at scale value `y` (reflected below x1).
    pub fn inverse(&self, y: f64) -> f64 {
        if y.is_nan() {
            return y;
        }
        if y < self.x1 {
            -self.eval(2.0 * self.x1 - y)
        } else {
            self.eval(y)
        }
    }

    fn solve_positive(&self, value: f64) -> f64 {
        if value == 0.0 {
            return self.x1;
        }
        if value == f64::INFINITY {
            return value;
        }
        let mut y = if value < self.taylor[0] * (self.x_taylor - self.x1) {
            self.x1 + value / self.taylor[0]
        } else {
            // EH is above both a·e^(b·y) − f and c·y − f: the larger
            // root of the two is a start from below-right of the root.
            let log_start = ((value + self.f) / self.a).ln() / self.b;
            log_start.max(self.x1)
        };
        for _ in 0..60 {
            let ae = self.a * (self.b * y).exp();
            let r = if y < self.x_taylor {
                self.series(y) - value
            } else {
                (ae + self.c * y) - (self.f + value)
            };
            let d1 = self.b * ae + self.c;
            let d2 = self.b * self.b * ae;
            let delta = r / (d1 * (1.0 - r * d2 / (2.0 * d1 * d1)));
            y -= delta;
            if delta.abs() <= 3.0 * f64::EPSILON * y.abs().max(1.0) {
                break;
            }
        }
        y
    }

    /// The scale value of `x` by Halley's method to full double precision
    /// (the reference; [`Hyperlog::apply`] is the fast equivalent).
    pub fn apply_exact(&self, x: f64) -> f64 {
        if x.is_nan() {
            return x;
        }
        if x < 0.0 {
            2.0 * self.x1 - self.solve_positive(-x)
        } else {
            self.solve_positive(x)
        }
    }

    /// The scale value of `x` (negatives by reflection about x1), from the
    /// cached table of `fast.rs`: agrees with [`Hyperlog::apply_exact`] to ~1e-15.
    pub fn apply(&self, x: f64) -> f64 {
        self.apply_with(self.table(), x)
    }

    /// [`Hyperlog::apply`] over a slice (table looked up once).
    pub fn apply_slice(&self, xs: &mut [f64]) {
        self.apply_slice_fast(xs);
    }
}

impl ReflectedRoot for Hyperlog {
    const NAME: &'static str = "hyperlog";
    fn twma(&self) -> [f64; 4] {
        let p = self.params;
        [p.t, p.w, p.m, p.a]
    }
    fn x1(&self) -> f64 {
        self.x1
    }
    fn solve_positive(&self, value: f64) -> f64 {
        Hyperlog::solve_positive(self, value)
    }
    fn lazy_table(&self) -> &LazyTable {
        &self.fast
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_round_trip() {
        let h = Hyperlog::new(262144.0, 0.5, 4.5, 0.0).unwrap();
        assert_eq!(h.apply(0.0), h.x1());
        assert!((h.apply(262144.0) - 1.0).abs() < 1e-14);
        for x in [-5000.0, -3.0, 0.1, 7.0, 1234.5, 1e5, 1e7] {
            let y = h.apply(x);
            assert!((h.inverse(y) - x).abs() <= 1e-10 * x.abs().max(1.0), "{x}");
        }
    }

    #[test]
    fn rejects_zero_width() {
        assert!(Hyperlog::new(1e4, 0.0, 4.5, 0.0).is_err());
    }
}
