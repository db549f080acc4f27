//! Calibration: making predicted probabilities mean what they say.
//!
//! * [`correct_downsampling`]: a model trained with negatives kept at rate `r` predicts
//!   odds `1/r` times too high; `q = p / (p + (1 − p)/r)` undoes it exactly (He et al.
//!   2014, "Practical Lessons from Predicting Clicks on Ads at Facebook").
//! * [`Calibration::Platt`]: `σ(a·logit(p) + b)` fitted by Newton's method on held-out
//!   samples (Platt 1999; plain 0/1 targets, as scikit-learn's `_sigmoid_calibration`
//!   without its prior smoothing).
//! * [`Calibration::Isotonic`]: the monotone step function minimising squared error
//!   (pool-adjacent-violators), read with linear interpolation between the fitted points
//!   and clipped at the ends, as scikit-learn's `IsotonicRegression(out_of_bounds="clip")`.

use serde::{Deserialize, Serialize};

/// Undoes negative down-sampling at keep rate `rate` (in (0, 1]).
pub fn correct_downsampling(p: f64, rate: f64) -> f64 {
    if rate >= 1.0 {
        return p;
    }
    // One formula for the sample builder and the ranker.
    funnel_features::downsampling_correction(p, rate)
}

/// A fitted map from raw to calibrated probability.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Calibration {
    /// Leave probabilities as they are.
    #[default]
    None,
    /// `σ(a·logit(p) + b)`.
    Platt {
        /// Slope on the logit.
        a: f64,
        /// Offset.
        b: f64,
    },
    /// Piecewise-linear through `(x, y)`, `x` increasing, `y` non-decreasing.
    Isotonic {
        /// Raw probabilities.
        x: Vec<f64>,
        /// Calibrated values at `x`.
        y: Vec<f64>,
    },
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

impl Calibration {
    /// `none`, `platt` or `isotonic`.
    pub fn name(&self) -> &'static str {
        match self {
            Calibration::None => "none",
            Calibration::Platt { .. } => "platt",
            Calibration::Isotonic { .. } => "isotonic",
        }
    }

    /// Fits Platt scaling to probabilities and 0/1 labels.
    pub fn fit_platt(probs: &[f64], labels: &[f64]) -> Calibration {
        let z: Vec<f64> = probs.iter().map(|&p| logit(p)).collect();
        let (mut a, mut b) = (1.0f64, 0.0f64);
        let loss = |a: f64, b: f64| -> f64 {
            z.iter()
                .zip(labels)
                .map(|(&zi, &y)| {
                    let t = a * zi + b;
                    // log(1 + e^t) − y·t, stably.
                    t.max(0.0) + (-t.abs()).exp().ln_1p() - if y > 0.0 { t } else { 0.0 }
                })
                .sum()
        };
        let mut current = loss(a, b);
        for _ in 0..100 {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for (&zi, &y) in z.iter().zip(labels) {
                let p = 1.0 / (1.0 + (-(a * zi + b)).exp());
                let r = p - if y > 0.0 { 1.0 } else { 0.0 };
                let w = (p * (1.0 - p)).max(1e-12);
                ga += r * zi;
                gb += r;
                haa += w * zi * zi;
                hab += w * zi;
                hbb += w;
            }
            // Newton step with a little damping, then backtracking until the loss drops.
            let (haa, hbb) = (haa + 1e-9, hbb + 1e-9);
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-18 {
                break;
            }
            let da = (hbb * ga - hab * gb) / det;
            let db = (haa * gb - hab * ga) / det;
            let mut step = 1.0;
            let mut improved = false;
            while step > 1e-8 {
                let (na, nb) = (a - step * da, b - step * db);
                let l = loss(na, nb);
                if l <= current {
                    improved = current - l > 1e-12 * current.abs().max(1.0);
                    a = na;
                    b = nb;
                    current = l;
                    break;
                }
                step *= 0.5;
            }
            if !improved {
                break;
            }
        }
        Calibration::Platt { a, b }
    }

    /// Fits isotonic regression (pool-adjacent-violators) to probabilities and labels.
    pub fn fit_isotonic(probs: &[f64], labels: &[f64]) -> Calibration {
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_by(|&i, &j| probs[i].total_cmp(&probs[j]));
        // Blocks of (sum of y, weight, x of the block's points): equal x first pooled.
        let mut xs: Vec<f64> = Vec::new();
        let mut sums: Vec<f64> = Vec::new();
        let mut weights: Vec<f64> = Vec::new();
        for &i in &order {
            let y = if labels[i] > 0.0 { 1.0 } else { 0.0 };
            if xs.last() == Some(&probs[i]) {
                *sums.last_mut().unwrap() += y;
                *weights.last_mut().unwrap() += 1.0;
            } else {
                xs.push(probs[i]);
                sums.push(y);
                weights.push(1.0);
            }
        }
        // PAV over the distinct x: a stack of pooled blocks (start index, sum, weight).
        let mut stack: Vec<(usize, f64, f64)> = Vec::new();
        for i in 0..xs.len() {
            let mut block = (i, sums[i], weights[i]);
            while let Some(&(s, sum, w)) = stack.last() {
                if sum / w >= block.1 / block.2 {
                    stack.pop();
                    block = (s, sum + block.1, w + block.2);
                } else {
                    break;
                }
            }
            stack.push(block);
        }
        // Keep the first and last x of each pooled block: interpolation between them is
        // flat, so nothing else is needed to reproduce the fit.
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for (k, &(s, sum, w)) in stack.iter().enumerate() {
            let end = stack.get(k + 1).map_or(xs.len(), |b| b.0) - 1;
            for i in if end > s { vec![s, end] } else { vec![s] } {
                x.push(xs[i]);
                y.push(sum / w);
            }
        }
        Calibration::Isotonic { x, y }
    }

    /// The calibrated probability.
    pub fn apply(&self, p: f64) -> f64 {
        match self {
            Calibration::None => p,
            Calibration::Platt { a, b } => 1.0 / (1.0 + (-(a * logit(p) + b)).exp()),
            Calibration::Isotonic { x, y } => {
                if x.is_empty() {
                    return p;
                }
                if p <= x[0] {
                    return y[0];
                }
                if p >= x[x.len() - 1] {
                    return y[y.len() - 1];
                }
                let j = x.partition_point(|&v| v <= p);
                let (x0, x1, y0, y1) = (x[j - 1], x[j], y[j - 1], y[j]);
                y0 + (y1 - y0) * (p - x0) / (x1 - x0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_correction_restores_the_odds() {
        // True p = 0.02; negatives kept at 10% → the model sees odds ×10.
        let p = 0.02f64;
        let seen = (p / (1.0 - p) * 10.0) / (1.0 + p / (1.0 - p) * 10.0);
        assert!((correct_downsampling(seen, 0.1) - p).abs() < 1e-12);
        assert_eq!(correct_downsampling(0.3, 1.0), 0.3);
    }

    #[test]
    fn isotonic_is_monotone_and_pools_violators() {
        let p = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let y = [0.0, 1.0, 0.0, 0.0, 1.0, 1.0];
        let c = Calibration::fit_isotonic(&p, &y);
        let Calibration::Isotonic { x, y: fy } = &c else {
            panic!()
        };
        // sklearn's fit: [0, 1/3, 1/3, 1/3, 1, 1], kept as the ends of each flat run.
        assert_eq!(x, &[0.1, 0.2, 0.4, 0.5, 0.6]);
        let want = [0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0, 1.0];
        for (a, b) in fy.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{fy:?}");
        }
        assert!((c.apply(0.45) - (1.0 / 3.0 + 0.5 * (2.0 / 3.0))).abs() < 1e-12);
        assert_eq!(c.apply(0.0), 0.0);
        assert_eq!(c.apply(0.9), 1.0);
    }

    #[test]
    fn platt_recovers_a_known_sigmoid() {
        // Labels drawn from σ(2·logit(p) − 0.5): the fit should find a ≈ 2, b ≈ −0.5.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let (mut ps, mut ys) = (Vec::new(), Vec::new());
        for _ in 0..50_000 {
            let p: f64 = rng.random_range(0.02..0.98);
            let q = 1.0 / (1.0 + (-(2.0 * logit(p) - 0.5)).exp());
            ps.push(p);
            ys.push(if rng.random::<f64>() < q { 1.0 } else { 0.0 });
        }
        let Calibration::Platt { a, b } = Calibration::fit_platt(&ps, &ys) else {
            panic!()
        };
        assert!(
            (a - 2.0).abs() < 0.1 && (b + 0.5).abs() < 0.1,
            "a={a} b={b}"
        );
    }
}
