//! Indexing, as torch and NumPy index.
//!
//! - Basic indexing: `t[1]`, `t[1:3]`, `t[:, ::2]`, `t[..., None]`, `t[-1]`. Integers and
//!   unit-step slices give views; steps above one gather a copy (candle views have no step),
//!   which refuses in-place writes (torch's would reach the original); negative steps are
//!   refused, as in torch.
//! - Advanced indexing: integer lists, arrays and tensors (`t[[0, 2]]`, `t[idx]`, `t[[]]`),
//!   boolean masks (`t[t > 0]`, `t[np_mask]`; a uint8 tensor is a mask, as candle has no bool and
//!   comparisons give uint8), mixed with basic items (`t[:, [1, 3]]`, `t[mask, 0]`). The result is
//!   a copy, as in torch and NumPy, with NumPy's rules for the result's shape.
//! - Assignment through either (`t[mask] = 0`, `t[idx] += 1`, `t[::2] = v`) writes into the
//!   tensor's own memory.
//!
//! On the CPU, advanced selections and writes run in NumPy over a view of the tensor's memory
//! (its C loops, its exact semantics, no copy of the tensor). A tensor that records gradients,
//! or one on another device, is gathered with candle's `index_select` from the flat positions
//! NumPy selects, so the gradient flows back to the selected elements.

use candle_core::{DType, Tensor};
use candle_numpy::python::tensor_to_numpy;
use candle_numpy::Sharing;
use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyBool, PyEllipsis, PyInt, PyList, PySlice, PySliceMethods, PyTuple};

use crate::tensor::PyTensor;

fn key_items<'py>(key: &Bound<'py, PyAny>) -> Vec<Bound<'py, PyAny>> {
    match key.cast::<PyTuple>() {
        Ok(tuple) => tuple.iter().collect(),
        Err(_) => vec![key.clone()],
    }
}

/// Whether one item of a key is an advanced index (NumPy's term): a list, a nested tuple, a
/// Python bool, an array of rank one or more (or a 0-d boolean array), a tensor of rank one or
/// more (or a 0-d uint8 tensor, torch's byte mask).
fn is_advanced(k: &Bound<'_, PyAny>) -> bool {
    if k.is_instance_of::<PyBool>() || k.is_instance_of::<PyList>() || k.is_instance_of::<PyTuple>() {
        return true;
    }
    if let Ok(t) = k.cast::<PyTensor>() {
        let t = t.borrow();
        return t.inner.rank() > 0 || t.inner.dtype() == DType::U8;
    }
    if let Ok(a) = k.cast::<PyUntypedArray>() {
        return a.ndim() > 0 || a.dtype().kind() == b'b';
    }
    false
}

/// Whether `key` holds an advanced index anywhere (see [`is_advanced`]).
pub fn has_advanced(key: &Bound<'_, PyAny>) -> bool {
    key_items(key).iter().any(is_advanced)
}

/// Whether `key` holds a slice with a step above one (`t[::2]`).
fn has_stepped_slice(key: &Bound<'_, PyAny>) -> PyResult<bool> {
    for k in key_items(key) {
        if let Ok(s) = k.cast::<PySlice>() {
            let step = s.getattr("step")?;
            if !step.is_none() && step.extract::<isize>().is_ok_and(|s| s > 1) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The key as NumPy indexes: tensors become arrays (a uint8 tensor a boolean mask), lists
/// arrays (an empty list an empty integer index, as in torch), and index arrays must hold
/// integers or booleans.
fn numpy_key<'py>(py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let np = py.import("numpy")?;
    let convert = |k: Bound<'py, PyAny>| -> PyResult<Bound<'py, PyAny>> {
        let arr = if let Ok(t) = k.cast::<PyTensor>() {
            let is_mask = t.borrow().inner.dtype() == DType::U8;
            let arr = t.call_method1("numpy", (true,))?;
            if is_mask {
                arr.call_method1("astype", (np.getattr("bool_")?,))?
            } else {
                arr
            }
        } else if k.is_instance_of::<PyList>() || k.is_instance_of::<PyTuple>() {
            let arr = np.call_method1("asarray", (k,))?;
            let empty = arr.getattr("size")?.extract::<usize>()? == 0;
            if empty {
                arr.call_method1("astype", (np.getattr("intp")?,))?
            } else {
                arr
            }
        } else if k.cast::<PyUntypedArray>().is_ok() {
            k
        } else {
            return Ok(k);
        };
        let kind = arr.cast::<PyUntypedArray>()?.dtype().kind();
        if !matches!(kind, b'i' | b'u' | b'b') {
            let dtype = arr.getattr("dtype")?.str()?.to_string();
            return Err(PyIndexError::new_err(format!(
                "tensors used as indices must be long, int, byte or bool tensors, got {dtype}; \
                 convert the index first (idx.long())"
            )));
        }
        Ok(arr)
    };
    match key.cast::<PyTuple>() {
        Ok(tuple) => {
            let items = tuple.iter().map(convert).collect::<PyResult<Vec<_>>>()?;
            Ok(PyTuple::new(py, items)?.into_any())
        }
        Err(_) => convert(key.clone()),
    }
}

/// `t[key]` for a key with an advanced index: a new tensor (a copy, as in torch).
pub fn advanced_get(py: Python<'_>, this: &PyTensor, key: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let t = &this.inner;
    let npkey = numpy_key(py, key)?;
    if t.device().is_cpu() && !t.track_op() {
        // NumPy's gather over a read-only view of our memory; its fresh result is shared
        let arr = tensor_to_numpy(py, t, true)?;
        let picked = py.import("numpy")?.call_method1("asarray", (arr.get_item(&npkey)?,))?;
        let out = crate::convert::convert(&picked, Sharing::Auto, None, None)?;
        return Ok(out.rules_of(this));
    }
    // the flat positions NumPy selects, gathered with candle (differentiable, any device)
    let np = py.import("numpy")?;
    let dims = t.dims().to_vec();
    let positions = np
        .call_method("arange", (t.elem_count(),), Some(&[("dtype", np.getattr("int64")?)].into_py_dict(py)?))?
        .call_method1("reshape", (PyTuple::new(py, &dims)?,))?
        .get_item(&npkey)?;
    let positions = np.call_method1("asarray", (positions,))?;
    let shape: Vec<usize> = positions.getattr("shape")?.extract()?;
    let flat = positions.call_method0("ravel")?.extract::<numpy::PyReadonlyArray1<'_, i64>>()?;
    let flat: Vec<i64> = flat.as_slice()?.to_vec();
    let src = t.clone();
    let out = crate::tensor::run(py, move || {
        let idx = Tensor::from_vec(flat, shape.iter().product::<usize>(), src.device())?;
        index_select(&src.flatten_all()?, &idx, 0)?.reshape(shape)
    })?;
    Ok(this.result(out))
}

/// Whether `t[key] = v` goes through [`numpy_set`]: an advanced index or a stepped slice.
pub fn needs_numpy_set(key: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(has_advanced(key) || has_stepped_slice(key)?)
}

/// `t[key] = value` for an advanced key or a stepped slice, written by NumPy through a
/// writable view of the tensor's own memory (CPU), so the write reaches every tensor and array
/// that shares it. The value is cast as NumPy's assignment casts (as torch's does).
pub fn numpy_set(
    py: Python<'_>,
    this: &PyTensor,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let t = &this.inner;
    if !t.device().is_cpu() {
        return Err(PyRuntimeError::new_err(format!(
            "t[key] = v with an index list, mask or stepped slice is supported for CPU tensors; \
             this tensor is on {:?}: move it with .cpu(), assign, and move it back",
            t.device().location()
        )));
    }
    let npkey = numpy_key(py, key)?;
    let arr = tensor_to_numpy(py, t, false)?;
    let value = match value.cast::<PyTensor>() {
        Ok(v) => v.call_method1("numpy", (true,))?,
        Err(_) => value.clone(),
    };
    arr.set_item(npkey, value)
}

enum Item {
    Int(i64),
    Slice(isize, isize, isize),
    NewAxis,
}

/// `t[key]` for a basic key, and whether a slice step above one made it a gathered copy rather
/// than a view.
pub fn get(py: Python<'_>, t: &Tensor, key: &Bound<'_, PyAny>) -> PyResult<(Tensor, bool)> {
    select(py, t, key)
}

/// The view `t[key]` that an assignment `t[key] = v` writes through, for a key without an
/// advanced index or a stepped slice (those go through [`numpy_set`]).
pub fn view_for_write(py: Python<'_>, t: &Tensor, key: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let (view, gathered) = select(py, t, key)?;
    if gathered {
        // unreachable through __setitem__, which routes stepped slices to numpy_set; refuse
        // rather than write into a copy
        return Err(PyValueError::new_err("t[...] = v: this key selects a copy, not a view"));
    }
    Ok(view)
}

/// `t.index_select(idx, dim)`, also for a `t` with no elements. An empty view can start past
/// the end of its storage (`a[1:0]` of a one-row array starts one row on), and candle 0.11's
/// CPU `index_select` slices its storage from the view's start before it looks at the sizes:
/// it panicked there (found by the indexing property test: `t[1:0:2, 3, ::2]` on a (1, 4, 4)
/// tensor). With no elements to read, the result is an empty tensor of the gathered shape.
pub(crate) fn index_select(t: &Tensor, idx: &Tensor, dim: usize) -> candle_core::Result<Tensor> {
    if t.elem_count() > 0 {
        return t.index_select(idx, dim);
    }
    if t.dims()[dim] == 0 && idx.elem_count() > 0 {
        candle_core::bail!("index_select: {} indices into an empty dimension {dim}", idx.elem_count());
    }
    let mut dims = t.dims().to_vec();
    dims[dim] = idx.elem_count();
    Tensor::zeros(dims, t.dtype(), t.device())
}

fn select(py: Python<'_>, t: &Tensor, key: &Bound<'_, PyAny>) -> PyResult<(Tensor, bool)> {
    let keys = key_items(key);
    let consuming = keys.iter().filter(|k| !k.is_none() && !k.is(PyEllipsis::get(py))).count();
    if consuming > t.rank() {
        return Err(PyIndexError::new_err(format!(
            "too many indices: {consuming} for a tensor of rank {}",
            t.rank()
        )));
    }
    let mut items = Vec::new();
    let mut axis = 0;
    let mut seen_ellipsis = false;
    for k in &keys {
        if k.is(PyEllipsis::get(py)) {
            if seen_ellipsis {
                return Err(PyIndexError::new_err("an index can only have a single ellipsis ('...')"));
            }
            seen_ellipsis = true;
            for _ in 0..t.rank() - consuming {
                items.push(Item::Slice(0, t.dims()[axis] as isize, 1));
                axis += 1;
            }
        } else if k.is_none() {
            items.push(Item::NewAxis);
        } else if let Ok(s) = k.cast::<PySlice>() {
            let ind = s.indices(t.dims()[axis] as isize)?;
            items.push(Item::Slice(ind.start, ind.stop, ind.step));
            axis += 1;
        } else if k.is_instance_of::<PyInt>() || k.hasattr("__index__")? {
            items.push(Item::Int(k.call_method0("__index__")?.extract()?));
            axis += 1;
        } else {
            let ty = k.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            return Err(PyTypeError::new_err(format!(
                "a tensor is indexed by integers, slices, None, ..., integer or boolean lists, \
                 arrays and tensors; got {ty}"
            )));
        }
    }
    let err = |e: candle_core::Error| candle_numpy::python::to_pyerr(py, e.into());
    let mut out = t.clone();
    let mut gathered = false;
    let mut dim = 0; // current axis of `out`
    let mut src_axis = 0; // axis of `t` this item refers to
    for item in items {
        match item {
            Item::NewAxis => {
                out = out.unsqueeze(dim).map_err(err)?;
                dim += 1;
            }
            Item::Int(i) => {
                let n = t.dims()[src_axis] as i64;
                let j = if i < 0 { i + n } else { i };
                if j < 0 || j >= n {
                    return Err(PyIndexError::new_err(format!(
                        "index {i} is out of bounds for dimension {src_axis} with size {n}"
                    )));
                }
                out = out.narrow(dim, j as usize, 1).map_err(err)?.squeeze(dim).map_err(err)?;
                src_axis += 1;
            }
            Item::Slice(start, stop, step) => {
                if step < 0 {
                    return Err(PyValueError::new_err(
                        "negative slice steps are not supported (as in torch); copy with \
                         np.ascontiguousarray(t.numpy()[::-1]) or flip the data first",
                    ));
                }
                let len = if stop > start { ((stop - start) + step - 1) / step } else { 0 } as usize;
                if step == 1 || len <= 1 {
                    // (one element of a stepped slice is a unit-step narrow too)
                    // (slice.indices keeps start within 0..=len of the axis for a positive step)
                    out = out.narrow(dim, start as usize, len).map_err(err)?;
                } else {
                    let idx: Vec<u32> = (0..len).map(|k| (start + k as isize * step) as u32).collect();
                    let idx = Tensor::from_vec(idx, len, out.device()).map_err(err)?;
                    out = index_select(&out, &idx, dim).map_err(err)?;
                    gathered = true;
                }
                dim += 1;
                src_axis += 1;
            }
        }
    }
    Ok((out, gathered))
}
