//! Pointwise metrics of scored examples: AUC, GAUC, LogLoss, expected calibration error.

use rayon::prelude::*;
use serde::Serialize;

use crate::sort::{order_key, sort_keys, sort_weighted};
use crate::{MetricsError, Result};

fn check(scores: &[f64], labels: &[f64], weights: Option<&[f64]>) -> Result<()> {
    if scores.len() != labels.len() || weights.is_some_and(|w| w.len() != scores.len()) {
        return Err(MetricsError::Length {
            scores: scores.len(),
            labels: labels.len(),
        });
    }
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(MetricsError::Invalid(format!("score #{} is NaN", i + 1)));
    }
    if let Some(i) = labels.iter().position(|&y| y != 0.0 && y != 1.0) {
        return Err(MetricsError::Invalid(format!(
            "label #{} is {}; expected 0 or 1",
            i + 1,
            labels[i]
        )));
    }
    if let Some(w) = weights {
        if let Some(i) = w.iter().position(|&x| !(x >= 0.0 && x.is_finite())) {
            return Err(MetricsError::Invalid(format!(
                "weight #{} is {}; expected a finite number >= 0",
                i + 1,
                w[i]
            )));
        }
    }
    Ok(())
}

/// Area under the ROC curve: the probability that a random positive scores above a
/// random negative, ties counting one half; with weights, pairs weigh `w_pos·w_neg`
/// (as scikit-learn's `roc_auc_score` with `sample_weight`). `None` when one class is absent.
///
/// Positives and negatives are sorted separately and concurrently, then merged in one
/// linear pass; counts are exact integers in the unweighted case.
pub fn auc(scores: &[f64], labels: &[f64], weights: Option<&[f64]>) -> Result<Option<f64>> {
    check(scores, labels, weights)?;
    Ok(match weights {
        None => auc_unweighted(scores, labels),
        Some(w) => auc_weighted(scores, labels, w),
    })
}

fn split_keys(scores: &[f64], labels: &[f64], positive: bool) -> Vec<u64> {
    scores
        .iter()
        .zip(labels)
        .filter(|(_, &y)| (y == 1.0) == positive)
        .map(|(&s, _)| order_key(s))
        .collect()
}

fn auc_unweighted(scores: &[f64], labels: &[f64]) -> Option<f64> {
    let (mut pos, mut neg) = rayon::join(
        || {
            let mut k = split_keys(scores, labels, true);
            sort_keys(&mut k);
            k
        },
        || {
            let mut k = split_keys(scores, labels, false);
            sort_keys(&mut k);
            k
        },
    );
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    // Twice the Mann–Whitney U, exact in integers: 2·(#neg below) + (#neg equal).
    let mut twice_u: u128 = 0;
    let (mut below, mut j) = (0usize, 0usize);
    let mut i = 0;
    while i < pos.len() {
        let s = pos[i];
        let mut run = 1;
        while i + run < pos.len() && pos[i + run] == s {
            run += 1;
        }
        while j < neg.len() && neg[j] < s {
            j += 1;
        }
        below = below.max(j);
        let mut eq = 0;
        while j + eq < neg.len() && neg[j + eq] == s {
            eq += 1;
        }
        twice_u += run as u128 * (2 * below + eq) as u128;
        i += run;
    }
    let denom = 2.0 * pos.len() as f64 * neg.len() as f64;
    pos.clear();
    neg.clear();
    Some(twice_u as f64 / denom)
}

fn auc_weighted(scores: &[f64], labels: &[f64], w: &[f64]) -> Option<f64> {
    let sorted = |positive: bool| {
        let mut pairs: Vec<(u64, f64)> = scores
            .iter()
            .zip(labels)
            .zip(w)
            .filter(|((_, &y), _)| (y == 1.0) == positive)
            .map(|((&s, _), &wt)| (order_key(s), wt))
            .collect();
        sort_weighted(&mut pairs);
        pairs.into_iter().unzip::<u64, f64, Vec<u64>, Vec<f64>>()
    };
    let ((pk, pw), (nk, nw)) = rayon::join(|| sorted(true), || sorted(false));
    let (tp, tn): (f64, f64) = (pw.iter().sum(), nw.iter().sum());
    if tp == 0.0 || tn == 0.0 {
        return None;
    }
    let (mut area, mut below, mut j) = (0.0f64, 0.0f64, 0usize);
    let mut i = 0;
    while i < pk.len() {
        let s = pk[i];
        let mut run_w = 0.0;
        while i < pk.len() && pk[i] == s {
            run_w += pw[i];
            i += 1;
        }
        while j < nk.len() && nk[j] < s {
            below += nw[j];
            j += 1;
        }
        let mut eq = 0.0;
        let mut e = j;
        while e < nk.len() && nk[e] == s {
            eq += nw[e];
            e += 1;
        }
        area += run_w * (below + 0.5 * eq);
    }
    Some(area / (tp * tn))
}

/// Result of [`gauc`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Gauc {
    /// Impression-weighted mean of per-user AUC; `None` when no user has both classes.
    pub gauc: Option<f64>,
    /// Users whose AUC was counted.
    pub users: usize,
    /// Users skipped because all their labels are one class.
    pub skipped_users: usize,
}

/// Group AUC: per-user AUC weighted by the user's impressions (the sum of their
/// example weights, or their count). Users whose labels are all one class are skipped
/// and counted.
pub fn gauc(
    users: &[u32],
    scores: &[f64],
    labels: &[f64],
    weights: Option<&[f64]>,
) -> Result<Gauc> {
    check(scores, labels, weights)?;
    if users.len() != scores.len() {
        return Err(MetricsError::Length {
            scores: scores.len(),
            labels: users.len(),
        });
    }
    let mut order: Vec<u32> = (0..users.len() as u32).collect();
    order.par_sort_by_key(|&i| users[i as usize]);
    let groups: Vec<&[u32]> = order
        .chunk_by(|&a, &b| users[a as usize] == users[b as usize])
        .collect();
    let per_user: Vec<Option<(f64, f64)>> = groups
        .par_iter()
        .map(|g| {
            let s: Vec<f64> = g.iter().map(|&i| scores[i as usize]).collect();
            let y: Vec<f64> = g.iter().map(|&i| labels[i as usize]).collect();
            let (a, imp) = match weights {
                None => (auc_unweighted(&s, &y), g.len() as f64),
                Some(w) => {
                    let wv: Vec<f64> = g.iter().map(|&i| w[i as usize]).collect();
                    (auc_weighted(&s, &y, &wv), wv.iter().sum())
                }
            };
            a.map(|a| (a, imp))
        })
        .collect();
    let (mut num, mut den, mut used) = (0.0, 0.0, 0);
    for (a, imp) in per_user.iter().flatten() {
        num += a * imp;
        den += imp;
        used += 1;
    }
    Ok(Gauc {
        gauc: (den > 0.0).then(|| num / den),
        users: used,
        skipped_users: groups.len() - used,
    })
}

/// Mean negative log-likelihood of the labels under predicted probabilities, with
/// probabilities clipped to `[ε, 1−ε]` (ε = machine epsilon, as scikit-learn's `log_loss`).
pub fn logloss(probs: &[f64], labels: &[f64], weights: Option<&[f64]>) -> Result<f64> {
    check(probs, labels, weights)?;
    if let Some(i) = probs.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(MetricsError::Invalid(format!(
            "probability #{} is {}; expected a value in [0, 1]",
            i + 1,
            probs[i]
        )));
    }
    let eps = f64::EPSILON;
    let (mut num, mut den) = (0.0, 0.0);
    for (k, (&p, &y)) in probs.iter().zip(labels).enumerate() {
        let w = weights.map_or(1.0, |w| w[k]);
        let p = p.clamp(eps, 1.0 - eps);
        num -= w * (y * p.ln() + (1.0 - y) * (1.0 - p).ln());
        den += w;
    }
    if den == 0.0 {
        return Err(MetricsError::Invalid("logloss of no examples".into()));
    }
    Ok(num / den)
}

/// Expected calibration error over `bins` equal-width probability bins:
/// Σ_b (n_b / n) · |mean label_b − mean probability_b|.
pub fn ece(probs: &[f64], labels: &[f64], bins: usize) -> Result<f64> {
    check(probs, labels, None)?;
    let bins = bins.max(1);
    let mut n = vec![0usize; bins];
    let mut sp = vec![0.0; bins];
    let mut sy = vec![0.0; bins];
    for (&p, &y) in probs.iter().zip(labels) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        n[b] += 1;
        sp[b] += p;
        sy[b] += y;
    }
    let total = probs.len().max(1) as f64;
    Ok((0..bins)
        .filter(|&b| n[b] > 0)
        .map(|b| (sy[b] - sp[b]).abs() / total)
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_auc(s: &[f64], y: &[f64], w: &[f64]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..s.len() {
            for j in 0..s.len() {
                if y[i] == 1.0 && y[j] == 0.0 {
                    let ww = w[i] * w[j];
                    den += ww;
                    num += ww
                        * if s[i] > s[j] {
                            1.0
                        } else if s[i] == s[j] {
                            0.5
                        } else {
                            0.0
                        };
                }
            }
        }
        num / den
    }

    #[test]
    fn auc_matches_pair_counting_with_ties_and_weights() {
        for n in [5usize, 300, 1000] {
            let s: Vec<f64> = (0..n).map(|i| ((i * 37) % 23) as f64 / 7.0).collect();
            let y: Vec<f64> = (0..n)
                .map(|i| ((i * 11 + 3) % 5 < 2) as u8 as f64)
                .collect();
            let w: Vec<f64> = (0..n).map(|i| 0.5 + (i % 4) as f64).collect();
            let ones = vec![1.0; n];
            let a = auc(&s, &y, None).unwrap().unwrap();
            assert!((a - brute_auc(&s, &y, &ones)).abs() < 1e-12, "n={n}");
            let aw = auc(&s, &y, Some(&w)).unwrap().unwrap();
            assert!((aw - brute_auc(&s, &y, &w)).abs() < 1e-12, "n={n}");
        }
    }

    #[test]
    fn auc_edge_cases() {
        assert_eq!(auc(&[0.1, 0.2], &[1.0, 1.0], None).unwrap(), None);
        assert_eq!(auc(&[0.5, 0.5], &[1.0, 0.0], None).unwrap(), Some(0.5));
        assert_eq!(auc(&[0.9, 0.1], &[1.0, 0.0], None).unwrap(), Some(1.0));
        assert!(auc(&[f64::NAN, 0.1], &[1.0, 0.0], None).is_err());
        assert!(auc(&[0.3, 0.1], &[2.0, 0.0], None).is_err());
    }

    #[test]
    fn gauc_skips_single_class_users() {
        let users = [1, 1, 1, 2, 2, 3, 3, 3, 3];
        let s = [0.9, 0.1, 0.5, 0.3, 0.2, 0.1, 0.2, 0.3, 0.4];
        let y = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        let g = gauc(&users, &s, &y, None).unwrap();
        assert_eq!((g.users, g.skipped_users), (2, 1));
        // user 1: AUC 1 over 3 impressions; user 3: positives {0.2,0.4} vs {0.1,0.3} = 3/4 over 4.
        assert!((g.gauc.unwrap() - (3.0 * 1.0 + 4.0 * 0.75) / 7.0).abs() < 1e-12);
    }

    #[test]
    fn logloss_and_ece() {
        let l = logloss(&[0.8, 0.3], &[1.0, 0.0], None).unwrap();
        assert!((l - (-(0.8f64.ln() + 0.7f64.ln()) / 2.0)).abs() < 1e-12);
        assert!(logloss(&[0.0], &[1.0], None).unwrap().is_finite());
        assert!(logloss(&[1.5], &[1.0], None).is_err());
        let e = ece(&[0.05, 0.05, 0.95, 0.95], &[0.0, 1.0, 1.0, 1.0], 10).unwrap();
        assert!((e - (0.5 * 0.45 + 0.5 * 0.05)).abs() < 1e-12);
    }
}
