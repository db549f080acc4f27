//! # funnel-train — a training substrate for neural models on the CPU
//!
//! Dense `f32` [`Tensor`]s (row-major matrices), layers whose backward passes are written
//! by hand, row-sparse [`EmbeddingTable`]s, losses, optimisers and learning-rate
//! schedules. It knows nothing about users, items or clicks: the models built on it
//! live in the stage crates (`funnel-rank`'s deep rankers).
//!
//! **Why hand-written backward passes and not a tape.** A model here is a short, fixed
//! chain of layers; each layer keeps what its backward pass needs (its input or output)
//! and nothing else, so a training step allocates no graph and every elementwise pass is
//! fused with its neighbour. The matrix products go through one [`Backend`] (the CPU one
//! calls faer's GEMM on rayon's threads), so a second backend can be added without a
//! second API. Embedding gradients are row-sparse: a batch touches a few
//! hundred rows of a table of millions, and only those rows are read, written and
//! updated (candle and burn build a dense table-sized gradient instead).
//!
//! **Determinism.** Given a seed and a thread count, a run gives the same bits: initial
//! values come from seeded ChaCha streams, GEMM blocks sum in a fixed order whatever the
//! split, and sparse gradients are accumulated in batch order.
//!
//! ```
//! use funnel_train::{loss, Activation, Mlp, Optimizer, Rule, Tensor};
//! // y = 1 when x0 > x1: a 2 → 8 → 1 MLP learns it.
//! let x = Tensor::from_fn(64, 2, |i, j| ((i * 7 + j * 3) % 11) as f32 / 11.0);
//! let y: Vec<f32> = (0..64).map(|i| (x.get(i, 0) > x.get(i, 1)) as u8 as f32).collect();
//! let mut mlp = Mlp::new(2, &[8], 1, Activation::Relu, 0.0, 1);
//! let mut opt = Optimizer::new(Rule::adam(), 0.05, 0.0);
//! let mut first = None;
//! for _ in 0..300 {
//!     let out = mlp.forward(x.clone(), true);
//!     let (l, grad) = loss::bce_with_logits(out.data(), &y, None);
//!     first.get_or_insert(l);
//!     mlp.backward(Tensor::from_vec(64, 1, grad).unwrap());
//!     opt.step(&mut mlp.params_mut());
//! }
//! let out = mlp.forward(x.clone(), false);
//! let (l, _) = loss::bce_with_logits(out.data(), &y, None);
//! assert!(l < 0.5 * first.unwrap());
//! ```
#![warn(missing_docs)]
#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]

pub mod alloc;
pub mod backend;
pub mod check;
mod embedding;
mod error;
pub mod init;
pub mod layers;
pub mod loss;
pub mod optim;
mod param;
mod tensor;

pub use backend::{Backend, Cpu};
pub use embedding::{Bags, EmbeddingTable, SparseRule};
pub use error::{Result, ShapeError, TrainError};
pub use layers::{
    Activation, ActivationLayer, AfmPooling, AttentionUnit, BatchNorm, BiInteraction, Bilinear,
    BilinearKind, Cin, CrossLayer, CrossNet, Dice, Dropout, FmInteraction, Gru, LayerNorm, Linear,
    Mlp, PRelu, Products, SeNet, SelfAttention,
};
pub use optim::{clip_grad_norm, Decay, Optimizer, Rule, Schedule};
pub use param::Param;
pub use tensor::Tensor;
