//! External string ids mapped to dense `u32` ids.

use std::hash::{BuildHasher, BuildHasherDefault};

use hashbrown::HashTable;
use rustc_hash::FxHasher;

/// Dense id of a user.
pub type UserId = u32;
/// Dense id of an item.
pub type ItemId = u32;

type Fx = BuildHasherDefault<FxHasher>;

/// A two-way map between external string ids and dense ids `0..len`.
///
/// Dense ids are given in order of first appearance, so the same input always gives the
/// same ids. Every id is stored once, in one arena; the hash table holds only dense ids.
/// That keeps interning free of per-id allocations and the table small enough to stay
/// in cache longer — interning is most of the cost of reading a large file.
#[derive(Clone, Default)]
pub struct IdMap {
    table: HashTable<u32>,
    arena: String,
    ends: Vec<u64>,
    hasher: Fx,
}

impl std::fmt::Debug for IdMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdMap").field("len", &self.len()).finish()
    }
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn slice(&self, id: u32) -> &str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.arena[start..self.ends[i] as usize]
    }

    /// The dense id of `external`, adding it if new.
    #[inline]
    pub fn intern(&mut self, external: &str) -> u32 {
        let hash = self.hasher.hash_one(external);
        let (arena, ends) = (&self.arena, &self.ends);
        let eq = |&id: &u32| {
            let i = id as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            &arena[start..ends[i] as usize] == external
        };
        if let Some(&id) = self.table.find(hash, eq) {
            return id;
        }
        let id = self.ends.len() as u32;
        self.arena.push_str(external);
        self.ends.push(self.arena.len() as u64);
        let (arena, ends, hasher) = (&self.arena, &self.ends, &self.hasher);
        self.table.insert_unique(hash, id, |&k| {
            let i = k as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            hasher.hash_one(&arena[start..ends[i] as usize])
        });
        id
    }

    /// The dense id of `external`, if known.
    #[inline]
    pub fn get(&self, external: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(external);
        self.table
            .find(hash, |&id| self.slice(id) == external)
            .copied()
    }

    /// The external id of a dense id.
    #[inline]
    pub fn external(&self, dense: u32) -> &str {
        self.slice(dense)
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// External ids in dense order.
    pub fn externals(&self) -> impl Iterator<Item = &str> {
        (0..self.len() as u32).map(|i| self.slice(i))
    }

    /// Builds a map from external ids given in dense order.
    pub fn from_externals<I: IntoIterator<Item = S>, S: AsRef<str>>(ids: I) -> Self {
        let mut m = IdMap::new();
        for s in ids {
            m.intern(s.as_ref());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_appearance_order_and_lookup() {
        let mut m = IdMap::new();
        assert_eq!(m.intern("b"), 0);
        assert_eq!(m.intern("a"), 1);
        assert_eq!(m.intern("b"), 0);
        assert_eq!(m.intern(""), 2);
        for i in 0..10_000 {
            m.intern(&format!("id{i}"));
        }
        assert_eq!(m.len(), 10_003);
        assert_eq!(m.get("id9999"), Some(10_002));
        assert_eq!(m.external(10_002), "id9999");
        assert_eq!(m.get("nope"), None);
        assert_eq!(
            m.externals().take(3).collect::<Vec<_>>(),
            vec!["b", "a", ""]
        );
    }
}
