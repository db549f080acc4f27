//! Synthetic click data whose true click probabilities are known.
//!
//! Each sample has one categorical value per field, drawn with power-law popularity.
//! The true logit is a bias, a weight per (field, value), and pairwise interactions
//! between fields of known strength `s_fg`:
//!
//! * [`Truth::Fm`]: `s_fg · ⟨u_{f,a}, u_{g,b}⟩` with `s_fg = c_f·c_g` — one latent vector
//!   per value, a shape a factorisation machine represents exactly;
//! * [`Truth::Ffm`]: `s_fg · ⟨u_{f,a,g}, u_{g,b,f}⟩` — one vector per value and facing
//!   field, the shape of a field-aware FM;
//! * [`Truth::Cross3`]: the FM-shaped pairs plus a three-way term over fields 0, 1 and 2,
//!   `3·s·Σ_d t_{0,a,d} t_{1,b,d} t_{2,c,d}` — a product no pairwise model represents,
//!   which deep models (an MLP, DCN's cross layers) can learn.
//!
//! Because the probabilities are known, a model's LogLoss can be compared with the
//! oracle's (the LogLoss of the true probabilities), which no model can beat on average.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Zipf};

/// The shape of the pairwise part of the true logit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    /// One latent vector per value.
    Fm,
    /// One latent vector per value and facing field.
    Ffm,
    /// FM-shaped pairs plus a three-way interaction of the first three fields.
    Cross3,
}

/// Parameters of the generator.
#[derive(Debug, Clone, PartialEq)]
pub struct CtrSpec {
    /// Samples to draw.
    pub samples: usize,
    /// Number of fields.
    pub fields: usize,
    /// Distinct values per field.
    pub cardinality: usize,
    /// Latent dimension of the truth.
    pub factors: usize,
    /// Shape of the interactions.
    pub truth: Truth,
    /// Typical pair strength. FM-shaped: pair `(f, g)` gets `c_f·c_g` with
    /// `c_f² ~ strength·U(0.2, 1)`; field-aware: `strength·U(0, 1)`, or none for a third of
    /// the pairs.
    pub strength: f64,
    /// Bias of the logit (−2 gives a click rate near 15 %).
    pub bias: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for CtrSpec {
    fn default() -> Self {
        CtrSpec {
            samples: 100_000,
            fields: 6,
            cardinality: 50,
            factors: 4,
            truth: Truth::Fm,
            strength: 1.0,
            bias: -2.0,
            seed: 0,
        }
    }
}

/// Samples with their true click probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct CtrData {
    /// The spec they were drawn from.
    pub spec: CtrSpec,
    /// `samples × fields` value ids, each in `0..cardinality`.
    pub values: Vec<u32>,
    /// True click probability of each sample.
    pub probs: Vec<f64>,
    /// Drawn click (1) or not (0).
    pub labels: Vec<u8>,
    /// The strength of each field pair, `fields × fields`, symmetric, zero diagonal.
    pub strengths: Vec<f64>,
}

impl CtrData {
    /// Mean LogLoss of the true probabilities on the drawn labels.
    pub fn oracle_logloss(&self) -> f64 {
        self.oracle_logloss_of(0..self.probs.len())
    }

    /// [`oracle_logloss`](Self::oracle_logloss) of the samples in `range` (a test split).
    pub fn oracle_logloss_of(&self, range: std::ops::Range<usize>) -> f64 {
        let n = range.len().max(1) as f64;
        range
            .map(|i| {
                let p = self.probs[i];
                if self.labels[i] == 1 {
                    -p.ln()
                } else {
                    -(1.0 - p).ln()
                }
            })
            .sum::<f64>()
            / n
    }

    /// The values of sample `i`, one per field.
    pub fn sample(&self, i: usize) -> &[u32] {
        let f = self.spec.fields;
        &self.values[i * f..(i + 1) * f]
    }
}

/// Draws a data set.
pub fn generate(spec: &CtrSpec) -> CtrData {
    let (nf, card, k) = (spec.fields, spec.cardinality, spec.factors);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let normal = Normal::new(0.0, 1.0).unwrap();
    // FM-shaped truth needs pair strengths an FM can absorb into its vectors, so they are
    // products of per-field strengths; a field-aware truth can have any strength per pair,
    // and a third of its pairs get none.
    let field_strength: Vec<f64> = (0..nf)
        .map(|_| (spec.strength * rng.random_range(0.2..1.0)).sqrt())
        .collect();
    let mut strengths = vec![0.0; nf * nf];
    for f in 0..nf {
        for g in f + 1..nf {
            let s = match spec.truth {
                Truth::Fm | Truth::Cross3 => field_strength[f] * field_strength[g],
                Truth::Ffm if rng.random_range(0..3) == 0 => 0.0,
                Truth::Ffm => spec.strength * rng.random::<f64>(),
            };
            strengths[f * nf + g] = s;
            strengths[g * nf + f] = s;
        }
    }
    let weights: Vec<f64> = (0..nf * card)
        .map(|_| 0.5 * normal.sample(&mut rng))
        .collect();
    // Latent vectors scaled so ⟨u, v⟩ has unit variance.
    let per_value = match spec.truth {
        Truth::Fm | Truth::Cross3 => k,
        Truth::Ffm => nf * k,
    };
    let scale = (k as f64).powf(-0.25);
    let latent: Vec<f64> = (0..nf * card * per_value)
        .map(|_| scale * normal.sample(&mut rng))
        .collect();
    let vec_of = |f: usize, a: usize, facing: usize| -> &[f64] {
        let base = (f * card + a) * per_value;
        match spec.truth {
            Truth::Fm | Truth::Cross3 => &latent[base..base + k],
            Truth::Ffm => &latent[base + facing * k..base + (facing + 1) * k],
        }
    };
    // The three-way term's own vectors (fields 0..3), scaled so the product of three has
    // unit variance; drawn after the others, so fm data sets are unchanged.
    let triple = matches!(spec.truth, Truth::Cross3) && nf >= 3;
    let t_scale = (k as f64).powf(-1.0 / 6.0);
    let third: Vec<f64> = if triple {
        (0..3 * card * k)
            .map(|_| t_scale * normal.sample(&mut rng))
            .collect()
    } else {
        Vec::new()
    };
    let zipf = Zipf::new(card as f64, 1.0).unwrap();
    let mut values = Vec::with_capacity(spec.samples * nf);
    let mut probs = Vec::with_capacity(spec.samples);
    let mut labels = Vec::with_capacity(spec.samples);
    let mut row = vec![0usize; nf];
    for _ in 0..spec.samples {
        for (f, r) in row.iter_mut().enumerate() {
            // Zipf gives 1..=card; a per-field rotation keeps fields from sharing ranks.
            *r = ((zipf.sample(&mut rng) as usize - 1) + f * 7) % card;
            values.push(*r as u32);
        }
        let mut z = spec.bias;
        for f in 0..nf {
            z += weights[f * card + row[f]];
            for g in f + 1..nf {
                let s = strengths[f * nf + g];
                if s != 0.0 {
                    let d: f64 = vec_of(f, row[f], g)
                        .iter()
                        .zip(vec_of(g, row[g], f))
                        .map(|(a, b)| a * b)
                        .sum();
                    z += s * d;
                }
            }
        }
        if triple {
            let t = |f: usize| &third[(f * card + row[f]) * k..(f * card + row[f] + 1) * k];
            let d: f64 = (0..k).map(|j| t(0)[j] * t(1)[j] * t(2)[j]).sum();
            z += 3.0 * spec.strength * d;
        }
        let p = 1.0 / (1.0 + (-z).exp());
        probs.push(p);
        labels.push(u8::from(rng.random::<f64>() < p));
    }
    CtrData {
        spec: spec.clone(),
        values,
        probs,
        labels,
        strengths,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_known_probabilities_and_a_sensible_click_rate() {
        let spec = CtrSpec {
            samples: 20_000,
            ..Default::default()
        };
        let a = generate(&spec);
        assert_eq!(a, generate(&spec));
        let rate = a.labels.iter().map(|&y| y as f64).sum::<f64>() / 20_000.0;
        let mean_p = a.probs.iter().sum::<f64>() / 20_000.0;
        assert!((0.05..0.4).contains(&rate), "click rate {rate}");
        assert!(
            (rate - mean_p).abs() < 0.01,
            "labels follow the probabilities"
        );
        // The oracle beats a constant predictor at the base rate.
        let constant = -(rate * rate.ln() + (1.0 - rate) * (1.0 - rate).ln());
        assert!(a.oracle_logloss() < constant - 0.01);
        assert!(a.values.iter().all(|&v| (v as usize) < spec.cardinality));
        let ffm = generate(&CtrSpec {
            truth: Truth::Ffm,
            ..spec
        });
        assert_ne!(ffm.probs, a.probs);
    }
}
