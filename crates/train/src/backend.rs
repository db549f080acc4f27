//! The kernels a model's heavy lifting goes through. Today one backend, the CPU; a GPU one
//! would implement the same trait.

use rayon::prelude::*;

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

/// The CPU: `matrixmultiply`'s sgemm, run on blocks of the output's rows (or columns,
/// when there are few rows) on rayon's threads. Each output element is summed over `k`
/// in the same order whatever the blocks, so results do not depend on the thread count.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu;

/// Below this many multiply-adds one thread does the whole product.
const PARALLEL_WORK: usize = 1 << 18;

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: the pointer is only used to write disjoint blocks of one output buffer, each
// block by exactly one task, while the caller holds the `&mut` borrow of that buffer.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// Read through a method so closures capture the whole (Send) wrapper, not the field.
    fn get(self) -> *mut f32 {
        self.0
    }
}

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
        if k == 0 {
            c[..m * n].iter_mut().for_each(|x| *x *= beta);
            return;
        }
        let (rsa, csa) = if a_t {
            (1, m as isize)
        } else {
            (k as isize, 1)
        };
        let (rsb, csb) = if b_t {
            (1, k as isize)
        } else {
            (n as isize, 1)
        };
        let threads = rayon::current_num_threads();
        let work = m * n * k;
        let cp = SendPtr(c.as_mut_ptr());
        // One block: rows [r0, r1) and columns [c0, c1) of C.
        let block = |r0: usize, r1: usize, c0: usize, c1: usize| {
            // SAFETY: blocks are disjoint ranges of C (checked large enough above); A and B
            // are read through offsets inside their checked lengths with the strides of
            // their layouts.
            unsafe {
                matrixmultiply::sgemm(
                    r1 - r0,
                    k,
                    c1 - c0,
                    1.0,
                    a.as_ptr().offset(r0 as isize * rsa),
                    rsa,
                    csa,
                    b.as_ptr().offset(c0 as isize * csb),
                    rsb,
                    csb,
                    beta,
                    cp.get().add(r0 * n + c0),
                    n as isize,
                    1,
                );
            }
        };
        if threads <= 1 || work < PARALLEL_WORK {
            block(0, m, 0, n);
            return;
        }
        let parts = threads * 2;
        if m >= n || m >= parts * 8 {
            let step = m.div_ceil(parts).max(8);
            (0..m.div_ceil(step)).into_par_iter().for_each(|p| {
                block(p * step, ((p + 1) * step).min(m), 0, n);
            });
        } else {
            let step = n.div_ceil(parts).max(16);
            (0..n.div_ceil(step)).into_par_iter().for_each(|p| {
                block(0, m, p * step, ((p + 1) * step).min(n));
            });
        }
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
