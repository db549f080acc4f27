//! The kernels a model's heavy lifting goes through. Today one backend, the CPU; a GPU one
//! would implement the same trait.

/// Matrix kernels over row-major `f32` buffers.
pub trait Backend: Send + Sync {
    /// `C = op(A)·op(B) + beta·C`, where `op(A)` is `m×k` and `op(B)` is `k×n`.
    /// With `a_t`, `A` is stored as `k×m` (so `op(A) = Aᵀ`); with `b_t`, `B` as `n×k`.
    fn gemm(
        &self,
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        a_t: bool,
        b: &[f32],
        b_t: bool,
        beta: f32,
        c: &mut [f32],
    );
}

/// The CPU: faer's GEMM, on rayon's threads for products of more than 2¹⁸ multiply-adds.
/// faer splits the output, never the sum over `k`, so results do not depend on the thread
/// count (checked by a test). faer rather than `matrixmultiply` split by hand: the latter
/// packs the shared operand once per block, 21% of an MLP step's time (perf), and its
/// step GEMMs took 42 ms where faer's take 34 ms.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu;

/// Below this many multiply-adds one thread does the whole product.
const PARALLEL_WORK: usize = 1 << 18;

impl Backend for Cpu {
    fn gemm(
        &self,
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        a_t: bool,
        b: &[f32],
        b_t: bool,
        beta: f32,
        c: &mut [f32],
    ) {
        assert!(
            a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
            "gemm buffers too small"
        );
        if m == 0 || n == 0 {
            return;
        }
        use faer::linalg::matmul::matmul;
        use faer::{Accum, MatMut, MatRef, Par};
        let lhs = if a_t {
            MatRef::from_row_major_slice(&a[..m * k], k, m).transpose()
        } else {
            MatRef::from_row_major_slice(&a[..m * k], m, k)
        };
        let rhs = if b_t {
            MatRef::from_row_major_slice(&b[..k * n], n, k).transpose()
        } else {
            MatRef::from_row_major_slice(&b[..k * n], k, n)
        };
        let c = &mut c[..m * n];
        let accum = if beta == 0.0 {
            Accum::Replace
        } else {
            if beta != 1.0 {
                c.iter_mut().for_each(|x| *x *= beta);
            }
            Accum::Add
        };
        let par = if rayon::current_num_threads() <= 1 || m * n * k < PARALLEL_WORK {
            Par::Seq
        } else {
            Par::rayon(0)
        };
        matmul(
            MatMut::from_row_major_slice_mut(c, m, n),
            accum,
            lhs,
            rhs,
            1.0f32,
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: &[f32], a_t: bool, b: &[f32], b_t: bool) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for l in 0..k {
                    let x = if a_t { a[l * m + i] } else { a[i * k + l] };
                    let y = if b_t { b[j * k + l] } else { b[l * n + j] };
                    s += x as f64 * y as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn every_transpose_matches_the_naive_product_and_blocks_do_not_change_bits() {
        for &(m, k, n) in &[(3, 5, 4), (300, 70, 90), (2, 400, 700), (700, 64, 1)] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37) % 23) as f32 / 7.0 - 1.5)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 11) % 19) as f32 / 5.0 - 1.8)
                .collect();
            for a_t in [false, true] {
                for b_t in [false, true] {
                    let want = naive(m, k, n, &a, a_t, &b, b_t);
                    let mut c = vec![0.0; m * n];
                    Cpu.gemm(m, k, n, &a, a_t, &b, b_t, 0.0, &mut c);
                    for (x, y) in c.iter().zip(&want) {
                        assert!(
                            (x - y).abs() <= 1e-3 * (1.0 + y.abs()),
                            "{m}x{k}x{n} {x} vs {y}"
                        );
                    }
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(1)
                        .build()
                        .unwrap();
                    let mut one = vec![0.0; m * n];
                    pool.install(|| Cpu.gemm(m, k, n, &a, a_t, &b, b_t, 0.0, &mut one));
                    assert_eq!(one, c, "bits differ between 1 thread and the pool");
                    // beta accumulates
                    Cpu.gemm(m, k, n, &a, a_t, &b, b_t, 1.0, &mut c);
                    for (x, y) in c.iter().zip(&want) {
                        assert!((x - 2.0 * y).abs() <= 2e-3 * (1.0 + y.abs()));
                    }
                }
            }
        }
    }
}
