//! The training matrix of a GBDT: every feature's bins ([`Bins`]), built straight from
//! the sparse samples (no dense copy of the rows).
//!
//! Features non-zero in more than a fifth of the rows ("dense") get a byte column each:
//! a histogram reads the column at the leaf's rows. The others ("sparse": one-hot ids,
//! categories, histories) are stored row-wise, as LightGBM's multi-value bins: each row
//! lists the bins its sparse features have other than their zero bin (the bin of value
//! 0, which absent features have), numbered across all sparse features. A histogram adds
//! one cell per listed bin, so it costs the leaf's non-zeros, not rows × features:
//! ml-100k's one-hot features cost about 12 adds per row, not 4,000. A sparse feature's
//! zero bin is the leaf's sum minus its other bins.

use funnel_features::SampleSet;
use rayon::prelude::*;

use super::bins::{bounds_with_zeros, Bins, SAMPLE_ROWS};

/// Most rows in five a feature is non-zero in and still stored row-wise.
const SPARSE_FIFTHS: usize = 1;

/// Where a feature's bins are stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    /// Whether the feature has a column (dense) rather than row-wise bins (sparse).
    pub dense: bool,
    /// Dense: the column. Sparse: the row-wise number of its first bin other than its
    /// zero bin.
    pub at: u32,
    /// The feature's bins other than its zero bin.
    pub span: u32,
    /// The feature's zero bin: that of value 0, which absent features have.
    pub zero: u8,
}

impl Place {
    /// The feature's bin from its row-wise number `k` (`at <= k < at + span`).
    #[inline]
    pub fn decode(&self, k: u32) -> u8 {
        let j = (k - self.at) as u8;
        j + (j >= self.zero) as u8
    }

    /// The row-wise number of the feature's bin `b` (not its zero bin).
    #[inline]
    fn encode(&self, b: u8) -> u32 {
        self.at + (b - (b > self.zero) as u8) as u32
    }
}

/// Binned training rows.
#[derive(Debug)]
pub struct Binned {
    /// Number of rows.
    pub n_rows: usize,
    /// Every feature's bins.
    pub bins: Bins,
    /// Column `c`'s bins are `columns[c·n_rows..(c+1)·n_rows]`.
    columns: Vec<u8>,
    /// Number of bins of each column.
    column_bins: Vec<usize>,
    /// Row `r`'s sparse bins are `cells[starts[r]..starts[r + 1]]`, ascending.
    starts: Vec<u64>,
    cells: Vec<u32>,
    /// Number of sparse bins (the row-wise numbers go up to it).
    sparse_bins: usize,
    /// The same bins by feature: sparse feature `f`'s non-zero rows are
    /// `feature_rows[feature_starts[k]..feature_starts[k + 1]]` (ascending, `k` its
    /// number among the sparse features), their bins alongside in `feature_row_bins`.
    feature_starts: Vec<u64>,
    feature_rows: Vec<u32>,
    feature_row_bins: Vec<u8>,
    /// The sparse number of each sparse feature, `u32::MAX` for the dense ones.
    sparse_index: Vec<u32>,
    /// Where each feature is; `None` for features with one bin, which no split can use.
    places: Vec<Option<Place>>,
}

/// The column buffer, written from several threads at once.
struct SharedColumns(*mut u8);

// SAFETY: the buffer outlives the parallel fill that uses it, and the fill writes each
// position from one thread only: position c·n + i belongs to row i, and each row is
// handled by exactly one task.
unsafe impl Sync for SharedColumns {}

impl SharedColumns {
    /// Writes `b` at `at`.
    ///
    /// # Safety
    /// `at` is inside the buffer and no other thread writes or reads it meanwhile.
    #[inline]
    unsafe fn put(&self, at: usize, b: u8) {
        // SAFETY: as the caller promises.
        unsafe { *self.0.add(at) = b }
    }
}

impl Binned {
    /// Bins the features of `s`: feature `j` of the samples is column-space feature
    /// `column[j]` (`u32::MAX` or past the map: left out), `width` of them, each with
    /// at most `max_bin` value bins.
    pub fn build(s: &SampleSet, column: &[u32], width: usize, max_bin: usize) -> Binned {
        Self::build_with(s, column, width, max_bin, SPARSE_FIFTHS)
    }

    /// [`Binned::build`], storing row-wise the features non-zero in at most
    /// `sparse_fifths` fifths of the rows (0: none, 5: all).
    pub(crate) fn build_with(
        s: &SampleSet,
        column: &[u32],
        width: usize,
        max_bin: usize,
        sparse_fifths: usize,
    ) -> Binned {
        let n = s.len();
        let col_of = |j: u32| {
            column
                .get(j as usize)
                .copied()
                .filter(|&c| c != u32::MAX)
                .map(|c| c as usize)
        };
        // One pass: each feature's non-zero count, whether it has missing values, and
        // the bounds' sample (every `step`-th row's non-zero values).
        let step = n.div_ceil(SAMPLE_ROWS).max(1);
        let mut nnz = vec![0usize; width];
        let mut has_missing = vec![false; width];
        let mut sample: Vec<Vec<f32>> = vec![Vec::new(); width];
        let mut sample_missing = vec![0usize; width];
        let mut sampled = 0usize;
        for i in 0..n {
            let r = s.row(i);
            let take = i % step == 0;
            sampled += take as usize;
            for (&j, &v) in r.indices.iter().zip(r.values) {
                let Some(c) = col_of(j) else { continue };
                if v.is_nan() {
                    has_missing[c] = true;
                    nnz[c] += 1;
                    sample_missing[c] += take as usize;
                } else if v != 0.0 {
                    nnz[c] += 1;
                    if take {
                        sample[c].push(v);
                    }
                }
            }
            for &(_, j) in s.missing_of(i) {
                let Some(c) = col_of(j) else { continue };
                has_missing[c] = true;
                nnz[c] += 1;
                sample_missing[c] += take as usize;
            }
        }
        let bounds: Vec<Vec<f32>> = sample
            .into_par_iter()
            .enumerate()
            .map(|(c, mut v)| {
                v.sort_by(f32::total_cmp);
                let zeros = sampled.saturating_sub(v.len() + sample_missing[c]);
                // Bins are bytes: with a missing bin, at most 255 value bins.
                let value_bins = if has_missing[c] {
                    max_bin.min(255)
                } else {
                    max_bin
                };
                bounds_with_zeros(&v, zeros, value_bins)
            })
            .collect();
        let bins = Bins {
            bounds,
            has_missing,
        };
        // Places: a column per dense feature, row-wise numbers for the sparse ones.
        let mut places = vec![None; width];
        let mut column_bins = Vec::new();
        let mut sparse_bins = 0usize;
        for f in (0..width).filter(|&f| bins.n_bins(f) > 1) {
            let span = bins.n_bins(f) as u32 - 1;
            let zero = bins.bin(f, 0.0);
            let dense = 5 * nnz[f] > sparse_fifths * n;
            let at = if dense {
                column_bins.push(bins.n_bins(f));
                column_bins.len() as u32 - 1
            } else {
                sparse_bins += span as usize;
                (sparse_bins - span as usize) as u32
            };
            places[f] = Some(Place {
                dense,
                at,
                span,
                zero,
            });
        }
        let n_columns = column_bins.len();
        let mut columns = vec![0u8; n * n_columns];
        for p in places.iter().flatten().filter(|p| p.dense && p.zero != 0) {
            let c = p.at as usize;
            columns[c * n..(c + 1) * n].fill(p.zero);
        }
        // Each row's cells, later ones winning for a feature given twice (as a dense
        // copy would have it); missing values come after the row's values.
        let row_cells = |i: usize, sparse: &mut Vec<(usize, u8)>, dense: &mut Vec<(usize, u8)>| {
            let r = s.row(i);
            sparse.clear();
            dense.clear();
            let cells = r
                .indices
                .iter()
                .zip(r.values)
                .map(|(&j, &v)| (j, v))
                .chain(s.missing_of(i).iter().map(|&(_, j)| (j, f32::NAN)));
            for (j, v) in cells {
                let Some(c) = col_of(j) else { continue };
                let Some(p) = places[c] else { continue };
                let b = bins.bin(c, v);
                if p.dense {
                    dense.push((p.at as usize, b));
                } else {
                    sparse.push((c, b));
                }
            }
        };
        let out = SharedColumns(columns.as_mut_ptr());
        let out = &out;
        const CHUNK: usize = 8192;
        let parts: Vec<(Vec<u32>, Vec<u32>)> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|k| {
                let (mut cells, mut counts) = (Vec::new(), Vec::new());
                let (mut sparse, mut dense) = (Vec::new(), Vec::new());
                for i in k * CHUNK..((k + 1) * CHUNK).min(n) {
                    row_cells(i, &mut sparse, &mut dense);
                    for &(c, b) in &dense {
                        // SAFETY: c < n_columns and i < n, so the position is inside the
                        // buffer; it is row i's, which only this task handles.
                        unsafe { out.put(c * n + i, b) };
                    }
                    sparse.sort_by_key(|&(f, _)| f);
                    let before = cells.len();
                    for (k, &(f, b)) in sparse.iter().enumerate() {
                        let last = sparse.get(k + 1).is_none_or(|&(g, _)| g != f);
                        let p = places[f].expect("placed");
                        if last && b != p.zero {
                            cells.push(p.encode(b));
                        }
                    }
                    counts.push((cells.len() - before) as u32);
                }
                (cells, counts)
            })
            .collect();
        let mut starts = Vec::with_capacity(n + 1);
        starts.push(0u64);
        let mut cells = Vec::with_capacity(parts.iter().map(|p| p.0.len()).sum());
        for (c, counts) in parts {
            cells.extend_from_slice(&c);
            for k in counts {
                starts.push(starts.last().unwrap() + k as u64);
            }
        }
        // By feature: count each sparse feature's bins, then place the rows in order.
        let mut sparse_index = vec![u32::MAX; width];
        let mut owner = vec![0u32; sparse_bins];
        let mut n_sparse = 0usize;
        for (f, p) in places.iter().enumerate() {
            if let Some(p) = p.filter(|p| !p.dense) {
                sparse_index[f] = n_sparse as u32;
                owner[p.at as usize..(p.at + p.span) as usize].fill(n_sparse as u32);
                n_sparse += 1;
            }
        }
        let mut feature_starts = vec![0u64; n_sparse + 1];
        for &k in &cells {
            feature_starts[owner[k as usize] as usize + 1] += 1;
        }
        for k in 0..n_sparse {
            feature_starts[k + 1] += feature_starts[k];
        }
        let mut fill: Vec<u64> = feature_starts[..n_sparse].to_vec();
        let mut feature_rows = vec![0u32; cells.len()];
        let mut feature_row_bins = vec![0u8; cells.len()];
        let sparse_features: Vec<Place> = places
            .iter()
            .flatten()
            .filter(|p| !p.dense)
            .copied()
            .collect();
        for r in 0..n {
            for &k in &cells[starts[r] as usize..starts[r + 1] as usize] {
                let o = owner[k as usize] as usize;
                let at = fill[o] as usize;
                feature_rows[at] = r as u32;
                feature_row_bins[at] = sparse_features[o].decode(k);
                fill[o] += 1;
            }
        }
        Binned {
            n_rows: n,
            bins,
            columns,
            column_bins,
            starts,
            cells,
            sparse_bins,
            feature_starts,
            feature_rows,
            feature_row_bins,
            sparse_index,
            places,
        }
    }

    /// Number of columns (dense features).
    pub fn n_columns(&self) -> usize {
        self.column_bins.len()
    }

    /// Number of bins of column `c`.
    pub fn column_bins(&self, c: usize) -> usize {
        self.column_bins[c]
    }

    /// Column `c`'s bins, one per row.
    #[inline]
    pub fn column(&self, c: usize) -> &[u8] {
        &self.columns[c * self.n_rows..(c + 1) * self.n_rows]
    }

    /// Number of row-wise bins over all sparse features.
    pub fn sparse_bins(&self) -> usize {
        self.sparse_bins
    }

    /// Row `r`'s row-wise bins, ascending.
    #[inline]
    pub fn row_bins(&self, r: usize) -> &[u32] {
        &self.cells[self.starts[r] as usize..self.starts[r + 1] as usize]
    }

    /// Number of row-wise bins stored over all rows.
    pub fn n_cells(&self) -> usize {
        self.cells.len()
    }

    /// Where feature `f` is stored (`None`: it has one bin).
    #[inline]
    pub fn place(&self, f: usize) -> Option<Place> {
        self.places[f]
    }

    /// The features a split can use (more than one bin), ascending.
    pub fn features(&self) -> Vec<usize> {
        (0..self.places.len())
            .filter(|&f| self.places[f].is_some())
            .collect()
    }

    /// The columns of the dense ones of `features`, ascending, and whether any of them
    /// is sparse.
    pub fn columns_of(&self, features: &[usize]) -> (Vec<usize>, bool) {
        let mut sparse = false;
        let mut c: Vec<usize> = features
            .iter()
            .filter_map(|&f| self.places[f])
            .filter_map(|p| {
                sparse |= !p.dense;
                p.dense.then_some(p.at as usize)
            })
            .collect();
        c.sort_unstable();
        c.dedup();
        (c, sparse)
    }

    /// The rows where sparse feature `f` is not at its zero bin, ascending, and its bins
    /// there.
    pub fn nonzero_rows(&self, f: usize) -> (&[u32], &[u8]) {
        let k = self.sparse_index[f] as usize;
        let (a, b) = (
            self.feature_starts[k] as usize,
            self.feature_starts[k + 1] as usize,
        );
        (&self.feature_rows[a..b], &self.feature_row_bins[a..b])
    }

    /// Feature `f`'s bin in row `r`.
    #[inline]
    pub fn feature_bin(&self, f: usize, r: usize) -> u8 {
        match self.places[f] {
            Some(p) => self.bin_at(&p, r),
            None => 0,
        }
    }

    /// The bin in row `r` of the feature placed at `p`.
    #[inline]
    pub fn bin_at(&self, p: &Place, r: usize) -> u8 {
        if p.dense {
            return self.columns[p.at as usize * self.n_rows + r];
        }
        let row = self.row_bins(r);
        let k = row.partition_point(|&k| k < p.at);
        match row.get(k) {
            Some(&k) if k < p.at + p.span => p.decode(k),
            _ => p.zero,
        }
    }
}

/// A set of dense rows as samples (features 0..width, zeros left out, NaN as missing).
#[cfg(test)]
pub(crate) fn samples(x: &[f32], width: usize, labels: &[f32]) -> SampleSet {
    let mut s = SampleSet::new();
    for (i, row) in x.chunks(width).enumerate() {
        let f: Vec<(u32, u32, f32)> = row
            .iter()
            .enumerate()
            .filter(|(_, &v)| v != 0.0 && !v.is_nan())
            .map(|(j, &v)| (0, j as u32, v))
            .collect();
        s.push(labels.get(i).copied().unwrap_or(0.0), None, &f);
        for (j, _) in row.iter().enumerate().filter(|(_, v)| v.is_nan()) {
            s.missing.push((i as u32, j as u32));
        }
    }
    s.n_features = width as u32;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(width: usize) -> Vec<u32> {
        (0..width as u32).collect()
    }

    /// NaN gets a bin of its own after the values, in the columns that have it; in the
    /// others it reads as 0.
    #[test]
    fn missing_values_get_the_last_bin() {
        let x = [
            1.0,
            5.0,
            f32::NAN,
            5.0,
            1.0,
            0.0,
            1.0,
            5.0,
            1.0,
            5.0,
            1.0,
            5.0,
        ];
        let s = samples(&x, 2, &[]);
        let b = Binned::build(&s, &identity(2), 2, 255);
        let bins = &b.bins;
        assert_eq!(bins.has_missing, [true, false]);
        assert_eq!(
            (bins.n_bins(0), bins.n_value_bins(0), bins.n_bins(1)),
            (2, 1, 2)
        );
        assert_eq!(bins.missing_bin(0), Some(1));
        assert_eq!(bins.missing_bin(1), None);
        assert_eq!(bins.bin(0, f32::NAN), 1);
        assert_eq!(bins.bin(1, f32::NAN), bins.bin(1, 0.0));
        let got: Vec<u8> = (0..3).map(|r| b.feature_bin(0, r)).collect();
        assert_eq!(got, [0, 1, 0]);
        assert_eq!(b.feature_bin(1, 2), 0);
    }

    /// Dense features get columns, sparse ones row-wise bins; every feature's bin reads
    /// back as binning its value alone gives it, negative values and duplicates included.
    #[test]
    fn sparse_features_are_stored_by_row_and_read_back_exactly() {
        let (n, width) = (600, 13);
        let mut x = vec![0.0f32; n * width];
        for r in 0..n {
            let row = &mut x[r * width..(r + 1) * width];
            row[r % 10] = 1.0; // one-hot over features 0..10
            row[10] = (r % 7) as f32 - 3.0; // dense, negative values
            row[11] = if r % 5 == 0 {
                (r % 3) as f32 + 1.0
            } else {
                0.0
            }; // sparse, 3 values
            row[12] = if r % 6 == 1 { f32::NAN } else { 0.0 }; // missing only
        }
        let mut s = samples(&x, width, &[]);
        let b = Binned::build(&s, &identity(width), width, 255);
        let (columns, any_sparse) = b.columns_of(&b.features());
        assert_eq!(columns, [0]);
        assert!(any_sparse);
        assert!(b.place(10).unwrap().dense);
        assert!(!b.place(3).unwrap().dense && !b.place(12).unwrap().dense);
        // One bin per non-zero of the one-hot and sparse features, none for zeros.
        assert_eq!(b.n_cells(), n + n / 5 + n / 6);
        let (rows, bins) = b.nonzero_rows(11);
        assert_eq!(rows.len(), n / 5);
        assert!(rows
            .iter()
            .zip(bins)
            .all(|(&r, &k)| b.feature_bin(11, r as usize) == k));
        for r in 0..n {
            for f in 0..width {
                let v = x[r * width + f];
                assert_eq!(b.feature_bin(f, r), b.bins.bin(f, v), "row {r} feature {f}");
            }
        }
        // Features absent from the map are left out.
        let b = Binned::build(&s, &[0, u32::MAX, 1], 2, 255);
        assert_eq!(b.bins.bounds.len(), 2);
        // A feature given twice in a row keeps its last value, as a dense copy would.
        s.indices[s.offsets[0] as usize] = 11;
        s.values[s.offsets[0] as usize] = 3.0;
        let b = Binned::build(&s, &identity(width), width, 255);
        assert_eq!(b.feature_bin(11, 0), b.bins.bin(11, 1.0));
        assert_ne!(b.bins.bin(11, 1.0), b.bins.bin(11, 3.0));
    }
}
