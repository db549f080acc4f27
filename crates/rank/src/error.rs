//! Errors of the ranking stage.

/// The error type of `funnel-rank`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RankError {
    /// A model name no ranker answers to.
    #[error("unknown ranker `{0}`; expected one of: {names}", names = crate::registry::names())]
    UnknownModel(String),
    /// Bad parameters or a model file that cannot be read.
    #[error(transparent)]
    Model(#[from] funnel_model::ModelError),
    /// Samples the model cannot take (e.g. a field beyond the fields an FFM was built for).
    #[error("{0}")]
    Samples(String),
    /// Sample data could not be read.
    #[error(transparent)]
    Data(#[from] funnel_data::DataError),
    /// The feature pipeline stored with a model could not be used.
    #[error(transparent)]
    Features(#[from] funnel_features::FeatureError),
    /// A neural model's shapes did not fit, or its training diverged (named epoch, step
    /// and learning rate).
    #[error(transparent)]
    Train(#[from] funnel_train::TrainError),
    /// A metric could not be computed.
    #[error(transparent)]
    Metrics(#[from] funnel_metrics::MetricsError),
}

/// Result alias of `funnel-rank`.
pub type Result<T, E = RankError> = std::result::Result<T, E>;
