//! The part of a deep ranker above the field embeddings that turns them into a logit: an
//! MLP (Wide & Deep, DeepFM), an MLP over a product layer (NFM, PNN), or an interaction
//! tower beside the MLP (DCN's cross network — or under it —, AutoInt's self-attention,
//! xDeepFM's CIN).

use funnel_model::{ModelReader, ModelWriter};
use funnel_train::{
    AfmPooling, BiInteraction, Cin, CrossNet, Linear, Mlp, Param, Products, SelfAttention, Tensor,
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
    /// xDeepFM: [CIN(x) | MLP(x)] → linear → logit.
    XDeepFm { cin: Cin, mlp: Mlp, out: Linear },
    /// AutoInt: [flatten(self-attention layers(x)) | MLP(x)] → linear → logit.
    AutoInt {
        layers: Vec<SelfAttention>,
        mlp: Mlp,
        out: Linear,
    },
    /// [cross(x) | MLP(x)] → linear → logit.
    Parallel {
        cross: CrossNet,
        mlp: Mlp,
        out: Linear,
    },
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
        if arch.afm {
            return Body::Afm {
                afm: AfmPooling::new(fields, dim, shape.afm_units, seed ^ 0xAF),
                mlp,
            };
        }
        if arch.cin {
            let cin = Cin::new(fields, dim, &shape.cin, seed ^ 0xC1);
            return Body::XDeepFm {
                out: Linear::new(cin.outputs() + mlp_width, 1, seed ^ 0x0C1),
                cin,
                mlp,
            };
        }
        if let Some((layers, heads)) = arch.attention {
            let head_dim = (dim / heads).max(1);
            let layers: Vec<SelfAttention> = (0..layers)
                .map(|l| {
                    let inp = if l == 0 { dim } else { heads * head_dim };
                    SelfAttention::new(
                        fields,
                        inp,
                        heads,
                        head_dim,
                        false,
                        seed ^ (0xA77 + l as u64),
                    )
                })
                .collect();
            let width = layers.last().map_or(d, |a| a.outputs()) + mlp_width;
            return Body::AutoInt {
                layers,
                out: Linear::new(width, 1, seed ^ 0x0A7),
                mlp,
            };
        }
        match arch.cross {
            None => Body::Mlp(mlp),
            Some(c) => {
                let net = CrossNet::new(d, c.layers, c.rank, c.experts, c.vector, seed ^ 0xC205);
                if c.parallel {
                    Body::Parallel {
                        cross: net,
                        out: Linear::new(d + mlp_width, 1, seed ^ 0x0C7),
                        mlp,
                    }
                } else {
                    Body::Stacked { cross: net, mlp }
                }
            }
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
            Body::XDeepFm { cin, mlp, out } => {
                let mut h = cin.infer(e);
                if !mlp.linears.is_empty() {
                    let m = mlp.infer(e).expect("fields × dim");
                    h = Tensor::concat_cols(&[&h, &m]).expect("same rows");
                }
                out.infer(&h).expect("widths made together").into_vec()
            }
            Body::AutoInt { layers, mlp, out } => {
                let mut h = e.clone();
                for l in layers {
                    h = l.infer(&h);
                }
                if !mlp.linears.is_empty() {
                    let m = mlp.infer(e).expect("fields × dim");
                    h = Tensor::concat_cols(&[&h, &m]).expect("same rows");
                }
                out.infer(&h).expect("widths made together").into_vec()
            }
            Body::Stacked { cross, mlp } => mlp
                .infer(&cross.infer(e))
                .expect("the cross network keeps the width")
                .into_vec(),
            Body::Parallel { cross, mlp, out } => {
                let c = cross.infer(e);
                let joined = if mlp.linears.is_empty() {
                    c
                } else {
                    let m = mlp.infer(e).expect("fields × dim");
                    Tensor::concat_cols(&[&c, &m]).expect("same rows")
                };
                out.infer(&joined).expect("widths made together").into_vec()
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
            Body::XDeepFm { cin, mlp, out } => {
                let mut h = cin.forward(e, true);
                if !mlp.linears.is_empty() {
                    let m = mlp.forward(e.clone(), true);
                    h = Tensor::concat_cols(&[&h, &m]).expect("same rows");
                }
                out.forward(h, true)
                    .expect("widths made together")
                    .into_vec()
            }
            Body::AutoInt { layers, mlp, out } => {
                let mut h = e.clone();
                for l in layers.iter_mut() {
                    h = l.forward(&h, true);
                }
                if !mlp.linears.is_empty() {
                    let m = mlp.forward(e.clone(), true);
                    h = Tensor::concat_cols(&[&h, &m]).expect("same rows");
                }
                out.forward(h, true)
                    .expect("widths made together")
                    .into_vec()
            }
            Body::Stacked { cross, mlp } => {
                let c = cross.forward(e, true);
                mlp.forward(c, true).into_vec()
            }
            Body::Parallel { cross, mlp, out } => {
                let c = cross.forward(e, true);
                let joined = if mlp.linears.is_empty() {
                    c
                } else {
                    let m = mlp.forward(e.clone(), true);
                    Tensor::concat_cols(&[&c, &m]).expect("same rows")
                };
                out.forward(joined, true)
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
                let dp = products.backward(&dj.slice_cols(w, products.outputs()));
                de.data_mut()
                    .iter_mut()
                    .zip(dp.data())
                    .for_each(|(a, b)| *a += b);
                de
            }
            Body::Stacked { cross, mlp } => {
                let dc = mlp.backward(dz);
                cross.backward(dc)
            }
            Body::Afm { afm, .. } => afm.backward(dz.data()),
            Body::XDeepFm { cin, mlp, out } => {
                let dj = out.backward(&dz);
                let w = cin.outputs();
                let mut de = cin.backward(&dj.slice_cols(0, w));
                if !mlp.linears.is_empty() {
                    let dm = mlp.backward(dj.slice_cols(w, dj.cols() - w));
                    de.data_mut()
                        .iter_mut()
                        .zip(dm.data())
                        .for_each(|(a, b)| *a += b);
                }
                de
            }
            Body::AutoInt { layers, mlp, out } => {
                let dj = out.backward(&dz);
                let w = layers.last().map_or(dj.cols(), |a| a.outputs());
                let w = if mlp.linears.is_empty() { dj.cols() } else { w };
                let mut dh = dj.slice_cols(0, w);
                for l in layers.iter_mut().rev() {
                    dh = l.backward(&dh);
                }
                if !mlp.linears.is_empty() {
                    let dm = mlp.backward(dj.slice_cols(w, dj.cols() - w));
                    dh.data_mut()
                        .iter_mut()
                        .zip(dm.data())
                        .for_each(|(a, b)| *a += b);
                }
                dh
            }
            Body::Parallel { cross, mlp, out } => {
                let dj = out.backward(&dz);
                let w = cross.width();
                let mut de = cross.backward(dj.slice_cols(0, w));
                if !mlp.linears.is_empty() {
                    let dm = mlp.backward(dj.slice_cols(w, dj.cols() - w));
                    de.data_mut()
                        .iter_mut()
                        .zip(dm.data())
                        .for_each(|(a, b)| *a += b);
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
            Body::Parallel { cross, mlp, out } => (cross.params(), mlp, Some(out)),
            Body::AutoInt { layers, mlp, out } => (
                layers.iter().flat_map(|l| l.params()).collect(),
                mlp,
                Some(out),
            ),
            Body::XDeepFm { cin, mlp, out } => (cin.params(), mlp, Some(out)),
            Body::Afm { afm, mlp } => (afm.params(), mlp, None),
        }
    }

    fn parts_mut(&mut self) -> (Vec<&mut Param>, &mut Mlp, Option<&mut Linear>) {
        match self {
            Body::Mlp(m) | Body::Nfm { mlp: m, .. } | Body::Pnn { mlp: m, .. } => {
                (Vec::new(), m, None)
            }
            Body::Stacked { cross, mlp } => (cross.params_mut(), mlp, None),
            Body::Parallel { cross, mlp, out } => (cross.params_mut(), mlp, Some(out)),
            Body::AutoInt { layers, mlp, out } => (
                layers.iter_mut().flat_map(|l| l.params_mut()).collect(),
                mlp,
                Some(out),
            ),
            Body::XDeepFm { cin, mlp, out } => (cin.params_mut(), mlp, Some(out)),
            Body::Afm { afm, mlp } => (afm.params_mut(), mlp, None),
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
        let bad = |m: String| {
            RankError::Model(funnel_model::ModelError::ModelFile {
                path: r.path().to_string(),
                message: m,
            })
        };
        let fill = |name: &str, p: &mut Param| -> Result<()> {
            let v = r.f32s(name)?;
            if v.len() != p.value.len() {
                return Err(bad(format!(
                    "`{name}` holds {} values where the model's settings make {}",
                    v.len(),
                    p.value.len()
                )));
            }
            p.value = v;
            Ok(())
        };
        let (inner, mlp, out) = self.parts_mut();
        for (l, lin) in mlp.linears.iter_mut().enumerate() {
            fill(&format!("mlp.{l}.weight"), &mut lin.weight)?;
            fill(&format!("mlp.{l}.bias"), &mut lin.bias)?;
        }
        for (k, p) in inner.into_iter().enumerate() {
            fill(&format!("interaction.{k}"), p)?;
        }
        if let Some(o) = out {
            fill("out.weight", &mut o.weight)?;
            fill("out.bias", &mut o.bias)?;
        }
        Ok(())
    }
}

fn write_linear(w: &mut ModelWriter, name: &str, l: &Linear) {
    w.f32s(
        &format!("{name}.weight"),
        vec![l.outputs(), l.inputs()],
        &l.weight.value,
    );
    w.f32s(&format!("{name}.bias"), vec![l.outputs()], &l.bias.value);
}
