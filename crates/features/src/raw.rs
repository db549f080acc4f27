//! Raw events: what one (user, item, context) event looks like before it becomes
//! features. The sample builder makes them from interactions and attribute tables; a
//! server makes them from a request. Both go through the same [`Pipeline`].
//!
//! [`Pipeline`]: crate::Pipeline

use std::collections::BTreeMap;

use funnel_data::AttrValue;
use serde::{Deserialize, Serialize};

/// One raw value. In JSON: `null`, a number, a string, or an array of strings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawValue {
    /// No value (absent keys read as this too).
    #[default]
    Missing,
    /// A number (may be NaN or infinite: the field's missing policy then applies).
    Num(f64),
    /// One token (an id, a category, or a number written as text).
    Token(String),
    /// Several tokens (genres, tags, a history of item ids oldest first).
    Tokens(Vec<String>),
}

impl From<f64> for RawValue {
    fn from(x: f64) -> Self {
        RawValue::Num(x)
    }
}
impl From<&str> for RawValue {
    fn from(s: &str) -> Self {
        RawValue::Token(s.to_string())
    }
}
impl From<String> for RawValue {
    fn from(s: String) -> Self {
        RawValue::Token(s)
    }
}
impl From<Vec<String>> for RawValue {
    fn from(v: Vec<String>) -> Self {
        RawValue::Tokens(v)
    }
}
impl From<&[&str]> for RawValue {
    fn from(v: &[&str]) -> Self {
        RawValue::Tokens(v.iter().map(|s| s.to_string()).collect())
    }
}
impl From<&AttrValue> for RawValue {
    /// Attribute tables keep their kinds: tokens and text become a token, numbers a
    /// number, multi-valued attributes a token list.
    fn from(a: &AttrValue) -> Self {
        match a {
            AttrValue::Categorical(s) | AttrValue::Text(s) => RawValue::Token(s.clone()),
            AttrValue::Numeric(x) => RawValue::Num(*x),
            AttrValue::Multi(v) => RawValue::Tokens(v.clone()),
            AttrValue::Missing => RawValue::Missing,
        }
    }
}

/// A raw event: an ordered map from names (`user_id`, `item.class`, `hist`, …) to
/// values. In JSON: an object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawRecord(BTreeMap<String, RawValue>);

static MISSING: RawValue = RawValue::Missing;

impl RawRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` (replacing any value it had).
    pub fn insert(&mut self, key: impl Into<String> + AsRef<str>, value: impl Into<RawValue>) {
        // A key already there keeps its string: a server reusing one record per
        // candidate replaces values without allocating keys.
        match self.0.get_mut(key.as_ref()) {
            Some(v) => *v = value.into(),
            None => {
                self.0.insert(key.into(), value.into());
            }
        }
    }

    /// The record with `key` set, for building records in one expression.
    pub fn with(mut self, key: impl Into<String> + AsRef<str>, value: impl Into<RawValue>) -> Self {
        self.insert(key, value);
        self
    }

    /// The value of `key`; [`RawValue::Missing`] when absent.
    pub fn get(&self, key: &str) -> &RawValue {
        self.0.get(key).unwrap_or(&MISSING)
    }

    /// Keeps only the keys for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.0.retain(|k, _| keep(k));
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<RawValue>> FromIterator<(K, V)> for RawRecord {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        RawRecord(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_get_and_json() {
        let r = RawRecord::new()
            .with("user_id", "u1")
            .with("user.age", 24.0)
            .with("item.class", &["Action", "Comedy"][..])
            .with("gone", RawValue::Missing);
        assert_eq!(r.get("user_id"), &RawValue::Token("u1".into()));
        assert_eq!(r.get("absent"), &RawValue::Missing);
        assert_eq!(r.len(), 4);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"gone":null,"item.class":["Action","Comedy"],"user.age":24.0,"user_id":"u1"}"#
        );
        let back: RawRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let from_attrs: RawRecord = [
            ("a", RawValue::from(&AttrValue::Numeric(1.5))),
            ("b", RawValue::from(&AttrValue::Multi(vec!["x".into()]))),
            ("c", RawValue::from(&AttrValue::Text("Toy Story".into()))),
        ]
        .into_iter()
        .collect();
        assert_eq!(from_attrs.get("c"), &RawValue::Token("Toy Story".into()));
        assert_eq!(from_attrs.iter().count(), 3);
    }
}
