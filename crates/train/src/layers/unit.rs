//! DIN's local activation unit (Zhou et al. 2018): the weight of each behaviour in a
//! user's history is an MLP of `[q, k, q − k, q ⊙ k]` (the candidate `q`, the behaviour
//! `k`), and the history pools to `Σ_l w_l k_l` over the unmasked positions — no softmax,
//! so the pooled vector's size keeps the strength of the user's interest.

use crate::layers::{Activation, Mlp};
use crate::{Param, Tensor};

/// The activation unit over histories of `len` positions of `dim`-vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionUnit {
    /// Positions per history.
    pub len: usize,
    /// Width of a query and of a key.
    pub dim: usize,
    /// `4·dim → hidden → 1`.
    pub mlp: Mlp,
    saved: Option<Saved>,
}

#[derive(Debug, Clone, PartialEq)]
struct Saved {
    q: Tensor,
    keys: Tensor,
    mask: Vec<f32>,
    weights: Vec<f32>,
}

impl AttentionUnit {
    /// A unit whose MLP has `hidden` layers of `activation` (DIN uses sigmoid or Dice).
    pub fn new(
        len: usize,
        dim: usize,
        hidden: &[usize],
        activation: Activation,
        seed: u64,
    ) -> Self {
        AttentionUnit {
            len,
            dim,
            mlp: Mlp::new(4 * dim, hidden, 1, activation, 0.0, seed),
            saved: None,
        }
    }

    /// The MLP's input: one row `[q, k, q − k, q ⊙ k]` per (row, position).
    fn pairs(&self, q: &Tensor, keys: &Tensor) -> Tensor {
        let (l, d) = (self.len, self.dim);
        assert_eq!(q.cols(), d, "attention unit: query width");
        assert_eq!(keys.cols(), l * d, "attention unit: keys width");
        let mut x = Tensor::zeros(q.rows() * l, 4 * d);
        for r in 0..q.rows() {
            let qr = q.row(r).to_vec();
            for p in 0..l {
                let k = &keys.row(r)[p * d..(p + 1) * d];
                let o = x.row_mut(r * l + p);
                for j in 0..d {
                    o[j] = qr[j];
                    o[d + j] = k[j];
                    o[2 * d + j] = qr[j] - k[j];
                    o[3 * d + j] = qr[j] * k[j];
                }
            }
        }
        x
    }

    fn pool(&self, keys: &Tensor, w: &[f32], mask: &[f32]) -> Tensor {
        let (l, d) = (self.len, self.dim);
        let mut out = Tensor::zeros(keys.rows(), d);
        for r in 0..keys.rows() {
            let k = keys.row(r).to_vec();
            let o = out.row_mut(r);
            for p in 0..l {
                let a = w[r * l + p] * mask[r * l + p];
                o.iter_mut()
                    .zip(&k[p * d..(p + 1) * d])
                    .for_each(|(o, k)| *o += a * k);
            }
        }
        out
    }

    /// The pooled history, `rows × dim`, from queries (`rows × dim`), keys
    /// (`rows × len·dim`) and a mask (`rows × len`, 1 for a behaviour, 0 for padding),
    /// keeping nothing.
    pub fn infer(&self, q: &Tensor, keys: &Tensor, mask: &[f32]) -> Tensor {
        let w = self.mlp.infer(&self.pairs(q, keys)).expect("4 × dim");
        self.pool(keys, w.data(), mask)
    }

    /// The pooled history, keeping what backward needs when `train`.
    pub fn forward(&mut self, q: &Tensor, keys: &Tensor, mask: &[f32], train: bool) -> Tensor {
        if !train {
            return self.infer(q, keys, mask);
        }
        let w = self.mlp.forward(self.pairs(q, keys), true).into_vec();
        let out = self.pool(keys, &w, mask);
        self.saved = Some(Saved {
            q: q.clone(),
            keys: keys.clone(),
            mask: mask.to_vec(),
            weights: w,
        });
        out
    }

    /// Accumulates the MLP's gradients; returns the gradients of the queries and keys.
    pub fn backward(&mut self, d_out: &Tensor) -> (Tensor, Tensor) {
        let s = self
            .saved
            .take()
            .expect("AttentionUnit::backward needs a forward pass with train = true");
        let (l, d, rows) = (self.len, self.dim, s.q.rows());
        let mut dq = Tensor::zeros(rows, d);
        let mut dk = Tensor::zeros(rows, l * d);
        let mut dw = Tensor::zeros(rows * l, 1);
        for r in 0..rows {
            let g = d_out.row(r).to_vec();
            let k = s.keys.row(r).to_vec();
            let dkr = dk.row_mut(r);
            for p in 0..l {
                let m = s.mask[r * l + p];
                let kp = &k[p * d..(p + 1) * d];
                dw.row_mut(r * l + p)[0] = m * g.iter().zip(kp).map(|(a, b)| a * b).sum::<f32>();
                let a = m * s.weights[r * l + p];
                dkr[p * d..(p + 1) * d]
                    .iter_mut()
                    .zip(&g)
                    .for_each(|(x, g)| *x += a * g);
            }
        }
        let dx = self.mlp.backward(dw);
        for r in 0..rows {
            let q = s.q.row(r).to_vec();
            let k = s.keys.row(r).to_vec();
            for p in 0..l {
                let z = dx.row(r * l + p).to_vec();
                let kp = &k[p * d..(p + 1) * d];
                let dqr = dq.row_mut(r);
                for j in 0..d {
                    dqr[j] += z[j] + z[2 * d + j] + z[3 * d + j] * kp[j];
                }
                let dkr = &mut dk.row_mut(r)[p * d..(p + 1) * d];
                for j in 0..d {
                    dkr[j] += z[d + j] - z[2 * d + j] + z[3 * d + j] * q[j];
                }
            }
        }
        (dq, dk)
    }

    /// The MLP's weights and biases.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        self.mlp.params_mut()
    }
}
