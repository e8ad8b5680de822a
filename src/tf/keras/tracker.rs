//! Running loss and metric totals without a host round trip per batch.
//!
//! A training step only stores its (detached) logits and labels; every
//! [`FLUSH_SAMPLES`] samples (or when the progress bar asks) the pending batches are
//! concatenated and the loss and metric sums computed in one go, read back in one transfer.
//! This keeps the per-step candle op count at the forward / backward / optimizer minimum.

use candle_core::{DType, Device, Tensor};

use crate::distributed::Strategy;

use crate::error::Result;

use super::activation::Activation;
use super::losses::Loss;
use super::metrics::Metric;

/// Samples held before the sums are folded (bounds the memory of pending logits).
pub(crate) const FLUSH_SAMPLES: usize = 8192;

/// Loss and metric totals over an epoch (or an evaluation).
#[derive(Debug)]
pub(crate) struct Tracker {
    loss: Loss,
    metrics: Vec<Metric>,
    pending_z: Vec<Tensor>,
    pending_y: Vec<Tensor>,
    pending_w: Vec<Tensor>,
    pending_n: usize,
    activation: Activation,
    totals: Vec<f64>,
    seen: usize,
}

impl Tracker {
    pub fn new(loss: Loss, metrics: &[Metric]) -> Self {
        Tracker {
            loss,
            metrics: metrics.to_vec(),
            pending_z: Vec::new(),
            pending_y: Vec::new(),
            pending_w: Vec::new(),
            pending_n: 0,
            activation: Activation::Linear,
            totals: vec![0.0; 1 + metrics.len()],
            seen: 0,
        }
    }

    /// Record a batch: `z` the last pre-activation (f32, detached), `y` prepared labels.
    /// One batch's logits and labels, with its sample weights when the loss is weighted
    /// (every batch of a tracker has them, or none).
    pub fn push(&mut self, z: Tensor, activation: Activation, y: Tensor, w: Option<Tensor>) -> Result<()> {
        self.pending_n += z.dim(0)?;
        self.activation = activation;
        self.pending_z.push(z);
        self.pending_y.push(y);
        if let Some(w) = w {
            self.pending_w.push(w);
        }
        if self.pending_n >= FLUSH_SAMPLES {
            self.flush()?;
        }
        Ok(())
    }

    /// Fold the pending batches into the totals (one device-to-host transfer).
    pub fn flush(&mut self) -> Result<()> {
        if self.pending_n == 0 {
            return Ok(());
        }
        let z = Tensor::cat(&self.pending_z, 0)?;
        let y = Tensor::cat(&self.pending_y, 0)?;
        let loss = match self.pending_w.is_empty() {
            true => self.loss.sample_sum(&z, self.activation, &y)?,
            false => {
                let w = Tensor::cat(&self.pending_w, 0)?;
                (self.loss.sample_losses(&z, self.activation, &y)? * w)?.sum_all()?
            }
        };
        let mut sums = vec![loss];
        for m in &self.metrics {
            sums.push(m.sample_sum(self.loss, &z, self.activation, &y)?);
        }
        let sums = Tensor::stack(&sums, 0)?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        for (t, s) in self.totals.iter_mut().zip(sums) {
            *t += s;
        }
        self.seen += self.pending_n;
        self.pending_z.clear();
        self.pending_y.clear();
        self.pending_w.clear();
        self.pending_n = 0;
        Ok(())
    }

    /// `(name, mean)` for the loss and every metric over what has been flushed.
    pub fn means(&self) -> Vec<(&'static str, f64)> {
        let n = self.seen.max(1) as f64;
        std::iter::once("loss")
            .chain(self.metrics.iter().map(|m| m.name()))
            .zip(&self.totals)
            .map(|(k, t)| (k, t / n))
            .collect()
    }

    /// Flush, sum the totals and sample counts over the processes of `strategy`, then the
    /// means over all their samples.
    pub fn finish_across(mut self, strategy: &Strategy, device: &Device) -> Result<Vec<(&'static str, f64)>> {
        self.flush()?;
        let mut sums = self.totals.clone();
        sums.push(self.seen as f64);
        strategy.all_reduce_sum_f64(&mut sums, device)?;
        self.seen = sums.pop().unwrap_or(0.0) as usize;
        self.totals = sums;
        Ok(self.means())
    }

    /// Flush, then the means.
    pub fn finish(mut self) -> Result<Vec<(&'static str, f64)>> {
        self.flush()?;
        Ok(self.means())
    }
}
