//! Factor rows shared by Hogwild threads (Niu et al. 2011), and the BPR update on them.
//!
//! Threads update shared rows without locks: an update can overwrite a concurrent one to
//! the same row, which SGD tolerates because updates are sparse and rarely collide. The
//! rows are `AtomicU32` cells (f32 bit patterns) so that every access is a relaxed atomic
//! one, which on x86 and ARM is a plain load or store, and no access is a data race.
//!
//! Rust has no vector-wide atomics, and element-by-element copies were most of the cost
//! of a BPR step (an epoch on Gowalla went from 0.31 to 0.16 s without them). So on x86-64
//! with AVX2 the step moves rows with `vmovups` written as inline assembly. The compiler
//! treats the assembly as opaque code that may make relaxed atomic accesses, so it neither
//! merges nor drops them; the processor moves each 4-byte aligned element of a vector
//! access whole (a move split at a cache-line boundary splits between elements), so a
//! racing reader sees each value old or new, never torn — what relaxed atomics promise,
//! and all Hogwild needs. Elsewhere a portable step uses the atomics one by one.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// Cells holding `v`.
pub(crate) fn atomics(v: &[f32]) -> Vec<AtomicU32> {
    v.iter().map(|x| AtomicU32::new(x.to_bits())).collect()
}

/// The values in `v`.
pub(crate) fn floats(v: &[AtomicU32]) -> Vec<f32> {
    v.iter().map(|x| f32::from_bits(x.load(Relaxed))).collect()
}

#[inline]
fn get(c: &AtomicU32) -> f32 {
    f32::from_bits(c.load(Relaxed))
}

#[inline]
fn set(c: &AtomicU32, v: f32) {
    c.store(v.to_bits(), Relaxed)
}

/// Learning rates and L2 weights of one BPR step, each `[user, item, bias]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BprRates {
    pub lr: [f32; 3],
    pub reg: [f32; 3],
}

/// One SGD step on `ln σ(x_uij)`, `x_uij = x_u·(y_i − y_j) + b_i − b_j`, with L2 on each
/// parameter group. Updates the three rows and two biases in place and returns `x_uij`
/// before the update. Rows have equal lengths.
#[inline]
pub(crate) fn bpr_step(
    xu: &[AtomicU32],
    yi: &[AtomicU32],
    yj: &[AtomicU32],
    bi: &AtomicU32,
    bj: &AtomicU32,
    r: BprRates,
) -> f32 {
    debug_assert!(xu.len() == yi.len() && yi.len() == yj.len());
    #[cfg(target_arch = "x86_64")]
    if funnel_ann::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { bpr_step_avx2(xu, yi, yj, bi, bj, r) };
    }
    bpr_step_portable(xu, yi, yj, bi, bj, r)
}

/// `σ(−x)`: the gradient factor of `ln σ(x)`.
#[inline]
fn sigmoid_neg(x: f32) -> f32 {
    1.0 / (1.0 + x.exp())
}

pub(crate) fn bpr_step_portable(
    xu: &[AtomicU32],
    yi: &[AtomicU32],
    yj: &[AtomicU32],
    bi: &AtomicU32,
    bj: &AtomicU32,
    r: BprRates,
) -> f32 {
    let x_uij = get(bi) - get(bj) + scalar_dot(xu, yi, yj);
    let z = sigmoid_neg(x_uij);
    scalar_update(xu, yi, yj, z, r);
    update_biases(bi, bj, z, r);
    x_uij
}

/// `x_u·(y_i − y_j)`, one element at a time.
#[inline]
fn scalar_dot(xu: &[AtomicU32], yi: &[AtomicU32], yj: &[AtomicU32]) -> f32 {
    xu.iter()
        .zip(yi)
        .zip(yj)
        .map(|((u, i), j)| get(u) * (get(i) - get(j)))
        .sum()
}

/// x_u += lu (z (y_i − y_j) − ru x_u); y_i += li (z x_u − ri y_i); y_j −= li (z x_u + ri y_j),
/// each new value from the old ones, one element at a time.
#[inline]
fn scalar_update(xu: &[AtomicU32], yi: &[AtomicU32], yj: &[AtomicU32], z: f32, r: BprRates) {
    let ([lu, li, _], [ru, ri, _]) = (r.lr, r.reg);
    for ((u, i), j) in xu.iter().zip(yi).zip(yj) {
        let (fu, fi, fj) = (get(u), get(i), get(j));
        set(u, fu + lu * (z * (fi - fj) - ru * fu));
        set(i, fi + li * (z * fu - ri * fi));
        set(j, fj - li * (z * fu + ri * fj));
    }
}

/// One SGNS target update on a shared output row `t`: f = h·t, g = (label − σ(f))·lr,
/// then `neu1e += g·t` and `t += g·h`, reading each cell once for the dot product and once
/// for the update (no copy of the row). `sigmoid` maps f to σ(f).
#[inline]
pub(crate) fn sgns_target(
    h: &[f32],
    t: &[AtomicU32],
    neu1e: &mut [f32],
    label: f32,
    lr: f32,
    sigmoid: impl Fn(f32) -> f32,
) {
    debug_assert!(h.len() == t.len() && t.len() == neu1e.len());
    #[cfg(target_arch = "x86_64")]
    if funnel_ann::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        let f = unsafe { avx2::dot_cells(h, t) };
        let g = (label - sigmoid(f)) * lr;
        // SAFETY: as above.
        unsafe { avx2::sgns_update(h, t, neu1e, g) };
        return;
    }
    sgns_target_portable(h, t, neu1e, label, lr, sigmoid)
}

pub(crate) fn sgns_target_portable(
    h: &[f32],
    t: &[AtomicU32],
    neu1e: &mut [f32],
    label: f32,
    lr: f32,
    sigmoid: impl Fn(f32) -> f32,
) {
    let f: f32 = h.iter().zip(t).map(|(a, c)| a * get(c)).sum();
    let g = (label - sigmoid(f)) * lr;
    for ((x, c), e) in h.iter().zip(t).zip(neu1e.iter_mut()) {
        let v = get(c);
        *e += g * v;
        set(c, v + g * x);
    }
}

/// Copies shared cells into `out` (each element read whole; see the module doc).
#[inline]
pub(crate) fn load_row(cells: &[AtomicU32], out: &mut [f32]) {
    debug_assert_eq!(cells.len(), out.len());
    #[cfg(target_arch = "x86_64")]
    if funnel_ann::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { avx2::load_row(cells, out) };
    }
    for (o, c) in out.iter_mut().zip(cells) {
        *o = get(c);
    }
}

/// Writes `v` into shared cells (each element written whole).
#[inline]
pub(crate) fn store_row(cells: &[AtomicU32], v: &[f32]) {
    debug_assert_eq!(cells.len(), v.len());
    #[cfg(target_arch = "x86_64")]
    if funnel_ann::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { avx2::store_row(cells, v) };
    }
    for (c, &x) in cells.iter().zip(v) {
        set(c, x);
    }
}

#[inline]
fn update_biases(bi: &AtomicU32, bj: &AtomicU32, z: f32, r: BprRates) {
    let (lb, rb) = (r.lr[2], r.reg[2]);
    let (b_i, b_j) = (get(bi), get(bj));
    set(bi, b_i + lb * (z - rb * b_i));
    set(bj, b_j + lb * (-z - rb * b_j));
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::asm;
    use std::arch::x86_64::__m256;
    use std::sync::atomic::AtomicU32;

    /// Eight cells from `p` (see the module doc: one access per element).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn load8(p: *const AtomicU32) -> __m256 {
        let v: __m256;
        // SAFETY (caller): `p` points at eight live cells.
        unsafe {
            asm!("vmovups {v}, ymmword ptr [{p}]", p = in(reg) p, v = out(ymm_reg) v,
                 options(nostack, preserves_flags, readonly));
        }
        v
    }

    /// `h · cells`, two accumulators, the tail one by one.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_cells(h: &[f32], cells: &[AtomicU32]) -> f32 {
        use std::arch::x86_64::*;
        let n = h.len().min(cells.len());
        let n8 = n / 8 * 8;
        let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut c = 0;
        // SAFETY (all accesses): c + 8 <= n8 <= both lengths.
        unsafe {
            while c + 16 <= n8 {
                a0 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(h.as_ptr().add(c)),
                    load8(cells.as_ptr().add(c)),
                    a0,
                );
                a1 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(h.as_ptr().add(c + 8)),
                    load8(cells.as_ptr().add(c + 8)),
                    a1,
                );
                c += 16;
            }
            if c < n8 {
                a0 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(h.as_ptr().add(c)),
                    load8(cells.as_ptr().add(c)),
                    a0,
                );
            }
        }
        let a = _mm256_add_ps(a0, a1);
        let s4 = _mm_add_ps(_mm256_extractf128_ps(a, 1), _mm256_castps256_ps128(a));
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        let mut s = _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
        for t in n8..n {
            s += h[t] * super::get(&cells[t]);
        }
        s
    }

    /// `neu1e += g·cells; cells += g·h`, eight at a time, the tail one by one.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn sgns_update(h: &[f32], cells: &[AtomicU32], neu1e: &mut [f32], g: f32) {
        use std::arch::x86_64::*;
        let n = h.len().min(cells.len()).min(neu1e.len());
        let n8 = n / 8 * 8;
        let gv = _mm256_set1_ps(g);
        let mut c = 0;
        while c < n8 {
            // SAFETY: c + 8 <= n8 <= every length.
            unsafe {
                let t = load8(cells.as_ptr().add(c));
                let e = _mm256_loadu_ps(neu1e.as_ptr().add(c));
                _mm256_storeu_ps(neu1e.as_mut_ptr().add(c), _mm256_fmadd_ps(gv, t, e));
                let x = _mm256_loadu_ps(h.as_ptr().add(c));
                store8(cells.as_ptr().add(c), _mm256_fmadd_ps(gv, x, t));
            }
            c += 8;
        }
        for t in n8..n {
            let v = super::get(&cells[t]);
            neu1e[t] += g * v;
            super::set(&cells[t], v + g * h[t]);
        }
    }

    /// `cells` copied into `out`, eight at a time, the tail one by one.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn load_row(cells: &[AtomicU32], out: &mut [f32]) {
        use std::arch::x86_64::_mm256_storeu_ps;
        let n = cells.len().min(out.len());
        let n8 = n / 8 * 8;
        let mut c = 0;
        while c < n8 {
            // SAFETY: c + 8 <= n8 <= both lengths.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(c), load8(cells.as_ptr().add(c))) };
            c += 8;
        }
        for t in n8..n {
            out[t] = super::get(&cells[t]);
        }
    }

    /// `v` written into `cells`, eight at a time, the tail one by one.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn store_row(cells: &[AtomicU32], v: &[f32]) {
        use std::arch::x86_64::_mm256_loadu_ps;
        let n = cells.len().min(v.len());
        let n8 = n / 8 * 8;
        let mut c = 0;
        while c < n8 {
            // SAFETY: c + 8 <= n8 <= both lengths.
            unsafe { store8(cells.as_ptr().add(c), _mm256_loadu_ps(v.as_ptr().add(c))) };
            c += 8;
        }
        for t in n8..n {
            super::set(&cells[t], v[t]);
        }
    }

    /// Eight cells at `p` set to `v`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn store8(p: *const AtomicU32, v: __m256) {
        // SAFETY (caller): `p` points at eight live cells; cells allow shared writes.
        unsafe {
            asm!("vmovups ymmword ptr [{p}], {v}", p = in(reg) p, v = in(ymm_reg) v,
                 options(nostack, preserves_flags));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn bpr_step_avx2(
    xu: &[AtomicU32],
    yi: &[AtomicU32],
    yj: &[AtomicU32],
    bi: &AtomicU32,
    bj: &AtomicU32,
    r: BprRates,
) -> f32 {
    use std::arch::x86_64::*;
    let ([lu, li, _], [ru, ri, _]) = (r.lr, r.reg);
    let k = xu.len().min(yi.len()).min(yj.len());
    let k8 = k / 8 * 8;
    let (pu, pi, pj) = (xu.as_ptr(), yi.as_ptr(), yj.as_ptr());
    // x_u·(y_i − y_j), two accumulators.
    let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut c = 0;
    // SAFETY (all row accesses below): c + 8 <= k8 <= every row's length.
    unsafe {
        while c + 16 <= k8 {
            let d0 = _mm256_sub_ps(avx2::load8(pi.add(c)), avx2::load8(pj.add(c)));
            let d1 = _mm256_sub_ps(avx2::load8(pi.add(c + 8)), avx2::load8(pj.add(c + 8)));
            acc0 = _mm256_fmadd_ps(avx2::load8(pu.add(c)), d0, acc0);
            acc1 = _mm256_fmadd_ps(avx2::load8(pu.add(c + 8)), d1, acc1);
            c += 16;
        }
        if c < k8 {
            let d0 = _mm256_sub_ps(avx2::load8(pi.add(c)), avx2::load8(pj.add(c)));
            acc0 = _mm256_fmadd_ps(avx2::load8(pu.add(c)), d0, acc0);
        }
    }
    let acc = _mm256_add_ps(acc0, acc1);
    let s4 = _mm_add_ps(_mm256_extractf128_ps(acc, 1), _mm256_castps256_ps128(acc));
    let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    let x_uij = _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)))
        + scalar_dot(&xu[k8..k], &yi[k8..k], &yj[k8..k])
        + get(bi)
        - get(bj);
    let z = sigmoid_neg(x_uij);
    // The update of `scalar_update`, eight elements at a time.
    let (keep_u, keep_i) = (_mm256_set1_ps(1.0 - lu * ru), _mm256_set1_ps(1.0 - li * ri));
    let (step_u, step_i) = (_mm256_set1_ps(lu * z), _mm256_set1_ps(li * z));
    let mut c = 0;
    // SAFETY: as above.
    unsafe {
        while c < k8 {
            let (u, i, j) = (
                avx2::load8(pu.add(c)),
                avx2::load8(pi.add(c)),
                avx2::load8(pj.add(c)),
            );
            let nu = _mm256_fmadd_ps(step_u, _mm256_sub_ps(i, j), _mm256_mul_ps(keep_u, u));
            let ni = _mm256_fmadd_ps(step_i, u, _mm256_mul_ps(keep_i, i));
            let nj = _mm256_fnmadd_ps(step_i, u, _mm256_mul_ps(keep_i, j));
            avx2::store8(pu.add(c), nu);
            avx2::store8(pi.add(c), ni);
            avx2::store8(pj.add(c), nj);
            c += 8;
        }
    }
    scalar_update(&xu[k8..k], &yi[k8..k], &yj[k8..k], z, r);
    update_biases(bi, bj, z, r);
    x_uij
}

#[cfg(test)]
mod tests {
    use super::*;

    type Step =
        fn(&[AtomicU32], &[AtomicU32], &[AtomicU32], &AtomicU32, &AtomicU32, BprRates) -> f32;

    #[test]
    fn vector_and_portable_sgns_targets_agree() {
        let sigmoid = |f: f32| 1.0 / (1.0 + (-f).exp());
        for k in [1, 7, 8, 16, 24, 64, 67] {
            let row = |s: f32| -> Vec<f32> {
                (0..k).map(|t| 0.3 * ((t as f32 + s) * 0.7).sin()).collect()
            };
            let (h, t0, e0) = (row(0.5), row(1.0), row(2.0));
            let run = |portable: bool| {
                let t = atomics(&t0);
                let mut e = e0.clone();
                if portable {
                    sgns_target_portable(&h, &t, &mut e, 1.0, 0.1, sigmoid);
                } else {
                    sgns_target(&h, &t, &mut e, 1.0, 0.1, sigmoid);
                }
                (floats(&t), e)
            };
            let (a, b) = (run(false), run(true));
            let close = |p: &[f32], q: &[f32]| p.iter().zip(q).all(|(x, y)| (x - y).abs() < 1e-5);
            assert!(close(&a.0, &b.0) && close(&a.1, &b.1), "k {k}");
            // A positive pulls the row towards h.
            let dot = |x: &[f32]| x.iter().zip(&h).map(|(a, b)| a * b).sum::<f32>();
            assert!(dot(&a.0) > dot(&t0), "k {k}");
        }
    }

    #[test]
    fn vector_and_portable_steps_agree() {
        let r = BprRates {
            lr: [0.05, 0.04, 0.03],
            reg: [0.01, 0.02, 0.03],
        };
        for k in [1, 7, 8, 16, 24, 64, 67] {
            let row = |s: f32| -> Vec<f32> {
                (0..k).map(|t| 0.1 * ((t as f32 + s) * 0.7).sin()).collect()
            };
            let (u, i, j) = (row(0.0), row(1.0), row(2.0));
            let run = |f: Step| {
                let (cu, ci, cj) = (atomics(&u), atomics(&i), atomics(&j));
                let (bi, bj) = (
                    AtomicU32::new(0.3f32.to_bits()),
                    AtomicU32::new((-0.2f32).to_bits()),
                );
                let x = f(&cu, &ci, &cj, &bi, &bj, r);
                (x, floats(&cu), floats(&ci), floats(&cj), get(&bi), get(&bj))
            };
            let a = run(bpr_step);
            let b = run(bpr_step_portable);
            let close = |p: &[f32], q: &[f32]| p.iter().zip(q).all(|(x, y)| (x - y).abs() < 1e-5);
            assert!((a.0 - b.0).abs() < 1e-4, "k {k}");
            assert!(
                close(&a.1, &b.1) && close(&a.2, &b.2) && close(&a.3, &b.3),
                "k {k}"
            );
            assert!((a.4 - b.4).abs() < 1e-6 && (a.5 - b.5).abs() < 1e-6);
            // The step moved each row, and towards ranking i above j.
            assert!(a.1 != u && a.2 != i && a.3 != j);
            let after: f32 = (0..k).map(|t| a.1[t] * (a.2[t] - a.3[t])).sum::<f32>() + a.4 - a.5;
            assert!(after > a.0, "k {k}: {} -> {after}", a.0);
        }
    }
}
