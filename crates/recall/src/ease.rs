//! EASE^R (Steck 2019): an item–item model in closed form.
//!
//! With G = XᵀX the item Gram matrix and P = (G + λI)⁻¹, the weights are
//! B = I − P·diag(1/diag P) with a zero diagonal, and a user's scores are x_u·B.
//! P is computed in place: G is factored (Cholesky, faer), L is inverted into a second
//! n×n buffer, and L⁻ᵀL⁻¹ is written back over the factor, so the fit needs two dense
//! n×n f32 matrices — 8·n² bytes, 13.4 GB for 41k items. That estimate is checked
//! against the memory available before anything is allocated.

use std::path::Path;

use faer::linalg::matmul::triangular::BlockStructure;
use faer::{Accum, MatMut, MatRef, Par};
use funnel_data::{CsrMatrix, Interactions, ItemId, Progress, Row, UserId};
use rayon::prelude::*;
use serde_json::json;

use crate::{
    csr_from_rows, Fitted, ModelReader, ModelWriter, Params, RecallError, Recaller, Result, Score,
    Scores, TopK,
};

/// EASE^R. Parameters: `reg` (λ, 250), `neighbors` (0 keeps B dense; N > 0 keeps each
/// item's N largest weights, sparse), `max_memory_gb` (refuse a fit whose estimate is
/// larger; default: the memory available).
#[derive(Debug, Clone)]
pub struct Ease {
    reg: f32,
    neighbors: usize,
    max_memory_gb: f64,
    fitted: Option<Fitted>,
    /// Row i: weights from item i to every item (dense, `n × n`), when not pruned.
    dense: Vec<f32>,
    /// Row i: the largest weights from item i, when pruned.
    sparse: CsrMatrix,
}

/// Bytes the fit needs for `n` items: two dense n×n f32 matrices.
pub fn memory_estimate(n_items: usize) -> u64 {
    8 * (n_items as u64) * (n_items as u64)
}

fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

impl Ease {
    /// Reads parameters.
    pub fn new(p: &Params) -> Result<Self> {
        const M: &str = "ease";
        let m = Ease {
            reg: p.get(M, "reg", 250.0, "a number > 0")?,
            neighbors: p.get(M, "neighbors", 0, "an integer >= 0 (0 = dense)")?,
            max_memory_gb: p.get(
                M,
                "max_memory_gb",
                0.0,
                "a number of GB (0 = what is available)",
            )?,
            fitted: None,
            dense: Vec::new(),
            sparse: CsrMatrix::empty(0, 0),
        };
        p.finish(M)?;
        Ok(m)
    }

    /// Loads a saved model.
    pub fn load(r: &ModelReader) -> Result<Self> {
        r.expect_model("ease")?;
        let mut m = Ease::new(&crate::params_from_json(r.params()))?;
        let f = Fitted::load(r)?;
        if r.has("weights.shape") {
            m.sparse = r.csr("weights")?;
        } else {
            m.dense = r.f32s("weights_dense")?;
        }
        m.fitted = Some(f);
        Ok(m)
    }

    fn n(&self) -> usize {
        self.fitted.as_ref().map_or(0, |f| f.items.len())
    }
}

impl Recaller for Ease {
    fn name(&self) -> &'static str {
        "ease"
    }

    fn fit(&mut self, train: &Interactions, progress: &dyn Progress) -> Result<()> {
        let n = train.n_items();
        let need = memory_estimate(n);
        let limit = if self.max_memory_gb > 0.0 {
            Some((self.max_memory_gb * 1e9) as u64)
        } else {
            available_memory()
        };
        if let Some(limit) = limit {
            if need > limit {
                return Err(RecallError::Param {
                    model: "ease",
                    message: format!(
                        "{n} items need {:.1} GB for two dense {n}×{n} matrices, more than the {:.1} GB available; \
                         EASE is for catalogues up to a few tens of thousands of items (use itemknn or ials)",
                        need as f64 / 1e9,
                        limit as f64 / 1e9
                    ),
                });
            }
        }
        progress.start("EASE gram / cholesky / inverse", 3);
        // G = XᵀX + λI, column-major; column j is built from item j's users, so columns
        // fill in parallel without sharing writes.
        let ui = train.csr();
        let iu = train.csc();
        let mut a = vec![0.0f32; n * n];
        a.par_chunks_mut(n).enumerate().for_each(|(j, col)| {
            for &u in iu.row(j).indices {
                for &i in ui.row(u as usize).indices {
                    col[i as usize] += 1.0;
                }
            }
            col[j] += self.reg;
        });
        progress.inc(1);
        let par = Par::rayon(0);
        {
            let mut am = MatMut::from_column_major_slice_mut(&mut a, n, n);
            let scratch = faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<f32>(
                n,
                par,
                Default::default(),
            );
            let mut mem = faer::dyn_stack::MemBuffer::new(scratch);
            faer::linalg::cholesky::llt::factor::cholesky_in_place(
                am.as_mut(),
                Default::default(),
                par,
                faer::dyn_stack::MemStack::new(&mut mem),
                Default::default(),
            )
            .map_err(|_| RecallError::Param {
                model: "ease",
                message: format!(
                    "G + λI is not positive definite at λ = {}; raise `reg`",
                    self.reg
                ),
            })?;
        }
        progress.inc(1);
        {
            let mut linv = vec![0.0f32; n * n];
            let l = MatRef::from_column_major_slice(&a, n, n);
            let mut li = MatMut::from_column_major_slice_mut(&mut linv, n, n);
            faer::linalg::triangular_inverse::invert_lower_triangular(li.as_mut(), l, par);
            let li = MatRef::from_column_major_slice(&linv, n, n);
            let mut p = MatMut::from_column_major_slice_mut(&mut a, n, n);
            // P = L⁻ᵀ L⁻¹, lower triangle only (P is symmetric).
            faer::linalg::matmul::triangular::matmul(
                p.as_mut(),
                BlockStructure::TriangularLower,
                Accum::Replace,
                li.transpose(),
                BlockStructure::TriangularUpper,
                li,
                BlockStructure::TriangularLower,
                1.0f32,
                par,
            );
        }
        progress.inc(1);
        progress.finish();
        // B[i][j] = −P[i][j] / P[j][j], zero diagonal; P[i][j] lives at (max, min) in the
        // lower triangle, column-major: a[min * n + max].
        let p_at = |i: usize, j: usize| if i >= j { a[j * n + i] } else { a[i * n + j] };
        let diag: Vec<f32> = (0..n).map(|j| a[j * n + j]).collect();
        let weight = |i: usize, j: usize| if i == j { 0.0 } else { -p_at(i, j) / diag[j] };
        if self.neighbors > 0 {
            let rows: Vec<Vec<(u32, f32)>> = (0..n)
                .into_par_iter()
                .map(|i| {
                    let mut top = TopK::new(self.neighbors);
                    for j in 0..n {
                        if j != i {
                            top.push(j as u32, weight(i, j));
                        }
                    }
                    let mut row = top.into_sorted();
                    row.sort_by_key(|x| x.0);
                    row
                })
                .collect();
            self.sparse = csr_from_rows(n, rows);
            self.dense = Vec::new();
        } else {
            let mut b = vec![0.0f32; n * n];
            b.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
                for (j, w) in row.iter_mut().enumerate() {
                    *w = weight(i, j);
                }
            });
            self.dense = b;
        }
        drop(a);
        self.fitted = Some(Fitted::from_train(train));
        Ok(())
    }

    fn fitted(&self) -> Option<&Fitted> {
        self.fitted.as_ref()
    }

    fn score(&self, _: Option<UserId>, history: Row<'_>, scores: &mut Scores) {
        let n = self.n();
        if self.dense.is_empty() {
            for &i in history.indices {
                let r = self.sparse.row(i as usize);
                for (&j, &w) in r.indices.iter().zip(r.values.unwrap_or(&[])) {
                    scores.add(j, w);
                }
            }
        } else {
            let out = scores.dense_mut();
            for &i in history.indices {
                for (o, w) in out
                    .iter_mut()
                    .zip(&self.dense[i as usize * n..(i as usize + 1) * n])
                {
                    *o += w;
                }
            }
        }
    }

    fn similar_items(&self, item: ItemId, k: usize) -> Result<Vec<(ItemId, Score)>> {
        let n = self.n();
        if item as usize >= n {
            return Err(RecallError::UnknownId {
                what: "item",
                id: item.to_string(),
                known: n,
            });
        }
        let mut top = TopK::new(k);
        if self.dense.is_empty() {
            let r = self.sparse.row(item as usize);
            for (&j, &w) in r.indices.iter().zip(r.values.unwrap_or(&[])) {
                top.push(j, w);
            }
        } else {
            for (j, &w) in self.dense[item as usize * n..(item as usize + 1) * n]
                .iter()
                .enumerate()
            {
                if j != item as usize {
                    top.push(j as u32, w);
                }
            }
        }
        Ok(top.into_sorted())
    }

    fn save(&self, path: &Path) -> Result<()> {
        let f = self.fitted.as_ref().ok_or(RecallError::NotFitted("ease"))?;
        let mut w = ModelWriter::new(
            "ease",
            json!({"reg": self.reg, "neighbors": self.neighbors, "max_memory_gb": self.max_memory_gb}),
        );
        f.save(&mut w);
        if self.dense.is_empty() {
            w.csr("weights", &self.sparse);
        } else {
            let n = self.n();
            w.f32s("weights_dense", vec![n, n], &self.dense);
        }
        Ok(w.write(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use funnel_data::{Event, InteractionsBuilder, NoProgress};

    #[test]
    fn weights_match_the_closed_form_on_a_small_case() {
        // 4 users × 3 items; G = XᵀX computed by hand.
        let mut b = InteractionsBuilder::new();
        for (u, i) in [
            ("a", "x"),
            ("a", "y"),
            ("b", "x"),
            ("b", "z"),
            ("c", "y"),
            ("c", "z"),
            ("d", "x"),
        ] {
            b.push(0, &Event::implicit(u, i));
        }
        let train = b.build().unwrap().remove(0);
        let mut m = Ease::new(&Params::parse(&["reg=1"]).unwrap()).unwrap();
        m.fit(&train, &NoProgress).unwrap();
        // G + I = [[4,1,1],[1,3,1],[1,1,3]]; P = its inverse.
        let g = [[4.0f64, 1.0, 1.0], [1.0, 3.0, 1.0], [1.0, 1.0, 3.0]];
        let det = g[0][0] * (g[1][1] * g[2][2] - g[1][2] * g[2][1])
            - g[0][1] * (g[1][0] * g[2][2] - g[1][2] * g[2][0])
            + g[0][2] * (g[1][0] * g[2][1] - g[1][1] * g[2][0]);
        let cof = |r: usize, c: usize| {
            let rs: Vec<usize> = (0..3).filter(|&x| x != r).collect();
            let cs: Vec<usize> = (0..3).filter(|&x| x != c).collect();
            let m = g[rs[0]][cs[0]] * g[rs[1]][cs[1]] - g[rs[0]][cs[1]] * g[rs[1]][cs[0]];
            if (r + c) % 2 == 0 {
                m
            } else {
                -m
            }
        };
        let p = |i: usize, j: usize| cof(j, i) / det;
        let ids = train.items();
        for (ni, i) in ["x", "y", "z"].iter().enumerate() {
            for (nj, j) in ["x", "y", "z"].iter().enumerate() {
                let got =
                    m.dense[ids.get(i).unwrap() as usize * 3 + ids.get(j).unwrap() as usize] as f64;
                let want = if ni == nj {
                    0.0
                } else {
                    -p(ni, nj) / p(nj, nj)
                };
                assert!(
                    (got - want).abs() < 1e-5,
                    "B[{i}][{j}] = {got}, want {want}"
                );
            }
        }
    }

    #[test]
    fn refuses_a_catalogue_that_does_not_fit() {
        let mut b = InteractionsBuilder::new();
        for i in 0..2000 {
            b.push(0, &Event::implicit("u", &format!("i{i}")));
        }
        let train = b.build().unwrap().remove(0);
        let mut m = Ease::new(&Params::parse(&["max_memory_gb=0.01"]).unwrap()).unwrap();
        let e = m.fit(&train, &NoProgress).unwrap_err().to_string();
        assert!(
            e.contains("2000 items need 0.0 GB") || e.contains("2000 items need"),
            "{e}"
        );
        assert!(e.contains("more than the 0.0 GB available"), "{e}");
        assert_eq!(memory_estimate(41_000), 13_448_000_000);
    }
}
