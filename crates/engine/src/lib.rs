//! # funnel-engine — the serving engine behind `funnel serve`
//!
//! [`Engine`] holds what a request needs in memory and runs the funnel per request:
//! recall channels (popular, latest, and the model channels of `[[recall.channel]]`: any
//! registered recall model scoring the history, giving item-to-item neighbours, or
//! searched through an HNSW index over its vectors — ItemKNN and iALS by default) →
//! merge by reciprocal-rank fusion, keeping the channel that ranked each item best → the
//! ranker (LR/FM/FFM from `funnel-rank`, or pass-through) → re-rank (drop seen, hidden,
//! expired, excluded and off-category items; maximal marginal relevance; exploration slots
//! for items with little feedback, by Thompson sampling or ε-greedy) → the page asked for.
//!
//! Learning while serving: each feedback event updates popularity and the bandit's
//! counts at once and is queued for the online ranker (`partial_fit` every
//! `rank.online_interval_ms`); a background trainer refits everything on a schedule or on
//! demand and publishes a new [`ModelSet`] version atomically ([`Registry`]), keeping
//! older versions for rollback; feedback that arrived during the fit is learnt just before
//! the swap. Each version is saved under the data directory ([`persist`]) and a restart
//! serves the active one at once.
//!
//! The engine is synchronous and storage-agnostic: the server writes to `funnel-store`
//! first and tells the engine only about acknowledged writes.
#![warn(missing_docs)]

pub mod catalog;
pub mod config;
pub mod features;
pub mod models;
pub mod persist;
pub mod pipeline;
pub mod ranker;
pub mod rerank;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use funnel_store::{Feedback, Item, User};
use serde::Serialize;

pub use catalog::Catalog;
pub use config::Config;
pub use models::ServedRanker;
pub use models::{ModelSet, Registry, VersionInfo};
pub use pipeline::{
    Neighbor, RankAnswer, RankRequest, RankedItem, RecommendRequest, Recommendation,
};

/// Errors of the engine, each mapped to an HTTP status by the server.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A configuration key with a bad value.
    #[error("config `{key}`: {message}")]
    Config {
        /// The key (or file and line).
        key: String,
        /// What was expected.
        message: String,
    },
    /// An id the catalogue does not have.
    #[error("{what} `{id}` not found")]
    NotFound {
        /// `user`, `item`, `model version`.
        what: &'static str,
        /// The id.
        id: String,
    },
    /// A request that cannot be served as asked.
    #[error("{0}")]
    BadRequest(String),
    /// A fit failed.
    #[error("training failed: {0}")]
    Train(String),
    /// The request conflicts with what is running (a fit already in progress).
    #[error("{0}")]
    Conflict(String),
    /// Model files under the data directory could not be written or read.
    #[error("model files: {0}")]
    ModelFiles(String),
    /// What the request needs is not there yet (no ranker fitted, say).
    #[error("{0}")]
    NotReady(String),
}

/// Counters exported to `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Items returned by recommendation routes.
    pub recommended_items: AtomicU64,
    /// Recommendation requests answered.
    pub recommend_requests: AtomicU64,
    /// New feedback events recorded.
    pub feedback_ingested: AtomicU64,
    /// Samples learnt by the online ranker.
    pub online_samples: AtomicU64,
    /// Fits finished.
    pub fits: AtomicU64,
    /// Fits failed.
    pub fit_failures: AtomicU64,
}

/// The trainer's state, as reported over the API.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrainStatus {
    /// Whether a fit is running.
    pub running: bool,
    /// What the running fit is doing (empty when idle).
    pub phase: String,
    /// Unix seconds when the running (or last) fit started.
    pub started_at: Option<i64>,
    /// Unix seconds when the last fit ended.
    pub finished_at: Option<i64>,
    /// The error of the last fit, if it failed.
    pub last_error: Option<String>,
    /// Fits that failed since the last one that succeeded (0 when the last one worked).
    pub failures_in_a_row: u64,
    /// Why the last fitted version could not be written to disk (it serves anyway, but a
    /// restart will not find it).
    pub last_save_error: Option<String>,
    /// Version published by the last successful fit.
    pub last_version: Option<u64>,
    /// Metrics of the last successful fit (`itemknn.recall@20`, `mf.ndcg@20`, `ranker.auc`, …).
    pub last_metrics: std::collections::BTreeMap<String, f64>,
    /// Seconds the last successful fit took.
    pub last_fit_seconds: Option<f64>,
}

/// The serving engine.
pub struct Engine {
    config: Config,
    catalog: RwLock<Catalog>,
    registry: Registry,
    /// Counters for `/metrics`.
    pub counters: Counters,
    status: Mutex<TrainStatus>,
    phase: models::Phase,
    training: AtomicBool,
    online_queue: Mutex<Vec<catalog::Event>>,
    /// Serialises writes under `models_dir` (a fit's save, activations).
    disk: Mutex<()>,
    /// The model channels in effect (`Config::channels`, computed once).
    channels: Vec<config::ChannelConfig>,
    /// Where versions are saved (`DATA_DIR/models`), once [`Engine::restore_versions`]
    /// has set it; engines without one (tests, `funnel eval`) keep versions in memory.
    models_dir: std::sync::OnceLock<std::path::PathBuf>,
}

impl Engine {
    /// An engine with an empty catalogue and no models.
    pub fn new(config: Config) -> Arc<Engine> {
        Arc::new(Engine {
            catalog: RwLock::new(Catalog::new(&config.feedback)),
            registry: Registry::new(config.train.keep_versions),
            counters: Counters::default(),
            status: Mutex::new(TrainStatus {
                running: false,
                phase: String::new(),
                started_at: None,
                finished_at: None,
                last_error: None,
                failures_in_a_row: 0,
                last_save_error: None,
                last_version: None,
                last_metrics: Default::default(),
                last_fit_seconds: None,
            }),
            phase: Default::default(),
            training: AtomicBool::new(false),
            online_queue: Mutex::new(Vec::new()),
            models_dir: std::sync::OnceLock::new(),
            disk: Mutex::new(()),
            channels: config.channels(),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The quota of model channel `name` in the config (0 for a channel a saved version
    /// has but the config no longer names).
    pub fn channel_quota(&self, name: &str) -> usize {
        self.channels
            .iter()
            .find(|c| c.name == name)
            .map_or(0, |c| c.quota)
    }

    /// Fills the catalogue from the store's contents (at start-up).
    pub fn load(&self, items: &[Item], users: &[User], feedback: &[Feedback]) {
        let mut c = self.catalog.write().expect("catalog lock");
        for it in items {
            c.upsert_item(it);
        }
        for u in users {
            c.upsert_user(u);
        }
        for f in feedback {
            c.add_feedback(f);
        }
    }

    /// Read access to the catalogue.
    pub fn catalog(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        self.catalog.read().expect("catalog lock")
    }

    /// Records stored items.
    pub fn upsert_items(&self, items: &[Item]) {
        let mut c = self.catalog.write().expect("catalog lock");
        for it in items {
            c.upsert_item(it);
        }
    }

    /// Records stored users.
    pub fn upsert_users(&self, users: &[User]) {
        let mut c = self.catalog.write().expect("catalog lock");
        for u in users {
            c.upsert_user(u);
        }
    }

    /// Forgets a deleted item.
    pub fn delete_item(&self, id: &str) -> bool {
        self.catalog.write().expect("catalog lock").delete_item(id)
    }

    /// Forgets a deleted user.
    pub fn delete_user(&self, id: &str) -> bool {
        self.catalog.write().expect("catalog lock").delete_user(id)
    }

    /// Records stored feedback (only events that were new to the store): popularity and
    /// the bandit's counts change at once; the online ranker learns them shortly.
    pub fn add_feedback(&self, events: &[Feedback]) {
        let mut c = self.catalog.write().expect("catalog lock");
        let learnt: Vec<catalog::Event> = events.iter().map(|f| c.add_feedback(f)).collect();
        // Queued while the catalogue is still locked: a fit being published (which holds
        // the catalogue) sees each event either in the log or in the queue, never in
        // between.
        if self.config.rank.online {
            self.online_queue.lock().expect("queue lock").extend(learnt);
        }
        drop(c);
        self.counters
            .feedback_ingested
            .fetch_add(events.len() as u64, Ordering::Relaxed);
    }

    /// Learns queued feedback with the live ranker; returns the samples learnt.
    pub fn learn_queued(&self) -> usize {
        let events = std::mem::take(&mut *self.online_queue.lock().expect("queue lock"));
        if events.is_empty() {
            return 0;
        }
        let set = self.registry.current();
        let Some(ranker) = &set.ranker else {
            return 0;
        };
        let samples = {
            let c = self.catalog();
            pipeline::online_samples(&c, &events, &self.config.rank, ranker)
        };
        let n = samples.len();
        if n > 0
            && ranker
                .model
                .write()
                .expect("ranker lock")
                .ranker
                .partial_fit(&samples)
                .is_ok()
        {
            self.counters
                .online_samples
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        n
    }

    /// The live model set.
    pub fn models(&self) -> Arc<ModelSet> {
        self.registry.current()
    }

    /// Kept versions and the active one.
    pub fn versions(&self) -> (Vec<VersionInfo>, u64) {
        self.registry.versions()
    }

    /// Makes a kept version live (rollback); a restart serves it too.
    pub fn activate(&self, version: u64) -> Result<(), EngineError> {
        // Held across the switch and its record on disk, so concurrent activations and a
        // fit's save leave ACTIVE naming the version that serves.
        let _disk = self.disk.lock().expect("disk lock");
        self.registry.activate(version)?;
        if let Some(dir) = self.models_dir.get() {
            persist::set_active(dir, version)?;
        }
        Ok(())
    }

    /// Saves every version fitted from now on under `dir` and reads back the versions
    /// already there (after [`Engine::load`]: their ids are matched to the catalogue).
    /// Returns the version now serving, if one loaded.
    pub fn restore_versions(&self, dir: std::path::PathBuf) -> Option<u64> {
        let restored = {
            let mut c = self.catalog.write().expect("catalog lock");
            persist::restore(&dir, self.config.train.keep_versions, &mut c)
        };
        let _ = self.models_dir.set(dir);
        let active = restored.active?;
        let n = restored.sets.len();
        self.registry
            .restore(restored.sets, active, restored.highest);
        tracing::info!("serving model version {active} from disk ({n} kept)");
        Some(active)
    }

    /// The path of file `name` of kept version `version` on disk (for download).
    pub fn version_file(
        &self,
        version: u64,
        name: &str,
    ) -> Result<std::path::PathBuf, EngineError> {
        let not_found = |what: &'static str, id: String| EngineError::NotFound { what, id };
        if !persist::is_version_file(name) {
            return Err(EngineError::BadRequest(format!(
                "name: expected version.json, ranker.funnel, CHANNEL.funnel or CHANNEL.hnsw, \
                 got `{name}`"
            )));
        }
        let dir = self
            .models_dir
            .get()
            .ok_or_else(|| not_found("model version", version.to_string()))?;
        if !self.registry.kept_versions().contains(&version) {
            return Err(not_found("model version", version.to_string()));
        }
        let p = persist::version_dir(dir, version).join(name);
        if !p.is_file() {
            return Err(not_found("model file", format!("v{version}/{name}")));
        }
        Ok(p)
    }

    /// Writes a just-published version to disk, marks it active, drops versions no
    /// longer kept.
    fn save_version(&self, set: &ModelSet) -> Result<(), EngineError> {
        let Some(dir) = self.models_dir.get() else {
            return Ok(());
        };
        let _disk = self.disk.lock().expect("disk lock");
        persist::save(dir, set)?;
        persist::set_active(dir, self.registry.versions().1)?;
        persist::prune(dir, &self.registry.kept_versions())
    }

    /// Publishes a ranker trained elsewhere (`funnel rank train --spec`, a GPU box) as
    /// version `version`, beside the recall models of the active version. The file must
    /// be a `RankModel` bundle whose feature pipeline reads keys server records have;
    /// `version` must be above every number used. The new version goes live and is saved
    /// like a fitted one.
    pub fn publish_ranker(
        &self,
        version: u64,
        file: &std::path::Path,
    ) -> Result<VersionInfo, EngineError> {
        let shown = file.display().to_string();
        let bad = |e: &dyn std::fmt::Display| {
            EngineError::BadRequest(format!(
                "ranker.funnel: {}",
                e.to_string().replace(&format!("{shown}: "), "")
            ))
        };
        let model = funnel_rank::RankModel::load(file).map_err(|e| bad(&e))?;
        let name = model.ranker.name();
        let served = ServedRanker::new(model, None).map_err(|e| bad(&e))?;
        self.registry.reserve(version).map_err(|next| {
            EngineError::Conflict(format!(
                "version {version} exists, was used before or is out of range; publish as version {next} or above"
            ))
        })?;
        let base = self.registry.current();
        let mut info = base.info.clone();
        info.version = version;
        info.created_at = models::now();
        info.fit_seconds = 0.0;
        info.learnt_after_fit = 0;
        info.published = true;
        info.models.retain(|m| !m.starts_with("ranker:"));
        info.models.push(format!("ranker:{name}"));
        info.metrics.retain(|k, _| !k.starts_with("ranker."));
        let set = ModelSet {
            info: info.clone(),
            recall: base.recall.clone(),
            ranker: Some(served),
        };
        // Written before it goes live: a publish that cannot be saved changes nothing.
        if let Some(dir) = self.models_dir.get() {
            let _disk = self.disk.lock().expect("disk lock");
            persist::save(dir, &set)?;
        }
        self.registry.publish(set);
        if let Some(dir) = self.models_dir.get() {
            let _disk = self.disk.lock().expect("disk lock");
            persist::set_active(dir, self.registry.versions().1)?;
            persist::prune(dir, &self.registry.kept_versions())?;
        }
        tracing::info!("published ranker ({name}) as model version {version}");
        Ok(info)
    }

    /// The trainer's state.
    pub fn train_status(&self) -> TrainStatus {
        let mut s = self.status.lock().expect("status lock").clone();
        s.phase = self.phase.lock().expect("phase lock").clone();
        s
    }

    /// Fits a new version now, on this thread, and publishes it. Errors when a fit is
    /// already running.
    pub fn train_blocking(&self) -> Result<VersionInfo, EngineError> {
        self.train_blocking_with(|| {})
    }

    /// [`Engine::train_blocking`], running `during` after the fit has copied its data and
    /// before the new version is published (tests send feedback mid-fit through it).
    ///
    /// Feedback that arrives while the fit runs is not in its copy: with online learning
    /// on, the new ranker learns it just before the swap, under the catalogue's lock, and
    /// the online queue is emptied at the same moment — every event reaches the new
    /// ranker exactly once (`VersionInfo::learnt_after_fit` counts them).
    pub fn train_blocking_with(&self, during: impl FnOnce()) -> Result<VersionInfo, EngineError> {
        if self.training.swap(true, Ordering::SeqCst) {
            return Err(EngineError::Conflict("a fit is already running".into()));
        }
        let started = models::now();
        {
            let mut s = self.status.lock().expect("status lock");
            s.running = true;
            s.started_at = Some(started);
        }
        let (data, copied_up_to) = {
            let c = self.catalog();
            let data = models::TrainingData {
                items: c.items().to_vec(),
                users: c.users().iter().map(|u| u.id.clone()).collect(),
                user_attributes: c.users().iter().map(|u| u.attributes.clone()).collect(),
                log: c.log().to_vec(),
            };
            (data, c.next_seq())
        };
        let version = self.registry.next_version();
        let result = models::fit(&data, &self.config, version, &self.phase);
        drop(data);
        during();
        let result = result.and_then(|set| self.publish_fit(set, copied_up_to));
        let mut s = self.status.lock().expect("status lock");
        s.running = false;
        s.finished_at = Some(models::now());
        *self.phase.lock().expect("phase lock") = String::new();
        let out = match result {
            Ok(info) => {
                s.last_error = None;
                s.failures_in_a_row = 0;
                s.last_version = Some(info.version);
                s.last_metrics = info.metrics.clone();
                s.last_fit_seconds = Some(info.fit_seconds);
                self.counters.fits.fetch_add(1, Ordering::Relaxed);
                Ok(info)
            }
            Err(e) => {
                s.last_error = Some(e.to_string());
                s.failures_in_a_row += 1;
                self.counters.fit_failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        };
        self.training.store(false, Ordering::SeqCst);
        out
    }

    /// Teaches the new ranker the events that arrived since the fit copied its data
    /// (arrival numbers from `since`), empties the online queue and publishes the set —
    /// all while holding the catalogue, so no event is learnt twice or lost in between.
    fn publish_fit(&self, mut set: ModelSet, since: u64) -> Result<VersionInfo, EngineError> {
        let c = self.catalog();
        let mut queue = self.online_queue.lock().expect("queue lock");
        if self.config.rank.online {
            if let Some(r) = set
                .ranker
                .as_ref()
                .filter(|r| r.model.read().expect("ranker lock").ranker.learns_online())
            {
                let tail = c.log_since(since);
                let samples = pipeline::online_samples(&c, tail, &self.config.rank, r);
                if !samples.is_empty() {
                    r.model
                        .write()
                        .expect("ranker lock")
                        .ranker
                        .partial_fit(&samples)
                        .map_err(|e| EngineError::Train(e.to_string()))?;
                }
                set.info.learnt_after_fit = tail.len();
            }
        }
        queue.clear();
        let info = set.info.clone();
        let set = self.registry.publish(set);
        drop(queue);
        drop(c);
        let saved = self.save_version(&set);
        if let Err(e) = &saved {
            tracing::warn!("model version {} was not saved: {e}", info.version);
        }
        self.status.lock().expect("status lock").last_save_error =
            saved.err().map(|e| e.to_string());
        Ok(info)
    }

    /// Starts a fit on a background thread; false when one is already running.
    pub fn train_in_background(self: &Arc<Self>) -> bool {
        if self.training.load(Ordering::SeqCst) {
            return false;
        }
        let me = self.clone();
        std::thread::Builder::new()
            .name("funnel-trainer".into())
            .spawn(move || {
                if let Err(e) = me.train_blocking() {
                    tracing::warn!("fit failed: {e}");
                }
            })
            .is_ok()
    }

    /// Starts the online learner and the refit schedule (threads that live as long as
    /// the engine).
    pub fn start_background(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let every = Duration::from_millis(self.config.rank.online_interval_ms.max(10));
        let interval = self.config.train.interval_seconds;
        std::thread::Builder::new()
            .name("funnel-online".into())
            .spawn(move || {
                let mut last_fit = Instant::now();
                loop {
                    std::thread::sleep(every);
                    let Some(me) = weak.upgrade() else { return };
                    me.learn_queued();
                    if interval > 0 && last_fit.elapsed() >= Duration::from_secs(interval) {
                        last_fit = Instant::now();
                        me.train_in_background();
                    }
                }
            })
            .expect("spawn the online learner");
    }
}
