//! Logistic regression trained with FTRL-Proximal (McMahan et al. 2013, "Ad Click
//! Prediction: a View from the Trenches"): per-coordinate learning rates
//! `α / (β + √n_i)`, L1 that makes weights exactly zero, and L2. The state is `z` and
//! `n` per coordinate; a weight is derived from them on the fly, so an unused feature
//! costs nothing to learn past.

use funnel_features::{Row, SampleSet};
use funnel_model::{ModelReader, ModelWriter, Params};
use serde_json::json;

use crate::error::Result;
use crate::online::{sigmoid, EpochOptions, Online};

const M: &str = "lr";

/// FTRL-Proximal logistic regression.
#[derive(Debug, Clone, PartialEq)]
pub struct FtrlLr {
    /// Learning-rate scale α.
    pub alpha: f32,
    /// Learning-rate offset β.
    pub beta: f32,
    /// L1 strength λ₁.
    pub l1: f32,
    /// L2 strength λ₂.
    pub l2: f32,
    /// `(z, n)` per coordinate; the last entry is the bias (never regularised).
    state: Vec<[f32; 2]>,
    bias: [f32; 2],
}

impl FtrlLr {
    /// A model from `--set` parameters (`alpha`, `beta`, `l1`, `l2`; the epoch-loop keys
    /// are read by [`crate::epoch_options`]).
    pub fn from_params(p: &Params) -> Result<Self> {
        Ok(FtrlLr {
            alpha: p.get(M, "alpha", 0.05, "a number > 0")?,
            beta: p.get(M, "beta", 1.0, "a number >= 0")?,
            l1: p.get(M, "l1", 0.0, "a number >= 0")?,
            l2: p.get(M, "l2", 0.0, "a number >= 0")?,
            state: Vec::new(),
            bias: [0.0; 2],
        })
    }

    /// Loop settings that suit FTRL: one pass in stream order.
    pub fn default_epochs() -> EpochOptions {
        EpochOptions {
            epochs: 1,
            patience: 0,
            validation_fraction: 0.0,
            shuffle: false,
            seed: 0,
        }
    }

    #[inline]
    fn weight(&self, [z, n]: [f32; 2], l1: f32, l2: f32) -> f32 {
        if z.abs() <= l1 {
            0.0
        } else {
            -(z - z.signum() * l1) / ((self.beta + n.sqrt()) / self.alpha + l2)
        }
    }

    /// The current weights (for inspection and tests); zero where L1 cut them.
    pub fn weights(&self) -> Vec<f32> {
        self.state
            .iter()
            .map(|&s| self.weight(s, self.l1, self.l2))
            .collect()
    }

    /// The bias.
    pub fn bias(&self) -> f32 {
        self.weight(self.bias, 0.0, 0.0)
    }

    /// Reads the state [`Online::write`] stored.
    pub(crate) fn load(r: &ModelReader) -> Result<Self> {
        let p = r.params();
        let get = |k: &str| p[k].as_f64().unwrap_or_default() as f32;
        let zn = r.f32s("zn")?;
        let b = r.f32s("bias")?;
        Ok(FtrlLr {
            alpha: get("alpha"),
            beta: get("beta"),
            l1: get("l1"),
            l2: get("l2"),
            state: zn.chunks_exact(2).map(|c| [c[0], c[1]]).collect(),
            bias: [b[0], b[1]],
        })
    }

    /// Learns a set once in order, growing as needed.
    pub fn learn_set(&mut self, s: &SampleSet) -> Result<()> {
        crate::online::learn_in_order(self, s)
    }
}

impl Online for FtrlLr {
    const NAME: &'static str = M;

    #[inline]
    fn logit(&self, row: Row<'_>) -> f32 {
        let mut z = self.bias();
        for (&i, &x) in row.indices.iter().zip(row.values) {
            if let Some(&s) = self.state.get(i as usize) {
                z += self.weight(s, self.l1, self.l2) * x;
            }
        }
        z
    }

    #[inline]
    fn learn(&mut self, row: Row<'_>, label: f32) {
        let (l1, l2, alpha) = (self.l1, self.l2, self.alpha);
        if let Some(&max) = row.indices.iter().max() {
            if max as usize >= self.state.len() {
                self.state.resize(max as usize + 1, [0.0; 2]);
            }
        }
        // Weights are derived from (z, n) twice — for the prediction and for the update —
        // rather than stored: recomputing is cheaper than a scratch buffer per example.
        let p = sigmoid(self.logit(row));
        let g = p - if label > 0.0 { 1.0 } else { 0.0 };
        for (&i, &x) in row.indices.iter().zip(row.values) {
            let s = self.state[i as usize];
            let w = self.weight(s, l1, l2);
            let gi = g * x;
            let n_new = s[1] + gi * gi;
            let sigma = (n_new.sqrt() - s[1].sqrt()) / alpha;
            self.state[i as usize] = [s[0] + gi - sigma * w, n_new];
        }
        let w = self.weight(self.bias, 0.0, 0.0);
        let n_new = self.bias[1] + g * g;
        let sigma = (n_new.sqrt() - self.bias[1].sqrt()) / alpha;
        self.bias = [self.bias[0] + g - sigma * w, n_new];
    }

    #[inline]
    fn prefetch(&self, row: Row<'_>) {
        #[cfg(target_arch = "x86_64")]
        for &i in row.indices {
            if let Some(s) = self.state.get(i as usize) {
                // SAFETY: prefetching is a hint; the address is that of a live element.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        s.as_ptr() as *const i8,
                    )
                };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = row;
    }

    fn reserve(&mut self, n_features: u32, _n_fields: u32) -> Result<()> {
        if n_features as usize > self.state.len() {
            self.state.resize(n_features as usize, [0.0; 2]);
        }
        Ok(())
    }

    fn n_features(&self) -> u32 {
        self.state.len() as u32
    }

    fn params_json(&self) -> serde_json::Value {
        json!({"alpha": self.alpha, "beta": self.beta, "l1": self.l1, "l2": self.l2})
    }

    fn write(&self, w: &mut ModelWriter) {
        let flat: Vec<f32> = self.state.iter().flatten().copied().collect();
        w.f32s("zn", vec![self.state.len(), 2], &flat);
        w.f32s("bias", vec![2], &self.bias);
    }
}
