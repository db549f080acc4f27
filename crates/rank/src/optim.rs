//! Per-coordinate optimisers for the factorisation machines.

use funnel_model::Params;

/// How a parameter moves given its gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optimizer {
    /// Plain SGD: `θ -= η·g`.
    Sgd,
    /// AdaGrad: `G += g²; θ -= η·g/√G`, with `G` starting at 1 as in libffm, so the first
    /// steps are plain SGD steps and never divide by zero.
    AdaGrad,
}

impl Optimizer {
    /// Reads `optimizer=sgd|adagrad`.
    pub(crate) fn from_params(model: &'static str, p: &Params) -> funnel_model::Result<Self> {
        Ok(
            match p
                .choice(model, "optimizer", "adagrad", &["adagrad", "sgd"])?
                .as_str()
            {
                "sgd" => Optimizer::Sgd,
                _ => Optimizer::AdaGrad,
            },
        )
    }

    /// `sgd` / `adagrad`.
    pub fn name(self) -> &'static str {
        match self {
            Optimizer::Sgd => "sgd",
            Optimizer::AdaGrad => "adagrad",
        }
    }

    /// Parses a name written by [`Optimizer::name`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sgd" => Some(Optimizer::Sgd),
            "adagrad" => Some(Optimizer::AdaGrad),
            _ => None,
        }
    }

    /// One step of parameter `theta` with accumulator `acc` (unused by SGD).
    #[inline(always)]
    pub(crate) fn step(self, lr: f32, grad: f32, theta: &mut f32, acc: &mut f32) {
        match self {
            Optimizer::Sgd => *theta -= lr * grad,
            Optimizer::AdaGrad => {
                *acc += grad * grad;
                *theta -= lr * grad / acc.sqrt();
            }
        }
    }
}
