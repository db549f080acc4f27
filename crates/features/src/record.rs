//! The keys of a raw event record, written in one place: the offline sample builder and
//! the server both build records through these functions, so a model trained on one
//! sees the same keys from the other.
//!
//! | key | value |
//! |-----|-------|
//! | `user_id`, `item_id` | the ids |
//! | `user.<name>`, `item.<name>` | each attribute of the user and the item |
//! | `item.categories` | the item's categories (server records) |
//! | `hist` | the user's previous items, oldest first |
//! | `context.hour`, `context.weekday` | hour of day (0–23) and day of week (0 = Monday), UTC, of the event's time |
//! | `context.<name>` | other request context (server records) |

use funnel_data::{EntityTable, IdMap};

use crate::raw::{RawRecord, RawValue};

/// Key of the user id.
pub const USER_ID: &str = "user_id";
/// Key of the item id.
pub const ITEM_ID: &str = "item_id";
/// Key of the user's previous items.
pub const HIST: &str = "hist";
/// Prefix of user attributes.
pub const USER_PREFIX: &str = "user.";
/// Prefix of item attributes.
pub const ITEM_PREFIX: &str = "item.";
/// Prefix of context values.
pub const CONTEXT_PREFIX: &str = "context.";
/// Key of the item's categories in server records.
pub const ITEM_CATEGORIES: &str = "item.categories";
/// Key of the event's hour of day.
pub const HOUR: &str = "context.hour";
/// Key of the event's day of week.
pub const WEEKDAY: &str = "context.weekday";

/// The attributes of one user or item as record entries (keys already prefixed).
pub type Attributes = Vec<(String, RawValue)>;

/// Whether a raw key is one that [`event_record`] and the server can produce.
pub fn is_record_key(key: &str) -> bool {
    [USER_ID, ITEM_ID, HIST].contains(&key)
        || [USER_PREFIX, ITEM_PREFIX, CONTEXT_PREFIX]
            .iter()
            .any(|p| key.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

/// A JSON value as a raw value: numbers stay numbers, strings and booleans become
/// tokens, arrays of scalars token lists; `None` for objects (nested attributes are not
/// features).
pub fn raw_from_json(v: &serde_json::Value) -> Option<RawValue> {
    use serde_json::Value as J;
    let token = |v: &J| match v {
        J::String(s) => Some(s.clone()),
        J::Number(n) => Some(n.to_string()),
        J::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    Some(match v {
        J::Null => RawValue::Missing,
        J::Number(n) => RawValue::Num(n.as_f64().unwrap_or(f64::NAN)),
        J::String(s) => RawValue::Token(s.clone()),
        J::Bool(b) => RawValue::Token(b.to_string()),
        J::Array(a) => RawValue::Tokens(a.iter().filter_map(token).collect()),
        J::Object(_) => return None,
    })
}

/// The entries of a JSON attributes object, keys prefixed with `prefix` (`user.` or
/// `item.`), in key order.
pub fn json_attributes(prefix: &str, attrs: &serde_json::Value) -> Attributes {
    let Some(obj) = attrs.as_object() else {
        return Vec::new();
    };
    let mut out: Attributes = obj
        .iter()
        .filter_map(|(k, v)| Some((format!("{prefix}{k}"), raw_from_json(v)?)))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Each id's attributes from a table, as record entries (ids without a row get none).
pub fn table_attributes(ids: &IdMap, table: Option<&EntityTable>, prefix: &str) -> Vec<Attributes> {
    let keys: Vec<String> = table.map_or(Vec::new(), |t| {
        t.columns
            .iter()
            .map(|(c, _)| format!("{prefix}{c}"))
            .collect()
    });
    ids.externals()
        .map(|id| match table.and_then(|t| t.get(id)) {
            Some(row) => keys
                .iter()
                .zip(row)
                .map(|(k, v)| (k.clone(), RawValue::from(v)))
                .collect(),
            None => Vec::new(),
        })
        .collect()
}

/// Hour of day (0–23) and day of week (0 = Monday) of Unix time `t`, UTC.
pub fn hour_and_weekday(t: i64) -> (i64, i64) {
    let days = t.div_euclid(86_400);
    let hour = t.rem_euclid(86_400) / 3_600;
    // 1970-01-01 was a Thursday (3 with Monday = 0).
    (hour, (days + 3).rem_euclid(7))
}

impl RawRecord {
    /// Sets `user_id` and the user's attributes.
    pub fn set_user(&mut self, id: &str, attrs: &[(String, RawValue)]) {
        self.insert(USER_ID, id);
        for (k, v) in attrs {
            self.insert(k.as_str(), v.clone());
        }
    }

    /// Sets `item_id` and the item's attributes, first removing every `item.` key of a
    /// previous item (so one record can be reused across candidates).
    pub fn set_item(&mut self, id: &str, attrs: &[(String, RawValue)]) {
        self.retain(|k| !k.starts_with(ITEM_PREFIX));
        self.insert(ITEM_ID, id);
        for (k, v) in attrs {
            self.insert(k.as_str(), v.clone());
        }
    }

    /// Sets `hist`, the user's previous items oldest first.
    pub fn set_history(&mut self, items: Vec<String>) {
        self.insert(HIST, items);
    }

    /// Sets `context.hour` and `context.weekday` from Unix time `t`.
    pub fn set_time(&mut self, t: i64) {
        let (hour, weekday) = hour_and_weekday(t);
        self.insert(HOUR, hour as f64);
        self.insert(WEEKDAY, weekday as f64);
    }

    /// Sets `context.<name>`.
    pub fn set_context(&mut self, name: &str, value: RawValue) {
        self.insert(format!("{CONTEXT_PREFIX}{name}"), value);
    }
}

/// The record of one event: user, item, their attributes, the history (when given) and
/// the time context (when the event has a time).
pub fn event_record(
    user: (&str, &[(String, RawValue)]),
    item: (&str, &[(String, RawValue)]),
    hist: Option<Vec<String>>,
    time: Option<i64>,
) -> RawRecord {
    let mut r = RawRecord::new();
    r.set_user(user.0, user.1);
    r.set_item(item.0, item.1);
    if let Some(h) = hist {
        r.set_history(h);
    }
    if let Some(t) = time {
        r.set_time(t);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekday_and_hour_of_known_dates() {
        // 2026-12-01 13:05 UTC was a Tuesday.
        assert_eq!(hour_and_weekday(1_796_130_300), (13, 1));
        assert_eq!(hour_and_weekday(0), (0, 3));
        assert_eq!(hour_and_weekday(-1), (23, 2));
    }

    #[test]
    fn a_reused_record_forgets_the_previous_item() {
        let a = vec![("item.price".to_string(), RawValue::Num(3.0))];
        let b = vec![("item.brand".to_string(), RawValue::from("x"))];
        let mut r = event_record(("u", &[]), ("i1", &a), Some(vec!["i0".into()]), Some(0));
        r.set_item("i2", &b);
        let fresh = event_record(("u", &[]), ("i2", &b), Some(vec!["i0".into()]), Some(0));
        assert_eq!(r, fresh);
    }

    #[test]
    fn json_attributes_keep_scalars_and_lists() {
        let v =
            serde_json::json!({"age": 30, "tags": ["a", 1], "vip": true, "x": {"y": 1}, "n": null});
        let a = json_attributes("user.", &v);
        let keys: Vec<&str> = a.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(keys, ["user.age", "user.n", "user.tags", "user.vip"]);
        assert_eq!(a[0].1, RawValue::Num(30.0));
        assert_eq!(a[2].1, RawValue::Tokens(vec!["a".into(), "1".into()]));
        assert!(is_record_key("user.age") && is_record_key("hist") && !is_record_key("user."));
        assert!(!is_record_key("price"));
    }
}
