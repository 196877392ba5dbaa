//! Compensation: undoing fluorescence spillover with a spillover [`Matrix`].
//!
//! A spillover matrix S has one row per fluorochrome (dye) and one column per
//! detector: S[i][j] is how much of dye i's signal detector j sees (1 on the
//! diagonal of a conventional matrix). With D the events × detectors matrix of
//! FCS-scale values, the compensated values are **C = D · S⁻¹**, one column
//! per fluorochrome (`shared/gatingml/SEMANTICS.md` §2 — the other
//! orientation gets 14 Gating-ML cases wrong). A wide spectral matrix (more
//! detectors than dyes) is unmixed by least squares, C = D·Sᵀ(S·Sᵀ)⁻¹, and a
//! matrix marked "inverted already" is used as it is, C = D·S.
//!
//! The compensation matrix K (detectors × fluorochromes) is computed once
//! when the [`Matrix`] is built, so a singular matrix is reported at
//! construction, not per sample. Detectors are found in an [`EventMatrix`] by
//! `$PnN` name, never by position (files list them in any order); with the
//! sample's channels at hand, a name may also match a `$PnS` label.
//!
//! Where a matrix comes from: [`Matrix::from_sample`] (the FCS keywords
//! `$SPILLOVER`, `SPILL`, `$SPILL`, `$COMP`, `$DFCiTOj`),
//! [`Matrix::from_spillover_keyword`], [`Matrix::from_csv`] (FlowJo/FlowKit
//! layout) and [`Matrix::new`] (e.g. a Gating-ML `spectrumMatrix`).

mod apply;
mod keywords;
mod linalg;

use std::path::{Path, PathBuf};

pub use keywords::SPILLOVER_KEYWORDS;

/// Errors from building or applying a spillover matrix.
#[derive(Debug, thiserror::Error)]
pub enum CompensationError {
    /// A spillover keyword whose value cannot be read.
    #[error("keyword {keyword}: {reason}")]
    Keyword { keyword: String, reason: String },
    /// A matrix file that cannot be read or parsed.
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    /// Dimensions that do not fit together.
    #[error("spillover matrix: {0}")]
    Shape(String),
    /// A matrix that cannot be inverted.
    #[error("spillover matrix over detectors [{detectors}] is singular (its rows are linearly dependent): it cannot be inverted to compensate")]
    Singular { detectors: String },
    /// A detector that is not a channel of the events.
    #[error("spillover matrix detector {detector:?} matches no channel $PnN name{labels} (channels: {available})")]
    UnknownDetector {
        detector: String,
        /// ", $PnS label or parameter number" when the channels were searched too.
        labels: &'static str,
        available: String,
    },
    /// Two detectors that resolve to the same channel.
    #[error("spillover matrix detectors {first:?} and {second:?} both name channel {channel:?}")]
    DuplicateDetector {
        first: String,
        second: String,
        channel: String,
    },
    /// In-place compensation needs one output per detector.
    #[error("in-place compensation needs a square matrix, this one has {fluorochromes} fluorochromes × {detectors} detectors (use `compensate`, which names outputs by fluorochrome)")]
    NotSquare {
        fluorochromes: usize,
        detectors: usize,
    },
    /// Compensation works on FCS-scale values.
    #[error("{source_name}: events are raw; call Sample::apply_scale before compensating (compensation works on FCS-scale values)")]
    NotScaled { source_name: String },
}

/// A spillover (or already-inverted compensation) matrix, rows =
/// fluorochromes, columns = detectors, with its compensation matrix
/// precomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    fluorochromes: Vec<String>,
    detectors: Vec<String>,
    /// Row-major, fluorochromes × detectors, as given.
    values: Vec<f64>,
    inverted_already: bool,
    /// K, row-major detectors × fluorochromes: C = D · K.
    comp: Vec<f64>,
}

impl Matrix {
    /// A matrix from its parts. `values` is row-major, one row per
    /// fluorochrome, one column per detector (`values.len()` must be
    /// fluorochromes × detectors).
    ///
    /// With `inverted_already` the values are the compensation matrix itself
    /// (C = D·S for a square matrix, D·Sᵀ for a non-square one); otherwise a
    /// square matrix is inverted and a wide one (more detectors than
    /// fluorochromes) is unmixed by least squares.
    pub fn new(
        fluorochromes: Vec<String>,
        detectors: Vec<String>,
        values: Vec<f64>,
        inverted_already: bool,
    ) -> Result<Matrix, CompensationError> {
        let (nf, nd) = (fluorochromes.len(), detectors.len());
        if nf == 0 || nd == 0 {
            return Err(CompensationError::Shape(
                "a matrix needs at least one fluorochrome and one detector".into(),
            ));
        }
        if values.len() != nf * nd {
            return Err(CompensationError::Shape(format!(
                "{nf} fluorochromes × {nd} detectors need {} values, found {}",
                nf * nd,
                values.len()
            )));
        }
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(CompensationError::Shape(format!(
                "value {v} is not a finite number"
            )));
        }
        check_unique("detector", &detectors)?;
        check_unique("fluorochrome", &fluorochromes)?;
        let singular = || CompensationError::Singular {
            detectors: detectors.join(", "),
        };
        let comp = if inverted_already {
            if nf == nd {
                values.clone()
            } else {
                linalg::transpose(nf, nd, &values)
            }
        } else if nf == nd {
            linalg::invert(nd, &values).ok_or_else(singular)?
        } else if nd > nf {
            // K = Sᵀ (S Sᵀ)⁻¹, detectors × fluorochromes.
            let st = linalg::transpose(nf, nd, &values);
            let sst = linalg::matmul(nf, nd, nf, &values, &st);
            let inv = linalg::invert(nf, &sst).ok_or_else(singular)?;
            linalg::matmul(nd, nf, nf, &st, &inv)
        } else {
            return Err(CompensationError::Shape(format!(
                "{nf} fluorochromes but only {nd} detectors: cannot unmix more dyes than detectors"
            )));
        };
        Ok(Matrix {
            fluorochromes,
            detectors,
            values,
            inverted_already,
            comp,
        })
    }

    /// Parses an FCS `$SPILLOVER`/`SPILL` value: `n, name_1…name_n, s_11,
    /// s_12, …, s_nn` (row-major). Fluorochromes are named after the
    /// detectors, as the keyword has one name list.
    pub fn from_spillover_keyword(text: &str) -> Result<Matrix, CompensationError> {
        keywords::parse_spillover("$SPILLOVER", text)
    }

    /// The spillover matrix stored in a sample's keywords, by precedence
    /// `$SPILLOVER`, `SPILL`, `$SPILL`, then FCS 3.0 `$COMP`, then FCS 2.0
    /// `$DFCiTOj`; `Ok(None)` when the sample has none.
    pub fn from_sample(sample: &crate::Sample) -> Result<Option<Matrix>, CompensationError> {
        keywords::from_sample(sample)
    }

    /// Reads a FlowJo/FlowKit matrix file: a header line of detector names
    /// (comma- or tab-separated, optionally starting with `#`), then one row
    /// of values per fluorochrome. A row may start with the fluorochrome's
    /// name (then the header has an empty or label cell first).
    pub fn from_csv(path: impl AsRef<Path>) -> Result<Matrix, CompensationError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| CompensationError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        keywords::parse_csv(&text).map_err(|reason| CompensationError::File {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Row names (dyes).
    pub fn fluorochromes(&self) -> &[String] {
        &self.fluorochromes
    }

    /// Column names (detector channels, `$PnN`).
    pub fn detectors(&self) -> &[String] {
        &self.detectors
    }

    /// The values as given, row-major fluorochromes × detectors.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// True when the values are already the compensation matrix.
    pub fn inverted_already(&self) -> bool {
        self.inverted_already
    }

    /// True when there is one fluorochrome per detector.
    pub fn is_square(&self) -> bool {
        self.fluorochromes.len() == self.detectors.len()
    }

    /// The compensation matrix K (row-major, detectors × fluorochromes):
    /// compensated = D · K.
    pub fn compensation_matrix(&self) -> &[f64] {
        &self.comp
    }

    /// Replaces the fluorochrome names (e.g. with `$PnS` labels, or the
    /// names a Gating-ML file uses).
    pub fn with_fluorochromes(mut self, names: Vec<String>) -> Result<Matrix, CompensationError> {
        if names.len() != self.fluorochromes.len() {
            return Err(CompensationError::Shape(format!(
                "{} fluorochrome names given for {} rows",
                names.len(),
                self.fluorochromes.len()
            )));
        }
        check_unique("fluorochrome", &names)?;
        self.fluorochromes = names;
        Ok(self)
    }
}

fn check_unique(what: &str, names: &[String]) -> Result<(), CompensationError> {
    for (i, a) in names.iter().enumerate() {
        if names[..i].contains(a) {
            return Err(CompensationError::Shape(format!(
                "{what} {a:?} is listed twice"
            )));
        }
    }
    Ok(())
}
