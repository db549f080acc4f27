//! Initial values: Xavier (Glorot) and He (Kaiming) uniform, from a seeded stream.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded random stream (ChaCha8), so a model's initial values depend only on its seed.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` values uniform in `[-a, a]` with `a = √(6 / (fan_in + fan_out))` (Glorot & Bengio).
pub fn xavier_uniform(rng: &mut ChaCha8Rng, fan_in: usize, fan_out: usize, n: usize) -> Vec<f32> {
    let a = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt() as f32;
    (0..n).map(|_| rng.random_range(-a..=a)).collect()
}

/// `n` values uniform in `[-a, a]` with `a = √(6 / fan_in)` (He et al., for ReLU).
pub fn he_uniform(rng: &mut ChaCha8Rng, fan_in: usize, n: usize) -> Vec<f32> {
    let a = (6.0 / fan_in.max(1) as f64).sqrt() as f32;
    (0..n).map(|_| rng.random_range(-a..=a)).collect()
}

/// `n` values normal with standard deviation `std` (Box–Muller).
pub fn normal(rng: &mut ChaCha8Rng, std: f32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
            let u2: f64 = rng.random();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32 * std
        })
        .collect()
}
