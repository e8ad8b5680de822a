//! The native half of `cn.tf.Variable`: the Rust facade's [`tf::Variable`] wrapped one to one.
//! The Python class (`candle_numpy/tf/__init__.py`) subclasses it and makes the initial value
//! with `cn.tf.constant` first (TensorFlow's inference for Python data), so the native module
//! never calls back into the package.

use candle_numpy::python::detach;
use candle_numpy::python::tensor_to_numpy;
use candle_numpy::tf;
use candle_numpy::Sharing;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::convert::convert;
use crate::tensor::PyTensor;

/// `Variable(initial_value: Tensor, trainable=True)`: a copy of the tensor in a new variable.
#[pyclass(module = "candle_numpy.tf", name = "Variable", frozen, subclass)]
pub struct PyVariable {
    inner: tf::Variable,
}

#[pymethods]
impl PyVariable {
    #[new]
    #[pyo3(signature = (initial_value, trainable=true))]
    fn new(py: Python<'_>, initial_value: PyRef<'_, PyTensor>, trainable: bool) -> PyResult<Self> {
        let t = initial_value.inner.clone();
        let inner = detach(py, move || tf::Variable::from_tensor(&t, trainable))
            .map_err(|e| candle_numpy::python::to_pyerr(py, e))?;
        Ok(PyVariable { inner })
    }

    /// Whether optimizers update this variable (TensorFlow's `trainable`).
    #[getter]
    fn trainable(&self) -> bool {
        self.inner.trainable()
    }

    /// The shape, a tuple of ints.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.inner.var().dims())
    }

    /// The dtype (a `cn.tf` dtype object, equal to its NumPy name).
    #[getter(dtype)]
    fn dtype_object(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        crate::dtype::object(py, self.inner.var().dtype())
    }

    /// The current value as a tensor sharing the variable's memory (later assigns show).
    fn value(&self) -> PyTensor {
        let mut t = PyTensor::new(self.inner.var().as_tensor().clone(), false);
        // a tf.Variable's value computes with TensorFlow's rule, as tf.constant's tensors
        t.tf_rules = true;
        t
    }

    /// `read_value()`: an independent copy of the current value.
    fn read_value(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = self.inner.var().as_tensor().clone();
        let copy = detach(py, move || t.copy()).map_err(|e| candle_numpy::python::to_pyerr(py, e.into()))?;
        Ok(PyTensor::new(copy, false))
    }

    /// A NumPy view of the variable's memory.
    fn numpy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        tensor_to_numpy(py, self.inner.var().as_tensor(), false)
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

    /// `assign(value)`: write a new value (cast to the variable's dtype, broadcast to its
    /// shape).
    fn assign(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = convert(value, Sharing::Auto, None, None)?.inner.clone();
        let var = &self.inner;
        detach(py, move || var.assign(&v)).map_err(|e| candle_numpy::python::to_pyerr(py, e))
    }

    /// `assign_add(delta)`: add `delta` (cast to the variable's dtype, broadcast).
    fn assign_add(&self, py: Python<'_>, delta: &Bound<'_, PyAny>) -> PyResult<()> {
        let d = convert(delta, Sharing::Auto, None, None)?.inner.clone();
        let var = &self.inner;
        detach(py, move || var.assign_add(&d)).map_err(|e| candle_numpy::python::to_pyerr(py, e))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let body = self.numpy(py)?.call_method0("__repr__")?.to_string();
        Ok(format!(
            "<cn.tf.Variable shape={:?} dtype={} trainable={} numpy={body}>",
            self.inner.var().dims(),
            crate::dtype::name(self.inner.var().dtype()),
            self.inner.trainable()
        ))
    }
}

/// `_native.tf_constant(value, shape)`: the Rust facade's `tf.constant` shape rule
/// (`tf::reshape_or_fill`) for a value already converted with TensorFlow's inference
/// (`cn.tf.constant` does that first): reshaped when it has `prod(shape)` elements, filled when
/// it has one, else `ShapeError` (a `ValueError`).
#[pyfunction]
pub fn tf_constant(py: Python<'_>, value: PyRef<'_, PyTensor>, shape: Vec<usize>) -> PyResult<PyTensor> {
    let t = value.inner.clone();
    // reshaping is a view of the value cn.tf.constant just made; only a fill writes new memory
    let out = detach(py, move || tf::reshape_or_fill(&t, &shape))
        .map_err(|e| candle_numpy::python::to_pyerr(py, e))?;
    Ok(PyTensor::new(out, false))
}
