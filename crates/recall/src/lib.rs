//! # funnel-recall — the recall stage: candidate generation
//!
//! Every candidate generator implements [`Recaller`]: fit on an interaction matrix, then
//! recommend top-K items for users (batch first, excluding what they already have), for a
//! context given only as an item list (a session or a user not seen in training), and list
//! similar items; save and load versioned model files ([`funnel_model`]).
//!
//! Models: [`Popular`] (optionally time-decayed), [`ItemKnn`] (cosine, Jaccard, asymmetric
//! cosine; BM25/TF-IDF weighting; shrinkage; top-N neighbours), [`UserKnn`], [`Ials`],
//! [`Bpr`], EASE^R, and the embedding models item2vec, DeepWalk, node2vec, LINE, EGES and
//! airbnb ([`embed`]:
//! one hand-written skip-gram-with-negative-sampling kernel over sessions, graph walks or edges),
//! each registered once in [`registry`]. Models whose users and items share a vector space
//! also implement [`VectorRecall`] (served through an ANN index).
//!
//! ```
//! use funnel_data::{Event, InteractionsBuilder, NoProgress};
//! use funnel_recall::{build, Params, Recaller};
//! let mut b = InteractionsBuilder::new();
//! for (u, i) in [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("c", "x")] {
//!     b.push(0, &Event::implicit(u, i));
//! }
//! let train = b.build().unwrap().remove(0);
//! let mut model = build("itemknn", &Params::default()).unwrap();
//! model.fit(&train, &NoProgress).unwrap();
//! let c = train.users().get("c").unwrap();
//! let y = train.items().get("y").unwrap();
//! assert_eq!(model.recommend(&[c], 5).unwrap()[0][0].0, y); // c has x; people with x have y
//! ```
#![warn(missing_docs)]
// Kernels walk CSR row ranges by index; zipped iterators over several arrays read worse.
#![allow(clippy::needless_range_loop)]

pub mod bpr;
#[cfg(feature = "ease")]
pub mod ease;
pub mod embed;
pub mod error;
mod hogwild;
pub mod ials;
pub mod itemknn;
pub mod mf;
pub mod popular;
pub mod presets;
pub mod registry;
pub mod similarity;
#[cfg(feature = "ease")]
mod spd_inverse;
pub mod topk;
pub mod userknn;

use std::path::Path;
use std::sync::Arc;

use funnel_data::{CsrMatrix, IdMap, Interactions, ItemId, Progress, Row, UserId};
use rayon::prelude::*;

pub use bpr::Bpr;
pub use embed::Embedding;
pub use error::{RecallError, Result};
/// Model files and parameters live in `funnel-model`, shared with the ranking stage.
pub use funnel_model::{
    file as model_file, params, ModelReader, ModelWriter, Params, FORMAT_VERSION,
};
pub use ials::Ials;
pub use itemknn::ItemKnn;
pub use popular::Popular;
pub use topk::{Scores, TopK};
pub use userknn::UserKnn;

/// A score given to an item.
pub type Score = f32;

/// What every fitted recaller keeps: the id maps and each user's training items
/// (to score from and to exclude).
#[derive(Debug, Clone)]
pub struct Fitted {
    /// User ids.
    pub users: Arc<IdMap>,
    /// Item ids.
    pub items: Arc<IdMap>,
    /// Training items per user, with values, without times.
    pub history: CsrMatrix,
}

impl Fitted {
    /// Takes ids and history from training interactions.
    pub fn from_train(train: &Interactions) -> Self {
        let m = train.csr();
        let history = CsrMatrix::from_parts(
            m.n_rows(),
            m.n_cols(),
            m.indptr().to_vec(),
            m.indices().to_vec(),
            m.values().map(<[f32]>::to_vec),
            None,
        )
        .expect("a valid matrix stays valid");
        Fitted {
            users: train.users().clone(),
            items: train.items().clone(),
            history,
        }
    }

    /// The dense id of an external user id.
    pub fn user(&self, id: &str) -> Result<UserId> {
        self.users.get(id).ok_or_else(|| RecallError::UnknownId {
            what: "user",
            id: id.into(),
            known: self.users.len(),
        })
    }

    /// The dense id of an external item id.
    pub fn item(&self, id: &str) -> Result<ItemId> {
        self.items.get(id).ok_or_else(|| RecallError::UnknownId {
            what: "item",
            id: id.into(),
            known: self.items.len(),
        })
    }

    /// Writes ids and history.
    pub fn save(&self, w: &mut ModelWriter) {
        w.ids("users", &self.users)
            .ids("items", &self.items)
            .csr("history", &self.history);
    }

    /// Reads ids and history.
    pub fn load(r: &ModelReader) -> Result<Self> {
        let users = Arc::new(r.ids("users")?);
        let items = Arc::new(r.ids("items")?);
        let history = r.csr("history")?;
        if history.n_rows() != users.len() || history.n_cols() != items.len() {
            return Err(RecallError::ModelFile {
                path: String::new(),
                message: "history shape does not match the id maps".into(),
            });
        }
        Ok(Fitted {
            users,
            items,
            history,
        })
    }
}

/// Item attributes by item id (the training data's dense ids): `(column, value)` pairs,
/// one per value of a multi-valued column.
pub type ItemAttributes = Vec<Vec<(String, String)>>;

/// The attributes of `items` read from an entity table: categorical columns as they are,
/// each token of a multi-valued column; numeric and text columns are left out (a number
/// is no category; bucket it into a token column to use it). Items the table lacks get
/// none.
pub fn item_attributes(items: &IdMap, table: &funnel_data::EntityTable) -> ItemAttributes {
    use funnel_data::AttrValue;
    (0..items.len() as u32)
        .map(|i| {
            let Some(row) = table.get(items.external(i)) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for ((name, _), value) in table.columns.iter().zip(row) {
                match value {
                    AttrValue::Categorical(v) => out.push((name.clone(), v.clone())),
                    AttrValue::Multi(vs) => {
                        out.extend(vs.iter().map(|v| (name.clone(), v.clone())))
                    }
                    AttrValue::Numeric(_) | AttrValue::Text(_) | AttrValue::Missing => {}
                }
            }
            out
        })
        .collect()
}

/// A model whose users and items live in one vector space, so that recall can run as a
/// nearest-neighbour search over item vectors for a user vector built from any history
/// (a user seen in training, a session, a user whose history moved since the fit).
pub trait VectorRecall: Send + Sync {
    /// One vector per item (the ANN index is built over these).
    fn item_vectors(&self) -> &mf::Factors;
    /// One vector per training user.
    fn user_vectors(&self) -> &mf::Factors;
    /// The vector of a user with these items (scores are its inner products with the
    /// item vectors).
    fn embed_history(&self, history: Row<'_>) -> Vec<f32>;
}

/// A candidate generator.
///
/// Implementors provide `fit`, `score` and `similar_items`; batch recommendation,
/// exclusion of training items and top-K selection are shared, so every model ranks
/// the same way.
pub trait Recaller: Send + Sync {
    /// The model's name (as in `--model`).
    fn name(&self) -> &'static str;

    /// Learns from training interactions.
    fn fit(&mut self, train: &Interactions, progress: &dyn Progress) -> Result<()>;

    /// Ids and history, once fitted.
    fn fitted(&self) -> Option<&Fitted>;

    /// Adds the scores of items for a user (when known) with training items `history`.
    fn score(&self, user: Option<UserId>, history: Row<'_>, scores: &mut Scores);

    /// The `k` items most similar to `item`, best first (the item itself excluded).
    fn similar_items(&self, item: ItemId, k: usize) -> Result<Vec<(ItemId, Score)>>;

    /// Saves to a model file.
    fn save(&self, path: &Path) -> Result<()>;

    /// What the last fit did, for reports (corpus sizes, skipped input, speeds), when the
    /// model keeps such figures.
    fn fit_report(&self) -> Option<serde_json::Value> {
        None
    }

    /// The model's vectors, when it can serve recall through an ANN index.
    fn vectors(&self) -> Option<&dyn VectorRecall> {
        None
    }

    /// Whether the model learns from item attributes (given by
    /// [`Recaller::set_item_attributes`] before `fit`).
    fn uses_item_attributes(&self) -> bool {
        false
    }

    /// The attributes of the items of the next `fit`, by the training data's item ids.
    /// Models without side information ignore them.
    fn set_item_attributes(&mut self, _attributes: ItemAttributes) {}

    /// Top-`k` items for each user, best first, excluding the user's training items.
    /// Users are scored in parallel.
    fn recommend(&self, users: &[UserId], k: usize) -> Result<Vec<Vec<(ItemId, Score)>>> {
        let f = self.fitted().ok_or(RecallError::NotFitted(self.name()))?;
        if let Some(&u) = users.iter().find(|&&u| u as usize >= f.users.len()) {
            return Err(RecallError::UnknownId {
                what: "user",
                id: u.to_string(),
                known: f.users.len(),
            });
        }
        let n_items = f.items.len();
        Ok(users
            .par_iter()
            .map_init(
                || Scores::new(n_items),
                |s, &u| {
                    let h = f.history.row(u as usize);
                    self.score(Some(u), h, s);
                    s.take_top_k(k, h.indices)
                },
            )
            .collect())
    }

    /// Top-`k` items for a context given only as items (a session, or a user not in the
    /// training data), excluding those items.
    fn recommend_for_items(&self, items: &[ItemId], k: usize) -> Result<Vec<(ItemId, Score)>> {
        let f = self.fitted().ok_or(RecallError::NotFitted(self.name()))?;
        let mut h: Vec<u32> = items.to_vec();
        h.sort_unstable();
        h.dedup();
        if let Some(&i) = h.iter().find(|&&i| i as usize >= f.items.len()) {
            return Err(RecallError::UnknownId {
                what: "item",
                id: i.to_string(),
                known: f.items.len(),
            });
        }
        let mut s = Scores::new(f.items.len());
        self.score(
            None,
            Row {
                indices: &h,
                values: None,
                times: None,
            },
            &mut s,
        );
        Ok(s.take_top_k(k, &h))
    }
}

/// Builds an unfitted model by name (or alias, see [`registry`]) with `--set` parameters.
pub fn build(name: &str, params: &Params) -> Result<Box<dyn Recaller>> {
    let e = registry::get(name).ok_or_else(|| RecallError::UnknownModel(name.to_string()))?;
    (e.build)(params)
}

/// Loads any model file, dispatching on the model type in its header.
pub fn load(path: &Path) -> Result<Box<dyn Recaller>> {
    let r = ModelReader::open(path)?;
    match registry::get(r.model()) {
        Some(e) => (e.load)(&r),
        None => Err(RecallError::ModelFile {
            path: path.display().to_string(),
            message: format!(
                "model type `{}` is not one this Funnel knows ({})",
                r.model(),
                registry::names()
            ),
        }),
    }
}

/// Parameters stored in a model file's header, as `--set` pairs.
pub(crate) fn params_from_json(v: &serde_json::Value) -> Params {
    let mut p = Params::default();
    if let Some(o) = v.as_object() {
        for (k, v) in o {
            p.set_default(
                k,
                v.as_str()
                    .map_or_else(|| v.to_string(), str::to_string)
                    .as_str(),
            );
        }
    }
    p
}

/// Builds a CSR matrix from per-row `(column, value)` lists.
pub(crate) fn csr_from_rows(n_cols: usize, rows: Vec<Vec<(u32, f32)>>) -> CsrMatrix {
    let mut indptr = Vec::with_capacity(rows.len() + 1);
    indptr.push(0u64);
    let nnz: usize = rows.iter().map(Vec::len).sum();
    let (mut idx, mut val) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
    for r in &rows {
        for &(c, v) in r {
            idx.push(c);
            val.push(v);
        }
        indptr.push(idx.len() as u64);
    }
    CsrMatrix::from_parts(rows.len(), n_cols, indptr, idx, Some(val), None).expect("rows are valid")
}
