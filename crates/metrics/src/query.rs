//! Per-query ranking metrics for learning to rank: NDCG@k with graded labels and MAP@k,
//! averaged over queries.
//!
//! NDCG@k = DCG@k / IDCG@k, with gain 2^label − 1 and discount 1/log2(rank + 1) (ranks
//! from 1): LightGBM's and Burges's definition. MAP@k: per query the mean, over its
//! relevant documents (label > 0) in the top k, of the precision at their rank, divided
//! by min(k, relevant documents). Queries with no relevant document have no ideal
//! ranking to compare with: they are skipped and counted, not scored 1 (LightGBM) or 0
//! (scikit-learn).

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Serialize;

/// Averages over the queries that have a relevant document.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueryMetrics {
    /// `ndcg@K` and `map@K` for each cut-off.
    pub metrics: BTreeMap<String, f64>,
    /// Queries scored.
    pub queries: usize,
    /// Queries skipped for having no relevant document.
    pub skipped_queries: usize,
}

/// Discounted cumulative gain of `labels` in the given order, over the first `k`.
fn dcg(labels: impl Iterator<Item = f32>, k: usize) -> f64 {
    labels
        .take(k)
        .enumerate()
        .map(|(i, l)| (2f64.powf(l as f64) - 1.0) / ((i + 2) as f64).log2())
        .sum()
}

/// NDCG@k and MAP@k of `scores` against `labels`, for the queries `queries` (ranges of
/// documents). Documents with equal scores keep their input order.
pub fn query_metrics(
    scores: &[f64],
    labels: &[f32],
    queries: &[Range<usize>],
    ks: &[usize],
) -> QueryMetrics {
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    let (mut scored, mut skipped) = (0usize, 0usize);
    let mut order: Vec<usize> = Vec::new();
    let mut ideal: Vec<f32> = Vec::new();
    for q in queries {
        let relevant = labels[q.clone()].iter().filter(|&&l| l > 0.0).count();
        if relevant == 0 {
            skipped += 1;
            continue;
        }
        scored += 1;
        order.clear();
        order.extend(q.clone());
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        ideal.clear();
        ideal.extend_from_slice(&labels[q.clone()]);
        ideal.sort_by(|a, b| b.total_cmp(a));
        for &k in ks {
            let best = dcg(ideal.iter().copied(), k);
            let got = dcg(order.iter().map(|&d| labels[d]), k);
            *sums.entry(format!("ndcg@{k}")).or_default() += got / best;
            let (mut hits, mut ap) = (0usize, 0.0f64);
            for (i, &d) in order.iter().take(k).enumerate() {
                if labels[d] > 0.0 {
                    hits += 1;
                    ap += hits as f64 / (i + 1) as f64;
                }
            }
            *sums.entry(format!("map@{k}")).or_default() += ap / relevant.min(k) as f64;
        }
    }
    QueryMetrics {
        metrics: sums
            .into_iter()
            .map(|(k, v)| (k, v / scored.max(1) as f64))
            .collect(),
        queries: scored,
        skipped_queries: skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_ranking_scores_one_and_a_known_one_its_value() {
        let labels = [2.0f32, 0.0, 1.0, 0.0, 0.0, 0.0];
        let q = [0..3, 3..6];
        let m = query_metrics(&[3.0, 1.0, 2.0, 0.0, 0.0, 0.0], &labels, &q, &[1, 3]);
        assert_eq!(m.metrics["ndcg@3"], 1.0);
        assert_eq!((m.queries, m.skipped_queries), (1, 1));
        // Reversed: labels in order 0, 1, 2.
        let m = query_metrics(&[1.0, 3.0, 2.0, 0.0, 0.0, 0.0], &labels, &q, &[1, 3]);
        let got = 1.0 / 3f64.log2() + 3.0 / 4f64.log2();
        let best = 3.0 + 1.0 / 3f64.log2();
        assert!((m.metrics["ndcg@3"] - got / best).abs() < 1e-12);
        assert_eq!(m.metrics["ndcg@1"], 0.0);
        // Relevant at ranks 2 and 3: (1/2 + 2/3) / 2.
        assert!((m.metrics["map@3"] - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(m.metrics["map@1"], 0.0);
    }
}
