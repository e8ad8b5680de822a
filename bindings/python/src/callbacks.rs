//! `cn.tf.keras.callbacks` on the Rust side of `fit`: the built-ins (EarlyStopping,
//! ReduceLROnPlateau, LearningRateScheduler, ModelCheckpoint) are the engine's
//! (`candle_numpy::train::callbacks`), configured from the Python objects' JSON; a user's
//! `Callback` subclass is wrapped so that the Rust loop calls its Python hooks (taking the GIL
//! for each call, which `fit` otherwise runs without).
//!
//! A Python hook's exception stops `fit`; it is kept in a shared slot and raised as it was,
//! instead of the Rust error it caused. After `fit`, the built-ins' results (EarlyStopping's
//! `stopped_epoch` and `best_epoch`, ModelCheckpoint's files) are written back to the Python
//! objects.

use std::sync::{Arc, Mutex};

use candle_numpy::train::callbacks::{
    Callback, EarlyStopping, LearningRateScheduler, Logs, Mode, ModelCheckpoint, ReduceLROnPlateau,
    TrainingContext,
};
use candle_numpy::Error;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

/// Where a Python callback's exception waits until `fit` returns.
pub type Failure = Arc<Mutex<Option<PyErr>>>;

/// One callback of a `fit` call.
pub enum Cb {
    Early(EarlyStopping, Py<PyAny>),
    Plateau(ReduceLROnPlateau),
    Schedule(LearningRateScheduler),
    Checkpoint(ModelCheckpoint, Py<PyAny>),
    Python(PyCallback),
}

/// The callbacks as the engine's loop takes them.
pub fn as_dyn(cbs: &mut [Cb]) -> Vec<&mut dyn Callback> {
    cbs.iter_mut()
        .map(|c| -> &mut dyn Callback {
            match c {
                Cb::Early(e, _) => e,
                Cb::Plateau(p) => p,
                Cb::Schedule(s) => s,
                Cb::Checkpoint(c, _) => c,
                Cb::Python(p) => p,
            }
        })
        .collect()
}

fn stash(failure: &Failure, e: PyErr) -> Error {
    *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    Error::Interrupted { operation: "fit (a callback raised)" }
}

fn mode(config: &Value) -> PyResult<Mode> {
    config["mode"].as_str().unwrap_or("auto").parse().map_err(|e: Error| PyValueError::new_err(e.to_string()))
}

/// The callbacks of `fit(callbacks=[...])` from `(kind, config_json, object)` triples.
pub fn build(
    py: Python<'_>,
    specs: Vec<(String, String, Bound<'_, PyAny>)>,
    model: Option<Py<PyAny>>,
    failure: &Failure,
) -> PyResult<Vec<Cb>> {
    let mut out = Vec::with_capacity(specs.len());
    for (kind, config, obj) in specs {
        let c: Value = serde_json::from_str(&config)
            .map_err(|e| PyValueError::new_err(format!("callback config for {kind}: {e}")))?;
        let monitor = c["monitor"].as_str().unwrap_or("val_loss");
        let f = |k: &str, d: f64| c[k].as_f64().unwrap_or(d);
        let n = |k: &str, d: u64| c[k].as_u64().unwrap_or(d) as usize;
        out.push(match kind.as_str() {
            "EarlyStopping" => {
                let mut e = EarlyStopping::new(monitor);
                e.min_delta = f("min_delta", 0.0);
                e.patience = n("patience", 0);
                e.mode = mode(&c)?;
                e.baseline = c["baseline"].as_f64();
                e.restore_best_weights = c["restore_best_weights"].as_bool().unwrap_or(false);
                e.start_from_epoch = n("start_from_epoch", 0);
                Cb::Early(e, obj.unbind())
            }
            "ReduceLROnPlateau" => {
                let mut r = ReduceLROnPlateau::new(monitor, f("factor", 0.1), n("patience", 10))
                    .map_err(|e| candle_numpy::python::to_pyerr(py, e))?;
                r.mode = mode(&c)?;
                r.min_delta = f("min_delta", 1e-4);
                r.cooldown = n("cooldown", 0);
                r.min_lr = f("min_lr", 0.0);
                Cb::Plateau(r)
            }
            "LearningRateScheduler" => {
                let schedule = obj.getattr("schedule")?.unbind();
                let failure = failure.clone();
                Cb::Schedule(LearningRateScheduler::new(move |epoch, lr| {
                    Python::attach(|py| {
                        let s = schedule.bind(py);
                        // Keras calls schedule(epoch, lr), or schedule(epoch) for one-argument ones
                        let out = match s.call1((epoch, lr)) {
                            Err(e) if e.is_instance_of::<PyTypeError>(py) => s.call1((epoch,)),
                            other => other,
                        };
                        out.and_then(|v| v.extract::<f64>()).map_err(|e| stash(&failure, e))
                    })
                }))
            }
            "ModelCheckpoint" => {
                let path = c["filepath"].as_str().unwrap_or_default();
                if path.is_empty() {
                    return Err(PyValueError::new_err("ModelCheckpoint needs a filepath"));
                }
                let mut m = ModelCheckpoint::new(path);
                m.monitor = monitor.to_string();
                m.save_best_only = c["save_best_only"].as_bool().unwrap_or(false);
                m.save_weights_only = c["save_weights_only"].as_bool().unwrap_or(false);
                m.mode = mode(&c)?;
                Cb::Checkpoint(m, obj.unbind())
            }
            "Callback" => {
                let hook = |name: &str| -> PyResult<bool> { Ok(c[name].as_bool().unwrap_or(false)) };
                Cb::Python(PyCallback {
                    obj: obj.unbind(),
                    model: model.as_ref().map(|m| m.clone_ref(py)),
                    batch: hook("on_train_batch_end")?,
                    failure: failure.clone(),
                })
            }
            other => return Err(PyTypeError::new_err(format!("unknown callback kind {other:?}"))),
        });
    }
    Ok(out)
}

/// After `fit`: the built-ins' results onto their Python objects.
pub fn write_back(py: Python<'_>, cbs: &[Cb]) -> PyResult<()> {
    for c in cbs {
        match c {
            Cb::Early(e, obj) => {
                let obj = obj.bind(py);
                obj.setattr("stopped_epoch", e.stopped_epoch)?;
                obj.setattr("best_epoch", e.best_epoch)?;
            }
            Cb::Checkpoint(m, obj) => {
                let files: Vec<String> = m.saved.iter().map(|p| p.display().to_string()).collect();
                obj.bind(py).setattr("saved", files)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A user's `keras.callbacks.Callback` subclass: the loop calls its Python hooks.
pub struct PyCallback {
    obj: Py<PyAny>,
    /// The Python model, whose `stop_training` the hooks may set.
    model: Option<Py<PyAny>>,
    /// Whether the subclass overrides `on_train_batch_end` (batch logs are then computed).
    batch: bool,
    failure: Failure,
}

impl PyCallback {
    /// Call hook `name` with `args` and a logs dict; entries the hook adds to the dict are
    /// copied back into `logs`; the model's `stop_training` is honoured.
    fn call(
        &self,
        name: &str,
        index: Option<usize>,
        logs: Option<&mut Logs>,
        ctx: &mut dyn TrainingContext,
    ) -> candle_numpy::Result<()> {
        Python::attach(|py| -> PyResult<()> {
            let d = PyDict::new(py);
            if let Some(l) = logs.as_deref() {
                for (k, v) in l {
                    d.set_item(k, v)?;
                }
            }
            let obj = self.obj.bind(py);
            match index {
                Some(i) => obj.call_method1(name, (i, &d))?,
                None => obj.call_method1(name, (&d,))?,
            };
            if let Some(l) = logs {
                for (k, v) in d.iter() {
                    if let Ok(v) = v.extract::<f64>() {
                        l.insert(k.extract()?, v);
                    }
                }
            }
            if let Some(m) = &self.model {
                let m = m.bind(py);
                if m.getattr("stop_training").and_then(|v| v.is_truthy()).unwrap_or(false) {
                    m.setattr("stop_training", false)?;
                    ctx.stop_training();
                }
            }
            Ok(())
        })
        .map_err(|e| stash(&self.failure, e))
    }
}

impl Callback for PyCallback {
    fn wants_batch_logs(&self) -> bool {
        self.batch
    }

    fn on_train_begin(&mut self, ctx: &mut dyn TrainingContext) -> candle_numpy::Result<()> {
        self.call("on_train_begin", None, None, ctx)
    }

    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut dyn TrainingContext) -> candle_numpy::Result<()> {
        self.call("on_epoch_begin", Some(epoch), None, ctx)
    }

    fn on_batch_end(
        &mut self,
        batch: usize,
        logs: &Logs,
        ctx: &mut dyn TrainingContext,
    ) -> candle_numpy::Result<()> {
        if !self.batch {
            return Ok(());
        }
        let mut logs = logs.clone();
        self.call("on_train_batch_end", Some(batch), Some(&mut logs), ctx)
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &mut Logs,
        ctx: &mut dyn TrainingContext,
    ) -> candle_numpy::Result<()> {
        self.call("on_epoch_end", Some(epoch), Some(logs), ctx)
    }

    fn on_train_end(&mut self, ctx: &mut dyn TrainingContext) -> candle_numpy::Result<()> {
        self.call("on_train_end", None, None, ctx)
    }
}
