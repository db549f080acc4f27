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

/// Row `row`'s initial values, drawn from `(seed, row)` alone (SplitMix64), uniform with
/// standard deviation `std`: a table that grows while learning online gets the values it
/// would have had if made that big at once, whatever order its rows arrive in.
pub fn uniform_row(seed: u64, row: u64, std: f32, out: &mut [f32]) {
    let mut s = seed ^ row.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    for x in out.iter_mut() {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let u = (z >> 40) as f32 / (1u64 << 24) as f32;
        *x = (2.0 * u - 1.0) * 3f32.sqrt() * std;
    }
}

/// A linear layer's weights (`out × inp`), Xavier-uniform from `seed`.
pub fn xavier_weights(inp: usize, out: usize, seed: u64) -> Vec<f32> {
    xavier_uniform(&mut rng(seed), inp, out, inp * out)
}
