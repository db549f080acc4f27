//! External string ids mapped to dense `u32` ids.

use rustc_hash::FxHashMap;

/// Dense id of a user.
pub type UserId = u32;
/// Dense id of an item.
pub type ItemId = u32;

/// A two-way map between external string ids and dense ids `0..len`.
///
/// Dense ids are given in order of first appearance, so the same input always gives
/// the same ids.
#[derive(Debug, Clone, Default)]
pub struct IdMap {
    to_dense: FxHashMap<Box<str>, u32>,
    to_external: Vec<Box<str>>,
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The dense id of `external`, adding it if new.
    #[inline]
    pub fn intern(&mut self, external: &str) -> u32 {
        if let Some(&id) = self.to_dense.get(external) {
            return id;
        }
        let id = self.to_external.len() as u32;
        let key: Box<str> = external.into();
        self.to_external.push(key.clone());
        self.to_dense.insert(key, id);
        id
    }

    /// The dense id of `external`, if known.
    #[inline]
    pub fn get(&self, external: &str) -> Option<u32> {
        self.to_dense.get(external).copied()
    }

    /// The external id of a dense id.
    #[inline]
    pub fn external(&self, dense: u32) -> &str {
        &self.to_external[dense as usize]
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.to_external.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.to_external.is_empty()
    }

    /// External ids in dense order.
    pub fn externals(&self) -> impl Iterator<Item = &str> {
        self.to_external.iter().map(|s| &**s)
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
