//! [`DistributedOptimizer`]: a candle-nn optimizer whose step averages the gradients across
//! processes first (the PyTorch-style loop's `DistributedDataParallel`).

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::error::Result;

use super::strategy::Strategy;

/// Wraps any `candle_nn::Optimizer` (`SGD`, `AdamW`, ...): [`new`](Self::new) broadcasts
/// rank 0's weights to every process, and [`step`](Self::step) replaces the gradients by
/// their mean across processes ([`Strategy::all_reduce_mean`]) before the wrapped
/// optimizer's step, so every process applies the same update.
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use candle_nn::{Optimizer, SGD};
/// use candle_numpy::distributed::{DistributedOptimizer, Strategy};
///
/// let w = Var::new(&[1f32], &Device::Cpu)?;
/// let sgd = SGD::new(vec![w.clone()], 0.5)?;
/// let mut opt = DistributedOptimizer::new(sgd, vec![w.clone()], Strategy::from_env()?)?;
/// let loss = w.as_tensor().sqr()?.sum_all()?; // d/dw = 2w = 2
/// opt.backward_step(&loss)?;
/// assert_eq!(w.as_tensor().to_vec1::<f32>()?, [0.]);
/// # Ok::<(), candle_numpy::Error>(())
/// ```
#[derive(Debug)]
pub struct DistributedOptimizer<O> {
    inner: O,
    vars: Vec<Var>,
    strategy: Strategy,
}

impl<O: candle_nn::Optimizer> DistributedOptimizer<O> {
    /// `inner` over `vars` (the same variables it was built with, in the same order on every
    /// process). Broadcasts rank 0's values of `vars` to every process.
    pub fn new(inner: O, vars: Vec<Var>, strategy: Strategy) -> Result<Self> {
        strategy.broadcast(&vars)?;
        Ok(DistributedOptimizer { inner, vars, strategy })
    }

    /// Average `grads` across processes (each process weighing the same), then step.
    pub fn step(&mut self, grads: &mut GradStore) -> Result<()> {
        self.strategy.all_reduce_mean(&self.vars, grads)?;
        self.inner.step(grads)?;
        Ok(())
    }

    /// As [`step`](Self::step), each process's gradient weighted by its `samples` (for a last
    /// batch of unequal sizes, or a process without a batch: `samples = 0` and empty
    /// gradients, e.g. `GradStore::default()`). Returns whether a step was taken: false when no
    /// process had a sample (every process is out of batches: end the epoch).
    pub fn step_weighted(&mut self, grads: &mut GradStore, samples: usize) -> Result<bool> {
        if self.strategy.all_reduce_weighted_mean(&self.vars, grads, samples as f64)? > 0.0 {
            self.inner.step(grads)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// `loss.backward()`, then [`step`](Self::step).
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let mut grads = loss.backward()?;
        self.step(&mut grads)
    }

    /// The wrapped optimizer's learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.inner.learning_rate()
    }

    /// Change the wrapped optimizer's learning rate.
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.inner.set_learning_rate(lr)
    }

    /// The strategy.
    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// The wrapped optimizer.
    pub fn inner(&self) -> &O {
        &self.inner
    }
}
