//! Full-ranking evaluation: every item is a candidate except the user's training items.

use std::collections::BTreeMap;

use funnel_data::Interactions;
use rayon::prelude::*;
use serde::Serialize;

use crate::topk::TopKAccumulator;

/// The result of evaluating a recommender on a test set.
#[derive(Debug, Clone, Serialize)]
pub struct RankingReport {
    /// `hr@K`, `precision@K`, `recall@K`, `ndcg@K`, `mrr@K`, `map@K`, `coverage@K`, `arp@K`.
    pub metrics: BTreeMap<String, f64>,
    /// Test users evaluated (those with at least one test item).
    pub users: usize,
}

/// Evaluates `recommend` over every test user with at least one test item.
///
/// `recommend(users, k)` returns, for each user, up to `k` item ids best first, excluding
/// the user's training items (the `Recaller` contract). It is called on batches of users,
/// batches in parallel. Besides the per-user metrics it reports `coverage@K` (share of the
/// catalogue recommended to anyone) and `arp@K` (average recommendation popularity: mean
/// training count of recommended items), the popularity bias of the list.
pub fn evaluate_full_ranking<F>(
    train: &Interactions,
    test: &Interactions,
    ks: &[usize],
    recommend: F,
) -> RankingReport
where
    F: Fn(&[u32], usize) -> Vec<Vec<u32>> + Sync,
{
    let max_k = ks.iter().copied().max().unwrap_or(10);
    let users: Vec<u32> = (0..test.n_users() as u32)
        .filter(|&u| !test.user_row(u).is_empty())
        .collect();
    let popularity = train.item_counts();
    let n_items = train.n_items();
    struct Part {
        acc: TopKAccumulator,
        seen: Vec<Vec<bool>>,
        pop: Vec<f64>,
    }
    let part = users
        .par_chunks(256)
        .map(|chunk| {
            let lists = recommend(chunk, max_k);
            let mut p = Part {
                acc: TopKAccumulator::new(ks),
                seen: ks.iter().map(|_| vec![false; n_items]).collect(),
                pop: vec![0.0; ks.len()],
            };
            for (&u, list) in chunk.iter().zip(&lists) {
                p.acc.add_user(list, test.user_row(u).indices, None);
                for (ki, &k) in ks.iter().enumerate() {
                    let top = &list[..list.len().min(k)];
                    for &i in top {
                        p.seen[ki][i as usize] = true;
                    }
                    if !top.is_empty() {
                        p.pop[ki] += top
                            .iter()
                            .map(|&i| popularity[i as usize] as f64)
                            .sum::<f64>()
                            / top.len() as f64;
                    }
                }
            }
            p
        })
        .reduce_with(|mut a, b| {
            a.acc.merge(&b.acc);
            for (x, y) in a.seen.iter_mut().zip(&b.seen) {
                x.iter_mut().zip(y).for_each(|(p, q)| *p |= q);
            }
            a.pop.iter_mut().zip(&b.pop).for_each(|(p, q)| *p += q);
            a
        });
    let mut metrics = BTreeMap::new();
    let n_users = users.len();
    if let Some(p) = part {
        metrics = p.acc.averages();
        for (ki, &k) in ks.iter().enumerate() {
            let covered = p.seen[ki].iter().filter(|&&s| s).count();
            metrics.insert(
                format!("coverage@{k}"),
                covered as f64 / n_items.max(1) as f64,
            );
            metrics.insert(format!("arp@{k}"), p.pop[ki] / n_users.max(1) as f64);
        }
    }
    RankingReport {
        metrics,
        users: n_users,
    }
}
