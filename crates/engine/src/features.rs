//! The ranker's features, the same online and offline. A (user, item, context) becomes a
//! raw record through [`funnel_features::record`] — the code the offline sample builder
//! (`funnel rank train --spec`) uses — and the record becomes features through the
//! [`Pipeline`] fitted from a feature spec: the file `[rank] spec` names, or the default
//! [`default_spec`] writes from what the catalogue holds.
//!
//! Records a server builds have `user_id`, `user.<attribute>`, `item_id`,
//! `item.<attribute>`, `item.categories`, `hist` (the user's newest positives before the
//! event, oldest first), `context.hour`, `context.weekday` (UTC, of the event's or the
//! request's time) and `context.<key>` for each key of a request's `context`.

use std::path::Path;
use std::sync::Arc;

use funnel_features::record::{is_record_key, Attributes, HistoryItem, ITEM_CATEGORIES};
use funnel_features::{FeatureSpec, FieldKind, Pipeline, RawRecord, RawValue, SamplesSpec};
use rustc_hash::FxHashMap;

use crate::catalog::ItemState;
use crate::config::RankConfig;
use crate::EngineError;

/// Hash rows of each id-like field of the default spec.
const ID_BUCKETS: u32 = 1 << 17;

/// Training records a pipeline's statistics are fitted on, at most (evenly spaced).
pub const FIT_RECORDS: usize = 200_000;

/// What the keys of server records are, for error messages.
const RECORD_KEYS: &str = "user_id, item_id, hist, user.<attribute>, item.<attribute>, \
                           item.categories, context.hour, context.weekday and context.<request key>";

/// Checks that every key a spec reads is one server records can have.
pub fn check_spec_keys(spec: &FeatureSpec) -> Result<(), String> {
    for f in &spec.fields {
        let keys: Vec<&str> = if f.kind == FieldKind::Cross {
            f.of.iter()
                .filter(|k| spec.field(k).is_none())
                .map(String::as_str)
                .collect()
        } else {
            vec![f.input()]
        };
        if let Some(k) = keys.into_iter().find(|k| !is_record_key(k)) {
            return Err(format!(
                "field `{}` reads `{k}`, which the server's records never have; they have {RECORD_KEYS}",
                f.name
            ));
        }
    }
    Ok(())
}

/// [`check_spec_keys`] for a fitted pipeline (a model trained elsewhere).
pub fn check_pipeline_keys(p: &Pipeline) -> Result<(), String> {
    match p.input_keys().into_iter().find(|k| !is_record_key(k)) {
        Some(k) => Err(format!(
            "its pipeline reads `{k}`, which the server's records never have; they have {RECORD_KEYS}"
        )),
        None => Ok(()),
    }
}

/// The built-in spec: hashed user and item ids, the item's categories, the history,
/// hour and weekday, and one field per attribute the catalogue's users and items have
/// (numbers in quantile buckets, tokens and lists by a vocabulary of values seen at least
/// 5 times); with `cross`, the user × category cross too — for `lr`, which cannot learn
/// interactions itself (FM and FFM learn them from the two fields, and scoring is
/// cheaper without a field that mixes user and item).
pub fn default_spec(
    items: &[ItemState],
    users: &[Arc<Attributes>],
    history: usize,
    cross: bool,
) -> String {
    let mut t = String::from(
        "# The default feature spec of `funnel serve` (docs/serve.md), written at each fit.\n",
    );
    let mut field = |body: &str| {
        t.push_str("\n[[field]]\n");
        t.push_str(body);
        t.push('\n');
    };
    field(&format!(
        "name = \"user_id\"\nkind = \"categorical\"\nhash_buckets = {ID_BUCKETS}"
    ));
    field(&format!(
        "name = \"item_id\"\nkind = \"categorical\"\nhash_buckets = {ID_BUCKETS}"
    ));
    field("name = \"item.categories\"\nkind = \"multi_hot\"\nhash_buckets = 4096");
    if cross {
        field(&format!(
            "name = \"user_x_category\"\nkind = \"cross\"\nof = [\"user_id\", \"item.categories\"]\nhash_buckets = {ID_BUCKETS}"
        ));
    }
    if history > 0 {
        field(&format!(
            "name = \"hist\"\nkind = \"sequence\"\nmax_len = {history}\nhash_buckets = {ID_BUCKETS}"
        ));
    }
    field("name = \"context.hour\"\nkind = \"categorical\"");
    field("name = \"context.weekday\"\nkind = \"categorical\"");
    // One field per attribute key, of the kind most of its values have.
    let mut kinds: FxHashMap<&str, [usize; 3]> = FxHashMap::default();
    let entries = items
        .iter()
        .filter(|i| !i.deleted)
        .flat_map(|i| i.attributes.iter())
        .chain(users.iter().flat_map(|u| u.iter()));
    for (k, v) in entries {
        if k == ITEM_CATEGORIES {
            continue;
        }
        let slot = match v {
            RawValue::Num(_) => 0,
            RawValue::Token(_) => 1,
            RawValue::Tokens(_) => 2,
            RawValue::Missing => continue,
        };
        kinds.entry(k.as_str()).or_default()[slot] += 1;
    }
    let mut keys: Vec<(&str, [usize; 3])> = kinds.into_iter().collect();
    keys.sort_unstable();
    for (k, n) in keys {
        let name = toml::Value::String(k.to_string()).to_string();
        let kind = if n[0] >= n[1].max(n[2]) {
            "kind = \"numeric\"\nbuckets = 10"
        } else if n[1] >= n[2] {
            "kind = \"categorical\"\nmin_count = 5"
        } else {
            "kind = \"multi_hot\"\nmin_count = 5"
        };
        field(&format!("name = {name}\n{kind}"));
    }
    t
}

/// The spec a fit uses, as parsed and as TOML text (saved with the version).
pub fn spec_for(
    cfg: &RankConfig,
    items: &[ItemState],
    users: &[Arc<Attributes>],
) -> Result<(FeatureSpec, String), EngineError> {
    let bad = |message: String| EngineError::Config {
        key: "rank.spec".into(),
        message,
    };
    let (text, path) = if cfg.spec.is_empty() {
        (
            default_spec(items, users, cfg.history, cfg.model == "lr"),
            "<default spec>",
        )
    } else {
        let text = std::fs::read_to_string(&cfg.spec)
            .map_err(|e| bad(format!("{}: cannot read: {e}", cfg.spec)))?;
        (text, cfg.spec.as_str())
    };
    let spec = FeatureSpec::parse(&text, Path::new(path)).map_err(|e| bad(e.to_string()))?;
    check_spec_keys(&spec).map_err(|m| bad(format!("{path}: {m}")))?;
    if !cfg.spec.is_empty() && spec.samples != SamplesSpec::default() {
        tracing::warn!(
            "{}: its [samples] table does not apply in the server (rank.negatives_per_positive and rank.history do)",
            cfg.spec
        );
    }
    Ok((spec, text))
}

/// The part of a record every candidate shares: the user (absent for a session), their
/// history (items, oldest first: `hist` and `hist.<name>`), the time and the request's context.
pub fn user_record<'a>(
    user: Option<(&str, &Attributes)>,
    hist: impl Iterator<Item = &'a ItemState>,
    time: i64,
    context: &[(String, RawValue)],
) -> RawRecord {
    let mut r = RawRecord::new();
    if let Some((id, attrs)) = user {
        r.set_user(id, attrs);
    }
    let hist: Vec<HistoryItem> = hist
        .map(|it| (it.id.as_str(), &it.attributes[..]))
        .collect();
    r.set_history(&hist);
    r.set_time(time);
    for (k, v) in context {
        r.set_context(k, v.clone());
    }
    r
}

/// Puts `item` into a record made by [`user_record`] (replacing the previous item).
pub fn with_item(rec: &mut RawRecord, item: &ItemState) {
    rec.set_item(&item.id, &item.attributes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spec_covers_attributes_and_parses() {
        let mut it = ItemState::new("i1");
        it.attributes = Arc::new(vec![
            ("item.brand".into(), RawValue::from("acme")),
            ("item.price".into(), RawValue::Num(3.5)),
            (ITEM_CATEGORIES.into(), RawValue::Tokens(vec!["a".into()])),
        ]);
        let users = vec![Arc::new(vec![(
            "user.age".to_string(),
            RawValue::Num(30.0),
        )])];
        let text = default_spec(&[it], &users, 10, true);
        let spec = FeatureSpec::parse(&text, Path::new("default")).unwrap();
        let names: Vec<&str> = spec.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "user_id",
                "item_id",
                "item.categories",
                "user_x_category",
                "hist",
                "context.hour",
                "context.weekday",
                "item.brand",
                "item.price",
                "user.age"
            ]
        );
        check_spec_keys(&spec).unwrap();
        assert_eq!(spec.fields[8].kind, FieldKind::Numeric);
    }

    #[test]
    fn specs_reading_keys_records_lack_are_refused() {
        let spec = FeatureSpec::parse(
            "[[field]]\nname = \"price\"\nkind = \"numeric\"\n",
            Path::new("s.toml"),
        )
        .unwrap();
        let e = check_spec_keys(&spec).unwrap_err();
        assert!(
            e.contains("`price`") && e.contains("item.<attribute>"),
            "{e}"
        );
    }
}
