//! The network of the deep rankers: one embedding per (sample, field), pooled from that
//! field's features, and heads whose logits add up (a wide linear part, the FM
//! interaction, an MLP over the concatenated field embeddings).

use funnel_features::SampleSet;
use funnel_model::{ModelReader, ModelWriter};
use funnel_train::{
    Activation, AttentionUnit, Bags, BilinearKind, EmbeddingTable, FmInteraction, Mlp, Optimizer,
    Param, SparseRule, Tensor,
};

use super::body::{read_linear, write_linear, Body, CrossSpec, Product};
use crate::error::{RankError, Result};

/// A batch of samples as the network reads them.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Samples in the batch.
    pub rows: usize,
    /// `rows × fields` bags: bag `i·F + f` pools sample `i`'s features of field `f`.
    pub fields: Bags,
    /// `rows` bags of every feature of the sample (the wide part).
    pub all: Bags,
    /// Labels (clicks as 1).
    pub labels: Vec<f32>,
    /// DIN: `rows × len × links` bags of one token each, the history's positions (oldest
    /// first, the newest `len`) with every linked field's token, in the candidate
    /// field's rows; empty bags pad short histories.
    pub keys: Bags,
    /// DIN: `rows × len`, 1 at the positions a history has.
    pub mask: Vec<f32>,
}

/// DIN: a history field (a sequence) read in the rows of the candidate field whose
/// vocabulary it takes (`shift` = that field's offset minus its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Link {
    pub history: u32,
    pub query: u32,
    pub shift: i64,
}

impl Batch {
    /// The samples `rows` of `s`, with fields at or beyond `fields` ignored.
    pub fn of(
        s: &SampleSet,
        rows: impl Iterator<Item = usize>,
        fields: usize,
        din: Option<(&[Link], usize)>,
    ) -> Batch {
        let mut b = Batch {
            fields: Bags::new(),
            all: Bags::new(),
            keys: Bags::new(),
            ..Default::default()
        };
        let mut tokens: Vec<Vec<u32>> = Vec::new();
        for i in rows {
            let r = s.row(i);
            if let Some((links, len)) = din {
                tokens.resize(links.len(), Vec::new());
                for (l, t) in links.iter().zip(&mut tokens) {
                    t.clear();
                    t.extend(
                        r.fields
                            .iter()
                            .zip(r.indices)
                            .filter(|(&f, _)| f == l.history)
                            .map(|(_, &x)| (x as i64 + l.shift).max(0) as u32),
                    );
                }
                let n = tokens[0].len();
                let start = n.saturating_sub(len);
                for p in 0..len {
                    for t in &tokens {
                        if let Some(&x) = t.get(start + p) {
                            b.keys.push(x, 1.0);
                        }
                        b.keys.close();
                    }
                    b.mask.push(if start + p < n { 1.0 } else { 0.0 });
                }
            }
            let mut k = 0;
            for f in 0..fields as u32 {
                while k < r.fields.len() && r.fields[k] == f {
                    b.fields.push(r.indices[k], r.values[k]);
                    b.all.push(r.indices[k], r.values[k]);
                    k += 1;
                }
                b.fields.close();
            }
            b.all.close();
            b.labels.push(if r.label > 0.0 { 1.0 } else { 0.0 });
            b.rows += 1;
        }
        b
    }
}

/// What a model is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Arch {
    /// A linear term over every feature (the "wide" part, FM's first order).
    pub wide: bool,
    /// The FM interaction over field embeddings.
    pub fm: bool,
    /// DCN's cross network, and where it sits.
    pub cross: Option<CrossSpec>,
    /// A product layer under the MLP (NFM, PNN).
    pub product: Option<Product>,
    /// AutoInt's self-attention layers over the fields: `(layers, heads)`.
    pub attention: Option<(usize, usize)>,
    /// xDeepFM's CIN beside the MLP (its sizes are in [`Shape::cin`]).
    pub cin: bool,
    /// AFM's attention-based pooling of the pairs instead of an MLP.
    pub afm: bool,
    /// FiBiNET: the SENet's reduction ratio and the bilinear interaction's matrices; the
    /// MLP reads the bilinear interactions of the embeddings and of their SENet output.
    pub fibinet: Option<(usize, BilinearKind)>,
    /// DIN: attention from the candidate over the history (its links are in
    /// [`Shape::din`]).
    pub din: bool,
}

/// Sizes and initialisation of a network.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    pub dim: usize,
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub dropout: f32,
    pub init_std: f32,
    /// Hidden MLP weights: normal with this deviation, or He-uniform when 0.
    pub mlp_init_std: f32,
    /// Feature maps of each CIN layer (xDeepFM).
    pub cin: Vec<usize>,
    /// Units of AFM's attention network.
    pub afm_units: usize,
    /// DIN: the history fields and what they attend with.
    pub din: Option<DinShape>,
    pub seed: u64,
}

/// DIN's history: the linked fields, positions kept, and the activation unit's MLP.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DinShape {
    pub links: Vec<Link>,
    pub len: usize,
    pub hidden: Vec<usize>,
    pub activation: Activation,
}

/// DIN's part of a network: the links and the activation unit over `[q, k, q − k, q ⊙ k]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Din {
    pub links: Vec<Link>,
    pub unit: AttentionUnit,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Net {
    pub arch: Arch,
    pub fields: usize,
    pub dim: usize,
    emb: EmbeddingTable,
    wide: Option<EmbeddingTable>,
    bias: Param,
    fm: Option<FmInteraction>,
    din: Option<Din>,
    body: Body,
}

impl Net {
    pub fn new(arch: Arch, shape: &Shape, fields: usize, features: usize) -> Net {
        let dim = shape.dim;
        let mut net = Net {
            arch,
            fields,
            dim,
            emb: EmbeddingTable::new(features, dim, shape.init_std, shape.seed),
            wide: arch
                .wide
                .then(|| EmbeddingTable::new(features, 1, 0.0, shape.seed ^ 0x5EED)),
            bias: Param::new(vec![0.0]),
            fm: arch.fm.then(|| FmInteraction::new(fields, dim)),
            din: shape.din.as_ref().map(|d| Din {
                links: d.links.clone(),
                unit: AttentionUnit::new(
                    d.len,
                    d.links.len() * dim,
                    &d.hidden,
                    d.activation,
                    shape.seed ^ 0xD1,
                ),
            }),
            body: Body::Mlp(Mlp::new(0, &[], 0, Activation::Identity, 0.0, 0)),
        };
        let interest = shape.din.as_ref().map_or(0, |d| d.links.len() * dim);
        let mut mlp = Mlp::new(
            match (arch.product, arch.fibinet) {
                (Some(p), _) => p.mlp_inputs(fields, dim),
                (None, Some(_)) => fields * fields.saturating_sub(1) * dim,
                (None, None) => fields * dim + interest,
            },
            &shape.hidden,
            Body::mlp_has_output(&arch) as usize,
            shape.activation,
            shape.dropout,
            shape.seed.wrapping_add(17),
        );
        if shape.mlp_init_std > 0.0 {
            mlp.init_hidden_normal(shape.mlp_init_std, shape.seed.wrapping_add(29));
        }
        net.body = Body::new(&arch, shape, fields, mlp);
        net
    }

    /// Makes room for feature indices below `features`.
    pub fn grow(&mut self, features: usize) {
        self.emb.grow(features);
        if let Some(w) = &mut self.wide {
            w.grow(features);
        }
    }

    pub fn features(&self) -> usize {
        self.emb.rows()
    }

    pub fn set_l2(&mut self, l2: f32) {
        self.emb.l2 = l2;
        if let Some(w) = &mut self.wide {
            w.l2 = l2;
        }
    }

    fn embed(&self, b: &Batch) -> Tensor {
        self.emb
            .lookup(&b.fields)
            .reshape(b.rows, self.fields * self.dim)
            .expect("one bag per sample and field")
    }

    /// DIN: the candidate's linked fields side by side (the query), and the history's
    /// keys, `rows × len·links·dim`.
    fn din_inputs(&self, din: &Din, e: &Tensor, b: &Batch) -> (Tensor, Tensor) {
        let d = self.dim;
        let parts: Vec<Tensor> = din
            .links
            .iter()
            .map(|l| e.slice_cols(l.query as usize * d, d))
            .collect();
        let q = Tensor::concat_cols(&parts.iter().collect::<Vec<_>>()).expect("same rows");
        let keys = self
            .emb
            .lookup(&b.keys)
            .reshape(b.rows, din.unit.len * din.links.len() * d)
            .expect("len × links bags per row");
        (q, keys)
    }

    /// The body's input in a training pass: the field embeddings, and for DIN the
    /// attention-pooled history beside them (kept for backward).
    fn body_input(&mut self, e: &Tensor, b: &Batch) -> Tensor {
        let Some(din) = &self.din else {
            return e.clone();
        };
        let (q, keys) = self.din_inputs(din, e, b);
        let unit = &mut self.din.as_mut().expect("checked above").unit;
        let pooled = unit.forward(&q, &keys, &b.mask, true);
        Tensor::concat_cols(&[e, &pooled]).expect("same rows")
    }

    /// Logits, keeping nothing.
    pub fn infer(&self, b: &Batch) -> Vec<f32> {
        let e = self.embed(b);
        let x = match &self.din {
            Some(din) => {
                let (q, keys) = self.din_inputs(din, &e, b);
                let pooled = din.unit.infer(&q, &keys, &b.mask);
                Tensor::concat_cols(&[&e, &pooled]).expect("same rows")
            }
            None => e.clone(),
        };
        let mut z = self.body.infer(&x);
        z.iter_mut().for_each(|z| *z += self.bias.value[0]);
        if let Some(w) = &self.wide {
            z.iter_mut()
                .zip(w.lookup(&b.all).data())
                .for_each(|(z, l)| *z += l);
        }
        if let Some(fm) = &self.fm {
            z.iter_mut().zip(fm.infer(&e)).for_each(|(z, f)| *z += f);
        }
        z
    }

    /// Logits of a training pass (dropout on), keeping what backward needs.
    pub fn forward(&mut self, b: &Batch) -> Vec<f32> {
        let e = self.embed(b);
        let x = self.body_input(&e, b);
        let mut z = self.body.forward(&x);
        z.iter_mut().for_each(|z| *z += self.bias.value[0]);
        if let Some(w) = &self.wide {
            z.iter_mut()
                .zip(w.lookup(&b.all).data())
                .for_each(|(z, l)| *z += l);
        }
        if let Some(fm) = &mut self.fm {
            z.iter_mut()
                .zip(fm.forward(&e, true))
                .for_each(|(z, f)| *z += f);
        }
        z
    }

    /// Accumulates every gradient from the logits' gradient.
    pub fn backward(&mut self, b: &Batch, dz: &[f32]) {
        let dz_t = Tensor::from_vec(b.rows, 1, dz.to_vec()).expect("one gradient per row");
        self.bias.grad[0] += dz.iter().sum::<f32>();
        if let Some(w) = &mut self.wide {
            w.backward(&b.all, &dz_t);
        }
        let mut de = self.body.backward(dz_t);
        if let Some(din) = &mut self.din {
            // [e | pooled]: the pooled history's gradient goes through the unit to the
            // query (the candidate's linked fields) and the keys (the history's rows).
            let fd = self.fields * self.dim;
            let dpooled = de.slice_cols(fd, de.cols() - fd);
            de = de.slice_cols(0, fd);
            let (dq, dkeys) = din.unit.backward(&dpooled);
            let d = self.dim;
            for (k, l) in din.links.iter().enumerate() {
                let at = l.query as usize * d;
                for r in 0..b.rows {
                    let src = dq.row(r)[k * d..(k + 1) * d].to_vec();
                    de.row_mut(r)[at..at + d]
                        .iter_mut()
                        .zip(src)
                        .for_each(|(a, g)| *a += g);
                }
            }
            let dkeys = dkeys
                .reshape(b.keys.len(), d)
                .expect("one gradient row per key bag");
            self.emb.backward(&b.keys, &dkeys);
        }
        if let Some(fm) = &mut self.fm {
            let dfm = fm.backward(dz);
            de.data_mut()
                .iter_mut()
                .zip(dfm.data())
                .for_each(|(a, b)| *a += b);
        }
        let de = de
            .reshape(b.rows * self.fields, self.dim)
            .expect("fields × dim per row");
        self.emb.backward(&b.fields, &de);
    }

    fn dense(&mut self) -> Vec<&mut Param> {
        let mut p = self.body.params_mut();
        p.push(&mut self.bias);
        if let Some(din) = &mut self.din {
            p.extend(din.unit.params_mut());
        }
        p
    }

    /// DIN's links and history length, for [`Batch::of`].
    pub fn din_links(&self) -> Option<(&[Link], usize)> {
        self.din.as_ref().map(|d| (&d.links[..], d.unit.len))
    }

    /// Squared norm of every gradient, dense and sparse.
    pub fn grad_sq_norm(&mut self) -> f64 {
        let dense: f64 = self
            .dense()
            .iter()
            .flat_map(|p| p.grad.iter())
            .map(|&g| g as f64 * g as f64)
            .sum();
        dense + self.emb.grad_sq_norm() + self.wide.as_ref().map_or(0.0, |w| w.grad_sq_norm())
    }

    /// Scales every gradient (clipping).
    pub fn scale_grads(&mut self, s: f32) {
        for p in self.dense() {
            p.grad.iter_mut().for_each(|g| *g *= s);
        }
        self.emb.scale_grad(s);
        if let Some(w) = &mut self.wide {
            w.scale_grad(s);
        }
    }

    /// One optimiser step: dense parameters by `opt`, tables by `rule`, at rate `lr`.
    pub fn step(&mut self, opt: &mut Optimizer, rule: SparseRule, lr: f32) {
        opt.step_with_lr(&mut self.dense(), lr);
        let t = opt.t;
        self.emb.step(rule, lr, t);
        if let Some(w) = &mut self.wide {
            w.step(rule, lr, t);
        }
    }

    /// Whether every weight is finite.
    pub fn is_finite(&self) -> bool {
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        finite(&self.emb.values)
            && self.wide.as_ref().is_none_or(|w| finite(&w.values))
            && finite(&self.bias.value)
            && self.body.is_finite()
            && self.din.as_ref().is_none_or(|d| {
                d.unit
                    .mlp
                    .linears
                    .iter()
                    .all(|l| finite(&l.weight.value) && finite(&l.bias.value))
            })
    }

    /// Freezes (or thaws) everything but the embedding tables: online learning that keeps
    /// the interaction layers and adapts the embeddings (seed 002's advice).
    pub fn freeze_dense(&mut self, frozen: bool) {
        for p in self.dense() {
            p.frozen = frozen;
        }
    }

    pub fn write(&self, w: &mut ModelWriter) {
        let rows = self.emb.rows();
        w.f32s("embedding", vec![rows, self.dim], &self.emb.values);
        if let Some(t) = &self.wide {
            w.f32s("wide", vec![rows], &t.values);
        }
        w.f32s("bias", vec![1], &self.bias.value);
        self.body.write(w);
        if let Some(din) = &self.din {
            for (l, lin) in din.unit.mlp.linears.iter().enumerate() {
                write_linear(w, &format!("din.{l}"), lin);
            }
        }
    }

    pub fn load(arch: Arch, shape: &Shape, fields: usize, r: &ModelReader) -> Result<Net> {
        let bad = |m: String| {
            RankError::Model(funnel_model::ModelError::ModelFile {
                path: r.path().to_string(),
                message: m,
            })
        };
        let dim = shape.dim;
        let emb = r.f32s("embedding")?;
        if dim == 0 || emb.len() % dim != 0 {
            return Err(bad(format!(
                "embedding of {} values is not rows × {dim}",
                emb.len()
            )));
        }
        let rows = emb.len() / dim;
        // A network of the same shape, then the file's values over its fresh ones.
        let mut net = Net::new(arch, shape, fields, 0);
        net.emb = EmbeddingTable::from_values(dim, emb, shape.init_std, shape.seed);
        if arch.wide {
            let w = r.f32s("wide")?;
            if w.len() != rows {
                return Err(bad(format!(
                    "wide has {} rows, the embedding {rows}",
                    w.len()
                )));
            }
            net.wide = Some(EmbeddingTable::from_values(1, w, 0.0, shape.seed ^ 0x5EED));
        }
        net.bias = Param::new(r.f32s("bias")?);
        net.body.read(r)?;
        if let Some(din) = &mut net.din {
            for (l, lin) in din.unit.mlp.linears.iter_mut().enumerate() {
                read_linear(r, &format!("din.{l}"), lin)?;
            }
        }
        Ok(net)
    }
}
