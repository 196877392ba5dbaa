//! The crate-wide error type. Each stage has its own error enum with the
//! context a user needs (file, segment, byte offset, keyword, gate id, channel);
//! this enum only gathers them so that callers spanning stages (the CLI, the
//! pipeline runner) can use `?` across them.

use std::path::PathBuf;

/// Any error nkflow can report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An event matrix was built or addressed inconsistently.
    #[error(transparent)]
    Matrix(#[from] crate::matrix::MatrixError),
    /// FlowSOM clustering failed (marker, mask, parameter or value problem).
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// An FCS file could not be read or written.
    #[error(transparent)]
    Fcs(#[from] crate::fcs::FcsError),
    /// A spillover matrix could not be read or applied.
    #[error(transparent)]
    Compensation(#[from] crate::compensation::CompensationError),
    /// A transform's parameters are invalid.
    #[error(transparent)]
    Transform(#[from] crate::transform::TransformError),
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A Gating-ML file could not be read or written.
    #[error(transparent)]
    GatingMl(#[from] crate::gatingml::GatingMlError),
    /// Gating one FCS file failed.
    #[error("{}: {source}", path.display())]
    GatingFile {
        path: PathBuf,
        #[source]
        source: Box<crate::gating::GatingError>,
    },
    /// A batch run could not start or write its outputs.
    #[error(transparent)]
    Run(#[from] crate::pipeline::runner::RunError),
    /// A FlowJo workspace could not be read or applied.
    #[error(transparent)]
    FlowJo(#[from] crate::flowjo::FlowJoError),
    /// A simulated cohort could not be planned or written.
    #[error(transparent)]
    Simulate(#[from] crate::simulate::SimulateError),
    /// A message for errors that come from the command line itself.
    #[error("{0}")]
    Usage(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
