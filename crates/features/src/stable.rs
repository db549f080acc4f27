//! Things whose output must never change between processes, machines or versions of
//! our dependencies, because saved pipelines and built sample sets depend on them:
//! the token hash, the sampling RNG, the text form of numbers used as tokens, and the
//! exact JSON form of fitted statistics.

/// FNV-1a over the bytes, then MurmurHash3's 64-bit finaliser to spread FNV's weak low
/// bits. Hand-written on purpose: std's hasher is seeded per process and rustc-hash
/// changed its output between major versions; either would silently re-map every hashed
/// feature of a saved model.
pub(crate) fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    fmix64(h)
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// SplitMix64: a tiny RNG whose sequence is fixed by its definition, so a seed in a spec
/// file gives the same negatives on every machine and with every `rand` version.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift (bias below 2^-32 for our sizes).
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
}

/// The token of a number used where a token is expected (a numeric column in a
/// categorical field or a cross): integers print without a fraction, so `Num(1995.0)`
/// and `Token("1995")` are the same token; other values print in Rust's shortest
/// round-trip form. Non-finite numbers have no token (they are missing).
pub(crate) fn num_token(x: f64) -> Option<String> {
    if !x.is_finite() {
        None
    } else if x.fract() == 0.0 && x.abs() < 1e15 {
        Some(format!("{}", x as i64))
    } else {
        Some(format!("{x:?}"))
    }
}

/// Clamps into the finite `f64` range, with NaN read as 0: every step of a numeric
/// transform goes through this, so no statistic or value can become non-finite and
/// poison later steps (`inf - inf`).
#[inline]
pub(crate) fn finite(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(-f64::MAX, f64::MAX)
    }
}

/// Serde for `f64` as a decimal string in Rust's shortest round-trip form. A saved
/// pipeline must give bit-identical features in another process, and serde_json's
/// default float parser is only "best effort"; Rust's `str::parse` is exact.
pub(crate) mod exact {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{x:?}"))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a number")))
    }
}

/// [`exact`] for a list of numbers.
pub(crate) mod exact_vec {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(xs: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(xs.len()))?;
        for x in xs {
            seq.serialize_element(&format!("{x:?}"))?;
        }
        seq.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a number")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_rng_are_fixed_by_definition() {
        // Pinned values: if these change, every saved hashed pipeline breaks.
        assert_eq!(hash64(b""), fmix64(0xcbf2_9ce4_8422_2325));
        assert_eq!(hash64(b"a"), fmix64(0xaf63_dc4c_8601_ec8c));
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        let mut r = SplitMix64::new(7);
        let xs: Vec<f64> = (0..1000).map(|_| r.next_f64()).collect();
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
        assert!((0..1000).all(|_| r.below(5) < 5));
    }

    #[test]
    fn numbers_as_tokens() {
        assert_eq!(num_token(1995.0).as_deref(), Some("1995"));
        assert_eq!(num_token(-0.0).as_deref(), Some("0"));
        assert_eq!(num_token(2.5).as_deref(), Some("2.5"));
        assert_eq!(num_token(1e300).as_deref(), Some("1e300"));
        assert_eq!(num_token(f64::NAN), None);
        assert_eq!(num_token(f64::NEG_INFINITY), None);
    }

    #[test]
    fn exact_round_trip_of_awkward_floats() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct S {
            #[serde(with = "exact")]
            x: f64,
            #[serde(with = "exact_vec")]
            v: Vec<f64>,
        }
        let awkward = [
            2.638_344_616_030_823e-256,
            0.1 + 0.2,
            f64::MAX,
            -f64::MIN_POSITIVE,
            5e-324,
            1.0 / 3.0,
        ];
        let s = S {
            x: awkward[0],
            v: awkward.to_vec(),
        };
        let back: S = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back.x.to_bits(), s.x.to_bits());
        for (a, b) in back.v.iter().zip(&s.v) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }
}
