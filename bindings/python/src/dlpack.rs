//! `cn.from_dlpack`: any DLPack producer (NumPy, PyTorch, JAX, CuPy on the host, our own
//! tensors) shared as a tensor without copying. The export side is `Tensor.__dlpack__` and
//! `Tensor.__dlpack_device__` in `tensor.rs`; the protocol work lives in
//! `candle_numpy::python::dlpack`.

use candle_numpy::python::dlpack::tensor_from_dlpack;
use pyo3::prelude::*;

use crate::tensor::PyTensor;

/// Share the memory of a DLPack producer as a tensor (no copy).
///
/// Args:
///     x: an object with `__dlpack__` (a NumPy array, a PyTorch/JAX/CuPy host array, a
///         `cn.Tensor`, ...) or a DLPack capsule (consumed: a capsule imports once).
///
/// Returns:
///     A Tensor sharing the producer's memory: writes on either side are seen on the other.
///     It is read-only when the producer marked the memory read-only, and it keeps the
///     producer's memory alive for as long as it (or any view of it) lives.
///
/// Raises:
///     DLPackError: (a BufferError) the memory is not host memory (e.g. a CUDA array), the
///         capsule was already consumed, or the element type has no candle counterpart.
///     ShareError: the layout or dtype cannot be shared (e.g. negative strides, int8); the
///         message names the fix, usually a copy with cn.tensor(np.from_dlpack(x)).
///
/// Example:
///     >>> a = np.arange(6.0)
///     >>> t = cn.from_dlpack(a)
///     >>> a[0] = 42.0
///     >>> t[0].tolist()
///     42.0
#[pyfunction]
pub fn from_dlpack(x: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    // SAFETY: a read-only import goes into a PyTensor marked read-only, and every Python write
    // path checks that mark (`PyTensor::read_only`); tests/test_readonly_writes.py tries each.
    let (t, readonly) = unsafe { tensor_from_dlpack(x) }?;
    Ok(PyTensor::new(t, readonly))
}

/// Number of DLPack exports (`Tensor.__dlpack__` capsules) whose deleter has not run yet
/// (diagnostics and leak tests).
#[pyfunction]
pub fn live_dlpack_exports() -> usize {
    candle_numpy::dlpack::live_exports()
}
