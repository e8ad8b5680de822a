//! torch-style autograd over candle's: leaves are candle `Var`s, `loss.backward()` runs
//! candle's backward pass and accumulates each leaf's gradient into its `.grad`, and
//! `no_grad()` stops recording.
//!
//! candle keeps gradients in a `GradStore` returned by `backward()`, keyed by tensor id; torch
//! keeps them on the leaf tensors. The bridge is a registry from a leaf's tensor id to its
//! gradient slot, shared by every Python tensor object over that leaf and held weakly here, so
//! a dropped leaf frees its gradient.

use candle_numpy::python::detach;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use candle_core::{Tensor, TensorId};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// A leaf's accumulated gradient (`None` until a backward pass reaches it, or after
/// `zero_grad`).
pub type GradSlot = Mutex<Option<Tensor>>;

static LEAVES: LazyLock<Mutex<HashMap<TensorId, Weak<GradSlot>>>> = LazyLock::new(Default::default);

thread_local! {
    // torch's grad mode is per thread as well
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

fn leaves() -> std::sync::MutexGuard<'static, HashMap<TensorId, Weak<GradSlot>>> {
    // a poisoned lock only means another thread panicked mid-update of a map of weak
    // pointers, which stays consistent; keep going
    LEAVES.lock().unwrap_or_else(|p| p.into_inner())
}

/// The gradient slot of the leaf variable `t`, shared with every other tensor object over the
/// same variable.
pub fn slot_for(t: &Tensor) -> Arc<GradSlot> {
    let mut map = leaves();
    if let Some(slot) = map.get(&t.id()).and_then(Weak::upgrade) {
        return slot;
    }
    let slot = Arc::new(Mutex::new(None));
    map.insert(t.id(), Arc::downgrade(&slot));
    slot
}

/// Called when a tensor object over a leaf goes away: forget the leaf once no object holds its
/// slot any more.
pub fn release(t: &Tensor, slot: Arc<GradSlot>) {
    if Arc::strong_count(&slot) == 1 {
        let mut map = leaves();
        if map.get(&t.id()).is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&slot))) {
            map.remove(&t.id());
        }
    }
}

/// Whether operations record the graph on this thread (`torch.is_grad_enabled()`).
#[pyfunction]
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(Cell::get)
}

/// Turn recording on or off on this thread; returns the previous mode (what `no_grad()` and
/// `enable_grad()` restore on exit).
#[pyfunction]
pub fn set_grad_enabled(mode: bool) -> bool {
    GRAD_ENABLED.with(|g| g.replace(mode))
}

/// An operation's result as torch would give it: cut from the graph under `no_grad()`.
pub fn record(t: Tensor) -> Tensor {
    if t.track_op() && !t.is_variable() && !is_grad_enabled() {
        t.detach()
    } else {
        t
    }
}

/// `t.backward(gradient)`: candle's backward pass from `t`, each leaf's gradient added to its
/// `.grad` (torch accumulates across calls until `zero_grad`).
pub fn backward(py: Python<'_>, t: &Tensor, gradient: Option<Tensor>) -> PyResult<()> {
    if !t.track_op() {
        return Err(PyRuntimeError::new_err(
            "element 0 of tensors does not require grad and does not have a grad_fn: \
             backward() needs a result computed from tensors created with requires_grad=True \
             (and not under no_grad())",
        ));
    }
    let root = match gradient {
        None if t.elem_count() != 1 => {
            return Err(PyRuntimeError::new_err(format!(
                "grad can be implicitly created only for scalar outputs, but this tensor has shape \
                 {:?}; reduce it first (loss.sum() or loss.mean()) or pass gradient= of the same shape",
                t.dims()
            )))
        }
        None => t.clone(),
        Some(g) => {
            if g.dims() != t.dims() {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "backward(gradient=...) needs a gradient of the tensor's shape {:?}, got {:?}",
                    t.dims(),
                    g.dims()
                )));
            }
            let t = t.clone();
            detach(py, move || t.mul(&candle_numpy::dtype::cast(&g, t.dtype())?)?.sum_all())
                .map_err(|e| candle_numpy::python::to_pyerr(py, e.into()))?
        }
    };
    let grads =
        detach(py, move || root.backward()).map_err(|e| candle_numpy::python::to_pyerr(py, e.into()))?;
    let targets: Vec<(Arc<GradSlot>, Tensor)> = {
        let map = leaves();
        grads
            .get_ids()
            .filter_map(|id| {
                let slot = map.get(id)?.upgrade()?;
                Some((slot, grads.get_id(*id)?.detach()))
            })
            .collect()
    };
    detach(py, move || -> candle_core::Result<()> {
        for (slot, g) in targets {
            let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
            *s = Some(match s.take() {
                Some(old) => old.add(&g)?,
                None => g,
            });
        }
        Ok(())
    })
    .map_err(|e| candle_numpy::python::to_pyerr(py, e.into()))
}
