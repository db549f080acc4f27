//! The service configuration (`funnel.toml`): every key has a default, unknown keys and
//! wrong types are errors that name the key and its line, and values are range-checked.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::EngineError;

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`: listening, keys, limits, storage.
    pub server: ServerConfig,
    /// `[feedback]`: which feedback types mean what.
    pub feedback: FeedbackConfig,
    /// `[recall]`: candidate channels and their quotas.
    pub recall: RecallConfig,
    /// `[rank]`: the ranker.
    pub rank: RankConfig,
    /// `[rerank]`: diversity and exploration.
    pub rerank: RerankConfig,
    /// `[train]`: the background trainer.
    pub train: TrainConfig,
}

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `HOST:PORT` to listen on.
    pub listen: String,
    /// Directory for the embedded store, the API key and model files.
    pub data_dir: PathBuf,
    /// Store URL: `sqlite://PATH` or `postgres://…`; empty = `DATA_DIR/funnel.db`.
    pub store: String,
    /// Key required in the `X-API-Key` header of writes; empty = generated once and
    /// saved in `DATA_DIR/api-key`.
    pub api_key: String,
    /// Whether recommendation reads need no key: items, recommendations, neighbours,
    /// popular and latest lists.
    pub open_reads: bool,
    /// Whether user records and the feedback histories of users and items need no key
    /// (they are personal data: closed unless opened here).
    pub open_user_data: bool,
    /// Whether the trainer's status, the model versions and `/metrics` need no key.
    pub open_admin: bool,
    /// Largest accepted request body, bytes.
    pub max_body_bytes: usize,
    /// Largest bulk (items, users or feedback per request).
    pub max_batch: usize,
    /// Connections served at once; further ones wait in the listen backlog. Lowered at
    /// start-up to what the process's open-file limit allows.
    pub max_connections: usize,
    /// A request's headers must arrive within this many milliseconds of the connection
    /// being ready for one (which also closes keep-alive connections idle this long).
    pub header_timeout_ms: u64,
    /// A request's body must arrive within this many milliseconds.
    pub body_timeout_ms: u64,
    /// Timestamps (feedback, item publication) are accepted from 0 (1970) up to now plus
    /// this many seconds of client clock skew.
    pub max_clock_skew_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8087".into(),
            data_dir: PathBuf::from("funnel-data"),
            store: String::new(),
            api_key: String::new(),
            open_reads: true,
            open_user_data: false,
            open_admin: false,
            max_body_bytes: 8 << 20,
            max_batch: 10_000,
            max_connections: 1024,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            max_clock_skew_seconds: 86_400,
        }
    }
}

/// `[feedback]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedbackConfig {
    /// Types that mean the user liked the item (clicks for the bandit, positives for training).
    pub positive: Vec<String>,
    /// Types that mean the user was shown the item (impressions: the bandit's trials and
    /// the ranker's negatives when no positive follows).
    pub read: Vec<String>,
    /// Other accepted types: stored and counted as seen (never recommended again), not
    /// learnt from (e.g. `dislike`). A type in none of the three lists is refused.
    pub other: Vec<String>,
    /// Create a user or item that feedback names and the store does not have yet.
    pub auto_insert: bool,
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        FeedbackConfig {
            positive: vec![
                "click".into(),
                "like".into(),
                "purchase".into(),
                "star".into(),
            ],
            read: vec!["read".into(), "impression".into(), "view".into()],
            other: Vec::new(),
            auto_insert: true,
        }
    }
}

/// `[recall]`: how many candidates each channel brings (0 turns a channel off).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecallConfig {
    /// Most positive feedback overall.
    pub popular: usize,
    /// Newest items.
    pub latest: usize,
    /// Item-to-item neighbours of the user's items (ItemKNN).
    pub itemknn: usize,
    /// Matrix factorisation (iALS) through the HNSW index.
    pub mf: usize,
    /// Items of the user's history used to score (the newest).
    pub history: usize,
    /// HNSW search breadth for the `mf` channel.
    pub ef_search: usize,
}

impl Default for RecallConfig {
    fn default() -> Self {
        RecallConfig {
            popular: 100,
            latest: 50,
            itemknn: 200,
            mf: 200,
            history: 100,
            ef_search: 200,
        }
    }
}

/// `[rank]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RankConfig {
    /// A registered ranker (`funnel models`: `lr`, `fm`, `ffm`) or `none` (pass-through:
    /// candidates keep their merged recall score).
    pub model: String,
    /// Learn feedback as it arrives (`partial_fit`) between refits.
    pub online: bool,
    /// How often queued feedback is learnt, milliseconds.
    pub online_interval_ms: u64,
    /// Random unseen items drawn as negatives per positive, when training.
    pub negatives_per_positive: usize,
    /// Ranker parameters (`--set` keys of `funnel rank`), e.g. `{ factors = "8" }`.
    pub params: std::collections::BTreeMap<String, String>,
}

impl Default for RankConfig {
    fn default() -> Self {
        RankConfig {
            model: "fm".into(),
            online: true,
            online_interval_ms: 200,
            negatives_per_positive: 2,
            params: Default::default(),
        }
    }
}

/// `[rerank]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RerankConfig {
    /// Maximal marginal relevance: 1 = relevance only, lower = more diverse lists.
    pub mmr_lambda: f64,
    /// Slots per list given to items with little feedback.
    pub explore_slots: usize,
    /// An item is "new" (explored) while it has fewer than this many feedback events.
    pub explore_max_feedback: u32,
    /// Beta prior α (pseudo-clicks) of Thompson sampling.
    pub thompson_alpha: f64,
    /// Beta prior β (pseudo-non-clicks) of Thompson sampling.
    pub thompson_beta: f64,
    /// Chance that an exploration slot takes a uniformly random new item (ε-greedy)
    /// instead of the Thompson-sampling winner.
    pub epsilon: f64,
}

impl Default for RerankConfig {
    fn default() -> Self {
        RerankConfig {
            mmr_lambda: 1.0,
            explore_slots: 1,
            explore_max_feedback: 10,
            thompson_alpha: 1.0,
            thompson_beta: 10.0,
            epsilon: 0.1,
        }
    }
}

/// `[train]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Seconds between scheduled refits (0 = only on demand).
    pub interval_seconds: u64,
    /// Train at start-up when the store has feedback and no model is saved.
    pub on_start: bool,
    /// Write each fitted version under `DATA_DIR/models` and serve the saved active
    /// version at start-up.
    pub save_versions: bool,
    /// Fewest positive events before models are fitted.
    pub min_feedback: usize,
    /// ItemKNN parameters (`--set` keys of `funnel eval --model itemknn`).
    pub itemknn: std::collections::BTreeMap<String, String>,
    /// iALS parameters.
    pub ials: std::collections::BTreeMap<String, String>,
    /// Model versions kept (the active one, and older ones for rollback).
    pub keep_versions: usize,
    /// Cut-off of the Recall/NDCG reported after each fit.
    pub eval_k: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            interval_seconds: 0,
            on_start: true,
            save_versions: true,
            min_feedback: 10,
            itemknn: Default::default(),
            ials: [("factors", "32"), ("iterations", "10")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            keep_versions: 3,
            eval_k: 20,
        }
    }
}

impl Config {
    /// Reads and validates a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, EngineError> {
        let text = std::fs::read_to_string(path).map_err(|e| EngineError::Config {
            key: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        Config::from_toml(&text).map_err(|e| match e {
            EngineError::Config { key, message } => EngineError::Config {
                key: format!("{}: {key}", path.display()),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Config, EngineError> {
        let c: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            EngineError::Config {
                key: line.map_or_else(|| "config".into(), |l| format!("line {l}")),
                message: e.message().to_string(),
            }
        })?;
        c.validate()?;
        Ok(c)
    }

    /// Range checks that serde cannot express.
    pub fn validate(&self) -> Result<(), EngineError> {
        let bad = |key: &str, message: String| {
            Err(EngineError::Config {
                key: key.to_string(),
                message,
            })
        };
        let r = &self.rerank;
        if !(0.0..=1.0).contains(&r.mmr_lambda) {
            return bad(
                "rerank.mmr_lambda",
                format!("expected a number in [0, 1], got {}", r.mmr_lambda),
            );
        }
        if !(0.0..=1.0).contains(&r.epsilon) {
            return bad(
                "rerank.epsilon",
                format!("expected a probability in [0, 1], got {}", r.epsilon),
            );
        }
        if r.thompson_alpha.is_nan() || r.thompson_alpha <= 0.0 {
            return bad(
                "rerank.thompson_alpha",
                format!("expected a number > 0, got {}", r.thompson_alpha),
            );
        }
        if r.thompson_beta.is_nan() || r.thompson_beta <= 0.0 {
            return bad(
                "rerank.thompson_beta",
                format!("expected a number > 0, got {}", r.thompson_beta),
            );
        }
        if self.rank.model != "none" && funnel_rank::registry::get(&self.rank.model).is_none() {
            return bad(
                "rank.model",
                format!(
                    "expected one of {} or none, got `{}`",
                    funnel_rank::registry::names(),
                    self.rank.model
                ),
            );
        }
        if self.server.max_body_bytes < 1024 {
            return bad(
                "server.max_body_bytes",
                format!("expected at least 1024, got {}", self.server.max_body_bytes),
            );
        }
        if self.server.max_batch == 0 {
            return bad("server.max_batch", "expected at least 1, got 0".into());
        }
        if self.server.max_connections == 0 {
            return bad(
                "server.max_connections",
                "expected at least 1, got 0".into(),
            );
        }
        for (key, v) in [
            ("server.header_timeout_ms", self.server.header_timeout_ms),
            ("server.body_timeout_ms", self.server.body_timeout_ms),
        ] {
            if v < 100 {
                return bad(
                    key,
                    format!("expected at least 100 (milliseconds), got {v}"),
                );
            }
        }
        if !self.server.api_key.is_empty() && self.server.api_key.trim().is_empty() {
            return bad(
                "server.api_key",
                "expected a key, or \"\" to have one generated; got only whitespace".into(),
            );
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad(
                "server.listen",
                format!(
                    "expected HOST:PORT such as 127.0.0.1:8087, got `{}`",
                    self.server.listen
                ),
            );
        }
        if self.feedback.positive.is_empty() {
            return bad(
                "feedback.positive",
                "expected at least one positive feedback type".into(),
            );
        }
        let f = &self.feedback;
        if let Some(t) = f.positive.iter().find(|t| f.read.contains(t)) {
            return bad(
                "feedback.read",
                format!("`{t}` is also a positive type; a type is one or the other"),
            );
        }
        if let Some(t) = f
            .other
            .iter()
            .find(|t| f.positive.contains(t) || f.read.contains(t))
        {
            return bad(
                "feedback.other",
                format!("`{t}` is also a positive or read type; a type is in one list only"),
            );
        }
        if self.train.keep_versions == 0 {
            return bad("train.keep_versions", "expected at least 1, got 0".into());
        }
        if self.train.eval_k == 0 {
            return bad("train.eval_k", "expected at least 1, got 0".into());
        }
        let check =
            |key: &str, model: &str, params: &std::collections::BTreeMap<String, String>| {
                funnel_recall::build(model, &params_of(params))
                    .map(|_| ())
                    .map_err(|e| EngineError::Config {
                        key: key.to_string(),
                        message: e.to_string(),
                    })
            };
        check("train.itemknn", "itemknn", &self.train.itemknn)?;
        check("train.ials", "ials", &self.train.ials)?;
        if self.rank.model != "none" {
            funnel_rank::build(&self.rank.model, &params_of(&self.rank.params)).map_err(|e| {
                EngineError::Config {
                    key: "rank.params".into(),
                    message: e.to_string(),
                }
            })?;
        }
        Ok(())
    }
}

/// `--set`-style parameters from a TOML table.
pub(crate) fn params_of(map: &std::collections::BTreeMap<String, String>) -> funnel_model::Params {
    let mut p = funnel_model::Params::default();
    for (k, v) in map {
        p.set_default(k, v);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_errors_name_the_key() {
        Config::default().validate().unwrap();
        let e = Config::from_toml("[rerank]\nmmr_lambda = 2.0\n").unwrap_err();
        assert!(e.to_string().contains("rerank.mmr_lambda"), "{e}");
        let e = Config::from_toml("[server]\nlisten = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("server.listen"), "{e}");
        let e = Config::from_toml("[rerank]\n\nbogus = 1\n").unwrap_err();
        assert!(
            e.to_string().contains("line 3") && e.to_string().contains("bogus"),
            "{e}"
        );
        let e = Config::from_toml("[recall]\npopular = \"many\"\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = Config::from_toml("[train.ials]\nfactors = \"-3\"\n").unwrap_err();
        assert!(e.to_string().contains("train.ials"), "{e}");
        let e = Config::from_toml("[rank]\nmodel = \"xgboost\"\n").unwrap_err();
        assert!(e.to_string().contains("rank.model"), "{e}");
    }
}
