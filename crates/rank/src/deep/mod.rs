//! Deep CTR rankers on the `funnel-train` substrate: `widedeep` (Wide & Deep, Cheng et al.
//! 2016) and `deepfm` (Guo et al. 2017).
//!
//! Every sample's features are grouped by field; each field's features are pooled into
//! one embedding (the sum of value × row, so a multi-hot or sequence field whose values
//! the pipeline scaled to 1/√n gets a normalised sum). The field embeddings, side by side,
//! feed the heads, whose logits add up: the wide linear term over every feature,
//! the FM interaction (DeepFM) and an MLP. Training is mini-batch: Adam on the dense
//! layers, lazy Adam on the touched table rows, early stopping on the newest tenth of the
//! training samples as the factorised models do, and a run whose loss turns non-finite or
//! explodes stops with an error naming the epoch, the step and the learning rate.

mod body;
mod net;

use std::time::Instant;

use funnel_features::SampleSet;
use funnel_model::{ModelReader, ModelWriter, Params};
use funnel_train::{
    loss, Activation, BilinearKind, Decay, Optimizer, Rule, Schedule, SparseRule, TrainError,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};

use crate::error::{RankError, Result};
use crate::online::{
    check_finite, merged_with, sigmoid, validation_split, BestEpoch, EpochOptions, FitReport,
};
use crate::Ranker;
use body::{CrossSpec, Product};
use net::{Arch, Batch, DinShape, Link, Net, Shape};

/// Samples scored per forward pass when predicting.
const PREDICT_BATCH: usize = 4096;
/// A mean log-loss above this is an exploding run (a sane model is below 1).
const EXPLODED_LOSS: f32 = 100.0;

/// Training settings of a deep ranker (`--set` keys of the same names).
#[derive(Debug, Clone, PartialEq)]
pub struct DeepConfig {
    /// Values per field embedding.
    pub embedding_dim: usize,
    /// Widths of the MLP's hidden layers.
    pub hidden: Vec<usize>,
    /// The MLP's activation.
    pub activation: Activation,
    /// Dropout after each hidden layer.
    pub dropout: f32,
    /// Update rule of the dense layers.
    pub optimizer: String,
    /// Update rule of the embedding tables: `adam` (every row, every step, as PyTorch's
    /// dense embeddings under Adam — rows not seen lately shrink, which regularises rare
    /// features; the default, measured best on ml-100k), `lazy_adam` (touched rows only:
    /// for hashed tables of millions of rows), `adagrad`, `rowwise_adagrad`, `sgd`.
    pub embedding_optimizer: String,
    /// Step size.
    pub learning_rate: f32,
    /// Weight decay of the dense layers (L2, or decoupled for adamw/lamb).
    pub weight_decay: f32,
    /// L2 on the embedding rows a batch touches.
    pub reg_embedding: f32,
    /// Samples per step.
    pub batch_size: usize,
    /// Standard deviation of the initial embeddings.
    pub init_std: f32,
    /// Standard deviation of the hidden MLP layers' initial weights (0 = He-uniform).
    pub mlp_init_std: f32,
    /// Clip the global gradient norm to this (0 = off).
    pub clip_norm: f32,
    /// Linear warm-up steps of the learning rate.
    pub warmup_steps: u64,
    /// Decay after the warm-up: constant, linear or cosine (to a tenth).
    pub decay: Decay,
    /// Seed of the initial weights, dropout and shuffles.
    pub seed: u64,
    /// Step size of `partial_fit`: a stream of small batches gets one step each, so it
    /// learns at ten times the fit's rate by default.
    pub online_learning_rate: f32,
    /// What `partial_fit` (online learning) updates: `all`, or `embeddings` only, keeping
    /// the interaction and MLP layers frozen (seed 002's advice for streaming updates).
    pub online_update: String,
    /// DCN models: the cross network (`cross_layers`, `cross_rank`, `experts`,
    /// `structure`) and whether a wide linear part is added (`wide`).
    pub(crate) cross: Option<(CrossSpec, bool)>,
    /// PNN: inner or outer products (`product`); NFM: the bi-interaction.
    pub(crate) product: Option<Product>,
    /// AutoInt: `attention_layers` and `heads` (head width `embedding_dim / heads`).
    pub(crate) attention: Option<(usize, usize)>,
    /// xDeepFM: feature maps per CIN layer (`cin_layers`); empty for other models.
    pub cin: Vec<usize>,
    /// AFM: units of the attention network over the pairs (`attention_units`); 0 for
    /// other models.
    pub afm_units: usize,
    /// FiBiNET: the SENet's `reduction_ratio` and the `bilinear_type`.
    pub(crate) fibinet: Option<(usize, BilinearKind)>,
    /// DIN: the activation unit (`attention_hidden`, `attention_activation`), the history
    /// positions kept (`history_len`, 0: the longest in the first fit's samples) and the
    /// links of history fields to candidate fields (`history_links`, found in the
    /// samples' schema by the first fit and kept in the model file).
    pub(crate) din: Option<DinShape>,
    /// Epochs, patience, validation share, shuffling.
    pub epochs: EpochOptions,
}

/// The heads a model has before its settings add theirs (cross network, products,
/// attention, CIN, AFM, FiBiNET, DIN — see [`DeepConfig::arch`]): the linear "wide" term,
/// and DeepFM's FM interaction.
fn base_arch(name: &str) -> Arch {
    Arch {
        wide: matches!(
            name,
            "widedeep" | "deepfm" | "nfm" | "afm" | "xdeepfm" | "fibinet"
        ),
        fm: name == "deepfm",
        ..Arch::default()
    }
}

/// `history:candidate:shift,…` as [`DeepConfig::to_json`] writes DIN's links.
fn parse_links(model: &'static str, s: &str) -> Result<Vec<Link>> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|w| {
            let parts: Vec<&str> = w.trim().split(':').collect();
            match parts[..] {
                [h, q, shift] => match (h.parse(), q.parse(), shift.parse()) {
                    (Ok(history), Ok(query), Ok(shift)) => Ok(Link {
                        history,
                        query,
                        shift,
                    }),
                    _ => Err(()),
                },
                _ => Err(()),
            }
            .map_err(|()| {
                funnel_model::ModelError::Param {
                    model,
                    message: format!(
                        "`history_links={s}`: expected history:candidate:shift field links such as 7:1:-1700"
                    ),
                }
                .into()
            })
        })
        .collect()
}

/// DIN's links from the samples' schema: each sequence field whose vocabulary is a
/// candidate field's (not a sequence's), in field order.
fn links_of(s: &SampleSet) -> Vec<Link> {
    let Some(schema) = &s.schema else {
        return Vec::new();
    };
    schema
        .iter()
        .enumerate()
        .filter(|(_, f)| f.sequence)
        .filter_map(|(h, f)| {
            let q = f.vocab_of? as usize;
            let target = schema.get(q).filter(|t| !t.sequence)?;
            Some(Link {
                history: h as u32,
                query: q as u32,
                shift: target.offset as i64 - f.offset as i64,
            })
        })
        .collect()
}

/// DIN's positions: the longest history of the first link's field in `s` (at least 1).
fn longest_history(s: &SampleSet, field: u32) -> usize {
    (0..s.len())
        .map(|i| s.row(i).fields.iter().filter(|&&f| f == field).count())
        .max()
        .unwrap_or(0)
        .max(1)
}

fn parse_hidden(model: &'static str, s: &str) -> Result<Vec<usize>> {
    if s.is_empty() || s == "none" {
        return Ok(Vec::new());
    }
    s.split([',', '-', 'x'])
        .map(|w| match w.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(funnel_model::ModelError::Param {
                model,
                message: format!("`hidden={s}`: expected layer widths such as 256,128 (or none)"),
            }
            .into()),
        })
        .collect()
}

impl DeepConfig {
    /// The settings from `--set` parameters over the models' defaults.
    pub fn from_params(model: &'static str, p: &Params) -> Result<Self> {
        // AFM has no MLP: it does not read the MLP's keys.
        let has_mlp = model != "afm";
        let hidden: String = if has_mlp {
            p.get(
                model,
                "hidden",
                "256,128".to_string(),
                "layer widths such as 256,128, or none",
            )?
        } else {
            "none".into()
        };
        let act = if has_mlp {
            p.choice(
                model,
                "activation",
                "relu",
                &["relu", "tanh", "sigmoid", "gelu"],
            )?
        } else {
            "relu".into()
        };
        let optimizer = p.choice(
            model,
            "optimizer",
            "adam",
            &[
                "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "amsgrad",
                "lamb",
            ],
        )?;
        let embedding_optimizer = p.choice(
            model,
            "embedding_optimizer",
            "adam",
            &["lazy_adam", "adam", "adagrad", "rowwise_adagrad", "sgd"],
        )?;
        let decay = match p
            .choice(
                model,
                "decay",
                "constant",
                &["constant", "linear", "cosine"],
            )?
            .as_str()
        {
            "linear" => Decay::Linear,
            "cosine" => Decay::Cosine,
            _ => Decay::Constant,
        };
        let dropout: f32 = if has_mlp {
            p.get(model, "dropout", 0.2, "a number in [0, 1)")?
        } else {
            0.0
        };
        if !(0.0..1.0).contains(&dropout) {
            return Err(funnel_model::ModelError::Param {
                model,
                message: format!("`dropout={dropout}`: expected a number in [0, 1)"),
            }
            .into());
        }
        let learning_rate: f32 = p.get(model, "learning_rate", 5e-4, "a number > 0")?;
        let batch_size: usize = p.get(model, "batch_size", 256, "a positive integer")?;
        let embedding_dim: usize = p.get(model, "embedding_dim", 16, "a positive integer")?;
        for (k, bad) in [
            (
                "learning_rate",
                !(learning_rate > 0.0 && learning_rate.is_finite()),
            ),
            ("batch_size", batch_size == 0),
            ("embedding_dim", embedding_dim == 0),
        ] {
            if bad {
                return Err(funnel_model::ModelError::Param {
                    model,
                    message: format!("`{k}` must be positive"),
                }
                .into());
            }
        }
        Ok(DeepConfig {
            embedding_dim,
            hidden: parse_hidden(model, &hidden)?,
            activation: Activation::parse(&act).expect("a listed activation"),
            dropout,
            optimizer,
            embedding_optimizer,
            learning_rate,
            weight_decay: p.get(model, "weight_decay", 0.0, "a number >= 0")?,
            reg_embedding: p.get(model, "reg_embedding", 1e-5, "a number >= 0")?,
            batch_size,
            init_std: p.get(model, "init_std", 1e-4, "a number > 0")?,
            mlp_init_std: if has_mlp {
                p.get(model, "mlp_init_std", 0.0, "a number >= 0 (0 = He-uniform)")?
            } else {
                0.0
            },
            afm_units: if has_mlp {
                0
            } else {
                let t: usize = p.get(model, "attention_units", 8, "a positive integer")?;
                if t == 0 {
                    return Err(funnel_model::ModelError::Param {
                        model,
                        message: "`attention_units` must be positive".into(),
                    }
                    .into());
                }
                t
            },
            clip_norm: p.get(model, "clip_norm", 0.0, "a number >= 0 (0 = off)")?,
            warmup_steps: p.get(model, "warmup_steps", 0, "a non-negative integer")?,
            decay,
            seed: p.get(model, "seed", 0, "an integer")?,
            online_learning_rate: p.get(
                model,
                "online_learning_rate",
                learning_rate * 10.0,
                "a number > 0 (default: 10 × learning_rate)",
            )?,
            online_update: p.choice(model, "online_update", "all", &["all", "embeddings"])?,
            cross: cross_spec(model, p)?,
            cin: if model == "xdeepfm" {
                let sizes: String = p.get(
                    model,
                    "cin_layers",
                    "128,128".to_string(),
                    "feature maps per CIN layer, such as 128,128",
                )?;
                let sizes = parse_hidden(model, &sizes).map_err(|_| funnel_model::ModelError::Param {
                    model,
                    message: format!("`cin_layers={sizes}`: expected feature maps per layer, such as 128,128"),
                })?;
                if sizes.is_empty() {
                    return Err(funnel_model::ModelError::Param {
                        model,
                        message: "`cin_layers` needs at least one layer".into(),
                    }
                    .into());
                }
                sizes
            } else {
                Vec::new()
            },
            attention: if model == "autoint" {
                let layers: usize = p.get(model, "attention_layers", 3, "a positive integer")?;
                let heads: usize = p.get(
                    model,
                    "heads",
                    2,
                    "a positive integer dividing embedding_dim",
                )?;
                if layers == 0 || heads == 0 || embedding_dim % heads != 0 {
                    return Err(funnel_model::ModelError::Param {
                        model,
                        message: format!(
                            "`attention_layers` and `heads` must be positive and `heads` must divide embedding_dim ({embedding_dim})"
                        ),
                    }
                    .into());
                }
                Some((layers, heads))
            } else {
                None
            },
            product: match model {
                "nfm" => Some(Product::Bi),
                "pnn" => Some(
                    match p
                        .choice(model, "product", "inner", &["inner", "outer"])?
                        .as_str()
                    {
                        "outer" => Product::Outer,
                        _ => Product::Inner,
                    },
                ),
                _ => None,
            },
            din: if model == "din" {
                let hidden: String = p.get(
                    model,
                    "attention_hidden",
                    "64,16".to_string(),
                    "layer widths such as 64,16",
                )?;
                let activation = p.choice(
                    model,
                    "attention_activation",
                    "relu",
                    &["sigmoid", "relu", "tanh", "gelu"],
                )?;
                let links: String = p.get(
                    model,
                    "history_links",
                    String::new(),
                    "history:candidate:shift field links (written by the first fit)",
                )?;
                Some(DinShape {
                    links: parse_links(model, &links)?,
                    len: p.get(model, "history_len", 0, "a non-negative integer")?,
                    hidden: parse_hidden(model, &hidden)?,
                    activation: Activation::parse(&activation).expect("a listed activation"),
                })
            } else {
                None
            },
            fibinet: if model == "fibinet" {
                let reduction: usize = p.get(model, "reduction_ratio", 3, "a positive integer")?;
                if reduction == 0 {
                    return Err(funnel_model::ModelError::Param {
                        model,
                        message: "`reduction_ratio` must be positive".into(),
                    }
                    .into());
                }
                let kind = p.choice(
                    model,
                    "bilinear_type",
                    "interaction",
                    &["all", "each", "interaction"],
                )?;
                Some((
                    reduction,
                    BilinearKind::parse(&kind).expect("a listed bilinear type"),
                ))
            } else {
                None
            },
            epochs: crate::epoch_options(model, p, deep_epochs())?,
        })
    }

    fn shape(&self) -> Shape {
        Shape {
            dim: self.embedding_dim,
            hidden: self.hidden.clone(),
            activation: self.activation,
            dropout: self.dropout,
            init_std: self.init_std,
            mlp_init_std: self.mlp_init_std,
            cin: self.cin.clone(),
            afm_units: self.afm_units,
            din: self.din.clone(),
            seed: self.seed,
        }
    }

    /// The model's architecture with the cross network these settings declare.
    fn arch(&self, base: Arch) -> Arch {
        match self.cross {
            Some((c, wide)) => Arch {
                wide,
                cross: Some(c),
                ..Arch::default()
            },
            None => Arch {
                product: self.product,
                attention: self.attention,
                cin: !self.cin.is_empty(),
                afm: self.afm_units > 0,
                fibinet: self.fibinet,
                din: self.din.is_some(),
                ..base
            },
        }
    }

    fn sparse_rule(&self) -> SparseRule {
        match self.embedding_optimizer.as_str() {
            "adagrad" => SparseRule::AdaGrad { eps: 1e-10 },
            "rowwise_adagrad" => SparseRule::RowwiseAdaGrad { eps: 1e-10 },
            "sgd" => SparseRule::Sgd,
            "lazy_adam" => SparseRule::LazyAdam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            _ => SparseRule::DenseAdam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
        }
    }

    fn to_json(&self) -> Value {
        let e = &self.epochs;
        let mut v = json!({
            "embedding_dim": self.embedding_dim,
            "hidden": self.hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(","),
            "activation": self.activation.name(),
            "dropout": self.dropout,
            "optimizer": self.optimizer,
            "embedding_optimizer": self.embedding_optimizer,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            "reg_embedding": self.reg_embedding,
            "batch_size": self.batch_size,
            "init_std": self.init_std,
            "mlp_init_std": self.mlp_init_std,
            "clip_norm": self.clip_norm,
            "warmup_steps": self.warmup_steps,
            "decay": match self.decay { Decay::Constant => "constant", Decay::Linear => "linear", Decay::Cosine => "cosine" },
            "seed": self.seed,
            "online_learning_rate": self.online_learning_rate,
            "online_update": self.online_update,
            "epochs": e.epochs,
            "patience": e.patience,
            "validation_fraction": e.validation_fraction,
            "shuffle": e.shuffle,
            "shuffle_seed": e.seed,
        });
        if let Some(Product::Inner | Product::Outer) = self.product {
            v["product"] = json!(if self.product == Some(Product::Outer) {
                "outer"
            } else {
                "inner"
            });
        }
        if self.afm_units > 0 {
            v["attention_units"] = json!(self.afm_units);
        }
        if let Some((reduction, kind)) = self.fibinet {
            v["reduction_ratio"] = json!(reduction);
            v["bilinear_type"] = json!(kind.name());
        }
        if let Some(d) = &self.din {
            v["attention_hidden"] = json!(d
                .hidden
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(","));
            v["attention_activation"] = json!(d.activation.name());
            v["history_len"] = json!(d.len);
            v["history_links"] = json!(d
                .links
                .iter()
                .map(|l| format!("{}:{}:{}", l.history, l.query, l.shift))
                .collect::<Vec<_>>()
                .join(","));
        }
        if !self.cin.is_empty() {
            v["cin_layers"] = json!(self
                .cin
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(","));
        }
        if let Some((layers, heads)) = self.attention {
            v["attention_layers"] = json!(layers);
            v["heads"] = json!(heads);
        }
        if let Some((c, wide)) = &self.cross {
            v["cross_layers"] = json!(c.layers);
            v["structure"] = json!(if c.parallel { "parallel" } else { "stacked" });
            v["wide"] = json!(wide);
            if !c.vector {
                v["cross_rank"] = json!(c.rank);
                v["experts"] = json!(c.experts);
            }
        }
        v
    }

    /// The settings stored in a model file's header.
    fn from_json(model: &'static str, v: &Value) -> Result<Self> {
        let pairs: Vec<String> = v
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "fields")
            .map(|(k, x)| match x {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        let p = Params::parse(&pairs)
            .map_err(|m| funnel_model::ModelError::Param { model, message: m })?;
        DeepConfig::from_params(model, &p)
    }
}

/// The cross network of `dcn` (rank-one vector layers) and `dcnv2` (full-rank, or a
/// mixture of low-rank experts with `cross_rank > 0`); `None` for other models.
fn cross_spec(model: &'static str, p: &Params) -> Result<Option<(CrossSpec, bool)>> {
    if model != "dcn" && model != "dcnv2" {
        return Ok(None);
    }
    let vector = model == "dcn";
    let layers: usize = p.get(model, "cross_layers", 3, "a positive integer")?;
    let (rank, experts) = if vector {
        (1, 1)
    } else {
        (
            p.get(
                model,
                "cross_rank",
                0,
                "0 (full-rank layers) or the experts' rank",
            )?,
            p.get(model, "experts", 4, "a positive integer")?,
        )
    };
    let structure = p.choice(model, "structure", "parallel", &["parallel", "stacked"])?;
    let wide = p.get(model, "wide", false, "true or false")?;
    if layers == 0 || experts == 0 {
        return Err(funnel_model::ModelError::Param {
            model,
            message: "`cross_layers` and `experts` must be positive".into(),
        }
        .into());
    }
    Ok(Some((
        CrossSpec {
            layers,
            rank,
            experts,
            vector,
            parallel: structure == "parallel",
        },
        wide,
    )))
}

/// The epoch loop of the deep rankers: up to 20 shuffled epochs, early stopping on the
/// newest tenth after 2 epochs without a better validation loss.
fn deep_epochs() -> EpochOptions {
    EpochOptions {
        epochs: 20,
        patience: 2,
        validation_fraction: 0.1,
        shuffle: true,
        seed: 0,
    }
}

/// A deep ranker: its settings, its network (built at the first fit, when the fields are
/// known) and its optimiser (kept between `fit` and `partial_fit`).
#[derive(Debug, Clone)]
pub struct Deep {
    name: &'static str,
    arch: Arch,
    /// The settings.
    pub config: DeepConfig,
    net: Option<Net>,
    opt: Optimizer,
}

impl Deep {
    /// The model `name` (a registry name) from `--set` parameters: its heads from
    /// [`base_arch`], its settings over the defaults.
    fn new(name: &'static str, p: &Params) -> Result<Self> {
        let config = DeepConfig::from_params(name, p)?;
        let arch = config.arch(base_arch(name));
        let rule = Rule::parse(&config.optimizer).expect("a listed optimiser");
        let opt = Optimizer::new(rule, config.learning_rate, config.weight_decay);
        Ok(Deep {
            name,
            arch,
            config,
            net: None,
            opt,
        })
    }

    /// Wide & Deep: a linear model over every feature plus an MLP over field embeddings.
    pub fn wide_deep(p: &Params) -> Result<Self> {
        Deep::new("widedeep", p)
    }

    /// DeepFM: first-order terms, the FM interaction of field embeddings, and an MLP over
    /// the same embeddings.
    pub fn deepfm(p: &Params) -> Result<Self> {
        Deep::new("deepfm", p)
    }

    /// DCN-V2: a cross network of full-rank layers (or a mixture of low-rank experts)
    /// beside or under an MLP.
    pub fn dcnv2(p: &Params) -> Result<Self> {
        Deep::new("dcnv2", p)
    }

    /// NFM: the linear term plus an MLP over the bi-interaction pooling of the field
    /// embeddings.
    pub fn nfm(p: &Params) -> Result<Self> {
        Deep::new("nfm", p)
    }

    /// PNN: an MLP over the field embeddings and their inner (IPNN) or outer (OPNN)
    /// products.
    pub fn pnn(p: &Params) -> Result<Self> {
        Deep::new("pnn", p)
    }

    /// AFM: the linear term plus the attention-weighted sum of the field pairs'
    /// elementwise products, projected to one value.
    pub fn afm(p: &Params) -> Result<Self> {
        Deep::new("afm", p)
    }

    /// xDeepFM: the linear term, a compressed interaction network and an MLP, side by side.
    pub fn xdeepfm(p: &Params) -> Result<Self> {
        Deep::new("xdeepfm", p)
    }

    /// AutoInt+: multi-head self-attention layers over the field embeddings beside an MLP.
    pub fn autoint(p: &Params) -> Result<Self> {
        Deep::new("autoint", p)
    }

    /// FiBiNET: the linear term plus an MLP over the bilinear interactions of the field
    /// embeddings and of their SENet-reweighted copies.
    pub fn fibinet(p: &Params) -> Result<Self> {
        Deep::new("fibinet", p)
    }

    /// DIN: an MLP over the field embeddings and the user's history pooled by attention
    /// from the candidate (the activation unit over `[q, k, q − k, q ⊙ k]`).
    pub fn din(p: &Params) -> Result<Self> {
        Deep::new("din", p)
    }

    /// DCN (v1): rank-one cross layers beside an MLP.
    pub fn dcn(p: &Params) -> Result<Self> {
        Deep::new("dcn", p)
    }

    pub(crate) fn load(name: &'static str, r: &ModelReader) -> Result<Self> {
        let mut d = Deep::new(name, &Params::default())?;
        d.config = DeepConfig::from_json(name, r.params())?;
        d.arch = d.config.arch(base_arch(name));
        d.opt = Optimizer::new(
            Rule::parse(&d.config.optimizer).expect("a listed optimiser"),
            d.config.learning_rate,
            d.config.weight_decay,
        );
        let fields = r.params()["fields"].as_u64().unwrap_or(0) as usize;
        if fields > 0 {
            let mut net = Net::load(d.arch, &d.config.shape(), fields, r)?;
            net.set_l2(d.config.reg_embedding);
            d.net = Some(net);
        }
        Ok(d)
    }

    /// DIN: the history links and length from the first samples (unless set).
    fn find_history(&mut self, s: &SampleSet) -> Result<()> {
        let Some(d) = &mut self.config.din else {
            return Ok(());
        };
        if d.links.is_empty() {
            d.links = links_of(s);
        }
        let Some(first) = d.links.first() else {
            return Err(RankError::Samples(format!(
                "{} attends over the user's history: it needs samples made by a feature spec \
                 (--spec) with a sequence field whose vocab_from names a candidate field, such as \
                 hist (vocab_from = \"item_id\") and hist.category (vocab_from = \"item.category\")",
                self.name
            )));
        };
        if let Some(l) = d
            .links
            .iter()
            .find(|l| l.history.max(l.query) >= s.n_fields || l.history == l.query)
        {
            return Err(funnel_model::ModelError::Param {
                model: self.name,
                message: format!(
                    "`history_links`: {}:{}:{} names a field the samples (with {} fields) do not have, or links a field to itself",
                    l.history, l.query, l.shift, s.n_fields
                ),
            }
            .into());
        }
        if d.len == 0 {
            d.len = longest_history(s, first.history);
        }
        Ok(())
    }

    /// Builds the network for `fields` fields, or checks the samples against it.
    fn reserve(&mut self, features: u32, fields: u32) -> Result<&mut Net> {
        let fields = fields.max(1) as usize;
        if let Some(net) = &self.net {
            if fields > net.fields {
                return Err(RankError::Samples(format!(
                    "the samples have {fields} fields but this {} model was trained on {}",
                    self.name, net.fields
                )));
            }
        }
        let c = &self.config;
        let net = self.net.get_or_insert_with(|| {
            let mut n = Net::new(self.arch, &c.shape(), fields, features as usize);
            n.set_l2(c.reg_embedding);
            n
        });
        net.grow(features as usize);
        Ok(net)
    }

    /// One pass over `order` in batches; returns the mean training loss.
    fn pass(
        &mut self,
        s: &SampleSet,
        order: &[u32],
        epoch: usize,
        schedule: &Schedule,
        base_lr: f32,
    ) -> Result<f64> {
        let c = self.config.clone();
        let rule = c.sparse_rule();
        let net = self.net.as_mut().expect("reserved before training");
        let mut total = 0.0f64;
        for chunk in order.chunks(c.batch_size) {
            let b = Batch::of(
                s,
                chunk.iter().map(|&i| i as usize),
                net.fields,
                net.din_links(),
            );
            let z = net.forward(&b);
            let (l, dz) = loss::bce_with_logits(&z, &b.labels, None);
            let lr = base_lr * schedule.factor(self.opt.t + 1);
            if !l.is_finite() || l > EXPLODED_LOSS {
                return Err(TrainError::Diverged {
                    epoch,
                    step: self.opt.t as usize + 1,
                    learning_rate: lr,
                    what: format!("the batch loss is {l}"),
                }
                .into());
            }
            total += l as f64 * b.rows as f64;
            net.backward(&b, &dz);
            if c.clip_norm > 0.0 {
                let norm = net.grad_sq_norm().sqrt() as f32;
                if norm > c.clip_norm {
                    net.scale_grads(c.clip_norm / (norm + 1e-6));
                }
            }
            net.step(&mut self.opt, rule, lr);
        }
        Ok(total / order.len().max(1) as f64)
    }

    fn check_weights(&self, epoch: usize) -> Result<()> {
        if self.net.as_ref().is_some_and(|n| !n.is_finite()) {
            return Err(TrainError::Diverged {
                epoch,
                step: self.opt.t as usize,
                learning_rate: self.config.learning_rate,
                what: "a weight is not finite".into(),
            }
            .into());
        }
        Ok(())
    }

    fn logits(&self, s: &SampleSet) -> Vec<f32> {
        let Some(net) = &self.net else {
            return vec![0.0; s.len()];
        };
        let mut out = Vec::with_capacity(s.len());
        for start in (0..s.len()).step_by(PREDICT_BATCH) {
            let b = Batch::of(
                s,
                start..(start + PREDICT_BATCH).min(s.len()),
                net.fields,
                net.din_links(),
            );
            out.extend(net.infer(&b));
        }
        out
    }

    fn mean_logloss(&self, s: &SampleSet) -> f64 {
        let z = self.logits(s);
        let y: Vec<f32> = s.labels.iter().map(|&l| (l > 0.0) as u8 as f32).collect();
        loss::bce_with_logits(&z, &y, None).0 as f64
    }
}

impl Ranker for Deep {
    fn name(&self) -> &'static str {
        self.name
    }

    fn fit(&mut self, train: &SampleSet, valid: Option<&SampleSet>) -> Result<FitReport> {
        let start = Instant::now();
        check_finite(train)?;
        if train.is_empty() {
            return Err(RankError::Samples("no training samples".into()));
        }
        if self.net.is_none() {
            self.find_history(train)?;
        }
        let o = self.config.epochs;
        let (fit_rows, valid) = validation_split(train, valid, &o)?;
        let valid = valid.as_deref();
        self.reserve(
            train.n_features.max(valid.map_or(0, |v| v.n_features)),
            train.n_fields.max(valid.map_or(0, |v| v.n_fields)),
        )?;
        let steps_per_epoch = fit_rows.div_ceil(self.config.batch_size) as u64;
        let schedule = Schedule {
            warmup: self.config.warmup_steps,
            total: steps_per_epoch * o.epochs.max(1) as u64,
            decay: self.config.decay,
            min_ratio: 0.1,
        };
        let mut order: Vec<u32> = (0..fit_rows as u32).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(o.seed);
        let mut report = FitReport {
            train_samples: fit_rows,
            validation_samples: valid.map_or(0, |v| v.len()),
            ..Default::default()
        };
        let mut best = BestEpoch::new();
        let mut seen = 0usize;
        for epoch in 1..=o.epochs.max(1) {
            if o.shuffle {
                order.shuffle(&mut rng);
            }
            self.pass(train, &order, epoch, &schedule, self.config.learning_rate)?;
            self.check_weights(epoch)?;
            seen += order.len();
            report.epochs = epoch;
            let Some(v) = valid else {
                report.best_epoch = epoch;
                continue;
            };
            let loss = self.mean_logloss(v);
            if !loss.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    step: self.opt.t as usize,
                    learning_rate: self.config.learning_rate,
                    what: format!("the validation loss is {loss}"),
                }
                .into());
            }
            if best.observe(epoch, loss, self, o.patience, &mut report) {
                break;
            }
        }
        best.restore(self);
        // The held-out tail is the newest data: learn it once so the model has seen it.
        if fit_rows < train.len() {
            let tail: Vec<u32> = (fit_rows as u32..train.len() as u32).collect();
            let lr = self.config.learning_rate;
            self.pass(train, &tail, report.epochs + 1, &Schedule::constant(), lr)?;
            self.check_weights(report.epochs + 1)?;
            seen += tail.len();
        }
        report.seconds = start.elapsed().as_secs_f64();
        report.examples_per_second = seen as f64 / report.seconds.max(1e-9);
        Ok(report)
    }

    fn partial_fit(&mut self, samples: &SampleSet) -> Result<()> {
        check_finite(samples)?;
        if samples.is_empty() {
            return Ok(());
        }
        let freeze = self.config.online_update == "embeddings";
        self.reserve(samples.n_features, samples.n_fields)?
            .freeze_dense(freeze);
        let order: Vec<u32> = (0..samples.len() as u32).collect();
        let lr = self.config.online_learning_rate;
        let pass = self.pass(samples, &order, 1, &Schedule::constant(), lr);
        if let Some(net) = &mut self.net {
            net.freeze_dense(false);
        }
        pass?;
        self.check_weights(1)
    }

    fn predict(&self, samples: &SampleSet) -> Vec<f32> {
        self.logits(samples).into_iter().map(sigmoid).collect()
    }

    fn predict_shared(&self, shared: &SampleSet, rows: &SampleSet) -> Vec<f32> {
        if shared.is_empty() {
            return self.predict(rows);
        }
        self.predict(&merged_with(shared.row(0), rows))
    }

    fn params(&self) -> Value {
        let mut v = self.config.to_json();
        v["fields"] = json!(self.net.as_ref().map_or(0, |n| n.fields));
        v
    }

    fn write(&self, w: &mut ModelWriter) {
        if let Some(net) = &self.net {
            net.write(w);
        }
    }

    fn n_features(&self) -> u32 {
        self.net.as_ref().map_or(0, |n| n.features() as u32)
    }
}
