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
    /// Largest model file a publish (`PUT /api/admin/models/{version}/files/ranker.funnel`)
    /// accepts, bytes.
    pub max_model_bytes: u64,
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
            max_model_bytes: 1 << 30,
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
    /// Quota of the default `itemknn` channel (when no `[[recall.channel]]` is given).
    pub itemknn: usize,
    /// Quota of the default `mf` channel (iALS through the HNSW index).
    pub mf: usize,
    /// Items of the user's history used to score (the newest).
    pub history: usize,
    /// HNSW search breadth of `vectors` channels.
    pub ef_search: usize,
    /// `[[recall.channel]]` tables: the model channels. Without any, the two default
    /// channels: `itemknn` (model itemknn, kind user, `train.itemknn` parameters) and
    /// `mf` (model ials, kind vectors, `train.ials` parameters).
    pub channel: Vec<ChannelConfig>,
}

/// How a channel turns a user's recent history into candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ChannelKind {
    /// The model scores every item for the history (`recommend_for_items`).
    User,
    /// The items most similar to each recent item, merged (`similar_items`).
    ItemToItem,
    /// The history embedded as a vector, items found by HNSW search over the model's item
    /// vectors (models with vectors: `funnel models`).
    Vectors,
}

impl ChannelKind {
    /// `user`, `item_to_item` or `vectors`.
    pub fn name(self) -> &'static str {
        match self {
            ChannelKind::User => "user",
            ChannelKind::ItemToItem => "item_to_item",
            ChannelKind::Vectors => "vectors",
        }
    }
}

/// One `[[recall.channel]]`: a registered recall model serving candidates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// The channel's name in answers, `?channels=` and model files (`a-z`, `0-9`, `_`).
    pub name: String,
    /// A registered recall model (`funnel models`).
    pub model: String,
    /// How it recalls.
    pub kind: ChannelKind,
    /// Candidates it brings (0 turns it off).
    #[serde(default = "default_quota")]
    pub quota: usize,
    /// Model parameters (`--set` keys of `funnel eval --model MODEL`).
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
}

fn default_quota() -> usize {
    200
}

/// Names the built-in channels and the answers use.
pub const RESERVED_CHANNELS: &[&str] = &["popular", "latest", "explore", "ranker", "version"];

impl Default for RecallConfig {
    fn default() -> Self {
        RecallConfig {
            popular: 100,
            latest: 50,
            itemknn: 200,
            mf: 200,
            history: 100,
            ef_search: 200,
            channel: Vec::new(),
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
    /// A feature spec file (`docs/features.md`) the ranker's features come from; empty =
    /// the built-in default (ids, categories, `hist`, time of day, every attribute). Its
    /// `[samples]` table does not apply: the server samples by the keys here.
    pub spec: String,
    /// Previous positives in each record's `hist`.
    pub history: usize,
    /// Calibration fitted on the newest tenth of the samples and applied when serving:
    /// `none`, `platt` or `isotonic`.
    pub calibration: String,
}

impl Default for RankConfig {
    fn default() -> Self {
        RankConfig {
            model: "fm".into(),
            online: true,
            online_interval_ms: 200,
            negatives_per_positive: 2,
            params: Default::default(),
            spec: String::new(),
            history: 10,
            calibration: "none".into(),
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
    /// The model channels in effect: the `[[recall.channel]]` tables, or the two defaults.
    pub fn channels(&self) -> Vec<ChannelConfig> {
        if !self.recall.channel.is_empty() {
            return self.recall.channel.clone();
        }
        vec![
            ChannelConfig {
                name: "itemknn".into(),
                model: "itemknn".into(),
                kind: ChannelKind::User,
                quota: self.recall.itemknn,
                params: self.train.itemknn.clone(),
            },
            ChannelConfig {
                name: "mf".into(),
                model: "ials".into(),
                kind: ChannelKind::Vectors,
                quota: self.recall.mf,
                params: self.train.ials.clone(),
            },
        ]
    }

    /// Every channel name a request may ask for: the model channels, then popular and
    /// latest.
    pub fn channel_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.channels().into_iter().map(|c| c.name).collect();
        v.extend(["popular".to_string(), "latest".to_string()]);
        v
    }

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
        let mut seen = std::collections::BTreeSet::new();
        for (k, c) in self.recall.channel.iter().enumerate() {
            let key = format!("recall.channel[{k}]");
            let valid = !c.name.is_empty()
                && c.name.len() <= 64
                && c.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid {
                return bad(
                    &format!("{key}.name"),
                    format!("expected 1 to 64 of a-z, 0-9 and _, got `{}`", c.name),
                );
            }
            if RESERVED_CHANNELS.contains(&c.name.as_str()) || !seen.insert(c.name.clone()) {
                return bad(
                    &format!("{key}.name"),
                    format!(
                        "`{}` is taken (by another channel, or one of {})",
                        c.name,
                        RESERVED_CHANNELS.join(", ")
                    ),
                );
            }
            let Some(entry) = funnel_recall::registry::get(&c.model) else {
                return bad(
                    &format!("{key}.model"),
                    format!(
                        "expected a recall model ({}), got `{}`",
                        funnel_recall::registry::names(),
                        c.model
                    ),
                );
            };
            if c.kind == ChannelKind::Vectors && !entry.vectors {
                let with: Vec<&str> = funnel_recall::registry::MODELS
                    .iter()
                    .filter(|e| e.vectors)
                    .map(|e| e.name)
                    .collect();
                return bad(
                    &format!("{key}.kind"),
                    format!(
                        "`{}` has no vectors to search; kind vectors takes {}",
                        c.model,
                        with.join(", ")
                    ),
                );
            }
            check(&format!("{key}.params"), &c.model, &c.params)?;
        }
        if !["none", "platt", "isotonic"].contains(&self.rank.calibration.as_str()) {
            return bad(
                "rank.calibration",
                format!(
                    "expected none, platt or isotonic, got `{}`",
                    self.rank.calibration
                ),
            );
        }
        if !self.rank.spec.is_empty() {
            let spec = funnel_features::FeatureSpec::from_file(Path::new(&self.rank.spec))
                .map_err(|e| EngineError::Config {
                    key: "rank.spec".into(),
                    message: e.to_string(),
                })?;
            crate::features::check_spec_keys(&spec).map_err(|message| EngineError::Config {
                key: "rank.spec".into(),
                message: format!("{}: {message}", self.rank.spec),
            })?;
        }
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

#[cfg(test)]
mod channel_tests {
    use super::*;

    const THREE: &str = r#"
[[recall.channel]]
name = "cooc"
model = "itemknn"
kind = "item_to_item"
quota = 50

[[recall.channel]]
name = "taste"
model = "ials"
kind = "vectors"
params = { factors = "8" }

[[recall.channel]]
name = "lin"
model = "ease"
kind = "user"
"#;

    #[test]
    fn channel_tables_replace_the_default_channels() {
        let c = Config::from_toml(THREE).unwrap();
        let ch = c.channels();
        let got: Vec<(&str, &str, ChannelKind, usize)> = ch
            .iter()
            .map(|c| (c.name.as_str(), c.model.as_str(), c.kind, c.quota))
            .collect();
        assert_eq!(
            got,
            [
                ("cooc", "itemknn", ChannelKind::ItemToItem, 50),
                ("taste", "ials", ChannelKind::Vectors, 200),
                ("lin", "ease", ChannelKind::User, 200),
            ]
        );
        assert_eq!(
            c.channel_names(),
            ["cooc", "taste", "lin", "popular", "latest"]
        );
        // without tables: the two channels the legacy keys describe
        let d = Config::from_toml("[recall]\nitemknn = 7\nmf = 9\n").unwrap();
        let got: Vec<(String, String, usize)> = d
            .channels()
            .into_iter()
            .map(|c| (c.name, c.model, c.quota))
            .collect();
        assert_eq!(
            got,
            [
                ("itemknn".into(), "itemknn".into(), 7),
                ("mf".into(), "ials".into(), 9)
            ]
        );
    }

    #[test]
    fn bad_channels_are_refused_naming_the_table_and_key() {
        let with = |extra: &str| {
            Config::from_toml(&format!("{THREE}{extra}"))
                .unwrap_err()
                .to_string()
        };
        let table = |body: &str| format!("\n[[recall.channel]]\n{body}\n");
        let e = with(&table("name = \"x\"\nmodel = \"xgboost\"\nkind = \"user\""));
        assert!(
            e.contains("recall.channel[3].model") && e.contains("xgboost"),
            "{e}"
        );
        let e = with(&table("name = \"x\"\nmodel = \"bpr\"\nkind = \"vectors\""));
        assert!(
            e.contains("recall.channel[3].kind") && e.contains("ials"),
            "{e}"
        );
        let e = with(&table(
            "name = \"cooc\"\nmodel = \"popular\"\nkind = \"user\"",
        ));
        assert!(
            e.contains("recall.channel[3].name") && e.contains("taken"),
            "{e}"
        );
        let e = with(&table(
            "name = \"popular\"\nmodel = \"popular\"\nkind = \"user\"",
        ));
        assert!(e.contains("recall.channel[3].name"), "{e}");
        let e = with(&table(
            "name = \"Bad-Name\"\nmodel = \"popular\"\nkind = \"user\"",
        ));
        assert!(
            e.contains("recall.channel[3].name") && e.contains("a-z"),
            "{e}"
        );
        let e = with(&table(
            "name = \"x\"\nmodel = \"itemknn\"\nkind = \"user\"\nparams = { neighbours = \"5\" }",
        ));
        assert!(
            e.contains("recall.channel[3].params") && e.contains("neighbours"),
            "{e}"
        );
        let e = with(&table(
            "name = \"x\"\nmodel = \"itemknn\"\nkind = \"sideways\"",
        ));
        assert!(e.contains("sideways"), "{e}");
    }
}
