//! Layers with hand-written backward passes. Each keeps what its backward pass needs from
//! the last `forward(…, train = true)`; `infer` (or `forward` with `train = false`)
//! keeps nothing and takes `&self`, so one model serves many threads.

mod activation;
mod afm;
mod attention;
mod cin;
mod cross;
mod dropout;
mod fibinet;
mod fm;
mod gru;
mod linear;
mod mlp;
mod norm;
mod products;
mod unit;

pub use activation::{Activation, ActivationLayer};
pub use afm::AfmPooling;
pub use attention::SelfAttention;
pub use cin::Cin;
pub use cross::{CrossLayer, CrossNet};
pub use dropout::Dropout;
pub use fibinet::{Bilinear, BilinearKind, SeNet};
pub use fm::FmInteraction;
pub use gru::Gru;
pub use linear::Linear;
pub use mlp::Mlp;
pub use norm::{BatchNorm, Dice, LayerNorm, PRelu};
pub use products::{BiInteraction, Products};
pub use unit::AttentionUnit;

use crate::backend::{Backend, Cpu};

/// The backend the layers compute with.
pub(crate) fn backend() -> &'static dyn Backend {
    &Cpu
}
