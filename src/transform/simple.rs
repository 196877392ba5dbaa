//! The closed-form transforms: linear, log, arcsinh (cofactor), the Gating-ML
//! 2.0 `flin`, `flog`, `fasinh`, and the two-input `fratio`.
//!
//! Each struct keeps its parameters (what is serialised) and the constants
//! derived from them, so that the per-event work is one or two flops and one
//! library call.

use serde::{Deserialize, Serialize};

use super::TransformError;

const LN_10: f64 = std::f64::consts::LN_10;

fn finite(transform: &'static str, what: &str, v: f64) -> Result<f64, TransformError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(TransformError::Parameter {
            transform,
            reason: format!("{what} must be a finite number ({what}={v})"),
        })
    }
}

fn positive(transform: &'static str, what: &str, v: f64) -> Result<f64, TransformError> {
    let v = finite(transform, what, v)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(TransformError::Parameter {
            transform,
            reason: format!("{what} must be > 0 ({what}={v})"),
        })
    }
}

/// y = slope·x + intercept (flowCore's `linearTransform`); the default is the
/// identity, which is what `FSC-A=linear` asks for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "LinearParams")]
pub struct Linear {
    pub slope: f64,
    pub intercept: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinearParams {
    #[serde(default = "one")]
    slope: f64,
    #[serde(default)]
    intercept: f64,
}

fn one() -> f64 {
    1.0
}

impl TryFrom<LinearParams> for Linear {
    type Error = TransformError;
    fn try_from(p: LinearParams) -> Result<Self, Self::Error> {
        Linear::new(p.slope, p.intercept)
    }
}

impl Linear {
    /// Rejects a zero or non-finite slope (no inverse) and a non-finite intercept.
    pub fn new(slope: f64, intercept: f64) -> Result<Linear, TransformError> {
        let slope = finite("linear", "slope", slope)?;
        if slope == 0.0 {
            return Err(TransformError::Parameter {
                transform: "linear",
                reason: "slope must not be 0 (the transform would have no inverse)".into(),
            });
        }
        let intercept = finite("linear", "intercept", intercept)?;
        Ok(Linear { slope, intercept })
    }

    /// The identity.
    pub fn identity() -> Linear {
        Linear {
            slope: 1.0,
            intercept: 0.0,
        }
    }

    #[inline]
    pub fn apply(&self, x: f64) -> f64 {
        self.slope * x + self.intercept
    }

    #[inline]
    pub fn inverse(&self, y: f64) -> f64 {
        (y - self.intercept) / self.slope
    }
}

/// y = log_base(x); NaN for x < 0 and −∞ at 0 (no event falls in a gate there).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "LogParams")]
pub struct Log {
    pub base: f64,
    #[serde(skip)]
    ln_base: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogParams {
    #[serde(default = "ten")]
    base: f64,
}

fn ten() -> f64 {
    10.0
}

impl TryFrom<LogParams> for Log {
    type Error = TransformError;
    fn try_from(p: LogParams) -> Result<Self, Self::Error> {
        Log::new(p.base)
    }
}

impl Log {
    /// Requires base > 0 and ≠ 1.
    pub fn new(base: f64) -> Result<Log, TransformError> {
        let base = positive("log", "base", base)?;
        if base == 1.0 {
            return Err(TransformError::Parameter {
                transform: "log",
                reason: "base must not be 1".into(),
            });
        }
        Ok(Log {
            base,
            ln_base: base.ln(),
        })
    }

    #[inline]
    pub fn apply(&self, x: f64) -> f64 {
        if self.base == 10.0 {
            x.log10()
        } else {
            x.ln() / self.ln_base
        }
    }

    #[inline]
    pub fn inverse(&self, y: f64) -> f64 {
        if self.base == 10.0 {
            10f64.powf(y)
        } else {
            (y * self.ln_base).exp()
        }
    }
}

/// y = asinh(x / cofactor), the usual cytometry arcsinh (cofactor 5 for
/// CyTOF, 150 or so for fluorescence).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "ArcsinhParams")]
pub struct Arcsinh {
    pub cofactor: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArcsinhParams {
    cofactor: f64,
}

impl TryFrom<ArcsinhParams> for Arcsinh {
    type Error = TransformError;
    fn try_from(p: ArcsinhParams) -> Result<Self, Self::Error> {
        Arcsinh::new(p.cofactor)
    }
}

impl Arcsinh {
    /// Requires cofactor > 0.
    pub fn new(cofactor: f64) -> Result<Arcsinh, TransformError> {
        Ok(Arcsinh {
            cofactor: positive("arcsinh", "cofactor", cofactor)?,
        })
    }

    #[inline]
    pub fn apply(&self, x: f64) -> f64 {
        (x / self.cofactor).asinh()
    }

    #[inline]
    pub fn inverse(&self, y: f64) -> f64 {
        y.sinh() * self.cofactor
    }
}

/// Gating-ML `flin`: y = (x + A) / (T + A).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "FlinParams")]
pub struct Flin {
    pub t: f64,
    pub a: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlinParams {
    t: f64,
    #[serde(default)]
    a: f64,
}

impl TryFrom<FlinParams> for Flin {
    type Error = TransformError;
    fn try_from(p: FlinParams) -> Result<Self, Self::Error> {
        Flin::new(p.t, p.a)
    }
}

impl Flin {
    /// Requires T > 0, A ≥ 0 (Gating-ML), finite.
    pub fn new(t: f64, a: f64) -> Result<Flin, TransformError> {
        let t = positive("flin", "T", t)?;
        let a = finite("flin", "A", a)?;
        if a < 0.0 {
            return Err(TransformError::Parameter {
                transform: "flin",
                reason: format!("A must be ≥ 0 (A={a})"),
            });
        }
        Ok(Flin { t, a })
    }

    #[inline]
    pub fn apply(&self, x: f64) -> f64 {
        (x + self.a) / (self.t + self.a)
    }

    #[inline]
    pub fn inverse(&self, y: f64) -> f64 {
        y * (self.t + self.a) - self.a
    }
}

/// Gating-ML `flog`: y = 1 + log10(x / T) / M (NaN for x < 0, −∞ at 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "FlogParams")]
pub struct Flog {
    pub t: f64,
    pub m: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlogParams {
    t: f64,
    m: f64,
}

impl TryFrom<FlogParams> for Flog {
    type Error = TransformError;
    fn try_from(p: FlogParams) -> Result<Self, Self::Error> {
        Flog::new(p.t, p.m)
    }
}

impl Flog {
    /// Requires T > 0 and M > 0.
    pub fn new(t: f64, m: f64) -> Result<Flog, TransformError> {
        Ok(Flog {
            t: positive("flog", "T", t)?,
            m: positive("flog", "M", m)?,
        })
    }

    #[inline]
    pub fn apply(&self, x: f64) -> f64 {
        // Same operation order as flowutils: (1/M)·log10(x/T) + 1.
        (1.0 / self.m) * (x / self.t).log10() + 1.0
    }

    #[inline]
    pub fn inverse(&self, y: f64) -> f64 {
        self.t * 10f64.powf((y - 1.0) * self.m)
    }
}

/// Gating-ML `fasinh`: y = (asinh(x·sinh(M·ln10)/T) + A·ln10) / ((M + A)·ln10).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(into = "FasinhParams", try_from = "FasinhParams")]
pub struct Fasinh {
    params: FasinhParams,
    pre_scale: f64,
    transpose: f64,
    divisor: f64,
}

/// The parameters of [`Fasinh`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FasinhParams {
    pub t: f64,
    pub m: f64,
    pub a: f64,
}

impl From<Fasinh> for FasinhParams {
    fn from(f: Fasinh) -> Self {
        f.params
    }
}

impl TryFrom<FasinhParams> for Fasinh {
    type Error = TransformError;
    fn try_from(p: FasinhParams) -> Result<Self, Self::Error> {
        Fasinh::new(p.t, p.m, p.a)
    }
}

impl Fasinh {
    /// Requires T > 0, M > 0, 0 ≤ A ≤ M (Gating-ML 2.0), finite.
    pub fn new(t: f64, m: f64, a: f64) -> Result<Fasinh, TransformError> {
        let t = positive("fasinh", "T", t)?;
        let m = positive("fasinh", "M", m)?;
        let a = finite("fasinh", "A", a)?;
        if !(0.0..=m).contains(&a) {
            return Err(TransformError::Parameter {
                transform: "fasinh",
                reason: format!("A must lie in [0, M] (A={a}, M={m})"),
            });
        }
        Ok(Fasinh {
            params: FasinhParams { t, m, a },
            pre_scale: (m * LN_10).sinh() / t,
            transpose: a * LN_10,
            divisor: (m + a) * LN_10,
        })
    }

    /// The parameters as given.
    pub fn params(&self) -> FasinhParams {
        self.params
    }

    #[inline]
    pub fn apply(&self, x: f64) -> f64 {
        ((x * self.pre_scale).asinh() + self.transpose) / self.divisor
    }

    #[inline]
    pub fn inverse(&self, y: f64) -> f64 {
        (y * self.divisor - self.transpose).sinh() / self.pre_scale
    }
}

/// Gating-ML `fratio`: A·(x − B)/(y − C), a new dimension from two inputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ratio {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

impl Ratio {
    /// Requires finite A, B, C and A ≠ 0.
    pub fn new(a: f64, b: f64, c: f64) -> Result<Ratio, TransformError> {
        let a = finite("fratio", "A", a)?;
        if a == 0.0 {
            return Err(TransformError::Parameter {
                transform: "fratio",
                reason: "A must not be 0".into(),
            });
        }
        Ok(Ratio {
            a,
            b: finite("fratio", "B", b)?,
            c: finite("fratio", "C", c)?,
        })
    }

    /// A·(x − B)/(y − C); ±∞ or NaN when y = C.
    #[inline]
    pub fn apply(&self, x: f64, y: f64) -> f64 {
        self.a * (x - self.b) / (y - self.c)
    }

    /// Writes the ratio of two columns into `out` (all of equal length;
    /// extra values in the longer slices are ignored).
    pub fn apply_columns(&self, x: &[f64], y: &[f64], out: &mut [f64]) {
        for ((o, &xv), &yv) in out.iter_mut().zip(x).zip(y) {
            *o = self.apply(xv, yv);
        }
    }
}
