//! GBDT+LR (He et al., "Practical Lessons from Predicting Clicks on Ads at Facebook",
//! 2014): boosted trees turn each sample into the leaves it falls in, one one-hot
//! feature per tree, and an FTRL logistic regression learns a weight per leaf. The trees
//! are fitted in batch; the regression also learns online (`partial_fit`), which is the
//! recipe's point: refit the trees daily, keep the linear model fresh between refits.

use funnel_features::SampleSet;
use funnel_model::{ModelReader, ModelWriter, Params};
use serde_json::Value;

use super::Gbdt;
use crate::error::Result;
use crate::online::FitReport;
use crate::{FtrlLr, Ranker};

/// The model name.
const M: &str = "gbdt_lr";

/// Trees whose leaves are the features of a logistic regression.
pub struct GbdtLr {
    trees: Gbdt,
    lr: Box<dyn Ranker>,
    /// Index of each tree's first leaf among all leaves.
    offsets: Vec<u32>,
}

impl GbdtLr {
    /// A model from `--set` parameters: the tree keys of `gbdt` (binary objective), the
    /// FTRL keys of `lr` (`alpha`, `beta`, `l1`, `l2`) and its epoch-loop keys.
    pub fn from_params(p: &Params) -> Result<Self> {
        let trees = Gbdt::from_params(M, "binary", p)?;
        if trees.objective() != super::objective::Objective::Binary {
            return Err(crate::RankError::Model(funnel_model::ModelError::Param {
                model: M,
                message: "`objective` must be binary: the regression on the leaves predicts clicks"
                    .into(),
            }));
        }
        let lr = crate::boxed(
            FtrlLr::from_params(p)?,
            crate::epoch_options(M, p, FtrlLr::default_epochs())?,
        );
        Ok(GbdtLr {
            trees,
            lr,
            offsets: Vec::new(),
        })
    }

    /// Reads what [`Ranker::write`] stored.
    pub fn load(r: &ModelReader, epochs: crate::EpochOptions) -> Result<Self> {
        let trees = Gbdt::load(M, "binary", r)?;
        let lr = crate::boxed(FtrlLr::load(r)?, epochs);
        let mut m = GbdtLr {
            trees,
            lr,
            offsets: Vec::new(),
        };
        m.index_leaves();
        Ok(m)
    }

    fn index_leaves(&mut self) {
        let mut at = 0u32;
        self.offsets = self
            .trees
            .trees()
            .iter()
            .map(|t| {
                let o = at;
                at += t.leaf_value.len() as u32;
                o
            })
            .collect();
    }

    /// Each sample as the leaves it falls in: field = tree, index = the leaf's number
    /// among all leaves, value 1.
    pub fn leaves(&self, s: &SampleSet) -> SampleSet {
        let leaves = self.trees.leaves(s);
        let n_trees = self.offsets.len();
        let mut out = SampleSet::new();
        let mut f: Vec<(u32, u32, f32)> = Vec::with_capacity(n_trees);
        for i in 0..s.len() {
            let row = &leaves[i * n_trees..(i + 1) * n_trees];
            f.clear();
            f.extend(
                row.iter()
                    .enumerate()
                    .map(|(t, &l)| (t as u32, self.offsets[t] + l, 1.0)),
            );
            let group = s.groups.get(i).copied();
            out.push(s.labels[i], group, &f);
        }
        out.n_features = self.offsets.last().map_or(0, |&o| {
            o + self
                .trees
                .trees()
                .last()
                .map_or(0, |t| t.leaf_value.len() as u32)
        });
        out.n_fields = n_trees as u32;
        out
    }
}

impl Ranker for GbdtLr {
    fn name(&self) -> &'static str {
        M
    }

    fn fit(&mut self, train: &SampleSet, valid: Option<&SampleSet>) -> Result<FitReport> {
        let t0 = std::time::Instant::now();
        let trees = self.trees.fit(train, valid)?;
        self.index_leaves();
        let (lt, lv) = (self.leaves(train), valid.map(|v| self.leaves(v)));
        let mut report = self.lr.fit(&lt, lv.as_ref())?;
        report.seconds = t0.elapsed().as_secs_f64();
        report.validation_logloss = [trees.validation_logloss, report.validation_logloss].concat();
        Ok(report)
    }

    fn partial_fit(&mut self, samples: &SampleSet) -> Result<()> {
        if self.offsets.is_empty() {
            return Err(crate::RankError::Samples(format!(
                "{M} learns online only once its trees are fitted: fit it first"
            )));
        }
        let l = self.leaves(samples);
        self.lr.partial_fit(&l)
    }

    fn fits_by_streaming(&self) -> bool {
        false
    }

    fn predict(&self, samples: &SampleSet) -> Vec<f32> {
        self.lr.predict(&self.leaves(samples))
    }

    fn predict_shared(&self, shared: &SampleSet, rows: &SampleSet) -> Vec<f32> {
        // The trees need each row whole: merge, then predict.
        self.lr
            .predict(&self.leaves(&super::merge_shared(shared, rows)))
    }

    fn params(&self) -> Value {
        let mut p = self.trees.params();
        if let (Some(o), Value::Object(lr)) = (p.as_object_mut(), self.lr.params()) {
            o.extend(lr);
        }
        p
    }

    fn write(&self, w: &mut ModelWriter) {
        self.trees.write(w);
        self.lr.write(w);
    }

    fn n_features(&self) -> u32 {
        self.trees.n_features()
    }
}
