//! `torch.utils.data`'s `TensorDataset` and `DataLoader`, translated to the
//! [`data`](crate::data) engine: `shuffle=True` is a seeded permutation per epoch, the batches
//! are one gather per tensor.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_numpy::torch::data::{DataLoader, TensorDataset};
//! let x = Tensor::rand(0f32, 1., (100, 10), &Device::Cpu)?;
//! let y = Tensor::zeros(100, DType::I64, &Device::Cpu)?;
//! let loader = DataLoader::new(TensorDataset::new(vec![x, y])?, 32, true, false, Some(0))?;
//! assert_eq!(loader.len(), 4);
//! let shapes: Vec<_> = loader.iter().map(|b| b.map(|b| b[0].dims().to_vec())).collect::<Result<_, _>>()?;
//! assert_eq!(shapes, [vec![32, 10], vec![32, 10], vec![32, 10], vec![4, 10]]);
//! # Ok::<(), candle_numpy::Error>(())
//! ```

use candle_core::{Device, Tensor};

use std::path::Path;

use crate::data::{rng::random_seed, Batches, Column, Fields, Loader, LoaderSpec, RowFile, Shard, Source};
use crate::error::{Error, Result};

/// `TensorDataset(*tensors)`: samples are the rows (first-dimension slices) of each tensor.
#[derive(Debug, Clone)]
pub struct TensorDataset {
    source: Source,
}

impl TensorDataset {
    /// A dataset over `tensors`, which must agree on their first (sample) dimension. The tensors
    /// are held as given (no copy).
    pub fn new(tensors: Vec<Tensor>) -> Result<Self> {
        Ok(TensorDataset { source: Source::new(Fields::Tuple(tensors))? })
    }

    /// A dataset over `.npy` files read by rows (one tensor per file, rows as samples), for
    /// data larger than memory: each batch is read from the files with positioned reads and
    /// nothing else of them is resident (see [`RowFile`]).
    pub fn from_npy<P: AsRef<Path>>(paths: &[P]) -> Result<Self> {
        let columns =
            paths.iter().map(|p| Ok(Column::from(RowFile::open_npy(p)?))).collect::<Result<Vec<_>>>()?;
        Self::from_columns(columns)
    }

    /// A dataset over any mix of tensors and files by rows.
    pub fn from_columns(columns: Vec<Column>) -> Result<Self> {
        Ok(TensorDataset { source: Source::from_columns(Fields::Tuple(columns))? })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.source.len() as usize
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
    }

    /// Sample `index`: one view (no copy) per tensor (a read per file), without the sample
    /// axis.
    pub fn get(&self, index: usize) -> Result<Vec<Tensor>> {
        if index >= self.len() {
            return Err(Error::InvalidArgument {
                operation: "TensorDataset.get",
                argument: "index",
                value: format!("{index} for a dataset of {} samples", self.len()),
                fix: "use an index in 0..len()",
            });
        }
        self.source.fields().tensors().into_iter().map(|c| c.sample(index as u64)).collect()
    }

    /// The tensors, in order, or `None` when a field is a file read by rows (see
    /// [`columns`](Self::columns)).
    pub fn tensors(&self) -> Option<Vec<Tensor>> {
        self.source.tensors().map(Fields::into_tensors)
    }

    /// The fields, in order: tensors or files.
    pub fn columns(&self) -> Vec<Column> {
        self.source.fields().clone().into_tensors()
    }
}

/// `DataLoader(dataset, batch_size, shuffle, drop_last, seed)`: torch's names over the engine's
/// [`Loader`].
///
/// Every [`iter`](DataLoader::iter) is a new epoch: with `shuffle`, a new permutation that is
/// a pure function of (seed, epoch), so a given seed replays the same epochs in any run.
/// [`shard`](DataLoader::shard) splits each epoch's order between ranks (as
/// `DistributedSampler`, without padding); [`prefetch`](DataLoader::prefetch) gathers on a
/// background thread.
#[derive(Debug, Clone)]
pub struct DataLoader {
    loader: Loader,
    dataset: TensorDataset,
}

impl DataLoader {
    /// A loader over `dataset`. `seed: None` picks a random seed (as torch does without
    /// `torch.manual_seed`). Errors when `batch_size` is 0.
    pub fn new(
        dataset: TensorDataset,
        batch_size: usize,
        shuffle: bool,
        drop_last: bool,
        seed: Option<u64>,
    ) -> Result<Self> {
        let seed = seed.unwrap_or_else(random_seed);
        let spec = LoaderSpec { batch_size, shuffle, drop_last, seed, ..LoaderSpec::default() };
        Ok(DataLoader { loader: Loader::new(dataset.source.clone(), spec)?, dataset })
    }

    /// This loader restricted to rank `rank` of `num_shards`: each epoch's order (the same
    /// permutation on every rank) is split so that position `p` goes to rank `p % num_shards`.
    /// The union over ranks is every sample exactly once per epoch.
    pub fn shard(&self, num_shards: usize, rank: usize) -> Result<Self> {
        Ok(DataLoader { loader: self.loader.shard(num_shards, rank)?, dataset: self.dataset.clone() })
    }

    /// This loader with gathers on a background thread, up to `depth` batches ahead (0: none).
    pub fn prefetch(&self, depth: usize) -> Self {
        DataLoader { loader: self.loader.prefetch(depth), dataset: self.dataset.clone() }
    }

    /// This loader with every batch moved to `device` (`batch.to(device)` in a torch loop, done
    /// by the loader): on the prefetch thread when [`prefetch`](Self::prefetch) is on, so the
    /// host-to-device copy overlaps the training step; inline otherwise. Keeps the seed, epoch,
    /// shard and prefetch settings.
    ///
    /// ```
    /// use candle_core::{Device, Tensor};
    /// use candle_numpy::torch::data::{DataLoader, TensorDataset};
    /// let ds = TensorDataset::new(vec![Tensor::arange(0f32, 10., &Device::Cpu)?])?;
    /// let loader = DataLoader::new(ds, 4, false, false, Some(0))?.prefetch(2).to_device(&Device::Cpu);
    /// assert!(loader.device().is_cpu());
    /// assert_eq!(loader.iter().count(), 3);
    /// # Ok::<(), candle_numpy::Error>(())
    /// ```
    pub fn to_device(&self, device: &Device) -> Self {
        DataLoader { loader: self.loader.to_device(device), dataset: self.dataset.clone() }
    }

    /// Where batches are delivered: the device set with [`to_device`](Self::to_device), else
    /// the dataset's.
    pub fn device(&self) -> Device {
        self.loader.device()
    }

    /// `len(loader)`: batches per epoch.
    pub fn len(&self) -> usize {
        self.loader.len()
    }

    /// Whether an epoch yields no batch.
    pub fn is_empty(&self) -> bool {
        self.loader.is_empty()
    }

    /// The next epoch: a new order when shuffling. Batches are `Vec<Tensor>` in the dataset's
    /// tensor order.
    pub fn iter(&self) -> DataLoaderIter {
        DataLoaderIter { batches: self.loader.iter() }
    }

    /// The epoch the next [`iter`](Self::iter) will run.
    pub fn epoch(&self) -> u64 {
        self.loader.epoch()
    }

    /// Set the epoch the next [`iter`](Self::iter) runs (as `DistributedSampler.set_epoch`), so
    /// every rank can agree on it.
    pub fn set_epoch(&self, epoch: u64) {
        self.loader.set_epoch(epoch);
    }

    /// The seed in use (the one given, or the one picked).
    pub fn seed(&self) -> u64 {
        self.loader.spec().seed
    }

    /// Samples per batch.
    pub fn batch_size(&self) -> usize {
        self.loader.spec().batch_size
    }

    /// The dataset.
    pub fn dataset(&self) -> &TensorDataset {
        &self.dataset
    }

    /// The engine loader underneath.
    pub fn loader(&self) -> &Loader {
        &self.loader
    }
}

impl Shard for DataLoader {
    fn shard(&self, num_shards: usize, index: usize) -> Result<Self> {
        DataLoader::shard(self, num_shards, index)
    }
}

/// One epoch of a [`DataLoader`].
#[derive(Debug)]
pub struct DataLoaderIter {
    batches: Batches,
}

impl Iterator for DataLoaderIter {
    type Item = Result<Vec<Tensor>>;
    fn next(&mut self) -> Option<Self::Item> {
        self.batches.next().map(|b| b.map(Fields::into_tensors))
    }
}
