//! # funnel-rank — the ranking stage: click probability for candidate items
//!
//! Every ranker implements [`Ranker`]: `fit` on labelled sparse samples (with a
//! validation set for early stopping), `partial_fit` to learn a stream of new samples in
//! place (online learning), `predict` a batch, save/load as a versioned model file.
//!
//! Models: [`FtrlLr`] (logistic regression, FTRL-Proximal), [`Fm`] (factorisation
//! machine), [`Ffm`] (field-aware FM), [`Gbdt`] (histogram GBDT, LambdaMART, GBDT+LR in
//! [`gbdt`]), and the deep CTR models in [`deep`] ([`Deep`]: Wide & Deep, DeepFM, NFM,
//! AFM, PNN, AutoInt, xDeepFM, FiBiNET, DIN, DCN, DCN-V2) on the `funnel-train` substrate; [`registry`]
//! lists them all. [`RankModel`] bundles a ranker with what serving
//! needs around it: the calibration map, the negative keep rate it was trained with,
//! and the fitted feature pipeline (as JSON), all in one file.
//!
//! ```
//! use funnel_features::SampleSet;
//! use funnel_rank::{build, Params};
//! // Feature 1 means click, feature 2 means no click.
//! let mut s = SampleSet::new();
//! for i in 0..400 {
//!     let click = i % 2 == 0;
//!     s.push(click as u8 as f32, None, &[(0, if click { 1 } else { 2 }, 1.0)]);
//! }
//! let mut m = build("fm", &Params::parse(&["epochs=5"]).unwrap()).unwrap();
//! m.fit(&s, None).unwrap();
//! let p = m.predict(&s);
//! assert!(p[0] > 0.8 && p[1] < 0.2);
//! ```
#![warn(missing_docs)]
#![allow(clippy::needless_range_loop)]

pub mod calibrate;
pub mod deep;
mod error;
pub mod ffm;
pub mod fm;
pub mod ftrl;
pub mod gbdt;
mod online;
pub mod optim;
pub mod registry;
mod table;

use std::path::Path;

use funnel_features::SampleSet;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

pub use calibrate::{correct_downsampling, Calibration};
pub use deep::Deep;
pub use error::{RankError, Result};
pub use ffm::Ffm;
pub use fm::Fm;
pub use ftrl::FtrlLr;
pub use funnel_model::{ModelReader, ModelWriter, Params};
pub use gbdt::Gbdt;
pub use online::{sigmoid, EpochOptions, FitReport};
pub use optim::Optimizer;

use online::Online;

/// A click-probability model.
pub trait Ranker: Send + Sync {
    /// The registered name (`lr`, `fm`, `deepfm`, … — see [`registry`]).
    fn name(&self) -> &'static str;
    /// Trains on `train` (several epochs; early stopping on `valid`, or on the newest
    /// tail of `train` when no validation set is given and patience is set).
    fn fit(&mut self, train: &SampleSet, valid: Option<&SampleSet>) -> Result<FitReport>;
    /// Learns each sample once, in order, updating the model in place (online learning;
    /// new feature indices grow the tables).
    fn partial_fit(&mut self, samples: &SampleSet) -> Result<()>;
    /// Click probabilities of a batch.
    fn predict(&self, samples: &SampleSet) -> Vec<f32>;
    /// Click probabilities of rows that all share the features `shared` (one row of
    /// features, fields disjoint from the rows'): what `predict` gives for each row merged
    /// with `shared` — exactly, or (FM, which computes the shared part once) up to float
    /// rounding.
    fn predict_shared(&self, shared: &SampleSet, rows: &SampleSet) -> Vec<f32>;
    /// Hyper-parameters as stored in the model file.
    fn params(&self) -> Value;
    /// Writes the model's arrays.
    fn write(&self, w: &mut ModelWriter);
    /// Feature rows held.
    fn n_features(&self) -> u32;
    /// Whether `partial_fit` learns (false for batch models such as trees, which are
    /// refitted instead and refuse `partial_fit` with a reason).
    fn learns_online(&self) -> bool {
        true
    }
    /// Whether `partial_fit` from an unfitted model, block by block, is a whole fit (so
    /// `funnel rank` may stream a one-pass training file instead of holding it): false
    /// for batch models and for `gbdt_lr`, whose trees must be fitted first.
    fn fits_by_streaming(&self) -> bool {
        self.learns_online()
    }
    /// Whether `predict` gives click probabilities (false for ranking and regression
    /// objectives, whose scores only order).
    fn predicts_probabilities(&self) -> bool {
        true
    }
    /// The position propensities the last fit estimated, where it corrected clicks for
    /// display positions (see `gbdt::position`); `None` otherwise.
    fn position_bias(&self) -> Option<Value> {
        None
    }
}

/// A ranker with its epoch-loop settings.
#[derive(Debug, Clone)]
struct WithLoop<M> {
    model: M,
    epochs: EpochOptions,
}

impl<M: Online> Ranker for WithLoop<M> {
    fn name(&self) -> &'static str {
        M::NAME
    }
    fn fit(&mut self, train: &SampleSet, valid: Option<&SampleSet>) -> Result<FitReport> {
        online::fit_epochs(&mut self.model, train, valid, &self.epochs)
    }
    fn partial_fit(&mut self, samples: &SampleSet) -> Result<()> {
        online::learn_in_order(&mut self.model, samples)
    }
    fn predict(&self, s: &SampleSet) -> Vec<f32> {
        (0..s.len())
            .into_par_iter()
            .with_min_len(2048)
            .map(|i| sigmoid(self.model.logit(s.row(i))))
            .collect()
    }
    fn predict_shared(&self, shared: &SampleSet, rows: &SampleSet) -> Vec<f32> {
        if shared.is_empty() {
            return self.predict(rows);
        }
        self.model.predict_shared(shared.row(0), rows)
    }
    fn params(&self) -> Value {
        let mut p = self.model.params_json();
        let e = &self.epochs;
        p["epochs"] = json!(e.epochs);
        p["patience"] = json!(e.patience);
        p["validation_fraction"] = json!(e.validation_fraction);
        p["shuffle"] = json!(e.shuffle);
        p["shuffle_seed"] = json!(e.seed);
        p
    }
    fn write(&self, w: &mut ModelWriter) {
        self.model.write(w)
    }
    fn n_features(&self) -> u32 {
        self.model.n_features()
    }
}

/// Reads the epoch-loop keys — `epochs`, `patience`, `validation_fraction`, `shuffle`,
/// `shuffle_seed` (legacy name `passes` for `epochs`) — over a model's defaults.
pub fn epoch_options(model: &'static str, p: &Params, d: EpochOptions) -> Result<EpochOptions> {
    let passes: usize = p.get(model, "passes", d.epochs, "a positive integer")?;
    Ok(EpochOptions {
        epochs: p.get(model, "epochs", passes, "a positive integer")?,
        patience: p.get(model, "patience", d.patience, "a non-negative integer")?,
        validation_fraction: p.get(
            model,
            "validation_fraction",
            d.validation_fraction,
            "a number in [0, 1)",
        )?,
        shuffle: p.get(model, "shuffle", d.shuffle, "true or false")?,
        seed: p.get(model, "shuffle_seed", d.seed, "an integer")?,
    })
}

fn boxed<M: Online + 'static>(model: M, epochs: EpochOptions) -> Box<dyn Ranker> {
    Box::new(WithLoop { model, epochs })
}

/// A new, untrained ranker by name (see [`registry`]) with `--set` parameters; unknown
/// keys are an error.
pub fn build(name: &str, p: &Params) -> Result<Box<dyn Ranker>> {
    let e = registry::get(name).ok_or_else(|| RankError::UnknownModel(name.to_string()))?;
    let r = (e.build)(p)?;
    p.finish(e.name)?;
    Ok(r)
}

/// AUC, GAUC and LogLoss of predictions (GAUC when the samples have groups).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankMetrics {
    /// Area under the ROC curve.
    pub auc: Option<f64>,
    /// Per-group AUC weighted by the group's samples.
    pub gauc: Option<f64>,
    /// Mean negative log-likelihood.
    pub logloss: f64,
    /// Expected calibration error over 10 equal-width bins.
    pub ece: f64,
}

/// Scores predictions against a set's labels (labels > 0 count as clicks).
pub fn evaluate(probs: &[f32], samples: &SampleSet) -> Result<RankMetrics> {
    let p: Vec<f64> = probs.iter().map(|&x| x as f64).collect();
    let y: Vec<f64> = samples
        .labels
        .iter()
        .map(|&l| if l > 0.0 { 1.0 } else { 0.0 })
        .collect();
    let gauc = if samples.groups.len() == samples.len() {
        funnel_metrics::gauc(&samples.groups, &p, &y, None)?.gauc
    } else {
        None
    };
    Ok(RankMetrics {
        auc: funnel_metrics::auc(&p, &y, None)?,
        gauc,
        logloss: funnel_metrics::logloss(&p, &y, None)?,
        ece: funnel_metrics::ece(&p, &y, 10)?,
    })
}

/// A ranker with everything serving needs: calibration, the negative keep rate it was
/// trained with, and the fitted feature pipeline.
pub struct RankModel {
    /// The ranker.
    pub ranker: Box<dyn Ranker>,
    /// Share of negatives kept when the training samples were built (1 = all).
    pub negative_keep_rate: f64,
    /// Calibration applied after the down-sampling correction.
    pub calibration: Calibration,
    /// The fitted feature pipeline, as JSON (see `funnel-features`), if samples came
    /// from one.
    pub pipeline: Option<Value>,
}

impl std::fmt::Debug for RankModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RankModel")
            .field("ranker", &self.ranker.name())
            .field("negative_keep_rate", &self.negative_keep_rate)
            .field("calibration", &self.calibration.name())
            .finish()
    }
}

impl RankModel {
    /// A bundle with no calibration and all negatives kept.
    pub fn new(ranker: Box<dyn Ranker>) -> Self {
        RankModel {
            ranker,
            negative_keep_rate: 1.0,
            calibration: Calibration::None,
            pipeline: None,
        }
    }

    /// Raw probability → corrected for down-sampling → calibrated.
    pub fn finish_probability(&self, raw: f32) -> f64 {
        self.calibration
            .apply(correct_downsampling(raw as f64, self.negative_keep_rate))
    }

    /// Calibrated click probabilities of a batch.
    pub fn predict(&self, samples: &SampleSet) -> Vec<f32> {
        self.ranker
            .predict(samples)
            .into_iter()
            .map(|p| self.finish_probability(p) as f32)
            .collect()
    }

    /// Calibrated click probabilities of rows sharing the features of `shared`'s one row
    /// (see [`Ranker::predict_shared`]).
    pub fn predict_shared(&self, shared: &SampleSet, rows: &SampleSet) -> Vec<f32> {
        self.ranker
            .predict_shared(shared, rows)
            .into_iter()
            .map(|p| self.finish_probability(p) as f32)
            .collect()
    }

    /// The fitted feature pipeline stored with the model (`None` when the model was
    /// trained on plain sample files). A server parses it once and keeps it.
    pub fn feature_pipeline(&self) -> Result<Option<funnel_features::Pipeline>> {
        match &self.pipeline {
            None => Ok(None),
            Some(v) => Ok(Some(funnel_features::Pipeline::from_json(&v.to_string())?)),
        }
    }

    /// Calibrated click probabilities of raw events (user, item and context values by
    /// name), turned into features by the stored pipeline — the serving path, running the
    /// very code that built the training samples.
    pub fn predict_records(&self, records: &[funnel_features::RawRecord]) -> Result<Vec<f32>> {
        let pipeline = self.feature_pipeline()?.ok_or_else(|| {
            RankError::Samples(
                "this model was trained on sample files, not through a feature spec; it has no pipeline for raw records".into(),
            )
        })?;
        let labels = vec![0.0; records.len()];
        Ok(self.predict(&pipeline.transform_set(records, &labels, &[])))
    }

    /// Fits `method` (`platt` or `isotonic`) on held-out samples, after the
    /// down-sampling correction.
    pub fn calibrate(&mut self, method: &str, samples: &SampleSet) -> Result<()> {
        let p: Vec<f64> = self
            .ranker
            .predict(samples)
            .into_iter()
            .map(|p| correct_downsampling(p as f64, self.negative_keep_rate))
            .collect();
        let y: Vec<f64> = samples.labels.iter().map(|&l| l as f64).collect();
        self.calibration = match method {
            "platt" => Calibration::fit_platt(&p, &y),
            "isotonic" => Calibration::fit_isotonic(&p, &y),
            "none" => Calibration::None,
            other => {
                return Err(RankError::Samples(format!(
                    "unknown calibration `{other}`; expected platt, isotonic or none"
                )))
            }
        };
        Ok(())
    }

    /// Writes the model file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut w = ModelWriter::new(self.ranker.name(), self.ranker.params());
        w.header("negative_keep_rate", json!(self.negative_keep_rate));
        w.header(
            "calibration",
            serde_json::to_value(&self.calibration).expect("serialisable"),
        );
        if let Some(p) = &self.pipeline {
            w.header("pipeline", p.clone());
        }
        self.ranker.write(&mut w);
        Ok(w.write(path)?)
    }

    /// Reads a model file written by [`RankModel::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let r = ModelReader::open(path)?;
        let factorised = |e: &Value| EpochOptions {
            epochs: e["epochs"].as_u64().unwrap_or(1) as usize,
            patience: e["patience"].as_u64().unwrap_or(0) as usize,
            validation_fraction: e["validation_fraction"].as_f64().unwrap_or(0.0),
            shuffle: e["shuffle"].as_bool().unwrap_or(false),
            seed: e["shuffle_seed"].as_u64().unwrap_or(0),
        };
        let e = factorised(r.params());
        let ranker = match registry::get(r.model()) {
            Some(entry) => (entry.load)(&r, e)?,
            None => {
                return Err(funnel_model::ModelError::ModelFile {
                    path: r.path().to_string(),
                    message: format!(
                        "this is a `{}` model file, not a ranker ({})",
                        r.model(),
                        registry::names()
                    ),
                }
                .into())
            }
        };
        let calibration = match r.header("calibration") {
            Value::Null => Calibration::None,
            v => serde_json::from_value(v.clone()).map_err(|e| {
                funnel_model::ModelError::ModelFile {
                    path: r.path().to_string(),
                    message: format!("bad calibration in the header: {e}"),
                }
            })?,
        };
        Ok(RankModel {
            ranker,
            negative_keep_rate: r.header("negative_keep_rate").as_f64().unwrap_or(1.0),
            calibration,
            pipeline: match r.header("pipeline") {
                Value::Null => None,
                v => Some(v.clone()),
            },
        })
    }
}
