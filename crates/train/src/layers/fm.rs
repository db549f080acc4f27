//! The factorisation machine's pairwise interaction over field embeddings:
//! `Σ_{f<g} ⟨e_f, e_g⟩ = ½ Σ_d [(Σ_f e_fd)² − Σ_f e_fd²]`.

use crate::Tensor;

/// The FM interaction of `fields` embeddings of `dim` values, laid side by side in a row.
#[derive(Debug, Clone, PartialEq)]
pub struct FmInteraction {
    /// Fields per row.
    pub fields: usize,
    /// Values per embedding.
    pub dim: usize,
    input: Option<Tensor>,
}

impl FmInteraction {
    /// An interaction over `fields × dim` columns.
    pub fn new(fields: usize, dim: usize) -> Self {
        FmInteraction {
            fields,
            dim,
            input: None,
        }
    }

    /// One value per row.
    pub fn infer(&self, x: &Tensor) -> Vec<f32> {
        assert_eq!(x.cols(), self.fields * self.dim, "fm: input width");
        let mut sum = vec![0.0f32; self.dim];
        (0..x.rows())
            .map(|i| {
                sum.iter_mut().for_each(|s| *s = 0.0);
                let mut sq = 0.0f32;
                for e in x.row(i).chunks_exact(self.dim) {
                    for (s, &v) in sum.iter_mut().zip(e) {
                        *s += v;
                        sq += v * v;
                    }
                }
                0.5 * (sum.iter().map(|s| s * s).sum::<f32>() - sq)
            })
            .collect()
    }

    /// One value per row, keeping the input when `train`.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Vec<f32> {
        let y = self.infer(x);
        self.input = train.then(|| x.clone());
        y
    }

    /// The input's gradient: `dy · (Σ_g e_g − e_f)` for each field `f`.
    pub fn backward(&mut self, dy: &[f32]) -> Tensor {
        let x = self
            .input
            .take()
            .expect("FmInteraction::backward needs a forward pass with train = true");
        let mut dx = Tensor::zeros(x.rows(), x.cols());
        let mut sum = vec![0.0f32; self.dim];
        for i in 0..x.rows() {
            sum.iter_mut().for_each(|s| *s = 0.0);
            for e in x.row(i).chunks_exact(self.dim) {
                sum.iter_mut().zip(e).for_each(|(s, v)| *s += v);
            }
            let row = x.row(i);
            for (k, g) in dx.row_mut(i).iter_mut().enumerate() {
                *g = dy[i] * (sum[k % self.dim] - row[k]);
            }
        }
        dx
    }
}
