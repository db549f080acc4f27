//! Top-K ranking metrics, averaged over users with at least one relevant item.

use std::collections::BTreeMap;

/// Names of the per-user top-K metrics, in report order.
pub const TOPK_METRICS: [&str; 6] = ["hr", "precision", "recall", "ndcg", "mrr", "map"];

/// Per-user ranking metrics at several cut-offs, accumulated and averaged.
///
/// Definitions (for one user with relevant set R and ranked list L):
/// * HR@K = 1 if any of L[..K] is in R;
/// * Precision@K = hits / K; Recall@K = hits / |R|;
/// * NDCG@K = DCG / IDCG with gain 1 (binary) or 2^rel − 1 (graded), discount
///   1/log2(rank + 1), IDCG over the best min(K, |R|) gains;
/// * MRR@K = 1 / rank of the first hit within K;
/// * MAP@K = Σ precision at each hit within K, divided by min(K, |R|).
#[derive(Debug, Clone)]
pub struct TopKAccumulator {
    ks: Vec<usize>,
    sums: Vec<[f64; 6]>,
    users: usize,
}

impl TopKAccumulator {
    /// An accumulator for cut-offs `ks`.
    pub fn new(ks: &[usize]) -> Self {
        Self {
            ks: ks.to_vec(),
            sums: vec![[0.0; 6]; ks.len()],
            users: 0,
        }
    }

    /// Adds one user. `relevant` is sorted ascending with optional graded relevance
    /// (parallel to it); `ranked` is best first. A user with no relevant item is ignored.
    pub fn add_user(&mut self, ranked: &[u32], relevant: &[u32], grades: Option<&[f64]>) {
        if relevant.is_empty() {
            return;
        }
        self.users += 1;
        let gain_of = |pos: usize| grades.map_or(1.0, |g| 2f64.powf(g[pos]) - 1.0);
        // Ideal gains, best first.
        let mut ideal: Vec<f64> = (0..relevant.len()).map(gain_of).collect();
        if grades.is_some() {
            ideal.sort_by(|a, b| b.total_cmp(a));
        }
        let max_k = self.ks.iter().copied().max().unwrap_or(0);
        // Walk the list once, snapshotting the running sums at each cut-off.
        let (mut hits, mut dcg, mut first_hit, mut ap) = (0usize, 0.0f64, 0.0f64, 0.0f64);
        let mut snap: BTreeMap<usize, (usize, f64, f64, f64)> = BTreeMap::new();
        for rank in 1..=max_k {
            if let Some(&item) = ranked.get(rank - 1) {
                if let Ok(pos) = relevant.binary_search(&item) {
                    hits += 1;
                    dcg += gain_of(pos) / ((rank + 1) as f64).log2();
                    if first_hit == 0.0 {
                        first_hit = 1.0 / rank as f64;
                    }
                    ap += hits as f64 / rank as f64;
                }
            }
            if self.ks.contains(&rank) {
                snap.insert(rank, (hits, dcg, first_hit, ap));
            }
        }
        for (ki, &k) in self.ks.iter().enumerate() {
            let (h, d, rr, a) = snap[&k];
            let idcg: f64 = ideal
                .iter()
                .take(k)
                .enumerate()
                .map(|(r, g)| g / ((r + 2) as f64).log2())
                .sum();
            let s = &mut self.sums[ki];
            s[0] += (h > 0) as u8 as f64;
            s[1] += h as f64 / k as f64;
            s[2] += h as f64 / relevant.len() as f64;
            s[3] += if idcg > 0.0 { d / idcg } else { 0.0 };
            s[4] += rr;
            s[5] += a / k.min(relevant.len()) as f64;
        }
    }

    /// Merges another accumulator over the same cut-offs (for parallel evaluation).
    pub fn merge(&mut self, other: &TopKAccumulator) {
        self.users += other.users;
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
    }

    /// Users counted.
    pub fn users(&self) -> usize {
        self.users
    }

    /// Averages keyed `hr@10`, `ndcg@20`, … (lower case).
    pub fn averages(&self) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        let n = self.users.max(1) as f64;
        for (ki, &k) in self.ks.iter().enumerate() {
            for (mi, name) in TOPK_METRICS.iter().enumerate() {
                m.insert(format!("{name}@{k}"), self.sums[ki][mi] / n);
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_user() {
        let mut acc = TopKAccumulator::new(&[3, 5]);
        // Relevant {2, 7, 9}; ranked 7, 1, 9, 4, 2 → hits at ranks 1, 3, 5.
        acc.add_user(&[7, 1, 9, 4, 2], &[2, 7, 9], None);
        let m = acc.averages();
        assert_eq!(m["hr@3"], 1.0);
        assert!((m["precision@3"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((m["recall@5"] - 1.0).abs() < 1e-12);
        assert_eq!(m["mrr@3"], 1.0);
        let dcg3 = 1.0 + 1.0 / 4f64.log2();
        let idcg3 = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((m["ndcg@3"] - dcg3 / idcg3).abs() < 1e-12);
        assert!((m["map@5"] - (1.0 + 2.0 / 3.0 + 3.0 / 5.0) / 3.0).abs() < 1e-12);
        assert!((m["map@3"] - (1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn users_without_relevant_items_are_not_averaged() {
        let mut acc = TopKAccumulator::new(&[2]);
        acc.add_user(&[1, 2], &[], None);
        acc.add_user(&[1, 2], &[5], None);
        assert_eq!(acc.users(), 1);
        assert_eq!(acc.averages()["hr@2"], 0.0);
    }
}
