//! The item graph and random walks over it (DeepWalk, node2vec).
//!
//! Edges join items that follow one another in a sequence (within `graph_window`
//! positions), weighted by how often they do; edges lighter than `min_edge_weight` are
//! dropped. Out-neighbours are stored as CSR with a per-node alias table over the
//! weights, so a weighted step costs one random number (8 bytes per edge).
//!
//! node2vec's second-order walk is drawn by **rejection sampling** (as KnightKing does)
//! rather than from precomputed second-order alias tables (PecanPy's `PreComp`): a
//! candidate `x` is drawn from the first-order table of the current node `v` and kept
//! with probability α(t, x)/max α, where α is 1/p when `x` is the previous node `t`, 1
//! when `x` is a neighbour of `t` (a binary search in `t`'s sorted list) and 1/q
//! otherwise. Its memory is the first-order tables only — O(E) — while second-order
//! tables need one table per edge, Σ_v deg(v)² entries (tens of GB on a dense item
//! graph). The expected number of draws per step is at most max α / min α.

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::alias::AliasTable;
use super::sgns::Corpus;

/// A weighted directed graph over items `0..n`.
#[derive(Debug, Clone)]
pub struct ItemGraph {
    indptr: Vec<usize>,
    /// Out-neighbours of each node, ascending.
    indices: Vec<u32>,
    weights: Vec<f32>,
    /// Per-node alias tables over `weights` (outcomes are offsets within the node's
    /// neighbour list).
    tables: Vec<Option<AliasTable>>,
}

impl ItemGraph {
    /// Edges from `a` to each item up to `window` positions after it in every sequence
    /// (and back, unless `directed`); self-loops are skipped; edges with total weight
    /// under `min_weight` are dropped.
    pub fn from_sequences(
        corpus: &Corpus,
        n: usize,
        window: usize,
        directed: bool,
        min_weight: f32,
    ) -> ItemGraph {
        let mut edges: Vec<u64> = Vec::new();
        for s in 0..corpus.len() {
            let seq = corpus.seq(s);
            for (p, &a) in seq.iter().enumerate() {
                for &b in &seq[p + 1..(p + 1 + window).min(seq.len())] {
                    if a != b {
                        edges.push(((a as u64) << 32) | b as u64);
                        if !directed {
                            edges.push(((b as u64) << 32) | a as u64);
                        }
                    }
                }
            }
        }
        edges.par_sort_unstable();
        let mut indptr = vec![0usize; n + 1];
        let (mut indices, mut weights) = (Vec::new(), Vec::new());
        let mut e = 0;
        while e < edges.len() {
            let key = edges[e];
            let mut w = 0usize;
            while e < edges.len() && edges[e] == key {
                w += 1;
                e += 1;
            }
            if w as f32 >= min_weight {
                indptr[(key >> 32) as usize + 1] += 1;
                indices.push(key as u32);
                weights.push(w as f32);
            }
        }
        for v in 0..n {
            indptr[v + 1] += indptr[v];
        }
        let tables = (0..n)
            .into_par_iter()
            .map(|v| {
                let w: Vec<f64> = weights[indptr[v]..indptr[v + 1]]
                    .iter()
                    .map(|&x| x as f64)
                    .collect();
                AliasTable::new(&w)
            })
            .collect();
        ItemGraph {
            indptr,
            indices,
            weights,
            tables,
        }
    }

    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of edges.
    pub fn n_edges(&self) -> usize {
        self.indices.len()
    }

    /// Out-neighbours of `v`, ascending.
    pub fn neighbours(&self, v: u32) -> &[u32] {
        &self.indices[self.indptr[v as usize]..self.indptr[v as usize + 1]]
    }

    /// Weights of `v`'s out-edges, aligned with [`Self::neighbours`].
    pub fn weights(&self, v: u32) -> &[f32] {
        &self.weights[self.indptr[v as usize]..self.indptr[v as usize + 1]]
    }

    /// The target of every edge, in CSR order (node by node).
    pub fn all_targets(&self) -> &[u32] {
        &self.indices
    }

    /// Bytes held by the graph and its alias tables.
    pub fn bytes(&self) -> usize {
        self.indptr.len() * 8
            + self.indices.len() * 8
            + self
                .tables
                .iter()
                .flatten()
                .map(AliasTable::bytes)
                .sum::<usize>()
    }

    /// One weighted step from `v`, or `None` at a node without out-edges.
    #[inline]
    fn step(&self, v: u32, rng: &mut SmallRng) -> Option<u32> {
        let t = self.tables[v as usize].as_ref()?;
        Some(self.indices[self.indptr[v as usize] + t.sample(rng) as usize])
    }
}

/// Walk settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WalkOptions {
    /// Walks started from every node with out-edges.
    pub walks_per_node: usize,
    /// Nodes per walk (a walk stops early at a node without out-edges).
    pub walk_length: usize,
    /// node2vec's return parameter (1 with `q` = 1: DeepWalk's first-order walk).
    pub p: f64,
    /// node2vec's in-out parameter.
    pub q: f64,
    /// Seed: walk `r` from node `v` depends on (seed, r, v) only, not on threads.
    pub seed: u64,
}

/// Random walks: `walks_per_node` rounds, each over every node in a shuffled order, as
/// DeepWalk does. Walks of a single node are left out (no pair to learn from).
pub fn walks(g: &ItemGraph, o: &WalkOptions) -> Corpus {
    let second_order = o.p != 1.0 || o.q != 1.0;
    let (inv_p, inv_q) = (1.0 / o.p, 1.0 / o.q);
    let max_alpha = inv_p.max(1.0).max(inv_q);
    let starts: Vec<u32> = (0..g.n_nodes() as u32)
        .filter(|&v| g.tables[v as usize].is_some())
        .collect();
    let mut out = Corpus::new();
    for r in 0..o.walks_per_node {
        let mut order = starts.clone();
        order.shuffle(&mut SmallRng::seed_from_u64(o.seed ^ (r as u64) << 48));
        let walks: Vec<Vec<u32>> = order
            .par_iter()
            .map(|&v| {
                let mut rng = SmallRng::seed_from_u64(
                    o.seed ^ ((r as u64) << 40) ^ (v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let mut w = Vec::with_capacity(o.walk_length);
                w.push(v);
                while w.len() < o.walk_length {
                    let cur = *w.last().unwrap();
                    let next = if second_order && w.len() >= 2 {
                        let prev = w[w.len() - 2];
                        loop {
                            let Some(x) = g.step(cur, &mut rng) else {
                                break None;
                            };
                            let alpha = if x == prev {
                                inv_p
                            } else if g.neighbours(prev).binary_search(&x).is_ok() {
                                1.0
                            } else {
                                inv_q
                            };
                            if rng.random::<f64>() * max_alpha < alpha {
                                break Some(x);
                            }
                        }
                    } else {
                        g.step(cur, &mut rng)
                    };
                    match next {
                        Some(x) => w.push(x),
                        None => break,
                    }
                }
                w
            })
            .collect();
        for w in walks.iter().filter(|w| w.len() >= 2) {
            out.push(w);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(seqs: &[&[u32]]) -> Corpus {
        let mut c = Corpus::new();
        for s in seqs {
            c.push(s);
        }
        c
    }

    #[test]
    fn edges_count_consecutive_pairs() {
        let c = corpus(&[&[0, 1, 2], &[0, 1], &[2, 2, 3]]);
        let g = ItemGraph::from_sequences(&c, 4, 1, true, 1.0);
        assert_eq!(g.neighbours(0), [1]);
        assert_eq!(g.weights(0), [2.0]);
        assert_eq!(g.neighbours(1), [2]);
        assert_eq!(g.neighbours(2), [3], "no self-loop");
        assert!(g.neighbours(3).is_empty());
        let u = ItemGraph::from_sequences(&c, 4, 1, false, 2.0);
        assert_eq!((u.neighbours(0), u.neighbours(1)), (&[1][..], &[0][..]));
        assert_eq!(u.n_edges(), 2, "min weight 2 keeps 0-1 both ways");
        let w2 = ItemGraph::from_sequences(&c, 4, 2, true, 1.0);
        assert_eq!(w2.neighbours(0), [1, 2]);
    }

    /// A path 0-1-2-…-9 plus a triangle on every three consecutive nodes, undirected.
    fn ladder() -> ItemGraph {
        let mut seqs: Vec<Vec<u32>> = Vec::new();
        for v in 0..8u32 {
            seqs.push(vec![v, v + 1, v + 2, v]);
        }
        let c = corpus(&seqs.iter().map(Vec::as_slice).collect::<Vec<_>>());
        ItemGraph::from_sequences(&c, 10, 1, false, 1.0)
    }

    /// Share of second steps that go back to the node before.
    fn return_rate(g: &ItemGraph, p: f64, q: f64) -> f64 {
        let w = walks(
            g,
            &WalkOptions {
                walks_per_node: 400,
                walk_length: 3,
                p,
                q,
                seed: 5,
            },
        );
        let (mut back, mut n) = (0, 0);
        for s in 0..w.len() {
            let s = w.seq(s);
            if s.len() == 3 {
                n += 1;
                back += (s[2] == s[0]) as usize;
            }
        }
        back as f64 / n as f64
    }

    #[test]
    fn p_controls_how_often_a_walk_returns() {
        let g = ladder();
        let deepwalk = return_rate(&g, 1.0, 1.0);
        let returning = return_rate(&g, 0.1, 1.0);
        let leaving = return_rate(&g, 10.0, 1.0);
        assert!(returning > deepwalk + 0.2, "{returning} vs {deepwalk}");
        assert!(leaving < deepwalk - 0.1, "{leaving} vs {deepwalk}");
    }

    #[test]
    fn walks_are_reproducible_and_follow_edges() {
        let g = ladder();
        let o = WalkOptions {
            walks_per_node: 3,
            walk_length: 8,
            p: 0.5,
            q: 2.0,
            seed: 1,
        };
        let a = walks(&g, &o);
        assert_eq!(a, walks(&g, &o));
        assert_eq!(a.len(), 30);
        for s in 0..a.len() {
            for w in a.seq(s).windows(2) {
                assert!(g.neighbours(w[0]).binary_search(&w[1]).is_ok());
            }
        }
    }
}
