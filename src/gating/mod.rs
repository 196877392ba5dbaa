//! The gating engine: gates, the gate tree ([`GatingStrategy`]) and what
//! evaluating it on a sample gives ([`GatingResults`]).
//!
//! Vocabulary and semantics follow FlowKit and Gating-ML 2.0
//! (`shared/gatingml/SEMANTICS.md`):
//! - a **gate** tests events in its dimensions; each dimension reads a channel
//!   (or a ratio of two) through its own compensation and transform;
//! - a **population** is what a gate selects together with its parent chain:
//!   `membership(g) = own_test(g) ∧ membership(parent(g))`. A quadrant gate
//!   defines one population per quadrant; its own id names none;
//! - a **Boolean** gate combines the *full* populations of the gates it
//!   refers to, and its own parent applies on top.
//!
//! Evaluation computes every distinct (compensation, channel, transform)
//! column once and shares it between gates, writes membership as bitsets,
//! and splits large files into event chunks over rayon. Every event's result
//! depends only on that event, so output is identical for any thread count.

mod bitset;
mod eval;
mod gate;
pub(crate) mod geometry;
mod results;
mod strategy;

pub use bitset::Bitset;
pub use eval::boolean_test;
pub use gate::{
    BoolOp, CompensationRef, Dimension, DimensionSource, Divider, Gate, GateKind, Operand,
    Quadrant, RangeDimension,
};
pub use results::{GatingResults, PopulationResult};
pub use strategy::{GatingStrategy, TransformDef, TransformKind};

/// Errors from building or evaluating a gating strategy. Each names the gate
/// (or transform/matrix) id and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum GatingError {
    /// The gate's own definition is inconsistent.
    #[error("gate {gate}: {reason}")]
    InvalidGate { gate: String, reason: String },
    /// Two gates or populations share an id.
    #[error("duplicate id {id:?}: gate and population ids must be unique")]
    DuplicateId { id: String },
    /// A transform or matrix id used twice.
    #[error("duplicate {what} id {id:?}")]
    DuplicateDefinition { what: &'static str, id: String },
    /// `parent_id` names no population.
    #[error("gate {gate}: parent {parent:?} is not defined")]
    MissingParent { gate: String, parent: String },
    /// A Boolean operand names no population.
    #[error("gate {gate}: Boolean operand {reference:?} is not defined")]
    MissingReference { gate: String, reference: String },
    /// Parents and Boolean references loop back.
    #[error("gate {gate}: its parents and Boolean references form a cycle: {path}")]
    Cycle { gate: String, path: String },
    /// A dimension's transform id is not defined.
    #[error("gate {gate}: transform {transform:?} is not defined")]
    UnknownTransform { gate: String, transform: String },
    /// A ratio dimension names a transform that is not an `fratio`.
    #[error("gate {gate}: new-dimension {transform:?} is not an fratio transform")]
    NotARatio { gate: String, transform: String },
    /// A dimension's compensation matrix id is not defined.
    #[error("gate {gate}: compensation matrix {matrix:?} is not defined")]
    UnknownMatrix { gate: String, matrix: String },
    /// A dimension's channel is not in the data (after its compensation).
    #[error("gate {gate}: channel {channel:?} (compensation {compensation}) is not in the data; channels: {available}")]
    UnknownChannel {
        gate: String,
        channel: String,
        compensation: String,
        available: String,
    },
    /// Compensating with a matrix failed.
    #[error("compensation {matrix}: {source}")]
    Compensation {
        matrix: String,
        #[source]
        source: crate::compensation::CompensationError,
    },
    /// The file's spillover keyword could not be turned into a matrix.
    #[error("{file}: spillover keyword: {source}")]
    Spillover {
        file: String,
        #[source]
        source: crate::compensation::CompensationError,
    },
}
