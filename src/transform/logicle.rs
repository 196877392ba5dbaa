//! Logicle (Parks, Roederer & Moore 2006; Moore & Parks 2012), parametrised
//! as in Gating-ML 2.0 and flowutils: T (top of scale), W (linear width in
//! decades), M (decades), A (extra negative decades).
//!
//! logicle(x) is the y that solves B(y) = x with
//! B(y) = a·e^(b·y) − c·e^(−d·y) − f for y ≥ x1, reflected about x1 for
//! negative data (`logicle(−x) = 2·x1 − logicle(x)`), as the Moore–Parks
//! reference code and flowutils do. The constants are derived once in
//! [`Logicle::new`]; `shared/gatingml/SEMANTICS.md` §3 lists them.
//!
//! Near x1 the two exponentials cancel, so — like the reference code — B is
//! evaluated there by its Taylor series about x1, whose quadratic term is
//! exactly zero by the logicle condition.

use serde::{Deserialize, Serialize};

use super::fast::{check_twma, LazyTable, ReflectedRoot};
use super::TransformError;

const LN_10: f64 = std::f64::consts::LN_10;
/// Terms of the Taylor series of B about x1.
const TAYLOR_LENGTH: usize = 16;

/// The user-facing parameters (what is serialised).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogicleParams {
    pub t: f64,
    pub w: f64,
    pub m: f64,
    pub a: f64,
}

/// A logicle transform with its constants precomputed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "LogicleParams", try_from = "LogicleParams")]
pub struct Logicle {
    params: LogicleParams,
    /// Biexponential B(y) = a·e^(b·y) − c·e^(−d·y) − f (f as in SEMANTICS.md).
    pub(super) bx: Biexponential,
    /// Fast path (see `fast.rs`), built on first use.
    fast: LazyTable,
}

/// The constants of B and its series expansion about x1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Biexponential {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
    pub f: f64,
    /// Scale value of data 0.
    pub x1: f64,
    /// Below this scale value B is evaluated by its Taylor series.
    pub x_taylor: f64,
    /// `taylor[i]` is the coefficient of (y − x1)^(i+1).
    pub taylor: [f64; TAYLOR_LENGTH],
}

impl From<Logicle> for LogicleParams {
    fn from(l: Logicle) -> Self {
        l.params
    }
}

impl TryFrom<LogicleParams> for Logicle {
    type Error = TransformError;
    fn try_from(p: LogicleParams) -> Result<Self, Self::Error> {
        Logicle::new(p.t, p.w, p.m, p.a)
    }
}

impl Logicle {
    /// Validates the parameters and precomputes the constants.
    ///
    /// Rejects (as the Moore–Parks code does) T ≤ 0, W < 0, M ≤ 0, W > M/2,
    /// A < −W and A > M − 2W, and any non-finite value.
    pub fn new(t: f64, w: f64, m: f64, a: f64) -> Result<Logicle, TransformError> {
        check_twma("logicle", [t, w, m, a], true)?;
        let bad = |reason: String| TransformError::Parameter {
            transform: "logicle",
            reason,
        };
        let bx = Biexponential::logicle(t, w, m, a)
            .ok_or_else(|| bad(format!("no solution for d (T={t}, W={w}, M={m}, A={a})")))?;
        Ok(Logicle {
            params: LogicleParams { t, w, m, a },
            bx,
            fast: LazyTable::default(),
        })
    }

    /// The parameters as given.
    pub fn params(&self) -> LogicleParams {
        self.params
    }

    /// Scale value of data 0 (the reflection point).
    pub fn x1(&self) -> f64 {
        self.bx.x1
    }

    /// The scale value of `x`, solved to full double precision by Halley's
    /// method from a log/linear start, as the reference code does. ~100 ns;
    /// [`Logicle::apply`] gives the same values to ~1e-15 much faster.
    pub fn apply_exact(&self, x: f64) -> f64 {
        self.bx.solve(x)
    }

    /// The scale value of `x` (negatives by reflection about x1), from the
    /// precomputed table of `fast.rs` (built on first use, cached per
    /// parameter set): agrees with [`Logicle::apply_exact`] to ~1e-15.
    pub fn apply(&self, x: f64) -> f64 {
        self.apply_with(self.table(), x)
    }

    /// [`Logicle::apply`] over a slice (table looked up once).
    pub fn apply_slice(&self, xs: &mut [f64]) {
        self.apply_slice_fast(xs);
    }

    /// The data value at scale value `y`: B(y), reflected below x1.
    pub fn inverse(&self, y: f64) -> f64 {
        self.bx.eval_reflected(y)
    }
}

impl ReflectedRoot for Logicle {
    const NAME: &'static str = "logicle";
    fn twma(&self) -> [f64; 4] {
        let p = self.params;
        [p.t, p.w, p.m, p.a]
    }
    fn x1(&self) -> f64 {
        self.bx.x1
    }
    fn solve_positive(&self, value: f64) -> f64 {
        self.bx.solve_positive(value)
    }
    fn lazy_table(&self) -> &LazyTable {
        &self.fast
    }
}

impl Biexponential {
    fn logicle(t: f64, w_dec: f64, m: f64, a_dec: f64) -> Option<Biexponential> {
        let w = w_dec / (m + a_dec);
        let x2 = a_dec / (m + a_dec);
        let x1 = x2 + w;
        let x0 = x2 + 2.0 * w;
        let b = (m + a_dec) * LN_10;
        let d = solve_d(b, w)?;
        let c_a = (x0 * (b + d)).exp();
        let mf_a = (b * x1).exp() - c_a / (d * x1).exp();
        let a = t / (((b).exp() - mf_a) - c_a / d.exp());
        let c = c_a * a;
        let f = mf_a * a;
        let mut taylor = [0.0; TAYLOR_LENGTH];
        let mut pos = a * (b * x1).exp();
        let mut neg = -c / (d * x1).exp();
        for (i, coef) in taylor.iter_mut().enumerate() {
            pos *= b / (i as f64 + 1.0);
            neg *= -d / (i as f64 + 1.0);
            *coef = pos + neg;
        }
        // The logicle condition makes the quadratic term exactly zero.
        taylor[1] = 0.0;
        Some(Biexponential {
            a,
            b,
            c,
            d,
            f,
            x1,
            x_taylor: x1 + w / 4.0,
            taylor,
        })
    }

    /// The Taylor series of B about x1 (valid and accurate near x1).
    #[inline]
    pub fn series(&self, y: f64) -> f64 {
        let u = y - self.x1;
        let mut sum = self.taylor[TAYLOR_LENGTH - 1] * u;
        for i in (2..TAYLOR_LENGTH - 1).rev() {
            sum = (sum + self.taylor[i]) * u;
        }
        (sum * u + self.taylor[0]) * u
    }

    /// B(y) for y ≥ x1.
    #[inline]
    pub fn eval(&self, y: f64) -> f64 {
        if y < self.x_taylor {
            self.series(y)
        } else {
            (self.a * (self.b * y).exp() - self.f) - self.c * (-self.d * y).exp()
        }
    }

    /// B(y), reflected about x1 for y < x1 (the inverse transform).
    #[inline]
    pub fn eval_reflected(&self, y: f64) -> f64 {
        if y.is_nan() {
            return y;
        }
        if y < self.x1 {
            -self.eval(2.0 * self.x1 - y)
        } else {
            self.eval(y)
        }
    }

    /// The y ≥ x1 with B(y) = value, for value ≥ 0, by Halley's method.
    pub fn solve_positive(&self, value: f64) -> f64 {
        if value == 0.0 {
            return self.x1;
        }
        if value == f64::INFINITY {
            return value;
        }
        // Start on the linear part near 0, else on the logarithmic part.
        let mut y = if value < self.taylor[0] * (self.x_taylor - self.x1) {
            self.x1 + value / self.taylor[0]
        } else {
            (value / self.a).ln() / self.b
        };
        for _ in 0..40 {
            let ae = self.a * (self.b * y).exp();
            let ce = self.c * (-self.d * y).exp();
            let r = if y < self.x_taylor {
                self.series(y) - value
            } else {
                (ae - self.f) - (ce + value)
            };
            let d1 = self.b * ae + self.d * ce;
            let d2 = self.b * self.b * ae - self.d * self.d * ce;
            let delta = r / (d1 * (1.0 - r * d2 / (2.0 * d1 * d1)));
            y -= delta;
            if delta.abs() <= 3.0 * f64::EPSILON * y.abs().max(1.0) {
                break;
            }
        }
        y
    }

    /// The scale value of `x` (negatives by reflection about x1).
    #[inline]
    pub fn solve(&self, x: f64) -> f64 {
        if x.is_nan() {
            return x;
        }
        if x < 0.0 {
            2.0 * self.x1 - self.solve_positive(-x)
        } else {
            self.solve_positive(x)
        }
    }
}

/// Solves 2·(ln d − ln b) + w·(b + d) = 0 for d ∈ (0, b] by safeguarded
/// Newton (bisection when a step leaves the bracket), as the reference code.
fn solve_d(b: f64, w: f64) -> Option<f64> {
    if w == 0.0 {
        return Some(b);
    }
    let tolerance = 2.0 * b * f64::EPSILON;
    let (mut lo, mut hi) = (0.0_f64, b);
    let f_b = -2.0 * b.ln() + w * b;
    let mut d = (lo + hi) / 2.0;
    let mut last_delta = hi - lo;
    let mut f = 2.0 * d.ln() + w * d + f_b;
    let mut last_f = f64::NAN;
    for _ in 0..100 {
        let df = 2.0 / d + w;
        let delta;
        if ((d - hi) * df - f) * ((d - lo) * df - f) >= 0.0
            || (1.9 * f).abs() > (last_delta * df).abs()
        {
            delta = (hi - lo) / 2.0;
            d = lo + delta;
            if d == lo {
                return Some(d);
            }
        } else {
            delta = f / df;
            let prev = d;
            d -= delta;
            if d == prev {
                return Some(d);
            }
        }
        if delta.abs() < tolerance {
            return Some(d);
        }
        last_delta = delta;
        f = 2.0 * d.ln() + w * d + f_b;
        if f == 0.0 || f == last_f {
            return Some(d);
        }
        last_f = f;
        if f < 0.0 {
            lo = d;
        } else {
            hi = d;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_maps_to_x1_and_top_to_one() {
        let l = Logicle::new(262144.0, 0.5, 4.5, 0.0).unwrap();
        assert_eq!(l.apply(0.0), l.x1());
        assert!((l.apply(262144.0) - 1.0).abs() < 1e-14);
        assert!((l.inverse(1.0) - 262144.0).abs() < 1e-9);
    }

    #[test]
    fn negatives_reflect() {
        // SEMANTICS.md §3: FITC = −20.3 maps to −0.166 with T=1e4, W=0.5, M=4.5.
        let l = Logicle::new(1e4, 0.5, 4.5, 0.0).unwrap();
        let y = l.apply(-20.3);
        assert!((y - (-0.166)).abs() < 5e-4, "{y}");
        assert!((2.0 * l.x1() - l.apply(20.3) - y).abs() < 1e-15);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Logicle::new(0.0, 0.5, 4.5, 0.0).is_err());
        assert!(Logicle::new(1e4, 3.0, 4.5, 0.0).is_err());
        assert!(Logicle::new(1e4, 0.5, 4.5, -1.0).is_err());
        assert!(Logicle::new(1e4, 0.5, f64::NAN, 0.0).is_err());
    }
}
