//! [`FitOptions`] (the arguments of `model.fit`) and [`History`] (what it returns).

use std::collections::BTreeMap;

use candle_core::Tensor;

use crate::distributed::Strategy;
use crate::error::{Error, Result};

/// The keyword arguments of `model.fit`, with Keras's defaults ([`Default`]).
///
/// ```
/// use candle_numpy::tf::keras::FitOptions;
/// let opts = FitOptions { epochs: 5, validation_split: 0.2, verbose: 0, ..FitOptions::default() };
/// assert_eq!((opts.batch_size, opts.shuffle), (32, true));
/// ```
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Passes over the training data (Keras default 1).
    pub epochs: usize,
    /// Samples per gradient step (default 32; must be >= 1). Ignored by
    /// [`fit_dataset`](super::Sequential::fit_dataset), whose dataset is already batched.
    pub batch_size: usize,
    /// Reshuffle the training samples every epoch (default true).
    pub shuffle: bool,
    /// Hold out this fraction of the samples, in `[0, 1)`, for validation: the **last**
    /// samples, taken before shuffling, as Keras (`floor(n * (1 - split))` train samples).
    /// Ignored when [`validation_data`](Self::validation_data) is given.
    pub validation_split: f64,
    /// `(x_val, y_val)` to evaluate at the end of every epoch.
    pub validation_data: Option<(Tensor, Tensor)>,
    /// 0: silent; 1: a progress bar per epoch (on a terminal) and an epoch line; 2: one line
    /// per epoch. Default 1, as Keras.
    pub verbose: u8,
    /// Seed of the shuffle order; `None` derives one from the model's seed and the number of
    /// earlier `fit` calls, so a seeded model replays the same run.
    pub seed: Option<u64>,
    /// For [`fit_dataset`](super::Sequential::fit_dataset): batches per epoch. Required for
    /// an infinite (repeated) dataset, whose iteration then continues across epochs; `None`
    /// runs each epoch over the whole dataset.
    pub steps_per_epoch: Option<usize>,
    /// How the processes of a data-parallel run combine their gradients (default
    /// [`Strategy::Single`]: one process). Under a multi-process strategy, `fit` broadcasts
    /// rank 0's weights first, [`batch_size`](Self::batch_size) is the **global** batch (a
    /// multiple of the number of processes; each process takes its share of every global
    /// batch from one common shuffle order), gradients are averaged across processes before
    /// each optimizer step, and the [`History`] covers every process's samples.
    /// [`fit_dataset`](super::Sequential::fit_dataset) trains on the dataset as given:
    /// shard it per process (`Dataset::shard(world_size, rank)` before `batch`).
    pub strategy: Strategy,
    /// Keras's `sample_weight`: one weight per training sample, `(n,)` (or `(n, 1)`). The
    /// loss (and its gradient) becomes `sum(w_i * loss_i) / batch_size`, as Keras's
    /// `"sum_over_batch_size"`; metrics stay unweighted. With `validation_split`, the held-out
    /// samples keep their weights for `val_loss`.
    pub sample_weight: Option<Tensor>,
    /// Keras's `class_weight`: a weight per class index (labels as class indices, one-hot rows
    /// or 0/1 for one unit), multiplied into the sample weights; classes not named weigh 1.
    pub class_weight: Option<BTreeMap<usize, f64>>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            shuffle: true,
            validation_split: 0.0,
            validation_data: None,
            verbose: 1,
            seed: None,
            steps_per_epoch: None,
            strategy: Strategy::Single,
            sample_weight: None,
            class_weight: None,
        }
    }
}

impl FitOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::InvalidArgument {
                operation: "fit",
                argument: "batch_size",
                value: "0".into(),
                fix: "use a batch size of at least 1 (Keras's default is 32)",
            });
        }
        if !(0.0..1.0).contains(&self.validation_split) {
            return Err(Error::InvalidArgument {
                operation: "fit",
                argument: "validation_split",
                value: self.validation_split.to_string(),
                fix: "use a fraction in [0, 1), e.g. 0.2 to hold out the last 20% of the samples",
            });
        }
        if self.verbose > 2 {
            return Err(Error::InvalidArgument {
                operation: "fit",
                argument: "verbose",
                value: self.verbose.to_string(),
                fix: "use 0 (silent), 1 (progress bar) or 2 (one line per epoch)",
            });
        }
        if self.steps_per_epoch == Some(0) {
            return Err(Error::InvalidArgument {
                operation: "fit",
                argument: "steps_per_epoch",
                value: "0".into(),
                fix: "use at least 1 step, or None for whole passes over the dataset",
            });
        }
        Ok(())
    }
}

/// What `fit` ran over (Keras's `History.params`, plus the sample counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryParams {
    /// Epochs requested.
    pub epochs: usize,
    /// Gradient steps per epoch (`None` for a dataset of unknown length).
    pub steps: Option<usize>,
    /// Training samples (`None` when fitting a dataset).
    pub samples: Option<usize>,
    /// Validation samples (0 without validation).
    pub validation_samples: usize,
    /// `verbose` as given.
    pub verbose: u8,
}

/// `model.fit`'s return value: per-epoch values of the loss and every metric, with `val_`
/// twins when validating.
///
/// Each training value is the sample-weighted mean over the epoch's batches, each computed
/// with the weights of the moment (as Keras reports it); validation values are computed
/// after the epoch's last step.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// `"loss"`, each metric's name, and `"val_loss"` / `"val_<metric>"` when validating;
    /// one entry per epoch.
    pub history: BTreeMap<String, Vec<f64>>,
    /// Epoch indices (`0..epochs`).
    pub epoch: Vec<usize>,
    /// What the run covered.
    pub params: HistoryParams,
}

impl History {
    /// The values under `key` (`"loss"`, `"val_accuracy"`, ...).
    pub fn get(&self, key: &str) -> Option<&[f64]> {
        self.history.get(key).map(Vec::as_slice)
    }

    /// The last epoch's value under `key`.
    pub fn last(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(|v| v.last().copied())
    }
}
