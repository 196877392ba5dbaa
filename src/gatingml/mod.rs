//! Gating-ML 2.0 import and export (ISAC; the format FlowKit, flowCore,
//! Cytobank and FlowJo exchange gates in).
//!
//! [`read_str`]/[`read_path`] build a [`GatingStrategy`] from a Gating-ML
//! document: gates (rectangle, polygon, ellipsoid, quadrant, Boolean),
//! `transformation`s (flin, flog, fasinh, logicle, hyperlog, fratio, with
//! `boundMin`/`boundMax`) and `spectrumMatrix` compensation. `custom_info`
//! and elements from other vocabularies are skipped, so wrapped or annotated
//! files still read. [`write_string`]/[`write_path`] write a strategy back;
//! reading what was written gives the same gates.
//!
//! ```no_run
//! let strategy = nkflow::gatingml::read_path("gates.xml".as_ref()).unwrap();
//! let xml = nkflow::gatingml::write_string(&strategy).unwrap();
//! ```

mod reader;
mod writer;

use std::path::PathBuf;

pub use reader::{read_path, read_str};
pub use writer::{write_path, write_string};

use crate::gating::GatingError;

/// Namespace of gates.
pub const NS_GATING: &str = "http://www.isac-net.org/std/Gating-ML/v2.0/gating";
/// Namespace of transforms and spectrum matrices.
pub const NS_TRANSFORMS: &str = "http://www.isac-net.org/std/Gating-ML/v2.0/transformations";
/// Namespace of dimensions and values.
pub const NS_DATATYPES: &str = "http://www.isac-net.org/std/Gating-ML/v2.0/datatypes";

/// Errors reading or writing Gating-ML. Each names the element (with its
/// line) and the gate, transform or matrix id it belongs to.
#[derive(Debug, thiserror::Error)]
pub enum GatingMlError {
    /// Not well-formed XML.
    #[error("not well-formed XML: {0}")]
    Xml(#[from] roxmltree::Error),
    /// The root element is not `Gating-ML`.
    #[error("root element is <{found}>, expected <Gating-ML> in namespace {NS_GATING}")]
    NotGatingMl { found: String },
    /// A required attribute is missing.
    #[error("{owner}line {line}: <{element}> has no {attribute} attribute")]
    MissingAttribute {
        owner: Owner,
        line: u32,
        element: String,
        attribute: &'static str,
    },
    /// A number that does not parse.
    #[error("{owner}line {line}: <{element}> {attribute}={value:?} is not a number")]
    BadNumber {
        owner: Owner,
        line: u32,
        element: String,
        attribute: String,
        value: String,
    },
    /// A structural problem (wrong child count, a bad vertex list, …).
    #[error("{owner}line {line}: {reason}")]
    Malformed {
        owner: Owner,
        line: u32,
        reason: String,
    },
    /// Transform parameters outside their domain.
    #[error("transform {id} (line {line}): {source}")]
    Transform {
        id: String,
        line: u32,
        #[source]
        source: crate::transform::TransformError,
    },
    /// A spectrum matrix that cannot be built.
    #[error("spectrumMatrix {id} (line {line}): {source}")]
    Matrix {
        id: String,
        line: u32,
        #[source]
        source: crate::compensation::CompensationError,
    },
    /// The gates do not form a valid strategy (missing parent, cycle, …).
    #[error(transparent)]
    Gating(#[from] GatingError),
    /// Something a strategy holds that Gating-ML 2.0 cannot express.
    #[error("transform {id}: {what} cannot be written as Gating-ML 2.0")]
    Unsupported { id: String, what: String },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An error in a named file.
    #[error("{}: {source}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<GatingMlError>,
    },
}

/// What an error belongs to, for messages: a gate, a transform, a matrix or
/// the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Document,
    Gate(String),
    Transform(String),
    Matrix(String),
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Document => Ok(()),
            Owner::Gate(id) => write!(f, "gate {id}, "),
            Owner::Transform(id) => write!(f, "transform {id}, "),
            Owner::Matrix(id) => write!(f, "spectrumMatrix {id}, "),
        }
    }
}
