//! Inverted dropout: zero each value with probability `p` while training and scale the
//! rest by `1/(1−p)`, so inference is the identity.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::{init, Tensor};

/// Dropout with its own seeded stream.
#[derive(Debug, Clone)]
pub struct Dropout {
    /// Probability of zeroing a value.
    pub p: f32,
    rng: ChaCha8Rng,
    mask: Vec<f32>,
}

impl PartialEq for Dropout {
    fn eq(&self, o: &Self) -> bool {
        self.p == o.p
    }
}

impl Dropout {
    /// Dropout with probability `p` (0 = off).
    pub fn new(p: f32, seed: u64) -> Self {
        Dropout {
            p,
            rng: init::rng(seed ^ 0xD20_0017),
            mask: Vec::new(),
        }
    }

    /// Drops values when `train` and `p > 0`.
    pub fn forward(&mut self, mut x: Tensor, train: bool) -> Tensor {
        if !train || self.p <= 0.0 {
            self.mask.clear();
            return x;
        }
        let keep = 1.0 - self.p;
        let scale = 1.0 / keep;
        self.mask.clear();
        for v in x.data_mut() {
            let m = if self.rng.random::<f32>() < keep {
                scale
            } else {
                0.0
            };
            self.mask.push(m);
            *v *= m;
        }
        x
    }

    /// The input's gradient: the same mask.
    pub fn backward(&mut self, mut dy: Tensor) -> Tensor {
        if !self.mask.is_empty() {
            dy.data_mut()
                .iter_mut()
                .zip(&self.mask)
                .for_each(|(g, m)| *g *= m);
        }
        dy
    }
}
