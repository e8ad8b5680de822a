//! The batching engine both facades translate to ([`torch::data`](crate::torch::data) and
//! [`tf::data`](crate::tf::data)), and the loader recipe they and Keras's `fit` share
//! ([`Loader`]).
//!
//! A [`Pipeline`] is a [`Source`] (one tensor, a tuple or a dict of tensors whose first
//! dimension is the sample axis, held as given: no copy of the dataset; or [`RowFile`]s, arrays
//! in files read by rows, for datasets larger than memory) plus [`Op`]s with tf.data's
//! meaning. Iteration runs in three stages:
//!
//! 1. **order**: a stream of sample indices ([`stream`]): sequential, a seeded permutation
//!    ([`Order`], `u32` per sample below 2^32 samples) or tf.data's windowed shuffle (memory
//!    bounded by its buffer), then batch / repeat / take / skip / shard. Every order is a pure
//!    function of (seed, epoch, shard); no data is touched here.
//! 2. **gather**: one `index_select` per field per batch along the sample axis (a view per
//!    field for unbatched samples); file fields read the batch's rows with positioned reads,
//!    runs of nearby rows coalesced, so only the batches in flight are resident.
//! 3. **prefetch** (optional): stages 1-2 on a background thread feeding a bounded queue;
//!    dropping the iterator stops and joins the thread; errors arrive as `Err` items.
//!
//! | what | copies |
//! | --- | --- |
//! | building a pipeline, shuffling, sharding | nothing (indices only) |
//! | an unbatched element | nothing (views of the source) |
//! | a batch | exactly the batch's rows, once per field |
//! | a batch from a file | the batch's rows, read from the file (the file is never mapped) |

pub mod column;
pub mod fields;
pub mod gather;
pub mod loader;
pub mod op;
pub mod order;
pub mod pipeline;
pub mod prefetch;
pub(crate) mod rng;
pub mod row_file;
pub mod source;
pub mod stream;

pub use column::Column;
pub use fields::{Batch, Fields};
pub use loader::{Loader, LoaderSpec, Shard};
pub use op::{Cardinality, Op};
pub use order::Order;
pub use pipeline::{Batches, Pipeline};
pub use row_file::RowFile;
pub use source::Source;

/// The queue depth `AUTOTUNE` prefetch uses: two batches ahead keeps one core gathering while
/// the consumer works, without holding more memory than that.
pub const AUTOTUNE_DEPTH: usize = 2;

/// The deepest prefetch queue of a pipeline that never ends (`repeat()`): a finite one is
/// capped at the number of elements it yields, since the queue is allocated up front.
pub const MAX_PREFETCH_DEPTH: usize = 1 << 12;

/// `AUTOTUNE` prefetch starts a thread only for batches of at least this many bytes; below it
/// the hand-off costs more than the gather (see [`Pipeline::prefetch_depth`]).
pub const AUTOTUNE_MIN_BATCH_BYTES: usize = 256 << 10;
