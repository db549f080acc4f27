//! The fitted pipeline: turns a [`RawRecord`] into `(field, index, value)` features, the
//! same way in training and in serving. It is plain data (vocabularies, statistics,
//! index ranges) saved as JSON beside the model; nothing in it depends on the process
//! (no seeded hashers, no float text that reads back differently).
//!
//! Layout: field `f` (the spec's `f`-th `[[field]]`) owns the indices
//! `offset_f .. offset_f + size_f` of one global index space, in declaration order:
//!
//! * vocabulary fields: `+0` is the out-of-vocabulary bucket, `+1 ..= +V` the vocabulary
//!   (most frequent token first);
//! * hashed fields: `+0 .. +B`, the hash buckets;
//! * numeric fields: `+0` the value, or `+0 .. +K` one bucket per quantile bucket;
//! * then, with `missing = "indicator"`, one last index that means "missing".

use std::borrow::Cow;
use std::ops::Range;
use std::path::Path;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{FeatureError, Result};
use crate::raw::{RawRecord, RawValue};
use crate::record;
use crate::sample::{FieldInfo, SampleSet};
use crate::spec::FieldKind;
use crate::stable::{exact, exact_vec, finite, hash64, num_token};

/// Name written into saved pipelines, checked on load.
const FORMAT: &str = "funnel-features pipeline";
/// Version of the saved layout; bump on any change that alters features.
const VERSION: u32 = 1;
/// At most this many token combinations per cross (a cross of long lists would otherwise
/// emit their full product); the first ones in list order are kept.
pub(crate) const MAX_CROSS: usize = 1024;
/// Joins the parts of a cross token; a control character no id or category contains.
const CROSS_SEP: char = '\u{1f}';

/// A fitted feature pipeline. Build one with [`FeatureSpec::fit`], keep it with
/// [`save`](Pipeline::save), and use [`transform`](Pipeline::transform) everywhere.
///
/// [`FeatureSpec::fit`]: crate::FeatureSpec::fit
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pipeline {
    format: String,
    version: u32,
    pub(crate) fields: Vec<Field>,
    n_features: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) kind: FieldKind,
    pub(crate) offset: u32,
    pub(crate) size: u32,
    pub(crate) encoder: Encoder,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Encoder {
    Tokens(TokenEncoder),
    Numeric(NumericEncoder),
}

/// Categorical, multi-hot, sequence and cross fields: tokens mapped to indices.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TokenEncoder {
    pub(crate) source: Source,
    /// Several values per record (value `count/sqrt(n)` each) rather than one.
    pub(crate) list: bool,
    /// Keep only the last `max_len` tokens (sequences).
    pub(crate) max_len: Option<usize>,
    pub(crate) codes: Codes,
    pub(crate) missing: TokenMissing,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Source {
    Key(String),
    Cross(Vec<Part>),
}

/// One part of a cross: a raw key's tokens, or the quantile bucket of a numeric field.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Part {
    Key(String),
    Bucket(usize),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Codes {
    Vocab(Vocab),
    /// The vocabulary of another field (by position); this field keeps its own range.
    SharedVocab(usize),
    Hash(u32),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TokenMissing {
    Oov,
    Skip,
    Indicator,
    Fill(String),
}

/// Tokens in index order; saved as the list only, the lookup table is rebuilt on load.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub(crate) struct Vocab {
    pub(crate) tokens: Vec<String>,
    index: FxHashMap<String, u32>,
}

impl From<Vec<String>> for Vocab {
    fn from(tokens: Vec<String>) -> Self {
        let index = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Vocab { tokens, index }
    }
}

impl From<Vocab> for Vec<String> {
    fn from(v: Vocab) -> Self {
        v.tokens
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NumericEncoder {
    pub(crate) key: String,
    pub(crate) steps: Vec<Step>,
    pub(crate) output: NumOutput,
    pub(crate) missing: NumMissing,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Step {
    Log1p,
    Standardize {
        #[serde(with = "exact")]
        mean: f64,
        #[serde(with = "exact")]
        std: f64,
    },
    Minmax {
        #[serde(with = "exact")]
        min: f64,
        #[serde(with = "exact")]
        max: f64,
    },
    Clip {
        #[serde(with = "exact")]
        lo: f64,
        #[serde(with = "exact")]
        hi: f64,
    },
}

impl Step {
    /// One transform step; finite in, finite out.
    #[inline]
    pub(crate) fn apply(self, x: f64) -> f64 {
        finite(match self {
            Step::Log1p => x.signum() * x.abs().ln_1p(),
            Step::Standardize { mean, std } => (x - mean) / std,
            Step::Minmax { min, max } => {
                let range = max - min;
                if range > 0.0 && range.is_finite() {
                    (x - min) / range
                } else {
                    0.0
                }
            }
            Step::Clip { lo, hi } => x.clamp(lo, hi),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NumOutput {
    /// One feature carrying the transformed value.
    Value,
    /// One-hot over `edges.len() + 1` buckets; bucket = number of edges `<= x`.
    Buckets(#[serde(with = "exact_vec")] Vec<f64>),
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NumMissing {
    Zero,
    Skip,
    Indicator,
    /// A raw value, run through the transforms like any other.
    Fill(#[serde(with = "exact")] f64),
}

/// The number in a raw value: numbers as given, tokens parsed (ml-100k's `age:token`),
/// a one-token list like a token. NaN, ±inf and text that is not a number are missing.
pub(crate) fn raw_number(v: &RawValue) -> Option<f64> {
    let x = match v {
        RawValue::Num(x) => *x,
        RawValue::Token(s) => s.trim().parse().ok()?,
        RawValue::Tokens(t) if t.len() == 1 => t[0].trim().parse().ok()?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

/// The tokens of a raw value. Empty strings are no token. A single-valued field given a
/// list reads it as one token, its items joined by spaces (a genre combination).
fn raw_tokens<'r>(v: &'r RawValue, list: bool, out: &mut Vec<Cow<'r, str>>) {
    match v {
        RawValue::Missing => {}
        RawValue::Num(x) => out.extend(num_token(*x).map(Cow::Owned)),
        RawValue::Token(s) if !s.is_empty() => out.push(Cow::Borrowed(s)),
        RawValue::Token(_) => {}
        RawValue::Tokens(ts) => {
            let mut items = ts.iter().filter(|t| !t.is_empty());
            if list {
                out.extend(items.map(|t| Cow::Borrowed(t.as_str())));
            } else {
                let first = items.next();
                match (first, items.next()) {
                    (None, _) => {}
                    (Some(t), None) => out.push(Cow::Borrowed(t)),
                    (Some(_), Some(_)) => out.push(Cow::Owned(
                        ts.iter()
                            .filter(|t| !t.is_empty())
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                            .join(" "),
                    )),
                }
            }
        }
    }
}

impl NumericEncoder {
    #[inline]
    fn apply(&self, x: f64) -> f64 {
        self.steps.iter().fold(x, |x, s| s.apply(x))
    }

    /// The quantile bucket of the record's value, if it has one (used by crosses).
    pub(crate) fn bucket(&self, rec: &RawRecord) -> Option<usize> {
        match &self.output {
            NumOutput::Buckets(edges) => {
                let y = self.apply(raw_number(rec.get(&self.key))?);
                Some(edges.partition_point(|&e| e <= y))
            }
            NumOutput::Value => None,
        }
    }

    /// Number of indices before the missing indicator.
    pub(crate) fn base_size(&self) -> u32 {
        match &self.output {
            NumOutput::Value => 1,
            NumOutput::Buckets(edges) => edges.len() as u32 + 1,
        }
    }

    fn encode(&self, f: u32, field: &Field, rec: &RawRecord, out: &mut Vec<(u32, u32, f32)>) {
        let y = match raw_number(rec.get(&self.key)) {
            Some(x) => self.apply(x),
            None => match self.missing {
                NumMissing::Zero => 0.0,
                NumMissing::Skip => return,
                NumMissing::Indicator => {
                    out.push((f, field.offset + field.size - 1, 1.0));
                    return;
                }
                NumMissing::Fill(x) => self.apply(x),
            },
        };
        match &self.output {
            // Clamped into f32's range: a finite f64 can still overflow f32.
            NumOutput::Value => out.push((
                f,
                field.offset,
                y.clamp(-f64::from(f32::MAX), f64::from(f32::MAX)) as f32,
            )),
            NumOutput::Buckets(edges) => {
                let b = edges.partition_point(|&e| e <= y) as u32;
                out.push((f, field.offset + b, 1.0));
            }
        }
    }
}

impl TokenEncoder {
    /// The record's tokens for this field (after `max_len`), borrowing where it can.
    pub(crate) fn tokens<'r>(
        &self,
        fields: &[Field],
        rec: &'r RawRecord,
        out: &mut Vec<Cow<'r, str>>,
    ) {
        out.clear();
        match &self.source {
            Source::Key(k) => match rec.get(k) {
                // No item of the history has the attribute: every position lacks it, so
                // the list stays as long as `hist` (see `record::set_history`).
                RawValue::Missing if k.starts_with(record::HIST_PREFIX) => {
                    if let RawValue::Tokens(h) = rec.get(record::HIST) {
                        out.extend(h.iter().map(|_| Cow::Borrowed(record::NO_VALUE)));
                    }
                }
                v => raw_tokens(v, self.list, out),
            },
            Source::Cross(parts) => cross_tokens(fields, parts, rec, out),
        }
        if let Some(m) = self.max_len {
            if out.len() > m {
                out.drain(..out.len() - m);
            }
        }
    }

    fn vocab<'a>(&'a self, fields: &'a [Field]) -> Option<&'a Vocab> {
        match &self.codes {
            Codes::Vocab(v) => Some(v),
            Codes::SharedVocab(f) => match &fields[*f].encoder {
                Encoder::Tokens(TokenEncoder {
                    codes: Codes::Vocab(v),
                    ..
                }) => Some(v),
                _ => None,
            },
            Codes::Hash(_) => None,
        }
    }

    /// Number of indices before the missing indicator.
    pub(crate) fn base_size(&self, fields: &[Field]) -> u32 {
        match &self.codes {
            Codes::Hash(b) => *b,
            _ => self.vocab(fields).map_or(0, |v| v.tokens.len() as u32) + 1,
        }
    }

    #[inline]
    fn local(&self, vocab: Option<&Vocab>, token: &str) -> u32 {
        match (&self.codes, vocab) {
            (Codes::Hash(b), _) => (hash64(token.as_bytes()) % u64::from(*b)) as u32,
            (_, Some(v)) => v.index.get(token).map_or(0, |&i| i + 1),
            (_, None) => 0,
        }
    }

    fn encode(
        &self,
        f: u32,
        field: &Field,
        fields: &[Field],
        rec: &RawRecord,
        out: &mut Vec<(u32, u32, f32)>,
    ) {
        let mut tokens = Vec::new();
        self.tokens(fields, rec, &mut tokens);
        if tokens.is_empty() {
            match &self.missing {
                TokenMissing::Oov => out.push((f, field.offset, 1.0)),
                TokenMissing::Skip => {}
                TokenMissing::Indicator => out.push((f, field.offset + field.size - 1, 1.0)),
                TokenMissing::Fill(t) => tokens.push(Cow::Borrowed(t)),
            }
            if tokens.is_empty() {
                return;
            }
        }
        let vocab = self.vocab(fields);
        let mut locals: Vec<u32> = tokens.iter().map(|t| self.local(vocab, t)).collect();
        // A list's values are weighted 1/sqrt(n): its field has norm ~1 whatever its
        // length, so long histories do not drown the other fields.
        let scale = 1.0 / (locals.len() as f64).sqrt();
        if field.kind == FieldKind::Sequence {
            // Positions in order, repeats kept: `hist` and its `hist.<column>` lists stay
            // aligned, one feature per position (a pooled sum is the same as by counts).
            for l in locals {
                out.push((f, field.offset + l, scale as f32));
            }
            return;
        }
        locals.sort_unstable();
        // Each distinct index once, weighted count/sqrt(n).
        let mut k = 0;
        while k < locals.len() {
            let run = locals[k..].iter().take_while(|&&l| l == locals[k]).count();
            out.push((f, field.offset + locals[k], (run as f64 * scale) as f32));
            k += run;
        }
    }
}

/// The combinations of the parts' tokens, in list order, at most [`MAX_CROSS`]. A part
/// with no token makes the whole cross missing.
fn cross_tokens<'r>(
    fields: &[Field],
    parts: &[Part],
    rec: &'r RawRecord,
    out: &mut Vec<Cow<'r, str>>,
) {
    let mut combos: Vec<String> = vec![String::new()];
    let mut part_tokens: Vec<Cow<'r, str>> = Vec::new();
    for (p, part) in parts.iter().enumerate() {
        part_tokens.clear();
        match part {
            Part::Key(k) => raw_tokens(rec.get(k), true, &mut part_tokens),
            Part::Bucket(f) => {
                if let Encoder::Numeric(n) = &fields[*f].encoder {
                    part_tokens.extend(n.bucket(rec).map(|b| Cow::Owned(format!("#{b}"))));
                }
            }
        }
        if part_tokens.is_empty() {
            return;
        }
        let mut next = Vec::with_capacity((combos.len() * part_tokens.len()).min(MAX_CROSS));
        'outer: for c in &combos {
            for t in &part_tokens {
                if next.len() == MAX_CROSS {
                    break 'outer;
                }
                let mut s = String::with_capacity(c.len() + t.len() + 1);
                s.push_str(c);
                if p > 0 {
                    s.push(CROSS_SEP);
                }
                s.push_str(t);
                next.push(s);
            }
        }
        combos = next;
    }
    out.extend(combos.into_iter().map(Cow::Owned));
}

impl Pipeline {
    pub(crate) fn from_fields(mut fields: Vec<Field>) -> Result<Pipeline> {
        let mut offset = 0u64;
        for i in 0..fields.len() {
            let base = match &fields[i].encoder {
                Encoder::Tokens(t) => t.base_size(&fields),
                Encoder::Numeric(n) => n.base_size(),
            };
            let indicator = match &fields[i].encoder {
                Encoder::Tokens(t) => matches!(t.missing, TokenMissing::Indicator),
                Encoder::Numeric(n) => matches!(n.missing, NumMissing::Indicator),
            };
            let size = u64::from(base) + u64::from(indicator);
            if offset + size > u64::from(u32::MAX) {
                return Err(FeatureError::Invalid(format!(
                    "field `{}`: the features need more than 2^32 indices; use fewer hash_buckets or a larger min_count",
                    fields[i].name
                )));
            }
            fields[i].offset = offset as u32;
            fields[i].size = size as u32;
            offset += size;
        }
        Ok(Pipeline {
            format: FORMAT.into(),
            version: VERSION,
            fields,
            n_features: offset as u32,
        })
    }

    /// Size of the global index space: every index a model must hold.
    pub fn n_features(&self) -> u32 {
        self.n_features
    }

    /// Number of fields (field ids are `0..n_fields`, in spec order).
    pub fn n_fields(&self) -> u32 {
        self.fields.len() as u32
    }

    /// Field names in field-id order.
    pub fn field_names(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.name.as_str()).collect()
    }

    /// Every raw key the pipeline reads, each once, in field order (a server checks a
    /// model trained elsewhere against the keys its records have).
    pub fn input_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for f in 0..self.fields.len() {
            for k in self.field_keys(f) {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        keys
    }

    /// The field id of a name.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The kind of field `f`.
    pub fn field_kind(&self, f: usize) -> FieldKind {
        self.fields[f].kind
    }

    /// The global indices field `f` owns.
    pub fn field_range(&self, f: usize) -> Range<u32> {
        let x = &self.fields[f];
        x.offset..x.offset + x.size
    }

    /// The vocabulary of field `f` (its own or the one it shares), most frequent first:
    /// token `k` has index `field_range(f).start + 1 + k`. `None` for hashed and numeric
    /// fields. Two fields sharing a vocabulary give a token the same position in their
    /// ranges, so a model may tie their embeddings.
    pub fn vocabulary(&self, f: usize) -> Option<&[String]> {
        match &self.fields[f].encoder {
            Encoder::Tokens(t) => t.vocab(&self.fields).map(|v| v.tokens.as_slice()),
            Encoder::Numeric(_) => None,
        }
    }

    /// The features of one raw record, replacing the contents of `out`: `(field, global
    /// index, value)` in field order, indices ascending within a field. Every value is
    /// finite. Deterministic: the same record gives the same bits in any process.
    pub fn transform(&self, rec: &RawRecord, out: &mut Vec<(u32, u32, f32)>) {
        out.clear();
        for f in 0..self.fields.len() {
            self.transform_field(f, rec, out);
        }
    }

    /// Appends the features of field `f` alone — what [`transform`](Pipeline::transform)
    /// writes for it. A server scoring many items for one user computes the fields that
    /// read no item key once and splices them in ([`field_keys`](Pipeline::field_keys)
    /// says which keys a field reads).
    pub fn transform_field(&self, f: usize, rec: &RawRecord, out: &mut Vec<(u32, u32, f32)>) {
        let field = &self.fields[f];
        match &field.encoder {
            Encoder::Tokens(t) => t.encode(f as u32, field, &self.fields, rec, out),
            Encoder::Numeric(n) => n.encode(f as u32, field, rec, out),
        }
    }

    /// The raw keys field `f` reads (a cross: each of its parts').
    pub fn field_keys(&self, f: usize) -> Vec<&str> {
        let mut keys = Vec::new();
        match &self.fields[f].encoder {
            Encoder::Numeric(n) => keys.push(n.key.as_str()),
            Encoder::Tokens(t) => match &t.source {
                Source::Key(k) => keys.push(k.as_str()),
                Source::Cross(parts) => {
                    for p in parts {
                        match p {
                            Part::Key(k) => keys.push(k.as_str()),
                            Part::Bucket(g) => keys.extend(self.field_keys(*g)),
                        }
                    }
                }
            },
        }
        keys
    }

    /// Transforms many records (in parallel) into a [`SampleSet`] whose `n_features` and
    /// `n_fields` are the pipeline's. `groups` is empty or has one entry per record.
    ///
    /// # Panics
    /// When `labels` (or a non-empty `groups`) does not have one entry per record.
    pub fn transform_set(
        &self,
        records: &[RawRecord],
        labels: &[f32],
        groups: &[u32],
    ) -> SampleSet {
        assert_eq!(records.len(), labels.len(), "one label per record");
        assert!(
            groups.is_empty() || groups.len() == records.len(),
            "one group per record, or none"
        );
        const CHUNK: usize = 4096;
        let parts: Vec<SampleSet> = records
            .par_chunks(CHUNK)
            .enumerate()
            .map(|(c, recs)| {
                let mut s = SampleSet::new();
                let mut buf = Vec::new();
                for (k, r) in recs.iter().enumerate() {
                    let i = c * CHUNK + k;
                    self.transform(r, &mut buf);
                    s.push(labels[i], groups.get(i).copied(), &buf);
                }
                s
            })
            .collect();
        let mut out = SampleSet::new();
        for p in &parts {
            out.extend(p);
        }
        out.n_features = self.n_features;
        out.n_fields = self.n_fields();
        out.schema = Some(std::sync::Arc::new(self.schema()));
        out
    }

    /// The fields' layout, as [`SampleSet::schema`] carries it.
    pub fn schema(&self) -> Vec<FieldInfo> {
        self.fields
            .iter()
            .map(|f| FieldInfo {
                name: f.name.clone(),
                sequence: f.kind == FieldKind::Sequence,
                offset: f.offset,
                vocab_of: match &f.encoder {
                    Encoder::Tokens(TokenEncoder {
                        codes: Codes::SharedVocab(g),
                        ..
                    }) => Some(*g as u32),
                    _ => None,
                },
            })
            .collect()
    }

    /// The pipeline as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a pipeline always serialises")
    }

    /// Reads a pipeline from JSON.
    pub fn from_json(text: &str) -> Result<Pipeline> {
        Self::from_json_at(text, Path::new("<memory>"))
    }

    fn from_json_at(text: &str, path: &Path) -> Result<Pipeline> {
        let bad = |message: String| FeatureError::Pipeline {
            path: path.to_path_buf(),
            message,
        };
        let p: Pipeline = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if p.format != FORMAT || p.version != VERSION {
            return Err(bad(format!(
                "format `{}` version {}; this build reads `{FORMAT}` version {VERSION}",
                p.format, p.version
            )));
        }
        // A hand-edited or truncated file must not index out of range when serving.
        let again = Pipeline::from_fields(p.fields.clone())?;
        let layout_ok = again.n_features == p.n_features
            && again
                .fields
                .iter()
                .zip(&p.fields)
                .all(|(a, b)| a.offset == b.offset && a.size == b.size);
        let refs_ok = p.fields.iter().all(|f| match &f.encoder {
            Encoder::Tokens(t) => {
                let shared_ok = match t.codes {
                    Codes::SharedVocab(s) => matches!(
                        p.fields.get(s).map(|g| &g.encoder),
                        Some(Encoder::Tokens(TokenEncoder {
                            codes: Codes::Vocab(_),
                            ..
                        }))
                    ),
                    Codes::Hash(b) => b > 0,
                    Codes::Vocab(_) => true,
                };
                let parts_ok = match &t.source {
                    Source::Cross(parts) => parts.iter().all(|q| match q {
                        Part::Bucket(s) => {
                            matches!(
                                p.fields.get(*s).map(|g| &g.encoder),
                                Some(Encoder::Numeric(_))
                            )
                        }
                        Part::Key(_) => true,
                    }),
                    Source::Key(_) => true,
                };
                shared_ok && parts_ok
            }
            // `f64::clamp` panics on reversed bounds: refuse them here, not when serving.
            Encoder::Numeric(n) => n.steps.iter().all(|s| match *s {
                Step::Clip { lo, hi } => lo <= hi,
                _ => true,
            }),
        });
        if !layout_ok || !refs_ok {
            return Err(bad(
                "field layout, references or clip bounds are inconsistent".into(),
            ));
        }
        Ok(p)
    }

    /// Writes the pipeline as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json()).map_err(|e| FeatureError::io(path, e))
    }

    /// Reads a pipeline written by [`save`](Pipeline::save).
    pub fn load(path: &Path) -> Result<Pipeline> {
        let text = std::fs::read_to_string(path).map_err(|e| FeatureError::io(path, e))?;
        Self::from_json_at(&text, path)
    }
}
