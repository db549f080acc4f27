//! The part of a deep ranker above the field embeddings that turns them into a logit: an
//! MLP (Wide & Deep, DeepFM), an MLP over a product layer (NFM, PNN), or an interaction
//! tower beside the MLP (DCN's cross network — or under it —, AutoInt's self-attention,
//! xDeepFM's CIN), AFM's attention pooling, or FiBiNET's SENet and bilinear layers.

use funnel_model::{ModelReader, ModelWriter};
use funnel_train::{
    AfmPooling, BiInteraction, Bilinear, Cin, CrossNet, Linear, Mlp, Param, Products, SeNet,
    SelfAttention, Tensor,
};

use super::net::{Arch, Shape};

use crate::error::{RankError, Result};

/// How the cross network is built and placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CrossSpec {
    /// Cross layers.
    pub layers: usize,
    /// 0: full-rank `d × d` matrices; r > 0: a mixture of low-rank experts of rank r.
    pub rank: usize,
    /// Experts per layer of a low-rank mixture.
    pub experts: usize,
    /// DCN (v1): rank-one vector layers.
    pub vector: bool,
    /// Cross and MLP side by side, concatenated into the output layer (else the MLP
    /// reads the cross network's output).
    pub parallel: bool,
}

/// A product layer between the field embeddings and the MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Product {
    /// NFM: the MLP reads the bi-interaction pooling alone.
    Bi,
    /// IPNN: the MLP reads the embeddings and every pair's inner product.
    Inner,
    /// OPNN: the MLP reads the embeddings and the outer product of their sum.
    Outer,
}

impl Product {
    /// The MLP's input width over `fields` embeddings of `dim`.
    pub fn mlp_inputs(self, fields: usize, dim: usize) -> usize {
        match self {
            Product::Bi => dim,
            Product::Inner => fields * dim + fields * fields.saturating_sub(1) / 2,
            Product::Outer => fields * dim + dim * dim,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per model, never in a collection
pub(crate) enum Body {
    /// An MLP with a one-unit output.
    Mlp(Mlp),
    /// cross → MLP → logit.
    Stacked { cross: CrossNet, mlp: Mlp },
    /// NFM: MLP(bi-interaction(x)) → logit.
    Nfm { bi: BiInteraction, mlp: Mlp },
    /// PNN: MLP([x | products(x)]) → logit.
    Pnn { products: Products, mlp: Mlp },
    /// AFM: attention-pooled pair products → logit (`mlp` is empty).
    Afm { afm: AfmPooling, mlp: Mlp },
    /// FiBiNET: MLP([bilinear(x) | bilinear(SENet(x))]) → logit, one bilinear layer
    /// shared by both (as DeepCTR has it).
    Fibinet {
        se: SeNet,
        bilinear: Bilinear,
        mlp: Mlp,
    },
    /// An interaction tower beside the MLP: [tower(x) | MLP(x)] → linear → logit
    /// (DCN's parallel structure, AutoInt+, xDeepFM).
    Beside { tower: Tower, mlp: Mlp, out: Linear },
}

/// The interaction tower of [`Body::Beside`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tower {
    /// DCN's cross network.
    Cross(CrossNet),
    /// AutoInt's self-attention layers, flattened.
    Attention(Vec<SelfAttention>),
    /// xDeepFM's compressed interaction network.
    Cin(Cin),
}

impl Tower {
    fn outputs(&self, input: usize) -> usize {
        match self {
            Tower::Cross(c) => c.width(),
            Tower::Attention(layers) => layers.last().map_or(input, |a| a.outputs()),
            Tower::Cin(c) => c.outputs(),
        }
    }

    fn infer(&self, e: &Tensor) -> Tensor {
        match self {
            Tower::Cross(c) => c.infer(e),
            Tower::Attention(layers) => layers.iter().fold(e.clone(), |h, l| l.infer(&h)),
            Tower::Cin(c) => c.infer(e),
        }
    }

    fn forward(&mut self, e: &Tensor) -> Tensor {
        match self {
            Tower::Cross(c) => c.forward(e, true),
            Tower::Attention(layers) => layers
                .iter_mut()
                .fold(e.clone(), |h, l| l.forward(&h, true)),
            Tower::Cin(c) => c.forward(e, true),
        }
    }

    fn backward(&mut self, d: Tensor) -> Tensor {
        match self {
            Tower::Cross(c) => c.backward(d),
            Tower::Attention(layers) => layers.iter_mut().rev().fold(d, |g, l| l.backward(&g)),
            Tower::Cin(c) => c.backward(&d),
        }
    }

    fn params(&self) -> Vec<&Param> {
        match self {
            Tower::Cross(c) => c.params(),
            Tower::Attention(layers) => layers.iter().flat_map(|l| l.params()).collect(),
            Tower::Cin(c) => c.params(),
        }
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        match self {
            Tower::Cross(c) => c.params_mut(),
            Tower::Attention(layers) => layers.iter_mut().flat_map(|l| l.params_mut()).collect(),
            Tower::Cin(c) => c.params_mut(),
        }
    }
}

/// The tower's output beside the MLP's (when the MLP has layers).
fn beside(tower_out: Tensor, mlp_out: Option<Tensor>) -> Tensor {
    match mlp_out {
        Some(m) => Tensor::concat_cols(&[&tower_out, &m]).expect("same rows"),
        None => tower_out,
    }
}

/// `a` above `b` (the same widths).
fn stack_rows(a: &Tensor, b: &Tensor) -> Tensor {
    let mut v = Vec::with_capacity(a.data().len() + b.data().len());
    v.extend_from_slice(a.data());
    v.extend_from_slice(b.data());
    Tensor::from_vec(a.rows() + b.rows(), a.cols(), v).expect("same widths")
}

/// The first `rows` rows of `t`, and the rest.
fn split_rows(t: &Tensor, rows: usize) -> (Tensor, Tensor) {
    let (head, tail) = t.data().split_at(rows * t.cols());
    (
        Tensor::from_vec(rows, t.cols(), head.to_vec()).expect("rows × cols"),
        Tensor::from_vec(t.rows() - rows, t.cols(), tail.to_vec()).expect("rows × cols"),
    )
}

/// FiBiNET's MLP input from the bilinear layer's output over the embeddings stacked
/// above their SENet output: the two halves side by side.
fn fibinet_join(p: &Tensor, rows: usize) -> Tensor {
    let (plain, reweighted) = split_rows(p, rows);
    Tensor::concat_cols(&[&plain, &reweighted]).expect("same rows")
}

fn add_into(a: &mut Tensor, b: &Tensor) {
    a.data_mut()
        .iter_mut()
        .zip(b.data())
        .for_each(|(x, y)| *x += y);
}

impl Body {
    /// The body `arch` declares over `fields` embeddings of `dim` values; `mlp` is built by
    /// the caller with or without an output layer as [`Body::mlp_has_output`] says.
    pub fn new(arch: &Arch, shape: &Shape, fields: usize, mlp: Mlp) -> Body {
        let (dim, seed) = (shape.dim, shape.seed);
        let d = fields * dim;
        if let Some(p) = arch.product {
            return match p {
                Product::Bi => Body::Nfm {
                    bi: BiInteraction::new(fields, dim),
                    mlp,
                },
                Product::Inner | Product::Outer => Body::Pnn {
                    products: Products::new(fields, dim, p == Product::Outer),
                    mlp,
                },
            };
        }
        let mlp_width = if mlp.linears.is_empty() {
            0
        } else {
            mlp.outputs()
        };
        if let Some((reduction, kind)) = arch.fibinet {
            return Body::Fibinet {
                se: SeNet::new(fields, dim, reduction, seed ^ 0x5E),
                bilinear: Bilinear::new(fields, dim, kind, seed ^ 0xB1),
                mlp,
            };
        }
        if arch.afm {
            return Body::Afm {
                afm: AfmPooling::new(fields, dim, shape.afm_units, seed ^ 0xAF),
                mlp,
            };
        }
        let tower = if arch.cin {
            Tower::Cin(Cin::new(fields, dim, &shape.cin, seed ^ 0xC1))
        } else if let Some((layers, heads)) = arch.attention {
            let head_dim = (dim / heads).max(1);
            Tower::Attention(
                (0..layers)
                    .map(|l| {
                        let inp = if l == 0 { dim } else { heads * head_dim };
                        let seed = seed ^ (0xA77 + l as u64);
                        SelfAttention::new(fields, inp, heads, head_dim, false, seed)
                    })
                    .collect(),
            )
        } else {
            match arch.cross {
                None => return Body::Mlp(mlp),
                Some(c) => {
                    let net =
                        CrossNet::new(d, c.layers, c.rank, c.experts, c.vector, seed ^ 0xC205);
                    if !c.parallel {
                        return Body::Stacked { cross: net, mlp };
                    }
                    Tower::Cross(net)
                }
            }
        };
        let out_seed = match tower {
            Tower::Cin(_) => seed ^ 0x0C1,
            Tower::Attention(_) => seed ^ 0x0A7,
            Tower::Cross(_) => seed ^ 0x0C7,
        };
        Body::Beside {
            out: Linear::new(tower.outputs(d) + mlp_width, 1, out_seed),
            tower,
            mlp,
        }
    }

    /// Whether the MLP of this arrangement ends in a one-unit output layer (all but the
    /// side-by-side ones, whose output layer reads the MLP and the other tower together).
    pub fn mlp_has_output(arch: &Arch) -> bool {
        !arch.cross.is_some_and(|c| c.parallel)
            && arch.attention.is_none()
            && !arch.cin
            && !arch.afm
    }

    /// One logit per row, keeping nothing.
    pub fn infer(&self, e: &Tensor) -> Vec<f32> {
        match self {
            Body::Mlp(m) => m.infer(e).expect("fields × dim").into_vec(),
            Body::Nfm { bi, mlp } => mlp.infer(&bi.infer(e)).expect("dim").into_vec(),
            Body::Pnn { products, mlp } => {
                let joined = Tensor::concat_cols(&[e, &products.infer(e)]).expect("same rows");
                mlp.infer(&joined).expect("widths made together").into_vec()
            }
            Body::Afm { afm, .. } => afm.infer(e),
            Body::Fibinet { se, bilinear, mlp } => {
                let p = bilinear.infer(&stack_rows(e, &se.infer(e)));
                mlp.infer(&fibinet_join(&p, e.rows()))
                    .expect("widths made together")
                    .into_vec()
            }
            Body::Stacked { cross, mlp } => mlp
                .infer(&cross.infer(e))
                .expect("the cross network keeps the width")
                .into_vec(),
            Body::Beside { tower, mlp, out } => {
                let m = (!mlp.linears.is_empty()).then(|| mlp.infer(e).expect("fields × dim"));
                out.infer(&beside(tower.infer(e), m))
                    .expect("widths made together")
                    .into_vec()
            }
        }
    }

    /// One logit per row of a training pass.
    pub fn forward(&mut self, e: &Tensor) -> Vec<f32> {
        match self {
            Body::Mlp(m) => m.forward(e.clone(), true).into_vec(),
            Body::Nfm { bi, mlp } => mlp.forward(bi.forward(e, true), true).into_vec(),
            Body::Pnn { products, mlp } => {
                let p = products.forward(e, true);
                let joined = Tensor::concat_cols(&[e, &p]).expect("same rows");
                mlp.forward(joined, true).into_vec()
            }
            Body::Afm { afm, .. } => afm.forward(e, true),
            Body::Fibinet { se, bilinear, mlp } => {
                let v = se.forward(e, true);
                let p = bilinear.forward(&stack_rows(e, &v), true);
                mlp.forward(fibinet_join(&p, e.rows()), true).into_vec()
            }
            Body::Stacked { cross, mlp } => {
                let c = cross.forward(e, true);
                mlp.forward(c, true).into_vec()
            }
            Body::Beside { tower, mlp, out } => {
                let m = (!mlp.linears.is_empty()).then(|| mlp.forward(e.clone(), true));
                out.forward(beside(tower.forward(e), m), true)
                    .expect("widths made together")
                    .into_vec()
            }
        }
    }

    /// The embeddings' gradient from the logits'.
    pub fn backward(&mut self, dz: Tensor) -> Tensor {
        match self {
            Body::Mlp(m) => m.backward(dz),
            Body::Nfm { bi, mlp } => bi.backward(&mlp.backward(dz)),
            Body::Pnn { products, mlp } => {
                let dj = mlp.backward(dz);
                let w = dj.cols() - products.outputs();
                let mut de = dj.slice_cols(0, w);
                add_into(
                    &mut de,
                    &products.backward(&dj.slice_cols(w, products.outputs())),
                );
                de
            }
            Body::Stacked { cross, mlp } => {
                let dc = mlp.backward(dz);
                cross.backward(dc)
            }
            Body::Afm { afm, .. } => afm.backward(dz.data()),
            Body::Fibinet { se, bilinear, mlp } => {
                let dj = mlp.backward(dz);
                let w = bilinear.outputs();
                let dp = stack_rows(&dj.slice_cols(0, w), &dj.slice_cols(w, w));
                let (mut de, dv) = split_rows(&bilinear.backward(&dp), dj.rows());
                add_into(&mut de, &se.backward(&dv));
                de
            }
            Body::Beside { tower, mlp, out } => {
                let dj = out.backward(&dz);
                let w = if mlp.linears.is_empty() {
                    dj.cols()
                } else {
                    dj.cols() - mlp.outputs()
                };
                let mut de = tower.backward(dj.slice_cols(0, w));
                if !mlp.linears.is_empty() {
                    add_into(&mut de, &mlp.backward(dj.slice_cols(w, dj.cols() - w)));
                }
                de
            }
        }
    }

    /// The interaction layers' parameters (cross or attention), the MLP and the output
    /// layer of the side-by-side arrangements.
    fn parts(&self) -> (Vec<&Param>, &Mlp, Option<&Linear>) {
        match self {
            Body::Mlp(m) | Body::Nfm { mlp: m, .. } | Body::Pnn { mlp: m, .. } => {
                (Vec::new(), m, None)
            }
            Body::Stacked { cross, mlp } => (cross.params(), mlp, None),
            Body::Beside { tower, mlp, out } => (tower.params(), mlp, Some(out)),
            Body::Afm { afm, mlp } => (afm.params(), mlp, None),
            Body::Fibinet { se, bilinear, mlp } => {
                let mut p = se.params();
                p.extend(bilinear.params());
                (p, mlp, None)
            }
        }
    }

    fn parts_mut(&mut self) -> (Vec<&mut Param>, &mut Mlp, Option<&mut Linear>) {
        match self {
            Body::Mlp(m) | Body::Nfm { mlp: m, .. } | Body::Pnn { mlp: m, .. } => {
                (Vec::new(), m, None)
            }
            Body::Stacked { cross, mlp } => (cross.params_mut(), mlp, None),
            Body::Beside { tower, mlp, out } => (tower.params_mut(), mlp, Some(out)),
            Body::Afm { afm, mlp } => (afm.params_mut(), mlp, None),
            Body::Fibinet { se, bilinear, mlp } => {
                let mut p = se.params_mut();
                p.extend(bilinear.params_mut());
                (p, mlp, None)
            }
        }
    }

    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        let (mut p, mlp, out) = self.parts_mut();
        p.extend(mlp.params_mut());
        if let Some(o) = out {
            p.extend(o.params_mut());
        }
        p
    }

    pub fn is_finite(&self) -> bool {
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        let (inner, mlp, out) = self.parts();
        inner.iter().all(|p| finite(&p.value))
            && mlp
                .linears
                .iter()
                .chain(out)
                .all(|l| finite(&l.weight.value) && finite(&l.bias.value))
    }

    pub fn write(&self, w: &mut ModelWriter) {
        let (inner, mlp, out) = self.parts();
        for (l, lin) in mlp.linears.iter().enumerate() {
            write_linear(w, &format!("mlp.{l}"), lin);
        }
        for (k, p) in inner.iter().enumerate() {
            w.f32s(&format!("interaction.{k}"), vec![p.value.len()], &p.value);
        }
        if let Some(o) = out {
            write_linear(w, "out", o);
        }
    }

    /// Reads the arrays `write` wrote into a body of the same shape (`self`, freshly built).
    pub fn read(&mut self, r: &ModelReader) -> Result<()> {
        let (inner, mlp, out) = self.parts_mut();
        for (l, lin) in mlp.linears.iter_mut().enumerate() {
            read_linear(r, &format!("mlp.{l}"), lin)?;
        }
        for (k, p) in inner.into_iter().enumerate() {
            read_param(r, &format!("interaction.{k}"), p)?;
        }
        if let Some(o) = out {
            read_linear(r, "out", o)?;
        }
        Ok(())
    }
}

/// Fills `p` with the array `name` of a model file, refusing one of another size.
pub(crate) fn read_param(r: &ModelReader, name: &str, p: &mut Param) -> Result<()> {
    let v = r.f32s(name)?;
    if v.len() != p.value.len() {
        return Err(RankError::Model(funnel_model::ModelError::ModelFile {
            path: r.path().to_string(),
            message: format!(
                "`{name}` holds {} values where the model's settings make {}",
                v.len(),
                p.value.len()
            ),
        }));
    }
    p.value = v;
    Ok(())
}

/// Reads what [`write_linear`] wrote as `name`.
pub(crate) fn read_linear(r: &ModelReader, name: &str, l: &mut Linear) -> Result<()> {
    read_param(r, &format!("{name}.weight"), &mut l.weight)?;
    read_param(r, &format!("{name}.bias"), &mut l.bias)
}

/// Writes a linear layer's weights and biases as `name.weight` and `name.bias`.
pub(crate) fn write_linear(w: &mut ModelWriter, name: &str, l: &Linear) {
    w.f32s(
        &format!("{name}.weight"),
        vec![l.outputs(), l.inputs()],
        &l.weight.value,
    );
    w.f32s(&format!("{name}.bias"), vec![l.outputs()], &l.bias.value);
}
