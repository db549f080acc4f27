//! Finite-difference gradient checks, for the tests of every layer and loss (here and in
//! the crates that build models on this one).

/// The central-difference gradient of `f` at `x`: `(f(x + εeᵢ) − f(x − εeᵢ)) / 2ε`.
pub fn numeric_gradient(x: &[f32], eps: f32, mut f: impl FnMut(&[f32]) -> f64) -> Vec<f32> {
    let mut at = x.to_vec();
    (0..x.len())
        .map(|i| {
            at[i] = x[i] + eps;
            let up = f(&at);
            at[i] = x[i] - eps;
            let down = f(&at);
            at[i] = x[i];
            ((up - down) / (2.0 * eps as f64)) as f32
        })
        .collect()
}

/// The largest `|a − n| / max(1, |n|)` between an analytic and a numeric gradient.
pub fn max_relative_error(analytic: &[f32], numeric: &[f32]) -> f32 {
    assert_eq!(analytic.len(), numeric.len(), "gradient lengths");
    analytic
        .iter()
        .zip(numeric)
        .map(|(a, n)| (a - n).abs() / n.abs().max(1.0))
        .fold(0.0, f32::max)
}

/// A fixed pseudo-random weight per output, so that `Σ rᵢ yᵢ` is a scalar whose gradient
/// with respect to `y` is `r`.
pub fn probe(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// `Σ rᵢ yᵢ` in f64.
pub fn dot(r: &[f32], y: &[f32]) -> f64 {
    r.iter().zip(y).map(|(a, b)| *a as f64 * *b as f64).sum()
}
