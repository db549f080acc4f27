//! One recommendation request through the funnel, in stages over one request context:
//! retrieve (recall channels) → merge → score (the ranker) → re-rank → the page; and
//! the ranking stage alone for callers with their own candidates ([`Engine::rank`]).

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use funnel_data::Row;
use funnel_features::{RawRecord, RawValue, SampleSet};
use funnel_recall::Recaller;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::catalog::{Catalog, Event, ItemState, UserState};
use crate::config::{ChannelKind, RankConfig};
use crate::features::{user_record, with_item};
use crate::models::{now, ModelSet, RecallModels, SampleMaker, ServedRanker};
use crate::rerank::{explore, mmr, Candidate};
use crate::{Engine, EngineError};

/// Recent history items an `item_to_item` channel looks up neighbours of.
const ITEM_TO_ITEM_SEEDS: usize = 20;

/// A channel name as the `&'static str` answers carry: names come from the config and
/// from saved versions, a handful per process, so each is leaked once.
pub fn intern(name: &str) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES.lock().expect("channel names lock");
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.push(n);
    n
}

/// A recommendation request.
#[derive(Debug, Clone, Default)]
pub struct RecommendRequest {
    /// A stored user (their feedback is the history), or `None` for a session.
    pub user: Option<String>,
    /// Session: item ids the user liked (scored like a history).
    pub session_positive: Vec<String>,
    /// Session: item ids the user has seen (never recommended).
    pub session_seen: Vec<String>,
    /// Page size.
    pub n: usize,
    /// Items to skip before the page.
    pub offset: usize,
    /// Only items in this category.
    pub category: Option<String>,
    /// Item ids not to return.
    pub exclude: Vec<String>,
    /// Channels to use (default: every channel with a quota).
    pub channels: Option<Vec<String>>,
    /// Request context the ranker sees as `context.<key>`.
    pub context: Vec<(String, RawValue)>,
}

/// One recommended item.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recommendation {
    /// Item id.
    pub item_id: String,
    /// Ranker probability, merged recall score (pass-through) or the exploration draw.
    pub score: f64,
    /// The channel that brought the item (`explore` for an exploration slot).
    pub channel: String,
}

/// Items to score for a user: the ranking stage alone, for callers with their own
/// candidates.
#[derive(Debug, Clone, Default)]
pub struct RankRequest {
    /// A stored user.
    pub user: String,
    /// Stored items to score (duplicates are scored once).
    pub items: Vec<String>,
    /// Request context the ranker sees as `context.<key>`.
    pub context: Vec<(String, RawValue)>,
    /// Return each item's raw record too.
    pub explain: bool,
}

/// One scored item of a [`RankAnswer`].
#[derive(Debug, Clone, PartialEq)]
pub struct RankedItem {
    /// Item id.
    pub item_id: String,
    /// Calibrated click probability.
    pub score: f64,
    /// The raw record the ranker scored (with `explain`).
    pub record: Option<RawRecord>,
}

/// Scored items, highest first, and the model version that scored them.
#[derive(Debug, Clone, PartialEq)]
pub struct RankAnswer {
    /// The serving version.
    pub model_version: u64,
    /// The items.
    pub items: Vec<RankedItem>,
}

/// A neighbour (item or user) with its similarity.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Neighbor {
    /// Id.
    pub id: String,
    /// Similarity.
    pub score: f64,
}

/// Reciprocal-rank-fusion constant (Cormack et al. 2009): channels with different score
/// scales are merged by rank.
const RRF_K: f64 = 60.0;

/// What one recommendation request carries through the stages: the catalogue and model
/// set it started with (both held for the whole request), who asks, what they may see.
struct RequestContext<'a> {
    cat: &'a Catalog,
    models: &'a ModelSet,
    now: i64,
    /// The stored user, if any.
    user: Option<&'a UserState>,
    /// Their positives (a session's liked items), oldest first.
    positives: Cow<'a, [u32]>,
    /// Items never to show, sorted.
    seen: Cow<'a, [u32]>,
    exclude: FxHashSet<u32>,
    category: Option<&'a str>,
    context: &'a [(String, RawValue)],
    /// Items the page needs: offset + n.
    want: usize,
}

impl RequestContext<'_> {
    fn allowed(&self, i: u32) -> bool {
        let s = &self.cat.items()[i as usize];
        s.available(self.now)
            && self.seen.binary_search(&i).is_err()
            && !self.exclude.contains(&i)
            && self
                .category
                .is_none_or(|c| s.categories.iter().any(|x| x == c))
    }

    /// The shared part of the ranker's records: the user, their newest `history`
    /// positives, the time and the request's context.
    fn user_record(&self, history: usize) -> RawRecord {
        let n = self.positives.len();
        let hist = self.positives[n.saturating_sub(history)..]
            .iter()
            .map(|&i| &self.cat.items()[i as usize]);
        user_record(
            self.user.map(|u| (u.id.as_str(), &*u.attributes)),
            hist,
            self.now,
            self.context,
        )
    }
}

/// Ranker samples for events learnt online, by the trainer's rule and records.
pub fn online_samples(
    cat: &Catalog,
    events: &[Event],
    cfg: &RankConfig,
    ranker: &ServedRanker,
) -> SampleSet {
    let seed = events
        .first()
        .map_or(0, |e| e.timestamp as u64 ^ e.user as u64);
    let mut maker = SampleMaker::new(cat.items(), cfg.negatives_per_positive, seed);
    let mut set = SampleSet::new();
    let mut buf = Vec::new();
    for e in events {
        let u = &cat.users()[e.user as usize];
        let hist = u.history_before(e.seq, cfg.history);
        maker.emit(
            &u.id,
            &u.attributes,
            hist,
            e,
            |i| u.has_seen(i),
            &mut |rec, label, _| {
                ranker.pipeline.transform(rec, &mut buf);
                set.push(label, None, &buf);
            },
        );
    }
    set.n_features = ranker.pipeline.n_features();
    set.n_fields = ranker.pipeline.n_fields();
    set
}

impl Engine {
    /// Recommends a page of items for a stored user or a session: retrieve → merge →
    /// score → re-rank, each a stage over one [`RequestContext`].
    pub fn recommend(&self, req: &RecommendRequest) -> Result<Vec<Recommendation>, EngineError> {
        if let Some(ch) = &req.channels {
            let known = self.config().channel_names();
            if let Some(bad) = ch.iter().find(|c| !known.contains(c)) {
                return Err(EngineError::BadRequest(format!(
                    "unknown channel `{bad}`; expected some of {}",
                    known.join(", ")
                )));
            }
        }
        let models = self.models();
        let cat = self.catalog();
        let ctx = request_context(&cat, &models, req)?;
        let lists = self.retrieve(&ctx, req.channels.as_deref());
        let mut cands = merge(&lists);
        self.score(&ctx, &mut cands);
        let cands = self.rerank(&ctx, cands);
        let page: Vec<Recommendation> = cands
            .into_iter()
            .skip(req.offset)
            .take(req.n)
            .map(|c| Recommendation {
                item_id: cat.items()[c.item as usize].id.clone(),
                score: c.score,
                channel: c.channel.to_string(),
            })
            .collect();
        self.counters
            .recommend_requests
            .fetch_add(1, Ordering::Relaxed);
        self.counters
            .recommended_items
            .fetch_add(page.len() as u64, Ordering::Relaxed);
        Ok(page)
    }

    /// Stage 1: each channel's allowed candidates, best first (personalised channels
    /// first: an item two channels rank equally is credited to the one that knows the
    /// user).
    fn retrieve(
        &self,
        ctx: &RequestContext<'_>,
        asked: Option<&[String]>,
    ) -> Vec<(&'static str, Vec<u32>)> {
        let rc = &self.config().recall;
        let quota = |name: &str, q: usize| -> usize {
            match asked {
                Some(ch) if !ch.iter().any(|c| c == name) => 0,
                _ => q.max(if asked.is_some() { ctx.want } else { 0 }),
            }
        };
        let history: Vec<u32> = ctx
            .positives
            .iter()
            .rev()
            .take(rc.history)
            .copied()
            .collect();
        let mut lists: Vec<(&'static str, Vec<u32>)> = Vec::new();
        if let Some(r) = &ctx.models.recall {
            let hist: Vec<u32> = history
                .iter()
                .filter_map(|i| r.item_from_catalog.get(i).copied())
                .collect();
            let mut sorted = hist.clone();
            sorted.sort_unstable();
            sorted.dedup();
            let over = ctx.seen.len() + ctx.exclude.len();
            for c in &r.channels {
                let q = quota(c.name, self.channel_quota(c.name));
                if q == 0 || hist.is_empty() {
                    continue;
                }
                let k = 2 * q + over;
                let found: Vec<u32> = match c.kind {
                    ChannelKind::User => c
                        .model
                        .recommend_for_items(&sorted, k)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|x| x.0)
                        .collect(),
                    ChannelKind::ItemToItem => item_to_item(c.model.as_ref(), &hist, k),
                    ChannelKind::Vectors => match (c.vectors(), &c.index) {
                        (Some(v), Some(index)) => {
                            let u = v.embed_history(Row {
                                indices: &sorted,
                                values: None,
                                times: None,
                            });
                            index
                                .search(&u, k, rc.ef_search.max(k))
                                .into_iter()
                                .map(|x| x.0)
                                .collect()
                        }
                        _ => Vec::new(),
                    },
                };
                lists.push((c.name, map_allowed(r, ctx, found.into_iter(), q)));
            }
        }
        let q = quota("popular", rc.popular);
        if q > 0 {
            lists.push((
                "popular",
                ctx.cat
                    .popular()
                    .filter(|&i| ctx.allowed(i))
                    .take(q)
                    .collect(),
            ));
        }
        let q = quota("latest", rc.latest);
        if q > 0 {
            lists.push((
                "latest",
                ctx.cat
                    .latest()
                    .filter(|&i| ctx.allowed(i))
                    .take(q)
                    .collect(),
            ));
        }
        lists
    }

    /// Stage 3: the ranker's click probability (without a ranker, candidates keep their
    /// merged recall score), highest first, ties in id order (the same answer after a
    /// restart).
    fn score(&self, ctx: &RequestContext<'_>, cands: &mut [Candidate]) {
        if let Some(ranker) = &ctx.models.ranker {
            let mut rec = ctx.user_record(self.config().rank.history);
            let p = score_items(
                ranker,
                &mut rec,
                ctx.cat,
                cands.iter().map(|c| c.item),
                None,
            );
            for (c, p) in cands.iter_mut().zip(p) {
                // Recall fusion breaks ties between items the ranker cannot tell apart.
                c.score = p as f64 + 1e-3 * c.score;
            }
        }
        let id = |i: u32| ctx.cat.items()[i as usize].id.as_str();
        cands.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| id(a.item).cmp(id(b.item)))
        });
    }

    /// Stage 4: diversity, the page's length, exploration slots.
    fn rerank(&self, ctx: &RequestContext<'_>, mut cands: Vec<Candidate>) -> Vec<Candidate> {
        let rr = &self.config().rerank;
        if rr.mmr_lambda < 1.0 {
            cands = mmr(cands, ctx.want, rr.mmr_lambda, |a, b| {
                similarity(ctx.models, ctx.cat, a, b)
            });
        }
        cands.truncate(ctx.want);
        explore(&mut cands, ctx.want, rr, ctx.cat, |i| ctx.allowed(i));
        cands
    }

    /// Scores stored items for a stored user with the serving ranker, highest first —
    /// the ranking stage alone.
    pub fn rank(&self, req: &RankRequest) -> Result<RankAnswer, EngineError> {
        let models = self.models();
        let ranker = models.ranker.as_ref().ok_or_else(|| {
            EngineError::NotReady(if self.config().rank.model == "none" {
                "no ranker: rank.model is none".into()
            } else {
                "no ranker yet: the first fit has not finished".into()
            })
        })?;
        let cat = self.catalog();
        let u = cat
            .user_index(&req.user)
            .ok_or_else(|| EngineError::NotFound {
                what: "user",
                id: req.user.clone(),
            })?;
        let mut items: Vec<u32> = Vec::with_capacity(req.items.len());
        let mut dup = FxHashSet::default();
        for id in &req.items {
            let i = cat.item_index(id).ok_or_else(|| EngineError::NotFound {
                what: "item",
                id: id.clone(),
            })?;
            if dup.insert(i) {
                items.push(i);
            }
        }
        let user = &cat.users()[u as usize];
        let ctx = RequestContext {
            cat: &cat,
            models: &models,
            now: now(),
            user: Some(user),
            positives: Cow::Borrowed(&user.positives),
            seen: Cow::Borrowed(&user.seen),
            exclude: FxHashSet::default(),
            category: None,
            context: &req.context,
            want: items.len(),
        };
        let mut rec = ctx.user_record(self.config().rank.history);
        let mut records = req.explain.then(Vec::new);
        let p = score_items(
            ranker,
            &mut rec,
            &cat,
            items.iter().copied(),
            records.as_mut(),
        );
        let mut out: Vec<RankedItem> = items
            .iter()
            .zip(p)
            .enumerate()
            .map(|(k, (&i, p))| RankedItem {
                item_id: cat.items()[i as usize].id.clone(),
                score: p as f64,
                record: records.as_mut().map(|r| std::mem::take(&mut r[k])),
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.item_id.cmp(&b.item_id))
        });
        Ok(RankAnswer {
            model_version: models.info.version,
            items: out,
        })
    }

    /// Items most similar to `item` that may be shown, from the first channel that has
    /// neighbours for it (ItemKNN, then iALS, with the default channels).
    pub fn similar_items(&self, item: &str, n: usize) -> Result<Vec<Neighbor>, EngineError> {
        let models = self.models();
        let cat = self.catalog();
        let i = cat.item_index(item).ok_or_else(|| EngineError::NotFound {
            what: "item",
            id: item.into(),
        })?;
        // Before the first fit there are no neighbours yet: an empty list, not an error,
        // so clients keep working while a new deployment warms up.
        let Some(r) = models.recall.as_ref() else {
            return Ok(Vec::new());
        };
        let Some(&m) = r.item_from_catalog.get(&i) else {
            return Ok(Vec::new()); // no positive feedback when the models were fitted
        };
        let now = now();
        // The first channel, in the config's order, that has neighbours for the item.
        let found = r
            .channels
            .iter()
            .map(|c| c.model.similar_items(m, 4 * n + 10).unwrap_or_default())
            .find(|f| !f.is_empty())
            .unwrap_or_default();
        Ok(found
            .into_iter()
            .map(|(j, s)| (r.item_to_catalog[j as usize], s))
            .filter(|&(j, _)| j != i && cat.items()[j as usize].available(now))
            .take(n)
            .map(|(j, s)| Neighbor {
                id: cat.items()[j as usize].id.clone(),
                score: s as f64,
            })
            .collect())
    }

    /// Users whose vectors (the first `vectors`-capable channel's: iALS by default) are
    /// closest (cosine) to `user`'s.
    pub fn similar_users(&self, user: &str, n: usize) -> Result<Vec<Neighbor>, EngineError> {
        let models = self.models();
        let cat = self.catalog();
        let u = cat.user_index(user).ok_or_else(|| EngineError::NotFound {
            what: "user",
            id: user.into(),
        })?;
        let Some((r, vectors)) = models.recall.as_ref().and_then(|r| Some((r, r.vectors()?)))
        else {
            return Ok(Vec::new());
        };
        let Some(&m) = r.user_from_catalog.get(&u) else {
            return Ok(Vec::new());
        };
        let f = vectors.user_vectors();
        let norm = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        let q = f.row(m as usize);
        let qn = norm(q);
        let mut top = funnel_recall::TopK::new(n + 1);
        for v in 0..f.n {
            if v as u32 == m || cat.users()[r.user_to_catalog[v] as usize].deleted {
                continue;
            }
            let row = f.row(v);
            let dot: f32 = q.iter().zip(row).map(|(a, b)| a * b).sum();
            top.push(v as u32, dot / (qn * norm(row)));
        }
        Ok(top
            .into_sorted()
            .into_iter()
            .take(n)
            .map(|(v, s)| Neighbor {
                id: cat.users()[r.user_to_catalog[v as usize] as usize]
                    .id
                    .clone(),
                score: s as f64,
            })
            .collect())
    }

    /// Most-clicked items that may be shown, optionally in one category.
    pub fn popular(&self, n: usize, offset: usize, category: Option<&str>) -> Vec<Neighbor> {
        let cat = self.catalog();
        let now = now();
        let ok = |s: &ItemState| {
            s.available(now) && category.is_none_or(|c| s.categories.iter().any(|x| x == c))
        };
        cat.popular()
            .map(|i| &cat.items()[i as usize])
            .filter(|s| ok(s))
            .skip(offset)
            .take(n)
            .map(|s| Neighbor {
                id: s.id.clone(),
                score: s.positives as f64,
            })
            .collect()
    }

    /// Newest items that may be shown (score: publication time), optionally in one category.
    pub fn latest(&self, n: usize, offset: usize, category: Option<&str>) -> Vec<Neighbor> {
        let cat = self.catalog();
        let now = now();
        cat.latest()
            .map(|i| &cat.items()[i as usize])
            .filter(|s| {
                s.available(now) && category.is_none_or(|c| s.categories.iter().any(|x| x == c))
            })
            .skip(offset)
            .take(n)
            .map(|s| Neighbor {
                id: s.id.clone(),
                score: s.timestamp as f64,
            })
            .collect()
    }
}

/// Neighbours of the newest history items (model ids, newest first), each item's
/// similarities added up over the seeds it is a neighbour of.
fn item_to_item(model: &dyn Recaller, hist: &[u32], k: usize) -> Vec<u32> {
    let mut score: FxHashMap<u32, f32> = FxHashMap::default();
    for &seed in hist.iter().take(ITEM_TO_ITEM_SEEDS) {
        for (j, s) in model.similar_items(seed, k).unwrap_or_default() {
            *score.entry(j).or_insert(0.0) += s;
        }
    }
    let mut v: Vec<(u32, f32)> = score.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|x| x.0).take(k).collect()
}

fn map_allowed(
    r: &RecallModels,
    ctx: &RequestContext<'_>,
    found: impl Iterator<Item = u32>,
    q: usize,
) -> Vec<u32> {
    found
        .map(|m| r.item_to_catalog[m as usize])
        .filter(|&i| ctx.allowed(i))
        .take(q)
        .collect()
}

/// Click probabilities of `items` for the user of `rec` (a [`RequestContext::user_record`]),
/// in order; with `records`, each item's full raw record is pushed there too (what
/// `explain` returns).
fn score_items(
    ranker: &ServedRanker,
    rec: &mut RawRecord,
    cat: &Catalog,
    items: impl Iterator<Item = u32>,
    records: Option<&mut Vec<RawRecord>>,
) -> Vec<f32> {
    let items: Vec<u32> = items.collect();
    if let Some(r) = records {
        for &i in &items {
            with_item(rec, &cat.items()[i as usize]);
            r.push(rec.clone());
        }
    }
    ranker.score(rec, cat, &items)
}

/// Stage 2: one candidate list, merged by reciprocal-rank fusion; each item keeps the
/// channel that ranked it best.
fn merge(lists: &[(&'static str, Vec<u32>)]) -> Vec<Candidate> {
    let mut merged: FxHashMap<u32, (f64, usize, &'static str)> = FxHashMap::default();
    for (name, list) in lists {
        for (rank, &i) in list.iter().enumerate() {
            let e = merged.entry(i).or_insert((0.0, usize::MAX, name));
            e.0 += 1.0 / (RRF_K + rank as f64 + 1.0);
            if rank < e.1 {
                e.1 = rank;
                e.2 = name;
            }
        }
    }
    merged
        .into_iter()
        .map(|(item, (score, _, channel))| Candidate {
            item,
            score,
            channel,
        })
        .collect()
}

/// The request's user (or session), what they may not see, and its filters.
fn request_context<'a>(
    cat: &'a Catalog,
    models: &'a ModelSet,
    req: &'a RecommendRequest,
) -> Result<RequestContext<'a>, EngineError> {
    let (user, positives, seen) = match &req.user {
        Some(id) => {
            let u = cat.user_index(id).ok_or_else(|| EngineError::NotFound {
                what: "user",
                id: id.clone(),
            })?;
            let s = &cat.users()[u as usize];
            // Borrowed: the catalogue stays read-locked for the whole request.
            (
                Some(s),
                Cow::Borrowed(&s.positives[..]),
                Cow::Borrowed(&s.seen[..]),
            )
        }
        None => {
            let pos: Vec<u32> = req
                .session_positive
                .iter()
                .filter_map(|i| cat.item_index(i))
                .collect();
            let mut seen: Vec<u32> = req
                .session_seen
                .iter()
                .filter_map(|i| cat.item_index(i))
                .chain(pos.iter().copied())
                .collect();
            seen.sort_unstable();
            seen.dedup();
            (None, Cow::Owned(pos), Cow::Owned(seen))
        }
    };
    Ok(RequestContext {
        cat,
        models,
        now: now(),
        user,
        positives,
        seen,
        exclude: req
            .exclude
            .iter()
            .filter_map(|i| cat.item_index(i))
            .collect(),
        category: req.category.as_deref(),
        context: &req.context,
        want: req.offset + req.n,
    })
}

/// Similarity for diversity: cosine of iALS item vectors when both items have one,
/// otherwise the Jaccard overlap of their categories.
fn similarity(models: &ModelSet, cat: &Catalog, a: u32, b: u32) -> f64 {
    if let Some(r) = &models.recall {
        if let (Some(vectors), Some(&x), Some(&y)) = (
            r.vectors(),
            r.item_from_catalog.get(&a),
            r.item_from_catalog.get(&b),
        ) {
            let f = vectors.item_vectors();
            let (u, v) = (f.row(x as usize), f.row(y as usize));
            let dot: f32 = u.iter().zip(v).map(|(p, q)| p * q).sum();
            let nu: f32 = u.iter().map(|p| p * p).sum::<f32>().sqrt();
            let nv: f32 = v.iter().map(|p| p * p).sum::<f32>().sqrt();
            if nu > 0.0 && nv > 0.0 {
                return (dot / (nu * nv)) as f64;
            }
        }
    }
    let (ca, cb) = (
        &cat.items()[a as usize].categories,
        &cat.items()[b as usize].categories,
    );
    if ca.is_empty() || cb.is_empty() {
        return 0.0;
    }
    let inter = ca.iter().filter(|c| cb.contains(c)).count();
    inter as f64 / (ca.len() + cb.len() - inter) as f64
}
