//! What the three rankers share: a model that learns one example at a time, and the
//! epoch loop around it (shuffling, a validation set, early stopping, the report).

use std::borrow::Cow;
use std::time::Instant;

use funnel_features::{Row, SampleSet};
use funnel_model::ModelWriter;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{RankError, Result};

/// The logistic function, with the logit clipped so `exp` never overflows.
#[inline]
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z.clamp(-35.0, 35.0)).exp())
}

/// A model trained by per-example steps on the logistic loss.
pub(crate) trait Online: Clone + Send + Sync {
    /// The model's name in files and on the command line.
    const NAME: &'static str;
    /// The logit of one sample.
    fn logit(&self, row: Row<'_>) -> f32;
    /// One step on one sample.
    fn learn(&mut self, row: Row<'_>, label: f32);
    /// Hints that `row` is learned next, so its table rows can be fetched into cache
    /// while the current sample is learned (large hashed tables miss cache on every
    /// feature otherwise).
    #[inline]
    fn prefetch(&self, _row: Row<'_>) {}
    /// Makes room for feature indices below `n_features` (and checks fields).
    fn reserve(&mut self, n_features: u32, n_fields: u32) -> Result<()>;
    /// Probabilities of rows that all share the features `shared` (fields disjoint from
    /// the rows'): by default each row merged with `shared` in field order — exactly the
    /// full row's logit; a model whose logit splits (FM) computes the shared part once.
    fn predict_shared(&self, shared: Row<'_>, rows: &SampleSet) -> Vec<f32> {
        let merged = merged_with(shared, rows);
        (0..merged.len())
            .map(|k| sigmoid(self.logit(merged.row(k))))
            .collect()
    }
    /// The number of feature rows held.
    fn n_features(&self) -> u32;
    /// Hyper-parameters, as stored in the file header.
    fn params_json(&self) -> serde_json::Value;
    /// Writes the learned state.
    fn write(&self, w: &mut ModelWriter);
}

/// Epoch-loop settings shared by every ranker (`--set epochs=…` etc.).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochOptions {
    /// Passes over the training data at most.
    pub epochs: usize,
    /// Stop after this many epochs without a better validation LogLoss (0 = never).
    pub patience: usize,
    /// Without an explicit validation set, hold out this share of the training samples
    /// — the last ones, which are the newest in a time-ordered file — for early stopping.
    pub validation_fraction: f64,
    /// Visit samples in a new random order each epoch (off: stream order).
    pub shuffle: bool,
    /// Seed of the shuffles.
    pub seed: u64,
}

/// What a fit did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FitReport {
    /// Epochs run.
    pub epochs: usize,
    /// The epoch whose model was kept (1-based).
    pub best_epoch: usize,
    /// Validation LogLoss after each epoch (empty without validation).
    pub validation_logloss: Vec<f64>,
    /// Samples trained on per epoch.
    pub train_samples: usize,
    /// Samples held out for early stopping.
    pub validation_samples: usize,
    /// Wall time of the fit.
    pub seconds: f64,
    /// Training steps per second.
    pub examples_per_second: f64,
}

/// Mean logistic loss of a model on a set.
pub(crate) fn mean_logloss<M: Online>(m: &M, s: &SampleSet) -> f64 {
    let total: f64 = (0..s.len())
        .into_par_iter()
        .with_min_len(4096)
        .map(|i| {
            let r = s.row(i);
            let p = sigmoid(m.logit(r)).clamp(1e-7, 1.0 - 1e-7) as f64;
            if r.label > 0.0 {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    total / s.len().max(1) as f64
}

/// Checks that every value is finite (the readers and the pipeline guarantee it; a
/// hand-made set might not, and one NaN would poison every weight it touches).
pub(crate) fn check_finite(s: &SampleSet) -> Result<()> {
    if let Some(i) = s.values.iter().position(|v| !v.is_finite()) {
        let sample = s.offsets.partition_point(|&o| o <= i as u64) - 1;
        return Err(RankError::Samples(format!(
            "sample {} has a non-finite feature value ({}); drop it or give the field a missing policy",
            sample + 1,
            s.values[i]
        )));
    }
    if let Some(i) = s.labels.iter().position(|l| !l.is_finite()) {
        return Err(RankError::Samples(format!(
            "sample {} has a non-finite label",
            i + 1
        )));
    }
    Ok(())
}

/// Learns every sample once, in order (online learning).
pub(crate) fn learn_in_order<M: Online>(m: &mut M, s: &SampleSet) -> Result<()> {
    check_finite(s)?;
    m.reserve(s.n_features, s.n_fields)?;
    for i in 0..s.len() {
        if i + 1 < s.len() {
            m.prefetch(s.row(i + 1));
        }
        let r = s.row(i);
        m.learn(r, r.label);
    }
    Ok(())
}

/// The rows of `train` a fit learns from, and the set it stops early on: `valid` when
/// given; otherwise, with patience and a validation share, the newest tail of `train`
/// (the last rows of a time-ordered file), held out and learnt once at the end.
pub(crate) fn validation_split<'a>(
    train: &SampleSet,
    valid: Option<&'a SampleSet>,
    o: &EpochOptions,
) -> Result<(usize, Option<Cow<'a, SampleSet>>)> {
    Ok(match valid {
        Some(v) => {
            check_finite(v)?;
            (train.len(), Some(Cow::Borrowed(v)))
        }
        None if o.validation_fraction > 0.0 && o.patience > 0 && train.len() >= 20 => {
            let n_valid = ((train.len() as f64 * o.validation_fraction) as usize).max(1);
            let cut = train.len() - n_valid;
            let tail = train.select(&(cut..train.len()).collect::<Vec<_>>());
            (cut, Some(Cow::Owned(tail)))
        }
        None => (train.len(), None),
    })
}

/// The epoch loop: train, score the validation set, keep the best model, stop early.
pub(crate) fn fit_epochs<M: Online>(
    m: &mut M,
    train: &SampleSet,
    valid: Option<&SampleSet>,
    o: &EpochOptions,
) -> Result<FitReport> {
    let start = Instant::now();
    check_finite(train)?;
    if train.is_empty() {
        return Err(RankError::Samples("no training samples".into()));
    }
    let (fit_rows, valid) = validation_split(train, valid, o)?;
    let valid = valid.as_deref();
    let reserve_fields = train.n_fields.max(valid.map_or(0, |v| v.n_fields));
    m.reserve(
        train.n_features.max(valid.map_or(0, |v| v.n_features)),
        reserve_fields,
    )?;
    let mut order: Vec<u32> = (0..fit_rows as u32).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(o.seed);
    let mut report = FitReport {
        train_samples: fit_rows,
        validation_samples: valid.map_or(0, |v| v.len()),
        ..Default::default()
    };
    let mut best = BestEpoch::new();
    let mut steps = 0usize;
    for epoch in 1..=o.epochs.max(1) {
        if o.shuffle {
            order.shuffle(&mut rng);
        }
        for (k, &i) in order.iter().enumerate() {
            if let Some(&next) = order.get(k + 1) {
                m.prefetch(train.row(next as usize));
            }
            let r = train.row(i as usize);
            m.learn(r, r.label);
        }
        steps += order.len();
        report.epochs = epoch;
        let Some(v) = valid else {
            report.best_epoch = epoch;
            continue;
        };
        let loss = mean_logloss(m, v);
        if best.observe(epoch, loss, m, o.patience, &mut report) {
            break;
        }
    }
    best.restore(m);
    // The held-out tail is the newest data: learn it once so the model has seen it.
    if fit_rows < train.len() {
        for i in fit_rows..train.len() {
            let r = train.row(i);
            m.learn(r, r.label);
        }
        steps += train.len() - fit_rows;
    }
    report.seconds = start.elapsed().as_secs_f64();
    report.examples_per_second = steps as f64 / report.seconds.max(1e-9);
    Ok(report)
}

/// Deterministic pseudo-random initial values for row `row` of a table (so a table that
/// grows while learning online gets the same values whatever the order rows arrive in):
/// the substrate's per-row draw, shared with its embedding tables.
pub(crate) use funnel_train::init::uniform_row as init_row;

/// Each row of `rows` merged with the features of `shared` (fields disjoint), in field
/// order: what a model without a split logit scores for `predict_shared`.
pub(crate) fn merged_with(shared: Row<'_>, rows: &SampleSet) -> SampleSet {
    let mut merged = SampleSet::new();
    let mut buf = Vec::new();
    for k in 0..rows.len() {
        merge_rows(shared, rows.row(k), &mut buf);
        merged.push(0.0, None, &buf);
    }
    merged
}

/// The best epoch so far by validation LogLoss, kept to restore after the loop.
pub(crate) struct BestEpoch<M> {
    best: Option<(f64, M)>,
}

impl<M: Clone> BestEpoch<M> {
    pub(crate) fn new() -> Self {
        BestEpoch { best: None }
    }

    /// Records epoch `epoch`'s validation `loss` of `model` in `report`, keeps the model
    /// if it is the best so far, and says whether `patience` epochs passed without one.
    pub(crate) fn observe(
        &mut self,
        epoch: usize,
        loss: f64,
        model: &M,
        patience: usize,
        report: &mut FitReport,
    ) -> bool {
        report.validation_logloss.push(loss);
        if self.best.as_ref().is_none_or(|(b, _)| loss < *b) {
            self.best = Some((loss, model.clone()));
            report.best_epoch = epoch;
            false
        } else {
            patience > 0 && epoch - report.best_epoch >= patience
        }
    }

    /// Puts the best model back (nothing when no epoch was validated).
    pub(crate) fn restore(self, model: &mut M) {
        if let Some((_, b)) = self.best {
            *model = b;
        }
    }
}

/// `a` and `b` (each in field order, fields disjoint) as one list in field order.
pub(crate) fn merge_rows(a: Row<'_>, b: Row<'_>, out: &mut Vec<(u32, u32, f32)>) {
    out.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.indices.len() || j < b.indices.len() {
        let take_a = j == b.indices.len() || (i < a.indices.len() && a.fields[i] <= b.fields[j]);
        if take_a {
            out.push((a.fields[i], a.indices[i], a.values[i]));
            i += 1;
        } else {
            out.push((b.fields[j], b.indices[j], b.values[j]));
            j += 1;
        }
    }
}

/// Per-sample scale: `1/‖x‖` when `normalize` (libffm's instance normalisation), else 1.
#[inline]
pub(crate) fn row_scale(row: Row<'_>, normalize: bool) -> f32 {
    if !normalize {
        return 1.0;
    }
    let sq: f32 = row.values.iter().map(|v| v * v).sum();
    if sq > 0.0 {
        1.0 / sq.sqrt()
    } else {
        1.0
    }
}
