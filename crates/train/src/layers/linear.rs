//! `y = x·Wᵀ + b`.

use crate::error::ShapeError;
use crate::layers::backend;
use crate::{init, Param, Tensor};

/// A fully connected layer: `out × inp` weights (He-uniform) and `out` biases (zero).
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// Weights, `out × inp`, row-major (PyTorch's layout).
    pub weight: Param,
    /// Biases, `out`.
    pub bias: Param,
    inp: usize,
    out: usize,
    /// Without bias the layer is `x·Wᵀ` (the bias stays zero and is not trained).
    use_bias: bool,
    input: Option<Tensor>,
}

impl Linear {
    /// A layer from `inp` to `out` features, weights drawn from `seed`.
    pub fn new(inp: usize, out: usize, seed: u64) -> Self {
        let mut rng = init::rng(seed);
        Linear::from_parts(
            inp,
            out,
            init::he_uniform(&mut rng, inp, inp * out),
            vec![0.0; out],
        )
        .expect("sizes made here")
    }

    /// A layer from `inp` to `out` features with Xavier-uniform weights (for layers not
    /// followed by a ReLU: projections, cross layers) and zero biases.
    pub fn xavier(inp: usize, out: usize, seed: u64) -> Self {
        Linear::from_parts(
            inp,
            out,
            init::xavier_weights(inp, out, seed),
            vec![0.0; out],
        )
        .expect("sizes made here")
    }

    /// A layer with given weights (`out × inp`) and biases.
    pub fn from_parts(
        inp: usize,
        out: usize,
        w: Vec<f32>,
        b: Vec<f32>,
    ) -> Result<Self, ShapeError> {
        if w.len() != inp * out || b.len() != out {
            return Err(ShapeError {
                op: "linear",
                left_name: "the weights",
                left: (w.len() / inp.max(1), inp),
                right_name: "the layer",
                right: (out, inp),
                expected: "out × in weights and out biases",
            });
        }
        Ok(Linear {
            weight: Param::new(w),
            bias: Param::new(b),
            inp,
            out,
            use_bias: true,
            input: None,
        })
    }

    /// The same layer without a bias term.
    pub fn without_bias(mut self) -> Self {
        self.use_bias = false;
        self.bias.value.iter_mut().for_each(|b| *b = 0.0);
        self
    }

    /// Whether the layer adds a bias.
    pub fn has_bias(&self) -> bool {
        self.use_bias
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.inp
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.out
    }

    /// `x·Wᵀ + b`, keeping nothing.
    pub fn infer(&self, x: &Tensor) -> Result<Tensor, ShapeError> {
        if x.cols() != self.inp {
            return Err(ShapeError {
                op: "linear",
                left_name: "the input",
                left: x.shape(),
                right_name: "the weights",
                right: (self.out, self.inp),
                expected: "input columns = weight columns",
            });
        }
        let mut y = Tensor::zeros(x.rows(), self.out);
        for i in 0..x.rows() {
            y.row_mut(i).copy_from_slice(&self.bias.value);
        }
        backend().gemm(
            x.rows(),
            self.inp,
            self.out,
            x.data(),
            false,
            &self.weight.value,
            true,
            1.0,
            y.data_mut(),
        );
        Ok(y)
    }

    /// `x·Wᵀ + b`, keeping `x` for the backward pass when `train`.
    pub fn forward(&mut self, x: Tensor, train: bool) -> Result<Tensor, ShapeError> {
        let y = self.infer(&x)?;
        self.input = train.then_some(x);
        Ok(y)
    }

    /// Adds `dyᵀ·x` to the weights' gradient and the column sums of `dy` to the biases',
    /// and returns `dy·W`, the gradient of the input.
    pub fn backward(&mut self, dy: &Tensor) -> Tensor {
        self.backward_with(dy, true)
            .expect("asked for the input gradient")
    }

    /// The backward pass, computing the input's gradient only when `input_grad` (the first
    /// layer over raw features needs none: one GEMM of three saved).
    pub fn backward_with(&mut self, dy: &Tensor, input_grad: bool) -> Option<Tensor> {
        let x = self
            .input
            .take()
            .expect("Linear::backward needs a forward pass with train = true");
        self.backward_from(&x, dy, input_grad)
    }

    /// The backward pass for an input `x` given here rather than kept by `forward`: a
    /// layer applied at several steps (a recurrent cell's) keeps its inputs itself.
    pub fn backward_from(&mut self, x: &Tensor, dy: &Tensor, input_grad: bool) -> Option<Tensor> {
        assert_eq!(dy.shape(), (x.rows(), self.out), "linear: gradient shape");
        let b = x.rows();
        backend().gemm(
            self.out,
            b,
            self.inp,
            dy.data(),
            true,
            x.data(),
            false,
            1.0,
            &mut self.weight.grad,
        );
        if self.use_bias {
            for i in 0..b {
                for (g, d) in self.bias.grad.iter_mut().zip(dy.row(i)) {
                    *g += d;
                }
            }
        }
        if !input_grad {
            return None;
        }
        let mut dx = Tensor::zeros(b, self.inp);
        backend().gemm(
            b,
            self.out,
            self.inp,
            dy.data(),
            false,
            &self.weight.value,
            false,
            0.0,
            dx.data_mut(),
        );
        Some(dx)
    }

    /// The weights and biases.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        if self.use_bias {
            vec![&mut self.weight, &mut self.bias]
        } else {
            vec![&mut self.weight]
        }
    }
}
