//! Errors of the feature pipeline. A problem in a spec file names the file, the line and
//! the column; a problem in data keeps the data layer's own `file:line` error.

use std::path::PathBuf;

use funnel_data::{DataError, Location};

/// The error type of the feature pipeline and the sample builder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeatureError {
    /// A feature spec is malformed or inconsistent.
    #[error("{at}: {message}")]
    Spec {
        /// Where in the spec file.
        at: Location,
        /// What is wrong and what was expected.
        message: String,
    },
    /// Reading interactions or attribute tables failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A saved pipeline could not be read back.
    #[error("{path}: not a saved feature pipeline: {message}")]
    Pipeline {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Inputs that cannot be turned into samples (no events, no negatives, …).
    #[error("{0}")]
    Invalid(String),
}

/// Result alias of `funnel-features`' pipeline.
pub type Result<T, E = FeatureError> = std::result::Result<T, E>;

impl FeatureError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FeatureError::Io {
            path: path.into(),
            source,
        }
    }
}
