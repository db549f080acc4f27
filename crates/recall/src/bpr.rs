//! BPR-MF (Rendle et al. 2009): pairwise ranking by SGD over (user, positive, negative)
//! triples, with uniform negative sampling and Hogwild-style parallel updates.
//!
//! Threads update shared factors without locks, as Hogwild does (see [`crate::hogwild`]
//! for how the rows are shared and the step vectorised).

use std::path::Path;
use std::sync::atomic::AtomicU32;

use funnel_data::{Interactions, ItemId, Progress, Row, UserId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde_json::json;

use crate::hogwild::{atomics, bpr_step, floats, BprRates};
use crate::mf::{self, dot, Factors};
use crate::{Fitted, ModelReader, Params, RecallError, Recaller, Result, Score, Scores};

/// BPR matrix factorisation with item biases. Parameters: `factors` (64), `learning_rate`
/// (0.01) with per-group overrides `lr_user`, `lr_item`, `lr_bias`; `reg` (0.01) with
/// `reg_user`, `reg_item`, `reg_bias`; `iterations` (epochs, 100; each draws one triple per
/// interaction), `lr_decay` (per-epoch factor, 1), `seed` (0), `init_std` (0.01),
/// `verify_negatives` (true: resample a negative the user has), `negative_sampling`
/// (`uniform` over items, as in the BPR paper, or `popularity`: the item of a random
/// interaction, as the `implicit` library does).
#[derive(Debug, Clone)]
pub struct Bpr {
    factors: usize,
    lr: [f32; 3],
    reg: [f32; 3],
    iterations: usize,
    lr_decay: f32,
    seed: u64,
    init_std: f32,
    verify_negatives: bool,
    popularity_negatives: bool,
    fitted: Option<Fitted>,
    users: Factors,
    items: Factors,
    item_bias: Vec<f32>,
}

const USER: usize = 0;
const ITEM: usize = 1;
const BIAS: usize = 2;
const _: () = assert!(
    USER == 0 && ITEM == 1 && BIAS == 2,
    "lr/reg arrays are [user, item, bias]"
);

/// Prefetches one value's cache line.
#[inline]
fn prefetch_one<T>(x: &T) {
    funnel_ann::simd::prefetch(std::slice::from_ref(x), 1);
}

/// Prefetches a factor row (its first four lines: 64 factors).
#[inline]
fn prefetch(cells: &[AtomicU32]) {
    funnel_ann::simd::prefetch(cells, 4);
}

impl Bpr {
    /// Reads parameters.
    pub fn new(p: &Params) -> Result<Self> {
        const M: &str = "bpr";
        let lr: f32 = p.get(M, "learning_rate", 0.01, "a number > 0")?;
        let reg: f32 = p.get(M, "reg", 0.01, "a number >= 0")?;
        let m = Bpr {
            factors: p.get(M, "factors", 64, "a positive integer")?,
            lr: [
                p.get(M, "lr_user", lr, "a number > 0")?,
                p.get(M, "lr_item", lr, "a number > 0")?,
                p.get(M, "lr_bias", lr, "a number > 0")?,
            ],
            reg: [
                p.get(M, "reg_user", reg, "a number >= 0")?,
                p.get(M, "reg_item", reg, "a number >= 0")?,
                p.get(M, "reg_bias", reg, "a number >= 0")?,
            ],
            iterations: p.get(M, "iterations", 100, "a positive integer")?,
            lr_decay: p.get(M, "lr_decay", 1.0, "a number in (0, 1]")?,
            seed: p.get(M, "seed", 0, "an integer")?,
            init_std: p.get(M, "init_std", 0.01, "a number > 0")?,
            verify_negatives: p.get(M, "verify_negatives", true, "true or false")?,
            popularity_negatives: p.choice(
                M,
                "negative_sampling",
                "uniform",
                &["uniform", "popularity"],
            )? == "popularity",
            fitted: None,
            users: Factors::zeros(0, 0),
            items: Factors::zeros(0, 0),
            item_bias: Vec::new(),
        };
        p.finish(M)?;
        if m.factors == 0 {
            return Err(RecallError::Param {
                model: M,
                message: "`factors` must be at least 1".into(),
            });
        }
        Ok(m)
    }

    fn params_json(&self) -> serde_json::Value {
        json!({"factors": self.factors, "lr_user": self.lr[USER], "lr_item": self.lr[ITEM], "lr_bias": self.lr[BIAS],
               "reg_user": self.reg[USER], "reg_item": self.reg[ITEM], "reg_bias": self.reg[BIAS],
               "iterations": self.iterations, "lr_decay": self.lr_decay, "seed": self.seed,
               "init_std": self.init_std, "verify_negatives": self.verify_negatives,
               "negative_sampling": if self.popularity_negatives { "popularity" } else { "uniform" }})
    }

    /// Loads a saved model.
    pub fn load(r: &ModelReader) -> Result<Self> {
        r.expect_model("bpr")?;
        let mut m = Bpr::new(&crate::params_from_json(r.params()))?;
        let f = Fitted::load(r)?;
        (m.users, m.items) = mf::load_factors(r, &f, m.factors)?;
        m.item_bias = r.f32s("item_bias")?;
        m.fitted = Some(f);
        Ok(m)
    }

    /// Runs one epoch: `samples` triples split over the threads. Returns the share of
    /// triples already ranked correctly before their update (a training signal).
    #[allow(clippy::too_many_arguments)]
    fn epoch(
        &self,
        train: &Interactions,
        entry_user: &[u32],
        x: &[AtomicU32],
        y: &[AtomicU32],
        b: &[AtomicU32],
        lr: [f32; 3],
        epoch: usize,
    ) -> f64 {
        let k = self.factors;
        let m = train.csr();
        let n_items = m.n_cols() as u32;
        let nnz = m.nnz();
        let threads = rayon::current_num_threads().max(1);
        let per = nnz.div_ceil(threads);
        let rates = BprRates { lr, reg: self.reg };
        let correct: usize = (0..threads)
            .into_par_iter()
            .map(|t| {
                // Sampling is the inner loop: a small fast generator, seeded per thread and epoch.
                let mut rng = SmallRng::seed_from_u64(
                    self.seed ^ ((epoch as u64) << 32) ^ (t as u64 * 0x9E37_79B9),
                );
                let mut correct = 0usize;
                // Draws a (user, positive, negative) triple; None when the user has every item.
                let draw = |q: usize, rng: &mut SmallRng| -> Option<(usize, usize, usize)> {
                    let u = entry_user[q] as usize;
                    let row = m.row(u).indices;
                    if row.len() as u32 >= n_items {
                        return None;
                    }
                    let mut negative = || {
                        if self.popularity_negatives {
                            m.indices()[rng.random_range(0..nnz)]
                        } else {
                            rng.random_range(0..n_items)
                        }
                    };
                    let mut j = negative();
                    if self.verify_negatives {
                        while row.binary_search(&j).is_ok() {
                            j = negative();
                        }
                    }
                    Some((u, m.indices()[q] as usize, j as usize))
                };
                // Software pipeline: each interaction passes four stages, one per sample, so
                // every random memory access is prefetched a sample before it is needed —
                // the entry (user, item), the user's row bounds, the user's row (for the
                // negative check), then the three factor rows — and the latency overlaps
                // the arithmetic instead of stalling each draw.
                let pick = |rng: &mut SmallRng| {
                    let q = rng.random_range(0..nnz);
                    prefetch_one(&entry_user[q]);
                    prefetch_one(&m.indices()[q]);
                    q
                };
                let locate = |q: usize| {
                    let u = entry_user[q] as usize;
                    prefetch_one(&m.indptr()[u]);
                    (q, u)
                };
                let bounds = |(q, u): (usize, usize)| {
                    let row = m.row(u).indices;
                    if let Some(first) = row.first() {
                        prefetch_one(first);
                        if row.len() > 16 {
                            prefetch_one(&row[16]);
                        }
                    }
                    q
                };
                // Fill the pipeline: the first triple is drawn, the three behind it are
                // at their stages.
                let mut next = draw(bounds(locate(pick(&mut rng))), &mut rng);
                let mut s3 = bounds(locate(pick(&mut rng)));
                let mut s2 = locate(pick(&mut rng));
                let mut s1 = pick(&mut rng);
                for _ in 0..per.min(nnz.saturating_sub(t * per)) {
                    let current = next;
                    next = draw(s3, &mut rng);
                    s3 = bounds(s2);
                    s2 = locate(s1);
                    s1 = pick(&mut rng);
                    if let Some((u, i, j)) = next {
                        prefetch(&x[u * k..(u + 1) * k]);
                        prefetch(&y[i * k..(i + 1) * k]);
                        prefetch(&y[j * k..(j + 1) * k]);
                    }
                    let Some((u, i, j)) = current else { continue };
                    let x_uij = bpr_step(
                        &x[u * k..(u + 1) * k],
                        &y[i * k..(i + 1) * k],
                        &y[j * k..(j + 1) * k],
                        &b[i],
                        &b[j],
                        rates,
                    );
                    if x_uij > 0.0 {
                        correct += 1;
                    }
                }
                correct
            })
            .sum();
        correct as f64 / nnz.max(1) as f64
    }
}

impl Recaller for Bpr {
    fn name(&self) -> &'static str {
        "bpr"
    }

    fn fit(&mut self, train: &Interactions, progress: &dyn Progress) -> Result<()> {
        let k = self.factors;
        let m = train.csr();
        let mut entry_user = Vec::with_capacity(m.nnz());
        for u in 0..m.n_rows() {
            entry_user.extend(std::iter::repeat_n(u as u32, m.row_len(u)));
        }
        let x = atomics(&Factors::random(train.n_users(), k, self.init_std, self.seed).data);
        let y = atomics(
            &Factors::random(train.n_items(), k, self.init_std, self.seed.wrapping_add(1)).data,
        );
        let b = atomics(&vec![0.0; train.n_items()]);
        let mut lr = self.lr;
        progress.start("BPR epochs", self.iterations as u64);
        for e in 0..self.iterations {
            self.epoch(train, &entry_user, &x, &y, &b, lr, e);
            lr.iter_mut().for_each(|l| *l *= self.lr_decay);
            progress.inc(1);
        }
        progress.finish();
        self.users = Factors {
            n: train.n_users(),
            k,
            data: floats(&x),
        };
        self.items = Factors {
            n: train.n_items(),
            k,
            data: floats(&y),
        };
        self.item_bias = floats(&b);
        self.fitted = Some(Fitted::from_train(train));
        Ok(())
    }

    fn fitted(&self) -> Option<&Fitted> {
        self.fitted.as_ref()
    }

    fn score(&self, user: Option<UserId>, history: Row<'_>, scores: &mut Scores) {
        // A user not seen in training: the mean of their items' factors stands in.
        let xu: Vec<f32> = match user {
            Some(u) => self.users.row(u as usize).to_vec(),
            None => {
                let mut v = vec![0.0f32; self.factors];
                for &i in history.indices {
                    crate::mf::axpy(
                        1.0 / history.len().max(1) as f32,
                        self.items.row(i as usize),
                        &mut v,
                    );
                }
                v
            }
        };
        let out = scores.dense_mut();
        for (i, o) in out.iter_mut().enumerate() {
            *o = dot(&xu, self.items.row(i)) + self.item_bias[i];
        }
    }

    fn recommend(&self, users: &[UserId], k: usize) -> Result<Vec<Vec<(ItemId, Score)>>> {
        mf::recommend(
            "bpr",
            self.fitted.as_ref(),
            &self.users,
            &self.items,
            Some(&self.item_bias),
            users,
            k,
        )
    }

    fn similar_items(&self, item: ItemId, k: usize) -> Result<Vec<(ItemId, Score)>> {
        mf::similar_items(&self.items, item, k)
    }

    fn save(&self, path: &Path) -> Result<()> {
        let factors = (&self.users, &self.items);
        mf::save(
            "bpr",
            self.params_json(),
            self.fitted.as_ref(),
            factors,
            Some(&self.item_bias),
            path,
        )
    }
}
