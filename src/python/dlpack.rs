//! DLPack capsules (the Python array-API protocol): `__dlpack__` exports, `from_dlpack`
//! imports.
//!
//! | direction | function | copies? |
//! | --- | --- | --- |
//! | tensor -> capsule | [`tensor_dlpack`] (`Tensor.__dlpack__`) | no, unless `copy=True` (then flagged `IS_COPIED`) |
//! | capsule -> [`ArrayRef`] | [`array_ref_from_capsule`] (consumes the capsule) | no |
//! | any `__dlpack__` producer -> tensor | [`tensor_from_dlpack`] (`cn.from_dlpack`) | no: shares, or a precise error |
//!
//! Capsules follow the DLPack Python specification: the capsule pointer is the managed tensor
//! itself, named `"dltensor_versioned"` (or `"dltensor"` for legacy consumers); a consumer
//! renames it `"used_dltensor_versioned"` / `"used_dltensor"` and takes over the deleter; the
//! capsule's destructor calls the deleter only while the capsule is unconsumed.
//!
//! Memory from a foreign producer is owned by a [`DLPackOwner`] whose deleter may run Python
//! code (NumPy's decrefs the array), so it is released with [`Release::Defer`]: with the GIL
//! held, as for NumPy arrays shared directly.

use std::ffi::{c_void, CStr};

use candle_core::Tensor;
use numpy::PyUntypedArray;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};

use crate::adopt::{self, Release};
use crate::array::ArrayRef;
use crate::convert::{to_tensor, Options, Sharing};
use crate::dlpack::{self, DLDevice, DLPackOwner, ExportOptions, Exported, Imported, DLPACK_VERSION};
use crate::error::Error;
use crate::python::{array_ref_from_ndarray, ffi_guard, python_alive, release_parked, to_pyerr};

const VERSIONED: &CStr = c"dltensor_versioned";
const USED_VERSIONED: &CStr = c"used_dltensor_versioned";
const LEGACY: &CStr = c"dltensor";
const USED_LEGACY: &CStr = c"used_dltensor";

fn refused(operation: &'static str, reason: impl Into<String>) -> Error {
    Error::DLPack { operation, reason: reason.into() }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

// ------------------------------------------------------------------------------------------
// Export: tensor -> capsule
// ------------------------------------------------------------------------------------------

/// `__dlpack_device__`: `(device_type, device_id)`, e.g. `(1, 0)` for the CPU (`kDLCPU`) and
/// `(2, N)` for `cuda:N` (`kDLCUDA`).
pub fn dlpack_device(t: &Tensor) -> (i32, i32) {
    let d = dlpack::device_of(t);
    (d.device_type, d.device_id)
}

/// Wrap an export in a capsule named `"dltensor_versioned"` or `"dltensor"` (by its kind),
/// whose destructor calls the deleter unless a consumer took the tensor.
pub fn capsule_from_export(py: Python<'_>, export: Exported) -> PyResult<Bound<'_, PyAny>> {
    let (name, destructor): (&CStr, ffi::PyCapsule_Destructor) = match export {
        Exported::Versioned(_) => (VERSIONED, destroy_versioned),
        Exported::Legacy(_) => (LEGACY, destroy_legacy),
    };
    // SAFETY: the pointer is a live managed tensor owned by `export`; the name is static, as
    // the capsule API requires; the destructor matches the name.
    let capsule = unsafe { ffi::PyCapsule_New(export.as_ptr(), name.as_ptr(), Some(destructor)) };
    if capsule.is_null() {
        // `export` still owns the tensor and frees it when dropped
        return Err(PyErr::fetch(py));
    }
    // the capsule owns it now
    let _ = export.into_raw();
    // SAFETY: a new (owned) reference returned by PyCapsule_New.
    Ok(unsafe { Bound::from_owned_ptr(py, capsule) })
}

/// The capsule destructors: CPython calls them with the GIL held when the capsule dies (also
/// during interpreter shutdown). They cannot unwind ([`ffi_guard`]).
unsafe extern "C" fn destroy_versioned(capsule: *mut ffi::PyObject) {
    ffi_guard(|| {
        // SAFETY: called by CPython on a live capsule of ours (name `VERSIONED` or
        // `USED_VERSIONED`).
        unsafe {
            destroy(capsule, VERSIONED, USED_VERSIONED, |p| {
                let m = p.cast::<dlpack::DLManagedTensorVersioned>();
                if let Some(deleter) = (*m).deleter {
                    deleter(m);
                }
            })
        }
    })
}

unsafe extern "C" fn destroy_legacy(capsule: *mut ffi::PyObject) {
    ffi_guard(|| {
        // SAFETY: called by CPython on a live capsule of ours (name `LEGACY` or `USED_LEGACY`).
        unsafe {
            destroy(capsule, LEGACY, USED_LEGACY, |p| {
                let m = p.cast::<dlpack::DLManagedTensor>();
                if let Some(deleter) = (*m).deleter {
                    deleter(m);
                }
            })
        }
    })
}

/// The capsule destructor of the DLPack Python specification: the deleter runs only if no
/// consumer renamed the capsule; an exception in flight is preserved.
///
/// # Safety
/// `capsule` must be a live capsule (GIL held) whose pointer, under `name`, is a managed tensor
/// that `delete` frees.
#[allow(deprecated)] // PyErr_Fetch / PyErr_Restore: the abi3-py39 spelling
unsafe fn destroy(capsule: *mut ffi::PyObject, name: &CStr, used: &CStr, delete: unsafe fn(*mut c_void)) {
    // SAFETY: the caller's contract: a live capsule, GIL held.
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, used.as_ptr()) == 1 {
            return; // consumed: the consumer calls the deleter
        }
        let (mut ty, mut value, mut tb) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
        ffi::PyErr_Fetch(&mut ty, &mut value, &mut tb);
        let managed = ffi::PyCapsule_GetPointer(capsule, name.as_ptr());
        if managed.is_null() {
            ffi::PyErr_WriteUnraisable(capsule);
        } else {
            delete(managed);
            // the tensor clone may have held the last use of a shared NumPy array: release it
            // now that we hold the GIL (unless the interpreter is shutting down)
            if python_alive() {
                adopt::drain_released();
            }
        }
        ffi::PyErr_Restore(ty, value, tb);
    }
}

/// A `(device_type, device_id)` pair as a device (numbers outside `int32` name no device).
fn device(pair: (i64, i64)) -> DLDevice {
    let narrow = |v: i64| i32::try_from(v).unwrap_or(i32::MIN);
    DLDevice { device_type: narrow(pair.0), device_id: narrow(pair.1) }
}

/// Parse a `(major, minor)` or `(device_type, device_id)` pair.
fn pair(arg: &Bound<'_, PyAny>, what: &str) -> PyResult<(i64, i64)> {
    arg.extract::<(i64, i64)>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a tuple of two ints, got {}",
            arg.repr().map_or_else(|_| "?".into(), |r| r.to_string())
        ))
    })
}

/// `Tensor.__dlpack__(*, stream=None, max_version=None, dl_device=None, copy=None)` for a
/// tensor whose read-only state is `readonly`.
///
/// A versioned capsule when `max_version >= (1, 0)`, else a legacy one (which cannot carry the
/// read-only flag, so read-only tensors need a versioned capsule or a copy). `copy=True` exports
/// a fresh copy flagged `IS_COPIED`; `copy=False` and `None` never copy (none is needed on the
/// CPU). `stream` must be `None` (CPU memory has no streams) and `dl_device`, when given, the
/// CPU `(1, 0)`; anything else is a `DLPackError` (a `BufferError`). CUDA tensors are refused
/// with a `DeviceError`, unless `dl_device=(1, 0)` asks for a host copy (not with `copy=False`).
pub fn tensor_dlpack<'py>(
    py: Python<'py>,
    t: &Tensor,
    readonly: bool,
    stream: Option<&Bound<'py, PyAny>>,
    max_version: Option<&Bound<'py, PyAny>>,
    dl_device: Option<&Bound<'py, PyAny>>,
    copy: Option<bool>,
) -> PyResult<Bound<'py, PyAny>> {
    release_parked(py);
    let max_version = match max_version.filter(|v| !v.is_none()) {
        None => None,
        Some(v) => {
            let (major, minor) = pair(v, "max_version")?;
            Some((major.clamp(0, u32::MAX as i64) as u32, minor.clamp(0, u32::MAX as i64) as u32))
        }
    };
    let target = match dl_device.filter(|d| !d.is_none()) {
        None => None,
        Some(d) => {
            let (device_type, device_id) = pair(d, "dl_device")?;
            let requested = device((device_type, device_id));
            if requested != DLDevice::CPU && requested != dlpack::device_of(t) {
                return Err(to_pyerr(
                    py,
                    refused(
                        "DLPack export",
                        format!(
                            "Unsupported device_type: {device_type} (dl_device={requested} \
                             ({device_type}, {device_id}) was requested, but candle_numpy exports \
                             to the CPU (1, 0) or to the tensor's own device only; import on the \
                             CPU and move the result, or pass dl_device=None)"
                        ),
                    ),
                ));
            }
            Some(requested)
        }
    };
    let source = dlpack::device_of(t);
    let stream = stream.filter(|s| !s.is_none());
    if let Some(s) = stream {
        // the type first, whatever the device (as torch checks it)
        if s.extract::<i64>().is_err() {
            return Err(PyTypeError::new_err(format!(
                "stream must be an int (a CUDA stream handle, 1, 2 or -1) or None, got {}",
                type_name(s)
            )));
        }
        if source == DLDevice::CPU || target == Some(DLDevice::CPU) {
            return Err(to_pyerr(
                py,
                refused(
                    "DLPack export",
                    format!(
                        "stream={} was passed for a CPU tensor; CPU memory has no streams, pass \
                         stream=None",
                        s.repr().map_or_else(|_| "?".into(), |r| r.to_string())
                    ),
                ),
            ));
        }
    }
    // a device tensor asked for on the CPU: a host copy, unless copy=False forbids it
    let host_copy = source != DLDevice::CPU && target == Some(DLDevice::CPU);
    if host_copy && copy == Some(false) {
        return Err(to_pyerr(
            py,
            refused(
                "DLPack export",
                format!(
                    "the tensor lives on {source} and dl_device=(1, 0) needs a copy to host memory, \
                     but copy=False forbids one; pass copy=None or copy=True"
                ),
            ),
        ));
    }
    let t = if host_copy {
        let t = t.clone();
        crate::python::detach(py, move || t.to_device(&candle_core::Device::Cpu))
            .map_err(|e| to_pyerr(py, e.into()))?
    } else {
        t.clone()
    };
    let opts = ExportOptions {
        version: ExportOptions::negotiate(max_version),
        // a host copy is fresh memory: writable, whatever the source was
        read_only: readonly && !host_copy,
        copy: copy == Some(true) && !host_copy,
    };
    let mut export = crate::python::detach(py, || dlpack::export(&t, &opts)).map_err(|e| to_pyerr(py, e))?;
    if !t.device().is_cpu() {
        let stream = match stream {
            None => None,
            Some(s) => Some(s.extract::<i64>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "stream must be an int (a CUDA stream handle, 1, 2 or -1) or None, got {}",
                    type_name(s)
                ))
            })?),
        };
        sync_for_consumer(py, &t, stream)?;
    }
    if host_copy {
        // the transfer already made a fresh host copy: say so
        if let Exported::Versioned(p) = &mut export {
            // SAFETY: a live export we own, not yet handed to anyone.
            unsafe { p.as_mut().flags |= dlpack::IS_COPIED };
        }
    }
    capsule_from_export(py, export)
}

/// Make the consumer's CUDA stream wait for candle's pending work on `t` (see
/// `dlpack::cuda`); without CUDA no device tensor exists, so there is nothing to do.
#[cfg(feature = "cuda")]
fn sync_for_consumer(py: Python<'_>, t: &Tensor, stream: Option<i64>) -> PyResult<()> {
    dlpack::cuda::sync_for_consumer(t, stream).map_err(|e| to_pyerr(py, e))
}

#[cfg(not(feature = "cuda"))]
fn sync_for_consumer(_py: Python<'_>, _t: &Tensor, _stream: Option<i64>) -> PyResult<()> {
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Import: capsule -> ArrayRef -> tensor
// ------------------------------------------------------------------------------------------

/// Consume a DLPack capsule (rename it `"used_dltensor_versioned"` / `"used_dltensor"`) and
/// describe its memory as an [`ArrayRef`] (no copy).
///
/// The deleter runs exactly once: when the returned array and every tensor sharing it are gone
/// (with the GIL, through [`Release::Defer`], for foreign producers), or right away on error.
/// A capsule that was already consumed, or that is not a DLPack capsule, raises `DLPackError`.
pub fn array_ref_from_capsule(capsule: &Bound<'_, PyAny>) -> PyResult<ArrayRef> {
    match consume_capsule(capsule, false)? {
        Imported::Host(a) => Ok(a),
        // (not reached: without allow_device the import refuses device memory itself)
        Imported::Device(t) => Err(to_pyerr(capsule.py(), refused_device(dlpack::device_of(&t)))),
    }
}

/// Consume a DLPack capsule: host memory is described (no copy); with `allow_device`, CUDA
/// memory is copied device-to-device into a new tensor (see [`Imported`]).
fn consume_capsule(capsule: &Bound<'_, PyAny>, allow_device: bool) -> PyResult<Imported> {
    let py = capsule.py();
    let raw = capsule.as_ptr();
    if !capsule.is_instance_of::<PyCapsule>() {
        return Err(PyTypeError::new_err(format!(
            "expected a DLPack capsule (from x.__dlpack__()), got {}",
            type_name(capsule)
        )));
    }
    // SAFETY: a live capsule (checked above), GIL held.
    let name_ptr = unsafe { ffi::PyCapsule_GetName(raw) };
    if name_ptr.is_null() {
        if let Some(e) = PyErr::take(py) {
            return Err(e);
        }
    }
    let name = if name_ptr.is_null() {
        None
    } else {
        // SAFETY: capsule names are NUL-terminated strings the capsule keeps alive.
        Some(unsafe { CStr::from_ptr(name_ptr) })
    };
    let (versioned, name, used) = match name {
        Some(n) if n == VERSIONED => (true, VERSIONED, USED_VERSIONED),
        Some(n) if n == LEGACY => (false, LEGACY, USED_LEGACY),
        Some(n) if n == USED_VERSIONED || n == USED_LEGACY => {
            return Err(to_pyerr(
                py,
                refused(
                    "DLPack import",
                    format!(
                        "the capsule was already consumed (its name is {:?}): a DLPack capsule can \
                         be imported once; call x.__dlpack__() again for a new one",
                        n.to_string_lossy()
                    ),
                ),
            ));
        }
        other => {
            return Err(to_pyerr(
                py,
                refused(
                    "DLPack import",
                    format!(
                        "a capsule named {:?} is not a DLPack capsule (expected \"dltensor_versioned\" \
                         or \"dltensor\")",
                        other.map(|n| n.to_string_lossy().into_owned())
                    ),
                ),
            ));
        }
    };
    // SAFETY: a live capsule with this name.
    let managed = unsafe { ffi::PyCapsule_GetPointer(raw, name.as_ptr()) };
    if managed.is_null() {
        return Err(PyErr::fetch(py));
    }
    // Consume it: from here on the deleter is ours to call (the capsule destructor skips it).
    // SAFETY: a live capsule; the new name is static.
    if unsafe { ffi::PyCapsule_SetName(raw, used.as_ptr()) } != 0 {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: the managed tensor came from an unconsumed capsule of the right name, which we
    // just marked consumed, so it is handed over exactly once; the producer keeps its memory
    // valid until the deleter runs (DLPack's promise).
    let imported = unsafe {
        if versioned {
            dlpack::import_versioned_any(managed.cast(), allow_device)
        } else {
            dlpack::import_legacy_any(managed.cast(), allow_device)
        }
    };
    let a = match imported.map_err(|e| to_pyerr(py, e))? {
        Imported::Host(a) => a,
        device @ Imported::Device(_) => return Ok(device),
    };
    Ok(Imported::Host(if a.owner().is::<DLPackOwner>() {
        // a foreign deleter may run Python code: release it with the GIL held
        let identity = a.owner_identity();
        a.with_owner_identity(identity, Release::Defer)
    } else {
        a
    }))
}

/// When `obj` is an ndarray whose capsule described exactly its own memory (NumPy shared, did
/// not copy), describe it the way `cn.from_numpy` does instead: owned by the array's root
/// owner, over the root's whole buffer. Sharing then reference-counts the same adoption as
/// `cn.from_numpy` of the same memory, views whose last row stops short of the buffer end can
/// be shared, and NumPy views of our own tensors map back to those tensors.
fn prefer_ndarray_root(obj: &Bound<'_, PyAny>, a: ArrayRef) -> ArrayRef {
    let Ok(arr) = obj.cast::<PyUntypedArray>() else { return a };
    if !a.owner().is::<DLPackOwner>() {
        return a;
    }
    let Ok(b) = array_ref_from_ndarray(arr) else { return a };
    let same_strides =
        a.shape().iter().zip(a.strides().iter().zip(b.strides())).all(|(&n, (&sa, &sb))| n <= 1 || sa == sb);
    if b.data_ptr() != a.data_ptr() || b.dtype() != a.dtype() || b.shape() != a.shape() || !same_strides {
        return a;
    }
    if a.is_readonly() {
        b.into_readonly()
    } else {
        b
    }
}

/// `from_dlpack(obj)`: share the memory of any DLPack producer (an object with `__dlpack__`,
/// or a capsule) as a tensor, without copying. Returns the tensor and whether it is read-only
/// (the producer flagged the memory read-only).
///
/// Calls `obj.__dlpack__(max_version=(1, 1))`, falling back to `obj.__dlpack__()` for
/// producers that predate `max_version` (they raise `TypeError`). A producer whose
/// `__dlpack_device__` is not host memory is refused before it exports anything. Sharing
/// follows `cn.from_numpy`: a precise error instead of a copy when the memory cannot be shared
/// (dtypes that need widening, negative strides, ...); empty tensors, which have no memory to
/// share, come out as new empty tensors. Round trips of our own tensors share: directly, or
/// through NumPy (`np.from_dlpack(t)`, whose base capsule is seen through). One exception
/// copies: memory some tensor already shares on behalf of another owner, handed back by a
/// producer that hides which (`torch.from_dlpack(t)` of our tensor over a NumPy array).
///
/// # Safety
/// When the returned flag is `true` the tensor shares memory the producer marked read-only:
/// the caller must never write it (nor any tensor sharing its storage), including through
/// candle's own unchecked writers (`slice_set`, `inplace_op*`, `Var::set`). The Python package
/// marks such tensors read-only and checks that mark on every write path.
pub unsafe fn tensor_from_dlpack(obj: &Bound<'_, PyAny>) -> PyResult<(Tensor, bool)> {
    let py = obj.py();
    release_parked(py);
    let capsule = if obj.is_instance_of::<PyCapsule>() {
        obj.clone()
    } else {
        if !obj.hasattr("__dlpack__")? {
            return Err(PyTypeError::new_err(format!(
                "from_dlpack expects an object with __dlpack__ (a NumPy, PyTorch, JAX or CuPy \
                 array, a candle_numpy.Tensor, ...) or a DLPack capsule, got {}",
                type_name(obj)
            )));
        }
        let mut stream = None;
        if let Ok(method) = obj.getattr("__dlpack_device__") {
            let location = device(pair(&method.call0()?, "__dlpack_device__()")?);
            if !location.is_host_accessible() {
                stream = Some(cuda_consumer_stream(py, location)?);
            }
        }
        let kwargs = PyDict::new(py);
        if let Some(stream) = stream {
            // the producer orders its pending writes before candle's stream (DLPack spec)
            kwargs.set_item("stream", stream)?;
        }
        kwargs.set_item("max_version", (DLPACK_VERSION.major, DLPACK_VERSION.minor))?;
        match obj.call_method("__dlpack__", (), Some(&kwargs)) {
            Ok(c) => c,
            Err(e) if e.is_instance_of::<PyTypeError>(py) => {
                // a producer that predates max_version
                let _ = kwargs.del_item("max_version");
                obj.call_method("__dlpack__", (), Some(&kwargs))?
            }
            Err(e) => return Err(e),
        }
    };
    let a = match consume_capsule(&capsule, cfg!(feature = "cuda"))? {
        Imported::Host(a) => prefer_ndarray_root(obj, a),
        // device memory: a device-to-device copy (or our own export), never shared
        Imported::Device(t) => return Ok((t, false)),
    };
    let readonly = a.is_readonly();
    let mode = if a.is_empty() { Sharing::Copy } else { Sharing::Share };
    // SAFETY: (allow_readonly) this function's own contract: a tensor returned with the
    // read-only flag set is never written by the caller (see # Safety above).
    let opts = unsafe { Options::default().allow_readonly(true) };
    let shared = crate::python::detach(py, || match to_tensor(&a, mode, &opts) {
        // The memory is already shared by a tensor on behalf of another owner, and the
        // producer hides which (torch.from_dlpack(t) of our tensor handed back through torch):
        // one block cannot have two owners, so this import copies.
        Err(Error::Adoption(adopt::AdoptError::KeyOwnedElsewhere { .. })) => {
            to_tensor(&a, Sharing::Copy, &opts).map(|t| (t, false))
        }
        other => other.map(|t| (t, mode == Sharing::Share)),
    });
    let (t, is_shared) = shared.map_err(|e| to_pyerr(py, e))?;
    // `a` (and with it, possibly, the producer's deleter) is dropped here, with the GIL held
    drop(a);
    Ok((t, readonly && is_shared))
}

/// The `stream` to pass to a producer whose memory is on `location`: candle's stream on that
/// CUDA device (opening it), or the refusal when the memory is elsewhere or CUDA is missing.
fn cuda_consumer_stream(py: Python<'_>, location: DLDevice) -> PyResult<i64> {
    #[cfg(feature = "cuda")]
    if location.device_type == dlpack::device_type::CUDA {
        let open = || -> crate::Result<i64> {
            let device = crate::device::parse(&format!("cuda:{}", location.device_id))?;
            dlpack::cuda::consumer_stream(&device)
        };
        return open().map_err(|e| to_pyerr(py, e));
    }
    Err(to_pyerr(py, refused_device(location)))
}

fn refused_device(device: DLDevice) -> Error {
    refused(
        "DLPack import",
        format!(
            "the object lives on {device} (__dlpack_device__() = ({}, {})), but only host (CPU) \
             memory{} can be imported; copy it to the CPU first (PyTorch: x.cpu(), CuPy: x.get(), \
             JAX: jax.device_get(x)) and import that",
            device.device_type,
            device.device_id,
            if cfg!(feature = "cuda") { " and CUDA memory" } else { " (this build has no CUDA)" }
        ),
    )
}
