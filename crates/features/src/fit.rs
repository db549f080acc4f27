//! Fitting a [`FeatureSpec`] on training records: vocabularies (with `min_count`),
//! means and standard deviations, minima and maxima, quantile edges. Only the records
//! given are looked at — pass the training part, never the test part.

use std::borrow::Cow;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::Result;
use crate::pipeline::{
    raw_number, Codes, Encoder, Field, NumMissing, NumOutput, NumericEncoder, Part, Pipeline,
    Source, Step, TokenEncoder, TokenMissing, Vocab,
};
use crate::raw::RawRecord;
use crate::spec::{FeatureSpec, FieldKind, FieldSpec, FillValue, MissingPolicy, Transform};
use crate::stable::{finite, num_token};

impl FeatureSpec {
    /// Fits the spec's statistics on `records` (the training records only) and returns the
    /// pipeline that turns any record into features.
    pub fn fit<'a, I>(&self, records: I) -> Result<Pipeline>
    where
        I: IntoIterator<Item = &'a RawRecord>,
    {
        let recs: Vec<&RawRecord> = records.into_iter().collect();
        // Numeric fields first: a cross may read a numeric field's buckets.
        let mut fields: Vec<Field> = self
            .fields
            .iter()
            .map(|f| Field {
                name: f.name.clone(),
                kind: f.kind,
                offset: 0,
                size: 0,
                encoder: match f.kind {
                    FieldKind::Numeric => Encoder::Numeric(fit_numeric(f, &recs)),
                    _ => Encoder::Tokens(self.token_encoder(f)),
                },
            })
            .collect();
        // Then every vocabulary, each field counted on its own thread.
        let vocabs: Vec<Option<Vocab>> = (0..fields.len())
            .into_par_iter()
            .map(|i| match &fields[i].encoder {
                Encoder::Tokens(t) if matches!(t.codes, Codes::Vocab(_)) => Some(count_vocab(
                    t,
                    &fields,
                    &recs,
                    self.fields[i].min_count.unwrap_or(1),
                )),
                _ => None,
            })
            .collect();
        for (field, vocab) in fields.iter_mut().zip(vocabs) {
            if let (Encoder::Tokens(t), Some(v)) = (&mut field.encoder, vocab) {
                t.codes = Codes::Vocab(v);
            }
        }
        Pipeline::from_fields(fields)
    }

    fn token_encoder(&self, f: &FieldSpec) -> TokenEncoder {
        let source = match f.kind {
            FieldKind::Cross => Source::Cross(
                f.of.iter()
                    .map(|name| match self.field(name).map(|j| &self.fields[j]) {
                        Some(g) if g.kind == FieldKind::Numeric && g.buckets.is_some() => {
                            Part::Bucket(self.field(name).unwrap_or_default())
                        }
                        Some(g) => Part::Key(g.input().to_string()),
                        None => Part::Key(name.clone()),
                    })
                    .collect(),
            ),
            _ => Source::Key(f.input().to_string()),
        };
        let codes = match (f.hash_buckets, &f.vocab_from) {
            (Some(b), _) => Codes::Hash(b),
            (None, Some(src)) => Codes::SharedVocab(self.field(src).unwrap_or_default()),
            (None, None) => Codes::Vocab(Vocab::default()),
        };
        let missing = match f.missing_policy() {
            MissingPolicy::Oov => TokenMissing::Oov,
            MissingPolicy::Indicator => TokenMissing::Indicator,
            MissingPolicy::Fill => TokenMissing::Fill(match &f.fill {
                Some(FillValue::Token(t)) => t.clone(),
                Some(FillValue::Num(x)) => num_token(*x).unwrap_or_default(),
                None => String::new(),
            }),
            // The spec check allows nothing else for token fields.
            MissingPolicy::Skip | MissingPolicy::Zero => TokenMissing::Skip,
        };
        TokenEncoder {
            source,
            list: f.kind != FieldKind::Categorical,
            max_len: f.max_len,
            codes,
            missing,
        }
    }
}

/// Runs the transforms over the training values, fitting each step on the output of the
/// steps before it, then the quantile edges on the final values.
fn fit_numeric(f: &FieldSpec, recs: &[&RawRecord]) -> NumericEncoder {
    let key = f.input();
    let mut values: Vec<f64> = recs.iter().filter_map(|r| raw_number(r.get(key))).collect();
    let mut steps = Vec::with_capacity(f.transforms.len());
    for t in &f.transforms {
        let step = match t {
            Transform::Log1p => Step::Log1p,
            Transform::Standardize => {
                let (mean, std) = mean_std(&values);
                Step::Standardize { mean, std }
            }
            Transform::Minmax => {
                let (min, max) = values
                    .iter()
                    .fold(None, |acc: Option<(f64, f64)>, &x| {
                        Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
                    })
                    .unwrap_or((0.0, 0.0));
                Step::Minmax { min, max }
            }
            Transform::Clip => {
                let [lo, hi] = f.clip.unwrap_or([f64::MIN, f64::MAX]);
                Step::Clip { lo, hi }
            }
        };
        for x in &mut values {
            *x = step.apply(*x);
        }
        steps.push(step);
    }
    let output = match f.buckets {
        Some(n) => NumOutput::Buckets(quantile_edges(values, n)),
        None => NumOutput::Value,
    };
    let missing = match f.missing_policy() {
        MissingPolicy::Skip => NumMissing::Skip,
        MissingPolicy::Indicator => NumMissing::Indicator,
        MissingPolicy::Fill => NumMissing::Fill(match f.fill {
            Some(FillValue::Num(x)) => x,
            _ => 0.0,
        }),
        // The spec check allows nothing else for numeric fields.
        MissingPolicy::Zero | MissingPolicy::Oov => NumMissing::Zero,
    };
    NumericEncoder {
        key: key.to_string(),
        steps,
        output,
        missing,
    }
}

/// Population mean and standard deviation (two passes, in record order, so the result
/// is the same on every run). A constant or empty column gets std 1: it standardises to 0.
pub(crate) fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 1.0);
    }
    let n = values.len() as f64;
    let mean = finite(values.iter().sum::<f64>() / n);
    let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let std = var.sqrt();
    (
        mean,
        if std > 0.0 && std.is_finite() {
            std
        } else {
            1.0
        },
    )
}

/// Edges of `n` equal-count buckets: the values at ranks `k·len/n`, `k = 1..n`, without
/// repeats and without an edge at the minimum (which would leave bucket 0 empty). Heavy
/// ties give fewer buckets than asked for.
pub(crate) fn quantile_edges(mut values: Vec<f64>, n: u32) -> Vec<f64> {
    if values.is_empty() {
        return Vec::new();
    }
    values.sort_unstable_by(f64::total_cmp);
    let len = values.len();
    let mut edges: Vec<f64> = (1..n as usize)
        .map(|k| values[k * len / n as usize])
        .filter(|&e| e > values[0])
        .collect();
    edges.dedup();
    edges
}

/// Token counts over the records, including fill tokens used for missing values; the
/// vocabulary keeps tokens seen at least `min_count` times, most frequent first (ties by
/// token), so the order never depends on hashing.
fn count_vocab(t: &TokenEncoder, fields: &[Field], recs: &[&RawRecord], min_count: u64) -> Vocab {
    let mut counts: FxHashMap<String, u64> = FxHashMap::default();
    let mut tokens: Vec<Cow<'_, str>> = Vec::new();
    for r in recs {
        t.tokens(fields, r, &mut tokens);
        if tokens.is_empty() {
            if let TokenMissing::Fill(f) = &t.missing {
                tokens.push(Cow::Borrowed(f));
            }
        }
        for tok in &tokens {
            match counts.get_mut(tok.as_ref()) {
                Some(c) => *c += 1,
                None => {
                    counts.insert(tok.to_string(), 1);
                }
            }
        }
    }
    let mut kept: Vec<(String, u64)> = counts
        .into_iter()
        .filter(|&(_, c)| c >= min_count)
        .collect();
    kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Vocab::from(kept.into_iter().map(|(t, _)| t).collect::<Vec<_>>())
}
