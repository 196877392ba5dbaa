//! nkflow: a flow-cytometry pipeline from FCS exports to per-sample NK-cell tables.
//!
//! The crate is laid out as the data flows:
//!
//! ```text
//! fcs (reader/writer) → Sample { keywords, channels, EventMatrix }
//!   → compensation (spillover Matrix) → transform (logicle, arcsinh, …)
//!   → gating (gates, GatingStrategy, GatingResults) ← gatingml / flowjo import
//!   → cluster (FlowSOM) → pipeline (presets, batch runner, outputs) → report
//! ```
//!
//! One [`EventMatrix`] (events × channels, `f64`, column-major, names kept) flows
//! through every stage; stages take what they need and return what they produce.

pub mod cli;
pub mod cluster;
pub mod compensation;
pub mod error;
pub mod fcs;
pub mod flowjo;
pub mod gating;
pub mod gatingml;
pub mod matrix;
pub mod pipeline;
pub mod report;
pub mod sample;
pub mod simd;
pub mod simulate;
pub mod transform;

pub use error::{Error, Result};
pub use matrix::EventMatrix;
pub use sample::{Channel, Keywords, Sample};
