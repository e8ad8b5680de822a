//! `cn.load_url`: `candle_numpy::remote` (S3-compatible object storage) with the GIL released.

use candle_numpy::python::detach;
use candle_numpy::remote::{self, Loaded};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::tensor::PyTensor;

/// Load an `s3://bucket/key` object: a `.npy` gives a Tensor, a `.npz` or `.safetensors` a
/// dict of name -> Tensor (in file order). Credentials, region and endpoint come from the
/// `AWS_*` environment variables.
#[pyfunction]
pub fn load_url(py: Python<'_>, url: &str) -> PyResult<Py<PyAny>> {
    let url = url.to_string();
    let loaded = detach(py, move || remote::load(&url)).map_err(|e| candle_numpy::python::to_pyerr(py, e))?;
    match loaded {
        Loaded::Tensor(t) => Ok(Py::new(py, PyTensor::new(t, false))?.into_any()),
        Loaded::Named(tensors) => {
            let d = PyDict::new(py);
            for (name, t) in tensors {
                d.set_item(name, Py::new(py, PyTensor::new(t, false))?)?;
            }
            Ok(d.into_any().unbind())
        }
    }
}
