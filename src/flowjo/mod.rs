//! FlowJo 10 workspaces (`.wsp`): read the gating a lab designed in FlowJo
//! and evaluate it with nkflow's gating engine, so that the counts can be
//! checked against the ones FlowJo saved, and a group's gating can become an
//! nkflow pipeline.
//!
//! Data flow, one job per module:
//! - [`parse`] reads the XML into the [`model`] (groups, samples, spillover
//!   matrices, per-channel transforms, the population tree, FlowJo's saved
//!   counts). Anything it cannot use becomes a warning naming the element and
//!   its line; only XML that is not well-formed is an error.
//! - [`locate`] finds each sample's FCS file (URI, `SampleNode` name, `$FIL`).
//! - [`strategy`] turns one sample's tree into the engine's
//!   [`crate::gating::GatingStrategy`], resolving the FlowJo conventions below
//!   into compensation references, transform ids and engine geometry
//!   ([`ellipse`] for FlowJo's ellipses). There is no FlowJo gate evaluator:
//!   the engine evaluates everything.
//! - [`analyze`](mod@analyze) gates the samples (or every file of a directory with a
//!   group's template) and lists each population beside FlowJo's count.
//! - [`export`] writes a group template as an nkflow pipeline.
//!
//! # How FlowJo differs from Gating-ML 2.0
//!
//! FlowJo writes its gates with the Gating-ML 2.0 namespaces, but the same
//! elements mean different things. Each difference and what nkflow does:
//!
//! 1. **No compensation or transformation references on gate dimensions.**
//!    A dimension names a FlowJo channel. Compensated channels carry the
//!    matrix's `prefix`/`suffix` ("Comp-FITC-A"); the sample's one
//!    `transforms:spilloverMatrix` (a child of `Sample`) says which detectors
//!    that is, in `$SPILLOVER` orientation (row = dye, column = detector),
//!    applied as C = D·S⁻¹. A "Comp-" channel with no matrix in the sample
//!    (FlowJo's acquisition-defined matrix, or a matrix element without
//!    coefficients) uses the FCS file's own spillover; if the file has none,
//!    the population is not evaluated (a warning says why) rather than
//!    silently read uncompensated. Transforms are per sample and per channel
//!    in `Sample/Transformations`, keyed by channel name (with or without the
//!    prefix), never referenced by id.
//! 2. **Rectangle limits are data units**, even when the gate was drawn on a
//!    biex or arcsinh axis. nkflow tests `min ≤ x < max` on the (compensated,
//!    untransformed) values — Gating-ML's half-open rule. This reproduces all
//!    six FlowJo counts in `shared/flowjo`; the transforms are monotonic, so
//!    only ties at a limit could differ from testing on transformed values.
//!    Quadrants are saved as four one-sided rectangles, so the same rule makes
//!    them partition the parent (the four FlowJo counts sum to the total).
//! 3. **Polygon vertices are data units but the edges are straight on the
//!    display axes.** The polygon is evaluated on the transformed values with
//!    its vertices mapped through the same transforms (FlowKit does the same).
//!    On a linear axis this is the polygon in data units.
//! 4. **Ellipses are two foci and four edge points in the 256×256 display
//!    space**, i.e. after the channel transform scaled to 0…256 (biex: its
//!    0…4096 channel / 16; linear: `(x − minRange)/(maxRange − minRange)·256`;
//!    log, fasinh, logicle, hyperlog: their unit scale · 256). The foci give
//!    the centre, axis and focal distance c; the edge point farthest along the
//!    focal axis gives the semi-major axis a; b² = a² − c² (FlowJo's
//!    minor-axis edge points are unreliable and unused, as in FlowKit). The
//!    exact ellipse is evaluated as a Gating-ML ellipsoid (mean, covariance,
//!    distance² = 1) on the transformed channels; FlowKit instead
//!    approximates it by a 128-gon, so counts can differ at the boundary.
//! 5. **`eventsInside="0"`** makes the population the gate's complement within
//!    the parent. The engine has no complement flag on geometric gates, so the
//!    shape becomes a hidden gate and the population a Boolean `not` of it
//!    under the same parent (= parent ∧ ¬shape).
//! 6. **Boolean populations** are `AndNode`/`OrNode`/`NotNode` elements
//!    beside `Population`s; operands are other populations by '/'-separated
//!    path from the root (a path relative to the Boolean's parent, or a unique
//!    name, is accepted too). The result is also restricted to the Boolean's
//!    parent, and an operand is the operand's full population.
//! 7. **Transforms are FlowJo's**: `biex` is FlowJo's own table-based
//!    logicle variant (not Gating-ML logicle); `log` (offset, decades) is
//!    `(log10 x − log10 offset)/decades` with values below the offset shown at
//!    the axis bottom (nkflow clamps the transformed value at 0; values ≤ 0
//!    are outside polygons and ellipses on a log axis); `fasinh` is Gating-ML
//!    fasinh (T, M, A — FlowJo's extra `W`, `length`, `maxRange` do not change
//!    it); the linear transform's `gain` is a display setting and ignored.
//! 8. **Channel names**: FlowJo replaces '/' in `$PnN` by '_'; names are
//!    matched exactly, then with that substitution, then by `$PnS`.
//! 9. **Counts** under `SampleNode` are FlowJo's results; counts under
//!    `GroupNode` are stale template values and are ignored (FlowJo writes
//!    −1 for "never computed"; such counts are treated as absent).
//! 10. **Samples and files**: FlowJo's `DataSet` URI is a path on the
//!     machine that saved the workspace; when it does not resolve, the
//!     `SampleNode` name and `$FIL` are looked for beside the workspace (or in
//!     `--fcs`). Events are gated in FCS scale (`$PnE`/`$PnG` applied), as
//!     FlowKit does.

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
