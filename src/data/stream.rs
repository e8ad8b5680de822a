//! The item stream: sample indices flowing through the pipeline's steps, before any data is
//! touched. Every order is a pure function of the steps, the source length and an epoch key.

use std::sync::Arc;

use super::op::Op;
use super::order::Order;
use super::rng::{derive, Rng};

/// What flows between steps: one sample index, or a group of them after `Batch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// One sample.
    Sample(u64),
    /// A batch of samples, in order.
    Group(Vec<u64>),
}

/// A boxed stream of items.
pub type Stream = Box<dyn Iterator<Item = Item> + Send>;

/// Build the stream of `ops` over a source of `n` samples for the epoch `key`.
pub fn build(n: u64, ops: &Arc<[Op]>, key: u64) -> Stream {
    build_prefix(n, ops, ops.len(), key)
}

fn build_prefix(n: u64, ops: &Arc<[Op]>, end: usize, key: u64) -> Stream {
    let Some(last) = end.checked_sub(1) else {
        return Box::new((0..n).map(Item::Sample));
    };
    let upstream = || build_prefix(n, ops, last, key);
    match &ops[last] {
        Op::Permute { seed, reshuffle_each_iteration } => {
            Box::new(permutation(n, *seed, *reshuffle_each_iteration, key))
        }
        // A shuffle of the whole source is a uniform permutation: draw it directly (4 bytes per
        // sample instead of a buffer of items).
        Op::Shuffle { buffer_size, seed, reshuffle_each_iteration } if last == 0 && *buffer_size >= n => {
            Box::new(permutation(n, *seed, *reshuffle_each_iteration, key))
        }
        Op::Shuffle { buffer_size, seed, reshuffle_each_iteration } => {
            let seed = if *reshuffle_each_iteration { derive(*seed, &[key]) } else { derive(*seed, &[]) };
            Box::new(WindowShuffle::new(upstream(), *buffer_size as usize, seed))
        }
        Op::Batch { size, drop_remainder } => {
            // a group holds at most `n` samples unless repeats feed it: size its buffer by
            // what exists, not by the requested size (which may be 2**63)
            let size = usize::try_from(*size).unwrap_or(usize::MAX);
            let capacity = size.min(usize::try_from(n).unwrap_or(usize::MAX));
            Box::new(Batcher { upstream: upstream(), size, capacity, drop_remainder: *drop_remainder })
        }
        Op::Repeat { count } => Box::new(Repeat {
            n,
            ops: ops.clone(),
            end: last,
            key,
            count: *count,
            done: 0,
            current: None,
            produced: false,
        }),
        Op::Take(k) => Box::new(upstream().take(usize::try_from(*k).unwrap_or(usize::MAX))),
        Op::Skip(k) => Box::new(upstream().skip(usize::try_from(*k).unwrap_or(usize::MAX))),
        Op::Shard { num_shards, index } => {
            Box::new(upstream().skip(*index as usize).step_by(*num_shards as usize))
        }
        Op::Prefetch { .. } => upstream(),
    }
}

fn permutation(n: u64, seed: u64, reshuffle: bool, key: u64) -> impl Iterator<Item = Item> + Send {
    let seed = if reshuffle { derive(seed, &[key]) } else { derive(seed, &[]) };
    let order = Order::shuffled(n, seed);
    (0..order.len()).map(move |p| Item::Sample(order.get(p)))
}

/// tf.data's shuffle: fill a buffer, emit a uniformly chosen slot, refill it from upstream.
/// An item at input position `p` is emitted at output position `>= p - (buffer_size - 1)`.
struct WindowShuffle {
    upstream: Stream,
    buffer: Vec<Item>,
    capacity: usize,
    rng: Rng,
    upstream_done: bool,
}

impl WindowShuffle {
    fn new(upstream: Stream, capacity: usize, seed: u64) -> Self {
        WindowShuffle { upstream, buffer: Vec::new(), capacity, rng: Rng::new(seed), upstream_done: false }
    }
}

impl Iterator for WindowShuffle {
    type Item = Item;
    fn next(&mut self) -> Option<Item> {
        while !self.upstream_done && self.buffer.len() < self.capacity {
            match self.upstream.next() {
                Some(item) => self.buffer.push(item),
                None => self.upstream_done = true,
            }
        }
        if self.buffer.is_empty() {
            return None;
        }
        let j = self.rng.below(self.buffer.len() as u64) as usize;
        let refill = if self.upstream_done { None } else { self.upstream.next() };
        match refill {
            Some(next) => Some(std::mem::replace(&mut self.buffer[j], next)),
            None => {
                self.upstream_done = true;
                Some(self.buffer.swap_remove(j))
            }
        }
    }
}

struct Batcher {
    upstream: Stream,
    size: usize,
    capacity: usize,
    drop_remainder: bool,
}

impl Iterator for Batcher {
    type Item = Item;
    fn next(&mut self) -> Option<Item> {
        let mut group = Vec::with_capacity(self.capacity);
        for item in self.upstream.by_ref() {
            match item {
                Item::Sample(i) => group.push(i),
                // nesting is refused when the pipeline is built
                Item::Group(g) => group.extend(g),
            }
            if group.len() == self.size {
                return Some(Item::Group(group));
            }
        }
        (!group.is_empty() && !self.drop_remainder).then_some(Item::Group(group))
    }
}

struct Repeat {
    n: u64,
    ops: Arc<[Op]>,
    end: usize,
    key: u64,
    count: Option<u64>,
    done: u64,
    current: Option<Stream>,
    produced: bool,
}

impl Iterator for Repeat {
    type Item = Item;
    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(stream) = &mut self.current {
                if let Some(item) = stream.next() {
                    self.produced = true;
                    return Some(item);
                }
                self.current = None;
                self.done += 1;
                // an empty upstream repeated forever is empty, not a hang (as tf.data)
                if !self.produced {
                    return None;
                }
            }
            if self.count.is_some_and(|c| self.done >= c) {
                return None;
            }
            self.produced = false;
            let key = derive(self.key, &[self.done]);
            self.current = Some(build_prefix(self.n, &self.ops, self.end, key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(n: u64, ops: Vec<Op>) -> Vec<Item> {
        build(n, &Arc::from(ops), 0).collect()
    }

    fn samples(items: &[Item]) -> Vec<u64> {
        items.iter().map(|i| if let Item::Sample(s) = i { *s } else { panic!("group") }).collect()
    }

    #[test]
    fn window_of_one_is_identity() {
        let out = run(20, vec![Op::Shuffle { buffer_size: 1, seed: 3, reshuffle_each_iteration: true }]);
        assert_eq!(samples(&out), (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn repeat_of_empty_ends() {
        assert!(run(0, vec![Op::Repeat { count: None }]).is_empty());
    }

    #[test]
    fn batch_then_take() {
        let out = run(10, vec![Op::Batch { size: 4, drop_remainder: false }, Op::Take(5)]);
        assert_eq!(
            out,
            vec![Item::Group(vec![0, 1, 2, 3]), Item::Group(vec![4, 5, 6, 7]), Item::Group(vec![8, 9])]
        );
    }
}
