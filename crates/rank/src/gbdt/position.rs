//! Learning to rank from clicks that depend on where a document was shown.
//!
//! A click needs the document to be examined, and examination falls with the display
//! position, so a logged click says "relevant *and* shown high"; trained on clicks as
//! they are, a ranker learns whatever put documents high in the logged lists. Two
//! corrections, both estimated jointly with the trees, iteration by iteration:
//!
//! - **`unbiased`** (the default correction): every position bin `k` gets a score term
//!   `bₖ`, added to the document's score while the lambdas are computed — the pairwise
//!   loss sees `f(x) + b_pos`, so the trees need not explain what the position explains —
//!   and moved after each iteration by a Newton step on the same loss (LightGBM's
//!   position-aware lambdarank, 4.1+, and 002's advice: position on the wide side, zero
//!   online). `bₖ` is an examination effect on the score scale; `e^(bₖ − b₁)` is reported
//!   as the propensity of position k relative to the top (for rare clicks,
//!   P(click) ≈ e^(f + bₖ), so the ratio is the examination ratio).
//! - **`ipw`** (Unbiased LambdaMART, Hu, Wang, Peng & Li, WWW 2019, as XGBoost's
//!   `lambdarank_unbiased` computes it): propensities `t⁺ₖ` for clicked and `t⁻ₖ` for
//!   unclicked documents at bin k; each click pair `(i at k, j at l)` is weighted by
//!   `1 / (t⁺ₖ · t⁻ₗ)`, and after each iteration, with `Cᵢⱼ` the pair's cost,
//!   `t⁺ₖ = (Σ_{i at k} Cᵢⱼ/t⁻ₗ / Σ_{i at 1} Cᵢⱼ/t⁻ₗ)^(1/(p+1))` and `t⁻ₗ` alike, `p`
//!   being `position_bias_regularization` (default 2, XGBoost's `lambdarank_bias_norm`).
//!   The cost is XGBoost's, `ΔNDCG·log(1 + e^{σ(sᵢ − sⱼ)})`: with the paper's pairwise
//!   loss `log(1 + e^{−σ(sᵢ − sⱼ)})` the propensities chased the pairs the trees had
//!   already fitted and ranked the simulation's true grades below no correction at all
//!   (NDCG@10 0.789 against 0.867, medians of three logs; XGBoost's cost: 0.876, as
//!   XGBoost itself gains).
//!
//! Measured on simulated click logs (bench/position.sh, docs/gbdt.md) the additive
//! terms rank the true grades best, close to LightGBM's own; `ipw` gains less: inverse
//! weights by position cannot undo a non-click that depended on the document as well
//! (a relevant document unseen at position 9 counts as a negative at any weight).
//! Positions past `position_bins` share the last bin. Position 0 (samples of a served
//! log that were never shown, such as sampled negatives, or whose feedback did not say)
//! gets a bin of its own, `unshown`, after the others; files give positions from 1.

use serde_json::{json, Value};

/// Which correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correction {
    /// Additive score terms per position, Newton-updated.
    Additive,
    /// Inverse propensity weights of click pairs (Hu et al. 2019).
    Ipw,
}

/// The position terms of a fit, and how they are re-estimated.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionBias {
    /// The correction.
    pub method: Correction,
    /// Additive: `bₖ` per bin, on the score scale.
    pub score_bias: Vec<f64>,
    /// Ipw: `t⁺` per bin, a clicked document's propensity relative to position 1.
    pub clicked: Vec<f64>,
    /// Ipw: `t⁻` per bin, an unclicked document's propensity relative to position 1.
    pub unclicked: Vec<f64>,
    /// Additive: L2 on `b` per row; ipw: the `p` of the exponent 1/(p+1).
    regularization: f64,
    /// Additive: the step of each Newton update (the trees' learning rate).
    learning_rate: f64,
    /// Bins of shown positions; a slot after them holds position 0 when `unshown`.
    shown: usize,
}

/// Ipw propensities never fall below this: a bin whose clicks are a thousand times
/// rarer than the top's is weighted as if it were that rare, not more (a few noisy
/// pairs deep in the list would otherwise take over the gradient).
const MIN_PROPENSITY: f64 = 1e-3;

impl PositionBias {
    /// No effect yet (every term 0, every propensity 1) over `bins` bins of shown
    /// positions, and one for position 0 if `unshown`.
    pub fn new(
        method: Correction,
        bins: usize,
        unshown: bool,
        regularization: f64,
        learning_rate: f64,
    ) -> Self {
        let slots = bins.max(1) + unshown as usize;
        PositionBias {
            method,
            score_bias: vec![0.0; slots],
            clicked: vec![1.0; slots],
            unclicked: vec![1.0; slots],
            regularization,
            learning_rate,
            shown: bins.max(1),
        }
    }

    /// Number of bins of shown positions.
    pub fn bins(&self) -> usize {
        self.shown
    }

    /// Number of slots: the bins, and position 0's if there is one.
    pub fn slots(&self) -> usize {
        self.clicked.len()
    }

    /// The slot of a display position (1 = top; 0 = not shown).
    #[inline]
    pub fn bin(&self, position: u32) -> usize {
        if position == 0 {
            return self.slots() - 1;
        }
        (position as usize - 1).min(self.shown - 1)
    }

    /// Additive: one Newton step on every `bₖ` from the rows' gradients and hessians at
    /// the adjusted scores (L2 `regularization` per row of the bin).
    pub fn update_additive(&mut self, positions: &[u32], g: &[f32], h: &[f32]) {
        let bins = self.slots();
        let (mut sg, mut sh, mut count) = (vec![0.0; bins], vec![0.0; bins], vec![0.0; bins]);
        for ((&p, &gi), &hi) in positions.iter().zip(g).zip(h) {
            let k = self.bin(p);
            sg[k] += gi as f64;
            sh[k] += hi as f64;
            count[k] += 1.0;
        }
        for k in 0..bins {
            let reg = self.regularization * count[k];
            let d1 = sg[k] + self.score_bias[k] * reg;
            let d2 = sh[k] + reg;
            self.score_bias[k] -= self.learning_rate * d1 / (d2.abs() + 1e-3);
        }
    }

    /// Ipw: re-estimates the propensities from one iteration's pair losses, `costs` being
    /// `bins` sums for clicked documents followed by `bins` for unclicked ones (see the
    /// module doc). A bin no pair touched keeps its propensity: nothing was learnt of it.
    pub fn update_ipw(&mut self, costs: &[f64]) {
        let bins = self.slots();
        debug_assert_eq!(costs.len(), 2 * bins);
        let power = 1.0 / (1.0 + self.regularization);
        for (t, c) in [
            (&mut self.clicked, &costs[..bins]),
            (&mut self.unclicked, &costs[bins..]),
        ] {
            let top = c[0];
            if !(top > 0.0 && top.is_finite()) {
                continue;
            }
            for k in 1..bins {
                if c[k] > 0.0 && c[k].is_finite() {
                    t[k] = (c[k] / top).powf(power).max(MIN_PROPENSITY);
                }
            }
        }
    }

    /// Examination propensity of each bin relative to the top: `t⁺` (ipw) or
    /// `e^(bₖ − b₁)` (additive).
    pub fn propensities(&self) -> Vec<f64> {
        match self.method {
            Correction::Ipw => self.clicked.clone(),
            Correction::Additive => {
                let b0 = self.score_bias[0];
                self.score_bias.iter().map(|&b| (b - b0).exp()).collect()
            }
        }
    }

    /// The terms as written to the JSON output and the model file.
    pub fn to_json(&self) -> Value {
        let positions: Vec<usize> = (1..=self.bins()).collect();
        let shown = self.bins();
        let p = self.propensities();
        let mut v = match self.method {
            Correction::Additive => json!({
                "method": "unbiased",
                "positions": positions,
                "propensity": p[..shown],
                "score_bias": self.score_bias[..shown],
            }),
            Correction::Ipw => json!({
                "method": "ipw",
                "positions": positions,
                "propensity": p[..shown],
                "clicked": self.clicked[..shown],
                "unclicked": self.unclicked[..shown],
            }),
        };
        if self.slots() > shown {
            // Position 0's slot: its propensity, and its term or propensities.
            v["unshown"] = match self.method {
                Correction::Additive => {
                    json!({"propensity": p[shown], "score_bias": self.score_bias[shown]})
                }
                Correction::Ipw => json!({"propensity": p[shown],
                    "clicked": self.clicked[shown], "unclicked": self.unclicked[shown]}),
            };
        }
        v
    }

    /// Reads what [`PositionBias::to_json`] wrote; `None` if it does not fit.
    pub fn from_json(v: &Value, regularization: f64, learning_rate: f64) -> Option<Self> {
        let method = match v["method"].as_str()? {
            "unbiased" => Correction::Additive,
            "ipw" => Correction::Ipw,
            _ => return None,
        };
        let bins = v["positions"].as_array()?.len();
        let unshown = v.get("unshown").filter(|u| !u.is_null());
        let mut p = PositionBias::new(
            method,
            bins,
            unshown.is_some(),
            regularization,
            learning_rate,
        );
        if bins == 0 || p.bins() != bins {
            return None;
        }
        let floats = |v: &Value, k: &str| -> Option<Vec<f64>> {
            v.get(k)?.as_array()?.iter().map(Value::as_f64).collect()
        };
        let keys: &[&str] = match method {
            Correction::Additive => &["score_bias"],
            Correction::Ipw => &["clicked", "unclicked"],
        };
        for &k in keys {
            let mut all = floats(v, k)?;
            if all.len() != bins {
                return None;
            }
            if let Some(u) = unshown {
                all.push(u.get(k)?.as_f64()?);
            }
            match k {
                "score_bias" => p.score_bias = all,
                "clicked" => p.clicked = all,
                _ => p.unclicked = all,
            }
        }
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipw_updates_are_ratios_to_the_top_bin_under_the_power() {
        let mut b = PositionBias::new(Correction::Ipw, 3, false, 1.0, 0.1);
        b.update_ipw(&[4.0, 1.0, 0.0, 2.0, 2.0, 8.0]);
        assert_eq!(b.clicked[0], 1.0);
        assert!((b.clicked[1] - 0.5).abs() < 1e-12, "sqrt(1/4)");
        assert_eq!(b.clicked[2], 1.0, "a bin no pair touched keeps its value");
        assert!((b.unclicked[1] - 1.0).abs() < 1e-12);
        assert!((b.unclicked[2] - 2.0).abs() < 1e-12);
        assert_eq!((b.bin(1), b.bin(3), b.bin(40)), (0, 2, 2));
        b.update_ipw(&[1.0, 1e-12, 1.0, 0.0, 1.0, 1.0]);
        assert_eq!(b.clicked[1], MIN_PROPENSITY);
        assert!(
            (b.unclicked[1] - 1.0).abs() < 1e-12,
            "no top pairs: unchanged"
        );
        assert_eq!(b.propensities(), b.clicked);
    }

    /// A Newton step moves each bin's term against its rows' summed gradient, scaled by
    /// their summed hessian; L2 pulls it back toward 0.
    #[test]
    fn additive_terms_take_newton_steps() {
        let mut b = PositionBias::new(Correction::Additive, 2, false, 0.0, 0.5);
        b.update_additive(&[1, 2, 2], &[-1.0, 0.5, 0.5], &[0.5, 0.25, 0.25]);
        assert!((b.score_bias[0] - 0.5 * 1.0 / (0.5 + 1e-3)).abs() < 1e-9);
        assert!((b.score_bias[1] + 0.5 * 1.0 / (0.5 + 1e-3)).abs() < 1e-9);
        let p = b.propensities();
        assert_eq!(p[0], 1.0);
        assert!(p[1] < 0.4, "{p:?}");
        let mut r = PositionBias::new(Correction::Additive, 1, false, 10.0, 1.0);
        r.score_bias[0] = 1.0;
        r.update_additive(&[1], &[0.0], &[1.0]);
        assert!(r.score_bias[0] < 0.1, "{}", r.score_bias[0]);
    }

    /// Position 0 (never shown) has a slot after the shown bins, and the JSON form
    /// reads back to the same terms.
    #[test]
    fn unshown_samples_get_their_own_slot_and_json_round_trips() {
        let mut b = PositionBias::new(Correction::Additive, 3, true, 0.0, 1.0);
        assert_eq!(
            (b.bins(), b.slots(), b.bin(0), b.bin(1), b.bin(9)),
            (3, 4, 3, 0, 2)
        );
        b.update_additive(&[1, 2, 0, 0], &[-1.0, 0.2, 0.5, 0.5], &[1.0, 1.0, 1.0, 1.0]);
        let j = b.to_json();
        assert_eq!(j["propensity"].as_array().unwrap().len(), 3);
        assert!(j["unshown"]["propensity"].as_f64().unwrap() < 1.0, "{j}");
        assert_eq!(PositionBias::from_json(&j, 0.0, 1.0), Some(b));
        let mut c = PositionBias::new(Correction::Ipw, 2, false, 2.0, 0.1);
        c.update_ipw(&[2.0, 1.0, 1.0, 3.0]);
        assert_eq!(PositionBias::from_json(&c.to_json(), 2.0, 0.1), Some(c));
        assert_eq!(
            PositionBias::from_json(&json!({"method": "x"}), 0.0, 1.0),
            None
        );
    }
}
