//! Field-aware factorisation machine (Juan et al. 2016): every feature has one latent
//! vector per field, and a pair uses the vector of each feature that faces the other's
//! field: `ŷ = b + Σ wᵢxᵢ + Σ_{a<b} ⟨v_{iₐ,f_b}, v_{i_b,fₐ}⟩ xₐx_b`. Cost O(n²·k) per
//! sample, as in libffm. AdaGrad (or SGD), L2, libffm's instance normalisation by
//! default, early stopping on a validation set.

use funnel_features::Row;
use funnel_model::{ModelReader, ModelWriter, Params};
use serde_json::json;

use crate::error::{RankError, Result};
use crate::online::{row_scale, sigmoid, Online};
use crate::optim::Optimizer;
use crate::table::FactorTable;

const M: &str = "ffm";

/// A field-aware factorisation machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Ffm {
    /// Latent factors per (feature, field).
    pub factors: usize,
    /// Step size.
    pub learning_rate: f32,
    /// L2 on linear weights.
    pub reg_linear: f32,
    /// L2 on latent factors.
    pub reg_factors: f32,
    /// Standard deviation of the initial factors.
    pub init_std: f32,
    /// Scale each sample to unit norm (libffm does).
    pub normalize: bool,
    /// Keep a linear term (libffm has none).
    pub use_linear: bool,
    /// SGD or AdaGrad.
    pub optimizer: Optimizer,
    /// Seed of the initial factors.
    pub seed: u64,
    /// Fields the table was built for; fixed at the first fit.
    n_fields: usize,
    bias: [f32; 2],
    linear: Vec<[f32; 2]>,
    /// `n_fields × factors` values per feature.
    v: FactorTable,
}

impl Ffm {
    /// A model from `--set` parameters: `factors` (4), `learning_rate` (0.2),
    /// `reg_linear` (2e-5), `reg_factors` (2e-5), `init_std` (0.1), `normalize` (true),
    /// `linear` (true), `optimizer` (adagrad), `seed` (0). Defaults follow libffm.
    pub fn from_params(p: &Params) -> Result<Self> {
        Ok(Ffm {
            factors: p.get(M, "factors", 4, "a positive integer")?,
            learning_rate: p.get(M, "learning_rate", 0.2, "a number > 0")?,
            reg_linear: p.get(M, "reg_linear", 2e-5, "a number >= 0")?,
            reg_factors: p.get(M, "reg_factors", 2e-5, "a number >= 0")?,
            init_std: p.get(M, "init_std", 0.1, "a number > 0")?,
            normalize: p.get(M, "normalize", true, "true or false")?,
            use_linear: p.get(M, "linear", true, "true or false")?,
            optimizer: Optimizer::from_params(M, p)?,
            seed: p.get(M, "seed", 0, "an integer")?,
            n_fields: 0,
            bias: [0.0, 1.0],
            linear: Vec::new(),
            v: FactorTable::new(0),
        })
    }

    pub(crate) fn load(r: &ModelReader) -> Result<Self> {
        let p = r.params();
        let f = |k: &str| p[k].as_f64().unwrap_or_default() as f32;
        let lin = r.f32s("linear")?;
        let b = r.f32s("bias")?;
        Ok(Ffm {
            factors: p["factors"].as_u64().unwrap_or(1) as usize,
            learning_rate: f("learning_rate"),
            reg_linear: f("reg_linear"),
            reg_factors: f("reg_factors"),
            init_std: f("init_std"),
            normalize: p["normalize"].as_bool().unwrap_or(true),
            use_linear: p["linear"].as_bool().unwrap_or(true),
            optimizer: Optimizer::parse(p["optimizer"].as_str().unwrap_or(""))
                .unwrap_or(Optimizer::AdaGrad),
            seed: p["seed"].as_u64().unwrap_or(0),
            n_fields: p["n_fields"].as_u64().unwrap_or(0) as usize,
            bias: [b[0], b[1]],
            linear: lin.chunks_exact(2).map(|c| [c[0], c[1]]).collect(),
            v: FactorTable::read(
                r,
                "factors",
                p["n_fields"].as_u64().unwrap_or(0) as usize
                    * p["factors"].as_u64().unwrap_or(1) as usize,
            )?,
        })
    }

    #[inline]
    fn at(&self, feature: usize, field: usize) -> usize {
        (feature * self.n_fields + field) * self.factors
    }

    /// Whether a feature/field can be looked up (unseen features contribute nothing).
    #[inline]
    fn known(&self, feature: u32, field: u32) -> bool {
        (feature as usize) < self.linear.len() && (field as usize) < self.n_fields
    }
}

impl Online for Ffm {
    const NAME: &'static str = M;

    fn logit(&self, row: Row<'_>) -> f32 {
        let k = self.factors;
        let scale = row_scale(row, self.normalize);
        let mut z = self.bias[0];
        let n = row.indices.len();
        for a in 0..n {
            let (ia, fa, xa) = (row.indices[a], row.fields[a], row.values[a] * scale);
            if !self.known(ia, fa) {
                continue;
            }
            if self.use_linear {
                z += self.linear[ia as usize][0] * xa;
            }
            for b in a + 1..n {
                let (ib, fb, xb) = (row.indices[b], row.fields[b], row.values[b] * scale);
                if !self.known(ib, fb) {
                    continue;
                }
                let va = &self.v.values[self.at(ia as usize, fb as usize)..][..k];
                let vb = &self.v.values[self.at(ib as usize, fa as usize)..][..k];
                let d: f32 = va.iter().zip(vb).map(|(p, q)| p * q).sum();
                z += d * xa * xb;
            }
        }
        z
    }

    fn learn(&mut self, row: Row<'_>, label: f32) {
        let k = self.factors;
        if let Some(&max) = row.indices.iter().max() {
            if max as usize >= self.linear.len() {
                let _ = self.reserve(max + 1, self.n_fields as u32);
            }
        }
        let p = sigmoid(self.logit(row));
        let g = p - if label > 0.0 { 1.0 } else { 0.0 };
        let scale = row_scale(row, self.normalize);
        let (lr, opt, reg) = (self.learning_rate, self.optimizer, self.reg_factors);
        let [b0, gb] = &mut self.bias;
        opt.step(lr, g, b0, gb);
        let n = row.indices.len();
        for a in 0..n {
            let (ia, fa, xa) = (row.indices[a], row.fields[a], row.values[a] * scale);
            if !self.known(ia, fa) {
                continue;
            }
            if self.use_linear {
                let [w, gw] = &mut self.linear[ia as usize];
                let grad = g * xa + self.reg_linear * *w;
                opt.step(lr, grad, w, gw);
            }
            for b in a + 1..n {
                let (ib, fb, xb) = (row.indices[b], row.fields[b], row.values[b] * scale);
                if !self.known(ib, fb) {
                    continue;
                }
                let (pa, pb) = (
                    self.at(ia as usize, fb as usize),
                    self.at(ib as usize, fa as usize),
                );
                let coef = g * xa * xb;
                if pa == pb {
                    // The same feature twice in one field: one vector faces itself.
                    for f in 0..k {
                        let v = self.v.values[pa + f];
                        let grad = 2.0 * coef * v + reg * v;
                        opt.step(
                            lr,
                            grad,
                            &mut self.v.values[pa + f],
                            &mut self.v.acc[pa + f],
                        );
                    }
                    continue;
                }
                let (va, vb) = pair_mut(&mut self.v.values, pa, pb, k);
                let (ga, gb) = pair_mut(&mut self.v.acc, pa, pb, k);
                // The optimiser is chosen outside the loop so each loop vectorises.
                match opt {
                    Optimizer::AdaGrad => {
                        for f in 0..k {
                            let (a, b) = (va[f], vb[f]);
                            let (da, db) = (coef * b + reg * a, coef * a + reg * b);
                            ga[f] += da * da;
                            gb[f] += db * db;
                            va[f] = a - lr * da / ga[f].sqrt();
                            vb[f] = b - lr * db / gb[f].sqrt();
                        }
                    }
                    Optimizer::Sgd => {
                        for f in 0..k {
                            let (a, b) = (va[f], vb[f]);
                            va[f] = a - lr * (coef * b + reg * a);
                            vb[f] = b - lr * (coef * a + reg * b);
                        }
                    }
                }
            }
        }
    }

    fn reserve(&mut self, n_features: u32, n_fields: u32) -> Result<()> {
        let n_fields = n_fields as usize;
        if self.linear.is_empty() && self.n_fields == 0 {
            self.n_fields = n_fields.max(1);
        } else if n_fields > self.n_fields {
            return Err(RankError::Samples(format!(
                "the samples have {n_fields} fields but this FFM was built for {}; fields cannot be added to a trained FFM",
                self.n_fields
            )));
        }
        if self.v.dim == 0 {
            self.v = FactorTable::new(self.n_fields * self.factors);
        }
        let new = n_features as usize;
        if new > self.linear.len() {
            self.linear.resize(new, [0.0, 1.0]);
            self.v.grow(new, self.seed, self.init_std);
        }
        Ok(())
    }

    fn n_features(&self) -> u32 {
        self.linear.len() as u32
    }

    fn params_json(&self) -> serde_json::Value {
        json!({
            "factors": self.factors, "learning_rate": self.learning_rate,
            "reg_linear": self.reg_linear, "reg_factors": self.reg_factors,
            "init_std": self.init_std, "normalize": self.normalize, "linear": self.use_linear,
            "optimizer": self.optimizer.name(), "seed": self.seed, "n_fields": self.n_fields,
        })
    }

    fn write(&self, w: &mut ModelWriter) {
        let lin: Vec<f32> = self.linear.iter().flatten().copied().collect();
        let shape = vec![self.linear.len(), self.n_fields, self.factors];
        w.f32s("bias", vec![2], &self.bias);
        w.f32s("linear", vec![self.linear.len(), 2], &lin);
        self.v.write(w, "factors", shape);
    }
}

/// Two disjoint `k`-long windows of `v`, at `a` and `b` (`a != b`, both multiples of `k`).
#[inline]
fn pair_mut(v: &mut [f32], a: usize, b: usize, k: usize) -> (&mut [f32], &mut [f32]) {
    if a < b {
        let (lo, hi) = v.split_at_mut(b);
        (&mut lo[a..a + k], &mut hi[..k])
    } else {
        let (lo, hi) = v.split_at_mut(a);
        (&mut hi[..k], &mut lo[b..b + k])
    }
}
