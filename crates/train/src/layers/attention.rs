//! Multi-head self-attention over the tokens of each row (AutoInt's interacting layer;
//! the building block SDM's session encoder needs too).
//!
//! A row holds `tokens × dim` values. Each head projects the tokens to queries, keys and
//! values (`dim → head_dim`, no bias), attends with `softmax(Q Kᵀ / scale)` over the row's
//! own tokens, and the heads' outputs are concatenated; a residual projection of the input
//! (`dim → heads·head_dim`) is added and a ReLU applied, as in AutoInt.

use crate::layers::Linear;
use crate::{Param, Tensor};

/// One multi-head self-attention layer.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfAttention {
    /// Tokens per row.
    pub tokens: usize,
    /// Input width of a token.
    pub dim: usize,
    /// Heads.
    pub heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Divide scores by `√head_dim` (Transformer) or not (AutoInt).
    pub scaled: bool,
    q: Linear,
    k: Linear,
    v: Linear,
    residual: Linear,
    saved: Option<Saved>,
}

#[derive(Debug, Clone, PartialEq)]
struct Saved {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    /// Softmax weights, `rows × heads × tokens × tokens`.
    attn: Vec<f32>,
    /// The output after the ReLU.
    out: Tensor,
}

impl SelfAttention {
    /// A layer over `tokens` tokens of width `dim`, `heads` heads of width `head_dim`.
    pub fn new(
        tokens: usize,
        dim: usize,
        heads: usize,
        head_dim: usize,
        scaled: bool,
        seed: u64,
    ) -> Self {
        let w = heads * head_dim;
        SelfAttention {
            tokens,
            dim,
            heads,
            head_dim,
            scaled,
            q: Linear::xavier(dim, w, seed).without_bias(),
            k: Linear::xavier(dim, w, seed.wrapping_add(1)).without_bias(),
            v: Linear::xavier(dim, w, seed.wrapping_add(2)).without_bias(),
            residual: Linear::xavier(dim, w, seed.wrapping_add(3)).without_bias(),
            saved: None,
        }
    }

    /// Output width of a row: `tokens × heads × head_dim`.
    pub fn outputs(&self) -> usize {
        self.tokens * self.heads * self.head_dim
    }

    fn scale(&self) -> f32 {
        if self.scaled {
            1.0 / (self.head_dim as f32).sqrt()
        } else {
            1.0
        }
    }

    /// Attention of every row and head: returns the heads' concatenated outputs
    /// (`rows·tokens × heads·head_dim`) and the softmax weights.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, rows: usize) -> (Tensor, Vec<f32>) {
        let (t, h, hd) = (self.tokens, self.heads, self.head_dim);
        let w = h * hd;
        let scale = self.scale();
        let mut out = Tensor::zeros(rows * t, w);
        let mut attn = vec![0.0f32; rows * h * t * t];
        for r in 0..rows {
            for head in 0..h {
                let a = &mut attn[(r * h + head) * t * t..(r * h + head + 1) * t * t];
                for i in 0..t {
                    let qi = &q.row(r * t + i)[head * hd..(head + 1) * hd];
                    let row = &mut a[i * t..(i + 1) * t];
                    for (j, s) in row.iter_mut().enumerate() {
                        let kj = &k.row(r * t + j)[head * hd..(head + 1) * hd];
                        *s = scale * qi.iter().zip(kj).map(|(x, y)| x * y).sum::<f32>();
                    }
                    let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0;
                    for s in row.iter_mut() {
                        *s = (*s - max).exp();
                        sum += *s;
                    }
                    row.iter_mut().for_each(|s| *s /= sum);
                    let o = &mut out.row_mut(r * t + i)[head * hd..(head + 1) * hd];
                    for (j, &p) in row.iter().enumerate() {
                        let vj = &v.row(r * t + j)[head * hd..(head + 1) * hd];
                        o.iter_mut().zip(vj).for_each(|(o, x)| *o += p * x);
                    }
                }
            }
        }
        (out, attn)
    }

    fn tokens_of(&self, x: &Tensor) -> Tensor {
        assert_eq!(x.cols(), self.tokens * self.dim, "attention: input width");
        x.clone()
            .reshape(x.rows() * self.tokens, self.dim)
            .expect("tokens × dim per row")
    }

    /// `rows × outputs()`, keeping nothing.
    pub fn infer(&self, x: &Tensor) -> Tensor {
        let rows = x.rows();
        let tok = self.tokens_of(x);
        let (q, k, v) = (
            self.q.infer(&tok).expect("dim"),
            self.k.infer(&tok).expect("dim"),
            self.v.infer(&tok).expect("dim"),
        );
        let (mut out, _) = self.attend(&q, &k, &v, rows);
        let res = self.residual.infer(&tok).expect("dim");
        out.data_mut()
            .iter_mut()
            .zip(res.data())
            .for_each(|(o, r)| *o = (*o + r).max(0.0));
        out.reshape(rows, self.outputs()).expect("same count")
    }

    /// `rows × outputs()`, keeping what backward needs when `train`.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Tensor {
        if !train {
            self.saved = None;
            return self.infer(x);
        }
        let rows = x.rows();
        let tok = self.tokens_of(x);
        let q = self.q.forward(tok.clone(), true).expect("dim");
        let k = self.k.forward(tok.clone(), true).expect("dim");
        let v = self.v.forward(tok.clone(), true).expect("dim");
        let (mut out, attn) = self.attend(&q, &k, &v, rows);
        let res = self.residual.forward(tok, true).expect("dim");
        out.data_mut()
            .iter_mut()
            .zip(res.data())
            .for_each(|(o, r)| *o = (*o + r).max(0.0));
        self.saved = Some(Saved {
            q,
            k,
            v,
            attn,
            out: out.clone(),
        });
        out.reshape(rows, self.outputs()).expect("same count")
    }

    /// Accumulates the projections' gradients and returns the input's.
    pub fn backward(&mut self, dy: &Tensor) -> Tensor {
        let s = self
            .saved
            .take()
            .expect("SelfAttention::backward needs a forward pass with train = true");
        let rows = dy.rows();
        let (t, h, hd) = (self.tokens, self.heads, self.head_dim);
        let w = h * hd;
        let scale = self.scale();
        // through the ReLU
        let mut d = dy.clone().reshape(rows * t, w).expect("outputs per row");
        d.data_mut()
            .iter_mut()
            .zip(s.out.data())
            .for_each(|(g, y)| {
                if *y <= 0.0 {
                    *g = 0.0
                }
            });
        let mut dq = Tensor::zeros(rows * t, w);
        let mut dk = Tensor::zeros(rows * t, w);
        let mut dv = Tensor::zeros(rows * t, w);
        let mut da = vec![0.0f32; t];
        for r in 0..rows {
            for head in 0..h {
                let a = &s.attn[(r * h + head) * t * t..(r * h + head + 1) * t * t];
                let span = head * hd..(head + 1) * hd;
                for i in 0..t {
                    let doi = d.row(r * t + i)[span.clone()].to_vec();
                    let ai = &a[i * t..(i + 1) * t];
                    // dV_j += a_ij · dO_i ; dA_ij = dO_i · V_j
                    for j in 0..t {
                        let dvj = &mut dv.row_mut(r * t + j)[span.clone()];
                        dvj.iter_mut().zip(&doi).for_each(|(x, g)| *x += ai[j] * g);
                        let vj = &s.v.row(r * t + j)[span.clone()];
                        da[j] = doi.iter().zip(vj).map(|(g, x)| g * x).sum();
                    }
                    // softmax: dS_ij = a_ij (dA_ij − Σ_k a_ik dA_ik), then the scale
                    let dot: f32 = ai.iter().zip(&da).map(|(p, g)| p * g).sum();
                    let qi = s.q.row(r * t + i)[span.clone()].to_vec();
                    for j in 0..t {
                        let ds = scale * ai[j] * (da[j] - dot);
                        let kj = s.k.row(r * t + j)[span.clone()].to_vec();
                        let dqi = &mut dq.row_mut(r * t + i)[span.clone()];
                        dqi.iter_mut().zip(&kj).for_each(|(x, k)| *x += ds * k);
                        let dkj = &mut dk.row_mut(r * t + j)[span.clone()];
                        dkj.iter_mut().zip(&qi).for_each(|(x, q)| *x += ds * q);
                    }
                }
            }
        }
        let mut dx = self.residual.backward(&d);
        for (lin, g) in [(&mut self.q, &dq), (&mut self.k, &dk), (&mut self.v, &dv)] {
            let part = lin.backward(g);
            dx.data_mut()
                .iter_mut()
                .zip(part.data())
                .for_each(|(a, b)| *a += b);
        }
        dx.reshape(rows, t * self.dim)
            .expect("tokens × dim per row")
    }

    /// The four projections' weights.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut p = self.q.params_mut();
        p.extend(self.k.params_mut());
        p.extend(self.v.params_mut());
        p.extend(self.residual.params_mut());
        p
    }

    /// The four projections' weights, read-only, in the order of `params_mut`.
    pub fn params(&self) -> Vec<&Param> {
        vec![
            &self.q.weight,
            &self.k.weight,
            &self.v.weight,
            &self.residual.weight,
        ]
    }
}
