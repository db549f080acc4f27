//! Elementwise non-linearities.

use crate::Tensor;

/// An elementwise function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x`.
    Identity,
    /// `max(0, x)`.
    Relu,
    /// `1 / (1 + e^{−x})`.
    Sigmoid,
    /// `tanh x`.
    Tanh,
    /// GELU, tanh approximation (PyTorch's `approximate="tanh"`).
    Gelu,
}

impl Activation {
    /// By name: `identity`, `relu`, `sigmoid`, `tanh`, `gelu`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "identity" | "linear" | "none" => Activation::Identity,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "gelu" => Activation::Gelu,
            _ => return None,
        })
    }

    /// The name `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
        }
    }

    /// Applies the function in place.
    pub fn apply(self, v: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Relu => v.iter_mut().for_each(|x| *x = x.max(0.0)),
            Activation::Sigmoid => v.iter_mut().for_each(|x| *x = sigmoid(*x)),
            Activation::Tanh => v.iter_mut().for_each(|x| *x = x.tanh()),
            Activation::Gelu => v.iter_mut().for_each(|x| *x = gelu(*x).0),
        }
    }

    /// Whether the backward pass reads the input (else the output suffices).
    fn needs_input(self) -> bool {
        matches!(self, Activation::Gelu)
    }
}

/// The logistic function, safe for any input.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// GELU (tanh approximation) and its derivative.
#[inline]
fn gelu(x: f32) -> (f32, f32) {
    const C: f32 = 0.797_884_6; // √(2/π)
    let u = C * (x + 0.044715 * x * x * x);
    let t = u.tanh();
    let y = 0.5 * x * (1.0 + t);
    let du = C * (1.0 + 3.0 * 0.044715 * x * x);
    (y, 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
}

/// An activation as a layer: keeps its output (or input, for GELU) for the backward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationLayer {
    /// The function.
    pub activation: Activation,
    saved: Option<Tensor>,
}

impl ActivationLayer {
    /// A layer applying `activation`.
    pub fn new(activation: Activation) -> Self {
        ActivationLayer {
            activation,
            saved: None,
        }
    }

    /// Applies the function, keeping what backward needs when `train`.
    pub fn forward(&mut self, mut x: Tensor, train: bool) -> Tensor {
        let input = (train && self.activation.needs_input()).then(|| x.clone());
        self.activation.apply(x.data_mut());
        if train {
            self.saved = Some(input.unwrap_or_else(|| x.clone()));
        }
        x
    }

    /// The input's gradient from the output's.
    pub fn backward(&mut self, mut dy: Tensor) -> Tensor {
        let s = self
            .saved
            .take()
            .expect("ActivationLayer::backward needs a forward pass with train = true");
        let d = dy.data_mut();
        let s = s.data();
        match self.activation {
            Activation::Identity => {}
            Activation::Relu => d.iter_mut().zip(s).for_each(|(g, &y)| {
                if y <= 0.0 {
                    *g = 0.0
                }
            }),
            Activation::Sigmoid => d.iter_mut().zip(s).for_each(|(g, &y)| *g *= y * (1.0 - y)),
            Activation::Tanh => d.iter_mut().zip(s).for_each(|(g, &y)| *g *= 1.0 - y * y),
            Activation::Gelu => d.iter_mut().zip(s).for_each(|(g, &x)| *g *= gelu(x).1),
        }
        dy
    }
}
