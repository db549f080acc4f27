//! Interactions of field embeddings laid side by side (`fields × dim` values per row):
//! NFM's bi-interaction pooling and PNN's inner and outer product layers.

use crate::Tensor;

/// NFM's bi-interaction pooling: `½ [(Σ_f e_f)² − Σ_f e_f²]`, elementwise, one `dim`-vector
/// per row (the FM interaction before its sum over dimensions).
#[derive(Debug, Clone, PartialEq)]
pub struct BiInteraction {
    /// Fields per row.
    pub fields: usize,
    /// Values per embedding.
    pub dim: usize,
    input: Option<Tensor>,
}

impl BiInteraction {
    /// Pooling of `fields × dim` columns into `dim`.
    pub fn new(fields: usize, dim: usize) -> Self {
        BiInteraction {
            fields,
            dim,
            input: None,
        }
    }

    /// `rows × dim`, keeping nothing.
    pub fn infer(&self, x: &Tensor) -> Tensor {
        assert_eq!(
            x.cols(),
            self.fields * self.dim,
            "bi-interaction: input width"
        );
        let d = self.dim;
        let mut out = Tensor::zeros(x.rows(), d);
        let mut sum = vec![0.0f32; d];
        let mut sq = vec![0.0f32; d];
        for i in 0..x.rows() {
            sum.iter_mut().for_each(|s| *s = 0.0);
            sq.iter_mut().for_each(|s| *s = 0.0);
            for e in x.row(i).chunks_exact(d) {
                for j in 0..d {
                    sum[j] += e[j];
                    sq[j] += e[j] * e[j];
                }
            }
            for (j, o) in out.row_mut(i).iter_mut().enumerate() {
                *o = 0.5 * (sum[j] * sum[j] - sq[j]);
            }
        }
        out
    }

    /// `rows × dim`, keeping the input when `train`.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Tensor {
        let y = self.infer(x);
        self.input = train.then(|| x.clone());
        y
    }

    /// The input's gradient: `dy_j · (Σ_g e_gj − e_fj)` for field `f`, dimension `j`.
    pub fn backward(&mut self, dy: &Tensor) -> Tensor {
        let x = self
            .input
            .take()
            .expect("BiInteraction::backward needs a forward pass with train = true");
        let d = self.dim;
        let mut dx = Tensor::zeros(x.rows(), x.cols());
        let mut sum = vec![0.0f32; d];
        for i in 0..x.rows() {
            sum.iter_mut().for_each(|s| *s = 0.0);
            for e in x.row(i).chunks_exact(d) {
                sum.iter_mut().zip(e).for_each(|(s, v)| *s += v);
            }
            let (row, g) = (x.row(i).to_vec(), dy.row(i).to_vec());
            for (k, o) in dx.row_mut(i).iter_mut().enumerate() {
                *o = g[k % d] * (sum[k % d] - row[k]);
            }
        }
        dx
    }
}

/// PNN's product layer: the pairwise inner products `⟨e_f, e_g⟩` of every field pair
/// (`f < g`, `fields·(fields−1)/2` values; IPNN), or the flattened outer product of the
/// field embeddings' sum `(Σ_f e_f)(Σ_f e_f)ᵀ` (`dim²` values; OPNN with sum pooling).
#[derive(Debug, Clone, PartialEq)]
pub struct Products {
    /// Fields per row.
    pub fields: usize,
    /// Values per embedding.
    pub dim: usize,
    /// Outer rather than inner products.
    pub outer: bool,
    input: Option<Tensor>,
}

impl Products {
    /// A product layer over `fields × dim` columns.
    pub fn new(fields: usize, dim: usize, outer: bool) -> Self {
        Products {
            fields,
            dim,
            outer,
            input: None,
        }
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        if self.outer {
            self.dim * self.dim
        } else {
            self.fields * self.fields.saturating_sub(1) / 2
        }
    }

    fn field_sum(&self, row: &[f32]) -> Vec<f32> {
        let mut s = vec![0.0f32; self.dim];
        for e in row.chunks_exact(self.dim) {
            s.iter_mut().zip(e).for_each(|(s, v)| *s += v);
        }
        s
    }

    /// `rows × outputs()`, keeping nothing.
    pub fn infer(&self, x: &Tensor) -> Tensor {
        assert_eq!(x.cols(), self.fields * self.dim, "products: input width");
        let (f, d) = (self.fields, self.dim);
        let mut out = Tensor::zeros(x.rows(), self.outputs());
        for i in 0..x.rows() {
            let row = x.row(i).to_vec();
            let o = out.row_mut(i);
            if self.outer {
                let s = self.field_sum(&row);
                for a in 0..d {
                    for b in 0..d {
                        o[a * d + b] = s[a] * s[b];
                    }
                }
            } else {
                let mut k = 0;
                for p in 0..f {
                    for q in p + 1..f {
                        o[k] = (0..d).map(|j| row[p * d + j] * row[q * d + j]).sum();
                        k += 1;
                    }
                }
            }
        }
        out
    }

    /// `rows × outputs()`, keeping the input when `train`.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Tensor {
        let y = self.infer(x);
        self.input = train.then(|| x.clone());
        y
    }

    /// The input's gradient.
    pub fn backward(&mut self, dy: &Tensor) -> Tensor {
        let x = self
            .input
            .take()
            .expect("Products::backward needs a forward pass with train = true");
        let (f, d) = (self.fields, self.dim);
        let mut dx = Tensor::zeros(x.rows(), x.cols());
        for i in 0..x.rows() {
            let row = x.row(i).to_vec();
            let g = dy.row(i).to_vec();
            let o = dx.row_mut(i);
            if self.outer {
                // d/ds of Σ_ab g_ab s_a s_b = (G + Gᵀ) s, the same for every field
                let s = self.field_sum(&row);
                let mut ds = vec![0.0f32; d];
                for a in 0..d {
                    for b in 0..d {
                        ds[a] += (g[a * d + b] + g[b * d + a]) * s[b];
                    }
                }
                for e in o.chunks_exact_mut(d) {
                    e.copy_from_slice(&ds);
                }
            } else {
                let mut k = 0;
                for p in 0..f {
                    for q in p + 1..f {
                        for j in 0..d {
                            o[p * d + j] += g[k] * row[q * d + j];
                            o[q * d + j] += g[k] * row[p * d + j];
                        }
                        k += 1;
                    }
                }
            }
        }
        dx
    }
}
