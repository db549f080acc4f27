//! LINE (Tang et al. 2015): embeddings that preserve the item graph's first-order
//! proximity (linked items close: σ(u_i·u_j)) and second-order proximity (items with
//! similar neighbourhoods close: σ(u_i·c_j), with separate context vectors).
//!
//! Each step draws one edge with probability proportional to its weight (an alias table
//! over all edges, so weights need no rescaling of the learning rate) and `negatives`
//! nodes from weighted degree^`ns_exponent`, then makes the SGNS update of
//! [`crate::hogwild::sgns_target`]. The learning rate falls linearly over
//! `epochs` × |E| samples. Threads share the vectors Hogwild-style.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use funnel_data::Progress;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::alias::AliasTable;
use super::graph::ItemGraph;
use super::sgns::{sigmoid, sigmoid_table, SgnsConfig};
use crate::hogwild::{atomics, floats, load_row, sgns_target, store_row};
use crate::mf::{axpy, Factors};

/// Which proximity to learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Linked items get close vectors (one table).
    First,
    /// Items with similar neighbours get close vectors (vertex and context tables).
    Second,
}

/// `(vertex, context)` vectors for `order`: the same table twice for the first order.
pub fn train(
    g: &ItemGraph,
    order: Order,
    cfg: &SgnsConfig,
    progress: &dyn Progress,
) -> (Factors, Factors, f64) {
    let t0 = std::time::Instant::now();
    let (n, k) = (g.n_nodes(), cfg.dim);
    let mut rng = SmallRng::seed_from_u64(cfg.seed);
    let init: Vec<f32> = (0..n * k)
        .map(|_| (rng.random::<f32>() - 0.5) / k as f32)
        .collect();
    let vertex = atomics(&init);
    let context = atomics(&vec![
        0.0f32;
        if order == Order::Second { n * k } else { 0 }
    ]);
    let mut src = Vec::with_capacity(g.n_edges());
    let mut weights = Vec::with_capacity(g.n_edges());
    let mut degree = vec![0f64; n];
    for v in 0..n as u32 {
        for &w in g.weights(v) {
            src.push(v);
            weights.push(w as f64);
            degree[v as usize] += w as f64;
        }
    }
    let edges = AliasTable::new(&weights);
    let noise = AliasTable::new(
        &degree
            .iter()
            .map(|&d| {
                if d > 0.0 {
                    d.powf(cfg.ns_exponent)
                } else {
                    0.0
                }
            })
            .collect::<Vec<_>>(),
    );
    let (Some(edges), Some(noise)) = (edges, noise) else {
        let v = Factors {
            n,
            k,
            data: floats(&vertex),
        };
        return (v.clone(), v, 0.0);
    };
    let dst = g.all_targets();
    let total = (cfg.epochs as u64) * g.n_edges() as u64;
    let threads = rayon::current_num_threads().max(1) as u64;
    let done = AtomicU64::new(0);
    let table = sigmoid_table();
    progress.start("LINE edge samples", total);
    (0..threads).into_par_iter().for_each(|t| {
        let mut rng = SmallRng::seed_from_u64(cfg.seed ^ ((t + 1) * 0x9E37_79B9_7F4A_7C15));
        let (mut h, mut neu1e) = (vec![0.0f32; k], vec![0.0f32; k]);
        let out = if order == Order::Second {
            &context
        } else {
            &vertex
        };
        let share = total / threads + u64::from(t < total % threads);
        let mut lr = cfg.lr;
        for s in 0..share {
            if s > 0 && s % 10_000 == 0 {
                let d = done.fetch_add(10_000, Relaxed) + 10_000;
                progress.inc(10_000);
                let f = (d as f64 / total as f64).min(1.0) as f32;
                lr = (cfg.lr * (1.0 - f)).max(cfg.min_lr);
            }
            let e = edges.sample(&mut rng) as usize;
            let (i, j) = (src[e] as usize, dst[e]);
            let row = &vertex[i * k..(i + 1) * k];
            load_row(row, &mut h);
            neu1e.fill(0.0);
            for d in 0..=cfg.negatives {
                let (target, label) = if d == 0 {
                    (j, 1.0)
                } else {
                    let x = noise.sample(&mut rng);
                    if x == j || x as usize == i {
                        continue;
                    }
                    (x, 0.0)
                };
                let r = &out[target as usize * k..(target as usize + 1) * k];
                sgns_target(&h, r, &mut neu1e, label, lr, |f| sigmoid(f, table));
            }
            // First order: `h` may be stale if i was also a target; the update is Hogwild's.
            load_row(row, &mut h);
            axpy(1.0, &neu1e, &mut h);
            store_row(row, &h);
        }
    });
    progress.finish();
    let v = Factors {
        n,
        k,
        data: floats(&vertex),
    };
    let c = if order == Order::Second {
        Factors {
            n,
            k,
            data: floats(&context),
        }
    } else {
        v.clone()
    };
    (v, c, t0.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::sgns::{Arch, Corpus, Window};
    use crate::mf::dot;
    use funnel_data::NoProgress;

    fn cfg() -> SgnsConfig {
        SgnsConfig {
            dim: 16,
            window: Window::Shrink(1),
            arch: Arch::SkipGram,
            negatives: 5,
            ns_exponent: 0.75,
            sample: 0.0,
            lr: 0.025,
            min_lr: 0.0001,
            epochs: 200,
            seed: 1,
            shuffle: false,
        }
    }

    /// Two 6-cliques joined by one edge.
    fn two_cliques() -> ItemGraph {
        let mut c = Corpus::new();
        for base in [0u32, 6] {
            for a in 0..6 {
                for b in 0..6 {
                    if a != b {
                        c.push(&[base + a, base + b]);
                    }
                }
            }
        }
        c.push(&[5, 6]);
        ItemGraph::from_sequences(&c, 12, 1, false, 1.0)
    }

    #[test]
    fn both_orders_separate_the_communities() {
        let g = two_cliques();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for order in [Order::First, Order::Second] {
            let (v, c, _) = pool.install(|| train(&g, order, &cfg(), &NoProgress));
            // Score of a link = vertex · context (first order: vertex · vertex).
            let s = |a: usize, b: usize| dot(v.row(a), c.row(b));
            let (mut within, mut across) = (0.0, 0.0);
            for a in 0..12 {
                for b in 0..12 {
                    if a != b {
                        if (a < 6) == (b < 6) {
                            within += s(a, b) / 60.0;
                        } else {
                            across += s(a, b) / 72.0;
                        }
                    }
                }
            }
            assert!(
                within > across + 1.0,
                "{order:?}: within {within}, across {across}"
            );
        }
    }
}
