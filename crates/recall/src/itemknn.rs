//! ItemKNN: items are similar when the same users interact with them; a user's score for
//! an item is the sum of its similarities to the user's items.

use std::path::Path;

use funnel_data::{CsrMatrix, Interactions, ItemId, Progress, Row, UserId};
use rayon::prelude::*;
use serde_json::json;

use crate::similarity::{Similarity, Weighting};
use crate::{
    csr_from_rows, Fitted, ModelReader, ModelWriter, Params, RecallError, Recaller, Result, Score,
    Scores, TopK,
};

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
        let mut m = ItemKnn::new(&crate::params_from_json(r.params()))?;
        m.fitted = Some(Fitted::load(r)?);
        m.sim = r.csr("similarity")?;
        Ok(m)
    }

    /// The pruned similarity matrix (row i: neighbours of item i).
    pub fn similarity_matrix(&self) -> &CsrMatrix {
        &self.sim
    }
}

/// Squared norms of the rows of `m` under per-entry weights `w`.
pub(crate) fn row_sq_norms(m: &CsrMatrix, w: &[f32]) -> Vec<f32> {
    (0..m.n_rows())
        .map(|r| {
            (m.indptr()[r] as usize..m.indptr()[r + 1] as usize)
                .map(|k| w[k] * w[k])
                .sum()
        })
        .collect()
}

/// The rows to compare and the space of candidates they are compared with.
pub(crate) struct CoOccurrence<'a> {
    /// Query rows (e.g. items → users), with entry weights and squared norms.
    pub by_row: &'a CsrMatrix,
    pub w_row: &'a [f32],
    pub sq_row: &'a [f32],
    /// The path to candidates (e.g. users → items), with entry weights; candidates are
    /// its columns, whose squared norms are `sq_target`.
    pub by_col: &'a CsrMatrix,
    pub w_col: &'a [f32],
    pub sq_target: &'a [f32],
}

impl CoOccurrence<'_> {
    /// For each query row `r` in `rows`, in parallel, the `keep` most similar candidates
    /// (excluding `r` itself when `exclude_self`) by weighted co-occurrence.
    pub fn knn(
        &self,
        rows: &[u32],
        sim: Similarity,
        shrink: f32,
        keep: usize,
        exclude_self: bool,
        progress: &dyn Progress,
    ) -> Vec<Vec<(u32, f32)>> {
        progress.start("similarities", rows.len() as u64);
        let out = rows
            .par_iter()
            .map_init(
                || Scores::new(self.by_col.n_cols()),
                |acc, &r| {
                    let r = r as usize;
                    for k in self.by_row.indptr()[r] as usize..self.by_row.indptr()[r + 1] as usize
                    {
                        let c = self.by_row.indices()[k] as usize;
                        let wr = self.w_row[k];
                        for k2 in
                            self.by_col.indptr()[c] as usize..self.by_col.indptr()[c + 1] as usize
                        {
                            acc.add(self.by_col.indices()[k2], wr * self.w_col[k2]);
                        }
                    }
                    let mut top = TopK::new(keep);
                    let me = [r as u32];
                    acc.drain(if exclude_self { &me } else { &[] }, |j, dot| {
                        let s = sim.apply(dot, self.sq_row[r], self.sq_target[j as usize], shrink);
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
        let w_iu = iu
            .values()
            .map_or_else(|| vec![1.0; iu.nnz()], <[f32]>::to_vec);
        let sq = row_sq_norms(&iu, &w_iu);
        let co = CoOccurrence {
            by_row: &iu,
            w_row: &w_iu,
            sq_row: &sq,
            by_col: ui,
            w_col: &w_ui,
            sq_target: &sq,
        };
        let items: Vec<u32> = (0..ui.n_cols() as u32).collect();
        let rows = co.knn(
            &items,
            self.similarity,
            self.shrink,
            self.neighbors,
            true,
            progress,
        );
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
            let w = if self.use_values {
                history.value(k)
            } else {
                1.0
            };
            let (a, b) = (
                self.sim.indptr()[i as usize] as usize,
                self.sim.indptr()[i as usize + 1] as usize,
            );
            for p in a..b {
                scores.add(self.sim.indices()[p], w * sv[p]);
            }
        }
    }

    fn similar_items(&self, item: ItemId, k: usize) -> Result<Vec<(ItemId, Score)>> {
        if item as usize >= self.sim.n_rows() {
            return Err(RecallError::UnknownId {
                what: "item",
                id: item.to_string(),
                known: self.sim.n_rows(),
            });
        }
        let r = self.sim.row(item as usize);
        Ok(r.indices
            .iter()
            .zip(r.values.unwrap_or(&[]))
            .take(k)
            .map(|(&j, &s)| (j, s))
            .collect())
    }

    fn save(&self, path: &Path) -> Result<()> {
        let f = self
            .fitted
            .as_ref()
            .ok_or(RecallError::NotFitted("itemknn"))?;
        let mut w = ModelWriter::new("itemknn", self.params_json());
        f.save(&mut w);
        w.csr("similarity", &self.sim);
        Ok(w.write(path)?)
    }
}
