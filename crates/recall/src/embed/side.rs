//! Side information for EGES (Wang et al., KDD 2018): each item's input vector is a
//! weighted mix of its own row and one row per attribute field (category, brand, shop…),
//! the weights a softmax over logits learned per item, all trained by the SGNS kernel
//! through [`Inputs`].
//!
//! A multi-valued field (genres, tags) contributes the mean of its tokens' rows. An item
//! the training never saw, with attributes only, gets the mix of its attribute rows under
//! the field weights averaged over trained items — its cold-start vector — so it lands
//! near the items that share its attributes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::hogwild::{atomics, floats, load_row, store_row};
use crate::mf::{axpy, dot, Factors};
use crate::ItemAttributes;

use super::sgns::{Inputs, Table};

/// Items' attributes as token ids per field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SideInfo {
    /// Field names, sorted.
    pub fields: Vec<String>,
    /// Token names (`field=value`), by token id.
    pub tokens: Vec<String>,
    /// Field of each token.
    pub token_field: Vec<u32>,
    /// Token ids of item `v`'s field `f`: `ids[starts[v·F + f]..starts[v·F + f + 1]]`.
    starts: Vec<u32>,
    ids: Vec<u32>,
    index: HashMap<String, u32>,
}

impl SideInfo {
    /// The attributes of items `0..n_items`, keeping the fields in `columns` (all when
    /// empty). Returns an error naming the columns that no item has.
    pub fn new(
        n_items: usize,
        attributes: &ItemAttributes,
        columns: &[String],
    ) -> Result<SideInfo, String> {
        let mut fields: Vec<String> = attributes
            .iter()
            .flatten()
            .map(|(f, _)| f.clone())
            .filter(|f| columns.is_empty() || columns.contains(f))
            .collect();
        fields.sort();
        fields.dedup();
        let missing: Vec<&str> = columns
            .iter()
            .filter(|c| !fields.contains(c))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let have: Vec<String> = {
                let mut h: Vec<String> = attributes
                    .iter()
                    .flatten()
                    .map(|(f, _)| f.clone())
                    .collect();
                h.sort();
                h.dedup();
                h
            };
            return Err(format!(
                "no item has the column(s) {}; the items have: {}",
                missing.join(", "),
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(", ")
                }
            ));
        }
        let mut s = SideInfo {
            fields,
            starts: vec![0],
            ..Default::default()
        };
        let f = s.fields.len();
        let mut per_field: Vec<Vec<u32>> = vec![Vec::new(); f];
        for v in 0..n_items {
            per_field.iter_mut().for_each(Vec::clear);
            for (field, value) in attributes.get(v).map_or(&[][..], |a| a.as_slice()) {
                let Ok(j) = s.fields.binary_search(field) else {
                    continue;
                };
                let t = s.intern(j as u32, field, value);
                if !per_field[j].contains(&t) {
                    per_field[j].push(t);
                }
            }
            for ids in &per_field {
                s.ids.extend_from_slice(ids);
                s.starts.push(s.ids.len() as u32);
            }
        }
        Ok(s)
    }

    fn intern(&mut self, field: u32, name: &str, value: &str) -> u32 {
        let key = format!("{name}={value}");
        if let Some(&t) = self.index.get(&key) {
            return t;
        }
        let t = self.tokens.len() as u32;
        self.index.insert(key.clone(), t);
        self.tokens.push(key);
        self.token_field.push(field);
        t
    }

    /// Rebuilds the lookup of a loaded model (no items).
    pub fn from_names(fields: Vec<String>, tokens: Vec<String>) -> SideInfo {
        let token_field = tokens
            .iter()
            .map(|t| {
                let name = t.split_once('=').map_or(t.as_str(), |(f, _)| f);
                fields.iter().position(|f| f == name).unwrap_or(0) as u32
            })
            .collect();
        let index = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        SideInfo {
            fields,
            tokens,
            token_field,
            starts: vec![0],
            ids: Vec::new(),
            index,
        }
    }

    /// Number of items described.
    pub fn n_items(&self) -> usize {
        (self.starts.len() - 1) / self.fields.len().max(1)
    }

    /// Token ids of item `v`'s field `f`.
    pub fn item_field(&self, v: usize, f: usize) -> &[u32] {
        let nf = self.fields.len();
        if v >= self.n_items() || nf == 0 {
            return &[];
        }
        let at = v * nf + f;
        &self.ids[self.starts[at] as usize..self.starts[at + 1] as usize]
    }

    /// Token ids per field of an attribute list (unknown fields and values are skipped).
    pub fn lookup(&self, attributes: &[(String, String)]) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); self.fields.len()];
        for (f, v) in attributes {
            if let Some(&t) = self.index.get(&format!("{f}={v}")) {
                let j = self.token_field[t as usize] as usize;
                if !out[j].contains(&t) {
                    out[j].push(t);
                }
            }
        }
        out
    }
}

/// EGES's trainable inputs: item rows, token rows and per-item logits over
/// `1 + fields` parts (part 0: the item's own row).
pub struct SideInputs<'a> {
    side: &'a SideInfo,
    items: Table,
    tokens: Table,
    logits: Vec<AtomicU32>,
    k: usize,
}

/// Per-thread buffers of [`SideInputs`]: the parts of the last loaded item and their
/// weights.
#[derive(Default)]
pub struct SideScratch {
    parts: Vec<f32>,
    logits: Vec<f32>,
    alpha: Vec<f32>,
    present: Vec<bool>,
    row: Vec<f32>,
}

impl<'a> SideInputs<'a> {
    /// Rows initialised as word2vec does, logits 0 (equal weights).
    pub fn new(side: &'a SideInfo, n_items: usize, k: usize, seed: u64) -> Self {
        SideInputs {
            side,
            items: Table::word2vec_init(n_items, k, seed),
            tokens: Table::word2vec_init(side.tokens.len(), k, seed ^ 0x005E_ED0F_70CE),
            logits: atomics(&vec![0.0; n_items * (1 + side.fields.len())]),
            k,
        }
    }

    fn parts(&self) -> usize {
        1 + self.side.fields.len()
    }

    /// Item rows, token rows and the softmax weights of every item.
    pub fn into_parts(self) -> (Factors, Factors, Factors) {
        let p = self.parts();
        let logits = floats(&self.logits);
        let n = logits.len() / p;
        let mut w = Factors::zeros(n, p);
        for v in 0..n {
            let present: Vec<bool> = (0..p)
                .map(|j| j == 0 || !self.side.item_field(v, j - 1).is_empty())
                .collect();
            softmax(&logits[v * p..(v + 1) * p], &present, w.row_mut(v));
        }
        (self.items.factors(), self.tokens.factors(), w)
    }
}

/// Softmax of `logits` over the `present` entries (the others get 0).
fn softmax(logits: &[f32], present: &[bool], out: &mut [f32]) {
    let max = logits
        .iter()
        .zip(present)
        .filter(|(_, &p)| p)
        .map(|(&l, _)| l)
        .fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for ((o, &l), &p) in out.iter_mut().zip(logits).zip(present) {
        *o = if p { (l - max).exp() } else { 0.0 };
        sum += *o;
    }
    if sum > 0.0 {
        out.iter_mut().for_each(|o| *o /= sum);
    }
}

/// Writes the mean of `rows` of `table` into `out` (zero when there is none).
fn mean_rows(table: &Table, rows: &[u32], out: &mut [f32], tmp: &mut [f32]) {
    out.fill(0.0);
    for &t in rows {
        load_row(table.row(t), tmp);
        axpy(1.0 / rows.len() as f32, tmp, out);
    }
}

impl Inputs for SideInputs<'_> {
    type Scratch = SideScratch;

    fn load(&self, w: u32, h: &mut [f32], s: &mut SideScratch) {
        let (k, p) = (self.k, self.parts());
        s.parts.resize(p * k, 0.0);
        s.alpha.resize(p, 0.0);
        s.present.resize(p, false);
        s.row.resize(k, 0.0);
        let v = w as usize;
        load_row(self.items.row(w), &mut s.parts[..k]);
        s.present[0] = true;
        for j in 1..p {
            let ids = self.side.item_field(v, j - 1);
            s.present[j] = !ids.is_empty();
            mean_rows(
                &self.tokens,
                ids,
                &mut s.parts[j * k..(j + 1) * k],
                &mut s.row,
            );
        }
        s.logits.clear();
        s.logits.extend(
            self.logits[v * p..(v + 1) * p]
                .iter()
                .map(|c| f32::from_bits(c.load(Relaxed))),
        );
        softmax(&s.logits, &s.present, &mut s.alpha);
        h.fill(0.0);
        for j in 0..p {
            if s.present[j] {
                axpy(s.alpha[j], &s.parts[j * k..(j + 1) * k], h);
            }
        }
    }

    fn update(&self, w: u32, h: &mut [f32], neu1e: &[f32], s: &mut SideScratch) {
        let (k, p) = (self.k, self.parts());
        let v = w as usize;
        // dH/da_j = α_j (x_j − H): each logit moves by α_j (x_j − H)·neu1e.
        let hd = dot(h, neu1e);
        for j in 0..p {
            if !s.present[j] {
                continue;
            }
            let x = &s.parts[j * k..(j + 1) * k];
            let cell = &self.logits[v * p + j];
            let g = s.alpha[j] * (dot(x, neu1e) - hd);
            let old = f32::from_bits(cell.load(Relaxed));
            cell.store((old + g).to_bits(), Relaxed);
        }
        // dH/dx_j = α_j: the item row and each token of a field (its 1/n share of the mean).
        let x0 = &mut s.parts[..k];
        axpy(s.alpha[0], neu1e, x0);
        store_row(self.items.row(w), x0);
        for j in 1..p {
            if !s.present[j] {
                continue;
            }
            let ids = self.side.item_field(v, j - 1);
            let a = s.alpha[j] / ids.len() as f32;
            for &t in ids {
                load_row(self.tokens.row(t), &mut s.row);
                axpy(a, neu1e, &mut s.row);
                store_row(self.tokens.row(t), &s.row);
            }
        }
    }
}

/// A trained EGES model's vectors of attribute tokens, for items the training never saw.
#[derive(Debug, Clone)]
pub struct ColdStart {
    /// Fields and tokens.
    pub side: SideInfo,
    /// Input row of each token.
    pub token_inputs: Factors,
    /// Mean output vector of the trained items carrying each token.
    pub token_outputs: Factors,
    /// Mean weight of each field (renormalised over an item's fields when mixing).
    pub field_weights: Vec<f32>,
}

impl ColdStart {
    /// The (input, output) vectors of an item with token ids `per_field`, or `None` when
    /// it has no known token.
    pub fn vectors(&self, per_field: &[Vec<u32>]) -> Option<(Vec<f32>, Vec<f32>)> {
        let k = self.token_inputs.k;
        let (mut q, mut o) = (vec![0.0f32; k], vec![0.0f32; k]);
        let mut total = 0.0f32;
        for (j, ids) in per_field.iter().enumerate() {
            if ids.is_empty() {
                continue;
            }
            let w = self.field_weights.get(j).copied().unwrap_or(0.0).max(1e-6);
            total += w;
            for &t in ids {
                axpy(
                    w / ids.len() as f32,
                    self.token_inputs.row(t as usize),
                    &mut q,
                );
                axpy(
                    w / ids.len() as f32,
                    self.token_outputs.row(t as usize),
                    &mut o,
                );
            }
        }
        if total == 0.0 {
            return None;
        }
        q.iter_mut().chain(o.iter_mut()).for_each(|x| *x /= total);
        Some((q, o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs() -> ItemAttributes {
        let a = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(f, v)| (f.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        vec![
            a(&[("brand", "b1"), ("genre", "g1"), ("genre", "g2")]),
            a(&[("genre", "g2")]),
            a(&[]),
        ]
    }

    #[test]
    fn tokens_are_per_field_and_deduplicated() {
        let mut a = attrs();
        a[1].push(("genre".into(), "g2".into()));
        let s = SideInfo::new(3, &a, &[]).unwrap();
        assert_eq!(s.fields, ["brand", "genre"]);
        assert_eq!(s.tokens, ["brand=b1", "genre=g1", "genre=g2"]);
        assert_eq!(s.item_field(0, 1), [1, 2]);
        assert_eq!(s.item_field(1, 1), [2]);
        assert!(s.item_field(1, 0).is_empty() && s.item_field(2, 1).is_empty());
        assert_eq!(
            s.lookup(&[("genre".into(), "g1".into()), ("shop".into(), "x".into())]),
            vec![vec![], vec![1]]
        );
        let only = SideInfo::new(3, &a, &["genre".to_string()]).unwrap();
        assert_eq!(only.fields, ["genre"]);
        let e = SideInfo::new(3, &a, &["shop".to_string()]).unwrap_err();
        assert!(e.contains("shop") && e.contains("brand, genre"), "{e}");
    }

    /// The update of every parameter is the gradient of neu1e·H (the linear loss whose
    /// ascent direction neu1e is), checked against finite differences of `load`.
    #[test]
    fn updates_follow_the_gradient_of_the_mix() {
        let side = SideInfo::new(3, &attrs(), &[]).unwrap();
        let k = 4;
        let inputs = SideInputs::new(&side, 3, k, 7);
        // Unequal weights, so that the logits' gradient is not symmetric.
        for (j, x) in [0.3f32, -0.2, 0.5].iter().enumerate() {
            inputs.logits[j].store(x.to_bits(), std::sync::atomic::Ordering::Relaxed);
        }
        let neu1e = [0.01f32, -0.02, 0.015, 0.005];
        let objective = |inp: &SideInputs| {
            let mut h = vec![0.0; k];
            inp.load(0, &mut h, &mut SideScratch::default());
            dot(&h, &neu1e) as f64
        };
        let base = objective(&inputs);
        let before: Vec<f32> = floats(&inputs.logits);
        let rows_before = (inputs.items.factors(), inputs.tokens.factors());
        let mut s = SideScratch::default();
        let mut h = vec![0.0; k];
        inputs.load(0, &mut h, &mut s);
        inputs.update(0, &mut h, &neu1e, &mut s);
        let after: Vec<f32> = floats(&inputs.logits);
        // Each logit moved by ∂(neu1e·H)/∂a_j; measure that on a fresh copy.
        for j in 0..3 {
            let probe = SideInputs::new(&side, 3, k, 7);
            for (c, x) in probe.logits.iter().zip(&before) {
                c.store(x.to_bits(), std::sync::atomic::Ordering::Relaxed);
            }
            let eps = 1e-2f32;
            probe.logits[j].store(
                (before[j] + eps).to_bits(),
                std::sync::atomic::Ordering::Relaxed,
            );
            let numeric = (objective(&probe) - base) / eps as f64;
            let analytic = (after[j] - before[j]) as f64;
            assert!(
                (numeric - analytic).abs() < 2e-3 * numeric.abs().max(1e-4) + 1e-6,
                "logit {j}: numeric {numeric}, update {analytic}"
            );
        }
        // Rows: the item row moves by α_0·neu1e, each genre token by α_genre/2·neu1e.
        let mut alpha = [0.0f32; 3];
        softmax(&before[..3], &[true, true, true], &mut alpha);
        let (items, tokens) = (inputs.items.factors(), inputs.tokens.factors());
        for d in 0..k {
            let moved = items.row(0)[d] - rows_before.0.row(0)[d];
            assert!((moved - alpha[0] * neu1e[d]).abs() < 1e-7);
            let g1 = tokens.row(1)[d] - rows_before.1.row(1)[d];
            assert!((g1 - alpha[2] / 2.0 * neu1e[d]).abs() < 1e-7);
            // Item 1's own row was not touched.
            assert_eq!(items.row(1)[d], rows_before.0.row(1)[d]);
        }
    }

    #[test]
    fn the_softmax_leaves_out_missing_fields() {
        let mut out = [0.0f32; 3];
        softmax(&[1.0, 5.0, 1.0], &[true, false, true], &mut out);
        assert_eq!(out, [0.5, 0.0, 0.5]);
    }
}
