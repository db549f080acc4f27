//! Quantile binning: each feature's values become at most `max_bin` bins (a `u8` each),
//! so a tree's split search scans bins, not sorted values.
//!
//! Bin `b` holds the values `x <= bounds[b]` above the previous bound; the last bin holds
//! the rest. A feature with at most `max_bin` distinct values gets one bin per value
//! (bounds halfway between neighbours); otherwise bounds are placed so that bins hold
//! about equal numbers of rows, a value never straddling two bins. Bounds come from a
//! sample of at most `SAMPLE_ROWS` rows, as LightGBM's `bin_construct_sample_cnt`.
//!
//! A feature with missing values in training (NaN, [`SampleSet::missing`]) gets one more
//! bin after the others, the missing bin; a split learns which side it goes to. NaN in a
//! feature that had no missing values in training is read as 0 (as absent).
//!
//! [`SampleSet::missing`]: funnel_features::SampleSet::missing

/// Rows whose values place the bounds.
pub(crate) const SAMPLE_ROWS: usize = 200_000;

/// Fewest sampled rows a bin closes with (LightGBM's `min_data_in_bin`).
const MIN_DATA_IN_BIN: usize = 3;

/// The bin bounds of every feature.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bins {
    /// Per feature, ascending upper bounds of all bins but the last.
    pub bounds: Vec<Vec<f32>>,
    /// Per feature, whether it has a missing bin (after its value bins).
    pub has_missing: Vec<bool>,
}

impl Bins {
    /// Number of value bins of feature `f` (the missing bin not counted).
    pub fn n_value_bins(&self, f: usize) -> usize {
        self.bounds[f].len() + 1
    }

    /// Number of bins of feature `f`, its missing bin included.
    pub fn n_bins(&self, f: usize) -> usize {
        self.n_value_bins(f) + self.has_missing[f] as usize
    }

    /// The missing bin of feature `f`, if it has one.
    pub fn missing_bin(&self, f: usize) -> Option<u8> {
        self.has_missing[f].then(|| self.n_value_bins(f) as u8)
    }

    /// The bin of value `x` in feature `f` (NaN: the missing bin, or 0's bin).
    #[inline]
    pub fn bin(&self, f: usize, x: f32) -> u8 {
        if x.is_nan() {
            if let Some(b) = self.missing_bin(f) {
                return b;
            }
            return self.bin(f, 0.0);
        }
        self.bounds[f].partition_point(|&b| b < x) as u8
    }
}

/// Bounds of one feature from its sorted non-zero sample values and the number of
/// sampled rows where it is zero (absent).
pub(crate) fn bounds_with_zeros(sorted_nonzero: &[f32], zeros: usize, max_bin: usize) -> Vec<f32> {
    let mut distinct: Vec<(f32, usize)> = Vec::new();
    let mut zero_done = zeros == 0;
    for &v in sorted_nonzero {
        if !zero_done && v > 0.0 {
            distinct.push((0.0, zeros));
            zero_done = true;
        }
        match distinct.last_mut() {
            Some((d, c)) if *d == v => *c += 1,
            _ => distinct.push((v, 1)),
        }
    }
    if !zero_done {
        distinct.push((0.0, zeros));
    }
    bounds_of_distinct(&distinct, sorted_nonzero.len() + zeros, max_bin)
}

/// Bounds of one feature from its sorted sample values.
#[cfg(test)]
fn feature_bounds(sorted: &[f32], max_bin: usize) -> Vec<f32> {
    let mut distinct: Vec<(f32, usize)> = Vec::new();
    for &v in sorted {
        match distinct.last_mut() {
            Some((d, c)) if *d == v => *c += 1,
            _ => distinct.push((v, 1)),
        }
    }
    bounds_of_distinct(&distinct, sorted.len(), max_bin)
}

/// Bounds of one feature from its distinct sample values, ascending, with their counts
/// (`total` of them).
fn bounds_of_distinct(distinct: &[(f32, usize)], total: usize, max_bin: usize) -> Vec<f32> {
    let mid = |a: f32, b: f32| {
        let m = a + (b - a) / 2.0;
        // Halfway may round up to b; the bound must stay below it.
        if m >= b {
            a
        } else {
            m
        }
    };
    if distinct.len() <= max_bin {
        // A bin closes once it holds MIN_DATA_IN_BIN rows (a value seen once or twice is
        // no threshold worth trying), and zero keeps a bin of its own: in sparse data it
        // stands for every absent value (both as LightGBM bins).
        let mut bounds = Vec::new();
        let mut in_bin = 0usize;
        for w in distinct.windows(2) {
            in_bin += w[0].1;
            let zero_edge = w[0].0 == 0.0 || w[1].0 == 0.0;
            if in_bin >= MIN_DATA_IN_BIN || zero_edge {
                bounds.push(mid(w[0].0, w[1].0));
                in_bin = 0;
            }
        }
        return bounds;
    }
    // Equal-count bins: cut after a value once its bin has reached its share of the rows
    // left, so that heavy values (zeros) do not starve the bins after them.
    let mut bounds = Vec::with_capacity(max_bin - 1);
    let mut left = total;
    let mut in_bin = 0usize;
    for (i, &(v, c)) in distinct.iter().enumerate() {
        in_bin += c;
        let bins_left = max_bin - bounds.len();
        if i + 1 < distinct.len() && bins_left > 1 && in_bin * bins_left >= left {
            bounds.push(mid(v, distinct[i + 1].0));
            left -= in_bin;
            in_bin = 0;
        }
    }
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_get_a_bin_each_and_many_get_equal_counts() {
        let b = feature_bounds(&[1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 5.0], 255);
        assert_eq!(b, [1.5, 3.5]);
        // Values seen fewer than three times share a bin; zero stays alone.
        assert_eq!(feature_bounds(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 255), [3.5]);
        assert_eq!(feature_bounds(&[0.0, 1.0, 2.0, 3.0], 255), [0.5]);
        let bins = Bins {
            bounds: vec![b],
            has_missing: vec![false],
        };
        assert_eq!(
            [0.0, 1.0, 1.5, 1.6, 5.0, 9.0].map(|x| bins.bin(0, x)),
            [0, 0, 0, 1, 2, 2]
        );
        let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let b = feature_bounds(&v, 10);
        assert_eq!(b.len(), 9);
        let bins = Bins {
            bounds: vec![b],
            has_missing: vec![false],
        };
        let mut counts = [0usize; 10];
        for &x in &v {
            counts[bins.bin(0, x) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c == 100), "{counts:?}");
        // A heavy value keeps its own bin and leaves the others balanced.
        let mut z = vec![0.0f32; 900];
        z.extend((1..=100).map(|i| i as f32));
        let b = feature_bounds(&z, 5);
        assert_eq!(b[0], 0.5);
        assert_eq!(b.len(), 4);
    }
}
