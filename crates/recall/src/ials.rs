//! iALS: implicit-feedback alternating least squares (Hu, Koren & Volinsky 2008), with the
//! unobserved weight and frequency-scaled regularisation of Rendle et al. ("Revisiting the
//! performance of iALS on item recommendation benchmarks", 2022).
//!
//! For user u with items I_u and confidences c_ui = 1 + α·r_ui, each half-step solves
//! (w₀·YᵀY + Σ_{i∈I_u} (c_ui − w₀)·y_i y_iᵀ + λ_u·I) x_u = Σ_{i∈I_u} c_ui·y_i
//! with λ_u = λ·(|I_u| + w₀·n_items)^ν, either exactly (Cholesky) or by a few warm-started
//! conjugate-gradient steps (as the `implicit` library does).

use std::path::Path;

use funnel_data::{CsrMatrix, Interactions, ItemId, Progress, Row, UserId};
use rayon::prelude::*;
use serde_json::json;

use crate::mf::{self, axpy, cholesky_solve, dot, Factors};
use crate::{Fitted, ModelReader, Params, RecallError, Recaller, Result, Score, Scores};

/// How each least-squares problem is solved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Solver {
    /// `steps` conjugate-gradient iterations, warm-started from the current factors.
    Cg(usize),
    /// An exact Cholesky solve.
    Cholesky,
}

/// Implicit ALS. Parameters: `factors` (64), `reg` (λ, 0.01), `alpha` (confidence scale,
/// 1), `unobserved_weight` (w₀, 1), `reg_exponent` (ν, 0), `iterations` (15),
/// `solver` (cg | cholesky), `cg_steps` (3), `seed` (0), `init_std` (0.01).
#[derive(Debug, Clone)]
pub struct Ials {
    factors: usize,
    reg: f32,
    alpha: f32,
    unobserved_weight: f32,
    reg_exponent: f32,
    iterations: usize,
    solver: Solver,
    seed: u64,
    init_std: f32,
    fitted: Option<Fitted>,
    users: Factors,
    items: Factors,
    /// `YᵀY` for fold-in, computed on first use after a fit or a load.
    gram: std::sync::OnceLock<Vec<f32>>,
}

impl Ials {
    /// Reads parameters.
    pub fn new(p: &Params) -> Result<Self> {
        const M: &str = "ials";
        let solver = p.choice(M, "solver", "cg", &["cg", "cholesky"])?;
        let steps = p.get(M, "cg_steps", 3usize, "a positive integer")?;
        let m = Ials {
            factors: p.get(M, "factors", 64, "a positive integer")?,
            reg: p.get(M, "reg", 0.01, "a number >= 0")?,
            alpha: p.get(M, "alpha", 1.0, "a number >= 0")?,
            unobserved_weight: p.get(M, "unobserved_weight", 1.0, "a number > 0")?,
            reg_exponent: p.get(M, "reg_exponent", 0.0, "a number >= 0")?,
            iterations: p.get(M, "iterations", 15, "a positive integer")?,
            solver: if solver == "cg" {
                Solver::Cg(steps.max(1))
            } else {
                Solver::Cholesky
            },
            seed: p.get(M, "seed", 0, "an integer")?,
            init_std: p.get(M, "init_std", 0.01, "a number > 0")?,
            fitted: None,
            users: Factors::zeros(0, 0),
            items: Factors::zeros(0, 0),
            gram: Default::default(),
        };
        p.finish(M)?;
        if m.factors == 0 {
            return Err(RecallError::Param {
                model: M,
                message: "`factors` must be at least 1".into(),
            });
        }
        Ok(m)
    }

    fn params_json(&self) -> serde_json::Value {
        let (solver, steps) = match self.solver {
            Solver::Cg(s) => ("cg", s),
            Solver::Cholesky => ("cholesky", 3),
        };
        json!({"factors": self.factors, "reg": self.reg, "alpha": self.alpha,
               "unobserved_weight": self.unobserved_weight, "reg_exponent": self.reg_exponent,
               "iterations": self.iterations, "solver": solver, "cg_steps": steps, "seed": self.seed,
               "init_std": self.init_std})
    }

    /// Loads a saved model.
    pub fn load(r: &ModelReader) -> Result<Self> {
        r.expect_model("ials")?;
        let mut m = Ials::new(&crate::params_from_json(r.params()))?;
        let f = Fitted::load(r)?;
        (m.users, m.items) = mf::load_factors(r, &f, m.factors)?;
        m.fitted = Some(f);
        Ok(m)
    }

    /// User factors (one row per user).
    pub fn user_factors(&self) -> &Factors {
        &self.users
    }

    /// Item factors (one row per item).
    pub fn item_factors(&self) -> &Factors {
        &self.items
    }

    /// Solves every row of `x` given the other side `y`; `conf` holds the rows' items with
    /// confidences c = 1 + α·r.
    fn half_step(&self, conf: &CsrMatrix, x: &mut Factors, y: &Factors) {
        match self.solver {
            Solver::Cg(steps) => self.half_step_cg(conf, x, y, steps),
            Solver::Cholesky => self.half_step_cholesky(conf, x, y),
        }
    }

    /// Exact half step: per user, build `A = gram + λI + Σ (c_i − w0) y_i y_iᵀ` and solve.
    fn half_step_cholesky(&self, conf: &CsrMatrix, x: &mut Factors, y: &Factors) {
        let k = self.factors;
        let w0 = self.unobserved_weight;
        let gram = y.gram(w0);
        let n_other = y.n as f32;
        let cv = conf.values().expect("confidences are stored");
        x.data.par_chunks_mut(k).enumerate().for_each_init(
            || (vec![0.0f32; k * k], vec![0.0f32; k]),
            |(a, b), (u, xu)| {
                let (lo, hi) = (conf.indptr()[u] as usize, conf.indptr()[u + 1] as usize);
                let lambda = self.lambda(hi - lo, n_other);
                // b = Σ c_i y_i
                b.iter_mut().for_each(|v| *v = 0.0);
                for q in lo..hi {
                    axpy(cv[q], y.row(conf.indices()[q] as usize), b);
                }
                a.copy_from_slice(&gram);
                for i in 0..k {
                    a[i * k + i] += lambda;
                }
                for q in lo..hi {
                    let yi = y.row(conf.indices()[q] as usize);
                    let c = cv[q] - w0;
                    for i in 0..k {
                        let ci = c * yi[i];
                        for j in 0..k {
                            a[i * k + j] += ci * yi[j];
                        }
                    }
                }
                if cholesky_solve(a, b, k) {
                    xu.copy_from_slice(b);
                }
            },
        );
    }
}

impl Ials {
    /// The regularisation of a row with `nnz` observed entries out of `n_other`.
    fn lambda(&self, nnz: usize, n_other: f32) -> f32 {
        self.reg
            * if self.reg_exponent > 0.0 {
                (nnz as f32 + self.unobserved_weight * n_other).powf(self.reg_exponent)
            } else {
                1.0
            }
    }

    /// Conjugate-gradient half step over blocks of users: the dense part of `A·v`
    /// (`gram·v`) is one matrix product for the whole block instead of a matrix-vector
    /// product per user, which is most of the work; the sparse part and the CG scalars
    /// stay per user, so each user's iterates are those of the per-user method.
    fn half_step_cg(&self, conf: &CsrMatrix, x: &mut Factors, y: &Factors, steps: usize) {
        const BLOCK: usize = 64;
        let k = self.factors;
        let w0 = self.unobserved_weight;
        let gram = y.gram(w0);
        let n_other = y.n as f32;
        let cv = conf.values().expect("confidences are stored");
        let (indptr, indices) = (conf.indptr(), conf.indices());
        x.data
            .par_chunks_mut(k * BLOCK)
            .enumerate()
            .for_each(|(blk, xs)| {
                let first = blk * BLOCK;
                let nb = xs.len() / k;
                let span = |u: usize| (indptr[first + u] as usize, indptr[first + u + 1] as usize);
                let lambdas: Vec<f32> = (0..nb)
                    .map(|u| {
                        let (lo, hi) = span(u);
                        self.lambda(hi - lo, n_other)
                    })
                    .collect();
                // out = v·gram (gram is symmetric) + λ v + Σ (c_i − w0)(y_i·v) y_i, per row.
                let apply = |v: &[f32], out: &mut [f32]| {
                    // SAFETY: `v` and `out` are nb × k row-major, `gram` is k × k; all live
                    // and `out` does not alias the inputs.
                    unsafe {
                        matrixmultiply::sgemm(
                            nb,
                            k,
                            k,
                            1.0,
                            v.as_ptr(),
                            k as isize,
                            1,
                            gram.as_ptr(),
                            k as isize,
                            1,
                            0.0,
                            out.as_mut_ptr(),
                            k as isize,
                            1,
                        );
                    }
                    for u in 0..nb {
                        let (vu, ou) = (&v[u * k..(u + 1) * k], &mut out[u * k..(u + 1) * k]);
                        axpy(lambdas[u], vu, ou);
                        let (lo, hi) = span(u);
                        for q in lo..hi {
                            let yi = y.row(indices[q] as usize);
                            axpy((cv[q] - w0) * dot(yi, vu), yi, ou);
                        }
                    }
                };
                let mut r = vec![0.0f32; nb * k];
                for u in 0..nb {
                    let (lo, hi) = span(u);
                    let ru = &mut r[u * k..(u + 1) * k];
                    for q in lo..hi {
                        axpy(cv[q], y.row(indices[q] as usize), ru); // b = Σ c_i y_i
                    }
                }
                let mut ap = vec![0.0f32; nb * k];
                apply(xs, &mut ap);
                for (ri, a) in r.iter_mut().zip(&ap) {
                    *ri -= a; // r = b − A·x
                }
                let mut p = r.clone();
                let mut rs_old: Vec<f32> = r.chunks_exact(k).map(|ru| dot(ru, ru)).collect();
                for _ in 0..steps {
                    if rs_old.iter().all(|&v| v < 1e-20) {
                        break;
                    }
                    apply(&p, &mut ap);
                    for u in 0..nb {
                        if rs_old[u] < 1e-20 {
                            continue; // converged: this user's iterates stop here
                        }
                        let at = u * k..(u + 1) * k;
                        let step = rs_old[u] / dot(&p[at.clone()], &ap[at.clone()]);
                        axpy(step, &p[at.clone()], &mut xs[at.clone()]);
                        axpy(-step, &ap[at.clone()], &mut r[at.clone()]);
                        let rs_new = dot(&r[at.clone()], &r[at.clone()]);
                        let beta = rs_new / rs_old[u];
                        for (pi, ri) in p[at.clone()].iter_mut().zip(&r[at.clone()]) {
                            *pi = ri + beta * *pi;
                        }
                        rs_old[u] = rs_new;
                    }
                }
            });
    }
}

/// Confidence matrix c = 1 + α·r (r = 1 for implicit input) with the same pattern as `m`.
fn confidences(m: &CsrMatrix, alpha: f32) -> CsrMatrix {
    let c: Vec<f32> = (0..m.nnz())
        .map(|q| 1.0 + alpha * m.values().map_or(1.0, |v| v[q]))
        .collect();
    CsrMatrix::from_parts(
        m.n_rows(),
        m.n_cols(),
        m.indptr().to_vec(),
        m.indices().to_vec(),
        Some(c),
        None,
    )
    .expect("same pattern")
}

impl Recaller for Ials {
    fn name(&self) -> &'static str {
        "ials"
    }

    fn fit(&mut self, train: &Interactions, progress: &dyn Progress) -> Result<()> {
        let ui = confidences(train.csr(), self.alpha);
        let iu = ui.transpose();
        let k = self.factors;
        self.gram = Default::default();
        self.users = Factors::random(train.n_users(), k, self.init_std, self.seed);
        self.items = Factors::random(train.n_items(), k, self.init_std, self.seed.wrapping_add(1));
        progress.start("iALS iterations", self.iterations as u64);
        for _ in 0..self.iterations {
            let mut users = std::mem::replace(&mut self.users, Factors::zeros(0, 0));
            self.half_step(&ui, &mut users, &self.items);
            self.users = users;
            let mut items = std::mem::replace(&mut self.items, Factors::zeros(0, 0));
            self.half_step(&iu, &mut items, &self.users);
            self.items = items;
            progress.inc(1);
        }
        progress.finish();
        self.fitted = Some(Fitted::from_train(train));
        Ok(())
    }

    fn fitted(&self) -> Option<&Fitted> {
        self.fitted.as_ref()
    }

    fn score(&self, user: Option<UserId>, history: Row<'_>, scores: &mut Scores) {
        let xu = match user {
            Some(u) => self.users.row(u as usize).to_vec(),
            None => self.fold_in(history),
        };
        let out = scores.dense_mut();
        for (i, o) in out.iter_mut().enumerate() {
            *o = dot(&xu, self.items.row(i));
        }
    }

    fn recommend(&self, users: &[UserId], k: usize) -> Result<Vec<Vec<(ItemId, Score)>>> {
        mf::recommend(
            "ials",
            self.fitted.as_ref(),
            &self.users,
            &self.items,
            None,
            users,
            k,
        )
    }

    fn similar_items(&self, item: ItemId, k: usize) -> Result<Vec<(ItemId, Score)>> {
        mf::similar_items(&self.items, item, k)
    }

    fn vectors(&self) -> Option<&dyn crate::VectorRecall> {
        Some(self)
    }

    fn save(&self, path: &Path) -> Result<()> {
        let factors = (&self.users, &self.items);
        mf::save(
            "ials",
            self.params_json(),
            self.fitted.as_ref(),
            factors,
            None,
            path,
        )
    }
}

impl crate::VectorRecall for Ials {
    fn item_vectors(&self) -> &Factors {
        &self.items
    }
    fn user_vectors(&self) -> &Factors {
        &self.users
    }
    fn embed_history(&self, history: Row<'_>) -> Vec<f32> {
        let gram = self.gram.get_or_init(|| self.fold_in_gram());
        self.fold_in_with(gram, history)
    }
}

impl Ials {
    /// Fold-in: the user vector that the next half-step would give a user with these
    /// items, solved exactly — recommendations for a new user without retraining.
    pub fn fold_in(&self, history: Row<'_>) -> Vec<f32> {
        self.fold_in_with(&self.fold_in_gram(), history)
    }

    /// The item Gram matrix that every fold-in starts from (k × k); a server computes
    /// it once per model and passes it to [`Ials::fold_in_with`].
    pub fn fold_in_gram(&self) -> Vec<f32> {
        self.items.gram(self.unobserved_weight)
    }

    /// [`Ials::fold_in`] with the Gram matrix from [`Ials::fold_in_gram`]: O(k²·|history| + k³)
    /// instead of O(k²·items).
    pub fn fold_in_with(&self, gram: &[f32], history: Row<'_>) -> Vec<f32> {
        let k = self.factors;
        let w0 = self.unobserved_weight;
        let mut a = gram.to_vec();
        let lambda = self.reg
            * if self.reg_exponent > 0.0 {
                (history.len() as f32 + w0 * self.items.n as f32).powf(self.reg_exponent)
            } else {
                1.0
            };
        for i in 0..k {
            a[i * k + i] += lambda;
        }
        let mut b = vec![0.0f32; k];
        for (q, &i) in history.indices.iter().enumerate() {
            let c = 1.0 + self.alpha * history.value(q);
            let yi = self.items.row(i as usize);
            axpy(c, yi, &mut b);
            for r in 0..k {
                for s in 0..k {
                    a[r * k + s] += (c - w0) * yi[r] * yi[s];
                }
            }
        }
        if cholesky_solve(&mut a, &mut b, k) {
            b
        } else {
            vec![0.0; k]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use funnel_data::{load, DataSource, NoProgress, ReadOptions};

    fn data() -> Interactions {
        let src = DataSource {
            path: "synthetic:users=200,items=120,interactions=4000,seed=2".into(),
            format: "synthetic".into(),
            ..Default::default()
        };
        load(&src, ReadOptions::default()).unwrap().main
    }

    fn fit(set: &[&str]) -> Ials {
        let mut m = Ials::new(&Params::parse(set).unwrap()).unwrap();
        m.fit(&data(), &NoProgress).unwrap();
        m
    }

    #[test]
    fn conjugate_gradient_reaches_the_exact_solution() {
        let base = [
            "factors=8",
            "iterations=2",
            "reg=0.1",
            "alpha=5",
            "init_std=0.3",
        ];
        let exact = fit(&[&base[..], &["solver=cholesky"]].concat());
        let cg = fit(&[&base[..], &["solver=cg", "cg_steps=40"]].concat());
        let few = fit(&[&base[..], &["solver=cg", "cg_steps=1"]].concat());
        let diff = |a: &Factors, b: &Factors| {
            a.data
                .iter()
                .zip(&b.data)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max)
        };
        let scale = exact
            .items
            .data
            .iter()
            .map(|x| x.abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff(&exact.items, &cg.items) < 1e-3 * scale,
            "{} vs scale {scale}",
            diff(&exact.items, &cg.items)
        );
        assert!(
            diff(&exact.items, &few.items) > diff(&exact.items, &cg.items),
            "one CG step is only an approximation"
        );
    }

    #[test]
    fn fold_in_agrees_with_the_trained_user() {
        let train = data();
        let m = fit(&["factors=8", "reg=0.1", "solver=cholesky"]);
        let mut agree = 0;
        for u in 0..20u32 {
            let trained: Vec<u32> = m.recommend(&[u], 10).unwrap()[0]
                .iter()
                .map(|x| x.0)
                .collect();
            let folded: Vec<u32> = m
                .recommend_for_items(train.user_row(u).indices, 10)
                .unwrap()
                .iter()
                .map(|x| x.0)
                .collect();
            agree += trained.iter().filter(|i| folded.contains(i)).count();
        }
        assert!(
            agree >= 150,
            "fold-in shares {agree} of 200 recommendations with the trained users"
        );
    }
}
