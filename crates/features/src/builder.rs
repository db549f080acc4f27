//! The CTR sample builder: interactions plus user and item attributes in, labelled raw
//! records out, split by time.
//!
//! Each interaction, in time order, becomes one record with the keys `user_id`,
//! `item_id`, `user.<column>` and `item.<column>` for every attribute column, and `hist`:
//! the user's last `history` items from interactions *strictly earlier* than this one,
//! oldest first (events at the same second do not see each other, so nothing leaks),
//! with `hist.<column>` beside it for every item column: those items' attributes,
//! aligned with `hist` (DIN's behaviours with their categories);
//! with timestamps, `context.hour` and `context.weekday` too (the keys are those of
//! [`crate::record`], which the server uses as well). The label follows `[samples] label`. For each positive, `negatives_per_positive`
//! items the user never interacted with (anywhere in the log) are sampled as negatives,
//! with the same user, time and `hist`. Training negatives are then kept with
//! probability `negative_keep_rate`, which is recorded in [`CtrInfo`] so predictions can
//! be corrected ([`downsampling_correction`]); the test part keeps all its negatives, so
//! its metrics describe the real distribution.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use funnel_data::load::guess_format;
use funnel_data::read::{read_events, Format, ReadOptions};
use funnel_data::{EntityTable, Event, IdMap};
use serde::Serialize;

use crate::error::{FeatureError, Result};
use crate::pipeline::Pipeline;
use crate::raw::RawRecord;
use crate::record::{event_record, table_attributes, HistoryItem, ITEM_PREFIX, USER_PREFIX};
use crate::sample::SampleSet;
use crate::spec::{FeatureSpec, SamplesSpec, SplitRule};
use crate::stable::SplitMix64;

/// Interactions kept in file order, with their feedback types (which interaction
/// matrices do not keep) and dense user, item and type ids.
#[derive(Debug, Default)]
pub struct EventLog {
    /// User ids, in order of first appearance.
    pub users: IdMap,
    /// Item ids, in order of first appearance.
    pub items: IdMap,
    /// Feedback types, in order of first appearance.
    pub kinds: IdMap,
    /// The events in file order.
    pub events: Vec<LoggedEvent>,
}

/// One interaction of an [`EventLog`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoggedEvent {
    /// Dense user id (in [`EventLog::users`]).
    pub user: u32,
    /// Dense item id (in [`EventLog::items`]).
    pub item: u32,
    /// The value (rating; 1 for implicit feedback).
    pub value: f32,
    /// Unix seconds, when the input has them.
    pub time: Option<i64>,
    /// Dense feedback type (in [`EventLog::kinds`]), when the input has one.
    pub kind: Option<u32>,
}

impl EventLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an event.
    pub fn push(&mut self, e: &Event<'_>) {
        let ev = LoggedEvent {
            user: self.users.intern(e.user),
            item: self.items.intern(e.item),
            value: e.value,
            time: e.timestamp,
            kind: e.kind.map(|k| self.kinds.intern(k)),
        };
        self.events.push(ev);
    }

    /// Reads every event of a file in any format `funnel-data` reads.
    pub fn read(path: &Path, format: &Format) -> Result<EventLog> {
        let mut log = EventLog::new();
        read_events(path, format, ReadOptions::default(), &mut |e| {
            log.push(e);
            Ok(())
        })?;
        Ok(log)
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// Reads interactions and, for RecBole data, the `.user` and `.item` attribute files
/// beside them. `path` is a RecBole directory (`<dir>/<dir name>.inter`, or its only
/// `.inter` file), or one events file whose format is guessed from its name.
pub fn read_interactions(
    path: &Path,
) -> Result<(EventLog, Option<EntityTable>, Option<EntityTable>)> {
    let inter = if path.is_dir() {
        recbole_inter(path)?
    } else {
        path.to_path_buf()
    };
    let name = inter.to_string_lossy();
    let format = guess_format(&name).ok_or_else(|| {
        FeatureError::Invalid(format!(
            "{name}: cannot tell the format from the name; expected a RecBole directory or a \
             .inter, .csv, .tsv, .jsonl, .parquet or MovieLens file"
        ))
    })?;
    let log = EventLog::read(&inter, &Format::from_name(format)?)?;
    let side = |ext: &str| -> Result<Option<EntityTable>> {
        let p = inter.with_extension(ext);
        Ok(if format == "recbole" && p.is_file() {
            Some(EntityTable::read_recbole(&p)?)
        } else {
            None
        })
    };
    Ok((log, side("user")?, side("item")?))
}

fn recbole_inter(dir: &Path) -> Result<PathBuf> {
    if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
        let p = dir.join(format!("{name}.inter"));
        if p.is_file() {
            return Ok(p);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| FeatureError::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "inter"))
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(FeatureError::Invalid(format!(
            "{}: no .inter file in this directory",
            dir.display()
        ))),
        _ => Err(FeatureError::Invalid(format!(
            "{}: several .inter files and none named after the directory",
            dir.display()
        ))),
    }
}

/// Labelled raw records of one part (train or test), in time order.
#[derive(Debug, Clone, Default)]
pub struct CtrSamples {
    /// The records.
    pub records: Vec<RawRecord>,
    /// 1 for positives, 0 for negatives.
    pub labels: Vec<f32>,
    /// The dense user id of each record (in [`EventLog::users`]), for GAUC.
    pub groups: Vec<u32>,
    /// The event time of each record (its position in the file when there are no times).
    pub times: Vec<i64>,
}

impl CtrSamples {
    fn push(&mut self, rec: RawRecord, label: bool, user: u32, time: i64) {
        self.records.push(rec);
        self.labels.push(if label { 1.0 } else { 0.0 });
        self.groups.push(user);
        self.times.push(time);
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// What the builder did, for reports and for calibration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CtrInfo {
    /// Interactions read.
    pub events: usize,
    /// Interactions in the train part.
    pub train_events: usize,
    /// Interactions in the test part.
    pub test_events: usize,
    /// Interactions labelled positive (both parts).
    pub positives: usize,
    /// Interactions labelled negative by the rule (both parts).
    pub explicit_negatives: usize,
    /// Negatives sampled from unseen items (both parts, before down-sampling).
    pub sampled_negatives: usize,
    /// Training negatives dropped by down-sampling.
    pub dropped_negatives: usize,
    /// The keep rate of training negatives: a model trained on these samples predicts
    /// `p'`; the real probability is `downsampling_correction(p', rate)`.
    pub negative_keep_rate: f64,
    /// The first time of the test part (`None` when it is empty).
    pub split_time: Option<i64>,
    /// Users in the log.
    pub users: usize,
    /// Items in the log.
    pub items: usize,
}

/// Labelled records split into train and test.
#[derive(Debug, Clone)]
pub struct CtrData {
    /// The train part (fit pipelines on this only).
    pub train: CtrSamples,
    /// The test part: every event after the split time.
    pub test: CtrSamples,
    /// Counts and the recorded keep rate.
    pub info: CtrInfo,
}

/// Undoes negative down-sampling: a model trained with negatives kept at rate `r`
/// predicts `p`; the probability on the full distribution is `p / (p + (1 − p) / r)`.
pub fn downsampling_correction(p: f64, keep_rate: f64) -> f64 {
    p / (p + (1.0 - p) / keep_rate)
}

/// Builds labelled raw records from an event log and optional attribute tables.
pub fn build_records(
    spec: &SamplesSpec,
    log: &EventLog,
    users: Option<&EntityTable>,
    items: Option<&EntityTable>,
) -> Result<CtrData> {
    let n = log.len();
    if n == 0 {
        return Err(FeatureError::Invalid(
            "no interactions to build samples from".into(),
        ));
    }
    let timed = log.events.iter().all(|e| e.time.is_some());
    if !timed && matches!(spec.split, SplitRule::Temporal(_)) {
        return Err(FeatureError::Invalid(
            "split = \"temporal:…\" needs a timestamp on every interaction; \
             use split = \"none\" for data without times"
                .into(),
        ));
    }
    let time = |i: usize| log.events[i].time.unwrap_or(i as i64);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| time(i)); // stable: file order among equal times
    let cut = match spec.split {
        SplitRule::None => n,
        SplitRule::Temporal(f) => {
            // Never split one second across the parts: ties go to train.
            let mut c = ((f * n as f64).floor() as usize).min(n);
            while c > 0 && c < n && time(order[c]) == time(order[c - 1]) {
                c += 1;
            }
            c
        }
    };
    let user_attrs = table_attributes(&log.users, users, USER_PREFIX);
    let item_attrs = table_attributes(&log.items, items, ITEM_PREFIX);
    // Every item each user ever touched, sorted: sampled negatives avoid all of them.
    let mut seen: Vec<Vec<u32>> = vec![Vec::new(); log.users.len()];
    if spec.negatives_per_positive > 0 {
        for e in &log.events {
            seen[e.user as usize].push(e.item);
        }
        for s in &mut seen {
            s.sort_unstable();
            s.dedup();
        }
    }
    let record = |user: u32, item: u32, hist: &VecDeque<u32>, t: i64| {
        let hist: Vec<HistoryItem> = hist
            .iter()
            .map(|&it| (log.items.external(it), &item_attrs[it as usize][..]))
            .collect();
        event_record(
            (log.users.external(user), &user_attrs[user as usize]),
            (log.items.external(item), &item_attrs[item as usize]),
            (spec.history > 0).then_some(&hist[..]),
            timed.then_some(t),
        )
    };

    let mut info = CtrInfo {
        events: n,
        train_events: cut,
        test_events: n - cut,
        positives: 0,
        explicit_negatives: 0,
        sampled_negatives: 0,
        dropped_negatives: 0,
        negative_keep_rate: spec.negative_keep_rate,
        split_time: (cut < n).then(|| time(order[cut])),
        users: log.users.len(),
        items: log.items.len(),
    };
    let (mut train, mut test) = (CtrSamples::default(), CtrSamples::default());
    let mut rng = SplitMix64::new(spec.seed);
    let mut history: Vec<VecDeque<u32>> = vec![VecDeque::new(); log.users.len()];
    let mut g = 0;
    while g < n {
        // One group of events at the same time: all see the history from before it.
        let t = time(order[g]);
        let h = g + order[g..].iter().take_while(|&&i| time(i) == t).count();
        for (k, &i) in order.iter().enumerate().take(h).skip(g) {
            let e = &log.events[i];
            let is_train = k < cut;
            let kind = e.kind.map(|k| log.kinds.external(k));
            let positive = spec.label.is_positive(e.value, kind);
            let mut candidates = vec![(e.item, positive)];
            if positive {
                info.positives += 1;
                for _ in 0..spec.negatives_per_positive {
                    if let Some(j) =
                        sample_unseen(&mut rng, log.items.len(), &seen[e.user as usize])
                    {
                        info.sampled_negatives += 1;
                        candidates.push((j, false));
                    }
                }
            } else {
                info.explicit_negatives += 1;
            }
            for (item, label) in candidates {
                if !label
                    && is_train
                    && spec.negative_keep_rate < 1.0
                    && rng.next_f64() >= spec.negative_keep_rate
                {
                    info.dropped_negatives += 1;
                    continue;
                }
                let part = if is_train { &mut train } else { &mut test };
                part.push(
                    record(e.user, item, &history[e.user as usize], t),
                    label,
                    e.user,
                    t,
                );
            }
        }
        if spec.history > 0 {
            for &i in &order[g..h] {
                let e = &log.events[i];
                let q = &mut history[e.user as usize];
                q.push_back(e.item);
                if q.len() > spec.history {
                    q.pop_front();
                }
            }
        }
        g = h;
    }
    if !train.is_empty() && train.labels.iter().all(|&l| l > 0.0) {
        return Err(FeatureError::Invalid(
            "every training sample is positive; set a label rule such as label = \"rating >= 4\" \
             or sample negatives with negatives_per_positive"
                .into(),
        ));
    }
    Ok(CtrData { train, test, info })
}

/// A uniformly drawn item outside `seen` (sorted), or `None` when the user has seen all.
fn sample_unseen(rng: &mut SplitMix64, n_items: usize, seen: &[u32]) -> Option<u32> {
    let free = n_items.checked_sub(seen.len()).filter(|&f| f > 0)?;
    // Rejection is fast while most items are unseen, which is the usual case.
    for _ in 0..32 {
        let j = rng.below(n_items as u32);
        if seen.binary_search(&j).is_err() {
            return Some(j);
        }
    }
    // Otherwise the r-th unseen item, found by walking past the seen ones.
    let mut r = rng.below(free as u32);
    let mut j = 0u32;
    for &s in seen {
        if r < s - j {
            break;
        }
        r -= s - j;
        j = s + 1;
    }
    Some(j + r)
}

/// Reads a data set, builds labelled records by the spec's `[samples]`, fits the spec's
/// pipeline on the train part only, and transforms both parts. Groups are the dense user
/// ids (for GAUC). `data` is what [`read_interactions`] takes.
pub fn build_ctr(
    spec_path: &Path,
    data: &Path,
) -> Result<(Pipeline, SampleSet, SampleSet, CtrInfo)> {
    let spec = FeatureSpec::from_file(spec_path)?;
    let (log, users, items) = read_interactions(data)?;
    let d = build_records(&spec.samples, &log, users.as_ref(), items.as_ref())?;
    let pipeline = spec.fit(&d.train.records)?;
    let train = pipeline.transform_set(&d.train.records, &d.train.labels, &d.train.groups);
    let test = pipeline.transform_set(&d.test.records, &d.test.labels, &d.test.groups);
    Ok((pipeline, train, test, d.info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unseen_sampling_covers_only_unseen_items() {
        let mut rng = SplitMix64::new(1);
        let seen = vec![0, 1, 2, 4, 5, 6, 7, 9];
        let mut hits = [0u32; 10];
        for _ in 0..2000 {
            hits[sample_unseen(&mut rng, 10, &seen).unwrap() as usize] += 1;
        }
        for (i, &h) in hits.iter().enumerate() {
            assert_eq!(h > 0, [3, 8].contains(&i), "{hits:?}");
        }
        assert_eq!(sample_unseen(&mut rng, 3, &[0, 1, 2]), None);
        // The fallback walk, exercised directly: every unseen item is reachable.
        let seen: Vec<u32> = (0..1000).filter(|i| i % 100 != 7).collect();
        let mut got = std::collections::BTreeSet::new();
        for _ in 0..500 {
            got.insert(sample_unseen(&mut rng, 1000, &seen).unwrap());
        }
        assert!(
            got.iter().all(|i| i % 100 == 7) && got.len() == 10,
            "{got:?}"
        );
    }

    #[test]
    fn correction_inverts_downsampling() {
        // True rate 0.1; keeping half the negatives makes it 0.1 / (0.1 + 0.45).
        let seen = 0.1 / (0.1 + 0.9 * 0.5);
        assert!((downsampling_correction(seen, 0.5) - 0.1).abs() < 1e-12);
        assert_eq!(downsampling_correction(0.3, 1.0), 0.3);
    }
}
