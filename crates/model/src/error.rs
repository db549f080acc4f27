//! Errors of model files and parameters.

/// The error type of `funnel-model`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A bad `--set key=value` parameter.
    #[error("model `{model}`: {message}")]
    Param {
        /// The model.
        model: &'static str,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A model file that cannot be read or written.
    #[error("{path}: {message}")]
    ModelFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// File-system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Result alias of `funnel-model`.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
