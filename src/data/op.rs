//! [`Op`]: the steps of a pipeline, with tf.data's meaning, and [`Cardinality`].

/// One step applied to the stream of items (a sample index before `Batch`, a group of indices
/// after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A full random permutation of the source per epoch (torch's `shuffle=True`). Only valid
    /// as the first step.
    Permute {
        /// Base seed; the epoch is mixed in when `reshuffle_each_iteration`.
        seed: u64,
        /// Whether each epoch gets a new order.
        reshuffle_each_iteration: bool,
    },
    /// tf.data's windowed shuffle: a buffer of `buffer_size` items, each output drawn
    /// uniformly from the buffer and replaced by the next input.
    Shuffle {
        /// Buffer size in items (> 0).
        buffer_size: u64,
        /// Base seed.
        seed: u64,
        /// Whether each iteration (and each repetition of an enclosing `Repeat`) reshuffles.
        reshuffle_each_iteration: bool,
    },
    /// Group `size` consecutive items; the last short group is dropped when `drop_remainder`.
    Batch {
        /// Items per group (> 0).
        size: u64,
        /// Drop a final group shorter than `size`.
        drop_remainder: bool,
    },
    /// Run the upstream `count` times (`None`: forever, stopping only if it is empty).
    Repeat {
        /// Number of repetitions.
        count: Option<u64>,
    },
    /// At most the first `n` items.
    Take(u64),
    /// All but the first `n` items.
    Skip(u64),
    /// Items `index, index + num_shards, ...` (item `i` goes to shard `i % num_shards`).
    Shard {
        /// Number of shards (> 0).
        num_shards: u64,
        /// This shard (< `num_shards`).
        index: u64,
    },
    /// Gather batches on a background thread, up to `buffer` ahead (0: no thread). The order of
    /// items is unchanged wherever it appears, so the pipeline runs one queue at its end, sized
    /// by the largest `Prefetch` in it.
    Prefetch {
        /// Queue depth in elements.
        buffer: usize,
        /// `AUTOTUNE`: the engine may run without a thread where the hand-off would cost more
        /// than the gather it hides (batches below [`AUTOTUNE_MIN_BATCH_BYTES`](super::AUTOTUNE_MIN_BATCH_BYTES)).
        autotune: bool,
    },
}

/// How many elements a pipeline yields, as tf.data's `cardinality()` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// Exactly this many.
    Finite(u64),
    /// Never ends (`repeat()` of a non-empty dataset).
    Infinite,
    /// Not known without iterating (no step of this engine produces it today; kept for parity
    /// with tf.data and for future filtering steps).
    Unknown,
}

impl Cardinality {
    /// tf.data's `INFINITE_CARDINALITY`.
    pub const INFINITE: i64 = -1;
    /// tf.data's `UNKNOWN_CARDINALITY`.
    pub const UNKNOWN: i64 = -2;

    /// The number tf.data's `cardinality()` returns (`-1` infinite, `-2` unknown).
    pub fn as_i64(self) -> i64 {
        match self {
            Cardinality::Finite(n) => i64::try_from(n).unwrap_or(i64::MAX),
            Cardinality::Infinite => Self::INFINITE,
            Cardinality::Unknown => Self::UNKNOWN,
        }
    }

    /// The cardinality after applying `op`.
    pub fn after(self, op: &Op) -> Cardinality {
        use Cardinality::*;
        match (op, self) {
            (Op::Permute { .. } | Op::Shuffle { .. } | Op::Prefetch { .. }, c) => c,
            (_, Unknown) => match op {
                Op::Repeat { count: Some(0) } | Op::Take(0) => Finite(0),
                _ => Unknown,
            },
            (Op::Batch { size, drop_remainder }, Finite(n)) => {
                Finite(if *drop_remainder { n / size } else { n.div_ceil(*size) })
            }
            (Op::Repeat { count: None }, Finite(n)) => {
                if n == 0 {
                    Finite(0)
                } else {
                    Infinite
                }
            }
            (Op::Repeat { count: Some(c) }, Finite(n)) => Finite(n.saturating_mul(*c)),
            (Op::Repeat { count: Some(0) }, Infinite) => Finite(0),
            (Op::Take(k), Finite(n)) => Finite(n.min(*k)),
            (Op::Take(k), Infinite) => Finite(*k),
            (Op::Skip(k), Finite(n)) => Finite(n.saturating_sub(*k)),
            (Op::Shard { num_shards, index }, Finite(n)) => {
                Finite(n / num_shards + u64::from(index < &(n % num_shards)))
            }
            (_, Infinite) => Infinite,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cardinality_follows_tf() {
        let c = Cardinality::Finite(10);
        assert_eq!(c.after(&Op::Batch { size: 3, drop_remainder: false }), Cardinality::Finite(4));
        assert_eq!(c.after(&Op::Batch { size: 3, drop_remainder: true }), Cardinality::Finite(3));
        assert_eq!(c.after(&Op::Repeat { count: None }), Cardinality::Infinite);
        assert_eq!(Cardinality::Finite(0).after(&Op::Repeat { count: None }), Cardinality::Finite(0));
        assert_eq!(Cardinality::Infinite.after(&Op::Take(5)), Cardinality::Finite(5));
        assert_eq!(c.after(&Op::Skip(12)), Cardinality::Finite(0));
        assert_eq!(c.after(&Op::Shard { num_shards: 3, index: 0 }), Cardinality::Finite(4));
        assert_eq!(c.after(&Op::Shard { num_shards: 3, index: 1 }), Cardinality::Finite(3));
        assert_eq!(Cardinality::Infinite.as_i64(), -1);
        assert_eq!(Cardinality::Unknown.as_i64(), -2);
    }
}
