//! One regression tree on binned features, grown leaf-wise (best-first, as LightGBM):
//! the leaf whose best split gains most is split next, until `num_leaves` leaves or no
//! split gains. A split's histograms are built for the smaller child only; the larger
//! child's are the parent's minus the smaller's.
//!
//! With gradients g and hessians h summed over a leaf (G, H), a leaf's value is
//! −T(G)/(H + λ₂)·η and a split gains T(G_L)²/(H_L + λ₂) + T(G_R)²/(H_R + λ₂) −
//! T(G)²/(H + λ₂), where T(G) = sign(G)·max(|G| − λ₁, 0) is the L1 soft threshold.

use rayon::prelude::*;

use super::binned::{Binned, Place};

/// How trees grow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TreeParams {
    /// Most leaves per tree.
    pub num_leaves: usize,
    /// Most levels below the root (0: no limit).
    pub max_depth: usize,
    /// Fewest rows in a leaf.
    pub min_data_in_leaf: usize,
    /// Smallest hessian sum in a leaf.
    pub min_sum_hessian: f64,
    /// L1 on leaf values.
    pub lambda_l1: f64,
    /// L2 on leaf values.
    pub lambda_l2: f64,
    /// Shrinkage of every leaf value.
    pub learning_rate: f64,
    /// Smallest gain worth a split.
    pub min_gain_to_split: f64,
}

/// Gradient and hessian sums of the rows in one bin.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cell {
    g: f64,
    h: f64,
    n: u32,
}

impl Cell {
    fn add(&mut self, o: &Cell) {
        self.g += o.g;
        self.h += o.h;
        self.n += o.n;
    }
    fn minus(&self, o: &Cell) -> Cell {
        Cell {
            g: self.g - o.g,
            h: self.h - o.h,
            n: self.n - o.n,
        }
    }
}

/// A trained tree. Node `i` sends a row left when its value of `feature[i]` is at most
/// `threshold[i]` (on bins: at most `bin[i]`); a child below 0 is leaf `!child`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tree {
    /// Split feature of each node.
    pub feature: Vec<u32>,
    /// Split value of each node.
    pub threshold: Vec<f32>,
    /// Split bin of each node.
    pub bin: Vec<u8>,
    /// Left child of each node.
    pub left: Vec<i32>,
    /// Right child of each node.
    pub right: Vec<i32>,
    /// Where each node sends a missing value (NaN): [`MISSING_AS_ZERO`] where its
    /// feature had none in training, [`MISSING_LEFT`] or [`MISSING_RIGHT`] as learnt.
    pub missing: Vec<u8>,
    /// The missing bin of each node's feature, 0 for none (training only: binned rows).
    pub missing_bin: Vec<u8>,
    /// Value of each leaf.
    pub leaf_value: Vec<f32>,
}

/// A missing value is read as 0 (its feature had none in training).
pub const MISSING_AS_ZERO: u8 = 0;
/// A missing value goes left.
pub const MISSING_LEFT: u8 = 1;
/// A missing value goes right.
pub const MISSING_RIGHT: u8 = 2;

impl Tree {
    /// The leaf a dense row falls in.
    #[inline]
    pub fn leaf(&self, x: &[f32]) -> usize {
        if self.feature.is_empty() {
            return 0;
        }
        let mut node = 0i32;
        while node >= 0 {
            let i = node as usize;
            let v = x[self.feature[i] as usize];
            let left = if v.is_nan() {
                match self.missing[i] {
                    MISSING_LEFT => true,
                    MISSING_RIGHT => false,
                    _ => 0.0 <= self.threshold[i],
                }
            } else {
                v <= self.threshold[i]
            };
            node = if left { self.left[i] } else { self.right[i] };
        }
        !node as usize
    }

    /// The value of a dense row.
    #[inline]
    pub fn predict(&self, x: &[f32]) -> f32 {
        self.leaf_value[self.leaf(x)]
    }

    /// The value of row `r` of a binned matrix.
    #[inline]
    pub fn predict_binned(&self, binned: &Binned, r: usize) -> f32 {
        if self.feature.is_empty() {
            return self.leaf_value[0];
        }
        let mut node = 0i32;
        while node >= 0 {
            let i = node as usize;
            let b = binned.feature_bin(self.feature[i] as usize, r);
            // The missing bin is the feature's last: `<=` sends it right already.
            let left =
                b <= self.bin[i] || (self.missing[i] == MISSING_LEFT && b == self.missing_bin[i]);
            node = if left { self.left[i] } else { self.right[i] };
        }
        self.leaf_value[!node as usize]
    }
}

/// The best split of a leaf.
#[derive(Debug, Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    bin: u8,
    /// Whether the feature's missing bin goes left (it has rows there and they gain more
    /// on the left).
    missing_left: bool,
    left: Cell,
}

/// A leaf while the tree grows: its rows are `rows[start..end]`.
struct Leaf {
    start: usize,
    end: usize,
    sum: Cell,
    depth: usize,
    hist: Vec<Cell>,
    split: Option<Split>,
    /// The node whose child this leaf is, and whether it is the left one.
    parent: Option<(usize, bool)>,
}

/// Grows trees on one binned matrix.
pub struct Grower<'a> {
    binned: &'a Binned,
    /// Where each column's bins start in a histogram.
    offsets: Vec<usize>,
    params: TreeParams,
    /// 0..n_rows: the rows of a leaf that holds them all, in storage order.
    all_rows: Vec<u32>,
    /// Buffers kept from tree to tree: a fresh histogram of a few hundred kB per leaf
    /// came from the system zeroed page by page, a twentieth of a fit.
    pool: std::sync::Mutex<Pool>,
}

/// Histograms no leaf holds, and the gathered-gradients buffer.
#[derive(Default)]
struct Pool {
    hists: Vec<Vec<Cell>>,
    gh: Vec<[f32; 2]>,
}

impl<'a> Grower<'a> {
    /// A grower over `binned`.
    pub fn new(binned: &'a Binned, params: TreeParams) -> Self {
        let mut offsets = vec![0];
        for c in 0..binned.n_columns() {
            offsets.push(offsets[c] + binned.column_bins(c));
        }
        Grower {
            binned,
            offsets,
            params,
            all_rows: (0..binned.n_rows as u32).collect(),
            pool: Default::default(),
        }
    }

    fn leaf_score(&self, c: &Cell) -> f64 {
        let t = soft_threshold(c.g, self.params.lambda_l1);
        t * t / (c.h + self.params.lambda_l2)
    }

    fn leaf_value(&self, c: &Cell) -> f32 {
        (-soft_threshold(c.g, self.params.lambda_l1) / (c.h + self.params.lambda_l2)
            * self.params.learning_rate) as f32
    }

    /// Where the sparse features' bins start in a histogram (after the columns').
    fn sparse_at(&self) -> usize {
        *self.offsets.last().unwrap_or(&0)
    }

    /// The histograms of `rows` over `columns`, and over the sparse features if
    /// `sparse`.
    fn histogram(
        &self,
        rows: &[u32],
        g: &[f32],
        h: &[f32],
        columns: &[usize],
        sparse: bool,
    ) -> Vec<Cell> {
        let sparse_at = self.sparse_at();
        let total = sparse_at + self.binned.sparse_bins();
        let (mut hist, mut gh) = {
            let mut pool = self.pool.lock().expect("pool lock");
            let hist = pool.hists.pop().unwrap_or_default();
            (hist, std::mem::take(&mut pool.gh))
        };
        hist.clear();
        hist.resize(total, Cell::default());
        let (dense_part, sparse_part) = hist.split_at_mut(sparse_at);
        // Each column's bins are a disjoint slice: fill them in parallel.
        let mut slices: Vec<(usize, &mut [Cell])> = Vec::with_capacity(columns.len());
        let mut rest: &mut [Cell] = dense_part;
        let mut at = 0;
        for &c in columns {
            let (_, tail) = rest.split_at_mut(self.offsets[c] - at);
            let (mine, tail) = tail.split_at_mut(self.offsets[c + 1] - self.offsets[c]);
            slices.push((c, mine));
            rest = tail;
            at = self.offsets[c + 1];
        }
        // A leaf holding every row (the root, unsampled) reads them in storage order:
        // the columns then stream from memory.
        let rows = if rows.len() == self.binned.n_rows {
            &self.all_rows[..]
        } else {
            rows
        };
        // The leaf's gradients gathered once, in row order (LightGBM's "ordered
        // gradients"): each column then reads them sequentially.
        gh.clear();
        gh.extend(rows.iter().map(|&r| [g[r as usize], h[r as usize]]));
        rayon::join(
            || {
                slices.into_par_iter().for_each(|(c, cells)| {
                    column_histogram(self.binned.column(c), rows, &gh, cells)
                })
            },
            || {
                if sparse {
                    self.sparse_histogram(rows, &gh, sparse_part);
                }
            },
        );
        self.pool.lock().expect("pool lock").gh = gh;
        hist
    }

    /// Gives a histogram back for later leaves.
    fn recycle(&self, hist: Vec<Cell>) {
        if !hist.is_empty() {
            self.pool.lock().expect("pool lock").hists.push(hist);
        }
    }

    /// Adds the row-wise bins of `rows` (gradients `gh`) into `out`: in parallel over
    /// chunks of rows for large leaves, each chunk into a histogram of its own.
    fn sparse_histogram(&self, rows: &[u32], gh: &[[f32; 2]], out: &mut [Cell]) {
        /// Fewest rows worth a histogram of their own.
        const ROWS_PER_TASK: usize = 16_384;
        let add = |rows: &[u32], gh: &[[f32; 2]], out: &mut [Cell]| {
            for (&r, &[gr, hr]) in rows.iter().zip(gh) {
                for &k in self.binned.row_bins(r as usize) {
                    let c = &mut out[k as usize];
                    c.g += gr as f64;
                    c.h += hr as f64;
                    c.n += 1;
                }
            }
        };
        let tasks = (rows.len() / ROWS_PER_TASK).clamp(1, rayon::current_num_threads());
        if tasks == 1 {
            add(rows, gh, out);
            return;
        }
        let chunk = rows.len().div_ceil(tasks);
        let mut extra: Vec<Vec<Cell>> = (1..tasks)
            .map(|_| vec![Cell::default(); out.len()])
            .collect();
        let targets: Vec<&mut [Cell]> = std::iter::once(&mut *out)
            .chain(extra.iter_mut().map(Vec::as_mut_slice))
            .collect();
        targets
            .into_par_iter()
            .zip(rows.par_chunks(chunk).zip(gh.par_chunks(chunk)))
            .for_each(|(target, (rows, gh))| add(rows, gh, target));
        for e in &extra {
            for (o, c) in out.iter_mut().zip(e) {
                o.add(c);
            }
        }
    }

    /// Feature `f`'s cells from the leaf's histogram `hist` (sums `sum`): its column's
    /// cells when it is dense, else rebuilt in `scratch` from its row-wise bins (its
    /// zero bin holds the rows its other bins do not).
    fn feature_cells<'h>(
        &self,
        place: &Place,
        f: usize,
        hist: &'h [Cell],
        sum: &Cell,
        scratch: &'h mut Vec<Cell>,
    ) -> &'h [Cell] {
        if place.dense {
            let c = place.at as usize;
            return &hist[self.offsets[c]..self.offsets[c + 1]];
        }
        scratch.clear();
        scratch.resize(self.binned.bins.n_bins(f), Cell::default());
        let mut rest = *sum;
        let at = self.sparse_at() + place.at as usize;
        for (j, cell) in hist[at..at + place.span as usize].iter().enumerate() {
            let b = j + (j >= place.zero as usize) as usize;
            scratch[b] = *cell;
            rest = rest.minus(cell);
        }
        scratch[place.zero as usize] = rest;
        scratch
    }

    /// The best split of a leaf with histogram `hist` and sums `sum`.
    fn best_split(&self, hist: &[Cell], sum: &Cell, features: &[usize]) -> Option<Split> {
        let p = &self.params;
        let parent = self.leaf_score(sum);
        let bins = &self.binned.bins;
        let mut scratch = Vec::new();
        let mut overall: Option<Split> = None;
        for &f in features {
            let Some(place) = self.binned.place(f) else {
                continue;
            };
            let cells = self.feature_cells(&place, f, hist, sum, &mut scratch);
            let values = bins.n_value_bins(f);
            let missing = match bins.has_missing[f] {
                true => cells[values],
                false => Cell::default(),
            };
            let mut best: Option<Split> = None;
            // Missing rows right (the scan's natural order: the missing bin is last, so
            // splitting after the last value bin parts values from missing), then, where
            // there are any, missing rows left.
            for missing_left in [false, true] {
                if missing_left && missing.n == 0 {
                    break;
                }
                let mut left = if missing_left {
                    missing
                } else {
                    Cell::default()
                };
                let last = if missing_left {
                    values - 1
                } else {
                    cells.len() - 1
                };
                for (b, c) in cells.iter().enumerate().take(last) {
                    left.add(c);
                    let right = sum.minus(&left);
                    if (left.n as usize) < p.min_data_in_leaf {
                        continue;
                    }
                    if (right.n as usize) < p.min_data_in_leaf {
                        break;
                    }
                    if left.h < p.min_sum_hessian || right.h < p.min_sum_hessian {
                        continue;
                    }
                    let gain = self.leaf_score(&left) + self.leaf_score(&right) - parent;
                    if gain > p.min_gain_to_split.max(1e-12) && best.is_none_or(|s| gain > s.gain) {
                        best = Some(Split {
                            gain,
                            feature: f,
                            bin: b as u8,
                            missing_left,
                            left,
                        });
                    }
                }
            }
            // Ties go to the lower feature, as features come in ascending order.
            if let Some(b) = best {
                if overall.is_none_or(|o| b.gain > o.gain) {
                    overall = Some(b);
                }
            }
        }
        overall
    }

    /// Grows one tree on `rows` (reordered in place) with gradients `g` and hessians `h`,
    /// splitting on `features` only. Also returns where each leaf's rows ended up in
    /// `rows`, so that their scores can be updated without walking the tree.
    pub fn grow(
        &self,
        rows: &mut [u32],
        g: &[f32],
        h: &[f32],
        features: &[usize],
    ) -> (Tree, Vec<std::ops::Range<usize>>) {
        let p = self.params;
        let (columns, sparse) = self.binned.columns_of(features);
        let hist = self.histogram(rows, g, h, &columns, sparse);
        let mut sum = Cell::default();
        for &r in rows.iter() {
            sum.g += g[r as usize] as f64;
            sum.h += h[r as usize] as f64;
            sum.n += 1;
        }
        let split = self.best_split(&hist, &sum, features);
        let mut leaves = vec![Leaf {
            start: 0,
            end: rows.len(),
            sum,
            depth: 0,
            hist,
            split,
            parent: None,
        }];
        let mut tree = Tree::default();
        let mut scratch: Vec<u32> = Vec::new();
        // Only splits on sparse features flag rows.
        let mut flip = vec![
            false;
            if self.binned.sparse_bins() > 0 {
                self.binned.n_rows
            } else {
                0
            }
        ];
        let bins = &self.binned.bins;
        while leaves.len() < p.num_leaves {
            let Some((li, s)) = leaves
                .iter()
                .enumerate()
                .filter_map(|(i, l)| l.split.map(|s| (i, s)))
                .max_by(|a, b| a.1.gain.total_cmp(&b.1.gain))
            else {
                break;
            };
            let (start, end, depth, parent) = {
                let l = &leaves[li];
                (l.start, l.end, l.depth, l.parent)
            };
            // Stable partition of the leaf's rows: left (bin <= split bin) first.
            let place = self
                .binned
                .place(s.feature)
                .expect("a split's feature has bins");
            let missing_bin = bins.missing_bin(s.feature);
            // A bin number no row has, unless missing rows go left.
            let left_too = match (s.missing_left, missing_bin) {
                (true, Some(b)) => b,
                _ => 0,
            };
            let goes_left = |b: u8| b <= s.bin || (s.missing_left && b == left_too);
            let mid = if place.dense {
                let col = self.binned.column(place.at as usize);
                start
                    + stable_partition(&mut rows[start..end], &mut scratch, |r| {
                        goes_left(col[r as usize])
                    })
            } else {
                // Rows go the way of the zero bin but where the feature's non-zero rows
                // say otherwise: flag those, partition, unflag.
                let zero_left = goes_left(place.zero);
                let (nonzero, their_bins) = self.binned.nonzero_rows(s.feature);
                for (&r, &b) in nonzero.iter().zip(their_bins) {
                    flip[r as usize] = goes_left(b) != zero_left;
                }
                let flags = &flip;
                let left = start
                    + stable_partition(&mut rows[start..end], &mut scratch, |r| {
                        zero_left != flags[r as usize]
                    });
                for &r in nonzero {
                    flip[r as usize] = false;
                }
                left
            };
            debug_assert_eq!(mid - start, s.left.n as usize);

            let node = tree.feature.len();
            tree.feature.push(s.feature as u32);
            // After the last value bin (values left, missing right): every value is below.
            let threshold = bins.bounds[s.feature].get(s.bin as usize);
            tree.threshold
                .push(threshold.copied().unwrap_or(f32::INFINITY));
            tree.bin.push(s.bin);
            tree.missing.push(match (missing_bin, s.missing_left) {
                (None, _) => MISSING_AS_ZERO,
                (Some(_), true) => MISSING_LEFT,
                (Some(_), false) => MISSING_RIGHT,
            });
            tree.missing_bin.push(missing_bin.unwrap_or(0));
            let right_leaf = leaves.len();
            tree.left.push(!(li as i32));
            tree.right.push(!(right_leaf as i32));
            if let Some((pn, is_left)) = parent {
                if is_left {
                    tree.left[pn] = node as i32;
                } else {
                    tree.right[pn] = node as i32;
                }
            }

            let parent_hist = std::mem::take(&mut leaves[li].hist);
            let left_sum = s.left;
            let right_sum = leaves[li].sum.minus(&left_sum);
            let (small, large_is_left) = if left_sum.n <= right_sum.n {
                (&rows[start..mid], false)
            } else {
                (&rows[mid..end], true)
            };
            let small_hist = self.histogram(small, g, h, &columns, sparse);
            let mut large_hist = parent_hist;
            let sparse_bins = self.sparse_at()..if sparse { large_hist.len() } else { 0 };
            for b in columns
                .iter()
                .flat_map(|&c| self.offsets[c]..self.offsets[c + 1])
                .chain(sparse_bins)
            {
                large_hist[b] = large_hist[b].minus(&small_hist[b]);
            }
            let (left_hist, right_hist) = if large_is_left {
                (large_hist, small_hist)
            } else {
                (small_hist, large_hist)
            };
            let can_split = p.max_depth == 0 || depth + 1 < p.max_depth;
            let best = |hist: &[Cell], sum: &Cell| {
                if can_split && (sum.n as usize) >= 2 * p.min_data_in_leaf {
                    self.best_split(hist, sum, features)
                } else {
                    None
                }
            };
            let left_split = best(&left_hist, &left_sum);
            let right_split = best(&right_hist, &right_sum);
            // A leaf that will not split needs its histogram no more.
            let keep = |hist: Vec<Cell>, split: &Option<Split>| {
                if split.is_some() {
                    hist
                } else {
                    self.recycle(hist);
                    Vec::new()
                }
            };
            let left_hist = keep(left_hist, &left_split);
            let right_hist = keep(right_hist, &right_split);
            leaves[li] = Leaf {
                start,
                end: mid,
                sum: left_sum,
                depth: depth + 1,
                hist: left_hist,
                split: left_split,
                parent: Some((node, true)),
            };
            leaves.push(Leaf {
                start: mid,
                end,
                sum: right_sum,
                depth: depth + 1,
                hist: right_hist,
                split: right_split,
                parent: Some((node, false)),
            });
        }
        tree.leaf_value = leaves.iter().map(|l| self.leaf_value(&l.sum)).collect();
        for l in &mut leaves {
            self.recycle(std::mem::take(&mut l.hist));
        }
        let ranges = leaves.iter().map(|l| l.start..l.end).collect();
        (tree, ranges)
    }
}

/// Adds the bins of `rows` (gradients `gh`) in `col` into `cells`. Rows in a row often
/// share a bin, and then each add waits for the one before; so large leaves add every
/// other row into a second histogram, merged at the end.
#[inline]
fn column_histogram(col: &[u8], rows: &[u32], gh: &[[f32; 2]], cells: &mut [Cell]) {
    let add = |c: &mut Cell, [g, h]: [f32; 2]| {
        c.g += g as f64;
        c.h += h as f64;
        c.n += 1;
    };
    if rows.len() < 4096 {
        for (&r, &x) in rows.iter().zip(gh) {
            add(&mut cells[col[r as usize] as usize], x);
        }
        return;
    }
    let mut other = [Cell::default(); 256];
    let (pairs, rest) = rows.split_at(rows.len() & !1);
    for (k, (r, x)) in pairs.chunks_exact(2).zip(gh.chunks_exact(2)).enumerate() {
        if let Some(&ahead) = rows.get(2 * k + AHEAD) {
            prefetch(&col[ahead as usize]);
        }
        add(&mut cells[col[r[0] as usize] as usize], x[0]);
        add(&mut other[col[r[1] as usize] as usize], x[1]);
    }
    if let (Some(&r), Some(&x)) = (rest.first(), gh.last()) {
        add(&mut cells[col[r as usize] as usize], x);
    }
    for (c, o) in cells.iter_mut().zip(&other) {
        c.add(o);
    }
}

/// How many rows ahead histogram loops prefetch a row's bin.
const AHEAD: usize = 32;

/// Asks the CPU to start loading `x` (a hint; a no-op off x86-64). A leaf's rows are
/// ascending but far apart, so each bin read is a cache miss no hardware prefetcher
/// predicts.
#[inline(always)]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint that cannot fault, and `x` is a live reference.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch((x as *const T).cast::<i8>(), _MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Reorders `rows` stably, those `left` says go left first, and returns how many those
/// are (`scratch` is a buffer). Large leaves are cut in one chunk per thread, each
/// partitioned on its own, then the chunks' left parts and right parts gathered in
/// order: the same order as one pass.
fn stable_partition(
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    left: impl Fn(u32) -> bool + Sync,
) -> usize {
    /// Fewest rows worth a chunk per thread.
    const PARALLEL_ROWS: usize = 1 << 16;
    fn one_pass(rows: &mut [u32], scratch: &mut Vec<u32>, left: &impl Fn(u32) -> bool) -> usize {
        scratch.clear();
        let mut w = 0;
        for i in 0..rows.len() {
            let r = rows[i];
            if left(r) {
                rows[w] = r;
                w += 1;
            } else {
                scratch.push(r);
            }
        }
        rows[w..].copy_from_slice(scratch);
        w
    }
    let threads = rayon::current_num_threads();
    if rows.len() < PARALLEL_ROWS || threads == 1 {
        return one_pass(rows, scratch, &left);
    }
    let chunk = rows.len().div_ceil(threads);
    let lefts: Vec<usize> = rows
        .par_chunks_mut(chunk)
        .map_init(Vec::new, |buf, part| one_pass(part, buf, &left))
        .collect();
    scratch.clear();
    for (part, &l) in rows.chunks(chunk).zip(&lefts) {
        scratch.extend_from_slice(&part[..l]);
    }
    for (part, &l) in rows.chunks(chunk).zip(&lefts) {
        scratch.extend_from_slice(&part[l..]);
    }
    rows.copy_from_slice(scratch);
    lefts.iter().sum()
}

fn soft_threshold(g: f64, l1: f64) -> f64 {
    if l1 <= 0.0 {
        g
    } else {
        g.signum() * (g.abs() - l1).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::binned::samples;
    use super::*;

    fn params() -> TreeParams {
        TreeParams {
            num_leaves: 4,
            max_depth: 0,
            min_data_in_leaf: 1,
            min_sum_hessian: 0.0,
            lambda_l1: 0.0,
            lambda_l2: 0.0,
            learning_rate: 1.0,
            min_gain_to_split: 0.0,
        }
    }

    /// On squared error (g = −y, h = 1), a tree with enough leaves fits a step function
    /// of two features exactly: each leaf's value is its rows' mean.
    #[test]
    fn a_tree_fits_a_step_function_and_routes_raw_and_binned_rows_alike() {
        let (n, nf) = (400, 2);
        let mut x = vec![0.0f32; n * nf];
        let mut y = vec![0.0f32; n];
        for r in 0..n {
            let (a, b) = ((r % 20) as f32, (r / 20) as f32);
            x[r * nf] = a;
            x[r * nf + 1] = b;
            y[r] = if a < 10.0 { 1.0 } else { 3.0 } + if b < 5.0 { 0.0 } else { 10.0 };
        }
        let binned = Binned::build(&samples(&x, nf, &y), &[0, 1], nf, 255);
        let grower = Grower::new(&binned, params());
        let g: Vec<f32> = y.iter().map(|v| -v).collect();
        let h = vec![1.0f32; n];
        let mut rows: Vec<u32> = (0..n as u32).collect();
        let (tree, _) = grower.grow(&mut rows, &g, &h, &[0, 1]);
        assert_eq!(tree.leaf_value.len(), 4);
        for r in 0..n {
            let raw = tree.predict(&x[r * nf..(r + 1) * nf]);
            assert!((raw - y[r]).abs() < 1e-5, "row {r}: {raw} vs {}", y[r]);
            assert_eq!(raw, tree.predict_binned(&binned, r));
        }
        // min_data_in_leaf stops splits that would leave fewer rows.
        let p = TreeParams {
            min_data_in_leaf: 300,
            ..params()
        };
        let mut rows: Vec<u32> = (0..n as u32).collect();
        let (t, _) = Grower::new(&binned, p).grow(&mut rows, &g, &h, &[0, 1]);
        assert_eq!(t.leaf_value.len(), 1);
        // L2 shrinks the leaf towards 0: −G/(H + λ) for the single leaf.
        let p = TreeParams {
            num_leaves: 1,
            lambda_l2: 400.0,
            ..params()
        };
        let mut rows: Vec<u32> = (0..n as u32).collect();
        let (t, _) = Grower::new(&binned, p).grow(&mut rows, &g, &h, &[0, 1]);
        let mean: f32 = y.iter().sum::<f32>() / n as f32;
        assert!((t.leaf_value[0] - mean / 2.0).abs() < 1e-4);
    }

    /// Stored by column or by row, the same data grows the same tree: one-hot ids,
    /// a sparse numeric feature with a negative value, a dense one, missing values.
    /// Cut into chunks on several threads or not, the partition keeps the rows' order.
    #[test]
    fn the_parallel_partition_is_the_stable_one() {
        let rows: Vec<u32> = (0..200_003u32)
            .map(|i| i.wrapping_mul(2_654_435_761) % 1_000_003)
            .collect();
        let left = |r: u32| r % 7 < 3;
        let expected: Vec<u32> = rows
            .iter()
            .copied()
            .filter(|&r| left(r))
            .chain(rows.iter().copied().filter(|&r| !left(r)))
            .collect();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut got = rows.clone();
            let n = pool.install(|| stable_partition(&mut got, &mut Vec::new(), left));
            assert_eq!(n, expected.iter().filter(|&&r| left(r)).count());
            assert_eq!(got, expected, "{threads} threads");
        }
    }

    #[test]
    fn sparse_and_dense_storage_grow_the_same_tree() {
        let (n, nf) = (3000, 24);
        let mut x = vec![0.0f32; n * nf];
        let mut y = vec![0.0f32; n];
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f32 / (1u64 << 31) as f32
        };
        for r in 0..n {
            let row = &mut x[r * nf..(r + 1) * nf];
            let id = (next() * 20.0) as usize;
            row[id] = 1.0;
            let a = if next() < 0.1 {
                next() * 4.0 - 1.0
            } else {
                0.0
            };
            row[20] = a;
            row[21] = next();
            row[22] = if next() < 0.05 { f32::NAN } else { 0.0 };
            row[23] = if next() < 0.15 { 2.0 } else { 0.0 };
            y[r] = (id % 3) as f32 + 2.0 * a + row[21] + if row[22].is_nan() { 3.0 } else { 0.0 };
        }
        let s = samples(&x, nf, &y);
        let column: Vec<u32> = (0..nf as u32).collect();
        let g: Vec<f32> = y.iter().map(|v| -v).collect();
        let h = vec![1.0f32; n];
        let p = TreeParams {
            num_leaves: 31,
            min_data_in_leaf: 20,
            ..params()
        };
        let trees: Vec<Tree> = [0, 5]
            .map(|fifths| {
                let b = Binned::build_with(&s, &column, nf, 255, fifths);
                assert_eq!(b.n_columns(), if fifths == 0 { nf } else { 0 });
                let mut rows: Vec<u32> = (0..n as u32).collect();
                Grower::new(&b, p).grow(&mut rows, &g, &h, &b.features()).0
            })
            .into();
        assert_eq!(trees[0].feature, trees[1].feature);
        assert_eq!(trees[0].bin, trees[1].bin);
        assert_eq!(trees[0].missing, trees[1].missing);
        for (a, b) in trees[0].leaf_value.iter().zip(&trees[1].leaf_value) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        assert!(trees[0].feature.len() >= 20);
    }
}
