//! ItemKNN: items are similar when the same users interact with them; a user's score for
//! an item is the sum of its similarities to the user's items.

use std::path::Path;

use funnel_data::{CsrMatrix, Interactions, ItemId, Progress, Row, UserId};
use rayon::prelude::*;
use serde_json::json;

use crate::similarity::{Similarity, Weighting};
use crate::{csr_from_rows, Fitted, ModelReader, ModelWriter, Params, RecallError, Recaller, Result, Score, Scores, TopK};

/// Item-based collaborative filtering with a pruned item–item similarity matrix.
///
/// Parameters: `similarity` (cosine | asymmetric | jaccard | dot), `alpha` (asymmetric
/// cosine exponent, 0.5), `shrink` (added to the denominator, 0), `neighbors` (similar items
/// kept per item, 100), `weighting` (none | bm25 | tfidf), `bm25_k1`, `bm25_b`,
/// `use_values` (weigh by the interaction value, false).
#[derive(Debug, Clone)]
pub struct ItemKnn {
    similarity: Similarity,
    shrink: f32,
    neighbors: usize,
    weighting: Weighting,
    use_values: bool,
    fitted: Option<Fitted>,
    /// Row i: the neighbours of item i and their similarities, best first.
    sim: CsrMatrix,
}

impl ItemKnn {
    /// Reads parameters.
    pub fn new(p: &Params) -> Result<Self> {
        const M: &str = "itemknn";
        let m = ItemKnn {
            similarity: Similarity::from_params(M, p)?,
            shrink: p.get(M, "shrink", 0.0, "a number >= 0")?,
            neighbors: p.get(M, "neighbors", 100, "a positive integer")?,
            weighting: Weighting::from_params(M, p)?,
            use_values: p.get(M, "use_values", false, "true or false")?,
            fitted: None,
            sim: CsrMatrix::empty(0, 0),
        };
        p.finish(M)?;
        Ok(m)
    }

    fn params_json(&self) -> serde_json::Value {
        let (k1, b) = match self.weighting {
            Weighting::Bm25 { k1, b } => (k1, b),
            _ => (1.2, 0.75),
        };
        json!({
            "similarity": self.similarity.name(),
            "alpha": match self.similarity { Similarity::Asymmetric(a) => a, _ => 0.5 },
            "shrink": self.shrink,
            "neighbors": self.neighbors,
            "weighting": self.weighting.name(),
            "bm25_k1": k1,
            "bm25_b": b,
            "use_values": self.use_values,
        })
    }

    /// Loads a saved model.
    pub fn load(r: &ModelReader) -> Result<Self> {
        r.expect_model("itemknn")?;
        let mut p = Params::default();
        if let Some(o) = r.params().as_object() {
            for (k, v) in o {
                p.set_default(k, v.as_str().map_or_else(|| v.to_string(), str::to_string).as_str());
            }
        }
        let mut m = ItemKnn::new(&p)?;
        m.fitted = Some(Fitted::load(r)?);
        m.sim = r.csr("similarity")?;
        Ok(m)
    }

    /// The pruned similarity matrix (row i: neighbours of item i).
    pub fn similarity_matrix(&self) -> &CsrMatrix {
        &self.sim
    }
}

/// Computes, in parallel over rows of `by_row` (e.g. items), the `keep` most similar other
/// rows by co-occurrence through `by_col` (e.g. users). Weights are parallel to each
/// matrix's entries. Shared by ItemKNN (rows = items) and similar-item queries.
pub(crate) fn knn_rows(
    by_row: &CsrMatrix,
    w_row: &[f32],
    by_col: &CsrMatrix,
    w_col: &[f32],
    sim: Similarity,
    shrink: f32,
    keep: usize,
    progress: &dyn Progress,
) -> Vec<Vec<(u32, f32)>> {
    let n = by_row.n_rows();
    let sq: Vec<f32> = (0..n)
        .map(|r| (by_row.indptr()[r] as usize..by_row.indptr()[r + 1] as usize).map(|k| w_row[k] * w_row[k]).sum())
        .collect();
    progress.start("similarities", n as u64);
    let out = (0..n)
        .into_par_iter()
        .map_init(
            || Scores::new(n),
            |acc, r| {
                for k in by_row.indptr()[r] as usize..by_row.indptr()[r + 1] as usize {
                    let c = by_row.indices()[k] as usize;
                    let wr = w_row[k];
                    for k2 in by_col.indptr()[c] as usize..by_col.indptr()[c + 1] as usize {
                        acc.add(by_col.indices()[k2], wr * w_col[k2]);
                    }
                }
                // Normalise the co-occurrences in place, then keep the best.
                let mut top = TopK::new(keep);
                acc.drain(&[r as u32], |j, dot| {
                    let s = sim.apply(dot, sq[r], sq[j as usize], shrink);
                    if s > 0.0 {
                        top.push(j, s);
                    }
                });
                if r % 1024 == 0 {
                    progress.inc(1024);
                }
                top.into_sorted()
            },
        )
        .collect();
    progress.finish();
    out
}

impl Recaller for ItemKnn {
    fn name(&self) -> &'static str {
        "itemknn"
    }

    fn fit(&mut self, train: &Interactions, progress: &dyn Progress) -> Result<()> {
        let ui = train.csr();
        let w_ui = self.weighting.weights(ui, self.use_values);
        let weighted = CsrMatrix::from_parts(
            ui.n_rows(),
            ui.n_cols(),
            ui.indptr().to_vec(),
            ui.indices().to_vec(),
            Some(w_ui.clone()),
            None,
        )
        .expect("same shape");
        let iu = weighted.transpose();
        let w_iu = iu.values().map_or_else(|| vec![1.0; iu.nnz()], <[f32]>::to_vec);
        let rows = knn_rows(&iu, &w_iu, ui, &w_ui, self.similarity, self.shrink, self.neighbors, progress);
        self.sim = csr_from_rows(ui.n_cols(), rows);
        self.fitted = Some(Fitted::from_train(train));
        Ok(())
    }

    fn fitted(&self) -> Option<&Fitted> {
        self.fitted.as_ref()
    }

    fn score(&self, _: Option<UserId>, history: Row<'_>, scores: &mut Scores) {
        let sv = self.sim.values().unwrap_or(&[]);
        for (k, &i) in history.indices.iter().enumerate() {
            let w = if self.use_values { history.value(k) } else { 1.0 };
            let (a, b) = (self.sim.indptr()[i as usize] as usize, self.sim.indptr()[i as usize + 1] as usize);
            for p in a..b {
                scores.add(self.sim.indices()[p], w * sv[p]);
            }
        }
    }

    fn similar_items(&self, item: ItemId, k: usize) -> Result<Vec<(ItemId, Score)>> {
        if item as usize >= self.sim.n_rows() {
            return Err(RecallError::UnknownId { what: "item", id: item.to_string(), known: self.sim.n_rows() });
        }
        let r = self.sim.row(item as usize);
        Ok(r.indices.iter().zip(r.values.unwrap_or(&[])).take(k).map(|(&j, &s)| (j, s)).collect())
    }

    fn save(&self, path: &Path) -> Result<()> {
        let f = self.fitted.as_ref().ok_or(RecallError::NotFitted("itemknn"))?;
        let mut w = ModelWriter::new("itemknn", self.params_json());
        f.save(&mut w);
        w.csr("similarity", &self.sim);
        w.write(path)
    }
}
