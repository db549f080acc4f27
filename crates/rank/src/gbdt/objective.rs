//! What the trees descend: each objective gives every row a gradient and a hessian of the
//! loss at the current scores.
//!
//! - `binary`: log-loss of σ(score), labels 0/1.
//! - `regression`: squared error.
//! - `lambdarank` (Burges 2010, as LightGBM computes it): for each query, every pair of
//!   documents with different labels, one of them among the `truncation` best-scored,
//!   pulls the better-labelled one up and the other down with RankNet's gradient
//!   weighted by |ΔNDCG| — the change in NDCG if the two swapped places — and, with
//!   `norm`, divided by 0.01 + their score gap and rescaled per query by
//!   log2(1 + Σλ)/Σλ.
//! - `pairwise` (RankNet, Burges et al. 2005): every pair of a query's documents with
//!   different labels, weighted alike.

use std::ops::Range;

use super::position::{Correction, PositionBias};

/// Queries per parallel task of the ranking objectives.
const QUERIES_PER_CHUNK: usize = 64;

/// A loss the trees descend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// Log-loss of σ(score).
    Binary,
    /// Squared error.
    Regression,
    /// ΔNDCG-weighted pairwise logistic loss per query.
    LambdaRank {
        /// Pairs need one document among this many best-scored.
        truncation: usize,
        /// Steepness of the pairwise sigmoid.
        sigma: f64,
        /// Normalise by score gaps and per-query gradient sums.
        norm: bool,
    },
    /// Pairwise logistic loss per query, every pair alike (RankNet).
    Pairwise {
        /// Steepness of the pairwise sigmoid.
        sigma: f64,
    },
}

/// The highest graded label lambdarank takes (gains 2^label − 1 in f64 stay exact).
pub const MAX_LABEL: f32 = 31.0;

impl Objective {
    /// Its name in parameters and model files.
    pub fn name(&self) -> &'static str {
        match self {
            Objective::Binary => "binary",
            Objective::Regression => "regression",
            Objective::LambdaRank { .. } => "lambdarank",
            Objective::Pairwise { .. } => "pairwise",
        }
    }

    /// Whether it ranks documents within queries.
    pub fn is_ranking(&self) -> bool {
        matches!(
            self,
            Objective::LambdaRank { .. } | Objective::Pairwise { .. }
        )
    }

    /// `None` when every label suits the objective; else the first row that does not
    /// and what was expected.
    pub fn check_labels(&self, labels: &[f32]) -> Option<(usize, String)> {
        let bad = |ok: &dyn Fn(f32) -> bool, want: &str| {
            labels
                .iter()
                .position(|&l| !ok(l))
                .map(|i| (i, format!("label {}: {want}", labels[i])))
        };
        match self {
            Objective::Binary => bad(&|l| l == 0.0 || l == 1.0, "binary expects 0 or 1"),
            Objective::Regression => bad(&|l| l.is_finite(), "regression expects a finite number"),
            Objective::LambdaRank { .. } | Objective::Pairwise { .. } => bad(
                &|l| (0.0..=MAX_LABEL).contains(&l) && l.fract() == 0.0,
                "ranking objectives expect a whole grade from 0 to 31",
            ),
        }
    }

    /// The starting score: the log-odds of the mean label (binary), the mean
    /// (regression), 0 (ranking, where only differences within a query count).
    pub fn init_score(&self, labels: &[f32]) -> f64 {
        let mean = labels.iter().map(|&l| l as f64).sum::<f64>() / labels.len().max(1) as f64;
        match self {
            Objective::Binary => {
                let p = mean.clamp(1e-15, 1.0 - 1e-15);
                (p / (1.0 - p)).ln()
            }
            Objective::Regression => mean,
            Objective::LambdaRank { .. } | Objective::Pairwise { .. } => 0.0,
        }
    }

    /// Gradients and hessians of every row at `scores`. With `bias` (display positions
    /// of every row and their propensities; ranking objectives only) each click pair is
    /// weighted by its inverse propensities, and the propensities are then re-estimated
    /// from this iteration's pair losses (see [`super::position`]).
    pub fn gradients(
        &self,
        scores: &[f64],
        labels: &[f32],
        queries: &[Range<usize>],
        g: &mut [f32],
        h: &mut [f32],
        bias: Option<(&[u32], &mut PositionBias)>,
    ) {
        match *self {
            Objective::Binary => {
                for i in 0..scores.len() {
                    let p = 1.0 / (1.0 + (-scores[i]).exp());
                    g[i] = (p - labels[i] as f64) as f32;
                    h[i] = (p * (1.0 - p)).max(1e-16) as f32;
                }
            }
            Objective::Regression => {
                for i in 0..scores.len() {
                    g[i] = (scores[i] - labels[i] as f64) as f32;
                    h[i] = 1.0;
                }
            }
            Objective::LambdaRank { .. } | Objective::Pairwise { .. } => {
                use rayon::prelude::*;
                // RankNet: all pairs, each of weight 1.
                let (truncation, sigma, norm, weighted) = match *self {
                    Objective::LambdaRank {
                        truncation,
                        sigma,
                        norm,
                    } => (truncation, sigma, norm, true),
                    Objective::Pairwise { sigma } => (usize::MAX, sigma, false, false),
                    _ => unreachable!("a ranking objective"),
                };
                // Queries are disjoint ranges: each fills its own slice.
                let mut parts: Vec<(&Range<usize>, &mut [f32], &mut [f32])> =
                    Vec::with_capacity(queries.len());
                let (mut gr, mut hr): (&mut [f32], &mut [f32]) = (&mut *g, &mut *h);
                let mut at = 0;
                for q in queries {
                    let (_, gt) = gr.split_at_mut(q.start - at);
                    let (_, ht) = hr.split_at_mut(q.start - at);
                    let (gq, gt) = gt.split_at_mut(q.len());
                    let (hq, ht) = ht.split_at_mut(q.len());
                    parts.push((q, gq, hq));
                    gr = gt;
                    hr = ht;
                    at = q.end;
                }
                let pairs = Pairs {
                    truncation,
                    sigma,
                    norm,
                    weighted,
                };
                let (positions, mut propensities) = match bias {
                    Some((p, b)) => (Some(p), Some(b)),
                    None => (None, None),
                };
                // Additive terms: the pairs see each score plus its position's term, and
                // are weighted as usual.
                let adjusted: Vec<f64>;
                let mut additive = None;
                let scores = match (positions, propensities.as_deref()) {
                    (Some(p), Some(b)) if b.method == Correction::Additive => {
                        adjusted = scores
                            .iter()
                            .zip(p)
                            .map(|(&x, &pos)| x + b.score_bias[b.bin(pos)])
                            .collect();
                        additive = propensities.take().map(|b| (p, b));
                        &adjusted[..]
                    }
                    _ => scores,
                };
                let bins = propensities.as_ref().map_or(0, |b| b.slots());
                let frozen = propensities.as_deref().cloned();
                // Fixed chunks of queries, each summing its own pair losses, then summed
                // in order: the propensities do not depend on how threads split the work.
                let chunk_costs: Vec<Vec<f64>> = parts
                    .par_chunks_mut(QUERIES_PER_CHUNK)
                    .map_init(QueryScratch::default, |scratch, chunk| {
                        let mut costs = vec![0.0; 2 * bins];
                        for (q, gq, hq) in chunk.iter_mut() {
                            let bias = match (positions, frozen.as_ref()) {
                                (Some(p), Some(b)) => Some(QueryBias {
                                    positions: &p[(*q).clone()],
                                    propensities: b,
                                    costs: &mut costs,
                                }),
                                _ => None,
                            };
                            pairs.query(
                                &scores[(*q).clone()],
                                &labels[(*q).clone()],
                                scratch,
                                gq,
                                hq,
                                bias,
                            );
                        }
                        costs
                    })
                    .collect();
                if let Some(b) = propensities {
                    let mut costs = vec![0.0; 2 * bins];
                    for c in &chunk_costs {
                        for (a, x) in costs.iter_mut().zip(c) {
                            *a += x;
                        }
                    }
                    b.update_ipw(&costs);
                }
                drop(parts);
                if let Some((p, b)) = additive {
                    b.update_additive(p, g, h);
                }
            }
        }
    }
}

/// Entries of the table [`sigmoid_complement`] reads, over [−`SIG_RANGE`, `SIG_RANGE`].
const SIG_BINS: usize = 1 << 16;
const SIG_RANGE: f64 = 32.0;

/// 1/(1 + e^x) from a table with linear interpolation (error under 10⁻⁷): one `exp` per
/// document pair was a third of a lambdarank fit (LightGBM tables it too).
#[cfg(test)]
fn sigmoid_complement(x: f64) -> f64 {
    sigmoid_complement_in(sigmoid_table(), x)
}

fn sigmoid_table() -> &'static [f64] {
    static TABLE: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=SIG_BINS)
            .map(|i| {
                let x = (i as f64 / SIG_BINS as f64 * 2.0 - 1.0) * SIG_RANGE;
                1.0 / (1.0 + x.exp())
            })
            .collect()
    })
}

/// [`sigmoid_complement`] with the table in hand (hot loops fetch it once).
#[inline]
fn sigmoid_complement_in(t: &[f64], x: f64) -> f64 {
    if x <= -SIG_RANGE {
        return 1.0;
    }
    if x >= SIG_RANGE {
        return 0.0;
    }
    let at = (x + SIG_RANGE) * (SIG_BINS as f64 / (2.0 * SIG_RANGE));
    let i = (at as usize).min(SIG_BINS - 1);
    let f = at - i as f64;
    t[i] + (t[i + 1] - t[i]) * f
}

/// 2^label − 1 for every grade.
static GAINS: [f64; 32] = {
    let mut g = [0.0; 32];
    let mut i = 0;
    while i < 32 {
        g[i] = ((1u64 << i) - 1) as f64;
        i += 1;
    }
    g
};

/// How a query's pairs are weighted.
#[derive(Debug, Clone, Copy)]
struct Pairs {
    truncation: usize,
    sigma: f64,
    norm: bool,
    /// ΔNDCG weights (lambdarank); false: every pair 1 (RankNet).
    weighted: bool,
}

/// One query's share of position-bias correction: its documents' display positions,
/// the propensities in force, and the pair-loss sums it adds to.
struct QueryBias<'a> {
    positions: &'a [u32],
    propensities: &'a PositionBias,
    /// `bins` sums for clicked documents, then `bins` for unclicked ones.
    costs: &'a mut [f64],
}

/// Per-thread buffers of [`Pairs::query`], in rank order.
#[derive(Default)]
struct QueryScratch {
    order: Vec<(f64, u32)>,
    /// Scores, labels and gains of the documents in rank order.
    score: Vec<f64>,
    label: Vec<f32>,
    gain: Vec<f64>,
    lg: Vec<f64>,
    lh: Vec<f64>,
    /// The same documents for the pair loop with no position bias.
    fast: FastPairs,
    /// Position bins of the documents in rank order (position-bias correction).
    bin: Vec<usize>,
}

/// 1/log2(rank + 2), by table for the first ranks.
#[inline]
fn discount(rank: usize) -> f64 {
    static T: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    let t = T.get_or_init(|| (0..4096).map(|r| 1.0 / ((r + 2) as f64).log2()).collect());
    t.get(rank)
        .copied()
        .unwrap_or_else(|| 1.0 / ((rank + 2) as f64).log2())
}

impl Pairs {
    /// One query's lambdas (see the module doc); `g`, `h` are overwritten.
    fn query(
        &self,
        scores: &[f64],
        labels: &[f32],
        s: &mut QueryScratch,
        g: &mut [f32],
        h: &mut [f32],
        mut bias: Option<QueryBias<'_>>,
    ) {
        let n = scores.len();
        g.fill(0.0);
        h.fill(0.0);
        if n < 2 {
            return;
        }
        // Labels are whole grades up to 31 (checked before training): the ideal DCG from
        // their counts, with no sort.
        let gain = |l: f32| GAINS[l as usize];
        let mut counts = [0usize; 32];
        for &l in labels {
            counts[l as usize] += 1;
        }
        let (mut max_dcg, mut rank) = (0.0, 0usize);
        for l in (1..32).rev() {
            for _ in 0..counts[l] {
                if rank >= self.truncation {
                    break;
                }
                max_dcg += GAINS[l] * discount(rank);
                rank += 1;
            }
        }
        if max_dcg <= 0.0 && self.weighted {
            return;
        }
        let inverse_max_dcg = if max_dcg > 0.0 { 1.0 / max_dcg } else { 0.0 };
        // Best score first; equal scores keep document order (a stable order).
        s.order.clear();
        s.order
            .extend(scores.iter().enumerate().map(|(i, &x)| (x, i as u32)));
        s.order
            .sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let (best, worst) = (s.order[0].0, s.order[n - 1].0);
        // Rank-ordered copies: the pair loop reads them sequentially, and lambdas are
        // summed by rank, then sent to their documents.
        s.score.clear();
        s.label.clear();
        s.gain.clear();
        for &(x, d) in &s.order {
            s.score.push(x);
            s.label.push(labels[d as usize]);
            s.gain.push(gain(labels[d as usize]));
        }
        s.bin.clear();
        if let Some(b) = &bias {
            let t = b.propensities;
            s.bin
                .extend(s.order.iter().map(|&(_, d)| t.bin(b.positions[d as usize])));
        }
        s.lg.clear();
        s.lg.resize(n, 0.0);
        s.lh.clear();
        s.lh.resize(n, 0.0);
        let (sigma, table) = (self.sigma, sigmoid_table());
        let normalise = self.norm && best != worst;
        let disc: Vec<f64> = (0..n).map(discount).collect();
        let mut sum_lambdas = 0.0;
        if bias.is_none() {
            let c = PairConsts {
                sigma: sigma as f32,
                inverse_max_dcg: inverse_max_dcg as f32,
                weighted: self.weighted,
                normalise,
            };
            let (f, own_g, own_h) = (&mut s.fast, &mut s.lg, &mut s.lh);
            f.score.clear();
            f.score.extend(s.score.iter().map(|&x| (x - best) as f32));
            f.label.clone_from(&s.label);
            f.gain.clear();
            f.gain.extend(s.gain.iter().map(|&x| x as f32));
            f.disc.clear();
            f.disc.extend(disc.iter().map(|&x| x as f32));
            f.lg.clear();
            f.lg.resize(n, 0.0);
            f.lh.clear();
            f.lh.resize(n, 0.0);
            // Each document's own sums (f64), then what the documents above it added.
            for i in 0..(n - 1).min(self.truncation) {
                let (g, h, l) = pairs_below(i, f, &c);
                own_g[i] = g;
                own_h[i] = h;
                sum_lambdas += l;
            }
            for (k, (lg, lh)) in own_g.iter_mut().zip(own_h.iter_mut()).enumerate() {
                *lg += f.lg[k] as f64;
                *lh += f.lh[k] as f64;
            }
        }
        for i in 0..(n - 1).min(self.truncation) {
            if bias.is_none() {
                break;
            }
            let (si, la, gi, di) = (s.score[i], s.label[i], s.gain[i], disc[i]);
            let (mut gi_sum, mut hi_sum) = (0.0, 0.0);
            for j in i + 1..n {
                let lb = s.label[j];
                if la == lb {
                    continue;
                }
                // i is ranked above j; `sign` is +1 when i is the better-labelled one.
                let sign = if la > lb { 1.0 } else { -1.0 };
                let delta_score = sign * (si - s.score[j]);
                let mut weight = if self.weighted {
                    (gi - s.gain[j]).abs() * (di - disc[j]) * inverse_max_dcg
                } else {
                    1.0
                };
                if normalise {
                    weight /= 0.01 + delta_score.abs();
                }
                let p = sigmoid_complement_in(table, sigma * delta_score);
                if let Some(b) = bias.as_mut() {
                    // The pair's loss, shared out to the propensities of its positions;
                    // then its weight divided by them.
                    let (high, low) = if sign > 0.0 { (i, j) } else { (j, i) };
                    let (kh, kl) = (s.bin[high], s.bin[low]);
                    let t = b.propensities;
                    let (tp, tm) = (t.clicked[kh], t.unclicked[kl]);
                    // The pair's cost as XGBoost's `lambdarank_unbiased` takes it,
                    // ΔNDCG·log(1 + e^{σ(s_high − s_low)}); see `position` for why.
                    let loss = -weight * p.max(1e-300).ln();
                    let bins = t.slots();
                    b.costs[kh] += loss / tm;
                    b.costs[bins + kl] += loss / tp;
                    weight /= tp * tm;
                }
                // The better one's gradient (it is pulled up), the other's is its negative.
                let lambda = -sigma * weight * p;
                let hess = sigma * sigma * weight * p * (1.0 - p);
                gi_sum += sign * lambda;
                hi_sum += hess;
                s.lg[j] -= sign * lambda;
                s.lh[j] += hess;
                sum_lambdas -= 2.0 * lambda;
            }
            s.lg[i] += gi_sum;
            s.lh[i] += hi_sum;
        }
        let factor = if self.norm && sum_lambdas > 0.0 {
            (1.0 + sum_lambdas).log2() / sum_lambdas
        } else {
            1.0
        };
        for (rank, &(_, d)) in s.order.iter().enumerate() {
            g[d as usize] = (s.lg[rank] * factor) as f32;
            h[d as usize] = (s.lh[rank] * factor) as f32;
        }
    }
}

/// What every pair of a query shares.
struct PairConsts {
    sigma: f32,
    inverse_max_dcg: f32,
    weighted: bool,
    normalise: bool,
}

/// A query's documents in rank order, in f32, for the pair loop with no position bias:
/// scores relative to the best one (so that differences keep their precision), labels,
/// gains, discounts, and the lambdas and hessians summed by rank. f32 runs eight pairs
/// per AVX2 step instead of four (the loop was a quarter of a fit); the gradients the
/// trees read are f32 anyway.
#[derive(Default)]
struct FastPairs {
    score: Vec<f32>,
    label: Vec<f32>,
    gain: Vec<f32>,
    disc: Vec<f32>,
    lg: Vec<f32>,
    lh: Vec<f32>,
}

/// The pairs of the document at rank `i` with every document ranked below it, with no
/// position bias: adds the lower documents' lambdas and hessians to `f.lg`, `f.lh` and
/// returns the document's own, and the pairs' share of Σλ. Pairs of equal labels add
/// nothing (their sign and ΔNDCG are 0), so the loop has no branch and runs eight pairs
/// per step (with AVX2 where the CPU has it).
fn pairs_below(i: usize, f: &mut FastPairs, c: &PairConsts) -> (f64, f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { pairs_below_avx2(i, f, c) };
    }
    pairs_below_portable(i, f, c)
}

/// Lanes of the pair loop.
const LANES: usize = 8;

/// [`pairs_below_portable`] eight pairs at a time in AVX2 registers, with the same
/// operations in the same order (no fused multiply-adds), so both give the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn pairs_below_avx2(i: usize, f: &mut FastPairs, c: &PairConsts) -> (f64, f64, f64) {
    use std::arch::x86_64::*;
    let n = f.score.len();
    let (score, label, gain, disc) = (&f.score[..n], &f.label[..n], &f.gain[..n], &f.disc[..n]);
    let (lg, lh) = (&mut f.lg[..n], &mut f.lh[..n]);
    let me = (label[i], score[i], gain[i], disc[i]);
    let set = _mm256_set1_ps;
    let (zero, one) = (_mm256_setzero_ps(), set(1.0));
    let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
    let (la8, si8, gi8, di8) = (set(me.0), set(me.1), set(me.2), set(me.3));
    let (sigma, neg_sigma, sigma2) = (set(c.sigma), set(-c.sigma), set(c.sigma * c.sigma));
    let inv = set(c.inverse_max_dcg);
    let (lo, hi) = (set(-SIG_RANGE_F32), set(SIG_RANGE_F32));
    let (log2e, ln2, round) = (
        set(std::f32::consts::LOG2_E),
        set(std::f32::consts::LN_2),
        set(ROUND_F32),
    );
    let round_bits = _mm256_set1_epi32(ROUND_F32.to_bits() as i32);
    let bias = _mm256_set1_epi32(127);
    let (mut ag, mut ah, mut al) = (zero, zero, zero);
    let mut j = i + 1;
    while j + LANES <= n {
        // SAFETY: j + 8 <= n and every slice holds n elements, so each 8-wide load and
        // store stays inside its slice; the unaligned forms need no alignment.
        unsafe {
            let lb = _mm256_loadu_ps(label.as_ptr().add(j));
            let d = _mm256_sub_ps(la8, lb);
            let sign = _mm256_sub_ps(
                _mm256_and_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(d, zero), one),
                _mm256_and_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(d, zero), one),
            );
            let sj = _mm256_loadu_ps(score.as_ptr().add(j));
            let delta = _mm256_mul_ps(sign, _mm256_sub_ps(si8, sj));
            let mut w = if c.weighted {
                let gj = _mm256_loadu_ps(gain.as_ptr().add(j));
                let dj = _mm256_loadu_ps(disc.as_ptr().add(j));
                let gap = _mm256_and_ps(_mm256_sub_ps(gi8, gj), abs_mask);
                _mm256_mul_ps(_mm256_mul_ps(gap, _mm256_sub_ps(di8, dj)), inv)
            } else {
                _mm256_mul_ps(sign, sign)
            };
            if c.normalise {
                let gap = _mm256_add_ps(set(0.01), _mm256_and_ps(delta, abs_mask));
                w = _mm256_div_ps(w, gap);
            }
            // sigmoid_complement_f32(sigma · delta), lane by lane.
            let x = _mm256_mul_ps(sigma, delta);
            let y = _mm256_mul_ps(_mm256_max_ps(_mm256_min_ps(x, hi), lo), log2e);
            let shifted = _mm256_add_ps(y, round);
            let k = _mm256_sub_ps(shifted, round);
            let t = _mm256_mul_ps(_mm256_sub_ps(y, k), ln2);
            let mut poly = set(EXP_POLY_F32[0]);
            for &a in &EXP_POLY_F32[1..] {
                poly = _mm256_add_ps(_mm256_mul_ps(poly, t), set(a));
            }
            let k_bits = _mm256_sub_epi32(_mm256_castps_si256(shifted), round_bits);
            let scale =
                _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(k_bits, bias)));
            let e = _mm256_mul_ps(poly, scale);
            let p = _mm256_div_ps(one, _mm256_add_ps(one, e));
            let lambda = _mm256_mul_ps(_mm256_mul_ps(neg_sigma, w), p);
            let hess = _mm256_mul_ps(
                _mm256_mul_ps(_mm256_mul_ps(sigma2, w), p),
                _mm256_mul_ps(e, p),
            );
            let g = _mm256_mul_ps(sign, lambda);
            let lgj = lg.as_mut_ptr().add(j);
            _mm256_storeu_ps(lgj, _mm256_sub_ps(_mm256_loadu_ps(lgj), g));
            let lhj = lh.as_mut_ptr().add(j);
            _mm256_storeu_ps(lhj, _mm256_add_ps(_mm256_loadu_ps(lhj), hess));
            ag = _mm256_add_ps(ag, g);
            ah = _mm256_add_ps(ah, hess);
            al = _mm256_add_ps(al, lambda);
        }
        j += LANES;
    }
    let lanes = |v: __m256| {
        let mut a = [0.0f32; LANES];
        // SAFETY: `a` holds eight f32, what one unaligned 256-bit store writes.
        unsafe { _mm256_storeu_ps(a.as_mut_ptr(), v) };
        a
    };
    let (mut ag, mut ah, mut al) = (lanes(ag), lanes(ah), lanes(al));
    while j < n {
        let (g, h, l) = pair_terms(me, (label[j], score[j], gain[j], disc[j]), c);
        lg[j] -= g;
        lh[j] += h;
        ag[0] += g;
        ah[0] += h;
        al[0] += l;
        j += 1;
    }
    (sum_lanes(ag), sum_lanes(ah), -2.0 * sum_lanes(al))
}

/// The lanes' sum, in f64 and in a fixed order.
#[inline(always)]
fn sum_lanes(a: [f32; LANES]) -> f64 {
    let a = a.map(f64::from);
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

#[inline(always)]
fn pairs_below_portable(i: usize, f: &mut FastPairs, c: &PairConsts) -> (f64, f64, f64) {
    let n = f.score.len();
    let (score, label, gain, disc) = (&f.score[..n], &f.label[..n], &f.gain[..n], &f.disc[..n]);
    let (lg, lh) = (&mut f.lg[..n], &mut f.lh[..n]);
    let me = (label[i], score[i], gain[i], disc[i]);
    let (mut ag, mut ah, mut al) = ([0.0f32; LANES], [0.0f32; LANES], [0.0f32; LANES]);
    let mut j = i + 1;
    while j + LANES <= n {
        for k in 0..LANES {
            let (g, h, l) = pair_terms(
                me,
                (label[j + k], score[j + k], gain[j + k], disc[j + k]),
                c,
            );
            lg[j + k] -= g;
            lh[j + k] += h;
            ag[k] += g;
            ah[k] += h;
            al[k] += l;
        }
        j += LANES;
    }
    while j < n {
        let (g, h, l) = pair_terms(me, (label[j], score[j], gain[j], disc[j]), c);
        lg[j] -= g;
        lh[j] += h;
        ag[0] += g;
        ah[0] += h;
        al[0] += l;
        j += 1;
    }
    (sum_lanes(ag), sum_lanes(ah), -2.0 * sum_lanes(al))
}

/// One pair's (sign·λ, hessian, λ): document `a` (label, score, gain, discount) is ranked
/// above `b`.
#[inline(always)]
fn pair_terms(a: (f32, f32, f32, f32), b: (f32, f32, f32, f32), c: &PairConsts) -> (f32, f32, f32) {
    let (la, si, gi, di) = a;
    let (lb, sj, gj, dj) = b;
    let sigma = c.sigma;
    let d = la - lb;
    let sign = (d > 0.0) as u8 as f32 - (d < 0.0) as u8 as f32;
    let delta = sign * (si - sj);
    let mut weight = if c.weighted {
        (gi - gj).abs() * (di - dj) * c.inverse_max_dcg
    } else {
        sign * sign
    };
    if c.normalise {
        weight /= 0.01 + delta.abs();
    }
    let (p, q) = sigmoid_pair_f32(sigma * delta);
    let lambda = -sigma * weight * p;
    let hess = sigma * sigma * weight * p * q;
    (sign * lambda, hess, lambda)
}

/// 1.5·2^23: adding it rounds an f32 to an integer kept in the low mantissa bits.
const ROUND_F32: f32 = 12_582_912.0;

/// [`SIG_RANGE`] as f32.
const SIG_RANGE_F32: f32 = SIG_RANGE as f32;

/// 1/7!, 1/6!, …, 1/0!: e^t by Horner's rule.
const EXP_POLY_F32: [f32; 8] = [
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    1.0 / 2.0,
    1.0,
    1.0,
];

/// 1/(1 + e^x) in f32, computed so that eight lanes run at once: x clamped to
/// ±`SIG_RANGE`, e^x = 2^k·2^f with k = round(x·log2 e) built in the exponent bits and
/// 2^f by a degree-7 polynomial (relative error within a few f32 ulps).
#[cfg(test)]
fn sigmoid_complement_f32(x: f32) -> f32 {
    sigmoid_pair_f32(x).0
}

/// p = 1/(1 + e^x) and 1 − p, the latter as e^x·p: in f32, 1 − p of a badly ordered
/// pair (p near 1) would cancel to a few ulps and its hessian with it.
#[inline(always)]
fn sigmoid_pair_f32(x: f32) -> (f32, f32) {
    let y = x.clamp(-SIG_RANGE_F32, SIG_RANGE_F32) * std::f32::consts::LOG2_E;
    let shifted = y + ROUND_F32;
    let k = shifted - ROUND_F32;
    let t = (y - k) * std::f32::consts::LN_2; // |t| <= ln2 / 2
    let mut p = EXP_POLY_F32[0];
    for &a in &EXP_POLY_F32[1..] {
        p = p * t + a;
    }
    let k_bits = shifted.to_bits().wrapping_sub(ROUND_F32.to_bits());
    let scale = f32::from_bits(k_bits.wrapping_add(127) << 23);
    let e = p * scale;
    let p = 1.0 / (1.0 + e);
    (p, e * p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lambdas are the pairwise logistic loss's gradient, weighted: without `norm`,
    /// a two-document query's gradient is ΔNDCG·∂/∂s log(1 + e^{−σ(s_high − s_low)}),
    /// checked by finite differences.
    #[test]
    #[allow(clippy::single_range_in_vec_init)] // one query of two documents
    fn lambdas_are_the_weighted_pairwise_gradient() {
        let labels = [0.0f32, 2.0];
        let scores = [0.3f64, -0.4];
        let obj = Objective::LambdaRank {
            truncation: 30,
            sigma: 1.0,
            norm: false,
        };
        let (mut g, mut h) = ([0.0f32; 2], [0.0f32; 2]);
        obj.gradients(&scores, &labels, &[0..2], &mut g, &mut h, None);
        // Ranked: doc 0 first (label 0), doc 1 second (label 2): swapping gains all.
        let max_dcg = 3.0;
        let got = 3.0 / 3f64.log2();
        let delta = (max_dcg - got) / max_dcg;
        let loss = |s_high: f64, s_low: f64| delta * (1.0 + (-(s_high - s_low)).exp()).ln();
        let e = 1e-6;
        let d_high = (loss(scores[1] + e, scores[0]) - loss(scores[1] - e, scores[0])) / (2.0 * e);
        assert!((g[1] as f64 - d_high).abs() < 1e-5, "{} vs {d_high}", g[1]);
        assert!((g[0] as f64 + d_high).abs() < 1e-5);
        assert!(h[0] > 0.0 && h[0] == h[1]);
        // Equal labels: nothing to learn.
        obj.gradients(&scores, &[1.0, 1.0], &[0..2], &mut g, &mut h, None);
        assert_eq!(g, [0.0, 0.0]);
        // RankNet: the same pair, weight 1.
        let pairwise = Objective::Pairwise { sigma: 1.0 };
        pairwise.gradients(&scores, &labels, &[0..2], &mut g, &mut h, None);
        assert!((g[1] as f64 - d_high / delta).abs() < 1e-5, "{}", g[1]);
    }

    #[test]
    fn the_sigmoid_table_is_close() {
        for x in [-40.0, -31.9, -5.0, -0.3, 0.0, 0.0004, 2.5, 31.9, 40.0f64] {
            let exact = 1.0 / (1.0 + x.exp());
            assert!((sigmoid_complement(x) - exact).abs() < 1e-7, "{x}");
        }
    }

    #[test]
    fn the_vectorised_sigmoid_is_close() {
        for i in -3200..=3200 {
            let x = i as f32 * 0.01;
            let exact = 1.0 / (1.0 + (x as f64).exp());
            let got = sigmoid_complement_f32(x) as f64;
            assert!((got - exact).abs() <= 4e-6 * exact, "{x}: {got} vs {exact}");
        }
        let far = 1.0 / (1.0 + 32f64.exp());
        assert!((sigmoid_complement_f32(80.0) as f64 - far).abs() < 4e-6 * far);
        assert_eq!(sigmoid_complement_f32(-80.0), 1.0);
    }

    /// The branch-free pair loop gives what the position-bias loop gives with every
    /// propensity 1 (which weights each pair as no correction would).
    #[test]
    #[allow(clippy::single_range_in_vec_init)] // one query
    fn the_fast_pair_loop_equals_the_plain_one() {
        let n = 47;
        let labels: Vec<f32> = (0..n).map(|i| ((i * 7 + 3) % 5) as f32).collect();
        let scores: Vec<f64> = (0..n).map(|i| ((i * 13) % 17) as f64 * 0.3 - 2.0).collect();
        for obj in [
            Objective::LambdaRank {
                truncation: 30,
                sigma: 1.0,
                norm: true,
            },
            Objective::LambdaRank {
                truncation: 10,
                sigma: 2.0,
                norm: false,
            },
            Objective::Pairwise { sigma: 1.0 },
        ] {
            let (mut g, mut h) = (vec![0.0f32; n], vec![0.0f32; n]);
            obj.gradients(&scores, &labels, &[0..n], &mut g, &mut h, None);
            let positions: Vec<u32> = (1..=n as u32).collect();
            let mut bias = PositionBias::new(Correction::Ipw, 8, false, 0.0, 0.1);
            let (mut g2, mut h2) = (vec![0.0f32; n], vec![0.0f32; n]);
            obj.gradients(
                &scores,
                &labels,
                &[0..n],
                &mut g2,
                &mut h2,
                Some((&positions, &mut bias)),
            );
            // The fast loop runs in f32, the other in f64.
            for k in 0..n {
                assert!(
                    (g[k] - g2[k]).abs() <= 1e-5 * g2[k].abs().max(1.0),
                    "{obj:?} g[{k}]"
                );
                assert!(
                    (h[k] - h2[k]).abs() <= 1e-5 * h2[k].abs().max(1.0),
                    "{obj:?} h[{k}]"
                );
            }
            assert!(g.iter().any(|&x| x.abs() > 1e-3));
        }
    }

    /// With AVX2 or without, the pair loop gives the same bits.
    #[test]
    fn the_avx2_pair_loop_gives_the_portable_bits() {
        let n = 43;
        let label: Vec<f32> = (0..n).map(|i| ((i * 5 + 1) % 4) as f32).collect();
        let mut f = FastPairs {
            score: (0..n).map(|i| -(i as f32) * 0.137).collect(),
            gain: label.iter().map(|&l| GAINS[l as usize] as f32).collect(),
            disc: (0..n).map(|r| discount(r) as f32).collect(),
            label,
            ..Default::default()
        };
        for (weighted, normalise) in [(true, true), (true, false), (false, false)] {
            let c = PairConsts {
                sigma: 1.3,
                inverse_max_dcg: 0.05,
                weighted,
                normalise,
            };
            let mut run = |fast: bool| {
                f.lg = vec![0.0; n];
                f.lh = vec![0.0; n];
                let mut own = Vec::new();
                for i in 0..n - 1 {
                    own.push(if fast {
                        pairs_below(i, &mut f, &c)
                    } else {
                        pairs_below_portable(i, &mut f, &c)
                    });
                }
                (own, f.lg.clone(), f.lh.clone())
            };
            let (a, b) = (run(true), run(false));
            assert_eq!(a, b, "weighted {weighted}, normalise {normalise}");
        }
    }

    #[test]
    fn labels_outside_the_objective_are_named() {
        let (i, m) = Objective::Binary.check_labels(&[0.0, 1.0, 2.0]).unwrap();
        assert_eq!(i, 2);
        assert!(m.contains("0 or 1"), "{m}");
        let rank = Objective::LambdaRank {
            truncation: 30,
            sigma: 1.0,
            norm: true,
        };
        assert_eq!(rank.check_labels(&[0.0, 4.0, 1.5]).unwrap().0, 2);
        assert!(rank.check_labels(&[0.0, 4.0, 31.0]).is_none());
    }
}
