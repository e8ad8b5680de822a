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
