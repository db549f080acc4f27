//! Fitted models as one versioned set, the registry that swaps sets atomically, and the
//! fit that makes a new set from the catalogue.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use funnel_ann::{Index, IndexParams, Metric};
use funnel_data::{split, Event as DataEvent, InteractionsBuilder, NoProgress, SplitSpec};
use funnel_features::record::Attributes;
use funnel_features::{RawRecord, SampleSet};
use funnel_metrics::evaluate_full_ranking;
use funnel_rank::RankModel;
use funnel_recall::{Recaller, VectorRecall};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::catalog::{Event, ItemState, Kind};
use crate::config::{params_of, ChannelKind, Config};
use crate::features::{self, user_record, with_item, FIT_RECORDS};
pub use crate::ranker::ServedRanker;
use crate::EngineError;

/// What a model version is, as listed over the API (and kept in its `version.json`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    /// 1, 2, … (0: nothing fitted yet).
    pub version: u64,
    /// Unix seconds when the set was published.
    pub created_at: i64,
    /// Wall time of the fit.
    pub fit_seconds: f64,
    /// Feedback events the fit saw.
    pub feedback: usize,
    /// Users and items with positive feedback in the fit.
    pub users: usize,
    /// See `users`.
    pub items: usize,
    /// Models in the set.
    pub models: Vec<String>,
    /// Last-fit metrics: `itemknn.recall@20`, `mf.ndcg@20`, `ranker.auc`, …
    pub metrics: BTreeMap<String, f64>,
    /// Feedback events that arrived while the fit ran, learnt by the ranker just before
    /// the version went live.
    #[serde(default)]
    pub learnt_after_fit: usize,
    /// The model channels of the version.
    #[serde(default)]
    pub channels: Vec<ChannelInfo>,
    /// Whether the ranker was published (trained elsewhere and uploaded) rather than
    /// fitted here; the recall models then come from the version that was active.
    #[serde(default)]
    pub published: bool,
}

/// A channel of a version, as listed over the API and saved in `version.json`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelInfo {
    /// Its name.
    pub name: String,
    /// The registered model it runs.
    pub model: String,
    /// `user`, `item_to_item` or `vectors`.
    pub kind: ChannelKind,
}

/// One model channel of a version: its fitted model and, for a `vectors` channel, the
/// HNSW index over the model's item vectors.
pub struct Channel {
    /// The channel's name (`[[recall.channel]] name`), as answers carry it.
    pub name: &'static str,
    /// How it recalls.
    pub kind: ChannelKind,
    /// The fitted model.
    pub model: Box<dyn Recaller>,
    /// Inner-product index over the model's item vectors (`vectors` channels).
    pub index: Option<Index>,
}

impl Channel {
    /// The model's vectors (iALS factors and the like), when it has them.
    pub fn vectors(&self) -> Option<&dyn VectorRecall> {
        self.model.vectors()
    }
}

/// The model channels of a version, with the mapping between the models' ids (shared:
/// every channel is fitted on the same interactions) and catalogue indices.
pub struct RecallModels {
    /// Model item → catalogue item.
    pub item_to_catalog: Vec<u32>,
    /// Catalogue item → model item.
    pub item_from_catalog: FxHashMap<u32, u32>,
    /// Model user → catalogue user.
    pub user_to_catalog: Vec<u32>,
    /// Catalogue user → model user.
    pub user_from_catalog: FxHashMap<u32, u32>,
    /// The channels, in the config's order.
    pub channels: Vec<Channel>,
}

impl RecallModels {
    /// The mappings between model ids and catalogue indices, from the first channel's id
    /// maps (`catalog_item` / `catalog_user` give an external id's catalogue index).
    pub fn new(
        channels: Vec<Channel>,
        mut catalog_item: impl FnMut(&str) -> u32,
        mut catalog_user: impl FnMut(&str) -> u32,
    ) -> Result<RecallModels, EngineError> {
        let fitted = channels
            .iter()
            .find_map(|c| c.model.fitted())
            .ok_or_else(|| EngineError::Train("recall models without fitted ids".into()))?;
        if let Some(c) = channels.iter().find(|c| {
            c.model.fitted().is_some_and(|f| {
                f.items.len() != fitted.items.len() || f.users.len() != fitted.users.len()
            })
        }) {
            return Err(EngineError::Train(format!(
                "channel `{}` was fitted on other users or items than the others",
                c.name
            )));
        }
        let item_to_catalog: Vec<u32> = (0..fitted.items.len() as u32)
            .map(|m| catalog_item(fitted.items.external(m)))
            .collect();
        let user_to_catalog: Vec<u32> = (0..fitted.users.len() as u32)
            .map(|m| catalog_user(fitted.users.external(m)))
            .collect();
        let inverse = |v: &[u32]| -> FxHashMap<u32, u32> {
            v.iter().enumerate().map(|(m, &c)| (c, m as u32)).collect()
        };
        Ok(RecallModels {
            item_from_catalog: inverse(&item_to_catalog),
            user_from_catalog: inverse(&user_to_catalog),
            item_to_catalog,
            user_to_catalog,
            channels,
        })
    }

    /// The first channel with vectors (user neighbours, diversity).
    pub fn vectors(&self) -> Option<&dyn VectorRecall> {
        self.channels.iter().find_map(|c| c.vectors())
    }
}

/// The HNSW index over a model's item vectors.
pub fn vector_index(v: &dyn VectorRecall) -> Index {
    let f = v.item_vectors();
    Index::build(&f.data, f.k, Metric::InnerProduct, &IndexParams::default())
}

/// Everything a request needs from training, published as one unit.
pub struct ModelSet {
    /// Version and metrics.
    pub info: VersionInfo,
    /// Recall models, when enough feedback was there to fit them (shared with versions
    /// that only replaced the ranker).
    pub recall: Option<Arc<RecallModels>>,
    /// The ranker with its feature pipeline.
    pub ranker: Option<ServedRanker>,
}

impl ModelSet {
    /// The set before any fit.
    pub fn empty() -> Self {
        ModelSet {
            info: VersionInfo {
                version: 0,
                created_at: 0,
                fit_seconds: 0.0,
                feedback: 0,
                users: 0,
                items: 0,
                models: Vec::new(),
                metrics: BTreeMap::new(),
                learnt_after_fit: 0,
                channels: Vec::new(),
                published: false,
            },
            recall: None,
            ranker: None,
        }
    }
}

/// The live model set and the versions kept for rollback.
pub struct Registry {
    current: ArcSwap<ModelSet>,
    kept: Mutex<Vec<Arc<ModelSet>>>,
    keep: usize,
    next: AtomicU64,
}

impl Registry {
    /// A registry serving the empty set, keeping `keep` versions.
    pub fn new(keep: usize) -> Self {
        Registry {
            current: ArcSwap::from_pointee(ModelSet::empty()),
            kept: Mutex::new(Vec::new()),
            keep: keep.max(1),
            next: AtomicU64::new(1),
        }
    }

    /// The set requests use now (a cheap pointer copy; the set stays alive while held).
    pub fn current(&self) -> Arc<ModelSet> {
        self.current.load_full()
    }

    /// The version number the next published set gets.
    pub fn next_version(&self) -> u64 {
        self.next.fetch_add(1, Ordering::SeqCst)
    }

    /// Claims number `v` for a version made elsewhere (published): it must be above every
    /// number used so far; otherwise the error holds the lowest free one.
    pub fn reserve(&self, v: u64) -> Result<(), u64> {
        let mut next = self.next.load(Ordering::SeqCst);
        loop {
            // u64::MAX is never handed out: the next number must exist.
            if v < next || v == u64::MAX {
                return Err(next);
            }
            match self
                .next
                .compare_exchange(next, v + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Ok(()),
                Err(now) => next = now,
            }
        }
    }

    /// Makes `set` live; requests already running finish on the set they started with.
    pub fn publish(&self, set: ModelSet) -> Arc<ModelSet> {
        let set = Arc::new(set);
        let mut kept = self.kept.lock().expect("registry lock");
        kept.push(set.clone());
        self.current.store(set.clone());
        while kept.len() > self.keep {
            kept.remove(0);
        }
        set
    }

    /// Takes versions read back from disk (oldest first): `active` serves, the others are
    /// kept for rollback, and new versions are numbered above `highest`.
    pub fn restore(&self, sets: Vec<ModelSet>, active: u64, highest: u64) {
        let mut kept = self.kept.lock().expect("registry lock");
        *kept = sets.into_iter().map(Arc::new).collect();
        while kept.len() > self.keep {
            kept.remove(0);
        }
        if let Some(s) = kept.iter().find(|s| s.info.version == active) {
            self.current.store(s.clone());
        }
        let top = kept.iter().map(|s| s.info.version).max().unwrap_or(0);
        self.next.store(top.max(highest) + 1, Ordering::SeqCst);
    }

    /// Version numbers kept.
    pub fn kept_versions(&self) -> Vec<u64> {
        let kept = self.kept.lock().expect("registry lock");
        kept.iter().map(|s| s.info.version).collect()
    }

    /// Makes a kept version live again (rollback, or forward again).
    pub fn activate(&self, version: u64) -> Result<(), EngineError> {
        let kept = self.kept.lock().expect("registry lock");
        let set = kept
            .iter()
            .find(|s| s.info.version == version)
            .ok_or_else(|| EngineError::NotFound {
                what: "model version",
                id: version.to_string(),
            })?;
        self.current.store(set.clone());
        Ok(())
    }

    /// Kept versions, oldest first, and the active one.
    pub fn versions(&self) -> (Vec<VersionInfo>, u64) {
        let kept = self.kept.lock().expect("registry lock");
        (
            kept.iter().map(|s| s.info.clone()).collect(),
            self.current.load().info.version,
        )
    }
}

/// What a fit reads, copied out of the catalogue so requests are not blocked meanwhile.
pub struct TrainingData {
    /// Items by catalogue index.
    pub items: Vec<ItemState>,
    /// User ids by catalogue index.
    pub users: Vec<String>,
    /// User attributes by catalogue index.
    pub user_attributes: Vec<Arc<Attributes>>,
    /// Feedback in arrival order.
    pub log: Vec<Event>,
}

/// Where a fit is, for the status route and `/metrics`.
pub type Phase = Arc<Mutex<String>>;

fn set_phase(p: &Phase, s: &str) {
    *p.lock().expect("phase lock") = s.to_string();
}

/// The catalogue's attributes in the recall stage's form, by the training data's item
/// ids: each category as `category`, each token attribute under its name (numbers are no
/// category and are left out).
fn recall_attributes(
    items: &funnel_data::IdMap,
    data: &TrainingData,
) -> funnel_recall::ItemAttributes {
    let by_id: FxHashMap<&str, &crate::catalog::ItemState> =
        data.items.iter().map(|it| (it.id.as_str(), it)).collect();
    (0..items.len() as u32)
        .map(|i| {
            let Some(it) = by_id.get(items.external(i)) else {
                return Vec::new();
            };
            let mut out: Vec<(String, String)> = it
                .categories
                .iter()
                .map(|c| ("category".to_string(), c.clone()))
                .collect();
            for (key, value) in it.attributes.iter() {
                let Some(name) = key.strip_prefix(funnel_features::record::ITEM_PREFIX) else {
                    continue;
                };
                if key == funnel_features::record::ITEM_CATEGORIES {
                    continue;
                }
                match value {
                    funnel_features::RawValue::Token(v) => out.push((name.to_string(), v.clone())),
                    funnel_features::RawValue::Tokens(vs) => {
                        out.extend(vs.iter().map(|v| (name.to_string(), v.clone())))
                    }
                    _ => {}
                }
            }
            out
        })
        .collect()
}

/// Fits recall models and the ranker on `data`; `version` names the result.
pub fn fit(
    data: &TrainingData,
    cfg: &Config,
    version: u64,
    phase: &Phase,
) -> Result<ModelSet, EngineError> {
    let t0 = Instant::now();
    let mut metrics = BTreeMap::new();
    let mut models = Vec::new();
    set_phase(phase, "building the interaction matrix");
    // Positive events, one per (user, item), newest time kept.
    let mut last: FxHashMap<(u32, u32), i64> = FxHashMap::default();
    for e in data.log.iter().filter(|e| e.kind == Kind::Positive) {
        let t = last.entry((e.user, e.item)).or_insert(e.timestamp);
        *t = (*t).max(e.timestamp);
    }
    let mut pairs: Vec<((u32, u32), i64)> = last.into_iter().collect();
    pairs.sort_unstable();
    let recall = if pairs.len() < cfg.train.min_feedback {
        None
    } else {
        let mut b = InteractionsBuilder::new();
        for &((u, i), t) in &pairs {
            b.push(
                0,
                &DataEvent {
                    user: &data.users[u as usize],
                    item: &data.items[i as usize].id,
                    value: 1.0,
                    // The server refuses times outside 1970..now + skew, but a store
                    // written before that check may hold any i64 (milliseconds, year
                    // 3000): clamped, no record can make every later fit fail. Times
                    // only order each user's events here.
                    timestamp: Some(t.clamp(0, u32::MAX as i64)),
                    kind: None,
                },
            );
        }
        let all = b
            .build()
            .map_err(|e| EngineError::Train(e.to_string()))?
            .remove(0);
        // Each user's newest positive is held out: the reported Recall/NDCG are honest,
        // and serving still uses that event through the user's live history.
        let s = split(&all, &SplitSpec::LeaveLastOut, 0)
            .map_err(|e| EngineError::Train(e.to_string()))?;
        let k = cfg.train.eval_k;
        let eval = |name: &str, m: &dyn Recaller, metrics: &mut BTreeMap<String, f64>| {
            let r = evaluate_full_ranking(&s.train, &s.test, &[k], |users, k| {
                m.recommend(users, k)
                    .map(|ls| {
                        ls.into_iter()
                            .map(|l| l.into_iter().map(|(i, _)| i).collect())
                            .collect()
                    })
                    .unwrap_or_default()
            });
            for key in ["recall", "ndcg"] {
                let mk = format!("{key}@{k}");
                if let Some(v) = r.metrics.get(&mk) {
                    metrics.insert(format!("{name}.{mk}"), *v);
                }
            }
        };
        let mut channels = Vec::new();
        for c in cfg.channels() {
            set_phase(phase, &format!("fitting channel {} ({})", c.name, c.model));
            let mut m = funnel_recall::build(&c.model, &params_of(&c.params))
                .map_err(|e| EngineError::Train(format!("channel `{}`: {e}", c.name)))?;
            if m.uses_item_attributes() {
                m.set_item_attributes(recall_attributes(s.train.items(), data));
            }
            m.fit(&s.train, &NoProgress)
                .map_err(|e| EngineError::Train(format!("channel `{}`: {e}", c.name)))?;
            eval(&c.name, m.as_ref(), &mut metrics);
            models.push(c.model.clone());
            let index = match c.kind {
                ChannelKind::Vectors => {
                    set_phase(phase, &format!("building the HNSW index of {}", c.name));
                    let v = m.vectors().ok_or_else(|| {
                        EngineError::Train(format!(
                            "channel `{}`: {} has no vectors",
                            c.name, c.model
                        ))
                    })?;
                    Some(vector_index(v))
                }
                ChannelKind::User | ChannelKind::ItemToItem => None,
            };
            channels.push(Channel {
                name: crate::pipeline::intern(&c.name),
                kind: c.kind,
                model: m,
                index,
            });
        }
        let item_ids: FxHashMap<&str, u32> = data
            .items
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i as u32))
            .collect();
        let user_ids: FxHashMap<&str, u32> = data
            .users
            .iter()
            .enumerate()
            .map(|(u, id)| (id.as_str(), u as u32))
            .collect();
        Some(Arc::new(RecallModels::new(
            channels,
            |id| item_ids[id],
            |id| user_ids[id],
        )?))
    };
    let ranker = if cfg.rank.model == "none" || pairs.len() < cfg.train.min_feedback {
        None
    } else {
        set_phase(phase, "fitting the ranker");
        let r = fit_ranker(data, cfg, version, &mut metrics)?;
        models.push(format!("ranker:{}", cfg.rank.model));
        Some(r)
    };
    let (users, items) = recall.as_ref().map_or((0, 0), |r| {
        (r.user_to_catalog.len(), r.item_to_catalog.len())
    });
    Ok(ModelSet {
        info: VersionInfo {
            version,
            created_at: now(),
            fit_seconds: t0.elapsed().as_secs_f64(),
            feedback: data.log.len(),
            users,
            items,
            models,
            metrics,
            learnt_after_fit: 0,
            published: false,
            channels: recall.as_ref().map_or_else(Vec::new, |r| {
                r.channels
                    .iter()
                    .map(|c| ChannelInfo {
                        name: c.name.to_string(),
                        model: c.model.name().to_string(),
                        kind: c.kind,
                    })
                    .collect()
            }),
        },
        recall,
        ranker,
    })
}

/// Fits the ranker: records of every feedback event (and sampled negatives) by the
/// spec, the spec's pipeline fitted on the older nine tenths, the ranker trained on them,
/// evaluated — and calibrated, if asked — on the newest tenth, which it then learns too.
fn fit_ranker(
    data: &TrainingData,
    cfg: &Config,
    version: u64,
    metrics: &mut BTreeMap<String, f64>,
) -> Result<ServedRanker, EngineError> {
    let train_err = |e: &dyn std::fmt::Display| EngineError::Train(format!("ranker: {e}"));
    let (spec, spec_text) = features::spec_for(&cfg.rank, &data.items, &data.user_attributes)?;
    // Every (user, item) with feedback of any kind, to keep negatives unseen.
    let mut seen: Vec<(u32, u32)> = data.log.iter().map(|e| (e.user, e.item)).collect();
    seen.sort_unstable();
    seen.dedup();
    let seen = |u: u32, i: u32| seen.binary_search(&(u, i)).is_ok();
    let negatives = cfg.rank.negatives_per_positive;
    let positives = data.log.iter().filter(|e| e.kind == Kind::Positive).count();
    let reads = data.log.iter().filter(|e| e.kind == Kind::Read).count();
    let expected = positives * (1 + negatives) + reads;
    let n_train = expected - expected / 10;
    // Pass 1: the records the pipeline's statistics are fitted on, evenly spaced over
    // the training part (the records are made again in pass 2 rather than all kept).
    let stride = (n_train / FIT_RECORDS).max(1);
    let mut fit_on: Vec<RawRecord> = Vec::new();
    let mut k = 0usize;
    let mut maker = SampleMaker::new(&data.items, negatives, version);
    replay(data, cfg.rank.history, |user, attrs, hist, e| {
        maker.emit(
            user,
            attrs,
            hist,
            e,
            |i| seen(e.user, i),
            &mut |rec, _, _| {
                if k < n_train && k % stride == 0 {
                    fit_on.push(rec.clone());
                }
                k += 1;
            },
        )
    });
    let total = k;
    if total < 2 {
        return Err(EngineError::Train("ranker: fewer than 2 samples".into()));
    }
    let pipeline = spec.fit(&fit_on).map_err(|e| train_err(&e))?;
    drop(fit_on);
    // Pass 2: the same records (same seed), transformed in parallel chunks.
    let mut samples = SampleSet::new();
    let mut chunk: Vec<RawRecord> = Vec::new();
    let mut labels: Vec<f32> = Vec::new();
    // Each sample's user (its group: GAUC's, and a ranking objective's query) and the
    // position its item was shown at (0: not said, or a sampled negative).
    let mut positions: Vec<u32> = Vec::new();
    let mut chunk_users: Vec<u32> = Vec::new();
    let flush = |chunk: &mut Vec<RawRecord>,
                 labels: &mut Vec<f32>,
                 users: &mut Vec<u32>,
                 out: &mut SampleSet| {
        out.extend(&pipeline.transform_set(chunk, labels, users));
        chunk.clear();
        labels.clear();
        users.clear();
    };
    let mut maker = SampleMaker::new(&data.items, negatives, version);
    replay(data, cfg.rank.history, |user, attrs, hist, e| {
        maker.emit(
            user,
            attrs,
            hist,
            e,
            |i| seen(e.user, i),
            &mut |rec, label, position| {
                chunk.push(rec.clone());
                labels.push(label);
                chunk_users.push(e.user);
                positions.push(position);
            },
        );
        if chunk.len() >= 65_536 {
            flush(&mut chunk, &mut labels, &mut chunk_users, &mut samples);
        }
    });
    flush(&mut chunk, &mut labels, &mut chunk_users, &mut samples);
    samples.n_features = pipeline.n_features();
    samples.n_fields = pipeline.n_fields();
    if positions.iter().any(|&p| p > 0) {
        samples.positions = positions;
    }
    let mut r = funnel_rank::build(&cfg.rank.model, &params_of(&cfg.rank.params))
        .map_err(|e| train_err(&e))?;
    let cut = samples.len() - samples.len() / 10;
    let (mut train, mut test) = samples_split(&samples, cut);
    drop(samples);
    if !r.predicts_probabilities() {
        // Ranking objectives rank within queries: a user's samples, made consecutive
        // (in time order within each user).
        for set in [&mut train, &mut test] {
            let mut order: Vec<usize> = (0..set.len()).collect();
            order.sort_by_key(|&i| set.groups[i]);
            *set = set.select(&order);
        }
    }
    r.fit(&train, None).map_err(|e| train_err(&e))?;
    let mut model = RankModel::new(r);
    model.pipeline = Some(serde_json::from_str(&pipeline.to_json()).expect("pipeline JSON"));
    if !test.is_empty() {
        model
            .calibrate(&cfg.rank.calibration, &test)
            .map_err(|e| train_err(&e))?;
        if let Ok(m) = funnel_rank::evaluate(&model.predict(&test), &test) {
            if let Some(auc) = m.auc {
                metrics.insert("ranker.auc".into(), auc);
            }
            metrics.insert("ranker.logloss".into(), m.logloss);
        }
        // The held-out newest samples are learnt too before the model goes live (by
        // models that learn online; trees keep what the fit made).
        if model.ranker.learns_online() {
            model.ranker.partial_fit(&test).map_err(|e| train_err(&e))?;
        }
    }
    tracing::info!(
        "ranker fitted on {} samples; features: {}",
        train.len() + test.len(),
        pipeline.field_names().join(", ")
    );
    ServedRanker::new(model, Some(spec_text)).map_err(|e| train_err(&e))
}

/// Walks the log in arrival order, calling `each(user id, user attributes, hist, event)`
/// with the user's newest `history` positives before the event, oldest first.
fn replay(
    data: &TrainingData,
    history: usize,
    mut each: impl FnMut(&str, &Attributes, &[u32], &Event),
) {
    let mut hist: FxHashMap<u32, std::collections::VecDeque<u32>> = FxHashMap::default();
    for e in &data.log {
        let h = hist.entry(e.user).or_default();
        h.make_contiguous();
        each(
            &data.users[e.user as usize],
            &data.user_attributes[e.user as usize],
            h.as_slices().0,
            e,
        );
        if e.kind == Kind::Positive && history > 0 {
            h.push_back(e.item);
            if h.len() > history {
                h.pop_front();
            }
        }
    }
}

fn samples_split(s: &SampleSet, at: usize) -> (SampleSet, SampleSet) {
    let head: Vec<usize> = (0..at).collect();
    let tail: Vec<usize> = (at..s.len()).collect();
    (s.select(&head), s.select(&tail))
}

/// Draws per negative: a user who has seen nearly every item gets fewer negatives rather
/// than seen ones.
const NEGATIVE_TRIES: usize = 8;

/// Makes the ranker's labelled records of feedback events — positives → 1, reads → 0,
/// and for each positive `negatives` random live items the user has given no feedback
/// on → 0 — the same rule in the trainer and the online learner.
pub struct SampleMaker<'a> {
    items: &'a [ItemState],
    live: Vec<u32>,
    negatives: usize,
    rng: SmallRng,
}

impl<'a> SampleMaker<'a> {
    /// A maker drawing negatives among the live `items`, seeded.
    pub fn new(items: &'a [ItemState], negatives: usize, seed: u64) -> Self {
        SampleMaker {
            items,
            live: (0..items.len() as u32)
                .filter(|&i| !items[i as usize].deleted)
                .collect(),
            negatives,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// Calls `sink(record, label, position)` for each sample of event `e` of `user` (whose
    /// positives before it are `hist`); `seen(item)` says whether the user has given
    /// feedback on an item. `position` is where the event's item was shown (0: not said;
    /// sampled negatives were never shown, and get 0).
    pub fn emit(
        &mut self,
        user: &str,
        attrs: &Attributes,
        hist: &[u32],
        e: &Event,
        seen: impl Fn(u32) -> bool,
        sink: &mut dyn FnMut(&RawRecord, f32, u32),
    ) {
        if e.kind == Kind::Other {
            return;
        }
        let hist = hist.iter().map(|&i| &self.items[i as usize]);
        let mut rec = user_record(Some((user, attrs)), hist, e.timestamp, &[]);
        with_item(&mut rec, &self.items[e.item as usize]);
        match e.kind {
            Kind::Positive => {
                sink(&rec, 1.0, e.position);
                for _ in 0..self.negatives {
                    if self.live.len() < 2 {
                        break;
                    }
                    let unseen = (0..NEGATIVE_TRIES)
                        .map(|_| self.live[self.rng.random_range(0..self.live.len())])
                        .find(|&j| j != e.item && !seen(j));
                    if let Some(j) = unseen {
                        with_item(&mut rec, &self.items[j as usize]);
                        sink(&rec, 0.0, 0);
                    }
                }
            }
            Kind::Read => sink(&rec, 0.0, e.position),
            Kind::Other => {}
        }
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Side-information models see each category as `category` and token attributes
    /// under their names, in the training data's item order; numbers are left out.
    #[test]
    fn recall_attributes_follow_the_training_ids() {
        use funnel_features::RawValue;
        let mut a = ItemState::new("a");
        a.categories = vec!["shoes".into()];
        a.attributes = Arc::new(vec![
            ("item.brand".into(), RawValue::Token("acme".into())),
            (
                "item.tags".into(),
                RawValue::Tokens(vec!["red".into(), "new".into()]),
            ),
            ("item.price".into(), RawValue::Num(3.0)),
            (
                "item.categories".into(),
                RawValue::Tokens(vec!["shoes".into()]),
            ),
        ]);
        let data = TrainingData {
            items: vec![ItemState::new("b"), a],
            users: Vec::new(),
            user_attributes: Vec::new(),
            log: Vec::new(),
        };
        let ids = funnel_data::IdMap::from_externals(["a", "zz", "b"]);
        let got = recall_attributes(&ids, &data);
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(x, y)| (x.to_string(), y.to_string()))
                .collect()
        };
        assert_eq!(
            got[0],
            pairs(&[
                ("category", "shoes"),
                ("brand", "acme"),
                ("tags", "red"),
                ("tags", "new")
            ])
        );
        assert!(got[1].is_empty() && got[2].is_empty());
    }

    /// Negatives are drawn only from items the user has given no feedback on (issue 13:
    /// they used to be any live item, seen ones included).
    #[test]
    fn negatives_are_items_the_user_has_not_seen() {
        let items: Vec<ItemState> = (0..10).map(|i| ItemState::new(&format!("i{i}"))).collect();
        let click = Event {
            user: 0,
            item: 0,
            kind: Kind::Positive,
            timestamp: 1,
            value: 1.0,
            seq: 0,
            position: 0,
        };
        let mut maker = SampleMaker::new(&items, 5, 3);
        let mut negatives = Vec::new();
        for _ in 0..20 {
            // the user has seen i0..i8; only i9 is left
            maker.emit(
                "u",
                &Vec::new(),
                &[],
                &click,
                |i| i < 9,
                &mut |r, label, _| {
                    if label == 0.0 {
                        negatives.push(r.get("item_id").clone());
                    }
                },
            );
        }
        assert!(!negatives.is_empty());
        assert!(negatives.iter().all(|n| *n == "i9".into()), "{negatives:?}");
    }
}
