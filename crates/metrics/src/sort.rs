//! LSD radix sort of `f64` keys (with an optional payload): the hot loop of AUC.

/// Maps an `f64` to a `u64` whose unsigned order is the float order (−0.0 == 0.0).
#[inline]
pub fn order_key(x: f64) -> u64 {
    let b = (x + 0.0).to_bits(); // + 0.0 turns −0.0 into 0.0, so they tie
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

const BITS: u32 = 11;
const BUCKETS: usize = 1 << BITS;
const PASSES: u32 = 64_u32.div_ceil(BITS);

/// Sorts `keys` ascending, moving `payload` along; stable. Passes in which every key
/// has the same digit are skipped (common for probabilities, whose exponents agree).
pub fn radix_sort<T: Copy + Default>(keys: &mut Vec<u64>, payload: &mut Vec<T>) {
    let n = keys.len();
    let with_payload = std::mem::size_of::<T>() > 0;
    assert!(!with_payload || payload.len() == n);
    if n < 256 {
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by_key(|&i| keys[i]);
        *keys = idx.iter().map(|&i| keys[i]).collect();
        if with_payload {
            *payload = idx.iter().map(|&i| payload[i]).collect();
        }
        return;
    }
    let mut hist = vec![[0usize; BUCKETS]; PASSES as usize];
    for &k in keys.iter() {
        for (p, h) in hist.iter_mut().enumerate() {
            h[((k >> (p as u32 * BITS)) as usize) & (BUCKETS - 1)] += 1;
        }
    }
    let mut kbuf = vec![0u64; n];
    let mut pbuf = if with_payload {
        vec![T::default(); n]
    } else {
        Vec::new()
    };
    for (p, h) in hist.iter().enumerate() {
        if h.contains(&n) {
            continue; // every key has this digit: the pass would not move anything
        }
        let mut offs = [0usize; BUCKETS];
        let mut acc = 0;
        for (o, &c) in offs.iter_mut().zip(h.iter()) {
            *o = acc;
            acc += c;
        }
        let shift = p as u32 * BITS;
        if with_payload {
            for (&k, &v) in keys.iter().zip(payload.iter()) {
                let d = ((k >> shift) as usize) & (BUCKETS - 1);
                kbuf[offs[d]] = k;
                pbuf[offs[d]] = v;
                offs[d] += 1;
            }
            std::mem::swap(payload, &mut pbuf);
        } else {
            for &k in keys.iter() {
                let d = ((k >> shift) as usize) & (BUCKETS - 1);
                kbuf[offs[d]] = k;
                offs[d] += 1;
            }
        }
        std::mem::swap(keys, &mut kbuf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_total_order_with_payload() {
        let mut x: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 1013) as f64 / 97.0 - 5.0)
            .collect();
        x.extend([-0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY, 1e-300, -1e-300]);
        let mut keys: Vec<u64> = x.iter().map(|&v| order_key(v)).collect();
        let mut pay: Vec<u32> = (0..x.len() as u32).collect();
        radix_sort(&mut keys, &mut pay);
        let sorted: Vec<f64> = pay.iter().map(|&i| x[i as usize]).collect();
        assert!(sorted.windows(2).all(|w| w[0] <= w[1]));
        assert!(keys.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(order_key(-0.0), order_key(0.0));
    }
}
