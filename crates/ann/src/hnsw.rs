//! Hierarchical navigable small-world graphs (Malkov & Yashunin, 2016/2018).
//!
//! Build inserts points in parallel straight into the node records the finished graph
//! searches: layer-0 links are atomic words, written under the node's lock and read without
//! one; the few upper-layer lists sit behind the per-node locks and are flattened when the
//! build ends. Searches of the finished graph read plain slices.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Mutex, RwLock};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::simd::dot;

/// A distance with a total order (distances are finite here).
#[derive(Debug, Clone, Copy)]
struct D(f32);
impl PartialEq for D {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for D {}
impl PartialOrd for D {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for D {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0)
    }
}

/// One cache line of node records; records are whole numbers of lines, so each vector
/// starts on a line boundary and a visit touches exactly `dim / 16` lines of it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(64))]
struct Line([u32; 16]);

const LINE_WORDS: usize = 16;

/// The graph after the build: layer 0 in one flat array, upper layers per node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Graph {
    pub m: usize,
    pub m0: usize,
    pub dim: usize,
    /// Layer 0 as one record per node — a count and `m0` link slots, padded to a line,
    /// then the node's vector (f32 bits), padded to a line — so a visit touches one
    /// contiguous block (hnswlib lays nodes out alike) and vectors are line-aligned.
    rec: Vec<Line>,
    /// Words per record, and the vector's offset in it.
    rec_words: usize,
    vec_at: usize,
    /// Node → its levels ≥ 1, each `m + 1` slots (count, neighbours), concatenated.
    pub upper: Vec<Vec<u32>>,
    pub levels: Vec<u8>,
    pub entry: u32,
    pub max_level: u8,
}

impl Graph {
    /// Assembles the graph from layer-0 links (`n × (m0 + 1)`: count, slots) and vectors.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        m: usize,
        dim: usize,
        layer0: &[u32],
        vectors: &[f32],
        upper: Vec<Vec<u32>>,
        levels: Vec<u8>,
        entry: u32,
        max_level: u8,
    ) -> Graph {
        let mut g = Graph::without_links(m, dim, vectors, levels);
        g.upper = upper;
        g.entry = entry;
        g.max_level = max_level;
        let (m0, rec_words) = (g.m0, g.rec_words);
        let words = g.words_mut();
        for (r, l) in words
            .chunks_exact_mut(rec_words)
            .zip(layer0.chunks_exact(m0 + 1))
        {
            r[..1 + m0].copy_from_slice(l);
        }
        g
    }

    /// The node records with their vectors and no links yet (the build fills them in).
    fn without_links(m: usize, dim: usize, vectors: &[f32], levels: Vec<u8>) -> Graph {
        let m0 = 2 * m;
        let n = levels.len();
        let vec_at = (1 + m0).next_multiple_of(LINE_WORDS);
        let rec_words = vec_at + dim.next_multiple_of(LINE_WORDS);
        let mut g = Graph {
            m,
            m0,
            dim,
            rec: vec![Line([0; LINE_WORDS]); n * rec_words / LINE_WORDS],
            rec_words,
            vec_at,
            upper: vec![Vec::new(); n],
            levels,
            entry: 0,
            max_level: 0,
        };
        let words = g.words_mut();
        for (r, v) in words
            .chunks_exact_mut(rec_words)
            .zip(vectors.chunks_exact(dim))
        {
            for (d, x) in r[vec_at..vec_at + dim].iter_mut().zip(v) {
                *d = x.to_bits();
            }
        }
        g
    }

    #[inline]
    fn words(&self) -> &[u32] {
        // SAFETY: a `Line` is 16 u32 with no padding (repr(C), size 64), so the lines are
        // one contiguous run of u32.
        unsafe {
            std::slice::from_raw_parts(self.rec.as_ptr() as *const u32, self.rec.len() * LINE_WORDS)
        }
    }

    fn words_mut(&mut self) -> &mut [u32] {
        // SAFETY: as in `words`; the borrow is unique.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.rec.as_mut_ptr() as *mut u32,
                self.rec.len() * LINE_WORDS,
            )
        }
    }

    /// Layer-0 links as `n × (m0 + 1)` (count, slots), for saving.
    pub fn layer0(&self) -> Vec<u32> {
        self.words()
            .chunks(self.rec_words)
            .flat_map(|c| c[..1 + self.m0].iter().copied())
            .collect()
    }

    /// The stored vector of `node`.
    #[inline]
    pub fn vector(&self, node: u32) -> &[f32] {
        let start = node as usize * self.rec_words + self.vec_at;
        let v = &self.words()[start..start + self.dim];
        // SAFETY: u32 and f32 have the same size and alignment and every bit pattern is a
        // valid f32; the slice stays borrowed from `self.rec`.
        unsafe { std::slice::from_raw_parts(v.as_ptr() as *const f32, v.len()) }
    }

    #[inline]
    pub fn neighbors(&self, node: u32, level: usize) -> &[u32] {
        if level == 0 {
            let base = node as usize * self.rec_words;
            let w = self.words();
            let c = w[base] as usize;
            &w[base + 1..base + 1 + c]
        } else {
            let l = &self.upper[node as usize];
            let base = (level - 1) * (self.m + 1);
            let c = l[base] as usize;
            &l[base + 1..base + 1 + c]
        }
    }
}

/// Per-thread visited marks, cleared in O(1) by bumping a generation.
#[derive(Default)]
struct Visited {
    marks: Vec<u32>,
    generation: u32,
}

impl Visited {
    fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks = vec![0; n];
            self.generation = 0;
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.generation = 1;
        }
    }
    /// Marks `i`; true when it was not marked yet.
    #[inline]
    fn insert(&mut self, i: u32) -> bool {
        let m = &mut self.marks[i as usize];
        if *m == self.generation {
            false
        } else {
            *m = self.generation;
            true
        }
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = const { RefCell::new(Visited { marks: Vec::new(), generation: 0 }) };
}

/// Where a layer's links come from: the finished graph (plain slices) or the graph under
/// construction (behind per-node locks). Generic, so the search loop is monomorphised.
pub(crate) trait Links {
    /// Calls `f` with the links of `node` on `level`.
    fn with_neighbors(&self, node: u32, level: usize, f: impl FnMut(&[u32]));
    /// The vector of `node`.
    fn vector(&self, node: u32) -> &[f32];
    /// Number of nodes.
    fn len(&self) -> usize;
}

impl Links for Graph {
    #[inline]
    fn with_neighbors(&self, node: u32, level: usize, mut f: impl FnMut(&[u32])) {
        f(self.neighbors(node, level))
    }
    #[inline]
    fn vector(&self, node: u32) -> &[f32] {
        Graph::vector(self, node)
    }
    fn len(&self) -> usize {
        self.levels.len()
    }
}

/// The graph while it grows. Layer-0 links are written in place, in the node records the
/// finished [`Graph`] keeps, by a writer holding the node's lock, and read without one:
/// every link word is atomic, so a search that meets a list being rewritten sees valid
/// node ids, old or new, never torn ones. It also reads each vector where the search of
/// the finished graph will (line-aligned, next to its links). Upper layers, which hold one
/// node in `m`, keep their lists behind the per-node locks.
struct Building<'a> {
    /// The node records as atomic words; the vector words are never written during a build.
    words: &'a [AtomicU32],
    /// Per node: its lock (also taken to write its layer-0 links) and its levels ≥ 1.
    upper: &'a [Mutex<Vec<Vec<u32>>>],
    rec_words: usize,
    vec_at: usize,
    dim: usize,
    m0: usize,
}

// The record words are viewed as atomics while the graph grows.
const _: () = assert!(
    std::mem::size_of::<AtomicU32>() == std::mem::size_of::<u32>()
        && std::mem::align_of::<AtomicU32>() == std::mem::align_of::<u32>()
);

impl Building<'_> {
    /// Calls `f` with the layer-0 links of `node` (a snapshot; no lock taken).
    #[inline]
    fn with_links0(&self, node: u32, mut f: impl FnMut(&[u32])) {
        let base = node as usize * self.rec_words;
        let c = (self.words[base].load(AtomicOrdering::Acquire) as usize).min(self.m0);
        let slots = &self.words[base + 1..base + 1 + c];
        let mut buf = [0u32; 128];
        if c <= buf.len() {
            for (b, w) in buf.iter_mut().zip(slots) {
                *b = w.load(AtomicOrdering::Relaxed);
            }
            f(&buf[..c])
        } else {
            let v: Vec<u32> = slots
                .iter()
                .map(|w| w.load(AtomicOrdering::Relaxed))
                .collect();
            f(&v)
        }
    }

    /// Replaces the layer-0 links of `node`; the caller holds the node's lock. The slots
    /// are written before the count, so a reader never sees a count past written slots.
    fn set_links0(&self, node: u32, list: &[u32]) {
        let base = node as usize * self.rec_words;
        for (w, &x) in self.words[base + 1..base + 1 + list.len()].iter().zip(list) {
            w.store(x, AtomicOrdering::Relaxed);
        }
        self.words[base].store(list.len() as u32, AtomicOrdering::Release);
    }
}

impl Links for Building<'_> {
    #[inline]
    fn with_neighbors(&self, node: u32, level: usize, mut f: impl FnMut(&[u32])) {
        if level == 0 {
            self.with_links0(node, f)
        } else {
            let g = self.upper[node as usize].lock().unwrap();
            if let Some(l) = g.get(level - 1) {
                f(l)
            }
        }
    }
    #[inline]
    fn vector(&self, node: u32) -> &[f32] {
        let start = node as usize * self.rec_words + self.vec_at;
        let v = &self.words[start..start + self.dim];
        // SAFETY: an AtomicU32 has the layout of a u32, and so of an f32; the vector words
        // are written before the build starts and never during it, so no store races
        // these reads; the slice stays borrowed from `self.words`.
        unsafe { std::slice::from_raw_parts(v.as_ptr() as *const f32, v.len()) }
    }
    fn len(&self) -> usize {
        self.upper.len()
    }
}

/// Prefetches the cache lines of a vector (all of them, up to 8: at 10⁶ points each is a
/// miss, and the adjacent-line prefetcher fetches at most one more).
#[inline]
fn prefetch(v: &[f32]) {
    crate::simd::prefetch(v, 8);
}

/// The dot product the search loops use. The loops are generic over it so that the AVX2
/// version is compiled inside an AVX2 function, where the kernel inlines.
trait Kernel {
    fn dot(a: &[f32], b: &[f32]) -> f32;
}

struct Portable;
impl Kernel for Portable {
    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        crate::simd::dot_portable(a, b)
    }
}

/// Only named inside functions that run after [`crate::simd::has_avx2_fma`] said yes.
#[cfg(target_arch = "x86_64")]
struct Avx2;
#[cfg(target_arch = "x86_64")]
impl Kernel for Avx2 {
    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: `Avx2` is used only by the `*_avx2` entry points below, which callers
        // reach only after checking that the CPU has AVX2 and FMA.
        unsafe { crate::simd::dot_avx2(a, b) }
    }
}

/// Best-first search of one layer from `entry` points; returns up to `ef` nodes, nearest
/// first. The distance is `1 − q·v`.
pub(crate) fn search_layer<L: Links>(
    links: &L,
    level: usize,
    q: &[f32],
    entry: &[(f32, u32)],
    ef: usize,
) -> Vec<(f32, u32)> {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { search_layer_avx2(links, level, q, entry, ef) };
    }
    search_layer_with::<Portable, L>(links, level, q, entry, ef)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn search_layer_avx2<L: Links>(
    links: &L,
    level: usize,
    q: &[f32],
    entry: &[(f32, u32)],
    ef: usize,
) -> Vec<(f32, u32)> {
    search_layer_with::<Avx2, L>(links, level, q, entry, ef)
}

#[inline(always)]
fn search_layer_with<K: Kernel, L: Links>(
    links: &L,
    level: usize,
    q: &[f32],
    entry: &[(f32, u32)],
    ef: usize,
) -> Vec<(f32, u32)> {
    let n = links.len();
    let vec_of = |i: u32| links.vector(i);
    // Taken out of the thread-local for the search (no closure around the hot loop) and
    // put back after.
    let mut visited = VISITED.with(|v| std::mem::take(&mut *v.borrow_mut()));
    visited.reset(n);
    let mut candidates: BinaryHeap<Reverse<(D, u32)>> = BinaryHeap::with_capacity(ef * 4);
    let mut results: BinaryHeap<(D, u32)> = BinaryHeap::with_capacity(ef + 1);
    for &(d, e) in entry {
        if visited.insert(e) {
            candidates.push(Reverse((D(d), e)));
            results.push((D(d), e));
        }
    }
    let mut fresh: Vec<u32> = Vec::with_capacity(64);
    while let Some(Reverse((D(d), c))) = candidates.pop() {
        let worst = results.peek().unwrap().0 .0;
        if results.len() >= ef && d > worst {
            break;
        }
        // Collect unvisited neighbours first and prefetch their vectors, so the
        // distance loop below finds them in cache.
        fresh.clear();
        links.with_neighbors(c, level, |nbs| {
            for &nb in nbs {
                if visited.insert(nb) {
                    prefetch(vec_of(nb));
                    fresh.push(nb);
                }
            }
        });
        for &nb in &fresh {
            let dn = 1.0 - K::dot(q, vec_of(nb));
            if results.len() < ef || dn < results.peek().unwrap().0 .0 {
                candidates.push(Reverse((D(dn), nb)));
                results.push((D(dn), nb));
                if results.len() > ef {
                    results.pop();
                }
            }
        }
    }
    VISITED.with(|v| *v.borrow_mut() = visited);
    let mut out: Vec<(f32, u32)> = results.into_iter().map(|(D(d), i)| (d, i)).collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Greedy descent through the upper layers to the best entry point for layer `down_to`.
pub(crate) fn descend<L: Links>(
    links: &L,
    from: usize,
    down_to: usize,
    q: &[f32],
    ep: (f32, u32),
) -> (f32, u32) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { descend_avx2(links, from, down_to, q, ep) };
    }
    descend_with::<Portable, L>(links, from, down_to, q, ep)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn descend_avx2<L: Links>(
    links: &L,
    from: usize,
    down_to: usize,
    q: &[f32],
    ep: (f32, u32),
) -> (f32, u32) {
    descend_with::<Avx2, L>(links, from, down_to, q, ep)
}

#[inline(always)]
fn descend_with<K: Kernel, L: Links>(
    links: &L,
    from: usize,
    down_to: usize,
    q: &[f32],
    mut ep: (f32, u32),
) -> (f32, u32) {
    let vec_of = |i: u32| links.vector(i);
    for lc in (down_to..=from).rev() {
        loop {
            let mut changed = false;
            links.with_neighbors(ep.1, lc, |nbs| {
                for &nb in nbs {
                    prefetch(vec_of(nb));
                }
                for &nb in nbs {
                    let d = 1.0 - K::dot(q, vec_of(nb));
                    if d < ep.0 {
                        ep = (d, nb);
                        changed = true;
                    }
                }
            });
            if !changed {
                break;
            }
        }
    }
    ep
}

/// The neighbour-selection heuristic: keep a candidate only if it is nearer to the base
/// than to every neighbour kept so far, which spreads links across directions.
fn select<'v>(candidates: &[(f32, u32)], m: usize, vec_of: &dyn Fn(u32) -> &'v [f32]) -> Vec<u32> {
    let mut kept: Vec<u32> = Vec::with_capacity(m);
    for &(d, c) in candidates {
        if kept.len() >= m {
            break;
        }
        let vc = vec_of(c);
        if kept.iter().all(|&k| 1.0 - dot(vc, vec_of(k)) > d) {
            kept.push(c);
        }
    }
    kept
}

/// Points inserted one by one before the parallel phase (see [`build`]).
const SEQUENTIAL_INSERTS: u32 = 4096;

/// Builds the graph over `n` vectors of dimension `dim` (flat, row-major), distance
/// `1 − a·b`. `progress` is called with the number of points inserted so far.
pub(crate) fn build(
    vectors: &[f32],
    dim: usize,
    m: usize,
    ef_construction: usize,
    seed: u64,
    progress: &(dyn Fn(usize) + Sync),
) -> Graph {
    let n = vectors.len() / dim;
    let ml = 1.0 / (m.max(2) as f64).ln();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let levels: Vec<u8> = (0..n)
        .map(|_| ((-(1.0 - rng.random::<f64>()).ln() * ml) as usize).min(30) as u8)
        .collect();
    let upper: Vec<Mutex<Vec<Vec<u32>>>> = levels
        .iter()
        .map(|&l| Mutex::new(vec![Vec::new(); l as usize]))
        .collect();
    let mut graph = Graph::without_links(m, dim, vectors, levels.clone());
    let (m0, rec_words, vec_at) = (graph.m0, graph.rec_words, graph.vec_at);
    let words = graph.words_mut();
    // SAFETY: AtomicU32 has the size and alignment of u32 (asserted at compile time), and
    // the words stay borrowed from `graph` for as long as this view lives.
    let words: &[AtomicU32] = unsafe { &*(words as *mut [u32] as *const [AtomicU32]) };
    let building = Building {
        words,
        upper: &upper,
        rec_words,
        vec_at,
        dim,
        m0,
    };
    let vec_of = |i: u32| building.vector(i);
    let top = RwLock::new((0u32, levels.first().copied().unwrap_or(0)));
    let top_insert = Mutex::new(());
    let done = AtomicUsize::new(0);
    // Adds `q` to `list` (the links of `nb`), pruning it back to `cap` by the heuristic;
    // false when `q` was there already.
    let link_back = |list: &mut Vec<u32>, nb: u32, q: u32, cap: usize| -> bool {
        if list.contains(&q) {
            return false;
        }
        list.push(q);
        if list.len() > cap {
            let nv = vec_of(nb);
            let mut cands: Vec<(f32, u32)> = list
                .iter()
                .map(|&c| (1.0 - dot(nv, vec_of(c)), c))
                .collect();
            cands.sort_by(|a, b| a.0.total_cmp(&b.0));
            *list = select(&cands, cap, &vec_of);
        }
        true
    };
    let insert = |q: u32| {
        let l = levels[q as usize];
        let guard = if l > top.read().unwrap().1 {
            Some(top_insert.lock().unwrap())
        } else {
            None
        };
        let (entry, max_level) = *top.read().unwrap();
        let qv = vec_of(q);
        let dist = |i: u32| 1.0 - dot(qv, vec_of(i));
        let mut ep = (dist(entry), entry);
        if max_level as usize > l as usize {
            ep = descend(&building, max_level as usize, l as usize + 1, qv, ep);
        }
        let mut entries = vec![ep];
        let mut list: Vec<u32> = Vec::with_capacity(m0 + 1);
        for lc in (0..=(l.min(max_level) as usize)).rev() {
            let mut found = search_layer(&building, lc, qv, &entries, ef_construction);
            // In the parallel phase `q` can already be reachable: an insert that descended
            // to it through an upper layer links back to it before `q` has its own links
            // at this one. It must not pick itself (that left self-links).
            found.retain(|&(_, c)| c != q);
            let cap = if lc == 0 { m0 } else { m };
            let chosen = select(&found, m, &vec_of);
            {
                // A node's lock guards its layer-0 words as well as its upper lists. Links
                // other inserts gave `q` meanwhile are kept, merged with `chosen` and pruned
                // like any list; alone (always, in the sequential phase) `chosen` is the list.
                let mut g = upper[q as usize].lock().unwrap();
                if lc == 0 {
                    list.clear();
                    building.with_links0(q, |l| list.extend_from_slice(l));
                    for &c in &chosen {
                        link_back(&mut list, q, c, cap);
                    }
                    building.set_links0(q, &list);
                } else {
                    for &c in &chosen {
                        link_back(&mut g[lc - 1], q, c, cap);
                    }
                }
            }
            for &nb in &chosen {
                let mut g = upper[nb as usize].lock().unwrap();
                if lc == 0 {
                    list.clear();
                    building.with_links0(nb, |l| list.extend_from_slice(l));
                    if link_back(&mut list, nb, q, cap) {
                        building.set_links0(nb, &list);
                    }
                } else {
                    link_back(&mut g[lc - 1], nb, q, cap);
                }
            }
            entries = found;
        }
        if guard.is_some() {
            let mut t = top.write().unwrap();
            if l > t.1 {
                *t = (q, l);
            }
        }
        let d = done.fetch_add(1, AtomicOrdering::Relaxed) + 1;
        if d % 4096 == 0 {
            progress(d);
        }
    };
    if n > 0 {
        // The first point is the initial entry. The next few thousand go in one at a time:
        // a graph built in parallel depends on thread timing, and small indexes (tests,
        // catalogues of a few thousand items) should come out the same on every machine.
        // Once the graph has that many nodes, concurrent inserts rarely meet, so the rest
        // go in parallel.
        let sequential = (n as u32).min(SEQUENTIAL_INSERTS);
        (1..sequential).for_each(insert);
        (sequential..n as u32)
            .into_par_iter()
            .with_min_len(64)
            .for_each(insert);
    }
    let (entry, max_level) = *top.read().unwrap();
    // Pruning rewrites a list shorter and leaves old ids past its count; clear them, so
    // that the same graph is always saved as the same bytes.
    graph.words_mut().par_chunks_mut(rec_words).for_each(|r| {
        let c = r[0] as usize;
        r[1 + c..1 + m0].fill(0);
    });
    graph.upper = upper
        .into_iter()
        .map(|node| {
            let lists = node.into_inner().unwrap();
            let mut flat = vec![0u32; lists.len() * (m + 1)];
            for (lv, l) in lists.iter().enumerate() {
                flat[lv * (m + 1)] = l.len() as u32;
                flat[lv * (m + 1) + 1..lv * (m + 1) + 1 + l.len()].copy_from_slice(l);
            }
            flat
        })
        .collect();
    graph.entry = entry;
    graph.max_level = max_level;
    graph
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(n: usize, dim: usize) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        (0..n * dim)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect()
    }

    #[test]
    fn records_keep_vectors_line_aligned_and_round_trip() {
        for dim in [3, 16, 20, 64] {
            let v = points(300, dim);
            let g = build(&v, dim, 8, 32, 1, &|_| {});
            for i in 0..300u32 {
                assert_eq!(g.vector(i).as_ptr() as usize % 64, 0, "dim {dim}");
                assert_eq!(g.vector(i), &v[i as usize * dim..(i as usize + 1) * dim]);
            }
            let again = Graph::new(
                g.m,
                dim,
                &g.layer0(),
                &v,
                g.upper.clone(),
                g.levels.clone(),
                g.entry,
                g.max_level,
            );
            assert_eq!(again, g);
        }
    }

    #[test]
    fn parallel_inserts_leave_a_well_formed_graph_that_finds_neighbours() {
        // Past SEQUENTIAL_INSERTS the inserts run concurrently, reading layer-0 lists
        // while other threads rewrite them; the result must still be a clean graph.
        let (n, dim, m) = (12_000, 16, 8);
        let v: Vec<f32> = points(n, dim)
            .chunks(dim)
            .flat_map(|x| {
                let norm = dot(x, x).sqrt();
                x.iter().map(move |a| a / norm)
            })
            .collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let g = pool.install(|| build(&v, dim, m, 100, 3, &|_| {}));
        let words = g.words();
        for i in 0..n as u32 {
            let links = g.neighbors(i, 0);
            assert!(links.len() <= g.m0 && !links.is_empty(), "node {i}");
            assert!(
                links.iter().all(|&x| (x as usize) < n && x != i),
                "node {i}"
            );
            let mut sorted = links.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), links.len(), "node {i} links twice");
            let rec = &words[i as usize * g.rec_words..];
            assert!(rec[1 + links.len()..1 + g.m0].iter().all(|&w| w == 0));
        }
        let queries = points(100, dim);
        let mut hits = 0;
        for q in queries.chunks(dim) {
            let mut exact: Vec<(f32, u32)> = (0..n as u32)
                .map(|i| (1.0 - dot(q, g.vector(i)), i))
                .collect();
            exact.sort_by(|a, b| a.0.total_cmp(&b.0));
            let ep = (1.0 - dot(q, g.vector(g.entry)), g.entry);
            let ep = descend(&g, g.max_level as usize, 1, q, ep);
            let found = search_layer(&g, 0, q, &[ep], 64);
            hits += found[..10]
                .iter()
                .filter(|f| exact[..10].iter().any(|e| e.1 == f.1))
                .count();
        }
        assert!(hits >= 950, "recall@10 {hits}/1000");
    }

    #[test]
    fn the_portable_kernel_finds_what_the_dispatched_one_finds() {
        let dim = 24;
        let v = points(2000, dim);
        let g = build(&v, dim, 8, 64, 1, &|_| {});
        let queries = points(50, dim);
        let (mut same, mut total) = (0, 0);
        for q in queries.chunks(dim) {
            let ep = (1.0 - dot(q, g.vector(g.entry)), g.entry);
            let a = search_layer(&g, 0, q, &[ep], 32);
            let b = search_layer_with::<Portable, _>(&g, 0, q, &[ep], 32);
            total += 10;
            same += a[..10]
                .iter()
                .filter(|x| b[..10].iter().any(|y| y.1 == x.1))
                .count();
            assert!((a[0].0 - b[0].0).abs() < 1e-5);
        }
        // The kernels sum in different orders, so exact ties may break differently.
        assert!(same as f64 >= 0.98 * total as f64, "{same}/{total}");
    }
}
