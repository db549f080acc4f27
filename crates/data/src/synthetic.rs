//! A deterministic synthetic data set: Funnel's built-in demo data.
//!
//! Users and items live in a latent space with clustered tastes; item popularity follows
//! a power law; user activity is skewed (a few heavy users, many light ones); items are
//! born over time, so the catalogue and what is popular drift; users and items carry side
//! features derived from their latent cluster. Events are produced as a stream, so
//! 10⁸ interactions need memory only for the user and item vectors.

pub mod ctr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rustc_hash::FxHashSet;

use crate::entities::{AttrKind, AttrValue, EntityTable};
use crate::error::{DataError, Result};
use crate::ids::IdMap;
use crate::interactions::Event;

/// Parameters of the generator. Parse from `users=1000,items=500,interactions=50000,seed=7`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    /// Number of users.
    pub users: usize,
    /// Number of items.
    pub items: usize,
    /// Number of interactions (exact).
    pub interactions: u64,
    /// Latent dimension.
    pub dim: usize,
    /// Number of taste clusters (item categories).
    pub clusters: usize,
    /// Power-law exponent of item popularity.
    pub popularity_exponent: f64,
    /// Power-law exponent of user activity.
    pub activity_exponent: f64,
    /// How strongly taste (vs. popularity) drives choices.
    pub taste: f64,
    /// Seed.
    pub seed: u64,
    /// First timestamp (Unix seconds).
    pub start: i64,
    /// Time span in days.
    pub days: u32,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            users: 2000,
            items: 1000,
            interactions: 60_000,
            dim: 16,
            clusters: 12,
            popularity_exponent: 0.9,
            activity_exponent: 0.7,
            taste: 8.0,
            seed: 42,
            start: 1_600_000_000,
            days: 365,
        }
    }
}

impl SyntheticSpec {
    /// Parses `key=value` pairs separated by commas; unnamed keys keep their defaults.
    pub fn parse(spec: &str) -> Result<Self> {
        let mut s = SyntheticSpec::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                DataError::Invalid(format!("synthetic spec `{part}`: expected key=value"))
            })?;
            let bad = |what: &str| {
                DataError::Invalid(format!("synthetic spec `{k}={v}`: expected {what}"))
            };
            let int = || {
                v.replace('_', "")
                    .parse::<f64>()
                    .ok()
                    .filter(|x| *x >= 1.0 && x.fract() == 0.0)
            };
            match k {
                "users" => s.users = int().ok_or_else(|| bad("a positive integer"))? as usize,
                "items" => s.items = int().ok_or_else(|| bad("a positive integer"))? as usize,
                "interactions" => s.interactions = int().ok_or_else(|| bad("a positive integer (1e7 is fine)"))? as u64,
                "dim" => s.dim = int().ok_or_else(|| bad("a positive integer"))? as usize,
                "clusters" => s.clusters = int().ok_or_else(|| bad("a positive integer"))? as usize,
                "seed" => s.seed = v.parse().map_err(|_| bad("an integer"))?,
                "days" => s.days = int().ok_or_else(|| bad("a positive integer"))? as u32,
                "popularity" => s.popularity_exponent = v.parse().map_err(|_| bad("a number"))?,
                "activity" => s.activity_exponent = v.parse().map_err(|_| bad("a number"))?,
                "taste" => s.taste = v.parse().map_err(|_| bad("a number"))?,
                _ => {
                    return Err(DataError::Invalid(format!(
                        "synthetic spec key `{k}`: expected one of users, items, interactions, dim, clusters, seed, days, popularity, activity, taste"
                    )))
                }
            }
        }
        if s.interactions > s.users as u64 * (s.items as u64 / 2).max(1) {
            return Err(DataError::Invalid(format!(
                "synthetic spec: {} interactions do not fit {} users × {} items (at most half the items per user)",
                s.interactions, s.users, s.items
            )));
        }
        Ok(s)
    }
}

/// The latent world behind a synthetic data set.
pub struct Synthetic {
    spec: SyntheticSpec,
    user_vecs: Vec<f32>,
    item_vecs: Vec<f32>,
    user_cluster: Vec<u32>,
    item_cluster: Vec<u32>,
    item_birth: Vec<f64>,
    item_alias: Alias,
    user_counts: Vec<u32>,
}

impl Synthetic {
    /// Draws the latent world from the spec's seed.
    pub fn new(spec: SyntheticSpec) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let d = spec.dim;
        let normal = Normal::new(0.0f32, 1.0).unwrap();
        let scale = 1.0 / (d as f32).sqrt();
        let centers: Vec<f32> = (0..spec.clusters * d)
            .map(|_| normal.sample(&mut rng) * scale)
            .collect();
        let mut draw = |n: usize, clusters: &mut Vec<u32>, noise: f32| {
            let mut v = Vec::with_capacity(n * d);
            for _ in 0..n {
                let c = rng.random_range(0..spec.clusters);
                clusters.push(c as u32);
                for k in 0..d {
                    v.push(centers[c * d + k] + noise * scale * normal.sample(&mut rng));
                }
            }
            v
        };
        let mut user_cluster = Vec::with_capacity(spec.users);
        let mut item_cluster = Vec::with_capacity(spec.items);
        let user_vecs = draw(spec.users, &mut user_cluster, 0.6);
        let item_vecs = draw(spec.items, &mut item_cluster, 0.4);
        // Popularity: a power law over a random permutation of items.
        let mut perm: Vec<usize> = (0..spec.items).collect();
        for i in (1..perm.len()).rev() {
            perm.swap(i, rng.random_range(0..=i));
        }
        let mut pop = vec![0.0f64; spec.items];
        for (rank, &i) in perm.iter().enumerate() {
            pop[i] = 1.0 / ((rank + 1) as f64).powf(spec.popularity_exponent);
        }
        // Half the catalogue exists from the start; the rest is born over 80% of the span.
        let item_birth: Vec<f64> = (0..spec.items)
            .map(|_| {
                if rng.random_bool(0.5) {
                    0.0
                } else {
                    rng.random_range(0.0..0.8)
                }
            })
            .collect();
        let user_counts = activity(&spec, &mut rng);
        Synthetic {
            item_alias: Alias::new(&pop),
            spec,
            user_vecs,
            item_vecs,
            user_cluster,
            item_cluster,
            item_birth,
            user_counts,
        }
    }

    /// The spec.
    pub fn spec(&self) -> &SyntheticSpec {
        &self.spec
    }

    /// Affinity of user `u` for item `i` (inner product of latent vectors).
    pub fn affinity(&self, u: usize, i: usize) -> f32 {
        let d = self.spec.dim;
        self.user_vecs[u * d..(u + 1) * d]
            .iter()
            .zip(&self.item_vecs[i * d..(i + 1) * d])
            .map(|(a, b)| a * b)
            .sum()
    }

    /// Streams every event, user by user, each user's events in time order.
    /// Each user's draws come from a generator seeded by (seed, user), so the output
    /// does not depend on how it is consumed.
    pub fn for_each_event(&self, mut sink: impl FnMut(&Event<'_>) -> Result<()>) -> Result<()> {
        let s = &self.spec;
        let span = s.days as f64 * 86_400.0;
        let mut seen = FxHashSet::default();
        let (mut ubuf, mut ibuf) = (String::new(), String::new());
        for u in 0..s.users {
            let mut rng = ChaCha8Rng::seed_from_u64(
                s.seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(u as u64 + 1)),
            );
            let n = self.user_counts[u] as usize;
            // Each user is active in a window of the span.
            let len = rng.random_range(0.05..0.6);
            let begin = rng.random_range(0.0..(1.0 - len));
            let mut times: Vec<f64> = (0..n).map(|_| begin + len * rng.random::<f64>()).collect();
            times.sort_by(f64::total_cmp);
            seen.clear();
            ubuf.clear();
            use std::fmt::Write;
            let _ = write!(ubuf, "u{u}");
            for &t in &times {
                let mut item = usize::MAX;
                for attempt in 0..64 {
                    let i = self.item_alias.sample(&mut rng);
                    if seen.contains(&i) || self.item_birth[i] > t {
                        continue;
                    }
                    let a = self.affinity(u, i) as f64;
                    let accept = 1.0 / (1.0 + (-s.taste * (a - 0.5)).exp());
                    if attempt == 63 || rng.random::<f64>() < accept {
                        item = i;
                        break;
                    }
                }
                if item == usize::MAX {
                    // A saturated user: take any unseen item.
                    item = (0..s.items).find(|i| !seen.contains(i)).unwrap_or(0);
                }
                seen.insert(item);
                let a = self.affinity(u, item) as f64;
                let rating = (3.0 + 2.0 * (2.0 * a).tanh() + rng.random_range(-0.8..0.8))
                    .round()
                    .clamp(1.0, 5.0);
                ibuf.clear();
                let _ = write!(ibuf, "i{item}");
                let kind = if rating >= 4.0 && rng.random_bool(0.3) {
                    "purchase"
                } else {
                    "click"
                };
                sink(&Event {
                    user: &ubuf,
                    item: &ibuf,
                    value: rating as f32,
                    timestamp: Some(s.start + (t * span) as i64),
                    kind: Some(kind),
                })?;
            }
        }
        Ok(())
    }

    /// User side features: `segment` (categorical), `age` (numeric), `activity` (numeric).
    pub fn users(&self) -> EntityTable {
        let mut rng = ChaCha8Rng::seed_from_u64(self.spec.seed.wrapping_add(1));
        let mut t = EntityTable {
            ids: IdMap::new(),
            columns: vec![
                ("segment".into(), AttrKind::Categorical),
                ("age".into(), AttrKind::Numeric),
                ("activity".into(), AttrKind::Numeric),
            ],
            rows: Vec::with_capacity(self.spec.users),
        };
        for u in 0..self.spec.users {
            t.ids.intern(&format!("u{u}"));
            let c = self.user_cluster[u];
            t.rows.push(vec![
                AttrValue::Categorical(format!("s{}", c % 4)),
                AttrValue::Numeric((18.0 + 3.0 * c as f64 + rng.random_range(0.0..20.0)).round()),
                AttrValue::Numeric(self.user_counts[u] as f64),
            ]);
        }
        t
    }

    /// Item side features: `category`, `tags` (multi-valued), `price`, `title` (text), `birth` (Unix seconds).
    pub fn items(&self) -> EntityTable {
        let mut rng = ChaCha8Rng::seed_from_u64(self.spec.seed.wrapping_add(2));
        let mut t = EntityTable {
            ids: IdMap::new(),
            columns: vec![
                ("category".into(), AttrKind::Categorical),
                ("tags".into(), AttrKind::MultiCategorical),
                ("price".into(), AttrKind::Numeric),
                ("title".into(), AttrKind::Text),
                ("birth".into(), AttrKind::Numeric),
            ],
            rows: Vec::with_capacity(self.spec.items),
        };
        let span = self.spec.days as f64 * 86_400.0;
        for i in 0..self.spec.items {
            t.ids.intern(&format!("i{i}"));
            let c = self.item_cluster[i];
            let extra = rng.random_range(0..self.spec.clusters);
            t.rows.push(vec![
                AttrValue::Categorical(format!("c{c}")),
                AttrValue::Multi(vec![format!("t{c}"), format!("t{extra}")]),
                AttrValue::Numeric(
                    ((5.0 + 10.0 * c as f64) * rng.random_range(0.5..1.5) * 100.0).round() / 100.0,
                ),
                AttrValue::Text(format!("item {i} of category {c}")),
                AttrValue::Numeric((self.spec.start as f64 + self.item_birth[i] * span).floor()),
            ]);
        }
        t
    }
}

/// Events per user: a power law over users, summing exactly to `interactions`,
/// each at least 1 and at most half the catalogue.
fn activity(spec: &SyntheticSpec, rng: &mut ChaCha8Rng) -> Vec<u32> {
    let cap = (spec.items / 2).max(1) as f64;
    let w: Vec<f64> = (0..spec.users)
        .map(|_| {
            1.0 / rng
                .random_range(1.0..(spec.users as f64 + 1.0))
                .powf(spec.activity_exponent)
        })
        .collect();
    let total_w: f64 = w.iter().sum();
    let target = spec.interactions as f64;
    let mut counts: Vec<u32> = w
        .iter()
        .map(|x| (target * x / total_w).floor().clamp(1.0, cap) as u32)
        .collect();
    let mut sum: u64 = counts.iter().map(|&c| c as u64).sum();
    // Fix the rounding: add to or take from users round-robin until the sum is exact.
    let mut u = 0usize;
    let mut guard = 0u64;
    while sum != spec.interactions && guard < 64 * spec.users as u64 + spec.interactions {
        if sum < spec.interactions && (counts[u] as f64) < cap {
            counts[u] += 1;
            sum += 1;
        } else if sum > spec.interactions && counts[u] > 1 {
            counts[u] -= 1;
            sum -= 1;
        }
        u = (u + 1) % spec.users;
        guard += 1;
    }
    counts
}

/// Walker's alias method: O(1) draws from a discrete distribution.
#[derive(Debug, Clone)]
pub struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl Alias {
    /// Builds the table from non-negative weights (not all zero).
    pub fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut prob: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias = vec![0u32; n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| prob[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            alias[s] = l as u32;
            prob[l] -= 1.0 - prob[s];
            if prob[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        for i in large.into_iter().chain(small) {
            prob[i] = 1.0;
        }
        Alias { prob, alias }
    }

    /// Draws an index.
    #[inline]
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let i = rng.random_range(0..self.prob.len());
        if rng.random::<f64>() < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_count_deterministic_and_no_duplicates() {
        let spec = SyntheticSpec::parse("users=300,items=200,interactions=5000,seed=3").unwrap();
        let collect = || {
            let g = Synthetic::new(spec.clone());
            let mut v = Vec::new();
            g.for_each_event(|e| {
                v.push((e.user.to_string(), e.item.to_string(), e.timestamp.unwrap()));
                Ok(())
            })
            .unwrap();
            v
        };
        let a = collect();
        assert_eq!(a.len(), 5000);
        assert_eq!(a, collect());
        let mut pairs: Vec<_> = a.iter().map(|(u, i, _)| (u.clone(), i.clone())).collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), 5000, "no user sees an item twice");
    }

    #[test]
    fn popularity_is_skewed_and_taste_matters() {
        let spec = SyntheticSpec::parse("users=500,items=400,interactions=20000,seed=5").unwrap();
        let g = Synthetic::new(spec);
        let mut counts = vec![0u32; 400];
        let mut aff_sum = 0.0f64;
        g.for_each_event(|e| {
            let u: usize = e.user[1..].parse().unwrap();
            let i: usize = e.item[1..].parse().unwrap();
            counts[i] += 1;
            aff_sum += g.affinity(u, i) as f64;
            Ok(())
        })
        .unwrap();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top10: u32 = counts[..40].iter().sum();
        assert!(
            top10 as f64 > 0.25 * 20000.0,
            "top 10% of items hold {top10} of 20000 events"
        );
        // Chosen items are liked more than random pairs (whose mean affinity is ~ cluster overlap).
        let mut rnd = 0.0f64;
        for k in 0..5000 {
            rnd += g.affinity(k % 500, (k * 7) % 400) as f64;
        }
        assert!(aff_sum / 20000.0 > rnd / 5000.0 + 0.05);
    }

    #[test]
    fn alias_matches_weights() {
        let a = Alias::new(&[1.0, 3.0, 0.0, 6.0]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut c = [0u32; 4];
        for _ in 0..100_000 {
            c[a.sample(&mut rng)] += 1;
        }
        assert_eq!(c[2], 0);
        assert!((c[3] as f64 / 100_000.0 - 0.6).abs() < 0.01);
        assert!((c[0] as f64 / 100_000.0 - 0.1).abs() < 0.01);
    }
}
