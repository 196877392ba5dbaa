//! Transforms: the maps from FCS-scale values to the display/gating scale.
//!
//! [`Transform`] is a closed enum (every transform nkflow knows, so a gating
//! strategy or pipeline definition can be serialised and compared), each
//! variant holding a parameter struct that validated its parameters and
//! precomputed its constants once. Per-event work is then a few flops, or for
//! logicle/hyperlog/biex a root solve.
//!
//! The maths follow Gating-ML 2.0 and flowutils exactly
//! (`shared/gatingml/SEMANTICS.md` §3); tests compare every transform with
//! flowutils/FlowKit to 1e-10·max(1, |ref|).
//!
//! Columns are transformed in place with [`Transform::apply_slice`], split
//! into fixed-size chunks that rayon maps in parallel. Every value is computed
//! by the same code whatever the chunking, so results are identical for any
//! thread count.
//!
//! ```
//! use nkflow::transform::{Logicle, Transform};
//! let t = Transform::Logicle(Logicle::new(262144.0, 0.5, 4.5, 0.0).unwrap());
//! let mut col = vec![-100.0, 0.0, 1000.0, 262144.0];
//! t.apply_slice(&mut col);
//! assert!((col[3] - 1.0).abs() < 1e-12);
//! t.inverse_slice(&mut col);
//! assert!((col[2] - 1000.0).abs() < 1e-9);
//! ```

mod biex;
mod estimate;
mod fast;
mod hyperlog;
mod logicle;
mod simple;
mod spec;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use biex::{Biex, BiexParams};
pub use estimate::{estimate_logicle, EstimatedLogicle};
pub use hyperlog::{Hyperlog, HyperlogParams};
pub use logicle::{Logicle, LogicleParams};
pub use simple::{Arcsinh, Fasinh, FasinhParams, Flin, Flog, Linear, Log, Ratio};
pub use spec::{Channels, SpecTransform, TransformSpec};

/// Errors from building or parsing a transform.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransformError {
    /// A parameter outside the transform's domain.
    #[error("{transform}: {reason}")]
    Parameter {
        transform: &'static str,
        reason: String,
    },
    /// A transform specification (`CHANNELS=KIND(PARAMS)`) that cannot be used.
    #[error("transform {spec:?}: {reason}")]
    Spec { spec: String, reason: String },
}

/// Every transform nkflow applies, with validated, precomputed parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Transform {
    /// y = slope·x + intercept (identity by default).
    Linear(Linear),
    /// y = log_base(x).
    Log(Log),
    /// y = asinh(x / cofactor).
    Arcsinh(Arcsinh),
    /// Logicle (T, W, M, A), Gating-ML 2.0 / flowutils.
    Logicle(Logicle),
    /// Hyperlog (T, W, M, A), Gating-ML 2.0 / flowutils.
    Hyperlog(Hyperlog),
    /// FlowJo biex (width, neg, pos, max_range) onto channels 0…4096.
    Biex(Biex),
    /// Gating-ML flin (T, A).
    Flin(Flin),
    /// Gating-ML flog (T, M).
    Flog(Flog),
    /// Gating-ML fasinh (T, M, A).
    Fasinh(Fasinh),
}

/// Slices at least this long are split across rayon; shorter ones are not
/// worth the fork/join.
const PARALLEL_MIN: usize = 1 << 15;
/// Chunk length for parallel application (fits L1/L2 comfortably).
const CHUNK: usize = 1 << 13;

/// Applies `f` to every value in place, in parallel chunks for long slices.
pub(crate) fn map_in_place<F: Fn(f64) -> f64 + Sync>(xs: &mut [f64], f: F) {
    if xs.len() < PARALLEL_MIN {
        xs.iter_mut().for_each(|v| *v = f(*v));
    } else {
        xs.par_chunks_mut(CHUNK)
            .for_each(|c| c.iter_mut().for_each(|v| *v = f(*v)));
    }
}

impl Transform {
    /// The kind, lower case, as on the command line and in serialised form.
    pub fn kind(&self) -> &'static str {
        match self {
            Transform::Linear(_) => "linear",
            Transform::Log(_) => "log",
            Transform::Arcsinh(_) => "arcsinh",
            Transform::Logicle(_) => "logicle",
            Transform::Hyperlog(_) => "hyperlog",
            Transform::Biex(_) => "biex",
            Transform::Flin(_) => "flin",
            Transform::Flog(_) => "flog",
            Transform::Fasinh(_) => "fasinh",
        }
    }

    /// The transformed value of one FCS-scale value.
    #[inline]
    pub fn apply(&self, x: f64) -> f64 {
        match self {
            Transform::Linear(t) => t.apply(x),
            Transform::Log(t) => t.apply(x),
            Transform::Arcsinh(t) => t.apply(x),
            Transform::Logicle(t) => t.apply(x),
            Transform::Hyperlog(t) => t.apply(x),
            Transform::Biex(t) => t.apply(x),
            Transform::Flin(t) => t.apply(x),
            Transform::Flog(t) => t.apply(x),
            Transform::Fasinh(t) => t.apply(x),
        }
    }

    /// The FCS-scale value of one transformed value.
    #[inline]
    pub fn inverse(&self, y: f64) -> f64 {
        match self {
            Transform::Linear(t) => t.inverse(y),
            Transform::Log(t) => t.inverse(y),
            Transform::Arcsinh(t) => t.inverse(y),
            Transform::Logicle(t) => t.inverse(y),
            Transform::Hyperlog(t) => t.inverse(y),
            Transform::Biex(t) => t.inverse(y),
            Transform::Flin(t) => t.inverse(y),
            Transform::Flog(t) => t.inverse(y),
            Transform::Fasinh(t) => t.inverse(y),
        }
    }

    /// Transforms a column in place. Same values as [`Transform::apply`]
    /// element by element, for any slice length and thread count.
    pub fn apply_slice(&self, xs: &mut [f64]) {
        match self {
            Transform::Linear(t) => map_in_place(xs, |x| t.apply(x)),
            Transform::Log(t) => map_in_place(xs, |x| t.apply(x)),
            Transform::Arcsinh(t) => map_in_place(xs, |x| t.apply(x)),
            Transform::Logicle(t) => t.apply_slice(xs),
            Transform::Hyperlog(t) => t.apply_slice(xs),
            Transform::Biex(t) => map_in_place(xs, |x| t.apply(x)),
            Transform::Flin(t) => map_in_place(xs, |x| t.apply(x)),
            Transform::Flog(t) => map_in_place(xs, |x| t.apply(x)),
            Transform::Fasinh(t) => map_in_place(xs, |x| t.apply(x)),
        }
    }

    /// Inverts a column in place (element-wise [`Transform::inverse`]).
    pub fn inverse_slice(&self, ys: &mut [f64]) {
        map_in_place(ys, |y| self.inverse(y));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_round_trip_keeps_parameters_and_validates() {
        let t = Transform::Logicle(Logicle::new(262144.0, 0.5, 4.5, 0.0).unwrap());
        let s = serde_json::to_string(&t).unwrap();
        assert_eq!(
            s,
            r#"{"kind":"logicle","t":262144.0,"w":0.5,"m":4.5,"a":0.0}"#
        );
        let back: Transform = serde_json::from_str(&s).unwrap();
        assert_eq!(back, t);
        let bad = r#"{"kind":"logicle","t":262144.0,"w":3.0,"m":4.5,"a":0.0}"#;
        assert!(serde_json::from_str::<Transform>(bad).is_err());
        let lin: Transform = serde_json::from_str(r#"{"kind":"linear"}"#).unwrap();
        assert_eq!(lin, Transform::Linear(Linear::identity()));
    }

    #[test]
    fn slice_matches_scalar_for_long_slices() {
        let t = Transform::Logicle(Logicle::new(262144.0, 0.5, 4.5, 0.0).unwrap());
        let xs: Vec<f64> = (0..100_000).map(|i| (i as f64 - 20_000.0) * 3.1).collect();
        let mut ys = xs.clone();
        t.apply_slice(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            assert_eq!(t.apply(*x).to_bits(), y.to_bits());
        }
    }
}
