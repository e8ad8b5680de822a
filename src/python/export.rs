//! candle tensors out to NumPy without copying: a NumPy array over the tensor's storage whose
//! base object keeps a clone of the tensor alive (candle never reallocates a storage `Vec`,
//! so the pointer stays valid while the base lives).

use std::os::raw::{c_int, c_void};

use candle_core::{DType, Tensor};
use numpy::npyffi::{self, NpyTypes, PY_ARRAY_API};
use numpy::{PyArrayDescr, PyArrayDescrMethods};
use pyo3::prelude::*;

use crate::array::ArrayRef;
use crate::dtype::NpDType;
use crate::error::Error;

/// The base object of arrays exported from tensors: holds the tensor (and so its storage).
/// Arrays whose root owner is one of these are mapped back to views of the tensor when shared
/// again, instead of being adopted a second time.
#[pyclass(module = "candle_numpy", name = "_TensorMemory", frozen)]
pub struct ExportedTensor {
    /// The exported tensor.
    pub tensor: Tensor,
}

#[pymethods]
impl ExportedTensor {
    fn __repr__(&self) -> String {
        format!(
            "<memory of a candle tensor, shape {:?}, dtype {:?}>",
            self.tensor.dims(),
            self.tensor.dtype()
        )
    }
}

/// The NumPy dtype object for a candle dtype (`ml_dtypes` types need `ml_dtypes`).
pub fn numpy_descr<'py>(py: Python<'py>, dtype: DType) -> PyResult<Bound<'py, PyArrayDescr>> {
    let np = NpDType::from_candle(dtype)?;
    match np {
        NpDType::BFloat16 | NpDType::Float8E4M3FN => {
            let ml = py.import("ml_dtypes").map_err(|_| {
                PyErr::from(Error::UnsupportedDType {
                    dtype: np.name().into(),
                    reason: "NumPy needs the ml_dtypes package for this type: pip install ml_dtypes, \
                             or convert first with t.to(\"float32\")",
                    supported: "all other candle dtypes export without it",
                })
            })?;
            PyArrayDescr::new(py, ml.getattr(np.name())?)
        }
        _ => PyArrayDescr::new(py, np.name()),
    }
}

/// A NumPy array viewing a CPU tensor's memory (no copy). `readonly` forces the array
/// read-only; broadcast tensors (stride 0) are always read-only.
pub fn tensor_to_numpy<'py>(py: Python<'py>, t: &Tensor, readonly: bool) -> PyResult<Bound<'py, PyAny>> {
    let a = ArrayRef::from_tensor(t)?;
    let descr = numpy_descr(py, t.dtype())?;
    let mut dims: Vec<npyffi::npy_intp> = a.shape().iter().map(|&n| n as npyffi::npy_intp).collect();
    let mut strides: Vec<npyffi::npy_intp> = a.strides().iter().map(|&s| s as npyffi::npy_intp).collect();
    let flags = if readonly || a.is_readonly() { 0 } else { npyffi::NPY_ARRAY_WRITEABLE };
    let base = Bound::new(py, ExportedTensor { tensor: t.clone() })?;
    // SAFETY: the data pointer, shape and strides describe the tensor's storage exactly
    // (ArrayRef::from_tensor checked them); the descr reference is stolen by NewFromDescr; the
    // base reference is stolen by SetBaseObject, which makes the array keep the tensor (and so
    // the storage) alive for as long as the array or any view of it exists.
    unsafe {
        let subtype = npyffi::get_type_object(py, NpyTypes::PyArray_Type);
        let arr = PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            subtype,
            descr.into_dtype_ptr(),
            dims.len() as c_int,
            dims.as_mut_ptr(),
            strides.as_mut_ptr(),
            a.data_ptr() as *mut c_void,
            flags,
            std::ptr::null_mut(),
        );
        let arr = Bound::from_owned_ptr_or_err(py, arr)?;
        if PY_ARRAY_API.PyArray_SetBaseObject(py, arr.as_ptr().cast(), base.into_ptr()) != 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(arr)
    }
}
