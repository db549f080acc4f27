//! Every ranker, registered once: name, what it is, how to build it from `--set`
//! parameters (with its epoch loop) and how to load its arrays from a model file.
//! `funnel rank … --model`, the error that lists names, `funnel models`, the server's
//! `rank.model` check and the contract test all read this list.
//!
//! Parameters are what the constructor reads: [`Entry::parameters`] builds the ranker with
//! none and reports every key with its default.

use funnel_model::{ModelReader, ParamDoc, Params};

use crate::online::{EpochOptions, Online};
use crate::{Deep, Ffm, Fm, FtrlLr, Gbdt, Ranker, Result};

/// One registered ranker.
pub struct Entry {
    /// The name `--model` takes and model files carry.
    pub name: &'static str,
    /// One line on what the ranker is.
    pub summary: &'static str,
    /// The model and the epoch loop it trains with when `--set` does not say otherwise.
    pub build: fn(&Params) -> Result<Box<dyn Ranker>>,
    /// The model's arrays from its file, with the epoch settings stored beside them.
    pub load: fn(&ModelReader, EpochOptions) -> Result<Box<dyn Ranker>>,
}

impl Entry {
    /// The parameters the ranker reads, with their defaults.
    pub fn parameters(&self) -> Result<Vec<ParamDoc>> {
        let p = Params::default();
        (self.build)(&p)?;
        Ok(p.documented())
    }
}

/// The epoch loop of the factorised models: several passes, early stopping on the
/// newest tenth.
fn factorised() -> EpochOptions {
    EpochOptions {
        epochs: 20,
        patience: 2,
        validation_fraction: 0.1,
        shuffle: true,
        seed: 0,
    }
}

fn with_loop<M: Online + 'static>(
    name: &'static str,
    model: Result<M>,
    p: &Params,
    defaults: EpochOptions,
) -> Result<Box<dyn Ranker>> {
    let model = model?;
    Ok(crate::boxed(
        model,
        crate::epoch_options(name, p, defaults)?,
    ))
}

/// The rankers, in the order they are listed.
pub const MODELS: &[Entry] = &[
    Entry {
        name: "lr",
        summary: "logistic regression trained by FTRL-Proximal (one pass by default)",
        build: |p| with_loop("lr", FtrlLr::from_params(p), p, FtrlLr::default_epochs()),
        load: |r, e| Ok(crate::boxed(FtrlLr::load(r)?, e)),
    },
    Entry {
        name: "fm",
        summary: "factorisation machine (SGD or AdaGrad, early stopping)",
        build: |p| with_loop("fm", Fm::from_params(p), p, factorised()),
        load: |r, e| Ok(crate::boxed(Fm::load(r)?, e)),
    },
    Entry {
        name: "ffm",
        summary: "field-aware factorisation machine",
        build: |p| with_loop("ffm", Ffm::from_params(p), p, factorised()),
        load: |r, e| Ok(crate::boxed(Ffm::load(r)?, e)),
    },
    Entry {
        name: "gbdt",
        summary: "gradient-boosted trees on binned features, leaf-wise (binary log-loss; objective=regression)",
        build: |p| Ok(Box::new(Gbdt::from_params("gbdt", "binary", p)?)),
        load: |r, _| Ok(Box::new(Gbdt::load("gbdt", "binary", r)?)),
    },
    Entry {
        name: "gbdt_lr",
        summary: "the leaves of boosted trees as one-hot features of an FTRL logistic regression (Facebook's GBDT+LR; the regression learns online)",
        build: |p| Ok(Box::new(crate::gbdt::lr::GbdtLr::from_params(p)?)),
        load: |r, e| Ok(Box::new(crate::gbdt::lr::GbdtLr::load(r, e)?)),
    },
    Entry {
        name: "lambdamart",
        summary: "gradient-boosted trees on LambdaRank's ΔNDCG-weighted pairs (learning to rank per query)",
        build: |p| Ok(Box::new(Gbdt::from_params("lambdamart", "lambdarank", p)?)),
        load: |r, _| Ok(Box::new(Gbdt::load("lambdamart", "lambdarank", r)?)),
    },
    Entry {
        name: "widedeep",
        summary: "Wide & Deep: a linear part over every feature plus an MLP over field embeddings (mini-batch Adam, early stopping)",
        build: |p| Ok(Box::new(Deep::wide_deep(p)?)),
        load: |r, _| Ok(Box::new(Deep::load("widedeep", r)?)),
    },
    Entry {
        name: "deepfm",
        summary: "DeepFM: first-order terms, the FM interaction of field embeddings and an MLP over them, trained jointly",
        build: |p| Ok(Box::new(Deep::deepfm(p)?)),
        load: |r, _| Ok(Box::new(Deep::load("deepfm", r)?)),
    },
    Entry {
        name: "nfm",
        summary: "NFM: the linear term plus an MLP over the bi-interaction pooling of field embeddings",
        build: |p| Ok(Box::new(Deep::nfm(p)?)),
        load: |r, _| Ok(Box::new(Deep::load("nfm", r)?)),
    },
    Entry {
        name: "pnn",
        summary: "PNN: an MLP over field embeddings and their pairwise inner products (product=outer: the outer product of their sum)",
        build: |p| Ok(Box::new(Deep::pnn(p)?)),
        load: |r, _| Ok(Box::new(Deep::load("pnn", r)?)),
    },
    Entry {
        name: "afm",
        summary: "AFM: the linear term plus an attention-weighted sum of the field pairs' elementwise products",
        build: |p| Ok(Box::new(Deep::afm(p)?)),
        load: |r, _| Ok(Box::new(Deep::load("afm", r)?)),
    },
    Entry {
        name: "din",
        summary: "DIN: an MLP over field embeddings and the user's history pooled by attention from the candidate (needs a spec with hist sequences)",
        build: |p| Ok(Box::new(Deep::din(p)?)),
        load: |r, _| Ok(Box::new(Deep::load("din", r)?)),
    },
    Entry {
        name: "fibinet",
        summary: "FiBiNET: the linear term plus an MLP over bilinear interactions of field embeddings and of their SENet-reweighted copies",
        build: |p| Ok(Box::new(Deep::fibinet(p)?)),
        load: |r, _| Ok(Box::new(Deep::load("fibinet", r)?)),
    },
    Entry {
        name: "xdeepfm",
        summary: "xDeepFM: the linear term, a compressed interaction network (CIN) and an MLP over field embeddings",
        build: |p| Ok(Box::new(Deep::xdeepfm(p)?)),
        load: |r, _| Ok(Box::new(Deep::load("xdeepfm", r)?)),
    },
    Entry {
        name: "autoint",
        summary: "AutoInt+: multi-head self-attention layers over field embeddings beside an MLP",
        build: |p| Ok(Box::new(Deep::autoint(p)?)),
        load: |r, _| Ok(Box::new(Deep::load("autoint", r)?)),
    },
    Entry {
        name: "dcn",
        summary: "Deep & Cross Network (v1): rank-one cross layers beside an MLP over field embeddings",
        build: |p| Ok(Box::new(Deep::dcn(p)?)),
        load: |r, _| Ok(Box::new(Deep::load("dcn", r)?)),
    },
    Entry {
        name: "dcnv2",
        summary: "DCN-V2: full-rank cross layers (or a mixture of low-rank experts) beside or under an MLP",
        build: |p| Ok(Box::new(Deep::dcnv2(p)?)),
        load: |r, _| Ok(Box::new(Deep::load("dcnv2", r)?)),
    },
];

/// The entry called `name`.
pub fn get(name: &str) -> Option<&'static Entry> {
    MODELS.iter().find(|e| e.name == name)
}

/// The registered names, for messages.
pub fn names() -> String {
    MODELS.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
}
