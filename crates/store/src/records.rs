//! The stored records.

use serde::{Deserialize, Serialize};

/// An item: what can be recommended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// External id.
    pub item_id: String,
    /// Categories the item belongs to (request filters match on these).
    pub categories: Vec<String>,
    /// Free attributes, a JSON object.
    pub attributes: serde_json::Value,
    /// Hidden items are never recommended.
    pub hidden: bool,
    /// Publication time, Unix seconds (the `latest` channel orders by it).
    pub timestamp: i64,
    /// Unix seconds after which the item is no longer recommended.
    pub expires_at: Option<i64>,
    /// Free text.
    pub comment: String,
}

impl Item {
    /// A visible item with no categories or attributes, published at time 0.
    pub fn new(id: &str) -> Self {
        Item {
            item_id: id.to_string(),
            categories: Vec::new(),
            attributes: serde_json::Value::Object(Default::default()),
            hidden: false,
            timestamp: 0,
            expires_at: None,
            comment: String::new(),
        }
    }
}

/// A user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// External id.
    pub user_id: String,
    /// Free attributes, a JSON object.
    pub attributes: serde_json::Value,
    /// Free text.
    pub comment: String,
}

impl User {
    /// A user with no attributes.
    pub fn new(id: &str) -> Self {
        User {
            user_id: id.to_string(),
            attributes: serde_json::Value::Object(Default::default()),
            comment: String::new(),
        }
    }
}

/// One feedback event: a user did something (`feedback_type`) with an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// Who.
    pub user_id: String,
    /// Which item.
    pub item_id: String,
    /// What: `click`, `like`, `read`, … (the server's config says which are positive).
    pub feedback_type: String,
    /// When, Unix seconds.
    pub timestamp: i64,
    /// Strength (1 for a plain event; a rating, a watch time, …).
    pub value: f64,
    /// Where the item was shown when this happened (1 = top), if the client said: what
    /// position-bias correction learns from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
}

impl Feedback {
    /// An event of value 1.
    pub fn new(kind: &str, user: &str, item: &str, timestamp: i64) -> Self {
        Feedback {
            user_id: user.to_string(),
            item_id: item.to_string(),
            feedback_type: kind.to_string(),
            timestamp,
            value: 1.0,
            position: None,
        }
    }
}
