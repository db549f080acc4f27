//! Errors of the recall stage.

/// The error type of `funnel-recall`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecallError {
    /// A model name that no recaller answers to.
    #[error("unknown model `{0}`; expected one of: {names}", names = crate::registry::names())]
    UnknownModel(String),
    /// A bad `--set key=value` parameter.
    #[error("model `{model}`: {message}")]
    Param {
        /// The model.
        model: &'static str,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The model was used before `fit`.
    #[error("model `{0}` is not fitted; call fit first")]
    NotFitted(&'static str),
    /// An id outside the model's users or items.
    #[error("unknown {what} `{id}`: the model was trained on {known} {what}s")]
    UnknownId {
        /// `user` or `item`.
        what: &'static str,
        /// The id as given.
        id: String,
        /// How many ids the model knows.
        known: usize,
    },
    /// A model file that cannot be read.
    #[error("{path}: {message}")]
    ModelFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Data-layer error.
    #[error(transparent)]
    Data(#[from] funnel_data::DataError),
    /// File-system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Result alias of `funnel-recall`.
pub type Result<T, E = RecallError> = std::result::Result<T, E>;

impl From<funnel_model::ModelError> for RecallError {
    fn from(e: funnel_model::ModelError) -> Self {
        use funnel_model::ModelError as M;
        match e {
            M::Param { model, message } => RecallError::Param { model, message },
            M::ModelFile { path, message } => RecallError::ModelFile { path, message },
            M::Io { path, source } => RecallError::Io { path, source },
            other => RecallError::ModelFile {
                path: String::new(),
                message: other.to_string(),
            },
        }
    }
}
