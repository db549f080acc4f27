//! Item sequences from interactions: each user's items in time order, split into sessions
//! at inactivity gaps, with seed 002's noise filters (rare items dropped, over-active users
//! capped). Without times (the LightGCN format lists a user's items by id), a user's items
//! have no order, so they are shuffled with the seed rather than left in id order, whose
//! neighbours mean nothing.

use funnel_data::Interactions;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use super::sgns::Corpus;

/// How interactions become sequences.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SequenceOptions {
    /// Seconds of inactivity that end a session (0: one sequence per user).
    pub session_gap: u64,
    /// Items with fewer interactions are dropped from every sequence.
    pub min_count: u32,
    /// Users with more interactions keep only their latest this many (0: no cap).
    pub max_user_items: usize,
    /// Seed of the shuffle of untimed users.
    pub seed: u64,
}

impl Default for SequenceOptions {
    /// The models' parameter defaults: no sessions, no filter, no cap, seed 0.
    fn default() -> Self {
        SequenceOptions {
            session_gap: 0,
            min_count: 1,
            max_user_items: 0,
            seed: 0,
        }
    }
}

/// What building the sequences kept and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CorpusStats {
    /// Sequences kept.
    pub sequences: usize,
    /// Tokens kept.
    pub tokens: usize,
    /// Sequences skipped because fewer than two items were left (no pair to learn from).
    pub skipped_sequences: usize,
    /// Distinct items dropped for having fewer than `min_count` interactions.
    pub rare_items: usize,
    /// Interactions dropped with them.
    pub rare_events: usize,
    /// Users cut to `max_user_items`.
    pub capped_users: usize,
    /// Whether the order came from timestamps (false: shuffled sets).
    pub timed: bool,
}

/// The sequences of `train`.
pub fn sequences(train: &Interactions, o: &SequenceOptions) -> (Corpus, CorpusStats) {
    let (corpus, _, stats) = sequences_with_values(train, o);
    (corpus, stats)
}

/// [`sequences`], and the value of each token's interaction (1 when the data has none),
/// parallel to `corpus.tokens`.
pub fn sequences_with_values(
    train: &Interactions,
    o: &SequenceOptions,
) -> (Corpus, Vec<f32>, CorpusStats) {
    let counts = train.item_counts();
    let mut stats = CorpusStats {
        timed: train.has_times(),
        rare_items: counts.iter().filter(|&&c| c > 0 && c < o.min_count).count(),
        ..Default::default()
    };
    let mut corpus = Corpus::new();
    let mut values = Vec::new();
    let mut order: Vec<(u32, u32, f32)> = Vec::new();
    for u in 0..train.n_users() as u32 {
        let row = train.user_row(u);
        order.clear();
        for (n, &i) in row.indices.iter().enumerate() {
            if counts[i as usize] < o.min_count {
                stats.rare_events += 1;
                continue;
            }
            let t = row.times.map_or(0, |t| t[n]);
            order.push((t, i, row.values.map_or(1.0, |v| v[n])));
        }
        if row.times.is_some() {
            // Stable: items at the same second keep their id order.
            order.sort_by_key(|&(t, _, _)| t);
        } else {
            let mut rng =
                SmallRng::seed_from_u64(o.seed ^ (u as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            order.shuffle(&mut rng);
        }
        if o.max_user_items > 0 && order.len() > o.max_user_items {
            stats.capped_users += 1;
            order.drain(..order.len() - o.max_user_items);
        }
        let mut start = 0;
        for n in 1..=order.len() {
            let ends = n == order.len()
                || (o.session_gap > 0
                    && row.times.is_some()
                    && (order[n].0 - order[n - 1].0) as u64 > o.session_gap);
            if ends {
                let s = &order[start..n];
                if s.len() >= 2 {
                    let seq: Vec<u32> = s.iter().map(|&(_, i, _)| i).collect();
                    corpus.push(&seq);
                    values.extend(s.iter().map(|&(_, _, v)| v));
                } else if !s.is_empty() {
                    stats.skipped_sequences += 1;
                }
                start = n;
            }
        }
        if order.is_empty() && !row.is_empty() {
            stats.skipped_sequences += 1;
        }
    }
    stats.sequences = corpus.len();
    stats.tokens = corpus.tokens.len();
    (corpus, values, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use funnel_data::{Event, InteractionsBuilder};

    fn timed(events: &[(&str, &str, i64)]) -> Interactions {
        let mut b = InteractionsBuilder::new();
        for &(u, i, t) in events {
            let mut e = Event::implicit(u, i);
            e.timestamp = Some(t);
            b.push(0, &e);
        }
        b.build().unwrap().remove(0)
    }

    #[test]
    fn sessions_follow_time_and_gaps() {
        let d = timed(&[
            ("a", "x", 100),
            ("a", "z", 50),
            ("a", "y", 60),
            ("a", "w", 10_000),
            ("a", "v", 10_010),
            ("b", "x", 5),
            ("c", "x", 1),
            ("c", "y", 2),
        ]);
        let item = |s: &str| d.items().get(s).unwrap();
        let o = SequenceOptions {
            session_gap: 1800,
            min_count: 1,
            max_user_items: 0,
            seed: 0,
        };
        let (c, st) = sequences(&d, &o);
        assert!(st.timed);
        assert_eq!(c.seq(0), [item("z"), item("y"), item("x")]);
        assert_eq!(c.seq(1), [item("w"), item("v")]);
        assert_eq!(c.seq(2), [item("x"), item("y")]);
        assert_eq!(c.len(), 3);
        // b's one event is no pair.
        assert_eq!(st.skipped_sequences, 1);

        // No gap: a is one sequence; a cap keeps a's latest two.
        let (c, st) = sequences(
            &d,
            &SequenceOptions {
                session_gap: 0,
                max_user_items: 2,
                ..o
            },
        );
        assert_eq!(c.seq(0), [item("w"), item("v")]);
        assert_eq!(st.capped_users, 1);

        // min_count 2: only x (3 users) and y (2) stay; a keeps y, x.
        let (c, st) = sequences(&d, &SequenceOptions { min_count: 2, ..o });
        assert_eq!(c.seq(0), [item("y"), item("x")]);
        assert_eq!((st.rare_items, st.rare_events), (3, 3));
        assert!(c.tokens.iter().all(|&t| t == item("x") || t == item("y")));
    }
}
