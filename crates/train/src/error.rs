//! Errors of the substrate: shapes that do not fit, and runs that diverge.

/// Two shapes that an operation cannot combine, both named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {left_name} is {}×{} but {right_name} is {}×{} ({expected})", left.0, left.1, right.0, right.1)]
pub struct ShapeError {
    /// The operation.
    pub op: &'static str,
    /// What the left operand is.
    pub left_name: &'static str,
    /// Its shape (rows, columns).
    pub left: (usize, usize),
    /// What the right operand is.
    pub right_name: &'static str,
    /// Its shape.
    pub right: (usize, usize),
    /// What would have fitted.
    pub expected: &'static str,
}

/// The error type of `funnel-train`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// Shapes that do not fit.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// A loss or a weight went non-finite or exploded.
    #[error("training diverged at epoch {epoch}, step {step} (learning rate {learning_rate}): {what}; lower the learning rate or clip gradients")]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the run.
        step: usize,
        /// The learning rate of that step.
        learning_rate: f32,
        /// What was seen (e.g. "loss is NaN").
        what: String,
    },
}

/// Result alias of `funnel-train`.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
