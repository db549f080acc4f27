//! Re-ranking: maximal marginal relevance for diversity, and exploration slots for items
//! with little feedback (Thompson sampling on a Beta posterior of their click rate, or
//! ε-greedy).

use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution};

use crate::catalog::Catalog;
use crate::config::RerankConfig;

/// A candidate on its way through the funnel.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Catalogue index.
    pub item: u32,
    /// Current score (higher is better).
    pub score: f64,
    /// Channel that brought it.
    pub channel: &'static str,
}

/// Maximal marginal relevance (Carbonell & Goldstein 1998): picks `n` candidates one at a
/// time, each maximising `λ·relevance − (1−λ)·max similarity to those already picked`,
/// relevance being the score rescaled to [0, 1]. `cands` must be sorted best first; only
/// the best `3n` are considered.
pub fn mmr(
    mut cands: Vec<Candidate>,
    n: usize,
    lambda: f64,
    sim: impl Fn(u32, u32) -> f64,
) -> Vec<Candidate> {
    cands.truncate(3 * n);
    if cands.len() <= 1 {
        return cands;
    }
    let hi = cands.iter().map(|c| c.score).fold(f64::MIN, f64::max);
    let lo = cands.iter().map(|c| c.score).fold(f64::MAX, f64::min);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut picked: Vec<Candidate> = Vec::with_capacity(n);
    // max similarity of each remaining candidate to the picked ones
    let mut max_sim = vec![f64::MIN; cands.len()];
    let mut taken = vec![false; cands.len()];
    while picked.len() < n.min(cands.len()) {
        let mut best = (f64::MIN, usize::MAX);
        for (j, c) in cands.iter().enumerate() {
            if taken[j] {
                continue;
            }
            let penalty = if picked.is_empty() { 0.0 } else { max_sim[j] };
            let v = lambda * (c.score - lo) / span - (1.0 - lambda) * penalty;
            if v > best.0 {
                best = (v, j);
            }
        }
        let j = best.1;
        taken[j] = true;
        for (l, c) in cands.iter().enumerate() {
            if !taken[l] {
                max_sim[l] = max_sim[l].max(sim(cands[j].item, c.item));
            }
        }
        picked.push(cands[j].clone());
    }
    picked
}

/// Newest items looked at when filling exploration slots.
const EXPLORE_POOL: usize = 256;

/// Fills `cfg.explore_slots` positions of the first `want` with items that have fewer
/// than `cfg.explore_max_feedback` feedback events: the highest draw from
/// Beta(α + clicks, β + reads − clicks) wins a slot, or, with probability ε, a uniformly
/// random new item does. Slots are spread through the list rather than put at its end.
pub fn explore(
    cands: &mut Vec<Candidate>,
    want: usize,
    cfg: &RerankConfig,
    cat: &Catalog,
    allowed: impl Fn(u32) -> bool,
) {
    if cfg.explore_slots == 0 || want == 0 {
        return;
    }
    let in_list: rustc_hash::FxHashSet<u32> = cands.iter().map(|c| c.item).collect();
    let is_new = |i: u32| cat.items()[i as usize].feedback() < cfg.explore_max_feedback;
    // Items already in the list because they ranked well are not "explored" again.
    let mut pool: Vec<u32> = cat
        .latest()
        .filter(|&i| is_new(i) && !in_list.contains(&i) && allowed(i))
        .take(EXPLORE_POOL)
        .collect();
    let mut rng = rand::rngs::SmallRng::from_rng(&mut rand::rng());
    let slots = cfg.explore_slots.min(want);
    for s in 0..slots {
        if pool.is_empty() {
            break;
        }
        let (pick, score) = if rng.random::<f64>() < cfg.epsilon {
            (rng.random_range(0..pool.len()), f64::NAN)
        } else {
            let mut best = (0, f64::MIN);
            for (p, &i) in pool.iter().enumerate() {
                let it = &cat.items()[i as usize];
                let clicks = it.positives as f64;
                let misses = (it.reads as f64 - clicks).max(0.0);
                let draw = Beta::new(cfg.thompson_alpha + clicks, cfg.thompson_beta + misses)
                    .map_or(0.0, |b| b.sample(&mut rng));
                if draw > best.1 {
                    best = (p, draw);
                }
            }
            best
        };
        let item = pool.swap_remove(pick);
        let it = &cat.items()[item as usize];
        let score = if score.is_nan() {
            // ε-greedy pick: report the posterior mean
            (cfg.thompson_alpha + it.positives as f64)
                / (cfg.thompson_alpha + cfg.thompson_beta + it.feedback() as f64)
        } else {
            score
        };
        let at = ((s + 1) * want / (slots + 1)).min(cands.len());
        cands.insert(
            at,
            Candidate {
                item,
                score,
                channel: "explore",
            },
        );
    }
    cands.truncate(want);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedbackConfig;
    use funnel_store::{Feedback, Item};

    fn c(item: u32, score: f64) -> Candidate {
        Candidate {
            item,
            score,
            channel: "popular",
        }
    }

    #[test]
    fn mmr_trades_relevance_for_diversity() {
        // items 0 and 1 are near-duplicates; 2 is different but scores lower
        let sim = |a: u32, b: u32| {
            if a.min(b) == 0 && a.max(b) == 1 {
                0.95
            } else {
                0.0
            }
        };
        let cands = vec![c(0, 1.0), c(1, 0.9), c(2, 0.5)];
        let plain = mmr(cands.clone(), 2, 1.0, sim);
        assert_eq!(plain.iter().map(|c| c.item).collect::<Vec<_>>(), [0, 1]);
        let diverse = mmr(cands, 2, 0.5, sim);
        assert_eq!(diverse.iter().map(|c| c.item).collect::<Vec<_>>(), [0, 2]);
    }

    fn catalog_with_new_item() -> Catalog {
        let mut cat = Catalog::new(&FeedbackConfig::default());
        for i in 0..20 {
            let mut it = Item::new(&format!("old{i}"));
            it.timestamp = i;
            cat.upsert_item(&it);
            for u in 0..12 {
                cat.add_feedback(&Feedback::new("read", &format!("u{u}"), &it.item_id, 0));
            }
        }
        let mut it = Item::new("new");
        it.timestamp = 5;
        cat.upsert_item(&it);
        cat
    }

    #[test]
    fn a_new_item_takes_the_exploration_slot() {
        let cat = catalog_with_new_item();
        let new = cat.item_index("new").unwrap();
        let cfg = RerankConfig {
            explore_slots: 1,
            explore_max_feedback: 10,
            ..Default::default()
        };
        let mut cands: Vec<Candidate> = (0..10).map(|i| c(i, 10.0 - i as f64)).collect();
        explore(&mut cands, 10, &cfg, &cat, |_| true);
        assert_eq!(cands.len(), 10);
        let e: Vec<&Candidate> = cands.iter().filter(|c| c.channel == "explore").collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].item, new);
        assert_eq!(cands.iter().position(|c| c.item == new), Some(5));
        // a filtered-out new item is not explored
        let mut cands: Vec<Candidate> = (0..10).map(|i| c(i, 1.0)).collect();
        explore(&mut cands, 10, &cfg, &cat, |i| i != new);
        assert!(cands.iter().all(|c| c.channel != "explore"));
    }

    #[test]
    fn thompson_sampling_prefers_the_better_arm() {
        let mut cat = Catalog::new(&FeedbackConfig::default());
        // "good" was clicked 4 of 5 times, "bad" 0 of 5: both still count as new
        for (name, clicks) in [("good", 4), ("bad", 0)] {
            cat.upsert_item(&Item::new(name));
            for u in 0..5 {
                let kind = if u < clicks { "click" } else { "read" };
                cat.add_feedback(&Feedback::new(kind, &format!("u{u}"), name, 0));
            }
        }
        let cfg = RerankConfig {
            explore_slots: 1,
            explore_max_feedback: 100,
            epsilon: 0.0,
            ..Default::default()
        };
        let good = cat.item_index("good").unwrap();
        let wins = (0..400)
            .filter(|_| {
                let mut v = Vec::new();
                explore(&mut v, 1, &cfg, &cat, |_| true);
                v[0].item == good
            })
            .count();
        // P(Beta(5, 10) > Beta(1, 15)) ≈ 0.97
        assert!(wins > 340, "good arm won {wins} of 400");
        // ε = 1: uniform, so each wins about half
        let cfg = RerankConfig {
            epsilon: 1.0,
            ..cfg
        };
        let wins = (0..400)
            .filter(|_| {
                let mut v = Vec::new();
                explore(&mut v, 1, &cfg, &cat, |_| true);
                v[0].item == good
            })
            .count();
        assert!((140..260).contains(&wins), "uniform pick won {wins} of 400");
    }
}
