//! Orders the writes that name the same user or item.
//!
//! A write is two steps: the store's commit, then the in-memory catalogue's update. Two
//! writes racing on one entity could commit in one order and reach the catalogue in the
//! other — a delete committed after a feedback batch, but applied before it, left the
//! catalogue with a user the store no longer had. Each write therefore holds its
//! entities' stripes across both steps: shared for feedback (batches commute: the store
//! decides which events are new), exclusive for inserts, patches and deletes (whose order
//! matters). Stripes are taken in ascending order, so writers never deadlock.

use std::hash::{BuildHasher, Hash};

use rustc_hash::FxBuildHasher;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// An entity a write names.
#[derive(Debug, Clone, Copy, Hash)]
pub enum Entity<'a> {
    /// A user id.
    User(&'a str),
    /// An item id.
    Item(&'a str),
}

/// Striped locks over entity ids.
pub struct WriteGate {
    stripes: Box<[RwLock<()>]>,
}

/// Held while a write's store commit and catalogue update run.
#[must_use = "the entities are only held while this lives"]
pub struct Held<'a> {
    _shared: Vec<RwLockReadGuard<'a, ()>>,
    _exclusive: Vec<RwLockWriteGuard<'a, ()>>,
}

impl Default for WriteGate {
    fn default() -> Self {
        WriteGate {
            stripes: (0..256).map(|_| RwLock::new(())).collect(),
        }
    }
}

impl WriteGate {
    fn stripes<'e>(&self, entities: impl IntoIterator<Item = Entity<'e>>) -> Vec<usize> {
        let mut s: Vec<usize> = entities
            .into_iter()
            .map(|e| FxBuildHasher.hash_one(e) as usize % self.stripes.len())
            .collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    /// Holds `entities` against exclusive writers (feedback).
    pub async fn shared<'e>(&self, entities: impl IntoIterator<Item = Entity<'e>>) -> Held<'_> {
        let mut guards = Vec::new();
        for s in self.stripes(entities) {
            guards.push(self.stripes[s].read().await);
        }
        Held {
            _shared: guards,
            _exclusive: Vec::new(),
        }
    }

    /// Holds `entities` against every other writer (inserts, patches, deletes).
    pub async fn exclusive<'e>(&self, entities: impl IntoIterator<Item = Entity<'e>>) -> Held<'_> {
        let mut guards = Vec::new();
        for s in self.stripes(entities) {
            guards.push(self.stripes[s].write().await);
        }
        Held {
            _shared: Vec::new(),
            _exclusive: guards,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exclusive_waits_for_shared_on_the_same_entity_only() {
        let gate = std::sync::Arc::new(WriteGate::default());
        let held = gate.shared([Entity::User("u"), Entity::Item("i")]).await;
        // a second shared holder and an unrelated exclusive writer get through at once
        let _also = gate.shared([Entity::User("u")]).await;
        let other = (0..1000)
            .map(|k| format!("v{k}"))
            .find(|v| gate.stripes([Entity::User(v)]) != gate.stripes([Entity::User("u")]))
            .unwrap();
        drop(gate.exclusive([Entity::User(&other)]).await);
        let g = gate.clone();
        let waiter = tokio::spawn(async move {
            let _x = g.exclusive([Entity::User("u")]).await;
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        drop(held);
        drop(_also);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
