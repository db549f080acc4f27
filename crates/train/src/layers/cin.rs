//! xDeepFM's compressed interaction network (Lian et al. 2018). Layer `k` builds feature
//! maps `X^k_h = Σ_{i,j} W^k_{h,ij} (X^{k−1}_i ⊙ X^0_j)` from every product of a previous
//! map with an input field, dimension by dimension (vector-wise interactions of growing
//! degree); each layer's maps are summed over the dimensions and the sums concatenated.
//!
//! Laid out as one matrix per layer whose rows are (sample, dimension) pairs, so each
//! layer's compression is one GEMM over the whole batch.

use crate::layers::Linear;
use crate::{Param, Tensor};

/// A CIN over `fields` embeddings of `dim` values.
#[derive(Debug, Clone, PartialEq)]
pub struct Cin {
    /// Fields (`m`).
    pub fields: usize,
    /// Values per embedding (`D`).
    pub dim: usize,
    /// One compression per layer: `H_{k−1}·m → H_k`, with bias.
    pub layers: Vec<Linear>,
    saved: Option<(Tensor, Vec<Tensor>)>,
}

impl Cin {
    /// Layers of `sizes[k]` feature maps each.
    pub fn new(fields: usize, dim: usize, sizes: &[usize], seed: u64) -> Self {
        let mut prev = fields;
        let layers = sizes
            .iter()
            .enumerate()
            .map(|(k, &h)| {
                let l = Linear::xavier(prev * fields, h, seed.wrapping_add(k as u64));
                prev = h;
                l
            })
            .collect();
        Cin {
            fields,
            dim,
            layers,
            saved: None,
        }
    }

    /// Output width: the sum of the layers' feature maps.
    pub fn outputs(&self) -> usize {
        self.layers.iter().map(|l| l.outputs()).sum()
    }

    /// `x₀` as (sample, dimension) rows of `fields` values.
    fn by_dimension(&self, e: &Tensor) -> Tensor {
        let (m, d) = (self.fields, self.dim);
        assert_eq!(e.cols(), m * d, "cin: input width");
        let mut x0 = Tensor::zeros(e.rows() * d, m);
        for b in 0..e.rows() {
            let row = e.row(b).to_vec();
            for k in 0..d {
                let o = x0.row_mut(b * d + k);
                for f in 0..m {
                    o[f] = row[f * d + k];
                }
            }
        }
        x0
    }

    /// Every product of a previous map with an input field: `(rows, H·m)`.
    fn products(prev: &Tensor, x0: &Tensor) -> Tensor {
        let (h, m) = (prev.cols(), x0.cols());
        let mut z = Tensor::zeros(prev.rows(), h * m);
        for r in 0..prev.rows() {
            let (p, x) = (prev.row(r).to_vec(), x0.row(r).to_vec());
            let o = z.row_mut(r);
            for i in 0..h {
                for j in 0..m {
                    o[i * m + j] = p[i] * x[j];
                }
            }
        }
        z
    }

    /// The maps' sums over the dimensions, layer after layer: `rows × outputs()`.
    fn pool(&self, maps: &[Tensor], rows: usize) -> Tensor {
        let d = self.dim;
        let mut out = Tensor::zeros(rows, self.outputs());
        let mut col = 0;
        for x in maps {
            for b in 0..rows {
                let o = &mut out.row_mut(b)[col..col + x.cols()];
                for k in 0..d {
                    o.iter_mut()
                        .zip(x.row(b * d + k))
                        .for_each(|(o, v)| *o += v);
                }
            }
            col += x.cols();
        }
        out
    }

    /// `rows × outputs()`, keeping nothing.
    pub fn infer(&self, e: &Tensor) -> Tensor {
        let x0 = self.by_dimension(e);
        let mut maps = Vec::with_capacity(self.layers.len());
        let mut prev = x0.clone();
        for l in &self.layers {
            prev = l
                .infer(&Cin::products(&prev, &x0))
                .expect("widths made together");
            maps.push(prev.clone());
        }
        self.pool(&maps, e.rows())
    }

    /// `rows × outputs()`, keeping what backward needs when `train`.
    pub fn forward(&mut self, e: &Tensor, train: bool) -> Tensor {
        if !train {
            return self.infer(e);
        }
        let x0 = self.by_dimension(e);
        let mut maps = Vec::with_capacity(self.layers.len());
        let mut prev = x0.clone();
        for l in self.layers.iter_mut() {
            prev = l
                .forward(Cin::products(&prev, &x0), true)
                .expect("widths made together");
            maps.push(prev.clone());
        }
        let out = self.pool(&maps, e.rows());
        self.saved = Some((x0, maps));
        out
    }

    /// The input's gradient, from the pooled sums' gradient.
    pub fn backward(&mut self, dy: &Tensor) -> Tensor {
        let (x0, maps) = self
            .saved
            .take()
            .expect("Cin::backward needs a forward pass with train = true");
        let (m, d, rows) = (self.fields, self.dim, dy.rows());
        let offsets: Vec<usize> = maps
            .iter()
            .scan(0, |c, x| {
                let o = *c;
                *c += x.cols();
                Some(o)
            })
            .collect();
        let mut dx0 = Tensor::zeros(rows * d, m);
        // the gradient reaching layer k's maps from the layer above
        let mut from_above: Option<Tensor> = None;
        for k in (0..self.layers.len()).rev() {
            let h = maps[k].cols();
            let mut dmap = from_above
                .take()
                .unwrap_or_else(|| Tensor::zeros(rows * d, h));
            for b in 0..rows {
                let g = dy.row(b)[offsets[k]..offsets[k] + h].to_vec();
                for kk in 0..d {
                    dmap.row_mut(b * d + kk)
                        .iter_mut()
                        .zip(&g)
                        .for_each(|(a, g)| *a += g);
                }
            }
            let dz = self.layers[k].backward(&dmap);
            let prev = if k == 0 { &x0 } else { &maps[k - 1] };
            let hp = prev.cols();
            let mut dprev = Tensor::zeros(rows * d, hp);
            for r in 0..rows * d {
                let (z, p, x) = (dz.row(r).to_vec(), prev.row(r).to_vec(), x0.row(r).to_vec());
                let dp = dprev.row_mut(r);
                for i in 0..hp {
                    dp[i] = (0..m).map(|j| z[i * m + j] * x[j]).sum();
                }
                let dx = dx0.row_mut(r);
                for j in 0..m {
                    dx[j] += (0..hp).map(|i| z[i * m + j] * p[i]).sum::<f32>();
                }
            }
            if k == 0 {
                dx0.data_mut()
                    .iter_mut()
                    .zip(dprev.data())
                    .for_each(|(a, b)| *a += b);
            } else {
                from_above = Some(dprev);
            }
        }
        // back to fields side by side
        let mut de = Tensor::zeros(rows, m * d);
        for b in 0..rows {
            for kk in 0..d {
                let g = dx0.row(b * d + kk).to_vec();
                let o = de.row_mut(b);
                for f in 0..m {
                    o[f * d + kk] = g[f];
                }
            }
        }
        de
    }

    /// Every compression's weights and biases.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        self.layers
            .iter_mut()
            .flat_map(|l| l.params_mut())
            .collect()
    }

    /// The same, read-only.
    pub fn params(&self) -> Vec<&Param> {
        self.layers
            .iter()
            .flat_map(|l| [&l.weight, &l.bias])
            .collect()
    }
}
