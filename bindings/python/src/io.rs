//! `.npy` / `.npz` files: `load_npy` (read, or memory-map and share), `save_npy`, `load_npz`,
//! `save_npz`. NumPy arrays are written with their own dtype (int8, bool, big-endian stay
//! so); tensors with theirs. File work runs without the GIL.

use candle_numpy::python::detach;
use std::path::PathBuf;

use candle_numpy::python::{array_ref_from_ndarray, release_parked, to_pyerr};
use candle_numpy::{npy, ArrayRef, Options, Sharing};
use numpy::PyUntypedArray;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::convert;
use crate::tensor::PyTensor;

/// A path argument: `str` or any `os.PathLike`.
fn path_of(obj: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    obj.extract::<PathBuf>()
}

/// What a save writes: a NumPy array's values and dtype (any layout or byte order; the file is
/// C order, native byte order, so a `>f8` array is saved as `<f8` with the same values),
/// anything else as the tensor `as_tensor` makes.
fn array_of(obj: &Bound<'_, PyAny>) -> PyResult<ArrayRef> {
    if let Ok(arr) = obj.cast::<PyUntypedArray>() {
        return array_ref_from_ndarray(arr);
    }
    let t = convert(obj, Sharing::Auto, None, None)?.inner.clone();
    let t = if t.device().is_cpu() { t } else { t.to_device(&candle_core::Device::Cpu).map_err(to_err)? };
    Ok(ArrayRef::from_tensor(&t)?)
}

fn to_err(e: candle_core::Error) -> PyErr {
    candle_numpy::Error::from(e).into()
}

/// Load a `.npy` file as a tensor. `mmap=True` maps the file and shares it: O(1) at any size,
/// a read-only tensor (writes through the API are refused) whose pages are read on first
/// touch; with `dtype` the mapped data is copied and cast instead.
#[pyfunction]
#[pyo3(signature = (path, mmap=false, dtype=None))]
pub fn load_npy(
    py: Python<'_>,
    path: &Bound<'_, PyAny>,
    mmap: bool,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    release_parked(py);
    let path = path_of(path)?;
    let dtype = match dtype {
        Some(d) if !d.is_none() => Some(crate::dtype::parse(d)?),
        _ => None,
    };
    // a copy-on-write map: shared without the read-only opt-in (see npy::mmap)
    let opts = Options { dtype, ..Options::default() };
    if mmap {
        let a = detach(py, || npy::mmap(&path)).map_err(|e| to_pyerr(py, e))?;
        if dtype.is_none() {
            let t = candle_numpy::to_tensor(&a, Sharing::Share, &opts).map_err(|e| to_pyerr(py, e))?;
            return Ok(PyTensor::new(t, true));
        }
        let t =
            detach(py, || candle_numpy::to_tensor(&a, Sharing::Copy, &opts)).map_err(|e| to_pyerr(py, e))?;
        return Ok(PyTensor::new(t, false));
    }
    let t = detach(py, || npy::load_with(&path, &opts)).map_err(|e| to_pyerr(py, e))?;
    Ok(PyTensor::new(t, false))
}

/// Save a tensor or array as `.npy` (C order, native byte order, the data's own dtype).
#[pyfunction]
pub fn save_npy(py: Python<'_>, path: &Bound<'_, PyAny>, data: &Bound<'_, PyAny>) -> PyResult<()> {
    let path = path_of(path)?;
    let a = array_of(data)?;
    detach(py, || npy::save_array(&path, &a, &npy::WriteOptions::default())).map_err(|e| to_pyerr(py, e))
}

/// Load every array of a `.npz` archive as a dict of tensors (names without `.npy`).
#[pyfunction]
pub fn load_npz<'py>(py: Python<'py>, path: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let path = path_of(path)?;
    let named = detach(py, || npy::load_npz(&path)).map_err(|e| to_pyerr(py, e))?;
    let d = PyDict::new(py);
    for (k, t) in named {
        d.set_item(k, Py::new(py, PyTensor::new(t, false))?)?;
    }
    Ok(d)
}

/// Save tensors or arrays as a `.npz` archive (`np.savez(path, **arrays)`); `np.load` reads it.
#[pyfunction]
#[pyo3(signature = (path, **arrays))]
pub fn save_npz(py: Python<'_>, path: &Bound<'_, PyAny>, arrays: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    let path = path_of(path)?;
    let named = match arrays {
        Some(d) => d
            .iter()
            .map(|(k, v)| Ok((k.extract::<String>()?, array_of(&v)?)))
            .collect::<PyResult<Vec<_>>>()?,
        None => Vec::new(),
    };
    detach(py, || npy::save_npz_arrays(&path, &named, false)).map_err(|e| to_pyerr(py, e))
}
