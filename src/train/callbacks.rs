//! Training callbacks: hooks that a training loop calls at the start and end of training,
//! of every epoch and of every batch, with the epoch's logs (`loss`, metrics, `val_*`), and
//! that may change the learning rate, take or restore the weights, save the model, or stop
//! the training. Keras's `fit` ([`crate::tf::keras::Sequential::fit_with`]) runs them, and so
//! can any loop that implements [`TrainingContext`].
//!
//! The built-ins follow Keras 3's semantics exactly (the tests pin the epochs where each
//! acts): [`EarlyStopping`], [`ReduceLROnPlateau`], [`LearningRateScheduler`],
//! [`ModelCheckpoint`]. A callback of your own implements [`Callback`]; the Python bindings
//! wrap `keras.callbacks.Callback` subclasses this way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::Tensor;

use crate::error::{Error, Result};

/// An epoch's (or batch's) logs: `"loss"`, each metric, `"val_loss"`, ... Callbacks may add
/// entries (`"learning_rate"`), which the History then records too.
pub type Logs = BTreeMap<String, f64>;

/// What a callback may do to the training it runs in.
pub trait TrainingContext {
    /// The optimizer's current learning rate.
    fn learning_rate(&self) -> f64;
    /// Change the learning rate (the optimizer state is kept).
    fn set_learning_rate(&mut self, lr: f64) -> Result<()>;
    /// A copy of every weight (trainable and not), to restore later.
    fn weights(&self) -> Result<Vec<Tensor>>;
    /// Overwrite every weight with values taken by [`weights`](Self::weights).
    fn set_weights(&mut self, weights: &[Tensor]) -> Result<()>;
    /// Save the weights only (`weights_only`) or the whole model to `path`.
    fn save(&self, path: &Path, weights_only: bool) -> Result<()>;
    /// Ask the loop to stop after the current epoch (Keras's `model.stop_training = True`).
    fn stop_training(&mut self);
}

/// A training callback. Every hook has a default that does nothing.
pub trait Callback: Send {
    /// Whether [`on_batch_end`](Self::on_batch_end) needs the batch's loss and metrics.
    /// Computing them every batch costs a device-to-host transfer per step, so the loop only
    /// does it when some callback asks.
    fn wants_batch_logs(&self) -> bool {
        false
    }
    /// Before the first epoch.
    fn on_train_begin(&mut self, _ctx: &mut dyn TrainingContext) -> Result<()> {
        Ok(())
    }
    /// Before epoch `epoch` (0-based).
    fn on_epoch_begin(&mut self, _epoch: usize, _ctx: &mut dyn TrainingContext) -> Result<()> {
        Ok(())
    }
    /// After batch `batch` of the epoch (0-based); `logs` are the epoch's running means when
    /// [`wants_batch_logs`](Self::wants_batch_logs), empty otherwise.
    fn on_batch_end(&mut self, _batch: usize, _logs: &Logs, _ctx: &mut dyn TrainingContext) -> Result<()> {
        Ok(())
    }
    /// After epoch `epoch` with its logs (validation included); entries added here are
    /// recorded in the History.
    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        _logs: &mut Logs,
        _ctx: &mut dyn TrainingContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the last epoch (also when a callback stopped the training).
    fn on_train_end(&mut self, _ctx: &mut dyn TrainingContext) -> Result<()> {
        Ok(())
    }
}

/// Whether larger or smaller values of the monitored quantity are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Lower is better (losses, errors).
    Min,
    /// Higher is better (accuracies).
    Max,
    /// Keras's `"auto"`: `Max` for names containing `acc` (or `auc`), else `Min`.
    Auto,
}

impl std::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "min" => Ok(Mode::Min),
            "max" => Ok(Mode::Max),
            "auto" => Ok(Mode::Auto),
            _ => Err(Error::InvalidArgument {
                operation: "callbacks",
                argument: "mode",
                value: format!("{s:?}"),
                fix: "use \"auto\", \"min\" or \"max\"",
            }),
        }
    }
}

impl Mode {
    fn resolve(self, monitor: &str) -> Mode {
        match self {
            Mode::Auto if monitor.contains("acc") || monitor.contains("auc") => Mode::Max,
            Mode::Auto => Mode::Min,
            m => m,
        }
    }
}

fn monitored(logs: &Logs, monitor: &str, who: &'static str) -> Result<Option<f64>> {
    match logs.get(monitor) {
        Some(v) => Ok(Some(*v)),
        None if logs.is_empty() => Ok(None),
        None => Err(Error::InvalidArgument {
            operation: who,
            argument: "monitor",
            value: format!("{monitor:?}"),
            fix: match monitor.starts_with("val_") {
                true => {
                    "the logs have no such entry: validation metrics need validation_data or \
                         validation_split in fit; otherwise monitor one of the logged names"
                }
                false => {
                    "the logs have no such entry: monitor \"loss\", a compiled metric, or a \
                          \"val_\" one"
                }
            },
        }),
    }
}

/// `keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=0, mode="auto",
/// baseline=None, restore_best_weights=False, start_from_epoch=0)`: stop when the monitored
/// value has not improved by more than `min_delta` for `patience` epochs; with
/// `restore_best_weights`, put back the weights of the best epoch when stopping.
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    /// The log entry watched.
    pub monitor: String,
    /// The smallest change that counts as an improvement.
    pub min_delta: f64,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Which direction is better.
    pub mode: Mode,
    /// A value the monitored one must beat before the patience counter resets.
    pub baseline: Option<f64>,
    /// Restore the best epoch's weights when stopping.
    pub restore_best_weights: bool,
    /// Epochs to wait before watching at all (warm-up).
    pub start_from_epoch: usize,
    wait: usize,
    best: Option<f64>,
    best_weights: Option<Vec<Tensor>>,
    /// The epoch (0-based) at which training was stopped, 0 if it was not.
    pub stopped_epoch: usize,
    /// The best epoch (0-based).
    pub best_epoch: usize,
}

impl EarlyStopping {
    /// Keras's defaults watching `monitor`.
    pub fn new(monitor: &str) -> Self {
        EarlyStopping {
            monitor: monitor.to_string(),
            min_delta: 0.0,
            patience: 0,
            mode: Mode::Auto,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            wait: 0,
            best: None,
            best_weights: None,
            stopped_epoch: 0,
            best_epoch: 0,
        }
    }

    /// With a patience.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// Restoring the best weights when stopping.
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }

    fn improves(&self, value: f64, reference: Option<f64>) -> bool {
        let Some(reference) = reference else { return true };
        match self.mode.resolve(&self.monitor) {
            Mode::Max => value - self.min_delta.abs() > reference,
            _ => value + self.min_delta.abs() < reference,
        }
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _ctx: &mut dyn TrainingContext) -> Result<()> {
        self.wait = 0;
        self.best = None;
        self.best_weights = None;
        self.stopped_epoch = 0;
        self.best_epoch = 0;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut dyn TrainingContext) -> Result<()> {
        let Some(current) = monitored(logs, &self.monitor, "EarlyStopping")? else { return Ok(()) };
        if epoch < self.start_from_epoch {
            return Ok(());
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            // Keras keeps the first watched epoch's weights, in case none improves
            self.best_weights = Some(ctx.weights()?);
        }
        self.wait += 1;
        if self.improves(current, self.best) {
            self.best = Some(current);
            self.best_epoch = epoch;
            if self.restore_best_weights {
                self.best_weights = Some(ctx.weights()?);
            }
            if self.baseline.is_none() || self.improves(current, self.baseline) {
                self.wait = 0;
            }
            return Ok(());
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = epoch;
            ctx.stop_training();
            if let (true, Some(w)) = (self.restore_best_weights, &self.best_weights) {
                ctx.set_weights(w)?;
            }
        }
        Ok(())
    }
}

/// `keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=10,
/// mode="auto", min_delta=1e-4, cooldown=0, min_lr=0)`: multiply the learning rate by
/// `factor` after `patience` epochs without an improvement of more than `min_delta`, then
/// wait `cooldown` epochs; never below `min_lr`. Adds `"learning_rate"` to the epoch's logs.
#[derive(Debug, Clone)]
pub struct ReduceLROnPlateau {
    /// The log entry watched.
    pub monitor: String,
    /// The reduction factor, in `[0, 1)`.
    pub factor: f64,
    /// Epochs without improvement before reducing.
    pub patience: usize,
    /// Which direction is better.
    pub mode: Mode,
    /// The smallest change that counts as an improvement.
    pub min_delta: f64,
    /// Epochs to wait after a reduction before counting again.
    pub cooldown: usize,
    /// The learning rate's floor.
    pub min_lr: f64,
    wait: usize,
    cooldown_counter: usize,
    best: f64,
}

impl ReduceLROnPlateau {
    /// Keras's defaults watching `monitor`; `factor` must be below 1.
    pub fn new(monitor: &str, factor: f64, patience: usize) -> Result<Self> {
        if !(0.0..1.0).contains(&factor) {
            return Err(Error::InvalidArgument {
                operation: "ReduceLROnPlateau",
                argument: "factor",
                value: factor.to_string(),
                fix: "the factor multiplies the learning rate down: use a value in [0, 1)",
            });
        }
        Ok(ReduceLROnPlateau {
            monitor: monitor.to_string(),
            factor,
            patience,
            mode: Mode::Auto,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            wait: 0,
            cooldown_counter: 0,
            best: f64::NAN,
        })
    }

    fn reset(&mut self) {
        self.best = match self.mode.resolve(&self.monitor) {
            Mode::Max => f64::NEG_INFINITY,
            _ => f64::INFINITY,
        };
        self.wait = 0;
        self.cooldown_counter = 0;
    }

    fn better(&self, a: f64, b: f64) -> bool {
        match self.mode.resolve(&self.monitor) {
            Mode::Max => a > b + self.min_delta,
            _ => a < b - self.min_delta,
        }
    }
}

impl Callback for ReduceLROnPlateau {
    fn on_train_begin(&mut self, _ctx: &mut dyn TrainingContext) -> Result<()> {
        self.reset();
        Ok(())
    }

    fn on_epoch_end(&mut self, _epoch: usize, logs: &mut Logs, ctx: &mut dyn TrainingContext) -> Result<()> {
        if self.best.is_nan() {
            self.reset();
        }
        let lr = ctx.learning_rate();
        let current = monitored(logs, &self.monitor, "ReduceLROnPlateau")?;
        logs.insert("learning_rate".into(), lr);
        let Some(current) = current else { return Ok(()) };
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        if self.better(current, self.best) {
            self.best = current;
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            // (Keras checks the cooldown again after counting it down: the last cooldown epoch
            // already counts towards the patience)
            self.wait += 1;
            if self.wait >= self.patience && lr > self.min_lr {
                ctx.set_learning_rate((lr * self.factor).max(self.min_lr))?;
                self.cooldown_counter = self.cooldown;
                self.wait = 0;
            }
        }
        Ok(())
    }
}

/// `keras.callbacks.LearningRateScheduler(schedule)`: before each epoch, set the learning rate
/// to `schedule(epoch, current_lr)`; adds `"learning_rate"` to the epoch's logs.
pub struct LearningRateScheduler {
    schedule: Box<dyn FnMut(usize, f64) -> Result<f64> + Send>,
}

impl LearningRateScheduler {
    /// A scheduler over `schedule(epoch, lr) -> new lr` (0-based epochs).
    pub fn new(schedule: impl FnMut(usize, f64) -> Result<f64> + Send + 'static) -> Self {
        LearningRateScheduler { schedule: Box::new(schedule) }
    }
}

impl std::fmt::Debug for LearningRateScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LearningRateScheduler")
    }
}

impl Callback for LearningRateScheduler {
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut dyn TrainingContext) -> Result<()> {
        let lr = (self.schedule)(epoch, ctx.learning_rate())?;
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::InvalidArgument {
                operation: "LearningRateScheduler",
                argument: "schedule",
                value: format!("{lr} at epoch {epoch}"),
                fix: "the schedule must return a finite learning rate >= 0",
            });
        }
        ctx.set_learning_rate(lr)
    }

    fn on_epoch_end(&mut self, _epoch: usize, logs: &mut Logs, ctx: &mut dyn TrainingContext) -> Result<()> {
        logs.insert("learning_rate".into(), ctx.learning_rate());
        Ok(())
    }
}

/// `keras.callbacks.ModelCheckpoint(filepath, monitor="val_loss", save_best_only=False,
/// save_weights_only=False, mode="auto")`: save after every epoch (or only when the monitored
/// value improved). `filepath` may name the epoch and any log entry the way Keras's does:
/// `"ckpt-{epoch:02d}-{val_loss:.3f}.safetensors"` (epochs count from 1 there). Files are
/// safetensors (see `Sequential::save`).
#[derive(Debug, Clone)]
pub struct ModelCheckpoint {
    /// The path template.
    pub filepath: String,
    /// The log entry watched with `save_best_only`.
    pub monitor: String,
    /// Save only when the monitored value improved.
    pub save_best_only: bool,
    /// Weights only (`save_weights`) instead of the whole model (`save`).
    pub save_weights_only: bool,
    /// Which direction is better.
    pub mode: Mode,
    best: Option<f64>,
    /// The files written, in order.
    pub saved: Vec<PathBuf>,
}

impl ModelCheckpoint {
    /// Save every epoch to `filepath` (formatted), the whole model.
    pub fn new(filepath: &str) -> Self {
        ModelCheckpoint {
            filepath: filepath.to_string(),
            monitor: "val_loss".into(),
            save_best_only: false,
            save_weights_only: false,
            mode: Mode::Auto,
            best: None,
            saved: Vec::new(),
        }
    }
}

/// Keras's (Python's) `filepath.format(epoch=epoch + 1, **logs)` for the forms it is used
/// with: `{name}`, `{name:02d}`, `{name:.3f}`, `{name:.2e}`.
pub fn format_path(template: &str, epoch: usize, logs: &Logs) -> Result<String> {
    let bad = |what: String| Error::InvalidArgument {
        operation: "ModelCheckpoint",
        argument: "filepath",
        value: format!("{template:?}: {what}"),
        fix: "use {epoch}, {epoch:02d} or a log entry such as {val_loss:.4f} in the path",
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').ok_or_else(|| bad("an unclosed {".into()))? + open;
        let field = &rest[open + 1..close];
        let (name, spec) = field.split_once(':').unwrap_or((field, ""));
        let value = if name == "epoch" {
            (epoch + 1) as f64
        } else {
            *logs.get(name).ok_or_else(|| bad(format!("no log entry {name:?}")))?
        };
        let text = if let Some(w) = spec.strip_suffix('d') {
            let v = value as i64;
            match w.strip_prefix('0') {
                Some(width) => format!("{v:0width$}", width = width.parse().map_err(|_| bad(spec.into()))?),
                None if w.is_empty() => v.to_string(),
                None => format!("{v:width$}", width = w.parse().map_err(|_| bad(spec.into()))?),
            }
        } else if let Some(p) = spec.strip_prefix('.').and_then(|p| p.strip_suffix('f')) {
            format!("{value:.prec$}", prec = p.parse().map_err(|_| bad(spec.into()))?)
        } else if let Some(p) = spec.strip_prefix('.').and_then(|p| p.strip_suffix('e')) {
            let s = format!("{value:.prec$e}", prec = p.parse().map_err(|_| bad(spec.into()))?);
            // Python writes e-05, Rust e-5
            match s.split_once('e') {
                Some((m, e)) => {
                    let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                    format!("{m}e{sign}{digits:0>2}")
                }
                None => s,
            }
        } else if spec.is_empty() {
            if name == "epoch" {
                (epoch + 1).to_string()
            } else {
                value.to_string()
            }
        } else {
            return Err(bad(format!("unsupported format {spec:?}")));
        };
        out.push_str(&text);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Callback for ModelCheckpoint {
    fn on_train_begin(&mut self, _ctx: &mut dyn TrainingContext) -> Result<()> {
        // a checkpoint object reused across fits keeps its best value, as Keras's does
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut dyn TrainingContext) -> Result<()> {
        if self.save_best_only {
            let Some(current) = monitored(logs, &self.monitor, "ModelCheckpoint")? else { return Ok(()) };
            let better = match (self.best, self.mode.resolve(&self.monitor)) {
                (None, _) => true,
                (Some(b), Mode::Max) => current > b,
                (Some(b), _) => current < b,
            };
            if !better {
                return Ok(());
            }
            self.best = Some(current);
        }
        let path = PathBuf::from(format_path(&self.filepath, epoch, logs)?);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                operation: "create the checkpoint folder",
                path: dir.into(),
                source,
            })?;
        }
        ctx.save(&path, self.save_weights_only)?;
        self.saved.push(path);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A context over one scalar "weight" with a learning rate, recording what callbacks do.
    #[derive(Default)]
    struct Fake {
        lr: f64,
        w: f64,
        stopped: bool,
    }

    impl TrainingContext for Fake {
        fn learning_rate(&self) -> f64 {
            self.lr
        }
        fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
            self.lr = lr;
            Ok(())
        }
        fn weights(&self) -> Result<Vec<Tensor>> {
            Ok(vec![Tensor::new(self.w, &candle_core::Device::Cpu)?])
        }
        fn set_weights(&mut self, w: &[Tensor]) -> Result<()> {
            self.w = w[0].to_scalar::<f64>()?;
            Ok(())
        }
        fn save(&self, _path: &Path, _weights_only: bool) -> Result<()> {
            Ok(())
        }
        fn stop_training(&mut self) {
            self.stopped = true;
        }
    }

    fn logs(k: &str, v: f64) -> Logs {
        [(k.to_string(), v)].into_iter().collect()
    }

    /// Runs `cb` over the monitored values, with the weight set to the epoch number before
    /// each epoch's end; returns the epoch after which training stopped.
    fn run(cb: &mut dyn Callback, ctx: &mut Fake, key: &str, values: &[f64]) -> Result<Option<usize>> {
        cb.on_train_begin(ctx)?;
        for (epoch, v) in values.iter().enumerate() {
            cb.on_epoch_begin(epoch, ctx)?;
            ctx.w = epoch as f64;
            cb.on_epoch_end(epoch, &mut logs(key, *v), ctx)?;
            if ctx.stopped {
                return Ok(Some(epoch));
            }
        }
        Ok(None)
    }

    #[test]
    fn early_stopping_stops_after_patience_and_restores_the_best_epoch() -> Result<()> {
        // best at epoch 2 (0.5); epochs 3, 4, 5 do not improve; patience 3 stops at epoch 5
        let mut es = EarlyStopping::new("val_loss").patience(3).restore_best_weights(true);
        let mut ctx = Fake::default();
        let stopped = run(&mut es, &mut ctx, "val_loss", &[1.0, 0.8, 0.5, 0.6, 0.5, 0.9, 0.1])?;
        assert_eq!(stopped, Some(5));
        assert_eq!((es.stopped_epoch, es.best_epoch), (5, 2));
        assert_eq!(ctx.w, 2.0, "the weights of epoch 2 were restored");
        // min_delta: 0.5 -> 0.45 is not an improvement of more than 0.1
        let mut es = EarlyStopping { min_delta: 0.1, ..EarlyStopping::new("loss") }.patience(1);
        let stopped = run(&mut es, &mut Fake::default(), "loss", &[0.5, 0.45, 0.3])?;
        assert_eq!(stopped, Some(1));
        // accuracy is maximised under "auto"
        let mut es = EarlyStopping::new("val_accuracy").patience(1);
        let stopped = run(&mut es, &mut Fake::default(), "val_accuracy", &[0.5, 0.6, 0.7, 0.65])?;
        assert_eq!(stopped, Some(3));
        // patience 0 never stops at epoch 0 (Keras's `epoch > 0`)
        let mut es = EarlyStopping::new("loss");
        assert_eq!(run(&mut es, &mut Fake::default(), "loss", &[1.0, 2.0])?, Some(1));
        Ok(())
    }

    #[test]
    fn early_stopping_names_a_missing_monitor() {
        let mut es = EarlyStopping::new("val_loss");
        let err = run(&mut es, &mut Fake::default(), "loss", &[1.0]).unwrap_err().to_string();
        assert!(err.contains("val_loss") && err.contains("validation_data"), "{err}");
    }

    #[test]
    fn reduce_lr_on_plateau_keras_sequence() -> Result<()> {
        let mut r = ReduceLROnPlateau::new("val_loss", 0.5, 2)?;
        r.cooldown = 1;
        r.min_lr = 0.2;
        let mut ctx = Fake { lr: 1.0, ..Fake::default() };
        r.on_train_begin(&mut ctx)?;
        let mut lrs = Vec::new();
        for epoch in 0..8 {
            let before = ctx.lr;
            let mut l = logs("val_loss", 1.0);
            r.on_epoch_end(epoch, &mut l, &mut ctx)?;
            assert_eq!(l["learning_rate"], before, "the logs carry the epoch's rate");
            lrs.push(ctx.lr);
        }
        // epoch 0 sets the best; 1 and 2 wait, 2 halves the rate and starts a 1-epoch
        // cooldown, which Keras counts down and then counts towards the patience in the same
        // epoch (3); 4 halves again; 5 counts; 6 reaches the floor 0.2 (0.125 clipped); 7 counts
        assert_eq!(lrs, [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]);
        assert!(ReduceLROnPlateau::new("loss", 1.0, 1).is_err());
        Ok(())
    }

    #[test]
    fn scheduler_sets_the_rate_before_each_epoch() -> Result<()> {
        let mut s = LearningRateScheduler::new(|epoch, lr| Ok(if epoch < 2 { lr } else { lr * 0.5 }));
        let mut ctx = Fake { lr: 0.1, ..Fake::default() };
        let mut seen = Vec::new();
        for epoch in 0..4 {
            s.on_epoch_begin(epoch, &mut ctx)?;
            let mut l = Logs::new();
            s.on_epoch_end(epoch, &mut l, &mut ctx)?;
            seen.push(l["learning_rate"]);
        }
        assert_eq!(seen, [0.1, 0.1, 0.05, 0.025]);
        let mut bad = LearningRateScheduler::new(|_, _| Ok(f64::NAN));
        assert!(bad.on_epoch_begin(0, &mut ctx).unwrap_err().to_string().contains("finite"));
        Ok(())
    }

    #[test]
    fn checkpoint_paths_format_as_python() -> Result<()> {
        let l: Logs =
            [("val_loss".to_string(), 0.123456), ("loss".to_string(), 0.00001234)].into_iter().collect();
        assert_eq!(format_path("m-{epoch:02d}-{val_loss:.3f}.st", 4, &l)?, "m-05-0.123.st");
        assert_eq!(format_path("m{epoch}_{loss:.2e}", 0, &l)?, "m1_1.23e-05");
        let err = format_path("m-{acc}.st", 0, &l).unwrap_err().to_string();
        assert!(err.contains("acc"), "{err}");
        Ok(())
    }
}
