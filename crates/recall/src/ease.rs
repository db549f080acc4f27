//! EASE^R (Steck 2019): an item–item model in closed form.
//!
//! With G = XᵀX the item Gram matrix and P = (G + λI)⁻¹, the weights are
//! B = I − P·diag(1/diag P) with a zero diagonal, and a user's scores are x_u·B.
//! Everything happens in one n×n buffer: G is built in it, inverted in place
//! ([`crate::spd_inverse`]), and the f32 weights are written over P as it is read. The fit
//! therefore needs n² values of the working precision — f64 by default (8·n² bytes,
//! 13.4 GB for 41k items; f32 rounding in P moved Gowalla's Recall@20 by ~1e-4), or f32
//! with `precision = f32` (half that). The estimate is checked against the memory
//! available before anything is allocated.

use std::path::Path;

use faer::{MatMut, Par};
use funnel_data::{CsrMatrix, Interactions, ItemId, Progress, Row, UserId};
use rayon::prelude::*;
use serde_json::json;

use crate::spd_inverse::invert_spd_lower;
use crate::{
    csr_from_rows, Fitted, ModelReader, ModelWriter, Params, RecallError, Recaller, Result, Score,
    Scores, TopK,
};

/// EASE^R. Parameters: `reg` (λ, 250), `neighbors` (0 keeps B dense; N > 0 keeps each
/// item's N largest weights, sparse), `precision` (`f64`, or `f32` for half the memory),
/// `max_memory_gb` (refuse a fit whose estimate is larger; default: the memory available).
#[derive(Debug, Clone)]
pub struct Ease {
    reg: f32,
    double: bool,
    neighbors: usize,
    max_memory_gb: f64,
    fitted: Option<Fitted>,
    /// Row i: weights from item i to every item (dense, `n × n`), when not pruned.
    dense: Vec<f32>,
    /// Row i: the largest weights from item i, when pruned.
    sparse: CsrMatrix,
}

/// Bytes the fit needs for `n` items in f64 (the default): one dense n×n f64 matrix.
pub fn memory_estimate(n_items: usize) -> u64 {
    memory_estimate_with(n_items, true)
}

/// Bytes the fit needs for `n` items: one dense n×n matrix of f64 (`double`) or f32.
pub fn memory_estimate_with(n_items: usize, double: bool) -> u64 {
    (if double { 8 } else { 4 }) * (n_items as u64) * (n_items as u64)
}

/// The working precision of the solve.
trait Precision: faer::traits::RealField + Copy + Send + Sync {
    /// f32 words per value.
    const WORDS: usize;
    fn of(x: f32) -> Self;
    fn to_f64(self) -> f64;
}
impl Precision for f32 {
    const WORDS: usize = 1;
    fn of(x: f32) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}
impl Precision for f64 {
    const WORDS: usize = 2;
    fn of(x: f32) -> Self {
        x as f64
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// A raw pointer that rayon tasks may share; each use says why its accesses are disjoint.
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
// SAFETY: only used for accesses that are disjoint between tasks (see each use).
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}
impl<T> Shared<T> {
    fn get(self) -> *mut T {
        self.0
    }
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
            double: p.choice(M, "precision", "f64", &["f64", "f32"])? == "f64",
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

impl Ease {
    /// Builds G, inverts it and sets the weights, all in one buffer of n² values of `T`.
    fn solve<T: Precision>(&mut self, train: &Interactions, progress: &dyn Progress) -> Result<()> {
        let n = train.n_items();
        // The buffer is f32 words so that the f32 weights can end up owning it; `T` values
        // are laid over it (one spare word covers an f64 alignment offset).
        let mut buf = vec![0.0f32; T::WORDS * n * n + 1];
        // SAFETY: every bit pattern is a valid f32 and f64.
        let (head, body, _) = unsafe { buf.align_to_mut::<T>() };
        let off = head.len();
        let a = &mut body[..n * n];
        // G = XᵀX + λI, column-major; column j is built from item j's users, so columns
        // fill in parallel without sharing writes.
        let (ui, iu) = (train.csr(), train.csc());
        let (one, reg) = (T::of(1.0), T::of(self.reg));
        a.par_chunks_mut(n).enumerate().for_each(|(j, col)| {
            for &u in iu.row(j).indices {
                for &i in ui.row(u as usize).indices {
                    col[i as usize] += one;
                }
            }
            col[j] += reg;
        });
        progress.inc(1);
        invert_spd_lower(MatMut::from_column_major_slice_mut(a, n, n), Par::rayon(0)).map_err(
            |_| RecallError::Param {
                model: "ease",
                message: format!(
                    "G + λI is not positive definite at λ = {}; raise `reg`",
                    self.reg
                ),
            },
        )?;
        progress.inc(1);
        // Mirror P's lower triangle into the upper one, so that column i holds row i.
        let p = Shared(a.as_mut_ptr());
        const TILE: usize = 64;
        (0..n.div_ceil(TILE)).into_par_iter().for_each(|cb| {
            let (j0, j1) = (cb * TILE, ((cb + 1) * TILE).min(n));
            for i0 in (0..j1).step_by(TILE) {
                for j in j0..j1 {
                    for i in i0..(i0 + TILE).min(j) {
                        // SAFETY: this task writes only its own columns j0..j1 above the
                        // diagonal and reads only below it, where nothing is written.
                        unsafe { *p.get().add(j * n + i) = *p.get().add(i * n + j) };
                    }
                }
            }
        });
        // From here on the buffer is reached only through `p` (and `out` below).
        // SAFETY: j·n + j < n², inside the buffer; no task is running.
        let diag: Vec<f64> = (0..n)
            .map(|j| unsafe { *p.get().add(j * n + j) }.to_f64())
            .collect();
        // B[i][j] = −P[i][j] / P[j][j], zero diagonal.
        let weight = |i: usize, j: usize, pij: T| -> f32 {
            if i == j {
                0.0
            } else {
                (-pij.to_f64() / diag[j]) as f32
            }
        };
        if self.neighbors > 0 {
            // SAFETY: the n² values are initialised and only read from here on.
            let a: &[T] = unsafe { std::slice::from_raw_parts(p.get(), n * n) };
            let rows: Vec<Vec<(u32, f32)>> = (0..n)
                .into_par_iter()
                .map(|i| {
                    let mut top = TopK::new(self.neighbors);
                    for (j, &pij) in a[i * n..(i + 1) * n].iter().enumerate() {
                        if j != i {
                            top.push(j as u32, weight(i, j, pij));
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
            // Row i of B (n f32) is written over the buffer's bytes [4ni, 4n(i+1)) while
            // P's column i is read from [4·WORDS·ni, …). For f32 that is the same place,
            // element by element; for f64 row i lands on columns < i, which are done.
            // Rows run in parallel in chunks [lo, 2·lo), whose rows land below all of the
            // chunk's columns. Row 0 would land on its own column: it is copied first.
            // SAFETY: the first n values are column 0, initialised.
            let col0: Vec<T> = unsafe { std::slice::from_raw_parts(p.get(), n) }.to_vec();
            let out = Shared(p.get() as *mut f32);
            let row = |i: usize, col: Option<&[T]>| {
                for j in 0..n {
                    // SAFETY: see above; reads and writes go through raw pointers only.
                    unsafe {
                        let pij = match col {
                            Some(c) => c[j],
                            None => std::ptr::read(p.get().add(i * n + j)),
                        };
                        std::ptr::write(out.get().add(i * n + j), weight(i, j, pij));
                    }
                }
            };
            if n > 0 {
                row(0, Some(&col0));
            }
            let mut lo = 1;
            while lo < n {
                let hi = (2 * lo).min(n);
                (lo..hi).into_par_iter().for_each(|i| row(i, None));
                lo = hi;
            }
            drop(col0);
            buf.copy_within(off..off + n * n, 0);
            buf.truncate(n * n);
            buf.shrink_to_fit();
            self.dense = buf;
            self.sparse = CsrMatrix::empty(0, 0);
        }
        progress.inc(1);
        Ok(())
    }
}

impl Recaller for Ease {
    fn name(&self) -> &'static str {
        "ease"
    }

    fn fit(&mut self, train: &Interactions, progress: &dyn Progress) -> Result<()> {
        let n = train.n_items();
        let need = memory_estimate_with(n, self.double);
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
                        "{n} items need {:.1} GB for a dense {n}×{n} {} matrix, more than the {:.1} GB available; \
                         EASE is for catalogues up to a few tens of thousands of items (use itemknn or ials, \
                         or precision=f32 for half the memory)",
                        need as f64 / 1e9,
                        if self.double { "f64" } else { "f32" },
                        limit as f64 / 1e9
                    ),
                });
            }
        }
        progress.start("EASE gram / inverse / weights", 3);
        if self.double {
            self.solve::<f64>(train, progress)?;
        } else {
            self.solve::<f32>(train, progress)?;
        }
        progress.finish();
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
            json!({"reg": self.reg, "neighbors": self.neighbors, "max_memory_gb": self.max_memory_gb,
                   "precision": if self.double { "f64" } else { "f32" }}),
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
        for precision in ["precision=f64", "precision=f32"] {
            let mut m = Ease::new(&Params::parse(&["reg=1", precision]).unwrap()).unwrap();
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
                    let got = m.dense
                        [ids.get(i).unwrap() as usize * 3 + ids.get(j).unwrap() as usize]
                        as f64;
                    let want = if ni == nj {
                        0.0
                    } else {
                        -p(ni, nj) / p(nj, nj)
                    };
                    assert!(
                        (got - want).abs() < 1e-5,
                        "{precision}: B[{i}][{j}] = {got}, want {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn weights_written_in_place_equal_those_read_directly() {
        // 150 items: the in-place rewrite of P into f32 rows runs several parallel chunks.
        // The pruned model keeps every weight and reads them straight from P, so the two
        // must agree; f32 precision must come close.
        let mut b = InteractionsBuilder::new();
        let mut state = 12345u64;
        for u in 0..400 {
            for _ in 0..12 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let i = (state >> 33) % 150;
                b.push(0, &Event::implicit(&format!("u{u}"), &format!("i{i}")));
            }
        }
        let train = b.build().unwrap().remove(0);
        let n = train.n_items();
        let fit = |args: &[&str]| {
            let mut m = Ease::new(&Params::parse(args).unwrap()).unwrap();
            m.fit(&train, &NoProgress).unwrap();
            m
        };
        let dense = fit(&["reg=10"]);
        let all = format!("neighbors={}", n - 1);
        let sparse = fit(&["reg=10", &all]);
        let single = fit(&["reg=10", "precision=f32"]);
        assert_eq!(dense.dense.len(), n * n);
        for i in 0..n {
            let r = sparse.sparse.row(i);
            for (&j, &w) in r.indices.iter().zip(r.values.unwrap()) {
                assert_eq!(dense.dense[i * n + j as usize], w, "B[{i}][{j}]");
            }
            assert_eq!(dense.dense[i * n + i], 0.0);
        }
        let worst = dense
            .dense
            .iter()
            .zip(&single.dense)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "f32 vs f64 weights differ by {worst}");
        assert!(dense.dense.iter().any(|w| w.abs() > 1e-3));
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
        assert_eq!(memory_estimate_with(41_000, false), 6_724_000_000);
    }
}
