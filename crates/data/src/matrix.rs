//! Compressed sparse rows with optional values and timestamps.
//!
//! One type serves as CSR (rows = users) and, transposed, as CSC (rows = items).
//! Memory per stored entry: 4 bytes column index + 4 bytes `f32` value (absent when
//! every value is 1) + 4 bytes timestamp as seconds after a base (absent when the
//! input has none) — 12 bytes at most, plus 8 bytes per row.

use rayon::prelude::*;

/// A compressed sparse row matrix of `f32` values with `u32` timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix {
    n_rows: usize,
    n_cols: usize,
    indptr: Vec<u64>,
    indices: Vec<u32>,
    values: Option<Vec<f32>>,
    times: Option<Vec<u32>>,
}

/// One row of a [`CsrMatrix`].
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// Column indices, ascending.
    pub indices: &'a [u32],
    /// Values, or `None` when every value is 1.
    pub values: Option<&'a [f32]>,
    /// Timestamps (seconds after the matrix's time base), if known.
    pub times: Option<&'a [u32]>,
}

impl Row<'_> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.indices.len()
    }
    /// Whether the row is empty.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
    /// Value of the `k`-th entry.
    #[inline]
    pub fn value(&self, k: usize) -> f32 {
        self.values.map_or(1.0, |v| v[k])
    }
}

impl CsrMatrix {
    /// Assembles a matrix from raw parts, checking that they agree.
    pub fn from_parts(
        n_rows: usize,
        n_cols: usize,
        indptr: Vec<u64>,
        indices: Vec<u32>,
        values: Option<Vec<f32>>,
        times: Option<Vec<u32>>,
    ) -> Result<Self, String> {
        if indptr.len() != n_rows + 1 || indptr[0] != 0 {
            return Err(format!(
                "indptr has {} entries, expected {}",
                indptr.len(),
                n_rows + 1
            ));
        }
        let nnz = *indptr.last().unwrap() as usize;
        if indices.len() != nnz
            || values.as_ref().is_some_and(|v| v.len() != nnz)
            || times.as_ref().is_some_and(|t| t.len() != nnz)
        {
            return Err(format!("arrays do not hold {nnz} entries"));
        }
        if indptr.windows(2).any(|w| w[0] > w[1]) {
            return Err("indptr is not monotone".into());
        }
        if indices.iter().any(|&c| c as usize >= n_cols) {
            return Err(format!("a column index is >= {n_cols}"));
        }
        Ok(Self {
            n_rows,
            n_cols,
            indptr,
            indices,
            values,
            times,
        })
    }

    /// An empty matrix of the given shape.
    pub fn empty(n_rows: usize, n_cols: usize) -> Self {
        Self {
            n_rows,
            n_cols,
            indptr: vec![0; n_rows + 1],
            indices: vec![],
            values: None,
            times: None,
        }
    }

    /// Builds from coordinate triples. Entries are sorted by column within each row;
    /// duplicates of a (row, col) pair are merged: values summed, latest time kept.
    /// Counting and per-row sorting run in parallel.
    pub fn from_coo(
        n_rows: usize,
        n_cols: usize,
        rows: &[u32],
        cols: &[u32],
        values: Option<&[f32]>,
        times: Option<&[u32]>,
    ) -> Self {
        let nnz = rows.len();
        // Row counts: per-chunk histograms merged, so both cores count.
        let chunk = (nnz / rayon::current_num_threads().max(1)).max(1 << 16);
        let counts = rows
            .par_chunks(chunk)
            .map(|c| {
                let mut h = vec![0u64; n_rows];
                for &r in c {
                    h[r as usize] += 1;
                }
                h
            })
            .reduce(
                || vec![0u64; n_rows],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    a
                },
            );
        let mut indptr = vec![0u64; n_rows + 1];
        for r in 0..n_rows {
            indptr[r + 1] = indptr[r] + counts[r];
        }
        // Scatter is memory-bound and sequential; the permutation it makes is reused
        // for values and times.
        let mut next: Vec<u64> = indptr[..n_rows].to_vec();
        let mut out_cols = vec![0u32; nnz];
        let mut order = vec![0u32; nnz];
        for (k, (&r, &c)) in rows.iter().zip(cols).enumerate() {
            let p = next[r as usize] as usize;
            next[r as usize] += 1;
            out_cols[p] = c;
            order[p] = k as u32;
        }
        drop(next);
        let mut out_vals = values.map(|v| order.iter().map(|&k| v[k as usize]).collect::<Vec<_>>());
        let mut out_times = times.map(|t| order.iter().map(|&k| t[k as usize]).collect::<Vec<_>>());
        drop(order);
        let mut m = CsrMatrix {
            n_rows,
            n_cols,
            indptr,
            indices: out_cols,
            values: None,
            times: None,
        };
        m.sort_and_merge_rows(&mut out_vals, &mut out_times);
        m.values = out_vals.filter(|v| v.iter().any(|&x| x != 1.0));
        m.times = out_times;
        m
    }

    /// Sorts each row by column and merges duplicates, in parallel over rows,
    /// then compacts the arrays.
    fn sort_and_merge_rows(&mut self, vals: &mut Option<Vec<f32>>, times: &mut Option<Vec<u32>>) {
        // Split the flat arrays into per-row mutable slices.
        let bounds: Vec<(usize, usize)> = self
            .indptr
            .windows(2)
            .map(|w| (w[0] as usize, w[1] as usize))
            .collect();
        let new_lens: Vec<u64> = {
            let mut cols_rest: &mut [u32] = &mut self.indices;
            let mut vals_rest: Option<&mut [f32]> = vals.as_deref_mut();
            let mut times_rest: Option<&mut [u32]> = times.as_deref_mut();
            let mut parts = Vec::with_capacity(self.n_rows);
            for &(a, b) in &bounds {
                let n = b - a;
                let (c, cr) = std::mem::take(&mut cols_rest).split_at_mut(n);
                cols_rest = cr;
                let v = vals_rest.take().map(|s| {
                    let (h, t) = s.split_at_mut(n);
                    vals_rest = Some(t);
                    h
                });
                let t = times_rest.take().map(|s| {
                    let (h, t2) = s.split_at_mut(n);
                    times_rest = Some(t2);
                    h
                });
                parts.push((c, v, t));
            }
            parts
                .into_par_iter()
                .map(|(c, v, t)| sort_merge_row(c, v, t) as u64)
                .collect()
        };
        if new_lens
            .iter()
            .zip(&bounds)
            .all(|(&n, &(a, b))| n as usize == b - a)
        {
            return;
        }
        let mut w = 0usize;
        let mut indptr = vec![0u64; self.n_rows + 1];
        for (r, &(a, _)) in bounds.iter().enumerate() {
            let n = new_lens[r] as usize;
            self.indices.copy_within(a..a + n, w);
            if let Some(v) = vals.as_mut() {
                v.copy_within(a..a + n, w);
            }
            if let Some(t) = times.as_mut() {
                t.copy_within(a..a + n, w);
            }
            w += n;
            indptr[r + 1] = w as u64;
        }
        self.indices.truncate(w);
        self.indices.shrink_to_fit();
        if let Some(v) = vals.as_mut() {
            v.truncate(w);
            v.shrink_to_fit();
        }
        if let Some(t) = times.as_mut() {
            t.truncate(w);
            t.shrink_to_fit();
        }
        self.indptr = indptr;
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }
    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }
    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }
    /// Row pointer array (`n_rows + 1` entries).
    pub fn indptr(&self) -> &[u64] {
        &self.indptr
    }
    /// All column indices.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }
    /// All values, or `None` when every value is 1.
    pub fn values(&self) -> Option<&[f32]> {
        self.values.as_deref()
    }
    /// All timestamps, if known.
    pub fn times(&self) -> Option<&[u32]> {
        self.times.as_deref()
    }
    /// Length of row `r`.
    #[inline]
    pub fn row_len(&self, r: usize) -> usize {
        (self.indptr[r + 1] - self.indptr[r]) as usize
    }

    /// Row `r`.
    #[inline]
    pub fn row(&self, r: usize) -> Row<'_> {
        let (a, b) = (self.indptr[r] as usize, self.indptr[r + 1] as usize);
        Row {
            indices: &self.indices[a..b],
            values: self.values.as_deref().map(|v| &v[a..b]),
            times: self.times.as_deref().map(|t| &t[a..b]),
        }
    }

    /// The transpose (CSR of rows ↔ columns), e.g. the CSC view of a user×item matrix.
    pub fn transpose(&self) -> CsrMatrix {
        let mut rows = Vec::with_capacity(self.nnz());
        for r in 0..self.n_rows {
            rows.extend(std::iter::repeat_n(r as u32, self.row_len(r)));
        }
        // Transposing: new rows are old columns.
        let mut t = CsrMatrix::from_coo(
            self.n_cols,
            self.n_rows,
            &self.indices,
            &rows,
            self.values.as_deref(),
            self.times.as_deref(),
        );
        if self.values.is_some() && t.values.is_none() {
            t.values = Some(vec![1.0; t.nnz()]);
        }
        t
    }

    /// Heap bytes used by the arrays.
    pub fn memory_bytes(&self) -> usize {
        self.indptr.len() * 8
            + self.indices.len() * 4
            + self.values.as_ref().map_or(0, |v| v.len() * 4)
            + self.times.as_ref().map_or(0, |t| t.len() * 4)
    }
}

/// Sorts one row by column and merges duplicate columns in place; returns the new length.
fn sort_merge_row(cols: &mut [u32], vals: Option<&mut [f32]>, times: Option<&mut [u32]>) -> usize {
    let n = cols.len();
    if n <= 1 {
        return n;
    }
    let sorted = cols.windows(2).all(|w| w[0] < w[1]);
    if sorted {
        return n;
    }
    let mut perm: Vec<u32> = (0..n as u32).collect();
    perm.sort_by_key(|&k| cols[k as usize]);
    let c0: Vec<u32> = perm.iter().map(|&k| cols[k as usize]).collect();
    let v0: Option<Vec<f32>> = vals
        .as_ref()
        .map(|v| perm.iter().map(|&k| v[k as usize]).collect());
    let t0: Option<Vec<u32>> = times
        .as_ref()
        .map(|t| perm.iter().map(|&k| t[k as usize]).collect());
    let mut w = 0usize;
    let (mut vals, mut times) = (vals, times);
    for k in 0..n {
        if k > 0 && c0[k] == c0[k - 1] {
            if let (Some(v), Some(v0)) = (vals.as_deref_mut(), &v0) {
                v[w - 1] += v0[k];
            }
            if let (Some(t), Some(t0)) = (times.as_deref_mut(), &t0) {
                t[w - 1] = t[w - 1].max(t0[k]);
            }
            continue;
        }
        cols[w] = c0[k];
        if let (Some(v), Some(v0)) = (vals.as_deref_mut(), &v0) {
            v[w] = v0[k];
        }
        if let (Some(t), Some(t0)) = (times.as_deref_mut(), &t0) {
            t[w] = t0[k];
        }
        w += 1;
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coo_to_csr_sorts_and_merges_duplicates() {
        let rows = [1, 0, 1, 1, 0];
        let cols = [2, 1, 0, 2, 1];
        let vals = [1.0, 2.0, 3.0, 4.0, 5.0];
        let times = [10, 20, 30, 5, 1];
        let m = CsrMatrix::from_coo(2, 3, &rows, &cols, Some(&vals), Some(&times));
        assert_eq!(m.indptr(), &[0, 1, 3]);
        assert_eq!(m.indices(), &[1, 0, 2]);
        assert_eq!(m.values().unwrap(), &[7.0, 3.0, 5.0]);
        assert_eq!(m.times().unwrap(), &[20, 30, 10]);
        let t = m.transpose();
        assert_eq!(t.n_rows(), 3);
        assert_eq!(t.row(2).indices, &[1]);
        assert_eq!(t.row(1).values.unwrap(), &[7.0]);
        assert_eq!(t.transpose(), m);
    }

    #[test]
    fn all_ones_values_are_not_stored() {
        let m = CsrMatrix::from_coo(2, 2, &[0, 1], &[1, 0], Some(&[1.0, 1.0]), None);
        assert!(m.values().is_none());
        assert_eq!(m.memory_bytes(), 3 * 8 + 2 * 4);
    }
}
