//! pyo3 conversions (feature `python`): NumPy arrays in, NumPy arrays out, explicit about
//! share versus copy, with proper Python exceptions.
//!
//! For authors of Python extensions around candle models:
//!
//! | type | direction | what it does |
//! | --- | --- | --- |
//! | [`SharedTensor`] | argument | shares the array's memory (`torch.from_numpy`); refuses with a `ShareError` otherwise (read-only arrays too: a Rust caller could write) |
//! | [`AutoTensor`] | argument | shares when it can, else copies (`torch.as_tensor`) |
//! | [`CopiedTensor`] | argument | always copies (`torch.tensor`) |
//! | [`NumpyView`] | return | a NumPy array viewing the tensor's memory (CPU only) |
//! | [`NumpyCopy`] | return | a NumPy array with its own copy (any device) |
//!
//! ```ignore
//! use candle_numpy::python::{AutoTensor, NumpyCopy};
//! #[pyfunction]
//! fn forward(x: AutoTensor) -> PyResult<NumpyCopy> {
//!     let y = model().forward(&x.0).map_err(candle_numpy::Error::from)?;
//!     Ok(NumpyCopy(y))
//! }
//! ```
//!
//! DLPack (any framework's arrays, both ways) lives in [`dlpack`]:
//! [`dlpack::tensor_from_dlpack`] shares a producer's memory as a tensor and
//! [`dlpack::tensor_dlpack`] implements `__dlpack__`.
//!
//! Sharing NumPy memory needs the adopting allocator as the extension's global allocator
//! (`#[global_allocator] static A: AdoptingAllocator = AdoptingAllocator::system();`) and
//! [`install`] called once from the module initialiser; without the allocator `SharedTensor`
//! fails with a clear `ShareError` and `AutoTensor` copies.

pub mod array;
pub mod dlpack;
pub mod errors;
pub mod export;

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Device, Tensor};
use numpy::PyUntypedArray;
use pyo3::prelude::*;

use crate::adopt;
use crate::convert::{to_tensor, Options, Sharing};
use crate::error::Error;

pub use array::{array_ref_from_ndarray, np_dtype, PyOwner};
pub use errors::to_pyerr;
pub use export::{tensor_to_numpy, ExportedTensor};

static DRAIN_SCHEDULED: AtomicBool = AtomicBool::new(false);

extern "C" fn drain_pending(_: *mut std::os::raw::c_void) -> std::os::raw::c_int {
    DRAIN_SCHEDULED.store(false, Ordering::Release);
    // Runs on the main thread with the GIL held (a CPython pending call).
    Python::attach(|_| adopt::drain_released());
    0
}

/// Told by the adopting allocator that a Python owner was parked (possibly on a thread without
/// the GIL): schedule a drain on the main thread. Allocates nothing and runs no Python code.
fn schedule_drain() {
    if !DRAIN_SCHEDULED.swap(true, Ordering::AcqRel) {
        // SAFETY: Py_AddPendingCall may be called from any thread without the GIL; the callback
        // is a plain function that does not unwind.
        let queued = unsafe { pyo3::ffi::Py_AddPendingCall(Some(drain_pending), std::ptr::null_mut()) };
        if queued != 0 {
            // queue full: the next API entry or wrapper drop drains instead
            DRAIN_SCHEDULED.store(false, Ordering::Release);
        }
    }
}

/// Set up the release of Python owners; call once from the extension's module initialiser.
pub fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
    adopt::set_release_hook(schedule_drain);
    m.add_class::<ExportedTensor>()?;
    errors::register(m)
}

/// Release Python owners parked by the allocator. Call with the GIL held (every binding entry
/// point and tensor wrapper drop does); cheap when there is nothing to release.
pub fn release_parked(_py: Python<'_>) {
    adopt::drain_released();
}

/// Convert a NumPy array to a tensor in the given mode, releasing the GIL around the work.
/// Returns the tensor and whether it is a read-only share.
pub fn tensor_from_numpy(obj: &Bound<'_, PyAny>, mode: Sharing, opts: &Options) -> PyResult<(Tensor, bool)> {
    let py = obj.py();
    release_parked(py);
    let arr = obj.cast::<PyUntypedArray>().map_err(|_| {
        let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        pyo3::exceptions::PyTypeError::new_err(format!(
            "expected a numpy.ndarray, got {ty}; convert it with np.asarray(x) first"
        ))
    })?;
    let a = array_ref_from_ndarray(arr)?;
    let readonly = a.is_readonly();
    // Sharing is O(1): no point releasing the GIL. Copies release it.
    if mode != Sharing::Copy {
        match crate::share::share(&a, opts.dtype, &opts.device, opts.allow_readonly) {
            Ok(t) => return Ok((t, readonly)),
            Err(e) if mode == Sharing::Auto && e.is_share_refusal() => {}
            Err(e) => return Err(to_pyerr(py, e)),
        }
    }
    let t = py.detach(|| to_tensor(&a, Sharing::Copy, opts)).map_err(|e| to_pyerr(py, e))?;
    Ok((t, false))
}

macro_rules! extractor {
    ($(#[$doc:meta])* $name:ident, $mode:expr) => {
        $(#[$doc])*
        pub struct $name(pub Tensor);

        impl<'a, 'py> FromPyObject<'a, 'py> for $name {
            type Error = PyErr;
            fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
                let (t, _) = tensor_from_numpy(&obj.to_owned(), $mode, &Options::default())?;
                Ok($name(t))
            }
        }
    };
}

extractor!(
    /// A tensor sharing a NumPy argument's memory; conversion fails (`ShareError`) when it
    /// cannot share, including for read-only arrays.
    SharedTensor,
    Sharing::Share
);
extractor!(
    /// A tensor from a NumPy argument: shared when possible, else copied.
    AutoTensor,
    Sharing::Auto
);
extractor!(
    /// A tensor copied from a NumPy argument.
    CopiedTensor,
    Sharing::Copy
);

/// Return a tensor to Python as a NumPy array viewing its memory (CPU tensors only; a CUDA
/// tensor raises `DeviceError`: return [`NumpyCopy`] for those).
pub struct NumpyView(pub Tensor);

/// Return a tensor to Python as a NumPy array holding its own copy (from any device).
pub struct NumpyCopy(pub Tensor);

impl<'py> IntoPyObject<'py> for NumpyView {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if !self.0.device().is_cpu() {
            return Err(to_pyerr(
                py,
                Error::NotOnCpu {
                    operation: "NumpyView",
                    device: crate::device::device_name(self.0.device()),
                },
            ));
        }
        tensor_to_numpy(py, &self.0, false)
    }
}

impl<'py> IntoPyObject<'py> for NumpyCopy {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = self.0;
        let copy = py
            .detach(|| -> candle_core::Result<Tensor> {
                let cpu = if t.device().is_cpu() { t.copy()? } else { t.to_device(&Device::Cpu)? };
                cpu.contiguous()
            })
            .map_err(|e| to_pyerr(py, e.into()))?;
        tensor_to_numpy(py, &copy, false)
    }
}
