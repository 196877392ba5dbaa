//! FlowJo 10 workspaces (`.wsp`): read the gating a lab designed in FlowJo
//! and evaluate it with nkflow's gating engine, so that the counts can be
//! checked against the ones FlowJo saved.
//!
//! - [`parse`] reads the XML into the [`model`] (groups, samples, spillover
//!   matrices, per-channel transforms, the population tree, FlowJo's saved
//!   counts). Anything it cannot use becomes a warning naming the element.
//!
//! # How FlowJo differs from Gating-ML 2.0
//!
//! FlowJo writes its gates with the Gating-ML 2.0 namespaces, but the same
//! elements mean different things. Each difference below is handled here:
//!
//! 1. **No compensation or transformation references on gate dimensions.**
//!    A dimension names a FlowJo channel. Compensated channels carry the
//!    matrix's `prefix`/`suffix` ("Comp-FITC-A"); the sample's one
//!    `spilloverMatrix` says which detectors that is. Transforms are per
//!    sample and per channel in `Sample/Transformations`, not referenced by id.
//! 2. **Rectangle limits are data units**, even when the gate was drawn on a
//!    biex or arcsinh axis; the test is `min ≤ x < max` on the (compensated)
//!    values, like Gating-ML's half-open rule. Quadrants are saved as four
//!    one-sided rectangles, so the same rule makes them partition the parent.
//! 3. **Polygon vertices are data units but the edges are straight on the
//!    display axes**: the polygon is evaluated after the channel transforms
//!    (vertices mapped through the same transforms).
//! 4. **Ellipses are two foci and four edge points in the 256×256 display
//!    space** (after the channel transform, scaled to 0…256), not a mean and
//!    covariance.
//! 5. **`eventsInside="0"`** makes the population the gate's complement
//!    (within the parent).
//! 6. **Boolean populations** are `AndNode`/`OrNode`/`NotNode` siblings of the
//!    populations, referring to other populations by path; their result is
//!    also restricted to their parent.
//! 7. **Channel names**: FlowJo replaces '/' in `$PnN` by '_'.
//! 8. **Counts** under `SampleNode` are FlowJo's results; counts under
//!    `GroupNode` are stale template values and are ignored.

pub mod analyze;
pub mod ellipse;
pub mod export;
pub mod locate;
pub mod model;
pub mod parse;
pub mod strategy;

pub use analyze::{analyze, Analysis, Options, PopulationRow, SampleOutcome};
pub use model::*;
pub use parse::{parse_str, read};

/// Errors reading or applying a FlowJo workspace.
#[derive(Debug, thiserror::Error)]
pub enum FlowJoError {
    /// The workspace file could not be read.
    #[error("{path}: cannot read workspace: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not well-formed XML.
    #[error("{path}: not a well-formed XML workspace (line {line}, column {column}): {message}")]
    Xml {
        path: String,
        line: u32,
        column: u32,
        message: String,
    },
    /// Well-formed XML, but not a FlowJo workspace.
    #[error("{path}: root element is <{found}>, not a FlowJo <Workspace>")]
    NotWorkspace { path: String, found: String },
    /// The group template cannot be written as a pipeline.
    #[error("{path}: cannot export a pipeline: {reason}")]
    Export { path: String, reason: String },
    /// `--group` names a group the workspace does not have.
    #[error("{path}: no group named {name:?} (groups: {available})")]
    UnknownGroup {
        path: String,
        name: String,
        available: String,
    },
}
