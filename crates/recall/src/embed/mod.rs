//! Embedding recall from sequences and graphs: `item2vec` (skip-gram over users' sessions),
//! `deepwalk` (uniform walks over the item graph), `node2vec` (walks biased by p and q),
//! all trained by one skip-gram-with-negative-sampling kernel ([`sgns`]), and `line`
//! (the graph's edges sampled directly, first- and/or second-order, [`line`]), `eges`
//! (item2vec whose input vectors mix the item's row with its attributes' rows by learned
//! weights, [`side`]: items with attributes only get vectors) and `airbnb` (Airbnb's
//! listing embeddings: sessions, the session's conversion as a global context of every
//! item in it, extra negatives from the item's market).
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
pub mod side;

use std::path::Path;

use funnel_data::{Interactions, ItemId, Progress, Row, UserId};
use serde_json::{json, Value};

use crate::mf::{self, axpy, dot, Factors};
use crate::{
    Fitted, ItemAttributes, ModelReader, Params, RecallError, Recaller, Result, Score, Scores,
    VectorRecall,
};
use corpus::{CorpusStats, SequenceOptions};
use graph::{ItemGraph, WalkOptions};
use sgns::{Arch, Extras, SgnsConfig, Table, Window, NO_TOKEN};
use side::{ColdStart, SideInfo, SideInputs};

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
    /// Sessions (or walks), input vectors mixed from the item's and its attributes' rows.
    Eges,
    /// Sessions with the conversion as a global context and market negatives.
    Airbnb,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Item2Vec => "item2vec",
            Kind::DeepWalk => "deepwalk",
            Kind::Node2Vec => "node2vec",
            Kind::Line => "line",
            Kind::Eges => "eges",
            Kind::Airbnb => "airbnb",
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
/// `eges` adds `side_columns` (comma-separated attribute columns, empty = all) and
/// `corpus` (`sessions` | `walks`: the graph keys then apply); `airbnb` adds `conversion`
/// (`last`: a session's last item is its conversion; a number: its last item with at
/// least that value, sessions without one have none), `market` (`auto`: the attribute
/// column with the fewest distinct values; a column; `none`) and `market_negatives` (2).
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
    /// eges: the attribute columns used (empty: all).
    side_columns: Vec<String>,
    /// airbnb: the minimum value of a conversion (`None`: a session's last item).
    conversion: Option<f32>,
    /// airbnb: the market column (`auto`, a name or `none`).
    market: String,
    market_negatives: usize,
    /// Given before `fit` (eges, airbnb).
    attributes: Option<ItemAttributes>,
    /// eges: the vectors of attribute tokens, for items the training never saw.
    cold: Option<ColdStart>,
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
        let eges_corpus = if kind == Kind::Eges {
            p.choice(m, "corpus", "sessions", &["sessions", "walks"])?
        } else {
            String::new()
        };
        let graph_model = match kind {
            Kind::Item2Vec | Kind::Airbnb => false,
            Kind::Eges => eges_corpus == "walks",
            Kind::DeepWalk | Kind::Node2Vec | Kind::Line => true,
        };
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
                Kind::Line => 100,
                _ if graph_model => 5,
                _ => 20,
            },
            "a positive integer",
        )?;
        let seed: u64 = p.get(m, "seed", 0, "an integer")?;
        let seq = SequenceOptions {
            // Airbnb cut click logs at 30 minutes of inactivity (`session_gap=1800`); as a
            // default that splits logs of sparser feedback (ratings, purchases) into lone
            // items with nothing to learn from (synthetic Recall@20 0.24 → 0.12).
            session_gap: p.get(m, "session_gap", 0, "seconds, 0 for none")?,
            min_count: p.get(m, "min_count", 1, "a positive integer")?,
            max_user_items: p.get(m, "max_user_items", 0, "a count, 0 for no cap")?,
            seed,
        };
        let recent_items: usize = p.get(m, "recent_items", 0, "a count, 0 for all")?;
        let recency: f32 = p.get(m, "recency", 1.0, "a number in (0, 1]")?;
        let scoring = p.choice(m, "scoring", "context", &["context", "cosine"])?;
        let reshuffle = !graph_model && p.get(m, "reshuffle", true, "true or false")?;
        let side_columns: Vec<String> = if kind == Kind::Eges {
            p.get(
                m,
                "side_columns",
                String::new(),
                "comma-separated column names",
            )?
            .split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect()
        } else {
            Vec::new()
        };
        let (conversion, market, market_negatives) = if kind == Kind::Airbnb {
            let c: String = p.get(m, "conversion", "last".to_string(), "`last` or a number")?;
            let conversion =
                match c.as_str() {
                    "last" => None,
                    v => Some(v.parse::<f32>().ok().filter(|x| x.is_finite()).ok_or_else(
                        || param_error(m, format!("`conversion={v}`: expected `last` or a number")),
                    )?),
                };
            (
                conversion,
                p.get(
                    m,
                    "market",
                    "auto".to_string(),
                    "`auto`, `none` or a column",
                )?,
                p.get(m, "market_negatives", 2, "a count")?,
            )
        } else {
            (None, "none".to_string(), 0)
        };
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
        if kind == Kind::Eges {
            params["side_columns"] = json!(side_columns.join(","));
            params["corpus"] = json!(eges_corpus);
        }
        if kind == Kind::Airbnb {
            params["conversion"] = conversion.map_or(json!("last"), |c| json!(c.to_string()));
            params["market"] = json!(market);
            params["market_negatives"] = json!(market_negatives);
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
            side_columns,
            conversion,
            market,
            market_negatives,
            attributes: None,
            cold: None,
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
        if r.has("token_inputs") {
            let strings = |key: &str| -> Vec<String> {
                r.header(key)
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let side = SideInfo::from_names(strings("side_fields"), strings("side_tokens"));
            let rows = |name: &str| -> Result<Factors> {
                let data = r.f32s(name)?;
                if data.len() != side.tokens.len() * m.sgns.dim {
                    return Err(RecallError::ModelFile {
                        path: r.path().to_string(),
                        message: format!("{name} does not match side_tokens"),
                    });
                }
                Ok(Factors {
                    n: side.tokens.len(),
                    k: m.sgns.dim,
                    data,
                })
            };
            m.cold = Some(ColdStart {
                token_inputs: rows("token_inputs")?,
                token_outputs: rows("token_outputs")?,
                field_weights: r.f32s("field_weights")?,
                side,
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

/// Input and output vectors, and whether each item has them.
type Vectors = (Factors, Factors, Vec<bool>);

impl Embedding {
    /// EGES: SGNS with [`SideInputs`]; items with attributes but no training get their
    /// cold-start vectors.
    fn fit_eges(
        &mut self,
        corpus: &sgns::Corpus,
        n_items: usize,
        cfg: &SgnsConfig,
        attributes: Option<&ItemAttributes>,
        report: &mut Value,
        progress: &dyn Progress,
    ) -> Result<(sgns::Trained, Vectors)> {
        let empty = ItemAttributes::new();
        let side = SideInfo::new(n_items, attributes.unwrap_or(&empty), &self.side_columns)
            .map_err(|e| param_error("eges", format!("`side_columns`: {e}")))?;
        let inputs = SideInputs::new(&side, n_items, cfg.dim, cfg.seed);
        let trained =
            sgns::train_inputs(corpus, n_items, cfg, &inputs, Extras::default(), progress);
        let (item_rows, token_rows, weights) = inputs.into_parts();
        let (k, nf) = (cfg.dim, side.fields.len());
        let seen: Vec<bool> = trained.counts.iter().map(|&c| c > 0).collect();
        // H_v = α_v0 · item row + Σ_f α_vf · mean of the field's token rows.
        let mut input = Factors::zeros(n_items, k);
        for v in 0..n_items {
            let w = weights.row(v);
            let h = input.row_mut(v);
            axpy(w[0], item_rows.row(v), h);
            for f in 0..nf {
                let ids = side.item_field(v, f);
                for &t in ids {
                    axpy(w[1 + f] / ids.len() as f32, token_rows.row(t as usize), h);
                }
            }
        }
        // Cold start: each token's mean output over the trained items carrying it, and
        // each field's weight averaged over the trained items that have the field.
        let mut token_outputs = Factors::zeros(side.tokens.len(), k);
        let mut carriers = vec![0u32; side.tokens.len()];
        let (mut field_weights, mut field_items) = (vec![0.0f32; nf], vec![0u32; nf]);
        for v in (0..n_items).filter(|&v| seen[v]) {
            for f in 0..nf {
                let ids = side.item_field(v, f);
                if !ids.is_empty() {
                    field_weights[f] += weights.row(v)[1 + f];
                    field_items[f] += 1;
                }
                for &t in ids {
                    axpy(
                        1.0,
                        trained.output.row(v),
                        token_outputs.row_mut(t as usize),
                    );
                    carriers[t as usize] += 1;
                }
            }
        }
        for (t, &c) in carriers.iter().enumerate() {
            if c > 0 {
                token_outputs
                    .row_mut(t)
                    .iter_mut()
                    .for_each(|x| *x /= c as f32);
            }
        }
        for (w, &n) in field_weights.iter_mut().zip(&field_items) {
            *w /= n.max(1) as f32;
        }
        let cold = ColdStart {
            side: SideInfo::from_names(side.fields.clone(), side.tokens.clone()),
            token_inputs: token_rows,
            token_outputs,
            field_weights,
        };
        let mut output = trained.output.clone();
        let mut has = seen.clone();
        let mut cold_items = 0usize;
        for v in (0..n_items).filter(|&v| !seen[v]) {
            let per_field: Vec<Vec<u32>> =
                (0..nf).map(|f| side.item_field(v, f).to_vec()).collect();
            if let Some((q, o)) = cold.vectors(&per_field) {
                input.row_mut(v).copy_from_slice(&q);
                output.row_mut(v).copy_from_slice(&o);
                has[v] = true;
                cold_items += 1;
            }
        }
        report["side_info"] = json!({
            "fields": side.fields,
            "tokens": side.tokens.len(),
            "items_with_attributes": (0..n_items)
                .filter(|&v| (0..nf).any(|f| !side.item_field(v, f).is_empty()))
                .count(),
            "field_weights": side.fields.iter().zip(&cold.field_weights)
                .map(|(f, w)| (f.clone(), json!(w))).collect::<serde_json::Map<_, _>>(),
            "item_weight": (0..n_items).filter(|&v| seen[v]).map(|v| weights.row(v)[0] as f64)
                .sum::<f64>() / seen.iter().filter(|&&s| s).count().max(1) as f64,
            "cold_items": cold_items,
        });
        if nf == 0 {
            let note = "eges: no item attributes were given (or none of `side_columns`): \
                        trained on item ids only, as item2vec";
            eprintln!("warning: {note}");
            report["side_info"]["warning"] = json!(note);
        }
        self.cold = Some(cold);
        Ok((trained, (input, output, has)))
    }

    /// Airbnb: plain SGNS with each session's conversion as a global context and extra
    /// negatives from the positive's market.
    #[allow(clippy::too_many_arguments)]
    fn fit_airbnb(
        &self,
        corpus: &sgns::Corpus,
        values: &[f32],
        n_items: usize,
        cfg: &SgnsConfig,
        attributes: Option<&ItemAttributes>,
        report: &mut Value,
        progress: &dyn Progress,
    ) -> Result<sgns::Trained> {
        let globals: Vec<u32> = (0..corpus.len())
            .map(|s| {
                let (lo, hi) = (corpus.starts[s], corpus.starts[s + 1]);
                match self.conversion {
                    None => corpus.tokens[hi - 1],
                    Some(min) => (lo..hi)
                        .rev()
                        .find(|&n| values[n] >= min)
                        .map_or(NO_TOKEN, |n| corpus.tokens[n]),
                }
            })
            .collect();
        let converted = globals.iter().filter(|&&g| g != NO_TOKEN).count();
        let (market, market_of) = markets(attributes, n_items, &self.market);
        if let (Some(m), true) = (&market, market_of.iter().all(|&x| x == NO_TOKEN)) {
            let mut have: Vec<&str> = attributes
                .into_iter()
                .flatten()
                .flatten()
                .map(|(c, _)| c.as_str())
                .collect();
            have.sort_unstable();
            have.dedup();
            return Err(param_error(
                "airbnb",
                format!(
                    "`market={m}`: no item has this attribute column; the items have: {}",
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.join(", ")
                    }
                ),
            ));
        }
        let n_markets = market_of
            .iter()
            .filter(|&&m| m != NO_TOKEN)
            .collect::<std::collections::HashSet<_>>()
            .len();
        // Market negatives assume sessions keep to one market (a city's listings). A
        // column found by `auto` is used only when they do: genres on ml-100k, where
        // consecutive films share their first genre in 0.27 of pairs, cost Recall@20
        // 0.124 → 0.117 as markets.
        let purity = market_purity(corpus, &market_of);
        let mut market = market;
        let mut dropped = None;
        if self.market == "auto" && market.is_some() && purity < MIN_AUTO_PURITY {
            dropped = market.take();
        }
        report["airbnb"] = json!({
            "sessions_with_conversion": converted,
            "market": market,
            "markets": n_markets,
            "market_purity": purity,
            "market_negatives": if market.is_some() { self.market_negatives } else { 0 },
        });
        if let Some(column) = dropped {
            report["airbnb"]["market_not_used"] = json!(format!(
                "`market=auto` found `{column}`, but only {purity:.2} of consecutive items in \
                 a session share it (under {MIN_AUTO_PURITY}): no market negatives; \
                 `--set market={column}` uses it anyway"
            ));
        } else if market.is_none() && self.market != "none" {
            let note = format!(
                "airbnb: no market column (`market={}`) among the item attributes: negatives \
                 come from the whole catalogue only",
                self.market
            );
            eprintln!("warning: {note}");
            report["airbnb"]["warning"] = json!(note);
        }
        let input = Table::word2vec_init(n_items, cfg.dim, cfg.seed);
        let extras = Extras {
            globals: Some(&globals),
            market_of: market.as_ref().map(|_| market_of.as_slice()),
            market_negatives: self.market_negatives,
        };
        let t = sgns::train_inputs(corpus, n_items, cfg, &input, extras, progress);
        Ok(sgns::Trained {
            input: input.factors(),
            ..t
        })
    }

    /// The (input, output) vectors `eges` gives an item with these attributes and no
    /// training, or `None` for other models and items with no known attribute.
    pub fn cold_vectors(&self, attributes: &[(String, String)]) -> Option<(Vec<f32>, Vec<f32>)> {
        let cold = self.cold.as_ref()?;
        cold.vectors(&cold.side.lookup(attributes))
    }
}

/// The share of consecutive items of a session in one market under which `market=auto`
/// leaves market negatives out.
const MIN_AUTO_PURITY: f64 = 0.5;

/// Of the consecutive pairs of a session whose items both have a market, the share in one
/// market (0 when there is none).
fn market_purity(corpus: &sgns::Corpus, market_of: &[u32]) -> f64 {
    let (mut same, mut pairs) = (0u64, 0u64);
    for s in 0..corpus.len() {
        for w in corpus.seq(s).windows(2) {
            let (a, b) = (market_of[w[0] as usize], market_of[w[1] as usize]);
            if a != NO_TOKEN && b != NO_TOKEN {
                pairs += 1;
                same += (a == b) as u64;
            }
        }
    }
    if pairs == 0 {
        0.0
    } else {
        same as f64 / pairs as f64
    }
}

/// The market column (by `choice`: `auto`, `none` or a name) and each item's market
/// (its first value of the column), `NO_TOKEN` where it has none.
fn markets(
    attributes: Option<&ItemAttributes>,
    n_items: usize,
    choice: &str,
) -> (Option<String>, Vec<u32>) {
    let none = (None, vec![NO_TOKEN; n_items]);
    let Some(attrs) = attributes else {
        return none;
    };
    let column = match choice {
        "none" => return none,
        "auto" => {
            // The coarsest column that still splits the catalogue.
            let mut distinct: std::collections::BTreeMap<&str, std::collections::HashSet<&str>> =
                Default::default();
            for (c, v) in attrs.iter().flatten() {
                distinct.entry(c).or_default().insert(v);
            }
            match distinct
                .iter()
                .filter(|(_, v)| v.len() >= 2)
                .min_by_key(|(_, v)| v.len())
            {
                Some((c, _)) => c.to_string(),
                None => return none,
            }
        }
        c => c.to_string(),
    };
    let mut ids: std::collections::HashMap<&str, u32> = Default::default();
    let mut of = vec![NO_TOKEN; n_items];
    for (v, a) in attrs.iter().enumerate().take(n_items) {
        if let Some((_, value)) = a.iter().find(|(c, _)| *c == column) {
            let next = ids.len() as u32;
            of[v] = *ids.entry(value.as_str()).or_insert(next);
        }
    }
    if ids.is_empty() {
        return if choice == "auto" {
            none
        } else {
            (Some(column), of)
        };
    }
    (Some(column), of)
}

impl Recaller for Embedding {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    fn fit(&mut self, train: &Interactions, progress: &dyn Progress) -> Result<()> {
        let t0 = std::time::Instant::now();
        let n_items = train.n_items();
        let (sessions, values, stats): (sgns::Corpus, Vec<f32>, CorpusStats) =
            corpus::sequences_with_values(train, &self.seq);
        let mut report = json!({"sequences": stats});
        let attributes = self.attributes.take();
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
                let (trained, vectors) = match self.kind {
                    Kind::Eges => {
                        let (t, v) = self.fit_eges(
                            &corpus,
                            n_items,
                            &cfg,
                            attributes.as_ref(),
                            &mut report,
                            progress,
                        )?;
                        (t, Some(v))
                    }
                    Kind::Airbnb => {
                        let t = self.fit_airbnb(
                            &corpus,
                            &values,
                            n_items,
                            &cfg,
                            attributes.as_ref(),
                            &mut report,
                            progress,
                        )?;
                        (t, None)
                    }
                    _ => (sgns::train(&corpus, n_items, &cfg, progress), None),
                };
                report["sgns"] = json!({
                    "tokens": trained.words,
                    "seconds": trained.seconds,
                    "tokens_per_second": trained.words as f64 / trained.seconds.max(1e-9),
                });
                match vectors {
                    Some(v) => v,
                    None => {
                        let seen: Vec<bool> = trained.counts.iter().map(|&c| c > 0).collect();
                        (trained.input, trained.output, seen)
                    }
                }
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
        if let Some(c) = &self.cold {
            w.header("side_fields", json!(c.side.fields));
            w.header("side_tokens", json!(c.side.tokens));
            for (name, x) in [
                ("token_inputs", &c.token_inputs),
                ("token_outputs", &c.token_outputs),
            ] {
                w.f32s(name, vec![x.n, x.k], &x.data);
            }
            w.f32s(
                "field_weights",
                vec![c.field_weights.len()],
                &c.field_weights,
            );
        }
        Ok(w.write(path)?)
    }

    fn vectors(&self) -> Option<&dyn VectorRecall> {
        Some(self)
    }

    fn fit_report(&self) -> Option<Value> {
        self.report.clone()
    }

    fn uses_item_attributes(&self) -> bool {
        matches!(self.kind, Kind::Eges | Kind::Airbnb)
    }

    fn set_item_attributes(&mut self, attributes: ItemAttributes) {
        self.attributes = Some(attributes);
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
