//! Request and response bodies, with their OpenAPI schemas. Request bodies reject unknown
//! fields, so a typo is a 422 that names it rather than a silently ignored key.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An item to insert or replace.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemIn {
    /// Item id (1–256 bytes).
    #[schema(min_length = 1, max_length = 256)]
    pub item_id: String,
    /// Categories (request filters match on them).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Free attributes (a JSON object).
    #[serde(default)]
    #[schema(value_type = Object, nullable)]
    pub attributes: Option<serde_json::Value>,
    /// Hidden items are never recommended.
    #[serde(default)]
    pub hidden: bool,
    /// Publication time, Unix seconds (default: now).
    #[serde(default, deserialize_with = "whole::opt_i64")]
    pub timestamp: Option<i64>,
    /// Unix seconds after which the item is no longer recommended (give this or
    /// `ttl_seconds`, not both).
    #[serde(default, deserialize_with = "whole::opt_i64")]
    pub expires_at: Option<i64>,
    /// Time to live in seconds from now (sets `expires_at`).
    #[serde(default, deserialize_with = "whole::opt_u64")]
    pub ttl_seconds: Option<u64>,
    /// Free text.
    #[serde(default)]
    pub comment: String,
}

/// Fields of an item to change; absent fields keep their value.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    /// New categories.
    pub categories: Option<Vec<String>>,
    /// New attributes (a JSON object).
    #[schema(value_type = Object, nullable)]
    pub attributes: Option<serde_json::Value>,
    /// Hide or show.
    pub hidden: Option<bool>,
    /// New publication time.
    #[serde(default, deserialize_with = "whole::opt_i64")]
    pub timestamp: Option<i64>,
    /// New expiry, Unix seconds (give this or `ttl_seconds`, not both).
    #[serde(default, deserialize_with = "whole::opt_i64")]
    pub expires_at: Option<i64>,
    /// New time to live from now.
    #[serde(default, deserialize_with = "whole::opt_u64")]
    pub ttl_seconds: Option<u64>,
    /// New comment.
    pub comment: Option<String>,
}

/// A stored item.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItemOut {
    /// Item id.
    pub item_id: String,
    /// Categories.
    pub categories: Vec<String>,
    /// Attributes.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    /// Hidden flag.
    pub hidden: bool,
    /// Publication time, Unix seconds.
    pub timestamp: i64,
    /// Expiry, Unix seconds.
    pub expires_at: Option<i64>,
    /// Comment.
    pub comment: String,
}

/// A user to insert or replace.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    /// User id (1–256 bytes).
    #[schema(min_length = 1, max_length = 256)]
    pub user_id: String,
    /// Free attributes (a JSON object).
    #[serde(default)]
    #[schema(value_type = Object, nullable)]
    pub attributes: Option<serde_json::Value>,
    /// Free text.
    #[serde(default)]
    pub comment: String,
}

/// A stored user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserOut {
    /// User id.
    pub user_id: String,
    /// Attributes.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    /// Comment.
    pub comment: String,
}

/// A feedback event to record.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackIn {
    /// `click`, `like`, `read`, … (the config says which types are positive, which are reads).
    #[schema(min_length = 1, max_length = 256)]
    pub feedback_type: String,
    /// Who.
    #[schema(min_length = 1, max_length = 256)]
    pub user_id: String,
    /// Which item.
    #[schema(min_length = 1, max_length = 256)]
    pub item_id: String,
    /// When, Unix seconds (default: now).
    #[serde(default, deserialize_with = "whole::opt_i64")]
    pub timestamp: Option<i64>,
    /// Strength (default 1).
    pub value: Option<f64>,
    /// Where the item was shown when this happened, 1 = top (omit when unknown): stored,
    /// and what `lambdamart` with `position_bias` learns the position's effect from.
    #[serde(default, deserialize_with = "whole::opt_i64")]
    #[schema(minimum = 1, maximum = 100000)]
    pub position: Option<i64>,
}

/// A stored feedback event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedbackOut {
    /// Type.
    pub feedback_type: String,
    /// User.
    pub user_id: String,
    /// Item.
    pub item_id: String,
    /// Unix seconds.
    pub timestamp: i64,
    /// Strength.
    pub value: f64,
    /// Where the item was shown (1 = top), when the event said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
}

/// One object or an array of them.
// `Serialize` is derived only so that `untagged` is a known attribute: utoipa reads it and
// documents the body as oneOf(object, array).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single object.
    One(T),
    /// Several.
    Many(Vec<T>),
}

// By hand rather than `#[serde(untagged)]`, whose error ("did not match any variant")
// hides which field was wrong.
impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // The field an error is in, by name (`[3].position: …`), as a plain derive would.
        fn one<T: serde::de::DeserializeOwned>(
            x: serde_json::Value,
            at: &str,
        ) -> Result<T, String> {
            serde_path_to_error::deserialize(x).map_err(|e| {
                let path = e.path().to_string();
                let sep = if at.is_empty() || path == "." {
                    ""
                } else {
                    "."
                };
                let path = if path == "." { String::new() } else { path };
                match (at.is_empty(), path.is_empty()) {
                    (true, true) => e.into_inner().to_string(),
                    _ => format!("{at}{sep}{path}: {}", e.into_inner()),
                }
            })
        }
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Array(v) => v
                .into_iter()
                .enumerate()
                .map(|(i, x)| one(x, &format!("[{i}]")).map_err(D::Error::custom))
                .collect::<Result<Vec<T>, _>>()
                .map(OneOrMany::Many),
            o @ serde_json::Value::Object(_) => {
                one(o, "").map(OneOrMany::One).map_err(D::Error::custom)
            }
            _ => Err(D::Error::custom(
                "expected an object or an array of objects",
            )),
        }
    }
}

impl<T> OneOrMany<T> {
    /// As a list.
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(x) => vec![x],
            OneOrMany::Many(v) => v,
        }
    }
}

/// Answer to a write.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WriteResult {
    /// Rows written (new or replaced).
    pub written: usize,
    /// Feedback events already stored (same user, item, type and timestamp) and so not
    /// counted again; for items and users, records replaced by a later record with the
    /// same id in the same request (the last one is written).
    pub duplicates: usize,
}

/// An error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong and what was expected.
    pub error: String,
}

/// Paging and filtering of a recommendation.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecommendQuery {
    /// Page size (default 10, at most 1000).
    #[param(minimum = 0, maximum = 1000)]
    pub n: Option<usize>,
    /// Items skipped before the page (at most 10000).
    #[param(minimum = 0, maximum = 10000)]
    pub offset: Option<usize>,
    /// Only items in this category.
    pub category: Option<String>,
    /// Comma-separated item ids not to return.
    pub exclude: Option<String>,
    /// Comma-separated channels to use (default: all configured): the configured model
    /// channels (`itemknn`, `mf` by default), `popular`, `latest`. `/openapi.json` lists
    /// the server's own.
    #[param(pattern = "^[a-z0-9_]+(,[a-z0-9_]+)*$")]
    pub channels: Option<String>,
}

/// Paging of a list.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size (default 10, at most 1000).
    #[param(minimum = 0, maximum = 1000)]
    pub n: Option<usize>,
    /// Items skipped (at most 10000).
    #[param(minimum = 0, maximum = 10000)]
    pub offset: Option<usize>,
    /// Only items in this category.
    pub category: Option<String>,
}

/// A session's feedback, for users not stored yet.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// What the visitor did; positive types are scored as their history, every item is
    /// treated as seen.
    pub feedback: Vec<SessionEvent>,
    /// Page size (default 10, at most 1000).
    #[schema(minimum = 0, maximum = 1000)]
    #[serde(default, deserialize_with = "whole::opt_usize")]
    pub n: Option<usize>,
    /// Items skipped (at most 10000).
    #[schema(minimum = 0, maximum = 10000)]
    #[serde(default, deserialize_with = "whole::opt_usize")]
    pub offset: Option<usize>,
    /// Only items in this category.
    pub category: Option<String>,
    /// Item ids not to return.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Channels to use (default: every configured channel; `/openapi.json` lists the
    /// server's own names).
    pub channels: Option<Vec<String>>,
    /// Request context (`{"device": "mobile"}`): the ranker sees each key as
    /// `context.<key>`.
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Value>,
}

/// Items to score for a user (the ranking stage alone).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RankBody {
    /// A stored user.
    pub user_id: String,
    /// Stored items to score (duplicates are scored once; at most `server.max_batch`).
    pub item_ids: Vec<String>,
    /// Request context (`{"device": "mobile"}`): the ranker sees each key as
    /// `context.<key>`; values are numbers, strings, booleans, lists of those, or null.
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Value>,
    /// Return the raw record each item was scored from.
    #[serde(default)]
    pub explain: bool,
}

/// Scored items, highest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RankOut {
    /// The model version that scored them.
    pub model_version: u64,
    /// The items.
    pub items: Vec<RankedOut>,
}

/// One scored item.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RankedOut {
    /// Item id.
    pub item_id: String,
    /// Calibrated click probability.
    pub score: f64,
    /// With `explain`: the raw record (docs/features.md) the ranker scored; `funnel rank
    /// predict --records` gives the same score from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub record: Option<serde_json::Value>,
}

/// One event of a session.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionEvent {
    /// Item id (ids the catalogue does not know are ignored).
    pub item_id: String,
    /// Feedback type (default `click`).
    pub feedback_type: Option<String>,
}

/// One recommended item.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecommendedItem {
    /// Item id.
    pub item_id: String,
    /// Score: ranker probability, merged recall score, or the exploration draw.
    pub score: f64,
    /// `popular`, `latest`, `itemknn`, `mf` or `explore`.
    pub channel: String,
}

/// A neighbour or a listed item with its score.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Scored {
    /// Item or user id.
    pub id: String,
    /// Similarity, click count or publication time, per route.
    pub score: f64,
}

/// Answer to a train request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrainStarted {
    /// False when a fit was already running (it goes on; no second one starts).
    pub started: bool,
}

/// A model version, and whether requests use it now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionOut {
    /// Version number, fit time, data seen, models and last-fit metrics.
    #[serde(flatten)]
    pub info: funnel_engine::VersionInfo,
    /// Whether requests use this version now.
    pub active: bool,
}

/// Model versions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionsOut {
    /// The version requests use (0: none fitted yet).
    pub active: u64,
    /// Kept versions, oldest first.
    pub versions: Vec<VersionOut>,
}

/// Health.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, or what is wrong.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub store: String,
    /// Active model version (0: none yet; popular and latest still answer).
    pub model_version: u64,
    /// Live items.
    pub items: usize,
    /// Live users.
    pub users: usize,
    /// `ok`, `never fitted`, or `failing` (the last fit failed: models stay at
    /// `model_version` and stop following new feedback until a fit succeeds). Readiness
    /// stays 200 then, since every route still answers.
    pub training: String,
    /// Fits failed since the last success.
    pub fit_failures_in_a_row: u64,
    /// The last fit's error, while `training` is `failing`.
    pub last_fit_error: Option<String>,
}

/// Whole numbers that JSON writers may send as `492.0`: JSON Schema counts them as
/// integers, so the API accepts them; fractions are still an error.
mod whole {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};

    fn exact<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<Option<T>, D::Error> {
        let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
            return Ok(None);
        };
        let whole: i128 = if let Some(i) = n.as_i64() {
            i.into()
        } else if let Some(u) = n.as_u64() {
            u.into()
        } else {
            match n.as_f64() {
                // beyond 2^53 a float no longer names one whole number
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => f as i128,
                _ => {
                    return Err(D::Error::custom(format!(
                        "expected a whole number, got {n}"
                    )))
                }
            }
        };
        T::try_from(whole)
            .map(Some)
            .map_err(|_| D::Error::custom(format!("{n} is out of range")))
    }

    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        exact(d)
    }

    pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        exact(d)
    }

    pub fn opt_usize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        exact(d)
    }
}
