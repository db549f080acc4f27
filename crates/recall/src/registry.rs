//! Every recall model, registered once: its name, aliases, what it is, how to build it
//! from `--set` parameters and how to load its model file. The CLI's `--model` names,
//! the error that lists them, `funnel models`, the server's config checks and the
//! contract test all read this list; a new model is a module plus one entry here.
//!
//! Parameters are not listed by hand: [`Entry::parameters`] builds the model with no
//! parameters and reports every key its constructor read, with the default it used.

use funnel_model::{ModelReader, ParamDoc, Params};

use crate::embed::Kind;
#[cfg(not(feature = "ease"))]
use crate::RecallError;
use crate::{Bpr, Embedding, Ials, ItemKnn, Popular, Recaller, Result, UserKnn};

/// One registered recall model.
pub struct Entry {
    /// The name `--model` takes and model files carry.
    pub name: &'static str,
    /// Other names `--model` accepts.
    pub aliases: &'static [&'static str],
    /// One line on what the model is.
    pub summary: &'static str,
    /// An unfitted model from `--set` parameters.
    pub build: fn(&Params) -> Result<Box<dyn Recaller>>,
    /// A fitted model from its file.
    pub load: fn(&ModelReader) -> Result<Box<dyn Recaller>>,
    /// Whether it serves recall through an ANN index ([`Recaller::vectors`]): a server
    /// channel of kind `vectors` needs it.
    pub vectors: bool,
}

impl Entry {
    /// The parameters the model reads, with their defaults, in the order it reads them.
    pub fn parameters(&self) -> Result<Vec<ParamDoc>> {
        let p = Params::default();
        (self.build)(&p)?;
        Ok(p.documented())
    }
}

fn boxed<M: Recaller + 'static>(m: Result<M>) -> Result<Box<dyn Recaller>> {
    Ok(Box::new(m?))
}

#[cfg(feature = "ease")]
fn ease_build(p: &Params) -> Result<Box<dyn Recaller>> {
    boxed(crate::ease::Ease::new(p))
}

#[cfg(feature = "ease")]
fn ease_load(r: &ModelReader) -> Result<Box<dyn Recaller>> {
    boxed(crate::ease::Ease::load(r))
}

#[cfg(not(feature = "ease"))]
fn ease_build(_: &Params) -> Result<Box<dyn Recaller>> {
    Err(RecallError::Param {
        model: "ease",
        message: "this build of Funnel has no EASE; rebuild with the `ease` feature".into(),
    })
}

#[cfg(not(feature = "ease"))]
fn ease_load(_: &ModelReader) -> Result<Box<dyn Recaller>> {
    ease_build(&Params::default())
}

/// The recall models, in the order they are listed.
pub const MODELS: &[Entry] = &[
    Entry {
        name: "popular",
        aliases: &["pop"],
        summary: "most interacted items, optionally time-decayed",
        build: |p| boxed(Popular::new(p)),
        load: |r| boxed(Popular::load(r)),
        vectors: false,
    },
    Entry {
        name: "itemknn",
        aliases: &["itemcf"],
        summary: "item-to-item neighbours (cosine, asymmetric, Jaccard, dot; BM25/TF-IDF)",
        build: |p| boxed(ItemKnn::new(p)),
        load: |r| boxed(ItemKnn::load(r)),
        vectors: false,
    },
    Entry {
        name: "userknn",
        aliases: &["usercf"],
        summary: "user-to-user neighbours",
        build: |p| boxed(UserKnn::new(p)),
        load: |r| boxed(UserKnn::load(r)),
        vectors: false,
    },
    Entry {
        name: "ials",
        aliases: &["als"],
        summary: "implicit ALS matrix factorisation (CG or Cholesky), with fold-in",
        build: |p| boxed(Ials::new(p)),
        load: |r| boxed(Ials::load(r)),
        vectors: true,
    },
    Entry {
        name: "bpr",
        aliases: &[],
        summary: "BPR matrix factorisation (Hogwild SGD)",
        build: |p| boxed(Bpr::new(p)),
        load: |r| boxed(Bpr::load(r)),
        // Its vectors score users it was trained on; embedding a new history is not
        // built yet.
        vectors: false,
    },
    Entry {
        name: "ease",
        aliases: &[],
        summary: "EASE^R linear autoencoder (closed form, dense item-item weights)",
        build: ease_build,
        load: ease_load,
        vectors: false,
    },
    Entry {
        name: "item2vec",
        aliases: &[],
        summary: "skip-gram with negative sampling over users' sessions (item2vec)",
        build: |p| boxed(Embedding::new(Kind::Item2Vec, p)),
        load: |r| boxed(Embedding::load(Kind::Item2Vec, r)),
        vectors: true,
    },
    Entry {
        name: "deepwalk",
        aliases: &[],
        summary: "skip-gram over random walks on the item graph (DeepWalk)",
        build: |p| boxed(Embedding::new(Kind::DeepWalk, p)),
        load: |r| boxed(Embedding::load(Kind::DeepWalk, r)),
        vectors: true,
    },
    Entry {
        name: "node2vec",
        aliases: &[],
        summary: "skip-gram over p/q-biased walks on the item graph (node2vec)",
        build: |p| boxed(Embedding::new(Kind::Node2Vec, p)),
        load: |r| boxed(Embedding::load(Kind::Node2Vec, r)),
        vectors: true,
    },
    Entry {
        name: "line",
        aliases: &[],
        summary: "first- and/or second-order proximity of the item graph's edges (LINE)",
        build: |p| boxed(Embedding::new(Kind::Line, p)),
        load: |r| boxed(Embedding::load(Kind::Line, r)),
        vectors: true,
    },
    Entry {
        name: "eges",
        aliases: &[],
        summary: "item2vec with side information mixed in by learned weights; cold-start vectors from attributes (EGES)",
        build: |p| boxed(Embedding::new(Kind::Eges, p)),
        load: |r| boxed(Embedding::load(Kind::Eges, r)),
        vectors: true,
    },
    Entry {
        name: "airbnb",
        aliases: &[],
        summary: "session embeddings with the conversion as global context and same-market negatives (Airbnb, KDD 2018)",
        build: |p| boxed(Embedding::new(Kind::Airbnb, p)),
        load: |r| boxed(Embedding::load(Kind::Airbnb, r)),
        vectors: true,
    },
];

/// The entry `name` (or an alias of it) refers to.
pub fn get(name: &str) -> Option<&'static Entry> {
    MODELS
        .iter()
        .find(|e| e.name == name || e.aliases.contains(&name))
}

/// The registered names, for messages.
pub fn names() -> String {
    MODELS.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
}
