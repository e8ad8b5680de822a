//! `cn.save_safetensors`, `cn.load_safetensors`, `cn.safetensors_metadata`: `.safetensors`
//! files through `candle_numpy::safetensors`, with the GIL released around the I/O.

use candle_numpy::python::detach;
use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::Tensor;
use candle_numpy::python::{array_ref_from_ndarray, release_parked, to_pyerr};
use candle_numpy::safetensors::{self as st, AsArrayRef};
use candle_numpy::{shares_memory, to_tensor, ArrayRef, Options, Sharing};
use numpy::PyUntypedArray;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::tensor::PyTensor;

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// The array a value of the dict describes: a tensor's storage, a NumPy array's memory (no
/// copy), or `np.asarray(value)` for anything else.
fn array_of(value: &Bound<'_, PyAny>) -> PyResult<ArrayRef> {
    let py = value.py();
    if let Ok(t) = value.cast::<PyTensor>() {
        let t = t.borrow().inner.clone();
        return detach(py, || t.as_array_ref()).map_err(|e| to_pyerr(py, e));
    }
    if let Ok(arr) = value.cast::<PyUntypedArray>() {
        return array_ref_from_ndarray(arr);
    }
    let arr = py.import("numpy")?.call_method1("asarray", (value,))?;
    array_ref_from_ndarray(arr.cast::<PyUntypedArray>()?)
}

/// Save arrays and tensors as a `.safetensors` file.
///
/// Args:
///     path: file to write (str or os.PathLike); written beside it and renamed over it, so
///         tensors memory-mapped from an older version of the file stay valid. The path comes
///         first, as in `save_npy` and `np.save`; the old order `(tensors, path)` is accepted
///         with a DeprecationWarning until 0.2.
///     tensors: dict of name -> NumPy array (any dtype of the table, including bool, int8,
///         uint16, uint64, ml_dtypes bfloat16 / float8_e4m3fn; any layout or byte order) or
///         `cn.Tensor`.
///     metadata: optional dict of str -> str stored as the header's `__metadata__`.
///
/// Raises:
///     TypeError: `tensors` is not a dict, a name is not a str, or a dtype is unsupported.
///     ValueError: a name is `__metadata__`.
///     OSError: the file cannot be written (FileNotFoundError for a missing directory).
///
/// Example:
///     >>> cn.save_safetensors("w.safetensors", {"w": np.ones((2, 3), np.float32)})
#[pyfunction]
#[pyo3(signature = (path, tensors, metadata=None))]
pub fn save_safetensors(
    path: &Bound<'_, PyAny>,
    tensors: &Bound<'_, PyAny>,
    metadata: Option<HashMap<String, String>>,
) -> PyResult<()> {
    let py = tensors.py();
    release_parked(py);
    // the order before 0.1 was (tensors, path), as the safetensors package's save_file: still
    // accepted (a dict first, a path second), with a DeprecationWarning, until 0.2
    let (path, tensors) = if path.cast::<PyDict>().is_ok() && tensors.cast::<PyDict>().is_err() {
        PyErr::warn(
            py,
            &py.get_type::<pyo3::exceptions::PyDeprecationWarning>(),
            c"save_safetensors(tensors, path) is the old argument order; write \
              save_safetensors(path, tensors) (the path first, as save_npy and np.save); the old \
              order is accepted until 0.2",
            2,
        )?;
        (tensors, path)
    } else {
        (path, tensors)
    };
    let path: PathBuf = path.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "save_safetensors(path, tensors): path must be a str or os.PathLike, got {}",
            type_name(path)
        ))
    })?;
    let dict = tensors.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "save_safetensors(path, tensors) expects tensors as a dict of name -> array or tensor, got {}",
            type_name(tensors)
        ))
    })?;
    let mut items: Vec<(String, ArrayRef)> = Vec::with_capacity(dict.len());
    for (key, value) in dict.iter() {
        let name: String = key.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "save_safetensors: tensor names must be str, got {} {}",
                type_name(&key),
                key.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        })?;
        items.push((name, array_of(&value)?));
    }
    let result = detach(py, || st::save(&path, items.iter().map(|(n, a)| (n, a)), metadata));
    // the arrays (and their Python owners) are dropped here, with the GIL held
    drop(items);
    result.map_err(|e| to_pyerr(py, e))
}

/// Load a `.safetensors` file as a dict of name -> `cn.Tensor`, in file order.
///
/// Args:
///     path: the file (str or os.PathLike).
///     mmap: True (default) maps the file and shares it: each tensor is a read-only view of
///         the mapped pages (`t.is_readonly`, no bytes copied; in-place writes raise), except
///         tensors that cannot be shared (unaligned data; BOOL / I8 / U16 / U64, which candle
///         holds widened; empty ones; another device), which are copied. False reads a copy.
///     device: "cpu" (default), "cuda" or "cuda:N".
///
/// Returns:
///     dict of name -> Tensor. bool loads as uint8 (0/1), int8 as int16, uint16 as uint32,
///     uint64 as int64 (an error if a value does not fit), as for NumPy arrays.
///
/// Raises:
///     FileNotFoundError: the file does not exist (OSError for other I/O failures).
///     FileFormatError: the file is malformed (the message names the tensor and bytes).
///     DTypeError: a tensor's dtype has no candle counterpart (F8_E5M2, C64, ...).
///
/// Example:
///     >>> w = cn.load_safetensors("w.safetensors")["w"]
///     >>> w.is_readonly
///     True
#[pyfunction]
#[pyo3(signature = (path, mmap=true, device="cpu"))]
pub fn load_safetensors<'py>(
    py: Python<'py>,
    path: PathBuf,
    mmap: bool,
    device: &str,
) -> PyResult<Bound<'py, PyDict>> {
    release_parked(py);
    let device = candle_numpy::device::parse(device)?;
    let loaded = detach(py, || -> candle_numpy::Result<Vec<(String, Tensor, bool)>> {
        if !mmap {
            let tensors = st::load(&path, &device)?;
            return Ok(tensors.into_iter().map(|(name, t)| (name, t, false)).collect());
        }
        let mapped = st::mmap(&path)?;
        // a copy-on-write map: no read-only opt-in needed (see safetensors::MappedFile)
        let opts = Options::default().device(device.clone());
        mapped
            .arrays()?
            .into_iter()
            .map(|(name, a)| {
                let t = to_tensor(&a, Sharing::Auto, &opts)?;
                let shared = shares_memory(&t, &a);
                Ok((name, t, shared))
            })
            .collect()
    })
    .map_err(|e| to_pyerr(py, e))?;
    let out = PyDict::new(py);
    for (name, t, shared) in loaded {
        out.set_item(name, Py::new(py, PyTensor::new(t, shared))?)?;
    }
    Ok(out)
}

/// The `__metadata__` of a `.safetensors` file as a dict of str -> str (empty when it has
/// none); reads the header only.
///
/// Raises:
///     FileNotFoundError: the file does not exist.
///     FileFormatError: the file is malformed.
///
/// Example:
///     >>> cn.safetensors_metadata("w.safetensors")
///     {'format': 'np'}
#[pyfunction]
pub fn safetensors_metadata(py: Python<'_>, path: PathBuf) -> PyResult<HashMap<String, String>> {
    detach(py, || st::read_metadata(&path)).map_err(|e| to_pyerr(py, e))
}
