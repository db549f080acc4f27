//! The part of a deep ranker above the field embeddings that turns them into a logit: an
//! MLP (Wide & Deep, DeepFM), or DCN's cross network stacked under an MLP or beside it.

use funnel_model::{ModelReader, ModelWriter};
use funnel_train::{BiInteraction, CrossNet, Linear, Mlp, Param, Products, Tensor};

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
    /// [cross(x) | MLP(x)] → linear → logit.
    Parallel {
        cross: CrossNet,
        mlp: Mlp,
        out: Linear,
    },
}

impl Body {
    /// A body over inputs of width `d`: `mlp` is built by the caller with or without an
    /// output layer, as `cross` requires (see [`Body::mlp_has_output`]).
    pub fn new(
        cross: Option<CrossSpec>,
        product: Option<(Product, usize)>,
        d: usize,
        mlp: Mlp,
        seed: u64,
    ) -> Body {
        if let Some((p, fields)) = product {
            let dim = d / fields.max(1);
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
        match cross {
            None => Body::Mlp(mlp),
            Some(c) => {
                let net = CrossNet::new(d, c.layers, c.rank, c.experts, c.vector, seed ^ 0xC205);
                if c.parallel {
                    let width = d + if mlp.linears.is_empty() {
                        0
                    } else {
                        mlp.outputs()
                    };
                    Body::Parallel {
                        cross: net,
                        out: Linear::new(width, 1, seed ^ 0x0C7),
                        mlp,
                    }
                } else {
                    Body::Stacked { cross: net, mlp }
                }
            }
        }
    }

    /// Whether the MLP of this arrangement ends in a one-unit output layer (all but the
    /// parallel one, whose output layer reads the MLP and the cross network together).
    pub fn mlp_has_output(cross: Option<CrossSpec>) -> bool {
        !cross.is_some_and(|c| c.parallel)
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

    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        match self {
            Body::Mlp(m) | Body::Nfm { mlp: m, .. } | Body::Pnn { mlp: m, .. } => m.params_mut(),
            Body::Stacked { cross, mlp } => {
                let mut p = cross.params_mut();
                p.extend(mlp.params_mut());
                p
            }
            Body::Parallel { cross, mlp, out } => {
                let mut p = cross.params_mut();
                p.extend(mlp.params_mut());
                p.extend(out.params_mut());
                p
            }
        }
    }

    fn parts(&self) -> (Option<&CrossNet>, &Mlp, Option<&Linear>) {
        match self {
            Body::Mlp(m) | Body::Nfm { mlp: m, .. } | Body::Pnn { mlp: m, .. } => (None, m, None),
            Body::Stacked { cross, mlp } => (Some(cross), mlp, None),
            Body::Parallel { cross, mlp, out } => (Some(cross), mlp, Some(out)),
        }
    }

    pub fn is_finite(&self) -> bool {
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        let (cross, mlp, out) = self.parts();
        cross.is_none_or(|c| c.params().iter().all(|p| finite(&p.value)))
            && mlp
                .linears
                .iter()
                .chain(out)
                .all(|l| finite(&l.weight.value) && finite(&l.bias.value))
    }

    pub fn write(&self, w: &mut ModelWriter) {
        let (cross, mlp, out) = self.parts();
        for (l, lin) in mlp.linears.iter().enumerate() {
            write_linear(w, &format!("mlp.{l}"), lin);
        }
        if let Some(c) = cross {
            for (k, p) in c.params().iter().enumerate() {
                w.f32s(&format!("cross.{k}"), vec![p.value.len()], &p.value);
            }
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
        let (cross, mlp, out) = match self {
            Body::Mlp(m) | Body::Nfm { mlp: m, .. } | Body::Pnn { mlp: m, .. } => (None, m, None),
            Body::Stacked { cross, mlp } => (Some(cross), mlp, None),
            Body::Parallel { cross, mlp, out } => (Some(cross), mlp, Some(out)),
        };
        for (l, lin) in mlp.linears.iter_mut().enumerate() {
            fill(&format!("mlp.{l}.weight"), &mut lin.weight)?;
            fill(&format!("mlp.{l}.bias"), &mut lin.bias)?;
        }
        if let Some(c) = cross {
            for (k, p) in c.params_mut().into_iter().enumerate() {
                fill(&format!("cross.{k}"), p)?;
            }
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
