//! `tf.data.Dataset`, translated to the [`data`](crate::data) engine: each method appends one
//! [`Op`] with tf.data's meaning, so steps chain in any order (shuffle after batch shuffles
//! whole batches; a shuffle buffer smaller than the data is tf.data's windowed shuffle).
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_numpy::tf::data::{Dataset, AUTOTUNE};
//! let x = Tensor::rand(0f32, 1., (100, 10), &Device::Cpu)?;
//! let y = Tensor::zeros(100, DType::I64, &Device::Cpu)?;
//! let ds = Dataset::from_tensor_slices((x, y))?
//!     .shuffle(100, Some(0), true)?
//!     .batch(32, false)?
//!     .prefetch(AUTOTUNE)?;
//! assert_eq!(ds.len()?, 4);
//! for batch in ds.iter() {
//!     let batch = batch?.into_tensors();
//!     assert_eq!(batch[0].dim(1)?, 10);
//! }
//! # Ok::<(), candle_numpy::Error>(())
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use std::path::Path;

use crate::data::{
    rng::random_seed, Batches, Cardinality, Column, Fields, Op, Pipeline, RowFile, Source, AUTOTUNE_DEPTH,
};
use crate::error::{Error, Result};

/// `tf.data.AUTOTUNE`: pass to [`Dataset::prefetch`] to let the engine pick the depth.
pub const AUTOTUNE: i64 = -1;

/// `tf.data.Dataset` over tensor slices.
///
/// Immutable: every method returns a new dataset. Each [`iter`](Dataset::iter) is a new
/// iteration (a new shuffle order where `reshuffle_each_iteration`).
#[derive(Debug)]
pub struct Dataset {
    pipeline: Pipeline,
    iterations: AtomicU64,
}

impl Clone for Dataset {
    fn clone(&self) -> Self {
        Dataset {
            pipeline: self.pipeline.clone(),
            iterations: AtomicU64::new(self.iterations.load(Ordering::Relaxed)),
        }
    }
}

impl Dataset {
    /// `Dataset.from_tensor_slices(x | (x, y) | {"k": x})`: one element per row of the
    /// tensors, which must agree on their first dimension; elements keep the structure.
    pub fn from_tensor_slices(tensors: impl Into<Fields>) -> Result<Self> {
        Ok(Self::wrap(Pipeline::new(Source::new(tensors)?)))
    }

    /// A dataset over `.npy` files read by rows, for data larger than memory: one path gives
    /// single-tensor elements, several give tuples (`(x, y)`), which must agree on their row
    /// count. Batches are read from the files with positioned reads; nothing else of the files
    /// is resident (see [`RowFile`]).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (px, py) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    /// use candle_core::{Device, Tensor};
    /// use candle_numpy::tf::data::Dataset;
    /// candle_numpy::npy::save(&px, &Tensor::arange(0f32, 20., &Device::Cpu)?.reshape((10, 2))?)?;
    /// candle_numpy::npy::save(&py, &Tensor::arange(0i64, 10, &Device::Cpu)?)?;
    /// let ds = Dataset::from_npy(&[&px, &py])?.shuffle(10, Some(0), true)?.batch(4, false)?;
    /// let first = ds.iter().next().unwrap()?.into_tensors();
    /// assert_eq!((first[0].dims(), first[1].dims()), (&[4, 2][..], &[4][..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_npy<P: AsRef<Path>>(paths: &[P]) -> Result<Self> {
        let mut columns =
            paths.iter().map(|p| Ok(Column::from(RowFile::open_npy(p)?))).collect::<Result<Vec<_>>>()?;
        let fields =
            if columns.len() == 1 { Fields::Single(columns.remove(0)) } else { Fields::Tuple(columns) };
        Self::from_columns(fields)
    }

    /// A dataset over any mix of tensors and files by rows, in any structure (e.g. a dict
    /// `{"x": file, "y": tensor}`).
    pub fn from_columns(columns: Fields<Column>) -> Result<Self> {
        Ok(Self::wrap(Pipeline::new(Source::from_columns(columns)?)))
    }

    fn wrap(pipeline: Pipeline) -> Self {
        Dataset { pipeline, iterations: AtomicU64::new(0) }
    }

    fn then(&self, op: Op) -> Result<Self> {
        Ok(Self::wrap(self.pipeline.then(op)?))
    }

    /// `shuffle(buffer_size, seed=None, reshuffle_each_iteration=True)`: tf.data's windowed
    /// shuffle (an element moves at most `buffer_size - 1` places earlier). `seed: None` picks a
    /// random seed now.
    pub fn shuffle(
        &self,
        buffer_size: u64,
        seed: Option<u64>,
        reshuffle_each_iteration: bool,
    ) -> Result<Self> {
        let seed = seed.unwrap_or_else(random_seed);
        self.then(Op::Shuffle { buffer_size, seed, reshuffle_each_iteration })
    }

    /// `batch(batch_size, drop_remainder=False)`. A second `batch` is refused
    /// ([`Error::NestedBatch`]).
    pub fn batch(&self, batch_size: u64, drop_remainder: bool) -> Result<Self> {
        self.then(Op::Batch { size: batch_size, drop_remainder })
    }

    /// `prefetch(buffer_size)`: gather on a background thread, `buffer_size` elements ahead
    /// (0 prefetches nothing). [`AUTOTUNE`] lets the engine choose: two batches ahead, or no
    /// thread at all for batches under [`AUTOTUNE_MIN_BATCH_BYTES`](crate::data::AUTOTUNE_MIN_BATCH_BYTES),
    /// whose gather is cheaper than the hand-off.
    pub fn prefetch(&self, buffer_size: i64) -> Result<Self> {
        let (buffer, autotune) = match buffer_size {
            AUTOTUNE => (AUTOTUNE_DEPTH, true),
            n if n >= 0 => (n as usize, false),
            n => {
                return Err(Error::InvalidArgument {
                    operation: "prefetch",
                    argument: "buffer_size",
                    value: n.to_string(),
                    fix: "use a depth >= 0, or AUTOTUNE (-1)",
                })
            }
        };
        self.then(Op::Prefetch { buffer, autotune })
    }

    /// `tf.data.experimental.prefetch_to_device(device, buffer_size)` applied to this
    /// dataset: prefetch `buffer_size` elements ([`AUTOTUNE`] or `None` picks the depth, at
    /// least one) on a background thread that also moves each element to `device`, so the
    /// host-to-device copy overlaps the consumer's work. A CPU `device` is plain prefetching.
    ///
    /// ```
    /// use candle_core::{Device, Tensor};
    /// use candle_numpy::tf::data::Dataset;
    /// let ds = Dataset::from_tensor_slices(Tensor::arange(0f32, 10., &Device::Cpu)?)?
    ///     .batch(4, false)?
    ///     .prefetch_to_device(&Device::Cpu, None)?;
    /// let sizes: Vec<usize> = ds.iter().map(|b| Ok(b?.tensors()[0].dim(0)?)).collect::<candle_numpy::Result<_>>()?;
    /// assert_eq!(sizes, [4, 4, 2]);
    /// # Ok::<(), candle_numpy::Error>(())
    /// ```
    pub fn prefetch_to_device(&self, device: &candle_core::Device, buffer_size: Option<i64>) -> Result<Self> {
        let prefetched = match buffer_size.unwrap_or(AUTOTUNE) {
            // AUTOTUNE here always starts the thread: the point is the overlapped copy
            AUTOTUNE => self.prefetch(AUTOTUNE_DEPTH as i64)?,
            n if n < 0 => self.prefetch(n)?, // the error names the argument
            n => self.prefetch(n.max(1))?,
        };
        Ok(Self::wrap(prefetched.pipeline.to_device(device.clone())))
    }

    /// `repeat(count=None)`: `None` repeats forever. Each repetition of a shuffle with
    /// `reshuffle_each_iteration` gets a new order.
    pub fn repeat(&self, count: Option<u64>) -> Result<Self> {
        self.then(Op::Repeat { count })
    }

    /// `take(count)`: at most `count` elements (tf.data's `take(-1)` is `take(u64::MAX)`).
    pub fn take(&self, count: u64) -> Result<Self> {
        self.then(Op::Take(count))
    }

    /// `skip(count)`: drop the first `count` elements (tf.data's `skip(-1)` is `skip(u64::MAX)`).
    pub fn skip(&self, count: u64) -> Result<Self> {
        self.then(Op::Skip(count))
    }

    /// `shard(num_shards, index)`: elements `index, index + num_shards, ...`.
    pub fn shard(&self, num_shards: u64, index: u64) -> Result<Self> {
        self.then(Op::Shard { num_shards, index })
    }

    /// `cardinality()`: exact where tf.data knows it.
    pub fn cardinality(&self) -> Cardinality {
        self.pipeline.cardinality()
    }

    /// `len(ds)`: the cardinality, or an error when it is infinite or unknown (as tf.data).
    pub fn len(&self) -> Result<u64> {
        match self.cardinality() {
            Cardinality::Finite(n) => Ok(n),
            Cardinality::Infinite => Err(Error::UnboundedLength { cardinality: "infinite" }),
            Cardinality::Unknown => Err(Error::UnboundedLength { cardinality: "unknown" }),
        }
    }

    /// Whether the dataset is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.cardinality() == Cardinality::Finite(0)
    }

    /// A new iteration over the elements, each with the source's structure.
    pub fn iter(&self) -> Batches {
        let iteration = self.iterations.fetch_add(1, Ordering::Relaxed);
        self.pipeline.iter(iteration)
    }

    /// The engine pipeline underneath.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
}

impl crate::data::Shard for Dataset {
    fn shard(&self, num_shards: usize, index: usize) -> Result<Self> {
        Dataset::shard(self, num_shards as u64, index as u64)
    }
}
