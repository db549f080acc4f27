//! A stack of `Linear → activation → dropout` blocks, then an optional linear output.

use crate::error::ShapeError;
use crate::layers::{Activation, ActivationLayer, Dropout, Linear};
use crate::{Param, Tensor};

/// A multi-layer perceptron.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// The hidden blocks' linear layers, then the output layer if there is one.
    pub linears: Vec<Linear>,
    acts: Vec<ActivationLayer>,
    drops: Vec<Dropout>,
    has_output: bool,
}

impl Mlp {
    /// `inp → hidden[0] → … → hidden[last] (→ out)`: every hidden block applies
    /// `activation` and dropout `dropout`; `out = 0` means no output layer (the last
    /// hidden block is the output). Layer `l` draws its weights from `seed + l`.
    pub fn new(
        inp: usize,
        hidden: &[usize],
        out: usize,
        activation: Activation,
        dropout: f32,
        seed: u64,
    ) -> Self {
        let mut linears = Vec::new();
        let mut width = inp;
        for (l, &h) in hidden.iter().enumerate() {
            linears.push(Linear::new(width, h, seed.wrapping_add(l as u64)));
            width = h;
        }
        if out > 0 {
            linears.push(Linear::new(
                width,
                out,
                seed.wrapping_add(hidden.len() as u64),
            ));
        }
        Mlp {
            acts: hidden
                .iter()
                .map(|_| ActivationLayer::new(activation))
                .collect(),
            drops: (0..hidden.len())
                .map(|l| Dropout::new(dropout, seed.wrapping_add(1000 + l as u64)))
                .collect(),
            linears,
            has_output: out > 0,
        }
    }

    /// An MLP over given linear layers (as read from a model file).
    pub fn from_linears(
        linears: Vec<Linear>,
        activation: Activation,
        dropout: f32,
        has_output: bool,
        seed: u64,
    ) -> Self {
        let hidden = linears.len() - has_output as usize;
        Mlp {
            acts: (0..hidden)
                .map(|_| ActivationLayer::new(activation))
                .collect(),
            drops: (0..hidden)
                .map(|l| Dropout::new(dropout, seed.wrapping_add(1000 + l as u64)))
                .collect(),
            linears,
            has_output,
        }
    }

    /// Draws the hidden layers' weights anew, normal with standard deviation `std` (small
    /// values start the network near zero, so early steps train what feeds it first, as
    /// DeepCTR-Torch initialises its DNNs); the output layer keeps its values.
    pub fn init_hidden_normal(&mut self, std: f32, seed: u64) {
        let hidden = self.acts.len();
        for (l, lin) in self.linears.iter_mut().take(hidden).enumerate() {
            let mut rng = crate::init::rng(seed.wrapping_add(l as u64));
            let n = lin.weight.value.len();
            lin.weight.value = crate::init::normal(&mut rng, std, n);
        }
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.linears.first().map_or(0, |l| l.inputs())
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.linears.last().map_or(0, |l| l.outputs())
    }

    /// The forward pass; keeps what backward needs when `train` (dropout only then).
    /// Panics on a wrong input width; `try_forward` returns the error instead.
    pub fn forward(&mut self, x: Tensor, train: bool) -> Tensor {
        self.try_forward(x, train).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The forward pass, with a shape error naming both shapes for a wrong input.
    pub fn try_forward(&mut self, mut x: Tensor, train: bool) -> Result<Tensor, ShapeError> {
        let hidden = self.acts.len();
        for l in 0..self.linears.len() {
            x = self.linears[l].forward(x, train)?;
            if l < hidden {
                x = self.acts[l].forward(x, train);
                x = self.drops[l].forward(x, train);
            }
        }
        Ok(x)
    }

    /// The forward pass for inference, keeping nothing.
    pub fn infer(&self, x: &Tensor) -> Result<Tensor, ShapeError> {
        let hidden = self.acts.len();
        let mut h = self.linears[0].infer(x)?;
        for l in 0..self.linears.len() {
            if l > 0 {
                h = self.linears[l].infer(&h)?;
            }
            if l < hidden {
                self.acts[l].activation.apply(h.data_mut());
            }
        }
        Ok(h)
    }

    /// Accumulates the gradients and returns the input's.
    pub fn backward(&mut self, dy: Tensor) -> Tensor {
        self.backward_with(dy, true)
            .expect("asked for the input gradient")
    }

    /// Accumulates the gradients; returns the input's only when `input_grad` (an MLP over
    /// raw features, not embeddings, needs none).
    pub fn backward_with(&mut self, mut dy: Tensor, input_grad: bool) -> Option<Tensor> {
        let hidden = self.acts.len();
        for l in (0..self.linears.len()).rev() {
            if l < hidden {
                dy = self.drops[l].backward(dy);
                dy = self.acts[l].backward(dy);
            }
            match self.linears[l].backward_with(&dy, input_grad || l > 0) {
                Some(d) => dy = d,
                None => return None,
            }
        }
        Some(dy)
    }

    /// Every weight and bias.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        self.linears
            .iter_mut()
            .flat_map(|l| l.params_mut())
            .collect()
    }

    /// Whether the last layer is a linear output (no activation after it).
    pub fn has_output(&self) -> bool {
        self.has_output
    }
}
