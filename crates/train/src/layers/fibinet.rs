//! FiBiNET's two layers over field embeddings laid side by side (`fields × dim` values
//! per row), Huang et al. 2019: the squeeze-excitation network, which learns a weight per
//! field from the fields' mean values and rescales each embedding by it, and the bilinear
//! interaction `p_ij = (e_i W) ⊙ e_j` of every field pair.

use crate::layers::{Activation, ActivationLayer, Linear};
use crate::{Param, Tensor};

/// SENet: `z_f = mean(e_f)`, `a = ReLU(W₂ ReLU(W₁ z))`, output `a_f · e_f` (no biases,
/// `W₁` squeezing `fields` to `max(1, fields / reduction)`).
#[derive(Debug, Clone, PartialEq)]
pub struct SeNet {
    /// Fields per row.
    pub fields: usize,
    /// Values per embedding.
    pub dim: usize,
    squeeze: Linear,
    relu1: ActivationLayer,
    excite: Linear,
    relu2: ActivationLayer,
    saved: Option<(Tensor, Tensor)>,
}

impl SeNet {
    /// A SENet over `fields` embeddings of `dim`, squeezing by `reduction`; weights from
    /// `seed`.
    pub fn new(fields: usize, dim: usize, reduction: usize, seed: u64) -> Self {
        let k = (fields / reduction.max(1)).max(1);
        SeNet {
            fields,
            dim,
            squeeze: Linear::xavier(fields, k, seed).without_bias(),
            relu1: ActivationLayer::new(Activation::Relu),
            excite: Linear::xavier(k, fields, seed.wrapping_add(1)).without_bias(),
            relu2: ActivationLayer::new(Activation::Relu),
            saved: None,
        }
    }

    /// `rows × fields`: each field's mean value.
    fn means(&self, e: &Tensor) -> Tensor {
        let (f, d) = (self.fields, self.dim);
        assert_eq!(e.cols(), f * d, "senet: input width");
        let mut z = Tensor::zeros(e.rows(), f);
        for r in 0..e.rows() {
            let row = e.row(r).to_vec();
            for (k, o) in z.row_mut(r).iter_mut().enumerate() {
                *o = row[k * d..(k + 1) * d].iter().sum::<f32>() / d as f32;
            }
        }
        z
    }

    fn rescale(&self, e: &Tensor, a: &Tensor) -> Tensor {
        let d = self.dim;
        let mut v = e.clone();
        for r in 0..e.rows() {
            let w = a.row(r).to_vec();
            for (k, x) in v.row_mut(r).iter_mut().enumerate() {
                *x *= w[k / d];
            }
        }
        v
    }

    /// The rescaled embeddings, keeping nothing.
    pub fn infer(&self, e: &Tensor) -> Tensor {
        let mut h = self.squeeze.infer(&self.means(e)).expect("fields");
        self.relu1.activation.apply(h.data_mut());
        let mut a = self.excite.infer(&h).expect("squeezed width");
        self.relu2.activation.apply(a.data_mut());
        self.rescale(e, &a)
    }

    /// The rescaled embeddings, keeping what backward needs when `train`.
    pub fn forward(&mut self, e: &Tensor, train: bool) -> Tensor {
        if !train {
            return self.infer(e);
        }
        let h = self.squeeze.forward(self.means(e), true).expect("fields");
        let h = self.relu1.forward(h, true);
        let a = self.excite.forward(h, true).expect("squeezed width");
        let a = self.relu2.forward(a, true);
        let v = self.rescale(e, &a);
        self.saved = Some((e.clone(), a));
        v
    }

    /// The embeddings' gradient from the output's.
    pub fn backward(&mut self, dv: &Tensor) -> Tensor {
        let (e, a) = self
            .saved
            .take()
            .expect("SeNet::backward needs a forward pass with train = true");
        let (f, d) = (self.fields, self.dim);
        // v_f = a_f e_f: through the embeddings directly, and through the weights.
        let mut de = self.rescale(dv, &a);
        let mut da = Tensor::zeros(e.rows(), f);
        for r in 0..e.rows() {
            let (g, x) = (dv.row(r), e.row(r));
            for (k, o) in da.row_mut(r).iter_mut().enumerate() {
                *o = (k * d..(k + 1) * d).map(|t| g[t] * x[t]).sum();
            }
        }
        let da = self.relu2.backward(da);
        let dh = self.excite.backward(&da);
        let dh = self.relu1.backward(dh);
        let dz = self.squeeze.backward(&dh);
        // z_f is the mean of e_f
        for r in 0..e.rows() {
            let g = dz.row(r).to_vec();
            for (k, o) in de.row_mut(r).iter_mut().enumerate() {
                *o += g[k / d] / d as f32;
            }
        }
        de
    }

    /// The two weight matrices.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.squeeze.weight, &mut self.excite.weight]
    }

    /// The same, read-only.
    pub fn params(&self) -> Vec<&Param> {
        vec![&self.squeeze.weight, &self.excite.weight]
    }
}

/// Which `dim × dim` matrices the bilinear interaction has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BilinearKind {
    /// One shared by every pair (`field_all`).
    All,
    /// One per field, used for its pairs with the fields after it (`field_each`).
    Each,
    /// One per pair (`field_interaction`).
    Interaction,
}

impl BilinearKind {
    /// `all`, `each` or `interaction`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "all" => Some(BilinearKind::All),
            "each" => Some(BilinearKind::Each),
            "interaction" => Some(BilinearKind::Interaction),
            _ => None,
        }
    }

    /// The name `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            BilinearKind::All => "all",
            BilinearKind::Each => "each",
            BilinearKind::Interaction => "interaction",
        }
    }
}

/// FiBiNET's bilinear interaction: `p_ij = (e_i W) ⊙ e_j` for every pair `i < j`, side by
/// side (`pairs × dim` values per row), `W` shared, per field or per pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Bilinear {
    /// Fields per row.
    pub fields: usize,
    /// Values per embedding.
    pub dim: usize,
    /// Which matrices.
    pub kind: BilinearKind,
    proj: Vec<Linear>,
    saved: Option<(Tensor, Vec<Tensor>)>,
}

impl Bilinear {
    /// A bilinear interaction over `fields` embeddings of `dim`; weights from `seed`.
    pub fn new(fields: usize, dim: usize, kind: BilinearKind, seed: u64) -> Self {
        let n = match kind {
            BilinearKind::All => 1,
            BilinearKind::Each => fields.saturating_sub(1),
            BilinearKind::Interaction => fields * fields.saturating_sub(1) / 2,
        };
        Bilinear {
            fields,
            dim,
            kind,
            proj: (0..n)
                .map(|k| Linear::xavier(dim, dim, seed.wrapping_add(k as u64)).without_bias())
                .collect(),
            saved: None,
        }
    }

    /// Output width: `pairs × dim`.
    pub fn outputs(&self) -> usize {
        self.fields * self.fields.saturating_sub(1) / 2 * self.dim
    }

    /// The field pairs in output order, with the projection each reads.
    fn pairs(&self) -> Vec<(usize, usize, usize)> {
        let f = self.fields;
        let mut out = Vec::with_capacity(f * f.saturating_sub(1) / 2);
        for i in 0..f {
            for j in i + 1..f {
                let m = match self.kind {
                    BilinearKind::All | BilinearKind::Each => i,
                    BilinearKind::Interaction => out.len(),
                };
                out.push((i, j, m));
            }
        }
        out
    }

    /// What each projection reads, by its number: for `All`, every field's embedding
    /// as a row of its own (one matrix over all fields); for `Each`, field i's; for
    /// `Interaction`, the left field of each pair.
    fn inputs(&self, e: &Tensor) -> Vec<Tensor> {
        let (f, d, rows) = (self.fields, self.dim, e.rows());
        assert_eq!(e.cols(), f * d, "bilinear: input width");
        match self.kind {
            BilinearKind::All => vec![e.clone().reshape(rows * f, d).expect("fields × dim")],
            BilinearKind::Each => (0..f.saturating_sub(1))
                .map(|i| e.slice_cols(i * d, d))
                .collect(),
            BilinearKind::Interaction => self
                .pairs()
                .into_iter()
                .map(|(i, _, _)| e.slice_cols(i * d, d))
                .collect(),
        }
    }

    /// The projections `e_i W` the pairs read (see [`Bilinear::pairs`]) from the
    /// projections' outputs.
    fn lefts(&self, rows: usize, mut outs: Vec<Tensor>) -> Vec<Tensor> {
        let (f, d) = (self.fields, self.dim);
        match self.kind {
            BilinearKind::All => {
                let y = outs.remove(0).reshape(rows, f * d).expect("fields × dim");
                (0..f).map(|i| y.slice_cols(i * d, d)).collect()
            }
            _ => outs,
        }
    }

    fn combine(&self, e: &Tensor, y: &[Tensor]) -> Tensor {
        let d = self.dim;
        let pairs = self.pairs();
        let mut out = Tensor::zeros(e.rows(), self.outputs());
        for r in 0..e.rows() {
            let x = e.row(r).to_vec();
            let o = out.row_mut(r);
            for (k, &(_, j, m)) in pairs.iter().enumerate() {
                let left = y[m].row(r);
                for t in 0..d {
                    o[k * d + t] = left[t] * x[j * d + t];
                }
            }
        }
        out
    }

    /// `rows × outputs()`, keeping nothing.
    pub fn infer(&self, e: &Tensor) -> Tensor {
        let outs = self
            .inputs(e)
            .iter()
            .zip(&self.proj)
            .map(|(x, l)| l.infer(x).expect("dim"))
            .collect();
        self.combine(e, &self.lefts(e.rows(), outs))
    }

    /// `rows × outputs()`, keeping what backward needs when `train`.
    pub fn forward(&mut self, e: &Tensor, train: bool) -> Tensor {
        if !train {
            return self.infer(e);
        }
        let outs = self
            .inputs(e)
            .into_iter()
            .zip(&mut self.proj)
            .map(|(x, l)| l.forward(x, true).expect("dim"))
            .collect();
        let y = self.lefts(e.rows(), outs);
        let out = self.combine(e, &y);
        self.saved = Some((e.clone(), y));
        out
    }

    /// The embeddings' gradient from the output's.
    pub fn backward(&mut self, dout: &Tensor) -> Tensor {
        let (e, y) = self
            .saved
            .take()
            .expect("Bilinear::backward needs a forward pass with train = true");
        let (f, d, rows) = (self.fields, self.dim, e.rows());
        let pairs = self.pairs();
        let mut de = Tensor::zeros(rows, f * d);
        let mut dy: Vec<Tensor> = y.iter().map(|_| Tensor::zeros(rows, d)).collect();
        for r in 0..rows {
            let (g, x) = (dout.row(r).to_vec(), e.row(r).to_vec());
            for (k, &(_, j, m)) in pairs.iter().enumerate() {
                let left = y[m].row(r).to_vec();
                let dl = dy[m].row_mut(r);
                let o = de.row_mut(r);
                for t in 0..d {
                    dl[t] += g[k * d + t] * x[j * d + t];
                    o[j * d + t] += g[k * d + t] * left[t];
                }
            }
        }
        let mut add_at = |i: usize, g: &Tensor| {
            for r in 0..rows {
                let src = g.row(r).to_vec();
                de.row_mut(r)[i * d..(i + 1) * d]
                    .iter_mut()
                    .zip(src)
                    .for_each(|(a, b)| *a += b);
            }
        };
        match self.kind {
            BilinearKind::All => {
                let joined = Tensor::concat_cols(&dy.iter().collect::<Vec<_>>())
                    .expect("same rows")
                    .reshape(rows * f, d)
                    .expect("fields × dim");
                let dx = self.proj[0]
                    .backward(&joined)
                    .reshape(rows, f * d)
                    .expect("fields × dim");
                for i in 0..f {
                    add_at(i, &dx.slice_cols(i * d, d));
                }
            }
            BilinearKind::Each => {
                for (i, g) in dy.iter().enumerate() {
                    let dx = self.proj[i].backward(g);
                    add_at(i, &dx);
                }
            }
            BilinearKind::Interaction => {
                for (k, &(i, _, _)) in pairs.iter().enumerate() {
                    let dx = self.proj[k].backward(&dy[k]);
                    add_at(i, &dx);
                }
            }
        }
        de
    }

    /// The projection matrices.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        self.proj.iter_mut().map(|l| &mut l.weight).collect()
    }

    /// The same, read-only.
    pub fn params(&self) -> Vec<&Param> {
        self.proj.iter().map(|l| &l.weight).collect()
    }
}
