//! Labelled sparse samples in one flat layout (CSR-like): cache-friendly for the
//! training loops, and cheap to slice into mini-batches.

/// Samples with labels, optional groups and sparse `(field, index, value)` features.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleSet {
    /// One label per sample: 1/0 for clicks (libsvm's −1 is read as 0), or a grade.
    pub labels: Vec<f32>,
    /// One group per sample (e.g. the user, for GAUC), or empty when there are none.
    pub groups: Vec<u32>,
    /// One display position per sample (1 = top) where the samples are logged
    /// impressions, or empty: what position-bias correction learns the examination
    /// propensities from.
    pub positions: Vec<u32>,
    /// `(sample, feature index)` of values that were present but missing (NaN or
    /// infinite in a text file), sorted by sample. They are not among the features —
    /// linear models skip them, as absent — but trees send them down their own branch.
    pub missing: Vec<(u32, u32)>,
    /// `offsets[i]..offsets[i+1]` are sample `i`'s features; `offsets[0] = 0`.
    pub offsets: Vec<u64>,
    /// Field of each feature (0 for libsvm input, which has no fields).
    pub fields: Vec<u32>,
    /// Global index of each feature, in `0..n_features`.
    pub indices: Vec<u32>,
    /// Value of each feature (1 for one-hot).
    pub values: Vec<f32>,
    /// One more than the largest feature index any model must hold.
    pub n_features: u32,
    /// One more than the largest field.
    pub n_fields: u32,
    /// The fields as the pipeline that made the samples lays them out; `None` for samples
    /// read from libsvm/libffm files. Models that relate fields to each other read it
    /// (DIN: which sequence takes which candidate field's vocabulary).
    pub schema: Option<std::sync::Arc<Vec<FieldInfo>>>,
}

/// One field of a [`SampleSet`], as its pipeline lays it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    /// The spec's name of the field.
    pub name: String,
    /// A `sequence` field: one feature per position, in order.
    pub sequence: bool,
    /// Its first global index.
    pub offset: u32,
    /// The field whose vocabulary it takes (`vocab_from`): the same token is at the same
    /// distance from both fields' offsets.
    pub vocab_of: Option<u32>,
}

/// One sample, borrowed from a [`SampleSet`].
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The label.
    pub label: f32,
    /// Fields of the features.
    pub fields: &'a [u32],
    /// Feature indices.
    pub indices: &'a [u32],
    /// Feature values.
    pub values: &'a [f32],
}

impl SampleSet {
    /// An empty set.
    pub fn new() -> Self {
        SampleSet {
            offsets: vec![0],
            ..Default::default()
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of stored features over all samples.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Sample `i`.
    #[inline]
    pub fn row(&self, i: usize) -> Row<'_> {
        let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        Row {
            label: self.labels[i],
            fields: &self.fields[a..b],
            indices: &self.indices[a..b],
            values: &self.values[a..b],
        }
    }

    /// Appends a sample; `group` must be given for every sample or for none.
    pub fn push(&mut self, label: f32, group: Option<u32>, features: &[(u32, u32, f32)]) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.labels.push(label);
        if let Some(g) = group {
            self.groups.push(g);
        }
        for &(f, i, v) in features {
            self.fields.push(f);
            self.indices.push(i);
            self.values.push(v);
            self.n_features = self.n_features.max(i + 1);
            self.n_fields = self.n_fields.max(f + 1);
        }
        self.offsets.push(self.indices.len() as u64);
    }

    /// Appends all samples of `other` (used to join parts parsed in parallel).
    pub fn extend(&mut self, other: &SampleSet) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let rows = self.len() as u32;
        self.missing
            .extend(other.missing.iter().map(|&(r, f)| (r + rows, f)));
        let base = self.indices.len() as u64;
        self.labels.extend_from_slice(&other.labels);
        self.groups.extend_from_slice(&other.groups);
        self.positions.extend_from_slice(&other.positions);
        self.offsets
            .extend(other.offsets.iter().skip(1).map(|o| o + base));
        self.fields.extend_from_slice(&other.fields);
        self.indices.extend_from_slice(&other.indices);
        self.values.extend_from_slice(&other.values);
        self.n_features = self.n_features.max(other.n_features);
        self.n_fields = self.n_fields.max(other.n_fields);
        if self.schema.is_none() {
            self.schema.clone_from(&other.schema);
        }
    }

    /// The samples at `rows`, in that order (for splits and shuffles).
    pub fn select(&self, rows: &[usize]) -> SampleSet {
        let mut out = SampleSet::new();
        out.n_features = self.n_features;
        out.n_fields = self.n_fields;
        out.schema.clone_from(&self.schema);
        for &i in rows {
            let r = self.row(i);
            out.labels.push(r.label);
            if !self.groups.is_empty() {
                out.groups.push(self.groups[i]);
            }
            if !self.positions.is_empty() {
                out.positions.push(self.positions[i]);
            }
            let k = out.labels.len() as u32 - 1;
            out.missing
                .extend(self.missing_of(i).iter().map(|&(_, f)| (k, f)));
            out.fields.extend_from_slice(r.fields);
            out.indices.extend_from_slice(r.indices);
            out.values.extend_from_slice(r.values);
            out.offsets.push(out.indices.len() as u64);
        }
        out
    }

    /// The missing values of sample `i`: its slice of [`SampleSet::missing`].
    pub fn missing_of(&self, i: usize) -> &[(u32, u32)] {
        if self.missing.is_empty() {
            return &[];
        }
        let i = i as u32;
        let a = self.missing.partition_point(|&(r, _)| r < i);
        let b = a + self.missing[a..].partition_point(|&(r, _)| r == i);
        &self.missing[a..b]
    }

    /// Share of samples with a positive label (> 0).
    pub fn positive_rate(&self) -> f64 {
        if self.labels.is_empty() {
            return 0.0;
        }
        self.labels.iter().filter(|&&l| l > 0.0).count() as f64 / self.labels.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_row_extend_select() {
        let mut a = SampleSet::new();
        a.push(1.0, Some(7), &[(0, 3, 1.0), (2, 9, 0.5)]);
        a.push(0.0, Some(8), &[(1, 4, 1.0)]);
        assert_eq!((a.len(), a.nnz(), a.n_features, a.n_fields), (2, 3, 10, 3));
        assert_eq!(a.row(1).indices, &[4]);
        let mut b = SampleSet::new();
        b.push(1.0, Some(9), &[(0, 11, 2.0)]);
        a.extend(&b);
        assert_eq!(a.offsets, vec![0, 2, 3, 4]);
        assert_eq!(a.n_features, 12);
        a.positions = vec![3, 1, 2];
        a.missing = vec![(0, 5), (2, 1), (2, 4)];
        assert_eq!(a.missing_of(2), &[(2, 1), (2, 4)]);
        assert!(a.missing_of(1).is_empty());
        let s = a.select(&[2, 0]);
        assert_eq!(s.positions, vec![2, 3]);
        assert_eq!(s.missing, vec![(0, 1), (0, 4), (1, 5)]);
        let mut joined = s.clone();
        joined.extend(&s);
        assert_eq!(joined.missing[3..], [(2, 1), (2, 4), (3, 5)]);
        assert_eq!(s.labels, vec![1.0, 1.0]);
        assert_eq!(s.groups, vec![9, 7]);
        assert_eq!(s.row(1).values, &[1.0, 0.5]);
        assert!((a.positive_rate() - 2.0 / 3.0).abs() < 1e-12);
    }
}
