//! The trees laid out for scoring: every node of every tree in one array of 16-byte
//! nodes, features renumbered to the few the trees use, and rows scored in blocks, tree
//! by tree, so that a tree's nodes stay in cache while a block's rows go down it, eight
//! rows in lock-step. Scoring 200 candidates went from 0.86 to 0.21 ms on one core (100
//! trees of 31 leaves, 50 features; `funnel-bench rank-latency`).

use funnel_features::SampleSet;

use super::tree::{Tree, MISSING_AS_ZERO, MISSING_LEFT};

/// Rows scored together.
const BLOCK: usize = 64;

/// Rows walking a tree in lock-step.
const LANES: usize = 8;

/// Where a missing value goes, in a node's top two feature bits.
const MODE_SHIFT: u32 = 30;
const FEATURE_MASK: u32 = (1 << MODE_SHIFT) - 1;

/// One split: go left when `x[feature] <= threshold`. Children ≥ 0 are nodes; a
/// negative child `c` is leaf `!c`.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Node {
    threshold: f32,
    /// The column in the block, with the missing mode in the top two bits.
    feature: u32,
    left: i32,
    right: i32,
}

/// A boosted ensemble, flattened for scoring.
#[derive(Debug, Clone, Default)]
pub struct Forest {
    nodes: Vec<Node>,
    /// Each tree's root: a node, or `!leaf` for a tree of one leaf.
    roots: Vec<i32>,
    leaves: Vec<f32>,
    /// Model feature → block column (`u32::MAX`: no tree reads it).
    column: Vec<u32>,
    width: usize,
}

impl Forest {
    /// The layout of `trees` over `n_features` features.
    pub fn new(trees: &[Tree], n_features: usize) -> Forest {
        let mut column = vec![u32::MAX; n_features];
        let mut width = 0u32;
        for t in trees {
            for &f in &t.feature {
                if column[f as usize] == u32::MAX {
                    column[f as usize] = width;
                    width += 1;
                }
            }
        }
        let mut f = Forest {
            column,
            width: width as usize,
            ..Default::default()
        };
        for t in trees {
            let (node0, leaf0) = (f.nodes.len() as i32, f.leaves.len() as i32);
            let child = |c: i32| if c >= 0 { c + node0 } else { !(!c + leaf0) };
            f.roots
                .push(if t.feature.is_empty() { !leaf0 } else { node0 });
            for i in 0..t.feature.len() {
                f.nodes.push(Node {
                    threshold: t.threshold[i],
                    feature: f.column[t.feature[i] as usize] | (t.missing[i] as u32) << MODE_SHIFT,
                    left: child(t.left[i]),
                    right: child(t.right[i]),
                });
            }
            f.leaves.extend_from_slice(&t.leaf_value);
        }
        f
    }

    /// `base` plus the sum of the trees' values for every sample of `s`.
    pub fn scores(&self, s: &SampleSet, base: f64) -> Vec<f64> {
        use rayon::prelude::*;
        let mut out = vec![base; s.len()];
        out.par_chunks_mut(BLOCK)
            .enumerate()
            .with_min_len(4)
            .for_each_init(Vec::new, |x, (b, scores)| {
                self.block(s, b * BLOCK, scores, x)
            });
        out
    }

    /// Scores rows `first..first + out.len()` into `out`, with `x` as the block's
    /// dense rows.
    fn block(&self, s: &SampleSet, first: usize, out: &mut [f64], x: &mut Vec<f32>) {
        let w = self.width.max(1);
        x.clear();
        x.resize(out.len() * w, 0.0);
        let mut missing = false;
        for k in 0..out.len() {
            let row = &mut x[k * w..(k + 1) * w];
            let r = s.row(first + k);
            for (&j, &v) in r.indices.iter().zip(r.values) {
                if let Some(&c) = self.column.get(j as usize) {
                    if c != u32::MAX {
                        row[c as usize] = v;
                    }
                }
            }
            for &(_, j) in s.missing_of(first + k) {
                if let Some(&c) = self.column.get(j as usize) {
                    if c != u32::MAX {
                        row[c as usize] = f32::NAN;
                        missing = true;
                    }
                }
            }
        }
        for &root in &self.roots {
            if missing {
                for (k, score) in out.iter_mut().enumerate() {
                    let leaf = self.walk_missing(root, &x[k * w..(k + 1) * w]);
                    *score += self.leaves[leaf] as f64;
                }
                continue;
            }
            // Eight rows down the tree in lock-step: their loads overlap, where one row
            // alone waits for each node before it can fetch the next.
            let mut groups = out.chunks_exact_mut(LANES);
            let mut k = 0;
            for scores in &mut groups {
                let leaves = self.walk_lanes(root, &x[k * w..(k + LANES) * w], w);
                for (s, l) in scores.iter_mut().zip(leaves) {
                    *s += self.leaves[l] as f64;
                }
                k += LANES;
            }
            for score in groups.into_remainder() {
                *score += self.leaves[self.walk(root, &x[k * w..(k + 1) * w])] as f64;
                k += 1;
            }
        }
    }

    /// The leaves `LANES` consecutive rows of `x` (`w` wide, no missing values) reach.
    #[inline]
    fn walk_lanes(&self, root: i32, x: &[f32], w: usize) -> [usize; LANES] {
        let mut node = [root; LANES];
        loop {
            let mut active = false;
            for (lane, n) in node.iter_mut().enumerate() {
                if *n >= 0 {
                    let d = &self.nodes[*n as usize];
                    let v = x[lane * w + (d.feature & FEATURE_MASK) as usize];
                    *n = if v <= d.threshold { d.left } else { d.right };
                    active = true;
                }
            }
            if !active {
                return node.map(|n| !n as usize);
            }
        }
    }

    /// The leaf a row without missing values reaches from `node`.
    #[inline]
    fn walk(&self, mut node: i32, row: &[f32]) -> usize {
        while node >= 0 {
            let n = &self.nodes[node as usize];
            node = if row[(n.feature & FEATURE_MASK) as usize] <= n.threshold {
                n.left
            } else {
                n.right
            };
        }
        !node as usize
    }

    /// [`Forest::walk`] where values may be NaN: each takes its node's learnt side.
    fn walk_missing(&self, mut node: i32, row: &[f32]) -> usize {
        while node >= 0 {
            let n = &self.nodes[node as usize];
            let v = row[(n.feature & FEATURE_MASK) as usize];
            let left = if v.is_nan() {
                match (n.feature >> MODE_SHIFT) as u8 {
                    MISSING_LEFT => true,
                    MISSING_AS_ZERO => 0.0 <= n.threshold,
                    _ => false,
                }
            } else {
                v <= n.threshold
            };
            node = if left { n.left } else { n.right };
        }
        !node as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two trees over features 3 and 7 of 9, one of them a single leaf, scored from
    /// sparse rows with absent, present and missing values: the flat layout gives what
    /// walking each tree gives.
    #[test]
    fn flat_scores_equal_the_trees_walked_one_by_one() {
        let split = Tree {
            feature: vec![3, 7],
            threshold: vec![0.5, -1.0],
            bin: vec![0, 0],
            left: vec![1, !0],
            right: vec![!2, !1],
            missing: vec![MISSING_LEFT, MISSING_AS_ZERO],
            missing_bin: vec![0, 0],
            leaf_value: vec![1.0, 2.0, 4.0],
        };
        let one = Tree {
            leaf_value: vec![0.25],
            ..Default::default()
        };
        let trees = [split, one];
        let f = Forest::new(&trees, 9);
        assert_eq!(f.width, 2);
        let mut s = SampleSet::new();
        let rows: [&[(u32, u32, f32)]; 5] = [
            &[],
            &[(0, 3, 0.7)],
            &[(0, 3, 0.2), (0, 7, -3.0)],
            &[(0, 7, 5.0), (0, 1, 9.0)],
            &[(0, 3, 0.1)],
        ];
        for r in rows {
            s.push(0.0, None, r);
        }
        s.missing = vec![(3, 3), (4, 7)];
        let got = f.scores(&s, 0.5);
        for (i, &g) in got.iter().enumerate() {
            let mut x = vec![0.0f32; 9];
            for (&j, &v) in s.row(i).indices.iter().zip(s.row(i).values) {
                x[j as usize] = v;
            }
            for &(_, j) in s.missing_of(i) {
                x[j as usize] = f32::NAN;
            }
            let want = 0.5 + trees.iter().map(|t| t.predict(&x) as f64).sum::<f64>();
            assert_eq!(g, want, "row {i}");
        }
        // Row 3: x3 missing goes left, then x7 = 5 > −1 goes right: leaf 1.
        assert_eq!(got[3], 0.5 + 2.0 + 0.25);
        // Without missing values rows walk eight at a time, and a remainder one by one.
        let mut s = SampleSet::new();
        for i in 0..77 {
            let (a, b) = ((i % 10) as f32 / 10.0, (i % 7) as f32 - 3.0);
            s.push(0.0, None, &[(0, 3, a), (0, 7, b)]);
        }
        let got = f.scores(&s, 0.0);
        for (i, &g) in got.iter().enumerate() {
            let mut x = vec![0.0f32; 9];
            x[3] = (i % 10) as f32 / 10.0;
            x[7] = (i % 7) as f32 - 3.0;
            let want = trees.iter().map(|t| t.predict(&x) as f64).sum::<f64>();
            assert_eq!(g, want, "row {i}");
        }
    }
}
