//! [`Pipeline`]: a source plus validated steps; [`Batches`]: one pass over it.

use std::sync::Arc;

use candle_core::Device;

use super::fields::Fields;
use super::gather::gather;
use super::op::{Cardinality, Op};
use super::prefetch::Prefetch;
use super::source::Source;
use super::stream::{build, Stream};
use crate::error::{Error, Result};

/// A dataset: a [`Source`] and the [`Op`]s applied to its stream of samples.
///
/// Immutable and cheap to clone (the source is shared); [`Pipeline::then`] returns a new
/// pipeline. [`Pipeline::iter`] runs one pass for an epoch key: the order is a pure function of
/// the steps (with their seeds), the source length and that key.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candle_numpy::data::{Op, Pipeline, Source};
/// let x = Tensor::arange(0u32, 10, &Device::Cpu)?;
/// let p = Pipeline::new(Source::new(x)?)
///     .then(Op::Shuffle { buffer_size: 10, seed: 1, reshuffle_each_iteration: true })?
///     .then(Op::Batch { size: 4, drop_remainder: false })?;
/// let sizes: Vec<usize> = p.iter(0).map(|b| Ok(b?.tensors()[0].dim(0)?)).collect::<candle_numpy::Result<_>>()?;
/// assert_eq!(sizes, [4, 4, 2]);
/// # Ok::<(), candle_numpy::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Pipeline {
    source: Arc<Source>,
    ops: Arc<[Op]>,
    /// Where every element is moved after its gather (`None`: where the source lives).
    device: Option<Device>,
}

impl Pipeline {
    /// A pipeline that yields each sample of `source` once, in order.
    pub fn new(source: Source) -> Self {
        Pipeline { source: Arc::new(source), ops: Arc::from(Vec::new()), device: None }
    }

    /// A new pipeline whose elements are moved to `device` right after their gather: on the
    /// background thread when the pipeline prefetches (so the host-to-device copy overlaps the
    /// consumer's work, as `tf.data.experimental.prefetch_to_device` does), inline otherwise.
    /// Moving to the device the source already lives on costs nothing (candle returns the same
    /// tensor). On a CUDA device the prefetch thread waits for each copy to finish before
    /// queueing the batch, so a batch handed out is resident.
    ///
    /// ```
    /// use candle_core::{Device, Tensor};
    /// use candle_numpy::data::{Op, Pipeline, Source};
    /// let p = Pipeline::new(Source::new(Tensor::arange(0f32, 8., &Device::Cpu)?)?)
    ///     .then(Op::Batch { size: 4, drop_remainder: false })?
    ///     .to_device(Device::Cpu);
    /// assert!(p.device().is_some_and(|d| d.is_cpu()));
    /// assert_eq!(p.iter(0).count(), 2);
    /// # Ok::<(), candle_numpy::Error>(())
    /// ```
    pub fn to_device(&self, device: Device) -> Pipeline {
        Pipeline { source: self.source.clone(), ops: self.ops.clone(), device: Some(device) }
    }

    /// The device elements are moved to, if one was set with [`Pipeline::to_device`].
    pub fn device(&self) -> Option<&Device> {
        self.device.as_ref()
    }

    /// The source.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The steps, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Whether a `Batch` step is present (elements then have a batch axis).
    pub fn is_batched(&self) -> bool {
        self.ops.iter().any(|op| matches!(op, Op::Batch { .. }))
    }

    /// A new pipeline with `op` appended, after checking its arguments.
    pub fn then(&self, op: Op) -> Result<Pipeline> {
        validate(&op, self)?;
        let mut ops = self.ops.to_vec();
        ops.push(op);
        Ok(Pipeline { source: self.source.clone(), ops: Arc::from(ops), device: self.device.clone() })
    }

    /// How many elements one pass yields.
    pub fn cardinality(&self) -> Cardinality {
        self.ops.iter().fold(Cardinality::Finite(self.source.len()), |c, op| c.after(op))
    }

    /// The queue depth of background prefetch (0: none), at most the number of elements the
    /// pipeline yields (or [`MAX_PREFETCH_DEPTH`](super::MAX_PREFETCH_DEPTH) when it never
    /// ends): the queue is allocated up front. An `AUTOTUNE`-only prefetch of
    /// batches smaller than [`AUTOTUNE_MIN_BATCH_BYTES`](super::AUTOTUNE_MIN_BATCH_BYTES) runs
    /// inline: handing a batch of a few KiB to another thread costs more than gathering it
    /// (measured: 1M x 10 f32 at batch 32, 7.1 M samples/s with the thread vs 11.9 M without).
    pub fn prefetch_depth(&self) -> usize {
        let mut explicit = 0;
        let mut tuned = 0;
        for op in self.ops.iter() {
            if let Op::Prefetch { buffer, autotune } = op {
                let d = if *autotune { &mut tuned } else { &mut explicit };
                *d = (*d).max(*buffer);
            }
        }
        let depth = if tuned > explicit && self.batch_bytes() < super::AUTOTUNE_MIN_BATCH_BYTES {
            explicit
        } else {
            explicit.max(tuned)
        };
        let elements = match self.cardinality() {
            Cardinality::Finite(n) => usize::try_from(n).unwrap_or(usize::MAX).max(1),
            Cardinality::Infinite | Cardinality::Unknown => super::MAX_PREFETCH_DEPTH,
        };
        depth.min(elements)
    }

    /// Bytes of one element at the pipeline's end (a batch when it batches).
    pub fn batch_bytes(&self) -> usize {
        let per_sample: usize = self.source.fields().tensors().iter().map(|c| c.sample_bytes()).sum();
        let batch: u64 =
            self.ops.iter().map(|op| if let Op::Batch { size, .. } = op { *size } else { 1 }).product();
        per_sample.saturating_mul(batch as usize)
    }

    /// One pass over the pipeline for epoch `epoch` (seeds with `reshuffle_each_iteration` mix it in).
    pub fn iter(&self, epoch: u64) -> Batches {
        let stream = build(self.source.len(), &self.ops, epoch);
        let direct = Direct { source: self.source.clone(), stream, device: self.device.clone() };
        let depth = self.prefetch_depth();
        if depth == 0 {
            return Batches { inner: Inner::Direct(direct) };
        }
        match Prefetch::spawn(direct, depth) {
            Ok(p) => Batches { inner: Inner::Prefetched(p) },
            Err(e) => Batches { inner: Inner::Failed(Some(e)) },
        }
    }
}

fn invalid(
    operation: &'static str,
    argument: &'static str,
    value: impl ToString,
    fix: &'static str,
) -> Error {
    Error::InvalidArgument { operation, argument, value: value.to_string(), fix }
}

fn validate(op: &Op, p: &Pipeline) -> Result<()> {
    match *op {
        Op::Permute { .. } if !p.ops.is_empty() => Err(invalid(
            "permute",
            "position",
            format!("after {} step(s)", p.ops.len()),
            "a full permutation applies to the source: make it the first step, or use Shuffle",
        )),
        Op::Shuffle { buffer_size: 0, .. } => Err(invalid(
            "shuffle",
            "buffer_size",
            0,
            "use a buffer of at least 1 (1 keeps the order; the dataset size shuffles fully)",
        )),
        Op::Batch { size: 0, .. } => Err(invalid("batch", "batch_size", 0, "use a batch size of at least 1")),
        Op::Batch { size, .. } if p.is_batched() => Err(Error::NestedBatch { size }),
        Op::Shard { num_shards: 0, .. } => Err(invalid("shard", "num_shards", 0, "use at least 1 shard")),
        Op::Shard { num_shards, index } if index >= num_shards => Err(invalid(
            "shard",
            "index",
            format!("{index} with num_shards={num_shards}"),
            "the index must be in 0..num_shards",
        )),
        _ => Ok(()),
    }
}

/// One pass over a [`Pipeline`]: yields each element (a [`Fields`] with the source's
/// structure, batched or not), or the error that stopped it.
#[derive(Debug)]
pub struct Batches {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Direct(Direct),
    Prefetched(Prefetch),
    Failed(Option<Error>),
}

struct Direct {
    source: Arc<Source>,
    stream: Stream,
    device: Option<Device>,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct").field("samples", &self.source.len()).finish()
    }
}

impl Iterator for Direct {
    type Item = Result<Fields>;
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.stream.next()?;
        let fields = gather(&self.source, &item);
        Some(match &self.device {
            None => fields,
            Some(device) => fields.and_then(|f| move_to(f, device)),
        })
    }
}

/// Move every tensor of an element to `device`; on CUDA, wait until the copies are done.
fn move_to(fields: Fields, device: &Device) -> Result<Fields> {
    let moved = fields.try_map(|t| Ok(t.to_device(device)?))?;
    if !device.is_cpu() {
        // candle's copies are asynchronous on the device's stream: finish them here (on the
        // prefetch thread, off the consumer's path) so a queued batch is ready to use
        device.synchronize()?;
    }
    Ok(moved)
}

impl Iterator for Batches {
    type Item = Result<Fields>;
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Direct(d) => d.next(),
            Inner::Prefetched(p) => p.next(),
            Inner::Failed(e) => e.take().map(Err),
        }
    }
}
