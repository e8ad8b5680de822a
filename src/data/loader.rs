//! The loader recipe as an engine type: a [`Source`] read in epochs of batches, shuffled by a
//! seeded permutation per epoch, optionally sharded between ranks, prefetched on a background
//! thread and delivered to a device.
//!
//! This is what `torch.utils.data.DataLoader` does and what Keras's `fit` needs from its
//! `(x, y)`; both facades ([`torch::data::DataLoader`](crate::torch::data::DataLoader) and
//! `tf::keras`'s `fit`) are built on it, and [`Ranks`](crate::distributed::Ranks) shards it
//! through [`Shard`] without knowing either facade.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_numpy::data::{Fields, Loader, LoaderSpec, Source};
//! let x = Tensor::rand(0f32, 1., (10, 3), &Device::Cpu)?;
//! let y = Tensor::zeros(10, DType::I64, &Device::Cpu)?;
//! let spec = LoaderSpec { batch_size: 4, shuffle: true, seed: 7, ..LoaderSpec::default() };
//! let loader = Loader::new(Source::new(Fields::Tuple(vec![x, y]))?, spec)?;
//! assert_eq!(loader.len(), 3);
//! let sizes: Vec<usize> =
//!     loader.iter().map(|b| Ok(b?.into_tensors()[0].dim(0)?)).collect::<candle_numpy::Result<_>>()?;
//! assert_eq!(sizes, [4, 4, 2]);
//! # Ok::<(), candle_numpy::Error>(())
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::Device;

use crate::data::{Batches, Cardinality, Op, Pipeline, Source};
use crate::error::{Error, Result};

/// How a [`Loader`] reads its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoaderSpec {
    /// Samples per batch (at least 1).
    pub batch_size: usize,
    /// A new seeded permutation every epoch (else the source's order).
    pub shuffle: bool,
    /// Drop the last, smaller batch.
    pub drop_last: bool,
    /// The permutation's seed: epoch `e` of seed `s` is the same order in every run.
    pub seed: u64,
    /// `(num_shards, index)`: each epoch's order split so that position `p` goes to shard
    /// `p % num_shards` (as `DistributedSampler` without padding).
    pub shard: Option<(u64, u64)>,
    /// Batches gathered ahead on a background thread (0: gather inline).
    pub prefetch: usize,
}

impl Default for LoaderSpec {
    /// torch's `DataLoader` defaults: batch 1, no shuffle, keep the last batch, seed 0.
    fn default() -> Self {
        LoaderSpec { batch_size: 1, shuffle: false, drop_last: false, seed: 0, shard: None, prefetch: 0 }
    }
}

/// A source read in epochs of batches ([`LoaderSpec`]). Every [`iter`](Loader::iter) is the
/// next epoch; the order of epoch `e` is a pure function of (seed, e, shard).
#[derive(Debug)]
pub struct Loader {
    pipeline: Pipeline,
    spec: LoaderSpec,
    epoch: AtomicU64,
}

impl Clone for Loader {
    fn clone(&self) -> Self {
        // the pipeline is already built: clone it rather than rebuild (and re-validate) it
        Loader { pipeline: self.pipeline.clone(), spec: self.spec, epoch: AtomicU64::new(self.epoch()) }
    }
}

impl Loader {
    /// A loader over `source`. Errors when `batch_size` is 0 or the shard is out of range.
    pub fn new(source: Source, spec: LoaderSpec) -> Result<Self> {
        if spec.batch_size == 0 {
            return Err(Error::InvalidArgument {
                operation: "DataLoader",
                argument: "batch_size",
                value: "0".into(),
                fix: "use a batch size of at least 1",
            });
        }
        let mut p = Pipeline::new(source);
        if spec.shuffle {
            p = p.then(Op::Permute { seed: spec.seed, reshuffle_each_iteration: true })?;
        }
        if let Some((num_shards, index)) = spec.shard {
            p = p.then(Op::Shard { num_shards, index })?;
        }
        p = p.then(Op::Batch { size: spec.batch_size as u64, drop_remainder: spec.drop_last })?;
        if spec.prefetch > 0 {
            p = p.then(Op::Prefetch { buffer: spec.prefetch, autotune: false })?;
        }
        Ok(Loader { pipeline: p, spec, epoch: AtomicU64::new(0) })
    }

    /// The same loader (same seed, epoch and device) with another spec.
    pub fn with_spec(&self, spec: LoaderSpec) -> Result<Self> {
        let mut c = Self::new(self.source().clone(), spec)?;
        c.epoch = AtomicU64::new(self.epoch());
        if let Some(device) = self.pipeline.device() {
            c.pipeline = c.pipeline.to_device(device.clone());
        }
        Ok(c)
    }

    /// This loader with gathers on a background thread, up to `depth` batches ahead (0: none).
    pub fn prefetch(&self, depth: usize) -> Self {
        self.with_spec(LoaderSpec { prefetch: depth, ..self.spec })
            .expect("only the prefetch depth changed, and every depth is valid")
    }

    /// This loader with every batch moved to `device`: on the prefetch thread when prefetch is
    /// on (the host-to-device copy overlaps the consumer's work), inline otherwise.
    pub fn to_device(&self, device: &Device) -> Self {
        let mut c = self.clone();
        c.pipeline = c.pipeline.to_device(device.clone());
        c
    }

    /// Where batches are delivered: the device set with [`to_device`](Self::to_device), else
    /// the source's (a file column is read on the CPU).
    pub fn device(&self) -> Device {
        match self.pipeline.device() {
            Some(d) => d.clone(),
            None => {
                self.source().fields().tensors()[0].as_tensor().map_or(Device::Cpu, |t| t.device().clone())
            }
        }
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        match self.pipeline.cardinality() {
            Cardinality::Finite(n) => n as usize,
            _ => unreachable!("a Loader has no repeat"),
        }
    }

    /// Whether an epoch yields no batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next epoch: a new order when shuffling. Batches keep the source's structure.
    pub fn iter(&self) -> Batches {
        let epoch = self.epoch.fetch_add(1, Ordering::Relaxed);
        self.pipeline.iter(epoch)
    }

    /// The epoch the next [`iter`](Self::iter) will run.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Set the epoch the next [`iter`](Self::iter) runs (as `DistributedSampler.set_epoch`), so
    /// every rank can agree on it.
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    /// The spec in use.
    pub fn spec(&self) -> &LoaderSpec {
        &self.spec
    }

    /// The source.
    pub fn source(&self) -> &Source {
        self.pipeline.source()
    }
}

/// Something that can be restricted to one of `num_shards` disjoint parts: what
/// [`Ranks::shard`](crate::distributed::Ranks::shard) needs, so the distributed layer depends on
/// the data engine, not on a facade.
pub trait Shard: Sized {
    /// Part `index` of `num_shards`: the union over `index` is every element exactly once.
    fn shard(&self, num_shards: usize, index: usize) -> Result<Self>;
}

impl Shard for Loader {
    /// Each epoch's order (the same permutation on every rank) is split so that position `p`
    /// goes to shard `p % num_shards`.
    fn shard(&self, num_shards: usize, index: usize) -> Result<Self> {
        self.with_spec(LoaderSpec { shard: Some((num_shards as u64, index as u64)), ..self.spec })
    }
}
