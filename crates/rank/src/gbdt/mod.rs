//! Gradient-boosted decision trees, Funnel's own (no C++ build step): histogram trees
//! on quantile-binned features, grown leaf-wise, with shrinkage, L1/L2 on leaf values,
//! row and feature sub-sampling and early stopping on a validation set. Registered as
//! `gbdt` (binary log-loss by default; `objective=regression`) and `lambdamart`
//! (`objective=lambdarank`).
//!
//! Trained on click logs with display positions (`SampleSet::positions`), the ranking
//! objectives correct for position bias with `position_bias=unbiased|ipw` ([`position`]).
//!
//! Trees train over the features the training samples use (a hashed space of 10⁶ with
//! 300 features in use trains 300): a feature a sample lacks is 0, as libsvm means it
//! and as LightGBM reads it. Samples are binned straight from their sparse rows
//! ([`binned`]): dense features get a byte column each, sparse ones (one-hot ids,
//! categories) are kept row-wise, so one-hot ids cost their non-zeros, not a column
//! each. Every leaf holds a histogram over all features' bins, so more than
//! [`MAX_FEATURES`] features in use are refused: ids in the millions belong to `lr`,
//! `fm` and `ffm`.

pub mod binned;
pub mod bins;
pub mod forest;
pub mod lr;
pub mod objective;
pub mod position;
pub mod tree;

use std::ops::Range;
use std::time::Instant;

use funnel_features::SampleSet;
use funnel_model::{ModelReader, ModelWriter, Params};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde_json::{json, Value};

use crate::error::{RankError, Result};
use crate::online::{sigmoid, FitReport};
use crate::Ranker;
use binned::Binned;
use objective::Objective;
use position::{Correction, PositionBias};
use tree::{Grower, Tree, TreeParams};

/// The most features in use a GBDT trains on (each leaf's histogram has their bins).
pub const MAX_FEATURES: u32 = 100_000;

/// A boosted ensemble and how it trains.
#[derive(Debug, Clone)]
pub struct Gbdt {
    name: &'static str,
    objective: Objective,
    num_trees: usize,
    tree: TreeParams,
    max_bin: usize,
    feature_fraction: f64,
    bagging_fraction: f64,
    bagging_freq: usize,
    early_stopping_rounds: usize,
    /// Cut-off of the NDCG that early stopping watches (ranking).
    eval_at: usize,
    seed: u64,
    /// Correct clicks for the position they were shown at (`position_bias=unbiased|ipw`).
    position_bias: Option<Correction>,
    position_bins: usize,
    position_bias_regularization: f64,
    /// The propensities the last fit estimated (unbiased only).
    propensities: Option<PositionBias>,
    init_score: f64,
    n_features: u32,
    trees: Vec<Tree>,
    /// The trees laid out for scoring, made on first use after a fit or a load.
    forest: std::sync::OnceLock<forest::Forest>,
}

impl Gbdt {
    /// A model called `name` from `--set` parameters; `default_objective` is `binary`
    /// for `gbdt`, `lambdarank` for `lambdamart`.
    pub fn from_params(name: &'static str, default_objective: &str, p: &Params) -> Result<Self> {
        let m = name;
        let objective = match p
            .choice(
                m,
                "objective",
                default_objective,
                &["binary", "regression", "lambdarank", "pairwise"],
            )?
            .as_str()
        {
            "binary" => Objective::Binary,
            "regression" => Objective::Regression,
            "pairwise" => Objective::Pairwise {
                sigma: p.get(m, "sigma", 1.0, "a number > 0")?,
            },
            _ => Objective::LambdaRank {
                truncation: p.get(m, "truncation", 30, "a positive integer")?,
                sigma: p.get(m, "sigma", 1.0, "a number > 0")?,
                norm: p.get(m, "norm", true, "true or false")?,
            },
        };
        let tree = TreeParams {
            num_leaves: p.get(m, "num_leaves", 31, "an integer >= 2")?,
            max_depth: p.get(m, "max_depth", 0, "a depth, 0 for no limit")?,
            min_data_in_leaf: p.get(m, "min_data_in_leaf", 20, "a positive integer")?,
            min_sum_hessian: p.get(m, "min_sum_hessian", 1e-3, "a number >= 0")?,
            lambda_l1: p.get(m, "lambda_l1", 0.0, "a number >= 0")?,
            lambda_l2: p.get(m, "lambda_l2", 0.0, "a number >= 0")?,
            learning_rate: p.get(m, "learning_rate", 0.1, "a number > 0")?,
            min_gain_to_split: p.get(m, "min_gain_to_split", 0.0, "a number >= 0")?,
        };
        let g = Gbdt {
            name,
            objective,
            num_trees: p.get(m, "num_trees", 100, "a positive integer")?,
            tree,
            max_bin: p.get(m, "max_bin", 255, "an integer from 2 to 256")?,
            feature_fraction: p.get(m, "feature_fraction", 1.0, "a number in (0, 1]")?,
            bagging_fraction: p.get(m, "bagging_fraction", 1.0, "a number in (0, 1]")?,
            bagging_freq: p.get(m, "bagging_freq", 0, "trees between re-draws, 0 for none")?,
            early_stopping_rounds: p.get(
                m,
                "early_stopping_rounds",
                20,
                "trees without improvement, 0 for none",
            )?,
            eval_at: p.get(m, "eval_at", 10, "a positive integer")?,
            seed: p.get(m, "seed", 0, "an integer")?,
            position_bias: match p
                .choice(m, "position_bias", "none", &["none", "unbiased", "ipw"])?
                .as_str()
            {
                "unbiased" => Some(Correction::Additive),
                "ipw" => Some(Correction::Ipw),
                _ => None,
            },
            position_bins: p.get(m, "position_bins", 32, "a positive integer")?,
            position_bias_regularization: 0.0,
            propensities: None,
            init_score: 0.0,
            n_features: 0,
            trees: Vec::new(),
            forest: std::sync::OnceLock::new(),
        };
        // L2 on the additive terms (LightGBM's default 0); the Lp exponent of ipw
        // (XGBoost's `lambdarank_bias_norm`, 2).
        let mut g = g;
        let default_reg = if g.position_bias == Some(Correction::Ipw) {
            2.0
        } else {
            0.0
        };
        g.position_bias_regularization = p.get(
            m,
            "position_bias_regularization",
            default_reg,
            "a number >= 0",
        )?;
        let bad = |key: &str, want: &str| {
            Err(RankError::Model(funnel_model::ModelError::Param {
                model: m,
                message: format!("`{key}` must be {want}"),
            }))
        };
        if g.tree.num_leaves < 2 {
            return bad("num_leaves", "at least 2");
        }
        if g.num_trees == 0 {
            return bad("num_trees", "at least 1");
        }
        if !(2..=256).contains(&g.max_bin) {
            return bad("max_bin", "from 2 to 256 (bins are bytes)");
        }
        if g.tree.min_data_in_leaf == 0 {
            return bad("min_data_in_leaf", "at least 1");
        }
        if !(g.tree.learning_rate.is_finite() && g.tree.learning_rate > 0.0) {
            return bad("learning_rate", "a finite number > 0");
        }
        for (key, v) in [
            ("lambda_l1", g.tree.lambda_l1),
            ("lambda_l2", g.tree.lambda_l2),
            ("min_sum_hessian", g.tree.min_sum_hessian),
            ("min_gain_to_split", g.tree.min_gain_to_split),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(key, "a finite number >= 0");
            }
        }
        for (key, v) in [
            ("feature_fraction", g.feature_fraction),
            ("bagging_fraction", g.bagging_fraction),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return bad(key, "in (0, 1]");
            }
        }
        let (truncation, sigma) = match g.objective {
            Objective::LambdaRank {
                truncation, sigma, ..
            } => (truncation, sigma),
            Objective::Pairwise { sigma } => (1, sigma),
            _ => (1, 1.0),
        };
        if truncation == 0 {
            return bad("truncation", "at least 1");
        }
        if g.position_bins == 0 {
            return bad("position_bins", "at least 1");
        }
        let reg = g.position_bias_regularization;
        if !(reg.is_finite() && reg >= 0.0) {
            return bad("position_bias_regularization", "a finite number >= 0");
        }
        if g.position_bias.is_some() && !g.objective.is_ranking() {
            return bad(
                "position_bias",
                "none for the binary and regression objectives (unbiased and ipw correct \
                 the click pairs of lambdarank and pairwise)",
            );
        }
        if !(sigma.is_finite() && sigma > 0.0) {
            return bad("sigma", "a finite number > 0");
        }
        Ok(g)
    }

    /// `none`, `unbiased` or `ipw`.
    fn position_bias_name(&self) -> &'static str {
        match self.position_bias {
            None => "none",
            Some(Correction::Additive) => "unbiased",
            Some(Correction::Ipw) => "ipw",
        }
    }

    /// The objective.
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// The trees.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    /// The leaf each sample falls in, per tree: row-major, `trees().len()` per sample.
    pub fn leaves(&self, s: &SampleSet) -> Vec<u32> {
        let nf = self.n_features as usize;
        let nt = self.trees.len();
        let mut out = vec![0u32; s.len() * nt];
        out.par_chunks_mut(nt.max(1)).enumerate().for_each_init(
            || vec![0.0f32; nf],
            |x, (i, leaves)| {
                fill_row(s, i, x);
                for (l, t) in leaves.iter_mut().zip(&self.trees) {
                    *l = t.leaf(x) as u32;
                }
                clear_row(s, i, x);
            },
        );
        out
    }

    /// Raw scores (before the binary objective's sigmoid) of a set.
    pub fn raw_scores(&self, s: &SampleSet) -> Vec<f64> {
        self.forest
            .get_or_init(|| forest::Forest::new(&self.trees, self.n_features as usize))
            .scores(s, self.init_score)
    }

    fn finish(&self, raw: f64) -> f32 {
        match self.objective {
            Objective::Binary => sigmoid(raw as f32),
            _ => raw as f32,
        }
    }

    /// The validation figure early stopping watches: lower is better.
    fn validation_loss(&self, scores: &[f64], s: &SampleSet, queries: &[Range<usize>]) -> f64 {
        match self.objective {
            Objective::Binary => {
                let n = scores.len().max(1) as f64;
                scores
                    .iter()
                    .zip(&s.labels)
                    .map(|(&z, &y)| {
                        let p = (1.0 / (1.0 + (-z).exp())).clamp(1e-15, 1.0 - 1e-15);
                        if y > 0.0 {
                            -p.ln()
                        } else {
                            -(1.0 - p).ln()
                        }
                    })
                    .sum::<f64>()
                    / n
            }
            Objective::Regression => {
                scores
                    .iter()
                    .zip(&s.labels)
                    .map(|(&z, &y)| (z - y as f64).powi(2))
                    .sum::<f64>()
                    / scores.len().max(1) as f64
            }
            Objective::LambdaRank { .. } | Objective::Pairwise { .. } => {
                let k = self.eval_at;
                let m = funnel_metrics::query_metrics(scores, &s.labels, queries, &[k]);
                -m.metrics.get(&format!("ndcg@{k}")).copied().unwrap_or(0.0)
            }
        }
    }
}

/// Each row of `rows` with the features of `shared`'s one row added.
pub(crate) fn merge_shared(shared: &SampleSet, rows: &SampleSet) -> SampleSet {
    let mut merged = SampleSet::new();
    let s = (!shared.is_empty()).then(|| shared.row(0));
    let triples = |r: funnel_features::Row<'_>| {
        r.fields
            .iter()
            .zip(r.indices)
            .zip(r.values)
            .map(|((&a, &b), &c)| (a, b, c))
            .collect::<Vec<_>>()
    };
    let common = s.map(triples).unwrap_or_default();
    for i in 0..rows.len() {
        let r = rows.row(i);
        let mut f = common.clone();
        f.extend(triples(r));
        merged.push(r.label, None, &f);
    }
    merged.n_features = shared.n_features.max(rows.n_features);
    merged.n_fields = shared.n_fields.max(rows.n_fields);
    merged
}

/// Stored parameters as `--set` pairs.
fn params_from_json(v: &Value) -> Params {
    let mut p = Params::default();
    for (k, v) in v.as_object().into_iter().flatten() {
        p.set_default(k, &v.as_str().map_or_else(|| v.to_string(), str::to_string));
    }
    p
}

/// Writes sample `i`'s features into the zeroed row `x` over columns (feature `j` in
/// column `column[j]`; `u32::MAX` or past the map: left out; missing as NaN), or with
/// `set` false zeroes what it wrote.
fn put_row(s: &SampleSet, i: usize, column: &[u32], x: &mut [f32], set: bool) {
    let at = |j: u32| column.get(j as usize).copied().filter(|&c| c != u32::MAX);
    let r = s.row(i);
    for (&j, &v) in r.indices.iter().zip(r.values) {
        if let Some(c) = at(j) {
            x[c as usize] = if set { v } else { 0.0 };
        }
    }
    for &(_, j) in s.missing_of(i) {
        if let Some(c) = at(j) {
            x[c as usize] = if set { f32::NAN } else { 0.0 };
        }
    }
}

/// Writes sample `i`'s features into the zeroed dense row `x` (missing values as NaN;
/// indices past the row's width are features the model never saw, and are left out).
#[inline]
fn fill_row(s: &SampleSet, i: usize, x: &mut [f32]) {
    let r = s.row(i);
    for (&j, &v) in r.indices.iter().zip(r.values) {
        if let Some(slot) = x.get_mut(j as usize) {
            *slot = v;
        }
    }
    for &(_, j) in s.missing_of(i) {
        if let Some(slot) = x.get_mut(j as usize) {
            *slot = f32::NAN;
        }
    }
}

/// Zeroes what [`fill_row`] wrote.
#[inline]
fn clear_row(s: &SampleSet, i: usize, x: &mut [f32]) {
    for &j in s.row(i).indices {
        if let Some(slot) = x.get_mut(j as usize) {
            *slot = 0.0;
        }
    }
    for &(_, j) in s.missing_of(i) {
        if let Some(slot) = x.get_mut(j as usize) {
            *slot = 0.0;
        }
    }
}

/// Contiguous runs of equal groups: the queries of a ranking set. Every row is in one
/// query; a set without groups is one query.
pub fn queries(s: &SampleSet) -> Result<Vec<Range<usize>>> {
    if s.groups.is_empty() {
        return Ok(std::iter::once(0..s.len()).collect());
    }
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, &g) in s.groups.iter().enumerate() {
        match out.last_mut() {
            Some(q) if s.groups[q.start] == g => q.end = i + 1,
            _ => {
                if !seen.insert(g) {
                    return Err(RankError::Samples(format!(
                        "sample {}: query {g} appears again after other queries; a query's \
                         documents must be consecutive",
                        i + 1
                    )));
                }
                out.push(i..i + 1);
            }
        }
    }
    Ok(out)
}

impl Ranker for Gbdt {
    fn name(&self) -> &'static str {
        self.name
    }

    fn fit(&mut self, train: &SampleSet, valid: Option<&SampleSet>) -> Result<FitReport> {
        let t0 = Instant::now();
        if train.is_empty() {
            return Err(RankError::Samples("no training samples".into()));
        }
        // The columns trees train on: the features some training sample has (present or
        // missing), renumbered in index order.
        let mut column = vec![u32::MAX; train.n_features as usize];
        for &j in train
            .indices
            .iter()
            .chain(train.missing.iter().map(|(_, j)| j))
        {
            column[j as usize] = 0;
        }
        let mut used: Vec<u32> = Vec::new();
        for (j, c) in column.iter_mut().enumerate() {
            if *c == 0 {
                *c = used.len() as u32;
                used.push(j as u32);
            }
        }
        if used.len() > MAX_FEATURES as usize {
            return Err(RankError::Samples(format!(
                "{} features in use: trees keep a histogram of every feature per leaf and \
                 take at most {MAX_FEATURES}; for ids in the millions use lr, fm or ffm",
                used.len()
            )));
        }
        for (set, what) in
            std::iter::once((train, "training")).chain(valid.map(|v| (v, "validation")))
        {
            if let Some((i, msg)) = self.objective.check_labels(&set.labels) {
                return Err(RankError::Samples(format!(
                    "{what} sample {}: {msg}",
                    i + 1
                )));
            }
        }
        let train_q = if self.objective.is_ranking() {
            queries(train)?
        } else {
            Vec::new()
        };
        let valid_q = match (valid, self.objective.is_ranking()) {
            (Some(v), true) => queries(v)?,
            _ => Vec::new(),
        };
        let mut propensities = match self.position_bias {
            Some(method) => {
                if train.positions.len() != train.len() {
                    return Err(RankError::Samples(format!(
                        "position_bias={} learns from display positions, and the training \
                         samples have none: give them in FILE.position beside the sample \
                         file (one per line, 1 = top)",
                        self.position_bias_name()
                    )));
                }
                // Bins past the deepest position logged would learn nothing.
                let deepest = train.positions.iter().copied().max().unwrap_or(0) as usize;
                if deepest == 0 {
                    return Err(RankError::Samples(format!(
                        "position_bias={}: no training sample was shown at a position",
                        self.position_bias_name()
                    )));
                }
                Some(PositionBias::new(
                    method,
                    self.position_bins.min(deepest),
                    train.positions.contains(&0),
                    self.position_bias_regularization,
                    self.tree.learning_rate,
                ))
            }
            None => None,
        };
        let nf = used.len();
        self.n_features = train.n_features;
        let n = train.len();
        let binned = Binned::build(train, &column, nf, self.max_bin);
        if std::env::var_os("FUNNEL_GBDT_TIMES").is_some() {
            eprintln!("gbdt: {nf} features in {} columns", binned.n_columns());
        }
        let grower = Grower::new(&binned, self.tree);
        self.init_score = self.objective.init_score(&train.labels);
        self.trees.clear();
        self.forest = std::sync::OnceLock::new();
        let mut scores = vec![self.init_score; n];
        let (mut g, mut h) = (vec![0.0f32; n], vec![0.0f32; n]);
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let all_features = binned.features();
        let mut bag: Vec<u32> = (0..n as u32).collect();
        let mut valid_scores = valid.map(|v| vec![self.init_score; v.len()]);
        let mut history = Vec::new();
        let (mut best, mut best_trees) = (f64::INFINITY, 0usize);
        let (mut t_grad, mut t_tree, mut t_update) = (0.0f64, 0.0f64, 0.0f64);
        for t in 0..self.num_trees {
            let c = Instant::now();
            self.objective.gradients(
                &scores,
                &train.labels,
                &train_q,
                &mut g,
                &mut h,
                propensities
                    .as_mut()
                    .map(|b| (train.positions.as_slice(), b)),
            );
            t_grad += c.elapsed().as_secs_f64();
            if self.bagging_fraction < 1.0 && self.bagging_freq > 0 {
                if t % self.bagging_freq == 0 {
                    bag = (0..n as u32)
                        .filter(|_| rng.random::<f64>() < self.bagging_fraction)
                        .collect();
                }
            } else if bag.len() != n {
                bag = (0..n as u32).collect();
            }
            let features: Vec<usize> = if self.feature_fraction < 1.0 {
                let k =
                    ((all_features.len() as f64 * self.feature_fraction).round() as usize).max(1);
                let mut f = all_features.clone();
                f.shuffle(&mut rng);
                f.truncate(k);
                f.sort_unstable();
                f
            } else {
                all_features.clone()
            };
            let mut rows = bag.clone();
            let c = Instant::now();
            let (tree, leaf_rows) = grower.grow(&mut rows, &g, &h, &features);
            t_tree += c.elapsed().as_secs_f64();
            let c = Instant::now();
            if rows.len() == n {
                // Every row was in the tree: each leaf's rows are a range of `rows`.
                for (leaf, range) in leaf_rows.into_iter().enumerate() {
                    let v = tree.leaf_value[leaf] as f64;
                    for &r in &rows[range] {
                        scores[r as usize] += v;
                    }
                }
            } else {
                scores.par_iter_mut().enumerate().for_each(|(r, s)| {
                    *s += tree.predict_binned(&binned, r) as f64;
                });
            }
            t_update += c.elapsed().as_secs_f64();
            if let (Some(v), Some(vs)) = (valid, valid_scores.as_mut()) {
                // Validation rows are read sparse, into one zeroed row per thread.
                vs.par_iter_mut().enumerate().for_each_init(
                    || vec![0.0f32; nf],
                    |x, (r, s)| {
                        put_row(v, r, &column, x, true);
                        *s += tree.predict(x) as f64;
                        put_row(v, r, &column, x, false);
                    },
                );
                let loss = self.validation_loss(vs, v, &valid_q);
                history.push(loss);
                if loss < best - 1e-12 {
                    best = loss;
                    best_trees = t + 1;
                }
            }
            self.trees.push(tree);
            if valid.is_some()
                && self.early_stopping_rounds > 0
                && t + 1 - best_trees >= self.early_stopping_rounds
            {
                break;
            }
        }
        self.propensities = propensities;
        // Trees grew over the columns; they keep the features' own indices.
        for t in &mut self.trees {
            for f in &mut t.feature {
                *f = used[*f as usize];
            }
        }
        let grown = self.trees.len();
        if valid.is_some() && best_trees > 0 {
            self.trees.truncate(best_trees);
        }
        let seconds = t0.elapsed().as_secs_f64();
        if std::env::var_os("FUNNEL_GBDT_TIMES").is_some() {
            eprintln!("gbdt: gradients {t_grad:.2} s, trees {t_tree:.2} s, score updates {t_update:.2} s, all {seconds:.2} s");
        }
        Ok(FitReport {
            epochs: grown,
            best_epoch: self.trees.len(),
            // The figure early stopping watched: LogLoss, squared error or −NDCG@eval_at.
            validation_logloss: history,
            train_samples: n,
            validation_samples: valid.map_or(0, SampleSet::len),
            seconds,
            examples_per_second: (n * grown) as f64 / seconds.max(1e-9),
        })
    }

    fn partial_fit(&mut self, _samples: &SampleSet) -> Result<()> {
        Err(RankError::Samples(format!(
            "{} learns in batch, not online: refit it on the new samples",
            self.name
        )))
    }

    fn predict(&self, samples: &SampleSet) -> Vec<f32> {
        self.raw_scores(samples)
            .into_iter()
            .map(|z| self.finish(z))
            .collect()
    }

    fn predict_shared(&self, shared: &SampleSet, rows: &SampleSet) -> Vec<f32> {
        self.predict(&merge_shared(shared, rows))
    }

    fn params(&self) -> Value {
        let mut p = json!({
            "objective": self.objective.name(),
            "num_trees": self.num_trees,
            "num_leaves": self.tree.num_leaves,
            "max_depth": self.tree.max_depth,
            "min_data_in_leaf": self.tree.min_data_in_leaf,
            "min_sum_hessian": self.tree.min_sum_hessian,
            "lambda_l1": self.tree.lambda_l1,
            "lambda_l2": self.tree.lambda_l2,
            "learning_rate": self.tree.learning_rate,
            "min_gain_to_split": self.tree.min_gain_to_split,
            "max_bin": self.max_bin,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "early_stopping_rounds": self.early_stopping_rounds,
            "eval_at": self.eval_at,
            "seed": self.seed,
            "position_bias": self.position_bias_name(),
        });
        if self.position_bias.is_some() {
            p["position_bins"] = json!(self.position_bins);
            p["position_bias_regularization"] = json!(self.position_bias_regularization);
        }
        if let Objective::LambdaRank {
            truncation,
            sigma,
            norm,
        } = self.objective
        {
            p["truncation"] = json!(truncation);
            p["sigma"] = json!(sigma);
            p["norm"] = json!(norm);
        }
        if let Objective::Pairwise { sigma } = self.objective {
            p["sigma"] = json!(sigma);
        }
        p
    }

    fn write(&self, w: &mut ModelWriter) {
        let t = &self.trees;
        let nodes: Vec<u32> = t.iter().map(|t| t.feature.len() as u32).collect();
        let leaves: Vec<u32> = t.iter().map(|t| t.leaf_value.len() as u32).collect();
        let cat_u32 = |f: &dyn Fn(&Tree) -> Vec<u32>| t.iter().flat_map(f).collect::<Vec<u32>>();
        w.header("init_score", json!(self.init_score));
        w.header("n_features", json!(self.n_features));
        if let Some(b) = &self.propensities {
            w.header("position_bias", b.to_json());
        }
        w.u32s("tree_nodes", &nodes);
        w.u32s("tree_leaves", &leaves);
        w.u32s("node_feature", &cat_u32(&|t| t.feature.clone()));
        w.u32s(
            "node_bin",
            &cat_u32(&|t| t.bin.iter().map(|&b| b as u32).collect()),
        );
        w.u32s(
            "node_left",
            &cat_u32(&|t| t.left.iter().map(|&c| c as u32).collect()),
        );
        w.u32s(
            "node_right",
            &cat_u32(&|t| t.right.iter().map(|&c| c as u32).collect()),
        );
        w.u32s(
            "node_missing",
            &cat_u32(&|t| t.missing.iter().map(|&m| m as u32).collect()),
        );
        let thresholds: Vec<f32> = t.iter().flat_map(|t| t.threshold.clone()).collect();
        w.f32s("node_threshold", vec![thresholds.len()], &thresholds);
        let values: Vec<f32> = t.iter().flat_map(|t| t.leaf_value.clone()).collect();
        w.f32s("leaf_value", vec![values.len()], &values);
    }

    fn n_features(&self) -> u32 {
        self.n_features
    }

    fn learns_online(&self) -> bool {
        false
    }

    fn predicts_probabilities(&self) -> bool {
        self.objective == Objective::Binary
    }

    fn position_bias(&self) -> Option<Value> {
        self.propensities.as_ref().map(PositionBias::to_json)
    }
}

impl Gbdt {
    /// Reads a model [`Ranker::write`] stored.
    pub fn load(name: &'static str, default_objective: &str, r: &ModelReader) -> Result<Self> {
        let mut g = Gbdt::from_params(name, default_objective, &params_from_json(r.params()))?;
        let bad = |m: &str| {
            RankError::Model(funnel_model::ModelError::ModelFile {
                path: r.path().to_string(),
                message: m.to_string(),
            })
        };
        g.init_score = r
            .header("init_score")
            .as_f64()
            .ok_or_else(|| bad("no init_score"))?;
        g.n_features = r
            .header("n_features")
            .as_u64()
            .ok_or_else(|| bad("no n_features"))? as u32;
        let stored = r.header("position_bias");
        if !stored.is_null() {
            let p = PositionBias::from_json(
                stored,
                g.position_bias_regularization,
                g.tree.learning_rate,
            )
            .filter(|p| p.bins() <= g.position_bins && Some(p.method) == g.position_bias)
            .ok_or_else(|| bad("position_bias that does not fit the model's parameters"))?;
            g.propensities = Some(p);
        }
        let (nodes, leaves) = (r.u32s("tree_nodes")?, r.u32s("tree_leaves")?);
        let (feature, bin, left, right) = (
            r.u32s("node_feature")?,
            r.u32s("node_bin")?,
            r.u32s("node_left")?,
            r.u32s("node_right")?,
        );
        let (threshold, values) = (r.f32s("node_threshold")?, r.f32s("leaf_value")?);
        let total_nodes: usize = nodes.iter().map(|&n| n as usize).sum();
        // Files written before missing values were learnt read them as 0.
        let missing = if r.has("node_missing") {
            r.u32s("node_missing")?
        } else {
            vec![tree::MISSING_AS_ZERO as u32; total_nodes]
        };
        if missing.len() != total_nodes || missing.iter().any(|&m| m > tree::MISSING_RIGHT as u32) {
            return Err(bad("node_missing of another length, or not 0, 1 or 2"));
        }
        let total_leaves: usize = leaves.iter().map(|&n| n as usize).sum();
        if nodes.len() != leaves.len()
            || [
                feature.len(),
                bin.len(),
                left.len(),
                right.len(),
                threshold.len(),
            ]
            .iter()
            .any(|&l| l != total_nodes)
            || values.len() != total_leaves
        {
            return Err(bad("tree arrays of different lengths"));
        }
        let (mut at_n, mut at_l) = (0usize, 0usize);
        for (&nn, &nl) in nodes.iter().zip(&leaves) {
            let (nn, nl) = (nn as usize, nl as usize);
            let nodes_of = at_n..at_n + nn;
            let t = Tree {
                feature: feature[nodes_of.clone()].to_vec(),
                threshold: threshold[nodes_of.clone()].to_vec(),
                bin: bin[nodes_of.clone()].iter().map(|&b| b as u8).collect(),
                left: left[nodes_of.clone()].iter().map(|&c| c as i32).collect(),
                right: right[nodes_of.clone()].iter().map(|&c| c as i32).collect(),
                missing: missing[nodes_of].iter().map(|&m| m as u8).collect(),
                missing_bin: vec![0; nn],
                leaf_value: values[at_l..at_l + nl].to_vec(),
            };
            // A child node comes after its parent (as trees grow), so no path loops.
            let in_range = |i: usize, c: i32| {
                if c >= 0 {
                    (c as usize) < nn && c as usize > i
                } else {
                    (!c as usize) < nl
                }
            };
            if nl == 0
                || !(0..nn).all(|i| in_range(i, t.left[i]) && in_range(i, t.right[i]))
                || t.feature.iter().any(|&f| f >= g.n_features)
            {
                return Err(bad("a tree points outside itself"));
            }
            g.trees.push(t);
            at_n += nn;
            at_l += nl;
        }
        Ok(g)
    }
}
