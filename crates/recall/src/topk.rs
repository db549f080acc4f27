//! Per-user score buffers and top-K selection: the hottest loop of recall.

/// A reusable score buffer over all items. Sparse models add to a few items (and only
/// those are ranked); dense models fill every score.
#[derive(Debug, Clone)]
pub struct Scores {
    values: Vec<f32>,
    touched: Vec<u32>,
    mark: Vec<bool>,
    excluded: Vec<bool>,
    dense: bool,
}

impl Scores {
    /// A buffer for `n_items` items.
    pub fn new(n_items: usize) -> Self {
        Scores {
            values: vec![0.0; n_items],
            touched: Vec::new(),
            mark: vec![false; n_items],
            excluded: vec![false; n_items],
            dense: false,
        }
    }

    /// Number of items the buffer covers.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the buffer covers no item.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Adds `s` to item `i`'s score.
    #[inline]
    pub fn add(&mut self, i: u32, s: f32) {
        let k = i as usize;
        if !self.mark[k] {
            self.mark[k] = true;
            self.touched.push(i);
        }
        self.values[k] += s;
    }

    /// Every item's score, to be filled by a dense model; all items are ranked.
    pub fn dense_mut(&mut self) -> &mut [f32] {
        self.dense = true;
        &mut self.values
    }

    /// Hands every touched item not in `exclude` with its score to `f`, then resets the
    /// buffer (sparse use only).
    pub fn drain(&mut self, exclude: &[u32], mut f: impl FnMut(u32, f32)) {
        debug_assert!(!self.dense);
        for &i in &self.touched {
            let k = i as usize;
            if !exclude.contains(&i) {
                f(i, self.values[k]);
            }
            self.values[k] = 0.0;
            self.mark[k] = false;
        }
        self.touched.clear();
    }

    /// The `k` best items not in `exclude`, best first (ties: lower id first), and
    /// resets the buffer for the next user.
    pub fn take_top_k(&mut self, k: usize, exclude: &[u32]) -> Vec<(u32, f32)> {
        for &i in exclude {
            self.excluded[i as usize] = true;
        }
        let mut top = TopK::new(k);
        if self.dense {
            for (i, &s) in self.values.iter().enumerate() {
                if !self.excluded[i] {
                    top.push(i as u32, s);
                }
            }
            self.values.iter_mut().for_each(|v| *v = 0.0);
            self.dense = false;
        } else {
            for &i in &self.touched {
                if !self.excluded[i as usize] {
                    top.push(i, self.values[i as usize]);
                }
            }
        }
        for &i in &self.touched {
            self.values[i as usize] = 0.0;
            self.mark[i as usize] = false;
        }
        self.touched.clear();
        for &i in exclude {
            self.excluded[i as usize] = false;
        }
        top.into_sorted()
    }
}

/// Keeps the `k` highest scores seen. Pushes go to a buffer of `2k`; when it fills,
/// `select_nth_unstable` cuts it to `k` and raises the admission threshold, so most
/// pushes are one comparison.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    buf: Vec<(f32, u32)>,
    threshold: f32,
}

impl TopK {
    /// A collector of the `k` best.
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            buf: Vec::with_capacity(2 * k.max(1)),
            threshold: f32::NEG_INFINITY,
        }
    }

    /// Offers item `i` with score `s` (NaN scores are never kept).
    #[inline]
    pub fn push(&mut self, i: u32, s: f32) {
        // `s < threshold` would let NaN in; this comparison keeps it out.
        if self.k == 0 || s.partial_cmp(&self.threshold).is_none_or(|o| o.is_lt()) {
            return;
        }
        self.buf.push((s, i));
        if self.buf.len() == 2 * self.k {
            self.cut();
        }
    }

    fn cut(&mut self) {
        let k = self.k;
        self.buf
            .select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        self.buf.truncate(k);
        self.threshold = self.buf.iter().map(|x| x.0).fold(f32::INFINITY, f32::min);
    }

    /// The kept items, best first.
    pub fn into_sorted(mut self) -> Vec<(u32, f32)> {
        self.buf
            .sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        self.buf.truncate(self.k);
        self.buf.into_iter().map(|(s, i)| (i, s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_equals_full_sort() {
        let scores: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 997) as f32).collect();
        let mut t = TopK::new(10);
        for (i, &s) in scores.iter().enumerate() {
            t.push(i as u32, s);
        }
        let mut all: Vec<(u32, f32)> = scores
            .iter()
            .enumerate()
            .map(|(i, &s)| (i as u32, s))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        assert_eq!(t.into_sorted(), all[..10].to_vec());
    }

    #[test]
    fn scores_exclude_and_reset() {
        let mut s = Scores::new(5);
        s.add(1, 2.0);
        s.add(3, 5.0);
        s.add(1, 1.0);
        assert_eq!(s.take_top_k(5, &[3]), vec![(1, 3.0)]);
        s.add(4, 1.0);
        assert_eq!(s.take_top_k(5, &[]), vec![(4, 1.0)]);
        s.dense_mut().copy_from_slice(&[0.5, 0.1, 0.9, 0.3, 0.2]);
        assert_eq!(s.take_top_k(2, &[2]), vec![(0, 0.5), (3, 0.3)]);
    }
}
