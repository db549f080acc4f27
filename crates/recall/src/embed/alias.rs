//! Walker's alias method (Vose's construction): O(n) to build, O(1) per draw from any
//! discrete distribution. Negatives (unigram^power), LINE's edges and DeepWalk's
//! weighted steps all draw through it.
//!
//! word2vec.c draws negatives from a 10⁸-slot table instead, and gensim by binary search
//! over a cumulative table; the alias table is exact, needs 8 bytes per outcome and one
//! random number per draw.

use rand::Rng;

/// A discrete distribution over `0..n`, sampled in constant time.
#[derive(Debug, Clone)]
pub struct AliasTable {
    /// Probability of keeping slot `i` (else its alias), as a fraction of `u32::MAX`.
    keep: Vec<u32>,
    alias: Vec<u32>,
}

impl AliasTable {
    /// The distribution proportional to `weights`. Returns `None` when there is no
    /// outcome with positive finite weight.
    pub fn new(weights: &[f64]) -> Option<Self> {
        let n = weights.len();
        let total: f64 = weights.iter().filter(|w| w.is_finite() && **w > 0.0).sum();
        if n == 0 || total <= 0.0 {
            return None;
        }
        let mut scaled: Vec<f64> = weights
            .iter()
            .map(|&w| {
                if w.is_finite() && w > 0.0 {
                    w * n as f64 / total
                } else {
                    0.0
                }
            })
            .collect();
        let mut alias = vec![0u32; n];
        let mut keep = vec![u32::MAX; n];
        let (mut small, mut large): (Vec<u32>, Vec<u32>) =
            (0..n as u32).partition(|&i| scaled[i as usize] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            keep[s as usize] = (scaled[s as usize] * u32::MAX as f64) as u32;
            alias[s as usize] = l;
            scaled[l as usize] -= 1.0 - scaled[s as usize];
            if scaled[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // What is left has probability 1 up to rounding: it keeps its slot.
        for i in small.into_iter().chain(large) {
            keep[i as usize] = u32::MAX;
            alias[i as usize] = i;
        }
        Some(AliasTable { keep, alias })
    }

    /// Number of outcomes.
    pub fn len(&self) -> usize {
        self.keep.len()
    }

    /// Whether there are no outcomes (never true for a built table).
    pub fn is_empty(&self) -> bool {
        self.keep.is_empty()
    }

    /// One draw: a slot uniformly, then the slot or its alias. One 64-bit random number
    /// gives both (high bits: slot; low bits: the coin).
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        let r = rng.next_u64();
        let slot = ((r >> 32) * self.keep.len() as u64) >> 32;
        let coin = r as u32;
        if coin < self.keep[slot as usize] || self.keep[slot as usize] == u32::MAX {
            slot as u32
        } else {
            self.alias[slot as usize]
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.keep.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn draws_follow_the_weights() {
        let w = [1.0, 0.0, 3.0, 6.0, 0.5];
        let t = AliasTable::new(&w).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let n = 400_000;
        let mut c = [0usize; 5];
        for _ in 0..n {
            c[t.sample(&mut rng) as usize] += 1;
        }
        let total: f64 = w.iter().sum();
        for i in 0..5 {
            let p = w[i] / total;
            let got = c[i] as f64 / n as f64;
            // Four standard errors.
            let se = (p * (1.0 - p) / n as f64).sqrt();
            assert!((got - p).abs() <= 4.0 * se + 1e-9, "{i}: {got} vs {p}");
        }
        assert_eq!(c[1], 0, "a zero weight is never drawn");
    }

    #[test]
    fn no_positive_weight_is_no_table() {
        assert!(AliasTable::new(&[]).is_none());
        assert!(AliasTable::new(&[0.0, f64::NAN]).is_none());
        let one = AliasTable::new(&[0.0, 2.0]).unwrap();
        let mut rng = SmallRng::seed_from_u64(0);
        assert!((0..100).all(|_| one.sample(&mut rng) == 1));
    }
}
