//! `dtype=` arguments: NumPy dtypes, dtype strings ("float32", "f4", "bfloat16") and types
//! (np.float32, ml_dtypes.bfloat16), resolved through the crate's one dtype table.

use candle_core::DType;
use candle_numpy::dtype::{Mapping, NpDType, SUPPORTED};
use candle_numpy::python::np_dtype;
use candle_numpy::Error;
use numpy::PyArrayDescr;
use pyo3::prelude::*;

/// The candle dtype a `dtype=` argument names. NumPy dtypes without an exact candle twin
/// (int8, uint16, bool, uint64) name the dtype they widen to.
pub fn parse(obj: &Bound<'_, PyAny>) -> PyResult<DType> {
    if let Ok(s) = obj.extract::<String>() {
        // candle's own short names ("f32", "bf16") and NumPy's
        if let Ok(d) = s.parse::<DType>() {
            if NpDType::from_candle(d).is_ok() {
                return Ok(d);
            }
        }
        if let Some(d) = NpDType::from_name(&s) {
            return Ok(d.mapping().target());
        }
    }
    let py = obj.py();
    let descr = PyArrayDescr::new(py, obj).map_err(|_| unsupported(obj))?;
    let (np, _) = np_dtype(&descr)?;
    Ok(match np.mapping() {
        Mapping::Exact(d) | Mapping::Widen(d) | Mapping::RangeChecked(d) => d,
    })
}

fn unsupported(obj: &Bound<'_, PyAny>) -> PyErr {
    let shown = obj.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into());
    Error::UnsupportedDType {
        dtype: shown,
        reason: "not a dtype NumPy or candle knows; pass e.g. \"float32\", np.float32 or ml_dtypes.bfloat16",
        supported: SUPPORTED,
    }
    .into()
}

/// NumPy's name of a candle dtype, as `Tensor.dtype` reports it.
pub fn name(dtype: DType) -> &'static str {
    candle_numpy::dtype::candle_numpy_name(dtype)
}

/// The class `Tensor.dtype` answers with: `candle_numpy._dtypes.dtype`, a `str` subclass with
/// torch's and TF's dtype attributes (`is_floating_point`, `itemsize`, ...), registered by the
/// package at import (the native module never imports the package). Until then, plain names.
static DTYPE_CLASS: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
/// One instance per dtype name, made on first use.
static DTYPE_OBJECTS: pyo3::sync::PyOnceLock<Py<pyo3::types::PyDict>> = pyo3::sync::PyOnceLock::new();

/// Register the dtype class (`candle_numpy/__init__.py` calls it at import; a second call, from
/// a reloaded package, keeps the first class).
#[pyfunction]
pub fn _register_dtype_class(py: Python<'_>, cls: Py<PyAny>) {
    let _ = DTYPE_CLASS.set(py, cls);
}

/// `Tensor.dtype`: the registered dtype object for `dtype`, equal (and hashing equal) to its
/// NumPy-style name.
pub fn object(py: Python<'_>, dtype: DType) -> PyResult<Py<PyAny>> {
    let n = name(dtype);
    let Some(cls) = DTYPE_CLASS.get(py) else {
        return Ok(pyo3::types::PyString::new(py, n).into_any().unbind());
    };
    let cache = DTYPE_OBJECTS.get_or_init(py, || pyo3::types::PyDict::new(py).unbind()).bind(py);
    if let Some(obj) = cache.get_item(n)? {
        return Ok(obj.unbind());
    }
    let obj = cls.bind(py).call1((n,))?;
    cache.set_item(n, &obj)?;
    Ok(obj.unbind())
}
