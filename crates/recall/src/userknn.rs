//! UserKNN: a user's neighbours are the users with the most similar histories; items are
//! scored by the summed similarity of the neighbours who have them.

use std::cell::RefCell;
use std::path::Path;

use funnel_data::{CsrMatrix, Interactions, ItemId, NoProgress, Progress, Row, UserId};
use serde_json::json;

use crate::itemknn::{row_sq_norms, CoOccurrence};
use crate::similarity::Similarity;
use crate::{
    Fitted, ModelReader, ModelWriter, Params, RecallError, Recaller, Result, Score, Scores, TopK,
};

/// User-based collaborative filtering. Neighbours are found at query time from the
/// user's items through the item→user index, so users not seen in training (sessions)
/// are served the same way.
///
/// Parameters: `similarity` (cosine | asymmetric | jaccard | dot), `alpha` (0.5),
/// `shrink` (0), `neighbors` (users kept, 50).
#[derive(Debug, Clone)]
pub struct UserKnn {
    similarity: Similarity,
    shrink: f32,
    neighbors: usize,
    fitted: Option<Fitted>,
    by_item: CsrMatrix,
}

thread_local! {
    static USER_BUF: RefCell<Option<Scores>> = const { RefCell::new(None) };
}

impl UserKnn {
    /// Reads parameters.
    pub fn new(p: &Params) -> Result<Self> {
        const M: &str = "userknn";
        let m = UserKnn {
            similarity: Similarity::from_params(M, p)?,
            shrink: p.get(M, "shrink", 0.0, "a number >= 0")?,
            neighbors: p.get(M, "neighbors", 50, "a positive integer")?,
            fitted: None,
            by_item: CsrMatrix::empty(0, 0),
        };
        p.finish(M)?;
        Ok(m)
    }

    /// Loads a saved model.
    pub fn load(r: &ModelReader) -> Result<Self> {
        r.expect_model("userknn")?;
        let mut m = UserKnn::new(&crate::params_from_json(r.params()))?;
        let f = Fitted::load(r)?;
        m.by_item = f.history.transpose();
        m.fitted = Some(f);
        Ok(m)
    }
}

impl Recaller for UserKnn {
    fn name(&self) -> &'static str {
        "userknn"
    }

    fn fit(&mut self, train: &Interactions, _: &dyn Progress) -> Result<()> {
        let f = Fitted::from_train(train);
        self.by_item = f.history.transpose();
        self.fitted = Some(f);
        Ok(())
    }

    fn fitted(&self) -> Option<&Fitted> {
        self.fitted.as_ref()
    }

    fn score(&self, user: Option<UserId>, history: Row<'_>, scores: &mut Scores) {
        let Some(f) = &self.fitted else { return };
        let n_users = f.users.len();
        let self_id: &[u32] = match &user {
            Some(u) => std::slice::from_ref(u),
            None => &[],
        };
        let sq_u = history.len() as f32;
        let mut top = TopK::new(self.neighbors);
        USER_BUF.with(|cell| {
            let mut slot = cell.borrow_mut();
            let acc = match slot.as_mut() {
                Some(s) => s,
                None => slot.insert(Scores::new(n_users)),
            };
            if acc.len() < n_users {
                *acc = Scores::new(n_users);
            }
            for &i in history.indices {
                for &v in self.by_item.row(i as usize).indices {
                    acc.add(v, 1.0);
                }
            }
            acc.drain(self_id, |v, co| {
                let s = self.similarity.apply(
                    co,
                    sq_u,
                    f.history.row_len(v as usize) as f32,
                    self.shrink,
                );
                if s > 0.0 {
                    top.push(v, s);
                }
            });
        });
        for (v, s) in top.into_sorted() {
            for &j in f.history.row(v as usize).indices {
                scores.add(j, s);
            }
        }
    }

    fn similar_items(&self, item: ItemId, k: usize) -> Result<Vec<(ItemId, Score)>> {
        let f = self
            .fitted
            .as_ref()
            .ok_or(RecallError::NotFitted("userknn"))?;
        if item as usize >= f.items.len() {
            return Err(RecallError::UnknownId {
                what: "item",
                id: item.to_string(),
                known: f.items.len(),
            });
        }
        // Items whose users overlap most with this item's users (cosine over users).
        let ones_items = vec![1.0; self.by_item.nnz()];
        let ones_hist = vec![1.0; f.history.nnz()];
        let sq = row_sq_norms(&self.by_item, &ones_items);
        let co = CoOccurrence {
            by_row: &self.by_item,
            w_row: &ones_items,
            sq_row: &sq,
            by_col: &f.history,
            w_col: &ones_hist,
            sq_target: &sq,
        };
        Ok(co
            .knn(&[item], Similarity::Cosine, 0.0, k, true, &NoProgress)
            .remove(0))
    }

    fn save(&self, path: &Path) -> Result<()> {
        let f = self
            .fitted
            .as_ref()
            .ok_or(RecallError::NotFitted("userknn"))?;
        let alpha = match self.similarity {
            Similarity::Asymmetric(a) => a,
            _ => 0.5,
        };
        let mut w = ModelWriter::new(
            "userknn",
            json!({"similarity": self.similarity.name(), "alpha": alpha, "shrink": self.shrink, "neighbors": self.neighbors}),
        );
        f.save(&mut w);
        Ok(w.write(path)?)
    }
}
