//! The ranker's features of a (user, item) pair — one function, used by the trainer, by
//! online learning and by the request path, so training and serving cannot drift apart.
//!
//! Fields (hashed into 2^18 rows, field-tagged so FFM sees fields):
//! 0 user id, 1 item id, 2 each item category, 3 user × category cross.

use funnel_features::SampleSet;

use crate::catalog::ItemState;

/// Hash space of feature rows.
pub const HASH_BITS: u32 = 18;
/// Fields in a sample.
pub const N_FIELDS: u32 = 4;

fn hash(field: u32, parts: &[&str]) -> u32 {
    // FNV-1a: stable across runs and platforms, so a saved model keeps its meaning.
    let mut h: u64 = 0xcbf29ce484222325 ^ u64::from(field);
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    ((h ^ (h >> 29)) & ((1 << HASH_BITS) - 1)) as u32
}

/// Appends the features of `user` seeing `item` to `out` as (field, row, value).
pub fn pair_features(user: &str, item: &ItemState, out: &mut Vec<(u32, u32, f32)>) {
    out.clear();
    out.push((0, hash(0, &[user]), 1.0));
    out.push((1, hash(1, &[&item.id]), 1.0));
    let w = if item.categories.is_empty() {
        1.0
    } else {
        1.0 / (item.categories.len() as f32).sqrt()
    };
    for c in &item.categories {
        out.push((2, hash(2, &[c]), w));
        out.push((3, hash(3, &[user, c]), w));
    }
}

/// Pushes one labelled sample of `user` × `item`.
pub fn push_sample(
    set: &mut SampleSet,
    label: f32,
    user: &str,
    item: &ItemState,
    buf: &mut Vec<(u32, u32, f32)>,
) {
    pair_features(user, item, buf);
    set.push(label, None, buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_stable_and_distinct() {
        let item = ItemState {
            categories: vec!["a".into(), "b".into()],
            ..ItemState::new("i1")
        };
        let mut f = Vec::new();
        pair_features("u1", &item, &mut f);
        assert_eq!(f.len(), 6);
        let mut g = Vec::new();
        pair_features("u1", &item, &mut g);
        assert_eq!(f, g);
        pair_features("u2", &item, &mut g);
        assert_ne!(f[0], g[0]);
        assert_eq!(f[1], g[1]);
        assert!(f.iter().all(|&(_, r, _)| r < 1 << HASH_BITS));
    }
}
