//! `cn.tf.Variable`: a trainable candle `Var` (what candle-nn optimizers update), holding its
//! own copy of the initial value, as `tf.Variable` does.

use candle_core::Var;
use candle_numpy::python::detach;
use candle_numpy::python::tensor_to_numpy;
use candle_numpy::Sharing;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::convert::convert;
use crate::tensor::PyTensor;

/// `Variable(initial_value, trainable=True, dtype=None)`.
#[pyclass(module = "candle_numpy.tf", name = "Variable", frozen)]
pub struct PyVariable {
    var: Var,
    trainable: bool,
}

#[pymethods]
impl PyVariable {
    #[new]
    #[pyo3(signature = (initial_value, trainable=true, dtype=None))]
    fn new(
        initial_value: &Bound<'_, PyAny>,
        trainable: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        // tf.Variable copies its initial value (Python ints infer int32, as tf.constant does)
        let value =
            initial_value.py().import("candle_numpy.tf")?.call_method1("constant", (initial_value, dtype))?;
        let t = convert(&value, Sharing::Copy, None, None)?.inner.clone();
        let var = Var::from_tensor(&t).map_err(candle_numpy::Error::from)?;
        Ok(PyVariable { var, trainable })
    }

    #[getter]
    fn trainable(&self) -> bool {
        self.trainable
    }

    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.var.dims())
    }

    #[getter(dtype)]
    fn dtype_object(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        crate::dtype::object(py, self.var.dtype())
    }

    /// The current value as a tensor sharing the variable's memory (later assigns show).
    fn value(&self) -> PyTensor {
        let mut t = PyTensor::new(self.var.as_tensor().clone(), false);
        // a tf.Variable's value computes with TensorFlow's rule, as tf.constant's tensors
        t.tf_rules = true;
        t
    }

    /// `read_value()`: an independent copy of the current value.
    fn read_value(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = self.var.as_tensor().clone();
        let copy = detach(py, move || t.copy()).map_err(|e| candle_numpy::python::to_pyerr(py, e.into()))?;
        Ok(PyTensor::new(copy, false))
    }

    /// A NumPy view of the variable's memory.
    fn numpy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        tensor_to_numpy(py, self.var.as_tensor(), false)
    }

    #[pyo3(signature = (dtype=None, copy=None))]
    fn __array__<'py>(
        &self,
        py: Python<'py>,
        dtype: Option<&Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::tensor::array_protocol(self.numpy(py)?, dtype, copy)
    }

    /// `assign(value)`: write a new value (same shape; cast to the variable's dtype).
    fn assign(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = convert(value, Sharing::Auto, None, None)?.inner.clone();
        let var = self.var.clone();
        detach(py, move || -> candle_core::Result<()> {
            let v = candle_numpy::dtype::cast(&v, var.dtype())?.broadcast_as(var.shape())?.contiguous()?;
            var.set(&v.copy()?)
        })
        .map_err(|e| candle_numpy::python::to_pyerr(py, e.into()))
    }

    /// `assign_add(delta)`.
    fn assign_add(&self, py: Python<'_>, delta: &Bound<'_, PyAny>) -> PyResult<()> {
        let d = convert(delta, Sharing::Auto, None, None)?.inner.clone();
        let var = self.var.clone();
        detach(py, move || -> candle_core::Result<()> {
            let next = var.as_tensor().broadcast_add(&candle_numpy::dtype::cast(&d, var.dtype())?)?;
            var.set(&next)
        })
        .map_err(|e| candle_numpy::python::to_pyerr(py, e.into()))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let body = self.numpy(py)?.call_method0("__repr__")?.to_string();
        Ok(format!(
            "<cn.tf.Variable shape={:?} dtype={} trainable={} numpy={body}>",
            self.var.dims(),
            crate::dtype::name(self.var.dtype()),
            self.trainable
        ))
    }
}
