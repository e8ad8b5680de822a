//! Basic indexing: `t[1]`, `t[1:3]`, `t[:, ::2]`, `t[..., None]`, `t[-1]`. Integers and unit-step
//! slices give views; steps above one gather a copy (candle views have no step), which refuses
//! in-place writes (torch's would reach the original); negative steps are refused, as in torch.

use candle_core::Tensor;
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyEllipsis, PyInt, PySlice, PySliceMethods, PyTuple};

enum Item {
    Int(i64),
    Slice(isize, isize, isize),
    NewAxis,
}

/// `t[key]`, and whether a slice step above one made it a gathered copy rather than a view.
pub fn get(py: Python<'_>, t: &Tensor, key: &Bound<'_, PyAny>) -> PyResult<(Tensor, bool)> {
    select(py, t, key, false)
}

/// The view `t[key]` that an assignment `t[key] = v` writes through: as [`get`], but a slice
/// step above one (which [`get`] answers with a copy) is refused, so nothing is written into a
/// copy silently.
pub fn view_for_write(py: Python<'_>, t: &Tensor, key: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    Ok(select(py, t, key, true)?.0)
}

fn select(py: Python<'_>, t: &Tensor, key: &Bound<'_, PyAny>, for_write: bool) -> PyResult<(Tensor, bool)> {
    let keys: Vec<Bound<'_, PyAny>> = match key.cast::<PyTuple>() {
        Ok(tuple) => tuple.iter().collect(),
        Err(_) => vec![key.clone()],
    };
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
                "only basic indexing is supported (integers, slices, None, ...), got {ty}; \
                 for gathers use numpy on t.numpy()"
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
                } else if for_write {
                    return Err(PyValueError::new_err(format!(
                        "t[...] = v through a slice with step {step} (axis {src_axis}) is not \
                         supported: a candle view has no step, so the write could only reach a \
                         copy; on the CPU write through NumPy's view instead: t.numpy()[...] = v"
                    )));
                } else {
                    let idx: Vec<u32> = (0..len).map(|k| (start + k as isize * step) as u32).collect();
                    let idx = Tensor::from_vec(idx, len, out.device()).map_err(err)?;
                    out = out.index_select(&idx, dim).map_err(err)?;
                    gathered = true;
                }
                dim += 1;
                src_axis += 1;
            }
        }
    }
    Ok((out, gathered))
}
