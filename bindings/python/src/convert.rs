//! Constructors (`from_numpy`, `tensor`, `as_tensor`, `to_tensor`) and input normalisation:
//! ndarrays, NumPy scalars, Python scalars and nested lists, pandas DataFrames and Series
//! (through `candle_numpy/_pandas.py`, registered by the package), objects with `__array__`, `__array_interface__` or the
//! buffer protocol, and our own tensors.

use candle_core::{DType, Device, Tensor};
use candle_numpy::python::detach;
use candle_numpy::python::{release_parked, tensor_from_numpy};
use candle_numpy::{Error, Options, ReadOnlyOptIn, Sharing};
use numpy::PyUntypedArray;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyTuple};

use crate::tensor::PyTensor;

/// Parse a `device=` argument ("cpu", "cuda", "cuda:1"; None is the CPU).
pub fn parse_device(device: Option<&Bound<'_, PyAny>>) -> PyResult<Device> {
    match device {
        None => Ok(Device::Cpu),
        Some(d) if d.is_none() => Ok(Device::Cpu),
        Some(d) => {
            let s = d.str()?.to_string();
            Ok(candle_numpy::device::parse(&s)?)
        }
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

fn parse_mode(mode: &str) -> PyResult<Sharing> {
    match mode {
        "share" => Ok(Sharing::Share),
        "copy" => Ok(Sharing::Copy),
        "auto" => Ok(Sharing::Auto),
        other => {
            Err(PyValueError::new_err(format!("mode must be \"share\", \"copy\" or \"auto\", got {other:?}")))
        }
    }
}

/// The one conversion every constructor uses.
pub fn convert(
    data: &Bound<'_, PyAny>,
    mode: Sharing,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    let py = data.py();
    release_parked(py);
    let dtype = match dtype {
        Some(d) if !d.is_none() => Some(crate::dtype::parse(d)?),
        _ => None,
    };
    let device = parse_device(device)?;
    // SAFETY: (allow_readonly) a read-only array is shared only into a PyTensor marked read-only
    // (`PyTensor::new(t, readonly)` below), and every Python write path checks that mark
    // (`PyTensor::read_only`: in-place ops, `__setitem__`, `copy_`, exports as writable NumPy or
    // DLPack); optimizers only step variables, which `requires_grad` makes as fresh copies.
    // tests/test_readonly_writes.py tries each path.
    let opts = Options { dtype, device: device.clone(), allow_readonly: unsafe { ReadOnlyOptIn::granted() } };

    // our own tensors
    if let Ok(t) = data.cast::<PyTensor>() {
        let t = t.borrow();
        return match mode {
            Sharing::Share if dtype.is_some_and(|d| d != t.inner.dtype()) => Err(Error::ShareCast {
                from: candle_numpy::dtype::candle_numpy_name(t.inner.dtype()),
                to: dtype.map(|d| d.as_str()).unwrap_or(""),
            }
            .into()),
            Sharing::Share | Sharing::Auto => {
                let moved = retarget(py, &t.inner, dtype, &device, false)?;
                let same = moved.same_storage_as(&t.inner);
                Ok(PyTensor::new(moved, t.readonly && same))
            }
            Sharing::Copy => Ok(PyTensor::new(retarget(py, &t.inner, dtype, &device, true)?, false)),
        };
    }

    if data.cast::<PyUntypedArray>().is_ok() {
        let (t, readonly) = tensor_from_numpy(data, mode, &opts)?;
        return Ok(PyTensor::new(t, readonly));
    }

    // pandas DataFrame / Series: their NumPy values (a view of a one-block frame), or an error
    // naming the columns that have no common numeric dtype
    if is_pandas(data) {
        let Some(values_of) = PANDAS_VALUES.get(py) else {
            return Err(PyTypeError::new_err(
                "a pandas object needs the candle_numpy package's converter: import candle_numpy \
                 (not only candle_numpy._native), or pass frame.to_numpy()",
            ));
        };
        let values = values_of.bind(py).call1((data, mode == Sharing::Share))?;
        let (t, readonly) = tensor_from_numpy(&values, mode, &opts)?;
        return Ok(PyTensor::new(t, readonly));
    }

    let np = py.import("numpy")?;
    // NumPy scalars become 0-d arrays; they own no shareable memory
    if data.is_instance(&np.getattr("generic")?)? {
        if mode == Sharing::Share {
            return Err(PyTypeError::new_err(format!(
                "from_numpy expects a numpy.ndarray, got the scalar {}; use cn.tensor(x) to copy it",
                type_name(data)
            )));
        }
        let arr = np.call_method1("asarray", (data,))?;
        let (t, _) = tensor_from_numpy(&arr, Sharing::Copy, &opts)?;
        return Ok(PyTensor::new(t, false));
    }

    // Python scalars and nested sequences: one pass, one allocation
    if data.is_instance_of::<PyBool>()
        || data.is_instance_of::<PyInt>()
        || data.is_instance_of::<PyFloat>()
        || data.is_instance_of::<PyList>()
        || data.is_instance_of::<PyTuple>()
    {
        if mode == Sharing::Share {
            return Err(PyTypeError::new_err(format!(
                "from_numpy expects a numpy.ndarray, got a {}: Python objects hold no shareable \
                 array memory; use cn.tensor(x) to copy",
                type_name(data)
            )));
        }
        if let Some(t) = from_python_values(data, dtype, &device)? {
            return Ok(PyTensor::new(t, false));
        }
        // a list/tuple holding arrays or tensors: NumPy stacks them (keeping their dtype, as
        // torch.tensor does), then the copy path converts the stack
        let arr = np.call_method1("asarray", (data,))?;
        let (t, _) = tensor_from_numpy(&arr, Sharing::Copy, &opts)?;
        return Ok(PyTensor::new(t, false));
    }

    let has = |name: &str| data.hasattr(name).unwrap_or(false);
    // DLPack producers (torch, jax, cupy, ...): shared through the capsule, then cast, moved or
    // copied as the mode asks
    let via_dlpack = if has("__dlpack__") && has("__dlpack_device__") {
        // SAFETY: a read-only import goes into a PyTensor marked read-only, and every Python write
        // path checks that mark (`PyTensor::read_only`); tests/test_readonly_writes.py tries each.
        match unsafe { candle_numpy::python::dlpack::tensor_from_dlpack(data) } {
            Ok(found) => Some(found),
            // a layout or device DLPack cannot share: Copy/Auto go through NumPy below
            Err(e) if mode != Sharing::Share && (has("__array__") || has("__array_interface__")) => {
                drop(e);
                None
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    if let Some((t, readonly)) = via_dlpack {
        let shared = PyTensor::new(t, readonly);
        return match mode {
            Sharing::Share if dtype.is_none() && device.is_cpu() => Ok(shared),
            Sharing::Share => Err(Error::ShareCast {
                from: candle_numpy::dtype::candle_numpy_name(shared.inner.dtype()),
                to: dtype.map(|d| d.as_str()).unwrap_or("another device"),
            }
            .into()),
            Sharing::Auto => {
                let moved = retarget(py, &shared.inner, dtype, &device, false)?;
                let same = moved.same_storage_as(&shared.inner);
                Ok(PyTensor::new(moved, readonly && same))
            }
            Sharing::Copy => Ok(PyTensor::new(retarget(py, &shared.inner, dtype, &device, true)?, false)),
        };
    }
    // array-likes: __array_interface__ and the buffer protocol convert without copying;
    // __array__ (pandas, xarray, ...) may copy
    if has("__array_interface__")
        || has("__array__")
        || pyo3::types::PyMemoryView::from(data).is_ok()
        || has("__array_struct__")
    {
        let arr = np.call_method1("asarray", (data,)).map_err(|e| {
            PyTypeError::new_err(format!("could not convert {} to an array: {e}", type_name(data)))
        })?;
        let (t, readonly) = tensor_from_numpy(&arr, mode, &opts)?;
        return Ok(PyTensor::new(t, readonly));
    }

    Err(PyTypeError::new_err(format!(
        "cannot make a tensor from {}: expected a numpy.ndarray, a candle_numpy.Tensor, a Python \
         scalar or nested list, or an object with __array__, __array_interface__ or the buffer \
         protocol",
        type_name(data)
    )))
}

/// Whether `obj` is a pandas DataFrame or Series (by its type's module: pandas is never
/// imported here).
/// `candle_numpy._pandas.values`, registered by the package at import (the native module never
/// imports the package): a DataFrame or Series to its NumPy values, or a precise error.
static PANDAS_VALUES: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();

/// Register the pandas converter (`candle_numpy/__init__.py` calls it at import; a second call
/// keeps the first).
#[pyfunction]
pub fn _register_pandas_values(py: Python<'_>, values: Py<PyAny>) {
    let _ = PANDAS_VALUES.set(py, values);
}

fn is_pandas(obj: &Bound<'_, PyAny>) -> bool {
    let ty = obj.get_type();
    let from_pandas = ty.module().map(|m| m.to_string().starts_with("pandas.")).unwrap_or(false);
    from_pandas && ty.name().map(|n| n == "DataFrame" || n == "Series").unwrap_or(false)
}

/// Cast and move a tensor as asked; `force_copy` always gives fresh memory.
fn retarget(
    py: Python<'_>,
    t: &Tensor,
    dtype: Option<DType>,
    device: &Device,
    force_copy: bool,
) -> PyResult<Tensor> {
    let t = t.clone();
    let device = device.clone();
    detach(py, move || -> candle_core::Result<Tensor> {
        let mut out = t.clone();
        if let Some(d) = dtype {
            out = candle_numpy::dtype::cast(&out, d)?;
        }
        if !out.device().same_device(&device) {
            out = out.to_device(&device)?;
        }
        if force_copy && out.same_storage_as(&t) {
            out = out.copy()?;
        }
        Ok(out)
    })
    .map_err(|e| candle_numpy::python::to_pyerr(py, e.into()))
}

trait SameStorage {
    fn same_storage_as(&self, other: &Tensor) -> bool;
}

impl SameStorage for Tensor {
    fn same_storage_as(&self, other: &Tensor) -> bool {
        match (candle_numpy::export::storage_range(self), candle_numpy::export::storage_range(other)) {
            (Ok((a, _)), Ok((b, _))) => a == b,
            _ => false,
        }
    }
}

/// Values gathered from nested Python sequences.
enum Values {
    Bool(Vec<u8>),
    Int(Vec<i64>),
    Float(Vec<f64>),
}

impl Values {
    fn push(&mut self, x: &Bound<'_, PyAny>, path: &[usize]) -> PyResult<()> {
        let at = || path.iter().map(|i| format!("[{i}]")).collect::<String>();
        // Python's own float and int first, read directly: a list of a million floats must not
        // pay an attribute lookup (and the AttributeError it raises) per element
        if let Ok(f) = x.cast::<PyFloat>() {
            self.push_float(f.value());
            return Ok(());
        }
        if x.is_instance_of::<PyBool>() {
            let b = x.extract::<bool>()? as u8;
            match self {
                Values::Bool(v) => v.push(b),
                Values::Int(v) => v.push(b as i64),
                Values::Float(v) => v.push(b as f64),
            }
        } else if x.is_instance_of::<PyInt>() || x.hasattr("__index__")? {
            // Python ints are read directly; other integers (NumPy's) through __index__
            let i = if x.is_instance_of::<PyInt>() {
                x.extract::<i64>()
            } else {
                x.call_method0("__index__")?.extract()
            };
            let i: i64 = i.map_err(|_| {
                PyValueError::new_err(format!(
                    "element {} = {} does not fit int64",
                    at(),
                    x.repr().map(|r| r.to_string()).unwrap_or_default()
                ))
            })?;
            match self {
                Values::Bool(v) => *self = Values::Int(v.iter().map(|&b| b as i64).chain([i]).collect()),
                Values::Int(v) => v.push(i),
                Values::Float(v) => v.push(i as f64),
            }
        } else if x.hasattr("__float__")? {
            self.push_float(x.call_method0("__float__")?.extract()?);
        } else {
            return Err(PyTypeError::new_err(format!(
                "element {} is a {}, not a number; tensors hold numbers only",
                at(),
                type_name(x)
            )));
        }
        Ok(())
    }

    fn push_float(&mut self, f: f64) {
        match self {
            Values::Bool(v) => *self = Values::Float(v.iter().map(|&b| b as f64).chain([f]).collect()),
            Values::Int(v) => *self = Values::Float(v.iter().map(|&i| i as f64).chain([f]).collect()),
            Values::Float(v) => v.push(f),
        }
    }
}

fn is_sequence(x: &Bound<'_, PyAny>) -> bool {
    x.is_instance_of::<PyList>() || x.is_instance_of::<PyTuple>()
}

/// The shape of an array or tensor of rank one or more met inside a nested sequence.
fn array_dims(x: &Bound<'_, PyAny>) -> Option<Vec<usize>> {
    if let Ok(t) = x.cast::<PyTensor>() {
        let dims = t.borrow().inner.dims().to_vec();
        return (!dims.is_empty()).then_some(dims);
    }
    use numpy::PyUntypedArrayMethods;
    let a = x.cast::<PyUntypedArray>().ok()?;
    (a.ndim() > 0).then(|| a.shape().to_vec())
}

/// Shape of a nested sequence, from its first elements (arrays and tensors inside count with
/// their shapes).
fn nested_shape(data: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let mut shape = Vec::new();
    let mut cur = data.clone();
    loop {
        if let Some(dims) = array_dims(&cur) {
            shape.extend(dims);
            break;
        }
        if !is_sequence(&cur) {
            break;
        }
        let n = cur.len()?;
        shape.push(n);
        if n == 0 {
            break;
        }
        cur = cur.get_item(0)?;
    }
    Ok(shape)
}

/// One walk over a nested sequence (lists, tuples, arrays, tensors): check that it is
/// rectangular with `shape`, with torch's errors (ValueError "expected sequence of length N at
/// dim D (got M)", TypeError "not a sequence" for a number where a sequence belongs), and gather
/// its numbers into `out`. Arrays and tensors inside (0-d ones too) are checked by their shapes,
/// not element by element, and set `out` to None: the caller then stacks the whole thing with
/// NumPy, keeping their dtypes, as torch.tensor does.
fn walk(
    x: &Bound<'_, PyAny>,
    shape: &[usize],
    depth: usize,
    path: &mut Vec<usize>,
    out: &mut Option<Values>,
) -> PyResult<()> {
    let at = |path: &[usize]| {
        let at: String = path.iter().map(|i| format!("[{i}]")).collect();
        if at.is_empty() {
            "the top level".to_string()
        } else {
            format!("element {at}")
        }
    };
    let mismatch = |dim: usize, got: usize, path: &[usize]| {
        PyValueError::new_err(format!(
            "expected sequence of length {} at dim {dim} (got {got}) at {}; tensors must be \
             rectangular",
            shape[dim],
            at(path)
        ))
    };
    if is_sequence(x) {
        let n = x.len()?;
        if depth >= shape.len() {
            return Err(PyValueError::new_err(format!(
                "{} is a sequence of length {n} where a number belongs; tensors must be rectangular",
                at(path)
            )));
        }
        if n != shape[depth] {
            return Err(mismatch(depth, n, path));
        }
        for (i, item) in x.try_iter()?.enumerate() {
            path.push(i);
            walk(&item?, shape, depth + 1, path, out)?;
            path.pop();
        }
        return Ok(());
    }
    if let Some(dims) = array_dims(x) {
        *out = None;
        let rest = &shape[depth.min(shape.len())..];
        if let Some(k) = (0..dims.len().min(rest.len())).find(|&k| dims[k] != rest[k]) {
            return Err(mismatch(depth + k, dims[k], path));
        }
        if dims.len() != rest.len() {
            return Err(PyValueError::new_err(format!(
                "{} is an array of shape {dims:?} where one of shape {rest:?} belongs; tensors \
                 must be rectangular",
                at(path)
            )));
        }
        return Ok(());
    }
    if depth < shape.len() {
        return Err(PyTypeError::new_err(format!(
            "not a sequence: {} is a {} where a sequence of length {} belongs (dim {depth})",
            at(path),
            type_name(x),
            shape[depth]
        )));
    }
    if x.cast::<PyTensor>().is_ok() || x.cast::<PyUntypedArray>().is_ok() {
        *out = None; // a 0-d array or tensor: NumPy stacks it with its dtype
    } else if let Some(values) = out {
        values.push(x, path)?;
    }
    Ok(())
}

/// A Python scalar or nested list/tuple as a tensor, with torch's inference (float -> float32,
/// int -> int64, bool -> uint8) unless `dtype` says otherwise; `None` when it holds arrays or
/// tensors (the caller stacks those with NumPy). One pass over the data.
fn from_python_values(
    data: &Bound<'_, PyAny>,
    dtype: Option<DType>,
    device: &Device,
) -> PyResult<Option<Tensor>> {
    let shape = nested_shape(data)?;
    let n: usize = shape.iter().product();
    // an empty sequence has no element to infer from: float32, as torch
    let values = if n == 0 { Values::Float(Vec::new()) } else { Values::Bool(Vec::with_capacity(n)) };
    let mut values = Some(values);
    walk(data, &shape, 0, &mut Vec::new(), &mut values)?;
    let Some(values) = values else { return Ok(None) };
    let cpu = Device::Cpu;
    let t = match values {
        Values::Bool(v) => Tensor::from_vec(v, shape.as_slice(), &cpu),
        Values::Int(v) => Tensor::from_vec(v, shape.as_slice(), &cpu),
        Values::Float(v) => Tensor::from_vec(v, shape.as_slice(), &cpu).and_then(|t| match dtype {
            // torch infers float32 for Python floats; cast straight to what was asked
            None => t.to_dtype(DType::F32),
            Some(_) => Ok(t),
        }),
    };
    let t = t.and_then(|t| match dtype {
        Some(d) if d != t.dtype() => t.to_dtype(d),
        _ => Ok(t),
    });
    let t = t.and_then(|t| if device.is_cpu() { Ok(t) } else { t.to_device(device) });
    t.map(Some).map_err(|e| candle_numpy::python::to_pyerr(data.py(), e.into()))
}

/// A tensor argument: our tensors as they are (same graph node, so gradients flow), anything
/// else (arrays, lists, frames) through `convert` with `Sharing::Auto`.
pub fn tensor_arg(x: &Bound<'_, PyAny>) -> PyResult<candle_core::Tensor> {
    if let Ok(t) = x.cast::<PyTensor>() {
        return Ok(t.borrow().inner.clone());
    }
    Ok(convert(x, Sharing::Auto, None, None)?.inner.clone())
}

/// Share a NumPy array's memory as a tensor (`torch.from_numpy`): no copy, or an error saying
/// why not and what to do.
#[pyfunction]
pub fn from_numpy(a: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    convert(a, Sharing::Share, None, None)
}

/// Copy data into a new tensor (`torch.tensor`).
#[pyfunction]
#[pyo3(signature = (data, dtype=None, device=None, requires_grad=false))]
pub fn tensor(
    data: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> PyResult<PyTensor> {
    let mut t = convert(data, Sharing::Copy, dtype, device)?;
    if requires_grad {
        // a candle Var is marked at creation; the fresh copy is copied once more into one
        // (parameters are created once, so the second copy is not worth a separate path)
        t.set_requires_grad_py(data.py(), true)?;
    }
    Ok(t)
}

/// Share when possible, else copy (`torch.as_tensor`).
#[pyfunction]
#[pyo3(signature = (data, dtype=None, device=None))]
pub fn as_tensor(
    data: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    convert(data, Sharing::Auto, dtype, device)
}

/// The explicit form: `mode` is "share", "copy" or "auto".
#[pyfunction]
#[pyo3(signature = (data, mode="auto", dtype=None, device=None))]
pub fn to_tensor(
    data: &Bound<'_, PyAny>,
    mode: &str,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTensor> {
    convert(data, parse_mode(mode)?, dtype, device)
}

/// Whether a NumPy array and a tensor overlap in memory (as `np.may_share_memory`).
#[pyfunction]
pub fn shares_memory(a: &Bound<'_, PyAny>, t: &Bound<'_, PyAny>) -> PyResult<bool> {
    let (arr, tensor) = match (a.cast::<PyUntypedArray>(), t.cast::<PyTensor>()) {
        (Ok(arr), Ok(t)) => (arr.clone(), t.clone()),
        _ => match (t.cast::<PyUntypedArray>(), a.cast::<PyTensor>()) {
            (Ok(arr), Ok(t)) => (arr.clone(), t.clone()),
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "shares_memory(a, t) takes a numpy.ndarray and a candle_numpy.Tensor, got {} and {}",
                    type_name(a),
                    type_name(t)
                )))
            }
        },
    };
    let a = candle_numpy::python::array_ref_from_ndarray(&arr)?;
    Ok(candle_numpy::shares_memory(&tensor.borrow().inner, &a))
}

/// Whether zero-copy sharing of NumPy memory is available (the adopting allocator is
/// installed in this extension).
#[pyfunction]
pub fn sharing_available() -> bool {
    candle_numpy::adopt::installed()
}

/// Whether a CUDA device can be used (this build has CUDA and a device opens).
#[pyfunction]
pub fn cuda_is_available() -> bool {
    candle_numpy::device::cuda_is_available()
}

/// `cn.device(spec)`: the canonical name of a device spelling ("CUDA" -> "cuda:0"), parsed by
/// the core's `device::parse_location` without opening the device; `ShapeError` (a
/// `ValueError`) for anything else.
#[pyfunction]
pub fn device_name(spec: &str) -> PyResult<String> {
    use candle_core::DeviceLocation;
    match candle_numpy::device::parse_location(spec)? {
        DeviceLocation::Cpu => Ok("cpu".into()),
        DeviceLocation::Cuda { gpu_id } => Ok(format!("cuda:{gpu_id}")),
        DeviceLocation::Metal { .. } => Err(candle_numpy::Error::DeviceSpec { spec: spec.into() }.into()),
    }
}

/// Number of NumPy buffers currently shared with tensors (diagnostics and leak tests).
#[pyfunction]
pub fn adopted_blocks() -> usize {
    candle_numpy::adopt::adopted_blocks()
}
