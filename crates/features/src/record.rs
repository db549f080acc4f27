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
//! | `hist.<name>` | for every item attribute `item.<name>`, the attribute of each item in `hist`, aligned with it: one token per position (a list's first token, a number's text, `∅` where the item lacks it) |
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
/// Prefix of the history's aligned item attributes.
pub const HIST_PREFIX: &str = "hist.";
/// The token of a history position whose item lacks the attribute: every position keeps
/// a token, so `hist.<name>` stays aligned with `hist` (vocabularies map it to their
/// out-of-vocabulary index).
pub const NO_VALUE: &str = "\u{2205}";
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

/// One item of a history: its id and its attributes.
pub type HistoryItem<'a> = (&'a str, &'a [(String, RawValue)]);

/// Whether a raw key is one that [`event_record`] and the server can produce.
pub fn is_record_key(key: &str) -> bool {
    [USER_ID, ITEM_ID, HIST].contains(&key)
        || [USER_PREFIX, ITEM_PREFIX, CONTEXT_PREFIX, HIST_PREFIX]
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

/// One history position's token of an attribute value: the value, a list's first
/// token, a number's text; `None` when missing or empty.
fn position_token(v: &RawValue) -> Option<String> {
    match v {
        RawValue::Missing => None,
        RawValue::Num(x) => crate::stable::num_token(*x),
        RawValue::Token(t) => Some(t.clone()).filter(|t| !t.is_empty()),
        RawValue::Tokens(ts) => ts.iter().find(|t| !t.is_empty()).cloned(),
    }
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

    /// Sets `hist`, the user's previous items oldest first (id and attributes of each),
    /// and `hist.<name>` for every item attribute `item.<name>` any of them has: one
    /// token per item, aligned with `hist` (see [`NO_VALUE`]).
    pub fn set_history(&mut self, items: &[HistoryItem<'_>]) {
        self.retain(|k| !k.starts_with(HIST_PREFIX));
        self.insert(
            HIST,
            items
                .iter()
                .map(|(id, _)| id.to_string())
                .collect::<Vec<_>>(),
        );
        let mut names: Vec<&str> = items
            .iter()
            .flat_map(|(_, attrs)| attrs.iter())
            .filter_map(|(k, _)| k.strip_prefix(ITEM_PREFIX))
            .collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let key = format!("{ITEM_PREFIX}{name}");
            let column: Vec<String> = items
                .iter()
                .map(|(_, attrs)| {
                    attrs
                        .iter()
                        .find(|(k, _)| *k == key)
                        .and_then(|(_, v)| position_token(v))
                        .unwrap_or_else(|| NO_VALUE.to_string())
                })
                .collect();
            self.insert(format!("{HIST_PREFIX}{name}"), column);
        }
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

/// The record of one event: user, item, their attributes, the history (when given: the
/// previous items' ids and attributes, oldest first) and the time context (when the event
/// has a time).
pub fn event_record(
    user: (&str, &[(String, RawValue)]),
    item: (&str, &[(String, RawValue)]),
    hist: Option<&[HistoryItem<'_>]>,
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
        let h: &[HistoryItem] = &[("i0", &[])];
        let mut r = event_record(("u", &[]), ("i1", &a), Some(h), Some(0));
        r.set_item("i2", &b);
        let fresh = event_record(("u", &[]), ("i2", &b), Some(h), Some(0));
        assert_eq!(r, fresh);
    }

    /// Each item attribute gets a history list of one token per `hist` position, whatever
    /// the item has: a value, a list, a number, or nothing.
    #[test]
    fn history_attributes_are_aligned_with_the_history() {
        let a = vec![
            ("item.category".to_string(), RawValue::from("shoes")),
            (
                "item.tags".to_string(),
                RawValue::Tokens(vec!["".into(), "red".into(), "big".into()]),
            ),
        ];
        let b = vec![("item.price".to_string(), RawValue::Num(3.5))];
        let c: Vec<(String, RawValue)> = Vec::new();
        let mut r = RawRecord::new();
        r.set_history(&[("i1", &a), ("i2", &b), ("i1", &a), ("i3", &c)]);
        fn list(r: &RawRecord, k: &str) -> Vec<String> {
            match r.get(k) {
                RawValue::Tokens(t) => t.clone(),
                other => panic!("{k}: {other:?}"),
            }
        }
        assert_eq!(list(&r, "hist"), ["i1", "i2", "i1", "i3"]);
        assert_eq!(
            list(&r, "hist.category"),
            ["shoes", NO_VALUE, "shoes", NO_VALUE]
        );
        assert_eq!(list(&r, "hist.tags"), ["red", NO_VALUE, "red", NO_VALUE]);
        assert_eq!(
            list(&r, "hist.price"),
            [NO_VALUE, "3.5", NO_VALUE, NO_VALUE]
        );
        assert!(is_record_key("hist.category"));
        // a shorter history replaces every list
        r.set_history(&[("i2", &b)]);
        assert_eq!(r.get("hist.category"), &RawValue::Missing);
        assert_eq!(list(&r, "hist.price"), ["3.5"]);
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
