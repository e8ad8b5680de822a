//! Index permutations: the order in which samples are visited.
//!
//! A permutation is a pure function of `(n, seed)` (callers derive the seed from the user's
//! seed and the epoch), stored as `u32` when `n <= 2^32` (4 bytes per sample) and as `u64`
//! otherwise. Only indices are stored: no data is touched.

use super::rng::Rng;

/// A permutation of `0..n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// Compact form for datasets with at most 2^32 samples.
    U32(Vec<u32>),
    /// Wide form for larger datasets.
    U64(Vec<u64>),
}

impl Order {
    /// The identity order `0..n`.
    pub fn sequential(n: u64) -> Self {
        if n <= 1 << 32 {
            Order::U32((0..n).map(|i| i as u32).collect())
        } else {
            Order::U64((0..n).collect())
        }
    }

    /// A uniformly random permutation of `0..n` (Fisher-Yates), determined by `seed`.
    pub fn shuffled(n: u64, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut order = Order::sequential(n);
        match &mut order {
            Order::U32(v) => fisher_yates(v, &mut rng),
            Order::U64(v) => fisher_yates(v, &mut rng),
        }
        order
    }

    /// Number of indices.
    pub fn len(&self) -> usize {
        match self {
            Order::U32(v) => v.len(),
            Order::U64(v) => v.len(),
        }
    }

    /// Whether there are no indices.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The index at position `pos`.
    pub fn get(&self, pos: usize) -> u64 {
        match self {
            Order::U32(v) => v[pos] as u64,
            Order::U64(v) => v[pos],
        }
    }
}

fn fisher_yates<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffled_is_a_permutation_and_deterministic() {
        let a = Order::shuffled(1000, 42);
        let mut seen = vec![false; 1000];
        for p in 0..a.len() {
            let i = a.get(p) as usize;
            assert!(!seen[i]);
            seen[i] = true;
        }
        assert_eq!(a, Order::shuffled(1000, 42));
        assert_ne!(a, Order::shuffled(1000, 43));
        assert_ne!(a, Order::sequential(1000));
    }

    #[test]
    fn small_datasets_use_u32() {
        assert!(matches!(Order::sequential(10), Order::U32(_)));
        assert!(Order::shuffled(0, 1).is_empty());
    }
}
