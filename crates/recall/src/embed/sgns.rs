//! Skip-gram and CBOW with negative sampling (Mikolov et al. 2013), Funnel's hand-written
//! kernel for every sequence- and walk-based embedding.
//!
//! The loop is word2vec.c's: subsampling of frequent tokens, a window shrunk at random per
//! position (or fixed, or the whole sequence — item2vec's set semantics), negatives from
//! the unigram distribution raised to a power (drawn through an [`AliasTable`]), a learning
//! rate that falls linearly to `min_lr`, and threads updating shared vectors without locks
//! (Hogwild, as [`crate::hogwild`] shares rows). In skip-gram the context token's input
//! vector is trained to predict the centre token (as word2vec.c and gensim do).
//!
//! Dot products outside [−6, 6] are clipped (word2vec.c) rather than skipped (gensim): a
//! negative scored far too high still gets its full push away. Inside, σ is read from a
//! 1,000-entry table, as word2vec.c does.
//!
//! With one thread a run is a function of the seed; with more, Hogwild's interleaving
//! makes it vary slightly from run to run.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

use funnel_data::Progress;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rayon::prelude::*;

use super::alias::AliasTable;
use crate::hogwild::{atomics, floats, load_row, sgns_target, store_row};
use crate::mf::{axpy, Factors};

/// Token sequences, concatenated: sequence `s` is `tokens[starts[s]..starts[s + 1]]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Corpus {
    /// Every token of every sequence.
    pub tokens: Vec<u32>,
    /// Where each sequence starts, and the end (one more entry than sequences).
    pub starts: Vec<usize>,
}

impl Corpus {
    /// An empty corpus.
    pub fn new() -> Self {
        Corpus {
            tokens: Vec::new(),
            starts: vec![0],
        }
    }

    /// Appends one sequence.
    pub fn push(&mut self, seq: &[u32]) {
        self.tokens.extend_from_slice(seq);
        self.starts.push(self.tokens.len());
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Whether there is no sequence.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sequence `s`.
    pub fn seq(&self, s: usize) -> &[u32] {
        &self.tokens[self.starts[s]..self.starts[s + 1]]
    }

    /// Occurrences of each token below `vocab`.
    pub fn counts(&self, vocab: usize) -> Vec<u64> {
        let mut c = vec![0u64; vocab];
        for &t in &self.tokens {
            c[t as usize] += 1;
        }
        c
    }
}

/// Which tokens around a position are its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// `n` tokens each side.
    Fixed(usize),
    /// `b` tokens each side, `b` drawn uniformly from `1..=n` per position (word2vec).
    Shrink(usize),
    /// Every other token of the sequence (item2vec's set semantics).
    Session,
}

/// Skip-gram or CBOW.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Each context token predicts the centre.
    SkipGram,
    /// The mean of the context predicts the centre.
    Cbow,
}

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgnsConfig {
    /// Vector dimension.
    pub dim: usize,
    /// Context window.
    pub window: Window,
    /// Skip-gram or CBOW.
    pub arch: Arch,
    /// Negatives per positive.
    pub negatives: usize,
    /// Power of the unigram counts negatives are drawn from (0.75 in word2vec).
    pub ns_exponent: f64,
    /// Sub-sampling threshold (word2vec's `sample`; 0 keeps every token).
    pub sample: f64,
    /// Starting learning rate.
    pub lr: f32,
    /// Final learning rate.
    pub min_lr: f32,
    /// Passes over the corpus.
    pub epochs: usize,
    /// Seed of initial vectors and every draw.
    pub seed: u64,
    /// Whether sequences are sets: each pass shuffles every sequence anew, so a window
    /// meets different neighbours each epoch (a sample of all pairs at a window's cost).
    pub shuffle: bool,
}

/// Trained vectors and what the run did.
#[derive(Debug, Clone)]
pub struct Trained {
    /// Input ("word") vectors: the embeddings.
    pub input: Factors,
    /// Output ("context") vectors.
    pub output: Factors,
    /// Tokens read over all epochs (before sub-sampling).
    pub words: u64,
    /// Occurrences of each token in the corpus (0: the token was never trained).
    pub counts: Vec<u64>,
    /// Wall-clock seconds of the training loop.
    pub seconds: f64,
}

const MAX_EXP: f32 = 6.0;
pub(crate) const SIGMOID_TABLE: usize = 1000;

pub(crate) fn sigmoid_table() -> &'static [f32; SIGMOID_TABLE] {
    static T: OnceLock<[f32; SIGMOID_TABLE]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = [0.0f32; SIGMOID_TABLE];
        for (i, v) in t.iter_mut().enumerate() {
            let x = (i as f32 / SIGMOID_TABLE as f32 * 2.0 - 1.0) * MAX_EXP;
            *v = 1.0 / (1.0 + (-x).exp());
        }
        t
    })
}

/// σ(x) from the table, clipped to 0 and 1 outside [−6, 6].
#[inline]
pub(crate) fn sigmoid(x: f32, table: &[f32; SIGMOID_TABLE]) -> f32 {
    if x >= MAX_EXP {
        1.0
    } else if x <= -MAX_EXP {
        0.0
    } else {
        let i = ((x + MAX_EXP) * (SIGMOID_TABLE as f32 / MAX_EXP / 2.0)) as usize;
        table[i.min(SIGMOID_TABLE - 1)]
    }
}

/// word2vec's keep probability of each token, (√(f/t) + 1)·t/f with t = `sample` × the
/// corpus size, as a u32 threshold compared with one random u32 (gensim's `sample_int`);
/// `u32::MAX` keeps every occurrence.
pub fn keep_thresholds(counts: &[u64], sample: f64) -> Vec<u32> {
    let total: u64 = counts.iter().sum();
    counts
        .iter()
        .map(|&c| {
            if sample <= 0.0 || c == 0 {
                return u32::MAX;
            }
            let t = sample * total as f64;
            let p = ((c as f64 / t).sqrt() + 1.0) * t / c as f64;
            if p >= 1.0 {
                u32::MAX
            } else {
                (p * u32::MAX as f64) as u32
            }
        })
        .collect()
}

/// Where a token's input ("hidden") vector comes from and where its gradient goes: one
/// row per token ([`Table`], word2vec's), or a combination of shared rows (EGES: the item's
/// own row and its attributes' rows, mixed by learned weights).
pub trait Inputs: Sync {
    /// Per-thread buffers, carried from a `load` to the `update` that follows it.
    type Scratch: Default;
    /// Writes token `w`'s input vector into `h`.
    fn load(&self, w: u32, h: &mut [f32], scratch: &mut Self::Scratch);
    /// Applies `neu1e`, the learning-rate-scaled ascent direction of the input vector, to
    /// token `w`. Called right after [`Inputs::load`] of the same `w` with the same `h`
    /// and scratch; `h` may be overwritten.
    fn update(&self, w: u32, h: &mut [f32], neu1e: &[f32], scratch: &mut Self::Scratch);
    /// The inputs as one plain table, when they are one (threads may then train on
    /// private copies, see [`REPLICA_BYTES`]).
    fn as_table(&self) -> Option<&Table> {
        None
    }
}

/// Both tables of a vocabulary at most this large are copied into every thread, which
/// trains on its copies and adds what it changed to the shared tables every
/// [`SYNC_TOKENS`] tokens. With few rows, Hogwild's threads keep writing the same cache
/// lines: on ml-100k (1,682 items, dim 64) two threads ran 500k words/s and one 650k.
pub const REPLICA_BYTES: usize = 4 << 20;

/// Tokens a thread reads between merges of its copies.
const SYNC_TOKENS: usize = 2_000;

/// One shared row per token, updated in place (Hogwild).
pub struct Table {
    cells: Vec<AtomicU32>,
    k: usize,
}

impl Table {
    /// `n` rows of `k`, initialised as word2vec does: uniform in ±0.5/k, from `seed`.
    pub fn word2vec_init(n: usize, k: usize, seed: u64) -> Table {
        let mut rng = SmallRng::seed_from_u64(seed);
        let init: Vec<f32> = (0..n * k)
            .map(|_| (rng.random::<f32>() - 0.5) / k.max(1) as f32)
            .collect();
        Table {
            cells: atomics(&init),
            k,
        }
    }

    #[inline]
    pub(crate) fn row(&self, w: u32) -> &[AtomicU32] {
        &self.cells[w as usize * self.k..(w as usize + 1) * self.k]
    }

    /// The rows as plain floats.
    pub fn factors(&self) -> Factors {
        Factors {
            n: self.cells.len() / self.k.max(1),
            k: self.k,
            data: floats(&self.cells),
        }
    }
}

impl Inputs for Table {
    type Scratch = ();

    fn as_table(&self) -> Option<&Table> {
        Some(self)
    }

    #[inline]
    fn load(&self, w: u32, h: &mut [f32], _: &mut ()) {
        load_row(self.row(w), h);
    }

    #[inline]
    fn update(&self, w: u32, h: &mut [f32], neu1e: &[f32], _: &mut ()) {
        axpy(1.0, neu1e, h);
        store_row(self.row(w), h);
    }
}

/// What a sequence model adds to plain SGNS (Airbnb's listing embeddings, KDD 2018).
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// Per sequence, a token every position of it also predicts (the session's booked
    /// listing: a global context), or [`NO_TOKEN`].
    pub globals: Option<&'a [u32]>,
    /// Per token its market (category), or [`NO_TOKEN`]; with `market_negatives` > 0
    /// that many extra negatives per positive are drawn from the positive's market.
    pub market_of: Option<&'a [u32]>,
    /// Extra negatives per positive from its market.
    pub market_negatives: usize,
}

/// "No token here" in [`Extras`].
pub const NO_TOKEN: u32 = u32::MAX;

/// Per-market negative tables.
struct Markets<'a> {
    of: &'a [u32],
    members: Vec<Vec<u32>>,
    tables: Vec<Option<AliasTable>>,
    negatives: usize,
}

impl<'a> Markets<'a> {
    fn new(of: &'a [u32], counts: &[u64], power: f64, negatives: usize) -> Self {
        let n_markets = of
            .iter()
            .filter(|&&m| m != NO_TOKEN)
            .map(|&m| m as usize + 1)
            .max()
            .unwrap_or(0);
        let mut members = vec![Vec::new(); n_markets];
        for (t, &m) in of.iter().enumerate() {
            if m != NO_TOKEN && counts.get(t).is_some_and(|&c| c > 0) {
                members[m as usize].push(t as u32);
            }
        }
        let tables = members
            .iter()
            .map(|ms| {
                AliasTable::new(
                    &ms.iter()
                        .map(|&t| (counts[t as usize] as f64).powf(power))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        Markets {
            of,
            members,
            tables,
            negatives,
        }
    }

    #[inline]
    fn sample(&self, positive: u32, rng: &mut SmallRng) -> Option<u32> {
        let m = *self.of.get(positive as usize)?;
        let table = self.tables.get(m as usize)?.as_ref()?;
        Some(self.members[m as usize][table.sample(rng) as usize])
    }
}

/// Learns vectors for tokens `0..vocab` from `corpus`. Tokens that never occur keep their
/// random initial vectors (callers zero them). Threads: rayon's pool.
pub fn train(corpus: &Corpus, vocab: usize, cfg: &SgnsConfig, progress: &dyn Progress) -> Trained {
    let input = Table::word2vec_init(vocab, cfg.dim, cfg.seed);
    let t = train_inputs(corpus, vocab, cfg, &input, Extras::default(), progress);
    Trained {
        input: input.factors(),
        ..t
    }
}

/// [`train`] with any [`Inputs`] and [`Extras`]; the returned `input` is empty (the
/// caller owns the inputs).
pub fn train_inputs<I: Inputs>(
    corpus: &Corpus,
    vocab: usize,
    cfg: &SgnsConfig,
    inputs: &I,
    extras: Extras<'_>,
    progress: &dyn Progress,
) -> Trained {
    let t0 = std::time::Instant::now();
    let counts = corpus.counts(vocab);
    let total: u64 = counts.iter().sum();
    let k = cfg.dim;
    let output = atomics(&vec![0.0f32; vocab * k]);
    let noise = AliasTable::new(
        &counts
            .iter()
            .map(|&c| (c as f64).powf(cfg.ns_exponent) * (c > 0) as u64 as f64)
            .collect::<Vec<_>>(),
    );
    let keep = keep_thresholds(&counts, cfg.sample);
    let empty = Factors::zeros(0, k);
    let (Some(noise), true) = (noise, total > 0 && k > 0) else {
        return Trained {
            input: empty,
            output: Factors::zeros(vocab, k),
            words: 0,
            counts,
            seconds: 0.0,
        };
    };
    let markets = extras
        .market_of
        .filter(|_| extras.market_negatives > 0)
        .map(|of| Markets::new(of, &counts, cfg.ns_exponent, extras.market_negatives));

    // Contiguous slices of sequences of about equal token counts, one per thread.
    let threads = rayon::current_num_threads().max(1);
    let mut bounds = vec![0usize];
    for t in 1..threads {
        let target = total as usize * t / threads;
        let s = corpus
            .starts
            .partition_point(|&x| x < target)
            .min(corpus.len());
        bounds.push(s.max(*bounds.last().unwrap()));
    }
    bounds.push(corpus.len());

    let done = AtomicU64::new(0);
    let planned = (total * cfg.epochs as u64).max(1);
    progress.start("SGNS tokens", planned);
    let ctx = Ctx {
        corpus,
        cfg,
        inputs,
        output: &output,
        noise: &noise,
        markets: markets.as_ref(),
        globals: extras.globals,
        keep: &keep,
        done: &done,
        planned,
        table: sigmoid_table(),
        progress,
    };
    let replicas = inputs
        .as_table()
        .filter(|_| threads > 1 && vocab * k * 4 * 2 <= REPLICA_BYTES);
    let merging = std::sync::Mutex::new(());
    for epoch in 0..cfg.epochs {
        (0..threads).into_par_iter().for_each(|t| {
            let seed =
                cfg.seed ^ ((epoch as u64 + 1) << 40) ^ ((t as u64 + 1) * 0x9E37_79B9_7F4A_7C15);
            match replicas {
                Some(shared) => ctx.run_replica(shared, bounds[t]..bounds[t + 1], seed, &merging),
                None => ctx.run(bounds[t]..bounds[t + 1], seed),
            }
        });
    }
    progress.finish();
    Trained {
        input: empty,
        output: Factors {
            n: vocab,
            k,
            data: floats(&output),
        },
        words: done.load(Relaxed),
        counts,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

/// What every thread shares.
struct Ctx<'a, I> {
    corpus: &'a Corpus,
    cfg: &'a SgnsConfig,
    inputs: &'a I,
    output: &'a [AtomicU32],
    noise: &'a AliasTable,
    markets: Option<&'a Markets<'a>>,
    globals: Option<&'a [u32]>,
    keep: &'a [u32],
    done: &'a AtomicU64,
    planned: u64,
    table: &'a [f32; SIGMOID_TABLE],
    progress: &'a dyn Progress,
}

/// Tokens a thread reads between updates of the shared learning-rate clock.
const CLOCK_STEP: u64 = 10_000;

/// Adds what `local` changed since `snap` to `shared`, then makes `local` and `snap` the
/// merged values.
fn merge(shared: &[AtomicU32], local: &[AtomicU32], snap: &mut [f32]) {
    for ((s, l), p) in shared.iter().zip(local).zip(snap.iter_mut()) {
        let v = f32::from_bits(s.load(Relaxed)) + (f32::from_bits(l.load(Relaxed)) - *p);
        s.store(v.to_bits(), Relaxed);
        l.store(v.to_bits(), Relaxed);
        *p = v;
    }
}

impl<I: Inputs> Ctx<'_, I> {
    /// [`Ctx::run`] on private copies of the shared input table and the output, merged
    /// into them every [`SYNC_TOKENS`] tokens (see [`REPLICA_BYTES`]).
    fn run_replica(
        &self,
        shared_in: &Table,
        range: std::ops::Range<usize>,
        seed: u64,
        merging: &std::sync::Mutex<()>,
    ) {
        let (mut snap_in, mut snap_out) = (floats(&shared_in.cells), floats(self.output));
        let local_in = Table {
            cells: atomics(&snap_in),
            k: shared_in.k,
        };
        let local_out = atomics(&snap_out);
        let local = Ctx {
            corpus: self.corpus,
            cfg: self.cfg,
            inputs: &local_in,
            output: &local_out,
            noise: self.noise,
            markets: self.markets,
            globals: self.globals,
            keep: self.keep,
            done: self.done,
            planned: self.planned,
            table: self.table,
            progress: self.progress,
        };
        let mut s = range.start;
        let mut block = 0u64;
        while s < range.end {
            let until = self.corpus.starts[s] + SYNC_TOKENS;
            let e = self
                .corpus
                .starts
                .partition_point(|&x| x < until)
                .clamp(s + 1, range.end);
            local.run(s..e, seed ^ block.wrapping_mul(0xD6E8_FEB8_6659_FD93));
            let _guard = merging.lock().unwrap_or_else(|p| p.into_inner());
            merge(&shared_in.cells, &local_in.cells, &mut snap_in);
            merge(self.output, &local_out, &mut snap_out);
            s = e;
            block += 1;
        }
    }

    /// One thread's pass over sequences `range`.
    fn run(&self, range: std::ops::Range<usize>, seed: u64) {
        let cfg = self.cfg;
        let k = cfg.dim;
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut sen: Vec<u32> = Vec::new();
        let (mut h, mut t, mut neu1e) = (vec![0.0f32; k], vec![0.0f32; k], vec![0.0f32; k]);
        let mut local = 0u64;
        let mut lr = self.lr_now();
        let inputs = self.inputs;
        let mut scratch = I::Scratch::default();
        for s in range {
            let seq = self.corpus.seq(s);
            local += seq.len() as u64;
            if local >= CLOCK_STEP {
                self.done.fetch_add(local, Relaxed);
                self.progress.inc(local);
                local = 0;
                lr = self.lr_now();
            }
            sen.clear();
            sen.extend(seq.iter().copied().filter(|&w| {
                self.keep[w as usize] == u32::MAX || rng.next_u32() < self.keep[w as usize]
            }));
            let n = sen.len();
            let global = self
                .globals
                .map_or(NO_TOKEN, |g| g.get(s).copied().unwrap_or(NO_TOKEN));
            if n < 2 && global == NO_TOKEN {
                continue;
            }
            if cfg.shuffle {
                sen.shuffle(&mut rng);
            }
            for pos in 0..n {
                let (lo, hi) = match cfg.window {
                    Window::Fixed(w) => (pos.saturating_sub(w), (pos + w + 1).min(n)),
                    Window::Shrink(w) => {
                        let b = rng.random_range(1..=w.max(1));
                        (pos.saturating_sub(b), (pos + b + 1).min(n))
                    }
                    Window::Session => (0, n),
                };
                let centre = sen[pos];
                match cfg.arch {
                    Arch::SkipGram => {
                        for c in lo..hi {
                            if c == pos {
                                continue;
                            }
                            inputs.load(sen[c], &mut h, &mut scratch);
                            neu1e.fill(0.0);
                            self.targets(centre, &h, &mut neu1e, lr, &mut rng);
                            inputs.update(sen[c], &mut h, &neu1e, &mut scratch);
                        }
                        // The global context: the centre predicts the session's booking.
                        if global != NO_TOKEN && global != centre {
                            inputs.load(centre, &mut h, &mut scratch);
                            neu1e.fill(0.0);
                            self.targets(global, &h, &mut neu1e, lr, &mut rng);
                            inputs.update(centre, &mut h, &neu1e, &mut scratch);
                        }
                    }
                    Arch::Cbow => {
                        h.fill(0.0);
                        let mut m = 0usize;
                        for c in lo..hi {
                            if c != pos {
                                inputs.load(sen[c], &mut t, &mut scratch);
                                axpy(1.0, &t, &mut h);
                                m += 1;
                            }
                        }
                        if m == 0 {
                            continue;
                        }
                        h.iter_mut().for_each(|x| *x /= m as f32);
                        neu1e.fill(0.0);
                        self.targets(centre, &h, &mut neu1e, lr, &mut rng);
                        if global != NO_TOKEN && global != centre {
                            self.targets(global, &h, &mut neu1e, lr, &mut rng);
                        }
                        for c in lo..hi {
                            if c != pos {
                                inputs.load(sen[c], &mut t, &mut scratch);
                                inputs.update(sen[c], &mut t, &neu1e, &mut scratch);
                            }
                        }
                    }
                }
            }
        }
        self.done.fetch_add(local, Relaxed);
        self.progress.inc(local);
    }

    /// The learning rate at the shared clock: linear from `lr` to `min_lr`.
    fn lr_now(&self) -> f32 {
        let f = (self.done.load(Relaxed) as f64 / self.planned as f64).min(1.0) as f32;
        (self.cfg.lr * (1.0 - f)).max(self.cfg.min_lr)
    }

    /// The positive `centre`, `negatives` draws from the noise distribution and, with
    /// markets, draws from `centre`'s market, against hidden vector `h`: each output row
    /// is updated, the input's gradient accumulates in `neu1e`.
    #[inline]
    fn targets(&self, centre: u32, h: &[f32], neu1e: &mut [f32], lr: f32, rng: &mut SmallRng) {
        let k = self.cfg.dim;
        let market = self.markets.map_or(0, |m| m.negatives);
        for d in 0..=self.cfg.negatives + market {
            let (target, label) = if d == 0 {
                (centre, 1.0)
            } else {
                let x = if d <= self.cfg.negatives {
                    self.noise.sample(rng)
                } else {
                    match self.markets.and_then(|m| m.sample(centre, rng)) {
                        Some(x) => x,
                        None => continue,
                    }
                };
                if x == centre {
                    continue;
                }
                (x, 0.0)
            };
            let row = &self.output[target as usize * k..(target as usize + 1) * k];
            sgns_target(h, row, neu1e, label, lr, |f| sigmoid(f, self.table));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mf::dot;
    use funnel_data::NoProgress;

    fn cfg() -> SgnsConfig {
        SgnsConfig {
            dim: 16,
            window: Window::Shrink(3),
            arch: Arch::SkipGram,
            negatives: 5,
            ns_exponent: 0.75,
            sample: 0.0,
            lr: 0.025,
            min_lr: 0.0001,
            epochs: 10,
            seed: 3,
            shuffle: false,
        }
    }

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt()).max(1e-12)
    }

    /// Two groups of tokens that only ever co-occur within their group.
    fn two_groups() -> Corpus {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut c = Corpus::new();
        for s in 0..600 {
            let base = if s % 2 == 0 { 0 } else { 10 };
            let seq: Vec<u32> = (0..12).map(|_| base + rng.random_range(0..10)).collect();
            c.push(&seq);
        }
        c
    }

    fn separation(m: &Factors) -> (f32, f32) {
        let (mut within, mut across, mut nw, mut na) = (0.0, 0.0, 0, 0);
        for a in 0..20 {
            for b in 0..20 {
                if a != b {
                    let c = cos(m.row(a), m.row(b));
                    if (a < 10) == (b < 10) {
                        within += c;
                        nw += 1;
                    } else {
                        across += c;
                        na += 1;
                    }
                }
            }
        }
        (within / nw as f32, across / na as f32)
    }

    #[test]
    fn tokens_that_share_contexts_end_up_close() {
        let c = two_groups();
        // One thread: the figures below do not depend on Hogwild's interleaving.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for arch in [Arch::SkipGram, Arch::Cbow] {
            for window in [Window::Shrink(3), Window::Fixed(2), Window::Session] {
                let cfg = SgnsConfig {
                    arch,
                    window,
                    ..cfg()
                };
                let t = pool.install(|| train(&c, 20, &cfg, &NoProgress));
                let (within, across) = separation(&t.input);
                assert!(
                    within > 0.5 && across < within - 0.25,
                    "{arch:?} {window:?}: within {within}, across {across}"
                );
                assert_eq!(t.words, 600 * 12 * 10);
            }
        }
    }

    #[test]
    fn one_thread_is_a_function_of_the_seed() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let c = two_groups();
        let a = pool.install(|| train(&c, 20, &cfg(), &NoProgress));
        let b = pool.install(|| train(&c, 20, &cfg(), &NoProgress));
        assert_eq!(a.input, b.input);
        let other = pool.install(|| train(&c, 20, &SgnsConfig { seed: 4, ..cfg() }, &NoProgress));
        assert_ne!(a.input, other.input);
    }

    #[test]
    fn sub_sampling_keeps_rare_tokens_and_thins_frequent_ones() {
        // Token 0 is half of a 10⁶-token corpus: t = 10⁻³ × 10⁶ = 1000, f = 5·10⁵,
        // p = (√500 + 1)·1000/5·10⁵ ≈ 0.0467. Token 2 (f = 100 < t) is always kept.
        let k = keep_thresholds(&[500_000, 499_900, 100, 0], 1e-3);
        let p0 = k[0] as f64 / u32::MAX as f64;
        assert!((p0 - (500f64.sqrt() + 1.0) * 0.002).abs() < 1e-6, "{p0}");
        assert_eq!(k[2], u32::MAX);
        assert_eq!(k[3], u32::MAX);
        assert!(keep_thresholds(&[500_000, 1], 0.0)
            .iter()
            .all(|&x| x == u32::MAX));
    }

    #[test]
    fn the_sigmoid_table_is_close_and_clipped() {
        let t = sigmoid_table();
        for x in [-5.9f32, -2.0, -0.3, 0.0, 0.7, 3.0, 5.9] {
            assert!(
                (sigmoid(x, t) - 1.0 / (1.0 + (-x).exp())).abs() < 0.01,
                "{x}"
            );
        }
        assert_eq!(sigmoid(7.0, t), 1.0);
        assert_eq!(sigmoid(-7.0, t), 0.0);
    }
}
