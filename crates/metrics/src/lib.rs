//! # funnel-metrics — how Funnel judges every stage
//!
//! * [`pointwise`]: AUC (exact, tie-aware, weighted), GAUC, LogLoss and expected
//!   calibration error, for rankers that score examples;
//! * [`topk`]: HR, Precision, Recall, NDCG (binary or graded), MRR and MAP at K, for
//!   recall models that return lists;
//! * [`eval`]: full-ranking evaluation of a recommender over all test users, in parallel,
//!   with item coverage and popularity bias.
//!
//! Each metric is checked against scikit-learn on committed fixtures
//! (`tests/fixtures/`, produced by `scripts/sklearn_fixtures.py`).
//!
//! ```
//! let auc = funnel_metrics::auc(&[0.9, 0.4, 0.4, 0.1], &[1.0, 1.0, 0.0, 0.0], None).unwrap();
//! assert_eq!(auc, Some(0.875));
//! ```
#![warn(missing_docs)]
// Kernels walk CSR row ranges by index; zipped iterators over several arrays read worse.
#![allow(clippy::needless_range_loop)]

pub mod eval;
pub mod pointwise;
pub mod query;
pub mod sort;
pub mod topk;

pub use eval::{evaluate_full_ranking, RankingReport};
pub use pointwise::{auc, ece, gauc, logloss, Gauc};
pub use query::{query_metrics, QueryMetrics};
pub use topk::{TopKAccumulator, TOPK_METRICS};

/// Errors of `funnel-metrics`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// Inputs of different lengths.
    #[error("{scores} scores but {labels} labels (or users/weights); expected equal lengths")]
    Length {
        /// Number of scores.
        scores: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A value out of its domain.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias of `funnel-metrics`.
pub type Result<T, E = MetricsError> = std::result::Result<T, E>;
