//! The native half of `cn.tf.keras`: `candle_numpy::tf::keras::Sequential` with its training
//! loop in Rust (the GIL is released for `fit`, `evaluate` and `predict`). The Python classes
//! in `candle_numpy/tf/keras/` (layers, optimizers, `Sequential`, `History`) give Keras's
//! signatures and hand plain specs to this one.

use candle_numpy::python::detach;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use candle_core::Tensor;
use candle_numpy::tf::keras::{FitOptions, Layer, Optimizer, Sequential};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::callbacks;
use crate::convert::tensor_arg;
use crate::data::PyDataset;
use crate::tensor::PyTensor;

fn err(py: Python<'_>, e: candle_numpy::Error) -> PyErr {
    candle_numpy::python::to_pyerr(py, e)
}

/// A layer from its Python spec `(class_name, config_json)`: Keras's class name and its
/// `get_config()` as JSON, read by the engine's `Layer::from_config` (the same reader as saved
/// models use).
fn layer(spec: &Bound<'_, PyTuple>) -> PyResult<Layer> {
    let (class, config): (String, String) = spec.extract()?;
    let config: serde_json::Value = serde_json::from_str(&config)
        .map_err(|e| PyValueError::new_err(format!("layer config for {class}: {e}")))?;
    Layer::from_config(&class, &config).map_err(|e| err(spec.py(), e))
}

/// An optimizer from a name or `(kind, learning_rate, beta_1, beta_2, epsilon, weight_decay,
/// momentum, nesterov)`.
fn optimizer(obj: &Bound<'_, PyAny>) -> PyResult<Optimizer> {
    if let Ok(name) = obj.extract::<String>() {
        return name.parse::<Optimizer>().map_err(|e| err(obj.py(), e));
    }
    let (kind, learning_rate, beta_1, beta_2, epsilon, weight_decay, momentum, nesterov): (
        String,
        f64,
        f64,
        f64,
        f64,
        f64,
        f64,
        bool,
    ) = obj.extract().map_err(|_| {
        PyTypeError::new_err(
            "optimizer must be a name (\"adam\", \"sgd\", \"adamw\") or a cn.tf.keras.optimizers object",
        )
    })?;
    Ok(match kind.as_str() {
        "adam" => Optimizer::Adam { learning_rate, beta_1, beta_2, epsilon },
        "adamw" => Optimizer::AdamW { learning_rate, beta_1, beta_2, epsilon, weight_decay },
        "sgd" => Optimizer::Sgd { learning_rate, momentum, nesterov },
        other => return Err(PyValueError::new_err(format!("unknown optimizer {other:?}"))),
    })
}

/// Training data as a tensor, cut from any autograd graph (the model trains, not its inputs).
fn data(x: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    Ok(tensor_arg(x)?.detach())
}

fn metrics_dict<'py>(py: Python<'py>, m: &BTreeMap<String, f64>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in m {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// `KerasSequential(layer_specs, seed=None, dtype_policy=None)`.
#[pyclass(module = "candle_numpy._native", name = "KerasSequential")]
pub struct PyKerasSequential {
    inner: Sequential,
}

#[pymethods]
impl PyKerasSequential {
    #[new]
    #[pyo3(signature = (layers, seed=None, dtype_policy=None, input_shape=None))]
    fn new(
        py: Python<'_>,
        layers: Vec<Bound<'_, PyTuple>>,
        seed: Option<u64>,
        dtype_policy: Option<&str>,
        input_shape: Option<Vec<usize>>,
    ) -> PyResult<Self> {
        let layers = layers.iter().map(layer).collect::<PyResult<Vec<_>>>()?;
        let mut inner = Sequential::new(layers).map_err(|e| err(py, e))?;
        if let Some(shape) = input_shape {
            inner = inner.with_input_shape(&shape).map_err(|e| err(py, e))?;
        }
        if let Some(s) = seed {
            inner = inner.with_seed(s);
        }
        if let Some(p) = dtype_policy {
            inner = inner.with_dtype_policy(p).map_err(|e| err(py, e))?;
        }
        Ok(PyKerasSequential { inner })
    }

    fn add(&mut self, py: Python<'_>, spec: &Bound<'_, PyTuple>) -> PyResult<()> {
        let l = layer(spec)?;
        self.inner.add(l).map_err(|e| err(py, e))
    }

    fn build(&mut self, py: Python<'_>, input_shape: Vec<usize>) -> PyResult<()> {
        self.inner.build(&input_shape).map_err(|e| err(py, e))
    }

    #[pyo3(signature = (optimizer, loss, metrics=None))]
    fn compile(
        &mut self,
        py: Python<'_>,
        optimizer: &Bound<'_, PyAny>,
        loss: &str,
        metrics: Option<Vec<String>>,
    ) -> PyResult<()> {
        let opt = self::optimizer(optimizer)?;
        let metrics = metrics.unwrap_or_default();
        let names: Vec<&str> = metrics.iter().map(String::as_str).collect();
        self.inner.compile(opt, loss, &names).map_err(|e| err(py, e))
    }

    /// Returns `(history, epochs, params)` for the Python `History`. `callbacks` are
    /// `(kind, config_json, object)` triples from `cn.tf.keras.callbacks` (see
    /// [`callbacks`]); `class_weight` maps class indices to weights.
    #[pyo3(signature = (x, y, epochs=1, batch_size=32, shuffle=true, validation_data=None, validation_split=0.0, verbose=1, seed=None, callbacks=None, sample_weight=None, class_weight=None, model=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: Option<&Bound<'py, PyAny>>,
        epochs: usize,
        batch_size: usize,
        shuffle: bool,
        validation_data: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
        validation_split: f64,
        verbose: u8,
        seed: Option<u64>,
        callbacks: Option<Vec<(String, String, Bound<'py, PyAny>)>>,
        sample_weight: Option<&Bound<'py, PyAny>>,
        class_weight: Option<BTreeMap<usize, f64>>,
        model: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let failure = Arc::new(Mutex::new(None));
        let mut cbs =
            callbacks::build(py, callbacks.unwrap_or_default(), model.map(Bound::unbind), &failure)?;
        let sample_weight = sample_weight.filter(|w| !w.is_none()).map(data).transpose()?;
        let validation_data = match validation_data {
            Some((vx, vy)) => Some((data(&vx)?, data(&vy)?)),
            None => None,
        };
        let opts = FitOptions {
            epochs,
            batch_size,
            shuffle,
            validation_split,
            validation_data,
            verbose,
            seed,
            sample_weight,
            class_weight,
            ..Default::default()
        };
        let model = &mut self.inner;
        let result = if let Ok(ds) = x.cast::<PyDataset>() {
            if y.is_some_and(|y| !y.is_none()) {
                return Err(PyValueError::new_err(
                    "y must be None when x is a Dataset (the dataset yields (x, y) batches)",
                ));
            }
            let ds = ds.borrow().dataset().clone();
            detach(py, || model.fit_dataset_with(&ds, &opts, &mut callbacks::as_dyn(&mut cbs)))
        } else {
            let y = y.filter(|y| !y.is_none()).ok_or_else(|| {
                PyValueError::new_err("fit(x, y): y is missing; pass labels, or a Dataset of (x, y) as x")
            })?;
            let (x, y) = (data(x)?, data(y)?);
            detach(py, || model.fit_with(&x, &y, &opts, &mut callbacks::as_dyn(&mut cbs)))
        };
        // a Python callback's own exception wins over the error it caused
        if let Some(e) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        let history = result.map_err(|e| err(py, e))?;
        callbacks::write_back(py, &cbs)?;
        let params = PyDict::new(py);
        params.set_item("epochs", history.params.epochs)?;
        params.set_item("steps", history.params.steps)?;
        params.set_item("samples", history.params.samples)?;
        params.set_item("validation_samples", history.params.validation_samples)?;
        params.set_item("verbose", history.params.verbose)?;
        let h = PyDict::new(py);
        for (k, v) in &history.history {
            h.set_item(k, v.clone())?;
        }
        PyTuple::new(py, [h.into_any(), history.epoch.into_pyobject(py)?.into_any(), params.into_any()])
    }

    #[pyo3(signature = (x, y, batch_size=None))]
    fn evaluate<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        batch_size: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (x, y) = (data(x)?, data(y)?);
        let model = &mut self.inner;
        let m = detach(py, || model.evaluate(&x, &y, batch_size)).map_err(|e| err(py, e))?;
        metrics_dict(py, &m)
    }

    #[pyo3(signature = (x, batch_size=None))]
    fn predict(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        batch_size: Option<usize>,
    ) -> PyResult<PyTensor> {
        let x = data(x)?;
        let model = &mut self.inner;
        let out = detach(py, || model.predict(&x, batch_size)).map_err(|e| err(py, e))?;
        Ok(PyTensor::new(out, false))
    }

    fn train_on_batch<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (x, y) = (data(x)?, data(y)?);
        let model = &mut self.inner;
        let m = detach(py, || model.train_on_batch(&x, &y)).map_err(|e| err(py, e))?;
        metrics_dict(py, &m)
    }

    fn summary(&self, py: Python<'_>) -> PyResult<String> {
        self.inner.summary().map_err(|e| err(py, e))
    }

    fn count_params(&self, py: Python<'_>) -> PyResult<usize> {
        self.inner.count_params().map_err(|e| err(py, e))
    }

    fn save_weights(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        detach(py, || self.inner.save_weights(&path)).map_err(|e| err(py, e))
    }

    /// The whole model (architecture in the metadata, weights) as one safetensors file.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        detach(py, || self.inner.save(&path)).map_err(|e| err(py, e))
    }

    /// `keras.models.load_model(path)`: a model written by `save`.
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let inner = detach(py, || Sequential::load(&path)).map_err(|e| err(py, e))?;
        Ok(PyKerasSequential { inner })
    }

    /// `(class_name, config_json)` for each layer (Keras's `get_config()`).
    fn layer_configs(&self) -> Vec<(String, String)> {
        self.inner
            .layers()
            .iter()
            .map(|l| {
                let c = l.to_config();
                (c["class_name"].as_str().unwrap_or_default().to_string(), c["config"].to_string())
            })
            .collect()
    }

    fn load_weights(&mut self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let model = &mut self.inner;
        detach(py, || model.load_weights(&path)).map_err(|e| err(py, e))
    }

    /// `(name, copy)` pairs, in layer order.
    fn get_weights(&self, py: Python<'_>) -> PyResult<Vec<(String, PyTensor)>> {
        let w = self.inner.get_weights().map_err(|e| err(py, e))?;
        Ok(w.into_iter().map(|(n, t)| (n, PyTensor::new(t, false))).collect())
    }

    #[getter]
    fn learning_rate(&self) -> Option<f64> {
        self.inner.learning_rate()
    }

    #[setter]
    fn set_learning_rate(&mut self, py: Python<'_>, lr: f64) -> PyResult<()> {
        self.inner.set_learning_rate(lr).map_err(|e| err(py, e))
    }

    #[getter]
    fn input_shape(&self) -> Option<Vec<usize>> {
        self.inner.input_shape().map(<[usize]>::to_vec)
    }

    #[getter]
    fn output_shape(&self, py: Python<'_>) -> PyResult<Vec<usize>> {
        self.inner.output_shape().map_err(|e| err(py, e))
    }

    #[getter]
    fn built(&self) -> bool {
        self.inner.is_built()
    }

    #[getter]
    fn dtype_policy(&self) -> &'static str {
        self.inner.dtype_policy().name()
    }

    #[getter]
    fn loss_scale(&self) -> Option<f64> {
        self.inner.loss_scale()
    }
}
