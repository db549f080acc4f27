//! Dense latent factors shared by the matrix-factorisation models: storage, blocked
//! scoring of many users at once, Gram matrices and small dense solves.

use funnel_data::CsrMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use crate::topk::TopK;
use crate::{Fitted, ModelReader, ModelWriter, RecallError, Result};

/// `n` vectors of dimension `k`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Factors {
    /// Number of vectors.
    pub n: usize,
    /// Dimension.
    pub k: usize,
    /// `n × k` values.
    pub data: Vec<f32>,
}

impl Factors {
    /// Zeros.
    pub fn zeros(n: usize, k: usize) -> Self {
        Factors {
            n,
            k,
            data: vec![0.0; n * k],
        }
    }

    /// Normal(0, `std`) entries from `seed`.
    pub fn random(n: usize, k: usize, std: f32, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = Normal::new(0.0, std).expect("std > 0");
        Factors {
            n,
            k,
            data: (0..n * k).map(|_| d.sample(&mut rng)).collect(),
        }
    }

    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.k..(i + 1) * self.k]
    }

    /// Row `i`, mutable.
    #[inline]
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.k..(i + 1) * self.k]
    }

    /// `selfᵀ·self` (k × k), times `scale`.
    pub fn gram(&self, scale: f32) -> Vec<f32> {
        let k = self.k;
        // Partial Gram matrices of row blocks in parallel, then their sum in block order:
        // the product is k·n·k, a serial fifth of an iALS iteration when done on one
        // thread. Fixed-size blocks keep the sum the same whatever the thread count.
        const ROWS_PER_BLOCK: usize = 4096;
        let parts: Vec<Vec<f32>> = self
            .data
            .par_chunks(ROWS_PER_BLOCK * k)
            .map(|block| {
                let n = block.len() / k;
                let mut g = vec![0.0f32; k * k];
                // SAFETY: the pointers and strides describe `block` (n × k, row-major, read
                // as its transpose k × n) and `g` (k × k), both alive and unaliased.
                unsafe {
                    matrixmultiply::sgemm(
                        k,
                        n,
                        k,
                        scale,
                        block.as_ptr(),
                        1,
                        k as isize,
                        block.as_ptr(),
                        k as isize,
                        1,
                        0.0,
                        g.as_mut_ptr(),
                        k as isize,
                        1,
                    );
                }
                g
            })
            .collect();
        let mut g = vec![0.0f32; k * k];
        for part in parts {
            for (a, b) in g.iter_mut().zip(part) {
                *a += b;
            }
        }
        g
    }
}

pub(crate) use funnel_ann::simd::{axpy, dot};

/// Users scored per GEMM block: 64 × 41k items × 4 bytes ≈ 10 MB of scores per thread.
const BLOCK: usize = 64;

/// Exact top-`k` by inner product for each user: blocks of users are scored with one
/// matrix product against all items, each user's training items (`history` rows) are
/// excluded, and the best are kept by partial selection. Blocks run in parallel.
pub fn top_k_dense(
    users: &[u32],
    user_factors: &Factors,
    item_factors: &Factors,
    item_bias: Option<&[f32]>,
    history: &CsrMatrix,
    k: usize,
) -> Vec<Vec<(u32, f32)>> {
    let n_items = item_factors.n;
    let d = user_factors.k;
    users
        .par_chunks(BLOCK)
        .flat_map_iter(|block| {
            let mut q = Vec::with_capacity(block.len() * d);
            for &u in block {
                q.extend_from_slice(user_factors.row(u as usize));
            }
            let mut scores = vec![0.0f32; block.len() * n_items];
            // SAFETY: `q` is block × d row-major, item factors n_items × d row-major read as
            // their transpose d × n_items, `scores` block × n_items; all live and distinct.
            unsafe {
                matrixmultiply::sgemm(
                    block.len(),
                    d,
                    n_items,
                    1.0,
                    q.as_ptr(),
                    d as isize,
                    1,
                    item_factors.data.as_ptr(),
                    1,
                    d as isize,
                    0.0,
                    scores.as_mut_ptr(),
                    n_items as isize,
                    1,
                );
            }
            block
                .iter()
                .enumerate()
                .map(|(b, &u)| {
                    let row = &mut scores[b * n_items..(b + 1) * n_items];
                    if let Some(bias) = item_bias {
                        row.iter_mut().zip(bias).for_each(|(s, b)| *s += b);
                    }
                    for &i in history.row(u as usize).indices {
                        row[i as usize] = f32::NEG_INFINITY;
                    }
                    let mut top = TopK::new(k);
                    for (i, &s) in row.iter().enumerate() {
                        if s > f32::NEG_INFINITY {
                            top.push(i as u32, s);
                        }
                    }
                    top.into_sorted()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The shared `Recaller::recommend` of factor models: checks, then [`top_k_dense`].
pub(crate) fn recommend(
    model: &'static str,
    fitted: Option<&Fitted>,
    user_factors: &Factors,
    item_factors: &Factors,
    item_bias: Option<&[f32]>,
    users: &[u32],
    k: usize,
) -> Result<Vec<Vec<(u32, f32)>>> {
    let f = fitted.ok_or(RecallError::NotFitted(model))?;
    if let Some(&u) = users.iter().find(|&&u| u as usize >= f.users.len()) {
        return Err(RecallError::UnknownId {
            what: "user",
            id: u.to_string(),
            known: f.users.len(),
        });
    }
    Ok(top_k_dense(
        users,
        user_factors,
        item_factors,
        item_bias,
        &f.history,
        k,
    ))
}

/// The shared `Recaller::similar_items` of factor models: cosine of item factors.
pub(crate) fn similar_items(
    item_factors: &Factors,
    item: u32,
    k: usize,
) -> Result<Vec<(u32, f32)>> {
    if item as usize >= item_factors.n {
        return Err(RecallError::UnknownId {
            what: "item",
            id: item.to_string(),
            known: item_factors.n,
        });
    }
    Ok(similar_by_cosine(item_factors, item as usize, k))
}

/// The shared `Recaller::save` of factor models: ids, history, `user_factors`,
/// `item_factors` and, when given, `item_bias`.
pub(crate) fn save(
    model: &'static str,
    params: serde_json::Value,
    fitted: Option<&Fitted>,
    factors: (&Factors, &Factors),
    item_bias: Option<&[f32]>,
    path: &std::path::Path,
) -> Result<()> {
    let f = fitted.ok_or(RecallError::NotFitted(model))?;
    let mut w = ModelWriter::new(model, params);
    f.save(&mut w);
    for (name, x) in [("user_factors", factors.0), ("item_factors", factors.1)] {
        w.f32s(name, vec![x.n, x.k], &x.data);
    }
    if let Some(b) = item_bias {
        w.f32s("item_bias", vec![b.len()], b);
    }
    Ok(w.write(path)?)
}

/// Reads `user_factors` and `item_factors` of dimension `k`, checking their sizes.
pub(crate) fn load_factors(r: &ModelReader, f: &Fitted, k: usize) -> Result<(Factors, Factors)> {
    let users = Factors {
        n: f.users.len(),
        k,
        data: r.f32s("user_factors")?,
    };
    let items = Factors {
        n: f.items.len(),
        k,
        data: r.f32s("item_factors")?,
    };
    if users.data.len() != users.n * k || items.data.len() != items.n * k {
        return Err(RecallError::ModelFile {
            path: String::new(),
            message: format!("factor arrays are not {k} wide"),
        });
    }
    Ok((users, items))
}

/// Items most similar to `item` by cosine of item factors.
pub fn similar_by_cosine(items: &Factors, item: usize, k: usize) -> Vec<(u32, f32)> {
    let q = items.row(item);
    let nq = dot(q, q).sqrt().max(1e-12);
    let mut top = TopK::new(k);
    for j in 0..items.n {
        if j != item {
            let v = items.row(j);
            let s = dot(q, v) / (nq * dot(v, v).sqrt().max(1e-12));
            top.push(j as u32, s);
        }
    }
    top.into_sorted()
}

/// Solves `A x = b` for symmetric positive definite `A` (k × k, row-major, overwritten by
/// its Cholesky factor); `b` is overwritten by `x`. Returns false when `A` is not positive
/// definite. Hand-written: k ≤ 256 fits in cache, and one solve per user runs in parallel.
pub fn cholesky_solve(a: &mut [f32], b: &mut [f32], k: usize) -> bool {
    for j in 0..k {
        let mut d = a[j * k + j] as f64;
        for p in 0..j {
            d -= (a[j * k + p] as f64).powi(2);
        }
        if d <= 0.0 {
            return false;
        }
        let d = d.sqrt();
        a[j * k + j] = d as f32;
        for i in j + 1..k {
            let mut s = a[i * k + j] as f64;
            for p in 0..j {
                s -= a[i * k + p] as f64 * a[j * k + p] as f64;
            }
            a[i * k + j] = (s / d) as f32;
        }
    }
    // L y = b, then Lᵀ x = y.
    for i in 0..k {
        let mut s = b[i] as f64;
        for p in 0..i {
            s -= a[i * k + p] as f64 * b[p] as f64;
        }
        b[i] = (s / a[i * k + i] as f64) as f32;
    }
    for i in (0..k).rev() {
        let mut s = b[i] as f64;
        for p in i + 1..k {
            s -= a[p * k + i] as f64 * b[p] as f64;
        }
        b[i] = (s / a[i * k + i] as f64) as f32;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_and_cholesky() {
        let f = Factors::random(50, 6, 1.0, 3);
        let g = f.gram(1.0);
        for a in 0..6 {
            for b in 0..6 {
                let want: f32 = (0..50).map(|i| f.row(i)[a] * f.row(i)[b]).sum();
                assert!((g[a * 6 + b] - want).abs() < 1e-3);
            }
        }
        let mut a = g.clone();
        let x_true = [1.0, -2.0, 0.5, 3.0, 0.0, 1.5];
        let mut b: Vec<f32> = (0..6)
            .map(|i| (0..6).map(|j| g[i * 6 + j] * x_true[j]).sum())
            .collect();
        assert!(cholesky_solve(&mut a, &mut b, 6));
        for i in 0..6 {
            assert!((b[i] - x_true[i]).abs() < 1e-3, "{b:?}");
        }
        let mut not_pd = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky_solve(&mut not_pd, &mut [1.0, 1.0], 2));
    }

    #[test]
    fn dense_top_k_matches_brute_force_and_excludes_history() {
        let users = Factors::random(10, 8, 1.0, 1);
        let items = Factors::random(300, 8, 1.0, 2);
        let hist = CsrMatrix::from_coo(10, 300, &[0, 0, 3], &[5, 7, 1], None, None);
        let all: Vec<u32> = (0..10).collect();
        let got = top_k_dense(&all, &users, &items, None, &hist, 5);
        for u in 0..10 {
            let mut want: Vec<(u32, f32)> = (0..300u32)
                .filter(|i| hist.row(u).indices.binary_search(i).is_err())
                .map(|i| (i, dot(users.row(u), items.row(i as usize))))
                .collect();
            want.sort_by(|a, b| b.1.total_cmp(&a.1));
            let ids: Vec<u32> = got[u].iter().map(|x| x.0).collect();
            assert_eq!(
                ids,
                want[..5].iter().map(|x| x.0).collect::<Vec<_>>(),
                "user {u}"
            );
        }
    }
}
