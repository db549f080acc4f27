//! A trainable array: its values, its gradient, and the optimiser's slots for it.

/// A dense trainable array with its gradient and optimiser state.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The values.
    pub value: Vec<f32>,
    /// The gradient accumulated since the last step.
    pub grad: Vec<f32>,
    /// Frozen parameters are not updated (online learning that keeps the upper layers).
    pub frozen: bool,
    /// Optimiser slots (momentum, second moments, …), sized by the optimiser on first use.
    pub(crate) state: Vec<f32>,
    /// Lookahead's slow weights, once used.
    pub(crate) slow: Vec<f32>,
}

impl Param {
    /// A parameter with these values and a zero gradient.
    pub fn new(value: Vec<f32>) -> Self {
        let n = value.len();
        Param {
            value,
            grad: vec![0.0; n],
            frozen: false,
            state: Vec::new(),
            slow: Vec::new(),
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// Whether it holds no value.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// Sets the gradient to zero.
    pub fn zero_grad(&mut self) {
        self.grad.iter_mut().for_each(|g| *g = 0.0);
    }

    /// Forgets the optimiser's slots (a model loaded from a file starts them afresh).
    pub fn reset_state(&mut self) {
        self.state.clear();
        self.slow.clear();
    }
}
