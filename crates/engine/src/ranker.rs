//! The ranker a version serves, and how a request's candidates are scored with it.
//!
//! Scoring hundreds of candidates for one user is the request path's largest cost, so the
//! features of each field are computed where they change: fields that read no item key
//! (user, history, context) once per request; fields that read only item keys once per
//! item and version (cached, refreshed when the item's attributes change); only fields
//! mixing both (the user × category cross) per candidate, from a small record holding
//! just the keys they read. The model gets the user's features as one shared row and each
//! candidate's own (`Ranker::predict_shared`): together they are exactly what
//! `Pipeline::transform` gives for the full record — the record `explain` returns and
//! `funnel rank predict` scores — and FM, whose logit splits, visits the shared features
//! once per request instead of once per candidate (equal up to float rounding, ~1e-7).

use std::sync::{Arc, RwLock};

use funnel_features::record::{Attributes, ITEM_ID, ITEM_PREFIX};
use funnel_features::{Pipeline, RawRecord, RawValue, SampleSet};
use funnel_rank::RankModel;
use rustc_hash::FxHashMap;

use crate::catalog::{Catalog, ItemState};
use crate::features;

/// What a field's features depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depends {
    /// No item key: the same for every candidate of a request.
    User,
    /// Only item keys: the same for every request, until the item changes.
    Item,
    /// Both.
    Both,
}

/// Features of an item's item-only fields, in field order, with the attributes they were
/// computed from.
struct ItemFeatures {
    attributes: Arc<Attributes>,
    features: Box<[(u32, u32, f32)]>,
}

/// The ranker a version serves: the bundle `funnel rank train` writes (ranker,
/// calibration, down-sampling correction, fitted pipeline), the pipeline parsed once, and
/// the spec it was fitted from.
pub struct ServedRanker {
    /// The bundle; the online learner updates its ranker in place between refits.
    pub model: RwLock<RankModel>,
    /// The bundle's pipeline, ready to transform records.
    pub pipeline: Pipeline,
    /// The feature spec (TOML) the pipeline was fitted from, when known (a model
    /// published from elsewhere may come without one).
    pub spec: Option<String>,
    depends: Vec<Depends>,
    /// Item keys the `Both` fields read.
    mixed_item_keys: Vec<String>,
    /// The other keys the `Both` fields read.
    mixed_user_keys: Vec<String>,
    /// Item-only features by catalogue item index.
    items: RwLock<FxHashMap<u32, ItemFeatures>>,
}

fn is_item_key(k: &str) -> bool {
    k == ITEM_ID || k.starts_with(ITEM_PREFIX)
}

impl ServedRanker {
    /// Wraps a bundle, which must carry a pipeline whose keys server records have.
    pub fn new(model: RankModel, spec: Option<String>) -> Result<ServedRanker, String> {
        let pipeline = model
            .feature_pipeline()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                "the model has no feature pipeline (it was trained on sample files, or by an \
                 older Funnel); train it with `funnel rank train --spec`"
                    .to_string()
            })?;
        features::check_pipeline_keys(&pipeline)?;
        let mut mixed_item_keys: Vec<String> = Vec::new();
        let mut mixed_user_keys: Vec<String> = Vec::new();
        let depends = (0..pipeline.n_fields() as usize)
            .map(|f| {
                let keys = pipeline.field_keys(f);
                let (any, all) = (
                    keys.iter().any(|k| is_item_key(k)),
                    keys.iter().all(|k| is_item_key(k)),
                );
                match (any, all) {
                    (false, _) => Depends::User,
                    (true, true) => Depends::Item,
                    (true, false) => {
                        for k in keys {
                            let to = if is_item_key(k) {
                                &mut mixed_item_keys
                            } else {
                                &mut mixed_user_keys
                            };
                            if !to.iter().any(|m| m == k) {
                                to.push(k.to_string());
                            }
                        }
                        Depends::Both
                    }
                }
            })
            .collect();
        Ok(ServedRanker {
            model: RwLock::new(model),
            pipeline,
            spec,
            depends,
            mixed_item_keys,
            mixed_user_keys,
            items: RwLock::new(FxHashMap::default()),
        })
    }

    /// Calibrated click probabilities of `items` for the user of `rec` (a record with the
    /// user, history and context: `features::user_record`), in order.
    pub fn score(&self, rec: &RawRecord, cat: &Catalog, items: &[u32]) -> Vec<f32> {
        let p = &self.pipeline;
        // The user's fields once, as one shared row: the model adds each candidate's own.
        let mut user_part = Vec::new();
        for (f, d) in self.depends.iter().enumerate() {
            if *d == Depends::User {
                p.transform_field(f, rec, &mut user_part);
            }
        }
        let mut shared = SampleSet::new();
        shared.push(0.0, None, &user_part);
        shared.n_features = p.n_features();
        shared.n_fields = p.n_fields();
        let mut mixed = RawRecord::new();
        for (k, v) in rec.iter() {
            if self.mixed_user_keys.iter().any(|m| m == k) {
                mixed.insert(k, v.clone());
            }
        }
        let mut set = SampleSet::new();
        let mut buf = Vec::new();
        let mut computed: Vec<(u32, ItemFeatures)> = Vec::new();
        let cache = self.items.read().expect("item features lock");
        for &i in items {
            let item = &cat.items()[i as usize];
            let own;
            let cached: &[(u32, u32, f32)] = match cache.get(&i) {
                Some(e) if Arc::ptr_eq(&e.attributes, &item.attributes) => &e.features,
                _ => {
                    own = self.item_features(item);
                    computed.push((
                        i,
                        ItemFeatures {
                            attributes: item.attributes.clone(),
                            features: own.clone().into_boxed_slice(),
                        },
                    ));
                    &own
                }
            };
            if !self.mixed_item_keys.is_empty() {
                put_item_keys(&mut mixed, item, &self.mixed_item_keys);
            }
            buf.clear();
            let mut at = 0;
            for (f, d) in self.depends.iter().enumerate() {
                match d {
                    Depends::User => {}
                    Depends::Both => p.transform_field(f, &mixed, &mut buf),
                    Depends::Item => {
                        let n = cached[at..].iter().take_while(|x| x.0 == f as u32).count();
                        buf.extend_from_slice(&cached[at..at + n]);
                        at += n;
                    }
                }
            }
            set.push(0.0, None, &buf);
        }
        drop(cache);
        if !computed.is_empty() {
            self.items
                .write()
                .expect("item features lock")
                .extend(computed);
        }
        set.n_features = p.n_features();
        set.n_fields = p.n_fields();
        self.model
            .read()
            .expect("ranker lock")
            .predict_shared(&shared, &set)
    }

    /// The features of an item's item-only fields, in field order.
    fn item_features(&self, item: &ItemState) -> Vec<(u32, u32, f32)> {
        let mut rec = RawRecord::new();
        rec.set_item(&item.id, &item.attributes);
        let mut out = Vec::new();
        for (f, d) in self.depends.iter().enumerate() {
            if *d == Depends::Item {
                self.pipeline.transform_field(f, &rec, &mut out);
            }
        }
        out
    }
}

/// Replaces the item keys in `keys` (`item_id`, `item.<name>`) of `rec` by `item`'s
/// (missing when the item has none).
fn put_item_keys(rec: &mut RawRecord, item: &ItemState, keys: &[String]) {
    for k in keys {
        if k == ITEM_ID {
            rec.insert(ITEM_ID, item.id.as_str());
        } else {
            let v = item
                .attributes
                .iter()
                .find(|(a, _)| a == k)
                .map_or(RawValue::Missing, |(_, v)| v.clone());
            rec.insert(k.as_str(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use funnel_features::FeatureSpec;

    /// The split scoring gives each candidate the features `Pipeline::transform` gives
    /// its full record, field for field, including after an item's attributes change.
    #[test]
    fn split_scoring_equals_scoring_the_full_records() {
        let spec = FeatureSpec::parse(
            &features::default_spec(&[], &[], 3, true).replace(
                "name = \"context.hour\"",
                "name = \"item.price\"\nkind = \"numeric\"\n\n[[field]]\nname = \"p_x_hour\"\nkind = \"cross\"\nof = [\"item.price\", \"context.hour\"]\n\n[[field]]\nname = \"context.hour\"",
            ),
            std::path::Path::new("spec"),
        )
        .unwrap();
        let mut cat = Catalog::new(&Default::default());
        let mut items = Vec::new();
        for i in 0..20 {
            let mut it = funnel_store::Item::new(&format!("i{i}"));
            it.categories = vec![format!("c{}", i % 3)];
            if i % 4 != 0 {
                it.attributes = serde_json::json!({"price": i as f64 * 1.5});
            }
            items.push(cat.upsert_item(&it));
        }
        let records: Vec<RawRecord> = (0..20)
            .map(|i| {
                let mut r = features::user_record(
                    Some(("u1", &Vec::new())),
                    [&cat.items()[3], &cat.items()[4]].into_iter(),
                    1_000_000,
                    &[],
                );
                features::with_item(&mut r, &cat.items()[i]);
                r
            })
            .collect();
        let pipeline = spec.fit(&records).unwrap();
        let mut model = RankModel::new(funnel_rank::build("fm", &Default::default()).unwrap());
        model.pipeline = Some(serde_json::from_str(&pipeline.to_json()).unwrap());
        let served = ServedRanker::new(model, None).unwrap();
        assert!(served.depends.contains(&Depends::User));
        assert!(served.depends.contains(&Depends::Item));
        assert!(served.depends.contains(&Depends::Both));
        let check = |cat: &Catalog| {
            let base = features::user_record(
                Some(("u1", &Vec::new())),
                [&cat.items()[3], &cat.items()[4]].into_iter(),
                1_000_000,
                &[],
            );
            let split = served.score(&base, cat, &items);
            let full: Vec<f32> = items
                .iter()
                .map(|&i| {
                    let mut r = base.clone();
                    features::with_item(&mut r, &cat.items()[i as usize]);
                    let mut f = Vec::new();
                    served.pipeline.transform(&r, &mut f);
                    let mut s = SampleSet::new();
                    s.push(0.0, None, &f);
                    s.n_features = served.pipeline.n_features();
                    s.n_fields = served.pipeline.n_fields();
                    served.model.read().unwrap().predict(&s)[0]
                })
                .collect();
            assert_eq!(split.len(), full.len());
            for (a, b) in split.iter().zip(&full) {
                assert!((a - b).abs() < 1e-6, "{a} vs {b}");
            }
        };
        check(&cat);
        check(&cat); // from the cache
        let mut it = funnel_store::Item::new("i5");
        it.attributes = serde_json::json!({"price": 99.0});
        cat.upsert_item(&it);
        check(&cat); // the changed item is recomputed
    }
}
