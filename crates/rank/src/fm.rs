//! Factorisation machine (Rendle 2010): `ŷ = b + Σ wᵢxᵢ + Σ_{i<j} ⟨vᵢ, vⱼ⟩ xᵢxⱼ`, with the
//! pairwise sum computed in O(k·n) as `½ Σ_f [(Σᵢ v_if xᵢ)² − Σᵢ v_if² xᵢ²]`. Logistic
//! loss, SGD or AdaGrad, L2 on the touched rows, early stopping on a validation set.

use funnel_features::{Row, SampleSet};
use funnel_model::{ModelReader, ModelWriter, Params};
use serde_json::json;

use crate::error::Result;
use crate::online::{row_scale, sigmoid, Online};
use crate::optim::Optimizer;
use crate::table::FactorTable;

const M: &str = "fm";

/// A factorisation machine for click probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Fm {
    /// Latent factors per feature.
    pub factors: usize,
    /// Step size.
    pub learning_rate: f32,
    /// L2 on linear weights.
    pub reg_linear: f32,
    /// L2 on latent factors.
    pub reg_factors: f32,
    /// Standard deviation of the initial factors.
    pub init_std: f32,
    /// Scale each sample to unit norm.
    pub normalize: bool,
    /// SGD or AdaGrad.
    pub optimizer: Optimizer,
    /// Seed of the initial factors.
    pub seed: u64,
    bias: [f32; 2],
    /// `(w, G)` per feature.
    linear: Vec<[f32; 2]>,
    /// `factors` values per feature.
    v: FactorTable,
}

impl Fm {
    /// A model from `--set` parameters: `factors` (8), `learning_rate` (0.05),
    /// `reg_linear` (1e-5), `reg_factors` (1e-5), `init_std` (0.01), `normalize` (false),
    /// `optimizer` (adagrad), `seed` (0).
    pub fn from_params(p: &Params) -> Result<Self> {
        let factors = p.get(M, "factors", 8, "a positive integer")?;
        Ok(Fm {
            factors,
            learning_rate: p.get(M, "learning_rate", 0.05, "a number > 0")?,
            reg_linear: p.get(M, "reg_linear", 1e-5, "a number >= 0")?,
            reg_factors: p.get(M, "reg_factors", 1e-5, "a number >= 0")?,
            init_std: p.get(M, "init_std", 0.01, "a number > 0")?,
            normalize: p.get(M, "normalize", false, "true or false")?,
            optimizer: Optimizer::from_params(M, p)?,
            seed: p.get(M, "seed", 0, "an integer")?,
            bias: [0.0, 1.0],
            linear: Vec::new(),
            v: FactorTable::new(factors),
        })
    }

    pub(crate) fn load(r: &ModelReader) -> Result<Self> {
        let p = r.params();
        let f = |k: &str| p[k].as_f64().unwrap_or_default() as f32;
        let lin = r.f32s("linear")?;
        let b = r.f32s("bias")?;
        let factors = p["factors"].as_u64().unwrap_or(1) as usize;
        Ok(Fm {
            factors,
            learning_rate: f("learning_rate"),
            reg_linear: f("reg_linear"),
            reg_factors: f("reg_factors"),
            init_std: f("init_std"),
            normalize: p["normalize"].as_bool().unwrap_or(false),
            optimizer: Optimizer::parse(p["optimizer"].as_str().unwrap_or(""))
                .unwrap_or(Optimizer::AdaGrad),
            seed: p["seed"].as_u64().unwrap_or(0),
            bias: [b[0], b[1]],
            linear: lin.chunks_exact(2).map(|c| [c[0], c[1]]).collect(),
            v: FactorTable::read(r, "factors", factors)?,
        })
    }

    /// Sums `Σ v_if xᵢ` into `sum` and returns the logit.
    #[inline]
    fn forward(&self, row: Row<'_>, scale: f32, sum: &mut [f32]) -> f32 {
        let k = self.factors;
        sum.fill(0.0);
        let mut linear = self.bias[0];
        let mut sq = 0.0f32;
        for (&i, &x) in row.indices.iter().zip(row.values) {
            let i = i as usize;
            if i >= self.linear.len() {
                continue; // a feature never seen in training contributes nothing
            }
            let x = x * scale;
            linear += self.linear[i][0] * x;
            let vi = &self.v.values[i * k..(i + 1) * k];
            for (s, &v) in sum.iter_mut().zip(vi) {
                let t = v * x;
                *s += t;
                sq += t * t;
            }
        }
        let pair: f32 = sum.iter().map(|s| s * s).sum::<f32>() - sq;
        linear + 0.5 * pair
    }
}

/// `Σ wᵢxᵢ`, `Σ vᵢxᵢ` (into `sum`), `Σ (vᵢxᵢ)²` and `Σ xᵢ²` of some features, unscaled.
struct Partial {
    linear: f32,
    sq: f32,
    x2: f32,
}

impl Fm {
    fn partial(&self, row: Row<'_>, sum: &mut [f32]) -> Partial {
        let k = self.factors;
        let mut p = Partial {
            linear: 0.0,
            sq: 0.0,
            x2: 0.0,
        };
        for (&i, &x) in row.indices.iter().zip(row.values) {
            p.x2 += x * x;
            let i = i as usize;
            if i >= self.linear.len() {
                continue;
            }
            p.linear += self.linear[i][0] * x;
            let vi = &self.v.values[i * k..(i + 1) * k];
            for (s, &v) in sum.iter_mut().zip(vi) {
                let t = v * x;
                *s += t;
                p.sq += t * t;
            }
        }
        p
    }

    #[inline]
    fn learn_with(&mut self, row: Row<'_>, label: f32, scale: f32, sum: &mut [f32]) {
        let k = self.factors;
        let p = sigmoid(self.forward(row, scale, sum));
        let g = p - if label > 0.0 { 1.0 } else { 0.0 };
        let (lr, opt) = (self.learning_rate, self.optimizer);
        let [b, gb] = &mut self.bias;
        opt.step(lr, g, b, gb);
        for (&i, &x) in row.indices.iter().zip(row.values) {
            let i = i as usize;
            let x = x * scale;
            let [w, gw] = &mut self.linear[i];
            let grad = g * x + self.reg_linear * *w;
            opt.step(lr, grad, w, gw);
            let vi = &mut self.v.values[i * k..(i + 1) * k];
            let gi = &mut self.v.acc[i * k..(i + 1) * k];
            let reg = self.reg_factors;
            // The optimiser is chosen outside the loop so each loop vectorises.
            match opt {
                Optimizer::AdaGrad => {
                    for ((v, acc), &s) in vi.iter_mut().zip(gi.iter_mut()).zip(&sum[..k]) {
                        let grad = g * x * (s - *v * x) + reg * *v;
                        *acc += grad * grad;
                        *v -= lr * grad / acc.sqrt();
                    }
                }
                Optimizer::Sgd => {
                    for (v, &s) in vi.iter_mut().zip(&sum[..k]) {
                        *v -= lr * (g * x * (s - *v * x) + reg * *v);
                    }
                }
            }
        }
    }
}

impl Online for Fm {
    const NAME: &'static str = M;

    /// The shared features' sums are computed once: per row only its own features are
    /// visited (the logit splits: ½(‖s + t‖² − q_s − q_t) for the factor sums s, t and
    /// squares q). Equal to the full row's logit up to float rounding (~1e-7).
    fn predict_shared(&self, shared: Row<'_>, rows: &SampleSet) -> Vec<f32> {
        let k = self.factors;
        let mut s_sum = vec![0.0f32; k];
        let s = self.partial(shared, &mut s_sum);
        let mut sum = vec![0.0f32; k];
        (0..rows.len())
            .map(|r| {
                sum.copy_from_slice(&s_sum);
                let t = self.partial(rows.row(r), &mut sum);
                let x2 = s.x2 + t.x2;
                let scale = if self.normalize && x2 > 0.0 {
                    1.0 / x2.sqrt()
                } else {
                    1.0
                };
                let pair: f32 = sum.iter().map(|v| v * v).sum::<f32>() - (s.sq + t.sq);
                sigmoid(self.bias[0] + scale * (s.linear + t.linear) + 0.5 * scale * scale * pair)
            })
            .collect()
    }

    fn logit(&self, row: Row<'_>) -> f32 {
        with_scratch(self.factors, |sum| {
            self.forward(row, row_scale(row, self.normalize), sum)
        })
    }

    fn learn(&mut self, row: Row<'_>, label: f32) {
        if let Some(&max) = row.indices.iter().max() {
            if max as usize >= self.linear.len() {
                let _ = self.reserve(max + 1, 0);
            }
        }
        let scale = row_scale(row, self.normalize);
        with_scratch(self.factors, |sum| self.learn_with(row, label, scale, sum));
    }

    fn reserve(&mut self, n_features: u32, _n_fields: u32) -> Result<()> {
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
            "init_std": self.init_std, "normalize": self.normalize,
            "optimizer": self.optimizer.name(), "seed": self.seed,
        })
    }

    fn write(&self, w: &mut ModelWriter) {
        let lin: Vec<f32> = self.linear.iter().flatten().copied().collect();
        w.f32s("bias", vec![2], &self.bias);
        w.f32s("linear", vec![self.linear.len(), 2], &lin);
        self.v
            .write(w, "factors", vec![self.linear.len(), self.factors]);
    }
}

/// Runs `f` with a zeroed scratch vector of `k` floats: on the stack up to 64 factors,
/// so the per-example hot path allocates nothing.
#[inline]
pub(crate) fn with_scratch<R>(k: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    if k <= 64 {
        let mut buf = [0.0f32; 64];
        f(&mut buf[..k])
    } else {
        f(&mut vec![0.0f32; k])
    }
}
