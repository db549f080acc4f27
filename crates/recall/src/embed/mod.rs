//! Embedding recall from sequences and graphs: `item2vec` (skip-gram over users' sessions),
//! `deepwalk` (uniform walks over the item graph), `node2vec` (walks biased by p and q),
//! all trained by one skip-gram-with-negative-sampling kernel ([`sgns`]), and `line`
//! (the graph's edges sampled directly, first- and/or second-order, [`line`]).
//!
//! A user's vector is the (optionally recency-weighted) sum of their recent items' unit
//! vectors, and items are scored by inner product with their unit vectors — the sum of
//! cosines to the user's items — so recall can run through the ANN index
//! ([`crate::VectorRecall`]); `similar_items` is cosine.

pub mod alias;
pub mod corpus;
pub mod graph;
pub mod line;
pub mod sgns;

use std::path::Path;

use funnel_data::{Interactions, ItemId, Progress, Row, UserId};
use serde_json::{json, Value};

use crate::mf::{self, axpy, dot, Factors};
use crate::{
    Fitted, ModelReader, Params, RecallError, Recaller, Result, Score, Scores, VectorRecall,
};
use corpus::{CorpusStats, SequenceOptions};
use graph::{ItemGraph, WalkOptions};
use sgns::{Arch, SgnsConfig, Window};

/// Which corpus the vectors are trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Users' sessions.
    Item2Vec,
    /// Uniform (weighted first-order) walks over the item graph.
    DeepWalk,
    /// p/q-biased second-order walks.
    Node2Vec,
    /// The graph's edges themselves (first- and/or second-order proximity).
    Line,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Item2Vec => "item2vec",
            Kind::DeepWalk => "deepwalk",
            Kind::Node2Vec => "node2vec",
            Kind::Line => "line",
        }
    }
}

/// How a history scores items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scoring {
    /// Σ over the history of input · output vectors: SGNS's own estimate of how likely
    /// the candidate is in the context of each history item.
    Context,
    /// Σ of cosines between input vectors (item similarity, popularity-blind).
    Cosine,
}

/// Graph and walk settings of `deepwalk` and `node2vec`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct GraphOptions {
    window: usize,
    /// None: directed when the interactions have times.
    directed: Option<bool>,
    min_edge_weight: f32,
    walks: WalkOptions,
    /// LINE: which proximities (first, second, or both, each in half the dimensions).
    orders: &'static [line::Order],
}

/// An item-embedding recaller (see the module doc). Parameters, all models:
/// `dim` (64), `window` (5), `window_mode` (`shrink` | `fixed` | `session`), `arch`
/// (`skipgram` | `cbow`), `negatives` (5), `ns_exponent` (0.75), `sample` (sub-sampling,
/// 0.001), `learning_rate` (0.025), `min_learning_rate` (0.0001), `epochs`, `seed`;
/// sequences: `session_gap` (seconds, 0 = none), `min_count` (1), `max_user_items`
/// (0 = no cap), `reshuffle` (item2vec: shuffle untimed sequences — sets — anew each
/// epoch, true); scoring: `scoring` (`context` | `cosine`), `recent_items` (0 = all),
/// `recency` (weight factor per step back in time, 1 = none). Graph models add `graph_window` (1), `directed`
/// (`auto` | `true` | `false`), `min_edge_weight` (1), `walks_per_node` (10),
/// `walk_length` (40); `node2vec` adds `p` and `q` (1). `line` reads the graph keys
/// (`graph_window` 3) but no window, walk or sub-sampling keys, and adds `order` (`1`,
/// `2`, `both`: each order in half the dimensions); its epochs (100) are |E| edge samples.
#[derive(Debug, Clone)]
pub struct Embedding {
    kind: Kind,
    sgns: SgnsConfig,
    seq: SequenceOptions,
    graph: Option<GraphOptions>,
    recent_items: usize,
    recency: f32,
    /// item2vec: shuffle untimed sequences anew each epoch.
    reshuffle: bool,
    scoring: Scoring,
    params: Value,
    fitted: Option<Fitted>,
    /// What each item adds to a user's vector (zero for items never trained).
    queries: Factors,
    /// What a user's vector is scored against.
    items: Factors,
    users: Factors,
    report: Option<Value>,
}

fn param_error(model: &'static str, message: String) -> RecallError {
    RecallError::Param { model, message }
}

impl Embedding {
    /// Reads parameters for `kind`.
    pub fn new(kind: Kind, p: &Params) -> Result<Self> {
        let m = kind.name();
        let graph_model = kind != Kind::Item2Vec;
        let is_line = kind == Kind::Line;
        let dim: usize = p.get(m, "dim", 64, "a positive integer")?;
        // LINE trains on edges: no window, architecture or sub-sampling.
        let (window, window_mode, arch, sample): (usize, String, String, f64) = if is_line {
            (1, "shrink".to_string(), "skipgram".to_string(), 0.0)
        } else {
            (
                p.get(m, "window", 10, "a positive integer")?,
                p.choice(m, "window_mode", "shrink", &["shrink", "fixed", "session"])?,
                p.choice(m, "arch", "skipgram", &["skipgram", "cbow"])?,
                p.get(m, "sample", 0.001, "a number >= 0")?,
            )
        };
        let negatives: usize = p.get(m, "negatives", 5, "a positive integer")?;
        // Uniform negatives for every model, LINE too (its paper draws by degree^0.75):
        // context scoring needs them to keep popularity (docs/embeddings.md).
        let ns_exponent: f64 = p.get(m, "ns_exponent", 0.0, "a number >= 0")?;
        let lr: f32 = p.get(m, "learning_rate", 0.025, "a number > 0")?;
        let min_lr: f32 = p.get(m, "min_learning_rate", 0.0001, "a number >= 0")?;
        let epochs: usize = p.get(
            m,
            "epochs",
            // LINE's epoch is |E| edge samples: each edge is seen about once per epoch.
            match kind {
                Kind::Item2Vec => 20,
                Kind::Line => 100,
                _ => 5,
            },
            "a positive integer",
        )?;
        let seed: u64 = p.get(m, "seed", 0, "an integer")?;
        let seq = SequenceOptions {
            session_gap: p.get(m, "session_gap", 0, "seconds, 0 for none")?,
            min_count: p.get(m, "min_count", 1, "a positive integer")?,
            max_user_items: p.get(m, "max_user_items", 0, "a count, 0 for no cap")?,
            seed,
        };
        let recent_items: usize = p.get(m, "recent_items", 0, "a count, 0 for all")?;
        let recency: f32 = p.get(m, "recency", 1.0, "a number in (0, 1]")?;
        let scoring = p.choice(m, "scoring", "context", &["context", "cosine"])?;
        let reshuffle = !graph_model && p.get(m, "reshuffle", true, "true or false")?;
        let graph = if graph_model {
            let directed = p.choice(m, "directed", "auto", &["auto", "true", "false"])?;
            let (pp, qq) = if kind == Kind::Node2Vec {
                (
                    p.get(m, "p", 1.0, "a number > 0")?,
                    p.get(m, "q", 1.0, "a number > 0")?,
                )
            } else {
                (1.0, 1.0)
            };
            // LINE sees only direct edges; linking items up to 3 apart gives it the
            // neighbourhood a walk's window gives DeepWalk (synthetic recall 0.25 → 0.37).
            let window = p.get(
                m,
                "graph_window",
                if is_line { 3 } else { 1 },
                "a positive integer",
            )?;
            let min_edge_weight = p.get(m, "min_edge_weight", 1.0, "a number >= 1")?;
            let walks = if is_line {
                WalkOptions {
                    walks_per_node: 1,
                    walk_length: 2,
                    p: 1.0,
                    q: 1.0,
                    seed,
                }
            } else {
                WalkOptions {
                    walks_per_node: p.get(m, "walks_per_node", 10, "a positive integer")?,
                    walk_length: p.get(m, "walk_length", 40, "an integer >= 2")?,
                    p: pp,
                    q: qq,
                    seed,
                }
            };
            let orders: &'static [line::Order] = if is_line {
                match p.choice(m, "order", "2", &["1", "2", "both"])?.as_str() {
                    "1" => &[line::Order::First],
                    "2" => &[line::Order::Second],
                    _ => &[line::Order::First, line::Order::Second],
                }
            } else {
                &[]
            };
            Some(GraphOptions {
                window,
                directed: match directed.as_str() {
                    "auto" => None,
                    d => Some(d == "true"),
                },
                min_edge_weight,
                walks,
                orders,
            })
        } else {
            None
        };
        p.finish(m)?;
        let bad = |key: &str, want: &str| Err(param_error(m, format!("`{key}` must be {want}")));
        if dim == 0 {
            return bad("dim", "at least 1");
        }
        if window == 0 {
            return bad("window", "at least 1");
        }
        if negatives == 0 {
            return bad("negatives", "at least 1");
        }
        if !(ns_exponent.is_finite() && ns_exponent >= 0.0) {
            return bad("ns_exponent", "a finite number >= 0");
        }
        if is_line && dim < 2 && graph.as_ref().is_some_and(|g| g.orders.len() == 2) {
            return bad("dim", "at least 2 with `order=both` (half for each order)");
        }
        if !(sample.is_finite() && sample >= 0.0) {
            return bad("sample", "a finite number >= 0");
        }
        if !(lr.is_finite() && lr > 0.0) {
            return bad("learning_rate", "a finite number > 0");
        }
        if !(min_lr.is_finite() && (0.0..=lr).contains(&min_lr)) {
            return bad("min_learning_rate", "between 0 and `learning_rate`");
        }
        if epochs == 0 {
            return bad("epochs", "at least 1");
        }
        if seq.min_count == 0 {
            return bad("min_count", "at least 1");
        }
        if !(recency > 0.0 && recency <= 1.0) {
            return bad("recency", "in (0, 1]");
        }
        if let Some(g) = &graph {
            if g.window == 0 {
                return bad("graph_window", "at least 1");
            }
            if !(g.min_edge_weight.is_finite() && g.min_edge_weight >= 1.0) {
                return bad("min_edge_weight", "a number >= 1");
            }
            if g.walks.walks_per_node == 0 {
                return bad("walks_per_node", "at least 1");
            }
            if g.walks.walk_length < 2 {
                return bad("walk_length", "at least 2");
            }
            if !(g.walks.p.is_finite() && g.walks.p > 0.0) {
                return bad("p", "a finite number > 0");
            }
            if !(g.walks.q.is_finite() && g.walks.q > 0.0) {
                return bad("q", "a finite number > 0");
            }
        }
        let mut params = json!({
            "dim": dim, "window": window, "window_mode": window_mode, "arch": arch,
            "negatives": negatives, "ns_exponent": ns_exponent, "sample": sample,
            "learning_rate": lr, "min_learning_rate": min_lr, "epochs": epochs, "seed": seed,
            "session_gap": seq.session_gap, "min_count": seq.min_count,
            "max_user_items": seq.max_user_items, "recent_items": recent_items, "recency": recency,
            "scoring": scoring,
        });
        if !graph_model {
            params["reshuffle"] = json!(reshuffle);
        }
        if let Some(g) = &graph {
            let o = params.as_object_mut().expect("an object");
            o.insert("graph_window".into(), json!(g.window));
            o.insert(
                "directed".into(),
                json!(g.directed.map_or("auto".to_string(), |d| d.to_string())),
            );
            o.insert("min_edge_weight".into(), json!(g.min_edge_weight));
            if is_line {
                let order = match g.orders {
                    [line::Order::First] => "1",
                    [line::Order::Second] => "2",
                    _ => "both",
                };
                o.insert("order".into(), json!(order));
                for key in ["window", "window_mode", "arch", "sample"] {
                    o.remove(key);
                }
            } else {
                o.insert("walks_per_node".into(), json!(g.walks.walks_per_node));
                o.insert("walk_length".into(), json!(g.walks.walk_length));
            }
            if kind == Kind::Node2Vec {
                o.insert("p".into(), json!(g.walks.p));
                o.insert("q".into(), json!(g.walks.q));
            }
        }
        Ok(Embedding {
            kind,
            sgns: SgnsConfig {
                dim,
                window: match window_mode.as_str() {
                    "fixed" => Window::Fixed(window),
                    "session" => Window::Session,
                    _ => Window::Shrink(window),
                },
                arch: if arch == "cbow" {
                    Arch::Cbow
                } else {
                    Arch::SkipGram
                },
                negatives,
                ns_exponent,
                sample,
                lr,
                min_lr,
                epochs,
                seed,
                shuffle: false,
            },
            seq,
            graph,
            recent_items,
            recency,
            reshuffle,
            scoring: if scoring == "cosine" {
                Scoring::Cosine
            } else {
                Scoring::Context
            },
            params,
            fitted: None,
            queries: Factors::zeros(0, dim),
            items: Factors::zeros(0, dim),
            users: Factors::zeros(0, dim),
            report: None,
        })
    }

    /// Loads a saved model of `kind`.
    pub fn load(kind: Kind, r: &ModelReader) -> Result<Self> {
        r.expect_model(kind.name())?;
        let mut m = Embedding::new(kind, &crate::params_from_json(r.params()))?;
        let f = Fitted::load(r)?;
        (m.users, m.items) = mf::load_factors(r, &f, m.sgns.dim)?;
        m.queries = Factors {
            n: m.items.n,
            k: m.items.k,
            data: r.f32s("item_queries")?,
        };
        if m.queries.data.len() != m.items.data.len() {
            return Err(RecallError::ModelFile {
                path: String::new(),
                message: "item_queries does not match item_factors".into(),
            });
        }
        m.fitted = Some(f);
        Ok(m)
    }

    /// The user vector of a history: the weighted sum of the unit vectors of its
    /// `recent_items` latest items (by time when known), the latest weighted 1 and each
    /// step back `recency` times less.
    fn embed(&self, history: Row<'_>) -> Vec<f32> {
        let mut order: Vec<(u32, u32)> = history
            .indices
            .iter()
            .enumerate()
            .map(|(n, &i)| (history.times.map_or(0, |t| t[n]), i))
            .collect();
        if history.times.is_some() {
            order.sort_by_key(|&(t, _)| std::cmp::Reverse(t));
        }
        let take = if self.recent_items == 0 {
            order.len()
        } else {
            self.recent_items.min(order.len())
        };
        let mut v = vec![0.0f32; self.sgns.dim];
        let mut w = 1.0f32;
        for &(_, i) in &order[..take] {
            if (i as usize) < self.queries.n {
                axpy(w, self.queries.row(i as usize), &mut v);
            }
            if history.times.is_some() {
                w *= self.recency;
            }
        }
        v
    }
}

impl Recaller for Embedding {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    fn fit(&mut self, train: &Interactions, progress: &dyn Progress) -> Result<()> {
        let t0 = std::time::Instant::now();
        let n_items = train.n_items();
        let (sessions, stats): (sgns::Corpus, CorpusStats) = corpus::sequences(train, &self.seq);
        let mut report = json!({"sequences": stats});
        let mut cfg = self.sgns;
        let graph = self.graph.as_ref().map(|g| {
            let directed = g.directed.unwrap_or(train.has_times());
            let graph = ItemGraph::from_sequences(
                &sessions,
                n_items,
                g.window,
                directed,
                g.min_edge_weight,
            );
            report["graph"] = json!({
                "nodes": graph.n_nodes(),
                "edges": graph.n_edges(),
                "directed": directed,
                "bytes": graph.bytes(),
            });
            graph
        });
        let (mut input, mut output, trained_items) = match (&self.graph, graph) {
            (Some(g), Some(graph)) if self.kind == Kind::Line => {
                // Each order in its share of the dimensions, side by side.
                let parts = g.orders.len();
                let mut vertex = Factors::zeros(n_items, cfg.dim);
                let mut context = Factors::zeros(n_items, cfg.dim);
                let mut offset = 0;
                let mut seconds = 0.0;
                for (n, &order) in g.orders.iter().enumerate() {
                    let width = cfg.dim / parts + usize::from(n < cfg.dim % parts);
                    let c = SgnsConfig {
                        dim: width,
                        seed: cfg.seed + n as u64,
                        ..cfg
                    };
                    let (v, x, secs) = line::train(&graph, order, &c, progress);
                    seconds += secs;
                    for i in 0..n_items {
                        vertex.row_mut(i)[offset..offset + width].copy_from_slice(v.row(i));
                        context.row_mut(i)[offset..offset + width].copy_from_slice(x.row(i));
                    }
                    offset += width;
                }
                let samples = cfg.epochs * graph.n_edges();
                report["line"] = json!({
                    "edge_samples": samples,
                    "seconds": seconds,
                    "samples_per_second": samples as f64 * parts as f64 / seconds.max(1e-9),
                });
                let trained: Vec<bool> = (0..n_items as u32)
                    .map(|v| !graph.neighbours(v).is_empty())
                    .collect();
                (vertex, context, trained)
            }
            (g, graph) => {
                let corpus = match (g, graph) {
                    (Some(g), Some(graph)) => {
                        let t = std::time::Instant::now();
                        let walks = graph::walks(&graph, &g.walks);
                        report["graph"]["walks"] = json!(walks.len());
                        report["graph"]["walk_tokens"] = json!(walks.tokens.len());
                        report["graph"]["walk_seconds"] = json!(t.elapsed().as_secs_f64());
                        walks
                    }
                    _ => {
                        cfg.shuffle = self.reshuffle && !train.has_times();
                        sessions
                    }
                };
                let trained = sgns::train(&corpus, n_items, &cfg, progress);
                report["sgns"] = json!({
                    "tokens": trained.words,
                    "seconds": trained.seconds,
                    "tokens_per_second": trained.words as f64 / trained.seconds.max(1e-9),
                });
                let seen: Vec<bool> = trained.counts.iter().map(|&c| c > 0).collect();
                (trained.input, trained.output, seen)
            }
        };
        for i in 0..n_items {
            if !trained_items[i] {
                input.row_mut(i).fill(0.0);
                output.row_mut(i).fill(0.0);
            }
        }
        let untrained = trained_items.iter().filter(|&&t| !t).count();
        report["untrained_items"] = json!(untrained);
        let unit = unit_rows(&input);
        (self.queries, self.items) = match self.scoring {
            Scoring::Context => (input, output),
            Scoring::Cosine => (unit.clone(), unit),
        };
        let mut users = Factors::zeros(train.n_users(), self.sgns.dim);
        for u in 0..train.n_users() {
            let v = self.embed(train.user_row(u as u32));
            users.row_mut(u).copy_from_slice(&v);
        }
        self.users = users;
        self.fitted = Some(Fitted::from_train(train));
        report["seconds"] = json!(t0.elapsed().as_secs_f64());
        self.report = Some(report);
        Ok(())
    }

    fn fitted(&self) -> Option<&Fitted> {
        self.fitted.as_ref()
    }

    fn score(&self, user: Option<UserId>, history: Row<'_>, scores: &mut Scores) {
        let v = match user {
            Some(u) if (u as usize) < self.users.n => self.users.row(u as usize).to_vec(),
            _ => self.embed(history),
        };
        for (i, o) in scores.dense_mut().iter_mut().enumerate() {
            *o = dot(&v, self.items.row(i));
        }
    }

    fn recommend(&self, users: &[UserId], k: usize) -> Result<Vec<Vec<(ItemId, Score)>>> {
        mf::recommend(
            self.kind.name(),
            self.fitted.as_ref(),
            &self.users,
            &self.items,
            None,
            users,
            k,
        )
    }

    fn similar_items(&self, item: ItemId, k: usize) -> Result<Vec<(ItemId, Score)>> {
        mf::similar_items(&self.queries, item, k)
    }

    fn save(&self, path: &Path) -> Result<()> {
        let f = self
            .fitted
            .as_ref()
            .ok_or(RecallError::NotFitted(self.kind.name()))?;
        let mut w = crate::ModelWriter::new(self.kind.name(), self.params.clone());
        f.save(&mut w);
        for (name, x) in [
            ("user_factors", &self.users),
            ("item_factors", &self.items),
            ("item_queries", &self.queries),
        ] {
            w.f32s(name, vec![x.n, x.k], &x.data);
        }
        Ok(w.write(path)?)
    }

    fn vectors(&self) -> Option<&dyn VectorRecall> {
        Some(self)
    }

    fn fit_report(&self) -> Option<Value> {
        self.report.clone()
    }
}

/// Rows scaled to unit length (zero rows stay zero).
fn unit_rows(f: &Factors) -> Factors {
    let mut u = f.clone();
    for i in 0..u.n {
        let row = u.row_mut(i);
        let norm = dot(row, row).sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    }
    u
}

impl VectorRecall for Embedding {
    fn item_vectors(&self) -> &Factors {
        &self.items
    }

    fn user_vectors(&self) -> &Factors {
        &self.users
    }

    fn embed_history(&self, history: Row<'_>) -> Vec<f32> {
        self.embed(history)
    }
}
