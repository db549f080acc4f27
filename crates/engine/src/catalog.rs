//! What the server knows about users, items and feedback, in memory: filled from the
//! store at start-up and updated by every acknowledged write, so the request path never
//! waits on the database.
//!
//! Items and users get dense indices that are never reused (a deleted entry is marked),
//! so indices held by fitted models stay valid.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::sync::Arc;

use funnel_features::record::{
    json_attributes, Attributes, ITEM_CATEGORIES, ITEM_PREFIX, USER_PREFIX,
};
use funnel_features::RawValue;
use funnel_store::{Feedback, Item, User};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::config::FeedbackConfig;

/// An item as the request path needs it.
#[derive(Debug, Clone)]
pub struct ItemState {
    /// External id.
    pub id: String,
    /// Categories.
    pub categories: Vec<String>,
    /// Never recommended while true.
    pub hidden: bool,
    /// Deleted from the store.
    pub deleted: bool,
    /// Publication time, Unix seconds.
    pub timestamp: i64,
    /// Not recommended at or after this Unix time.
    pub expires_at: Option<i64>,
    /// Positive feedback events (clicks for the bandit).
    pub positives: u32,
    /// Read feedback events (impressions).
    pub reads: u32,
    /// The ranker's view of the item: its attributes and categories as raw-record entries
    /// (`item.<name>`, `item.categories`).
    pub attributes: Arc<Attributes>,
}

impl ItemState {
    /// A visible item published at time 0, with no categories and no feedback.
    pub fn new(id: &str) -> Self {
        ItemState {
            id: id.to_string(),
            categories: Vec::new(),
            hidden: false,
            deleted: false,
            timestamp: 0,
            expires_at: None,
            positives: 0,
            reads: 0,
            attributes: Arc::default(),
        }
    }

    /// Whether the item may be recommended at `now`.
    pub fn available(&self, now: i64) -> bool {
        !self.hidden && !self.deleted && self.expires_at.is_none_or(|t| now < t)
    }

    /// Feedback events of any kind counted for the item.
    pub fn feedback(&self) -> u32 {
        self.positives + self.reads
    }
}

/// A user as the request path needs it.
#[derive(Debug, Clone, Default)]
pub struct UserState {
    /// External id.
    pub id: String,
    /// Deleted from the store.
    pub deleted: bool,
    /// Items with positive feedback, in arrival order (scored by the recall channels;
    /// the ranker's `hist`).
    pub positives: Vec<u32>,
    /// The arrival number (`Event::seq`) of each entry of `positives`.
    pub positive_seqs: Vec<u64>,
    /// The user's attributes as raw-record entries (`user.<name>`).
    pub attributes: Arc<Attributes>,
    /// Every item with feedback of any type, sorted (never recommended again).
    pub seen: Vec<u32>,
}

impl UserState {
    /// The user's positives that arrived before event number `seq`, oldest first: the
    /// `hist` of that event (the newest `n` at most).
    pub fn history_before(&self, seq: u64, n: usize) -> &[u32] {
        let end = self.positive_seqs.partition_point(|&s| s < seq);
        &self.positives[end.saturating_sub(n)..end]
    }

    /// Whether the user has given feedback on `item`.
    pub fn has_seen(&self, item: u32) -> bool {
        self.seen.binary_search(&item).is_ok()
    }
}

/// How a feedback type counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A click, like, purchase…
    Positive,
    /// An impression.
    Read,
    /// Any other type: stored and counted as seen, not learnt from.
    Other,
}

/// A feedback event with dense indices (training reads these).
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// User index.
    pub user: u32,
    /// Item index.
    pub item: u32,
    /// How it counts.
    pub kind: Kind,
    /// Unix seconds.
    pub timestamp: i64,
    /// Strength.
    pub value: f32,
    /// Arrival number: 0, 1, 2, … over the catalogue's life (deletes remove events from
    /// the log but never renumber), so "events since the fit's copy" is a log suffix.
    pub seq: u64,
    /// Where the item was shown (1 = top); 0 when the feedback did not say.
    pub position: u32,
}

/// The most-clicked items, kept sorted as counts change (the `popular` channel).
#[derive(Debug, Clone, Default)]
struct Leaderboard {
    top: Vec<u32>,
    position: FxHashMap<u32, usize>,
}

const LEADERBOARD_SIZE: usize = 2000;

impl Leaderboard {
    /// Item `i`'s count went up: move it up (or in). `ahead(a, b)`: whether `a` ranks
    /// before `b` (more positives; equal counts in id order, so the board does not depend
    /// on the order events were replayed in, which a restart changes).
    fn bump(&mut self, i: u32, ahead: &dyn Fn(u32, u32) -> bool) {
        let mut p = match self.position.get(&i) {
            Some(&p) => p,
            None if self.top.len() < LEADERBOARD_SIZE => {
                self.top.push(i);
                self.top.len() - 1
            }
            None => {
                let last = *self.top.last().expect("full board");
                if !ahead(i, last) {
                    return;
                }
                self.position.remove(&last);
                let p = self.top.len() - 1;
                self.top[p] = i;
                p
            }
        };
        while p > 0 && ahead(i, self.top[p - 1]) {
            self.top[p] = self.top[p - 1];
            self.position.insert(self.top[p], p);
            p -= 1;
        }
        self.top[p] = i;
        self.position.insert(i, p);
    }

    fn rebuild(&mut self, items: &[ItemState]) {
        let mut all: Vec<u32> = (0..items.len() as u32)
            .filter(|&i| items[i as usize].positives > 0)
            .collect();
        all.sort_by(|&a, &b| {
            let (x, y) = (&items[a as usize], &items[b as usize]);
            y.positives.cmp(&x.positives).then_with(|| x.id.cmp(&y.id))
        });
        all.truncate(LEADERBOARD_SIZE);
        self.position = all.iter().enumerate().map(|(p, &i)| (i, p)).collect();
        self.top = all;
    }
}

/// Users, items and feedback in memory.
#[derive(Debug, Default)]
pub struct Catalog {
    items: Vec<ItemState>,
    item_ids: FxHashMap<String, u32>,
    users: Vec<UserState>,
    user_ids: FxHashMap<String, u32>,
    /// Items newest first; equal times in id order, so the list does not depend on the
    /// order indices were handed out (which a restart changes).
    latest: BTreeSet<(Reverse<i64>, String, u32)>,
    popular: Leaderboard,
    log: Vec<Event>,
    /// The `seq` the next event gets.
    next_seq: u64,
    positive: FxHashSet<String>,
    read: FxHashSet<String>,
}

impl Catalog {
    /// An empty catalogue that classifies feedback per `feedback`.
    pub fn new(feedback: &FeedbackConfig) -> Self {
        Catalog {
            positive: feedback.positive.iter().cloned().collect(),
            read: feedback.read.iter().cloned().collect(),
            ..Default::default()
        }
    }

    /// How a feedback type counts (`feedback.other` types, and types stored before
    /// unconfigured ones were refused, count as [`Kind::Other`]).
    pub fn kind_of(&self, feedback_type: &str) -> Kind {
        if self.positive.contains(feedback_type) {
            Kind::Positive
        } else if self.read.contains(feedback_type) {
            Kind::Read
        } else {
            Kind::Other
        }
    }

    /// All items by index (deleted ones included, marked).
    pub fn items(&self) -> &[ItemState] {
        &self.items
    }

    /// All users by index.
    pub fn users(&self) -> &[UserState] {
        &self.users
    }

    /// Every feedback event kept for training, in arrival order.
    pub fn log(&self) -> &[Event] {
        &self.log
    }

    /// The events that arrived at or after arrival number `seq`.
    pub fn log_since(&self, seq: u64) -> &[Event] {
        &self.log[self.log.partition_point(|e| e.seq < seq)..]
    }

    /// The arrival number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The index of a live item.
    pub fn item_index(&self, id: &str) -> Option<u32> {
        self.item_ids
            .get(id)
            .copied()
            .filter(|&i| !self.items[i as usize].deleted)
    }

    /// The index of a live user.
    pub fn user_index(&self, id: &str) -> Option<u32> {
        self.user_ids
            .get(id)
            .copied()
            .filter(|&u| !self.users[u as usize].deleted)
    }

    /// Inserts or replaces an item.
    pub fn upsert_item(&mut self, it: &Item) -> u32 {
        let i = self.touch_item(&it.item_id);
        self.latest.remove(&self.latest_key(i));
        let s = &mut self.items[i as usize];
        s.categories = it.categories.clone();
        s.hidden = it.hidden;
        s.deleted = false;
        s.timestamp = it.timestamp;
        s.expires_at = it.expires_at;
        s.attributes = Arc::new(item_attributes(it));
        self.latest.insert(self.latest_key(i));
        i
    }

    /// The index of `id`, creating a bare (visible, time 0) item when it is new.
    pub fn touch_item(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.item_ids.get(id) {
            if self.items[i as usize].deleted {
                self.items[i as usize].deleted = false;
                self.latest.insert(self.latest_key(i));
            }
            return i;
        }
        let i = self.items.len() as u32;
        self.items.push(ItemState::new(id));
        self.item_ids.insert(id.to_string(), i);
        self.latest.insert(self.latest_key(i));
        i
    }

    /// The index of `id`, live or deleted; an unknown id gets a deleted placeholder (a
    /// model loaded from disk may know items deleted since: they keep an index, and are
    /// never recommended unless inserted again).
    pub fn item_slot(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.item_ids.get(id) {
            return i;
        }
        let i = self.touch_item(id);
        self.latest.remove(&self.latest_key(i));
        self.items[i as usize].deleted = true;
        i
    }

    /// [`Catalog::item_slot`] for users.
    pub fn user_slot(&mut self, id: &str) -> u32 {
        if let Some(&u) = self.user_ids.get(id) {
            return u;
        }
        let u = self.touch_user(id);
        self.users[u as usize].deleted = true;
        u
    }

    /// Inserts or replaces a user.
    pub fn upsert_user(&mut self, u: &User) -> u32 {
        let i = self.touch_user(&u.user_id);
        self.users[i as usize].attributes = Arc::new(json_attributes(USER_PREFIX, &u.attributes));
        i
    }

    /// The index of `id`, creating the user when new.
    pub fn touch_user(&mut self, id: &str) -> u32 {
        if let Some(&u) = self.user_ids.get(id) {
            self.users[u as usize].deleted = false;
            return u;
        }
        let u = self.users.len() as u32;
        self.users.push(UserState {
            id: id.to_string(),
            ..Default::default()
        });
        self.user_ids.insert(id.to_string(), u);
        u
    }

    /// Marks an item deleted and forgets its feedback.
    pub fn delete_item(&mut self, id: &str) -> bool {
        let Some(i) = self.item_index(id) else {
            return false;
        };
        self.latest.remove(&self.latest_key(i));
        let s = &mut self.items[i as usize];
        s.deleted = true;
        s.positives = 0;
        s.reads = 0;
        self.log.retain(|e| e.item != i);
        for u in &mut self.users {
            if u.positives.contains(&i) {
                let (items, seqs): (Vec<u32>, Vec<u64>) = u
                    .positives
                    .iter()
                    .zip(&u.positive_seqs)
                    .filter(|(&x, _)| x != i)
                    .unzip();
                u.positives = items;
                u.positive_seqs = seqs;
            }
            if let Ok(p) = u.seen.binary_search(&i) {
                u.seen.remove(p);
            }
        }
        self.popular.rebuild(&self.items);
        true
    }

    /// Marks a user deleted and forgets their feedback (and its counts).
    pub fn delete_user(&mut self, id: &str) -> bool {
        let Some(u) = self.user_index(id) else {
            return false;
        };
        for e in self.log.iter().filter(|e| e.user == u) {
            let s = &mut self.items[e.item as usize];
            match e.kind {
                Kind::Positive => s.positives = s.positives.saturating_sub(1),
                Kind::Read => s.reads = s.reads.saturating_sub(1),
                Kind::Other => {}
            }
        }
        self.log.retain(|e| e.user != u);
        let s = &mut self.users[u as usize];
        s.deleted = true;
        s.positives.clear();
        s.positive_seqs.clear();
        s.seen.clear();
        self.popular.rebuild(&self.items);
        true
    }

    /// Records a stored feedback event; users and items it names are created when new.
    pub fn add_feedback(&mut self, f: &Feedback) -> Event {
        let u = self.touch_user(&f.user_id);
        let i = self.touch_item(&f.item_id);
        let kind = self.kind_of(&f.feedback_type);
        let e = Event {
            user: u,
            item: i,
            kind,
            timestamp: f.timestamp,
            value: f.value as f32,
            seq: self.next_seq,
            position: f.position.unwrap_or(0),
        };
        self.next_seq += 1;
        let user = &mut self.users[u as usize];
        if let Err(p) = user.seen.binary_search(&i) {
            user.seen.insert(p, i);
        }
        let item = &mut self.items[i as usize];
        match kind {
            Kind::Positive => {
                item.positives += 1;
                user.positives.push(i);
                user.positive_seqs.push(e.seq);
                let items = &self.items;
                self.popular.bump(i, &|a, b| {
                    let (x, y) = (&items[a as usize], &items[b as usize]);
                    x.positives > y.positives || (x.positives == y.positives && x.id < y.id)
                });
            }
            Kind::Read => item.reads += 1,
            Kind::Other => {}
        }
        self.log.push(e);
        e
    }

    /// Most-clicked items, best first (unfiltered; callers skip what they cannot show).
    pub fn popular(&self) -> impl Iterator<Item = u32> + '_ {
        self.popular.top.iter().copied()
    }

    /// Items newest first (unfiltered).
    pub fn latest(&self) -> impl Iterator<Item = u32> + '_ {
        self.latest.iter().map(|&(_, _, i)| i)
    }

    fn latest_key(&self, i: u32) -> (Reverse<i64>, String, u32) {
        let s = &self.items[i as usize];
        (Reverse(s.timestamp), s.id.clone(), i)
    }

    /// Live items and users.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.items.iter().filter(|s| !s.deleted).count(),
            self.users.iter().filter(|s| !s.deleted).count(),
        )
    }
}

/// An item's attributes and categories as raw-record entries.
fn item_attributes(it: &Item) -> Attributes {
    let mut a = json_attributes(ITEM_PREFIX, &it.attributes);
    a.retain(|(k, _)| k != ITEM_CATEGORIES);
    if !it.categories.is_empty() {
        a.push((
            ITEM_CATEGORIES.into(),
            RawValue::Tokens(it.categories.clone()),
        ));
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popularity_and_seen_follow_feedback() {
        let mut c = Catalog::new(&FeedbackConfig::default());
        for (u, i) in [
            ("a", "x"),
            ("b", "x"),
            ("a", "y"),
            ("c", "x"),
            ("c", "z"),
            ("b", "z"),
        ] {
            c.add_feedback(&Feedback::new("click", u, i, 1));
        }
        c.add_feedback(&Feedback::new("read", "d", "w", 1));
        let names: Vec<&str> = c
            .popular()
            .map(|i| c.items()[i as usize].id.as_str())
            .collect();
        assert_eq!(names, ["x", "z", "y"]);
        let d = c.user_index("d").unwrap();
        assert!(c.users()[d as usize].has_seen(c.item_index("w").unwrap()));
        assert!(c.users()[d as usize].positives.is_empty());
        assert!(c.delete_user("c"));
        let names: Vec<&str> = c
            .popular()
            .map(|i| c.items()[i as usize].id.as_str())
            .collect();
        assert_eq!(names, ["x", "y", "z"]);
        assert_eq!(c.items()[c.item_index("x").unwrap() as usize].positives, 2);
        assert!(c.delete_item("x"));
        assert!(c.item_index("x").is_none());
        assert_eq!(c.log().len(), 3);
    }

    #[test]
    fn leaderboard_stays_sorted_past_its_size() {
        let mut c = Catalog::new(&FeedbackConfig::default());
        let n = LEADERBOARD_SIZE + 300;
        for i in 0..n {
            for _ in 0..(i % 7) {
                c.add_feedback(&Feedback::new(
                    "click",
                    &format!("u{i}"),
                    &format!("i{i}"),
                    0,
                ));
            }
        }
        // a late riser climbs from outside the board to the top
        for t in 0..20 {
            c.add_feedback(&Feedback::new("like", "fan", "i0", t));
        }
        let top: Vec<u32> = c
            .popular()
            .map(|i| c.items()[i as usize].positives)
            .collect();
        assert!(top.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(c.items()[c.popular().next().unwrap() as usize].id, "i0");
        assert!(top.len() <= LEADERBOARD_SIZE);
    }
}
