//! AFM's attention-based pooling (Xiao et al. 2017): every pair of field embeddings
//! interacts elementwise, `p_ij = e_i ⊙ e_j`; an attention network
//! `hᵀ ReLU(W p_ij + b)` scores each pair, a softmax over the pairs weighs them, and the
//! weighted sum is projected to one value, `wᵀ Σ a_ij p_ij`.

use crate::layers::{Activation, ActivationLayer, Linear};
use crate::{Param, Tensor};

/// AFM's pooling over `fields` embeddings of `dim` values, with an attention network of
/// `attention` units.
#[derive(Debug, Clone, PartialEq)]
pub struct AfmPooling {
    /// Fields per row.
    pub fields: usize,
    /// Values per embedding.
    pub dim: usize,
    w: Linear,
    relu: ActivationLayer,
    h: Linear,
    out: Linear,
    saved: Option<Saved>,
}

#[derive(Debug, Clone, PartialEq)]
struct Saved {
    e: Tensor,
    pairs: Tensor,
    weights: Vec<f32>,
}

impl AfmPooling {
    /// A pooling layer; weights from `seed`.
    pub fn new(fields: usize, dim: usize, attention: usize, seed: u64) -> Self {
        AfmPooling {
            fields,
            dim,
            w: Linear::xavier(dim, attention, seed),
            relu: ActivationLayer::new(Activation::Relu),
            h: Linear::xavier(attention, 1, seed.wrapping_add(1)).without_bias(),
            out: Linear::xavier(dim, 1, seed.wrapping_add(2)).without_bias(),
            saved: None,
        }
    }

    fn n_pairs(&self) -> usize {
        self.fields * self.fields.saturating_sub(1) / 2
    }

    /// `rows·pairs × dim`: the elementwise products of every field pair.
    fn pairs(&self, e: &Tensor) -> Tensor {
        let (f, d, np) = (self.fields, self.dim, self.n_pairs());
        assert_eq!(e.cols(), f * d, "afm: input width");
        let mut p = Tensor::zeros(e.rows() * np, d);
        for r in 0..e.rows() {
            let row = e.row(r).to_vec();
            let mut k = 0;
            for i in 0..f {
                for j in i + 1..f {
                    let o = p.row_mut(r * np + k);
                    for t in 0..d {
                        o[t] = row[i * d + t] * row[j * d + t];
                    }
                    k += 1;
                }
            }
        }
        p
    }

    fn softmax_pool(&self, scores: &[f32], pairs: &Tensor, rows: usize) -> (Vec<f32>, Tensor) {
        let (np, d) = (self.n_pairs(), self.dim);
        let mut a = scores.to_vec();
        let mut pooled = Tensor::zeros(rows, d);
        for r in 0..rows {
            let s = &mut a[r * np..(r + 1) * np];
            let max = s.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for x in s.iter_mut() {
                *x = (*x - max).exp();
                sum += *x;
            }
            s.iter_mut().for_each(|x| *x /= sum);
            let o = pooled.row_mut(r);
            for (k, &w) in s.iter().enumerate() {
                o.iter_mut()
                    .zip(pairs.row(r * np + k))
                    .for_each(|(o, p)| *o += w * p);
            }
        }
        (a, pooled)
    }

    /// One value per row, keeping nothing.
    pub fn infer(&self, e: &Tensor) -> Vec<f32> {
        if self.n_pairs() == 0 {
            return vec![0.0; e.rows()];
        }
        let p = self.pairs(e);
        let mut s = self.w.infer(&p).expect("dim");
        self.relu.activation.apply(s.data_mut());
        let scores = self.h.infer(&s).expect("attention units");
        let (_, pooled) = self.softmax_pool(scores.data(), &p, e.rows());
        self.out.infer(&pooled).expect("dim").into_vec()
    }

    /// One value per row, keeping what backward needs when `train`.
    pub fn forward(&mut self, e: &Tensor, train: bool) -> Vec<f32> {
        if !train || self.n_pairs() == 0 {
            return self.infer(e);
        }
        let p = self.pairs(e);
        let s = self.w.forward(p.clone(), true).expect("dim");
        let s = self.relu.forward(s, true);
        let scores = self.h.forward(s, true).expect("attention units");
        let (weights, pooled) = self.softmax_pool(scores.data(), &p, e.rows());
        let y = self.out.forward(pooled, true).expect("dim").into_vec();
        self.saved = Some(Saved {
            e: e.clone(),
            pairs: p,
            weights,
        });
        y
    }

    /// The embeddings' gradient from the values' gradient.
    pub fn backward(&mut self, dy: &[f32]) -> Tensor {
        let Some(s) = self.saved.take() else {
            return Tensor::zeros(dy.len(), self.fields * self.dim);
        };
        let (f, d, np, rows) = (self.fields, self.dim, self.n_pairs(), dy.len());
        let dpooled = self
            .out
            .backward(&Tensor::from_vec(rows, 1, dy.to_vec()).expect("one per row"));
        // through the weighted sum and the softmax
        let mut dp = Tensor::zeros(rows * np, d);
        let mut dscore = Tensor::zeros(rows * np, 1);
        for r in 0..rows {
            let g = dpooled.row(r).to_vec();
            let a = &s.weights[r * np..(r + 1) * np];
            let da: Vec<f32> = (0..np)
                .map(|k| {
                    g.iter()
                        .zip(s.pairs.row(r * np + k))
                        .map(|(x, y)| x * y)
                        .sum()
                })
                .collect();
            let dot: f32 = a.iter().zip(&da).map(|(x, y)| x * y).sum();
            for k in 0..np {
                dscore.row_mut(r * np + k)[0] = a[k] * (da[k] - dot);
                dp.row_mut(r * np + k)
                    .iter_mut()
                    .zip(&g)
                    .for_each(|(x, g)| *x = a[k] * g);
            }
        }
        let ds = self.h.backward(&dscore);
        let ds = self.relu.backward(ds);
        let dp_att = self.w.backward(&ds);
        dp.data_mut()
            .iter_mut()
            .zip(dp_att.data())
            .for_each(|(a, b)| *a += b);
        // p_ij = e_i ⊙ e_j
        let mut de = Tensor::zeros(rows, f * d);
        for r in 0..rows {
            let e = s.e.row(r).to_vec();
            let o = de.row_mut(r);
            let mut k = 0;
            for i in 0..f {
                for j in i + 1..f {
                    let g = dp.row(r * np + k);
                    for t in 0..d {
                        o[i * d + t] += g[t] * e[j * d + t];
                        o[j * d + t] += g[t] * e[i * d + t];
                    }
                    k += 1;
                }
            }
        }
        de
    }

    /// The attention network's and the projection's weights.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut p = self.w.params_mut();
        p.extend(self.h.params_mut());
        p.extend(self.out.params_mut());
        p
    }

    /// The same, read-only.
    pub fn params(&self) -> Vec<&Param> {
        vec![
            &self.w.weight,
            &self.w.bias,
            &self.h.weight,
            &self.out.weight,
        ]
    }
}
