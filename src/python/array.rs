//! NumPy arrays in: an [`ArrayRef`] over an ndarray's memory whose owner is the array's *root*
//! memory owner (found by walking `ndarray.base` and `memoryview.obj`).
//!
//! The root matters for sharing: the adopting allocator keys a block by its exact address and
//! length, and two views of one allocation must present the same key and owner identity.
//! When the root is one of our own exports, the array is mapped back to a view of that
//! tensor instead of being adopted (adopting it would hand one block to two owners).

use numpy::npyffi::{self, NPY_ARRAY_WRITEABLE};
use numpy::{PyArrayDescr, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyMemoryView};

use crate::adopt::Release;
use crate::array::{byte_extent, ArrayRef, Buffer, Owner};
use crate::dtype::{ByteOrder, NpDType, SUPPORTED};
use crate::error::Error;
use crate::python::export::ExportedTensor;

/// A Python object kept alive as the owner of shared memory. Dropped (decref'd) only where
/// the GIL can be taken safely: the adopting allocator parks it ([`Release::Defer`]) and the
/// bindings drain parked owners with the GIL held.
///
/// For memory exported through the buffer protocol (bytearray, mmap, bytes, a foreign
/// exporter) the object held is a `memoryview` of the root exporter: it holds the exporter's
/// buffer export (a `Py_buffer`) until it is released, so the exporter refuses to resize or
/// close that memory (`BufferError`) while any tensor shares it, as with `torch.from_numpy`.
pub struct PyOwner(pub Py<PyAny>);

/// The NumPy dtype of an array, with its byte order, or the error naming it.
pub fn np_dtype(descr: &Bound<'_, PyArrayDescr>) -> PyResult<(NpDType, ByteOrder)> {
    // Fast path from the descr's C fields: the standard numeric kinds (no Python calls).
    if !descr.has_fields() && !descr.has_subarray() {
        let kind = descr.kind();
        let dtype = match (kind, descr.itemsize()) {
            (b'b', 1) => Some(NpDType::Bool),
            (b'i', 1) => Some(NpDType::Int8),
            (b'i', 2) => Some(NpDType::Int16),
            (b'i', 4) => Some(NpDType::Int32),
            (b'i', 8) => Some(NpDType::Int64),
            (b'u', 1) => Some(NpDType::UInt8),
            (b'u', 2) => Some(NpDType::UInt16),
            (b'u', 4) => Some(NpDType::UInt32),
            (b'u', 8) => Some(NpDType::UInt64),
            // kind 'f' with these sizes is IEEE only for NumPy's own types (ml_dtypes'
            // float8_e5m2 is kind 'f' too, size 1, and never matches here)
            (b'f', 2) | (b'f', 4) | (b'f', 8) if is_numpy_builtin(descr) => Some(match descr.itemsize() {
                2 => NpDType::Float16,
                4 => NpDType::Float32,
                _ => NpDType::Float64,
            }),
            _ => None,
        };
        if let Some(d) = dtype {
            let order = match descr.byteorder() {
                b'<' => ByteOrder::Little,
                b'>' => ByteOrder::Big,
                _ => ByteOrder::NATIVE,
            };
            return Ok((d, if d.itemsize() > 1 { order } else { ByteOrder::NATIVE }));
        }
    }
    np_dtype_slow(descr)
}

/// Whether the descr is one of NumPy's built-in types (type numbers below NPY_USERDEF).
fn is_numpy_builtin(descr: &Bound<'_, PyArrayDescr>) -> bool {
    descr.num() < 256
}

fn np_dtype_slow(descr: &Bound<'_, PyArrayDescr>) -> PyResult<(NpDType, ByteOrder)> {
    let name: String = descr.str()?.extract()?;
    let unsupported = |reason: &'static str| -> PyErr {
        Error::UnsupportedDType { dtype: name.clone(), reason, supported: SUPPORTED }.into()
    };
    if descr.has_fields() {
        return Err(unsupported(
            "structured arrays hold records, not one numeric type; take the fields one by one \
             (arr['x']) or use cn.from_structured(arr)",
        ));
    }
    if descr.has_subarray() {
        return Err(unsupported("sub-array dtypes are not supported; view the array with its base dtype"));
    }
    if descr.kind() == b'V' {
        // ml_dtypes types: identified by their type object, never by (kind, itemsize)
        let py = descr.py();
        if let Ok(ml) = py.import("sys")?.getattr("modules")?.get_item("ml_dtypes") {
            let ty = descr.typeobj();
            for (attr, d) in [("bfloat16", NpDType::BFloat16), ("float8_e4m3fn", NpDType::Float8E4M3FN)] {
                if let Ok(t) = ml.getattr(attr) {
                    if ty.is(&t) {
                        return Ok((d, ByteOrder::NATIVE));
                    }
                }
            }
        }
        return Err(unsupported(
            "this extension type has no candle dtype (bfloat16 and float8_e4m3fn from ml_dtypes do)",
        ));
    }
    let typestr: String = descr.getattr("str")?.extract()?;
    match NpDType::from_typestr(&typestr) {
        Ok(found) => Ok(found),
        Err(Error::UnsupportedDType { reason, supported, .. }) => {
            Err(Error::UnsupportedDType { dtype: name, reason, supported }.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Describe an ndarray's memory as an [`ArrayRef`] (no copy), owned by its root owner.
pub fn array_ref_from_ndarray(arr: &Bound<'_, PyUntypedArray>) -> PyResult<ArrayRef> {
    let (dtype, byte_order) = np_dtype(&arr.dtype())?;
    let raw = arr.as_array_ptr();
    // SAFETY: `raw` is a live ndarray (we hold a reference); reading its fields is what the
    // NumPy C API does.
    let (data, flags) = unsafe { ((*raw).fields.data as *const u8, (*raw).fields.flags) };
    let readonly = flags & NPY_ARRAY_WRITEABLE == 0;
    let shape = arr.shape().to_vec();
    let strides = arr.strides().to_vec();
    let own = extent_of(data, &shape, &strides, dtype.itemsize());
    let root = root_owner(arr)?;
    let py = arr.py();
    // A read-only view of writable memory normally makes that memory read-only storage (so
    // rows and views of it stay read-only, and other tensors over the same memory with it,
    // until the last one is dropped). A broadcast view (`np.broadcast_to` of a writable
    // array, often a short-lived operand) is read-only for its aliasing only: its memory is
    // left writable, and the tensor is read-only by its layout.
    let broadcast = shape.iter().zip(&strides).any(|(&n, &s)| n > 1 && s == 0);
    let mut root_writable = false;
    let (buffer, owner, identity): (Buffer, Owner, usize) = match &root {
        Root::Export(tensor) => {
            // our own export: its ArrayRef knows the tensor's storage and owner
            let base = ArrayRef::from_tensor(tensor)?;
            (base.buffer(), base.owner().clone(), base.owner_identity())
        }
        Root::Array { object, data, nbytes } => {
            root_writable = is_writeable(object.bind(py));
            let whole = Buffer { ptr: *data, len: *nbytes };
            let buffer = if contains(whole, own) { whole } else { own };
            (buffer, std::sync::Arc::new(PyOwner(object.clone_ref(py))) as Owner, object.as_ptr() as usize)
        }
        Root::Other { object } => {
            let pin = buffer_pin(arr, object.bind(py));
            // a writable export (bytearray, writable mmap) seen through a read-only view
            root_writable =
                matches!(pin.bind(py).getattr("readonly").and_then(|r| r.extract::<bool>()), Ok(false));
            (own, std::sync::Arc::new(PyOwner(pin)) as Owner, object.as_ptr() as usize)
        }
    };
    // SAFETY: the memory belongs to a live NumPy array whose root owner `owner` keeps it alive;
    // the description (pointer, shape, strides) is NumPy's own, and the bounds are re-checked
    // against `buffer`. Writes follow the torch.from_numpy contract (see crate::adopt).
    let a = unsafe {
        ArrayRef::from_raw_parts(data, dtype, byte_order, shape, strides, readonly, buffer, owner)?
    };
    let a = if readonly && root_writable && broadcast { a.with_writable_memory() } else { a };
    Ok(match root {
        Root::Export(_) => a,
        _ => a.with_owner_identity(identity, Release::Defer),
    })
}

/// Whether an ndarray (a root that owns its memory) is flagged writeable.
fn is_writeable(object: &Bound<'_, PyAny>) -> bool {
    match object.cast::<PyUntypedArray>() {
        // SAFETY: a live ndarray (we hold a reference); reading its flags field is what the
        // NumPy C API does.
        Ok(a) => unsafe { (*a.as_array_ptr()).fields.flags & NPY_ARRAY_WRITEABLE != 0 },
        Err(_) => false,
    }
}

/// What keeps a non-array root's memory in place: a fresh `memoryview` of the root, which
/// holds a buffer export on it for as long as the view lives (a bytearray then cannot grow, an
/// mmap cannot close). A root without the buffer protocol (an `__array_interface__` object)
/// has no export to hold: the array itself is kept, as NumPy's own views do.
fn buffer_pin(arr: &Bound<'_, PyUntypedArray>, root: &Bound<'_, PyAny>) -> Py<PyAny> {
    match PyMemoryView::from(root) {
        Ok(view) => view.into_any().unbind(),
        Err(_) => arr.clone().into_any().unbind(),
    }
}

/// The bytes an array touches, as a buffer (for roots that are not arrays).
fn extent_of(data: *const u8, shape: &[usize], strides: &[isize], itemsize: usize) -> Buffer {
    match byte_extent(shape, strides, itemsize) {
        Some((lo, hi)) => Buffer { ptr: data.wrapping_offset(lo), len: (hi - lo) as usize },
        None => Buffer { ptr: data, len: 0 },
    }
}

fn contains(outer: Buffer, inner: Buffer) -> bool {
    let (o, i) = (outer.ptr as usize, inner.ptr as usize);
    i >= o && i + inner.len <= o + outer.len
}

enum Root {
    /// An ndarray that owns its memory (or whose base is not an object we can see through).
    Array { object: Py<PyAny>, data: *const u8, nbytes: usize },
    /// One of our exports (`t.numpy()`, or `np.from_dlpack(t)` through NumPy's capsule): map
    /// back to the tensor.
    Export(candle_core::Tensor),
    /// Some other buffer owner (bytes, mmap, a foreign exporter).
    Other { object: Py<PyAny> },
}

/// Walk `.base` (ndarrays) and `.obj` (memoryviews) to the object that owns the memory.
fn root_owner(arr: &Bound<'_, PyUntypedArray>) -> PyResult<Root> {
    let py = arr.py();
    let mut cur: Bound<'_, PyAny> = arr.clone().into_any();
    for _ in 0..10_000 {
        if let Ok(a) = cur.cast::<PyUntypedArray>() {
            let raw = a.as_array_ptr();
            // SAFETY: a live ndarray; `base` is a borrowed reference (or null).
            let base = unsafe { (*raw).fields.base };
            if base.is_null() {
                // SAFETY: as above.
                let data = unsafe { (*raw).fields.data as *const u8 };
                let nbytes = a.len() * a.dtype().itemsize();
                return Ok(Root::Array { object: cur.unbind(), data, nbytes });
            }
            // SAFETY: `base` is a valid object owned by `a`, which we hold.
            cur = unsafe { Bound::from_borrowed_ptr(py, base) };
            continue;
        }
        if let Ok(e) = cur.cast::<ExportedTensor>() {
            return Ok(Root::Export(e.borrow().tensor.clone()));
        }
        if let Some(t) = exported_tensor_in_numpy_capsule(&cur) {
            return Ok(Root::Export(t));
        }
        if let Ok(mv) = cur.cast::<PyMemoryView>() {
            match mv.getattr("obj") {
                Ok(obj) if !obj.is_none() => {
                    cur = obj;
                    continue;
                }
                _ => return Ok(Root::Other { object: cur.unbind() }),
            }
        }
        return Ok(Root::Other { object: cur.unbind() });
    }
    Err(Error::ShapeMismatch {
        operation: "finding the owner of an array",
        detail: "the .base chain does not end".into(),
    }
    .into())
}

/// The tensor of one of our DLPack exports that NumPy wrapped in its own capsule (the base of
/// an array made by `np.from_dlpack`), if `obj` is such a capsule.
fn exported_tensor_in_numpy_capsule(obj: &Bound<'_, PyAny>) -> Option<candle_core::Tensor> {
    let capsule = obj.cast::<PyCapsule>().ok()?;
    for (name, versioned) in [(c"numpy_dltensor_versioned", true), (c"numpy_dltensor", false)] {
        // SAFETY: a live capsule (we hold a reference) and a NUL-terminated name.
        if unsafe { ffi::PyCapsule_IsValid(capsule.as_ptr(), name.as_ptr()) } == 1 {
            // SAFETY: valid under this name (checked above); NumPy's capsule holds the managed
            // tensor it consumed, alive as long as the capsule (which we hold).
            let managed = unsafe { ffi::PyCapsule_GetPointer(capsule.as_ptr(), name.as_ptr()) };
            // SAFETY: NumPy names its capsule by the managed tensor's kind, as checked here.
            return unsafe { crate::dlpack::exported_tensor(managed, versioned) };
        }
    }
    None
}

/// The NumPy C-API flag value, re-exported for bindings that build arrays.
pub const WRITEABLE: i32 = npyffi::NPY_ARRAY_WRITEABLE;
