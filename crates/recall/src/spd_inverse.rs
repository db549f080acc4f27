//! The inverse of a symmetric positive-definite matrix, computed inside its own buffer.
//!
//! EASE needs P = (XᵀX + λI)⁻¹ for tens of thousands of items. faer factors G = LLᵀ in
//! place, but its inverse writes L⁻¹ into a second n×n matrix; in f64 for 41k items that
//! second matrix (13.4 GB) does not fit beside the first on a 24 GB machine. The two steps
//! after the factorisation — L ← L⁻¹ and L ← lower(LᵀL), LAPACK's `trtri` and `lauum` —
//! are therefore done here in place, recursively on halves, so that all the arithmetic is
//! faer's triangular solves and matrix products on sub-blocks.

use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::linalg::triangular_solve::{
    solve_lower_triangular_in_place, solve_upper_triangular_in_place,
};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::traits::RealField;
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// Blocks at most this wide are handled through a small copy.
const LEAF: usize = 32;

/// G is not positive definite.
#[derive(Debug)]
pub(crate) struct NotPositiveDefinite;

/// Overwrites the lower triangle of `a` (an SPD matrix; only its lower triangle is read)
/// with the lower triangle of `a⁻¹`. The strict upper triangle is left as scratch.
pub(crate) fn invert_spd_lower<T: RealField + Copy>(
    mut a: MatMut<'_, T>,
    par: Par,
) -> Result<(), NotPositiveDefinite> {
    let n = a.nrows();
    let scratch = faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<T>(
        n,
        par,
        Default::default(),
    );
    let mut mem = faer::dyn_stack::MemBuffer::new(scratch);
    faer::linalg::cholesky::llt::factor::cholesky_in_place(
        a.as_mut(),
        Default::default(),
        par,
        faer::dyn_stack::MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|_| NotPositiveDefinite)?;
    invert_lower_in_place(a.as_mut(), par);
    lower_gram_in_place(a, par);
    Ok(())
}

/// Copies the lower triangle (with the diagonal) of `m`, zeros above.
fn lower_copy<T: RealField + Copy>(m: MatRef<'_, T>) -> Mat<T> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| {
        if i >= j {
            m[(i, j)]
        } else {
            T::zero_impl()
        }
    })
}

/// L ← L⁻¹ for a lower-triangular L (lower triangle read and written).
/// With L = [A 0; B C]: L⁻¹ = [A⁻¹ 0; −C⁻¹BA⁻¹ C⁻¹]; B is updated first, from the
/// original A and C, then A and C are inverted in place.
fn invert_lower_in_place<T: RealField + Copy>(mut m: MatMut<'_, T>, par: Par) {
    let n = m.nrows();
    if n <= LEAF {
        let src = lower_copy(m.rb());
        faer::linalg::triangular_inverse::invert_lower_triangular(m.rb_mut(), src.as_ref(), par);
        return;
    }
    let h = n / 2;
    let (a, _, mut b, c) = m.split_at_mut(h, h);
    solve_lower_triangular_in_place(c.rb(), b.rb_mut(), par);
    // X A = B  ⇔  Aᵀ Xᵀ = Bᵀ, with Aᵀ upper triangular.
    solve_upper_triangular_in_place(a.rb().transpose(), b.rb_mut().transpose_mut(), par);
    for j in 0..b.ncols() {
        for i in 0..b.nrows() {
            let v = b[(i, j)];
            b[(i, j)] = -v;
        }
    }
    invert_lower_in_place(a, par);
    invert_lower_in_place(c, par);
}

/// L ← lower(LᵀL) for a lower-triangular L. With L = [A 0; B C]:
/// LᵀL = [AᵀA + BᵀB, ·; CᵀB, CᵀC]; each block is computed before the blocks it reads
/// are overwritten (top-left from A and B, bottom-left from C and B, then bottom-right).
fn lower_gram_in_place<T: RealField + Copy>(mut m: MatMut<'_, T>, par: Par) {
    let n = m.nrows();
    if n <= LEAF {
        let l = lower_copy(m.rb());
        triangular::matmul(
            m.rb_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            l.transpose(),
            BlockStructure::TriangularUpper,
            l.as_ref(),
            BlockStructure::TriangularLower,
            T::one_impl(),
            par,
        );
        return;
    }
    let h = n / 2;
    let (mut a, _, mut b, c) = m.split_at_mut(h, h);
    lower_gram_in_place(a.rb_mut(), par);
    triangular::matmul(
        a.rb_mut(),
        BlockStructure::TriangularLower,
        Accum::Add,
        b.rb().transpose(),
        BlockStructure::Rectangular,
        b.rb(),
        BlockStructure::Rectangular,
        T::one_impl(),
        par,
    );
    upper_times_in_place(c.rb().transpose(), b.rb_mut(), par);
    lower_gram_in_place(c, par);
}

/// X ← U X for an upper-triangular U (upper triangle read). With U = [U₁ U₁₂; 0 U₃] and
/// X = [X₁; X₂]: UX = [U₁X₁ + U₁₂X₂; U₃X₂], so X₁ is finished before X₂ changes.
fn upper_times_in_place<T: RealField + Copy>(u: MatRef<'_, T>, mut x: MatMut<'_, T>, par: Par) {
    let k = u.nrows();
    if k <= LEAF {
        let rhs = x.rb().to_owned();
        triangular::matmul(
            x.rb_mut(),
            BlockStructure::Rectangular,
            Accum::Replace,
            u,
            BlockStructure::TriangularUpper,
            rhs.as_ref(),
            BlockStructure::Rectangular,
            T::one_impl(),
            par,
        );
        return;
    }
    let h = k / 2;
    let (u1, u12, _, u3) = u.split_at(h, h);
    let (mut x1, x2) = x.split_at_row_mut(h);
    upper_times_in_place(u1, x1.rb_mut(), par);
    faer::linalg::matmul::matmul(x1.rb_mut(), Accum::Add, u12, x2.rb(), T::one_impl(), par);
    upper_times_in_place(u3, x2, par);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn check<T: RealField + Copy + Into<f64>>(n: usize, tol: f64) {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(n as u64);
        let x: Vec<f64> = (0..n * (n + 3))
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        // G = XXᵀ + I: SPD, modestly conditioned.
        let g = Mat::<f64>::from_fn(n, n, |i, j| {
            (0..n + 3)
                .map(|t| x[i * (n + 3) + t] * x[j * (n + 3) + t])
                .sum::<f64>()
                + if i == j { 1.0 } else { 0.0 }
        });
        let mut a = Mat::<T>::from_fn(n, n, |i, j| {
            // Garbage above the diagonal: it must never be read.
            let v = if i >= j { g[(i, j)] } else { 1e6 };
            T::from_f64_impl(v)
        });
        invert_spd_lower(a.as_mut(), Par::Seq).unwrap();
        // P·G = I, using P's lower triangle mirrored.
        let p = |i: usize, j: usize| -> f64 { a[(i.max(j), i.min(j))].into() };
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..n).map(|t| p(i, t) * g[(t, j)]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((s - want).abs() < tol, "n {n}: (PG)[{i}][{j}] = {s}");
            }
        }
    }

    #[test]
    fn inverts_in_place_across_leaf_and_recursive_sizes() {
        for n in [1, 5, 32, 33, 70, 150] {
            check::<f64>(n, 1e-9);
        }
        check::<f32>(70, 2e-3);
    }

    #[test]
    fn refuses_a_matrix_that_is_not_positive_definite() {
        let mut a = Mat::<f64>::from_fn(3, 3, |i, j| if i == j { -1.0 } else { 0.0 });
        assert!(invert_spd_lower(a.as_mut(), Par::Seq).is_err());
    }
}
