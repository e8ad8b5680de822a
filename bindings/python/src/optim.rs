//! The native half of `cn.torch.optim`: candle-nn's optimizers (`AdamW`, `SGD`) stepping the
//! leaf variables of a torch-style model from their `.grad`s.
//!
//! torch's `Adam(weight_decay=w)` adds `w * param` to the gradient (L2), while `AdamW` decays
//! the weights directly; candle-nn implements the latter, so `Adam` runs candle-nn's `AdamW`
//! with no decay on L2-adjusted gradients. candle-nn's `SGD` has no momentum; the momentum
//! buffer (torch's formula: `b = momentum * b + g`, step along `b`) is kept here and handed
//! to candle-nn's `SGD` as the gradient.

use candle_numpy::python::detach;
use std::sync::Arc;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, SGD};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::autograd::GradSlot;
use crate::tensor::PyTensor;

enum Inner {
    Sgd { opt: SGD, momentum: f64, buffers: Vec<Option<Tensor>> },
    AdamW(AdamW),
}

/// `Optimizer(kind, params, lr, beta1, beta2, eps, weight_decay, momentum)`: `kind` is "sgd",
/// "adam" or "adamw". `cn.torch.optim` wraps it with torch's signatures.
#[pyclass(module = "candle_numpy._native", name = "Optimizer")]
pub struct PyOptimizer {
    params: Vec<(Var, Arc<GradSlot>)>,
    inner: Inner,
    /// L2 penalty added to the gradients (torch's `SGD`/`Adam` weight_decay).
    l2: f64,
}

/// A finite, non-negative hyper-parameter (NaN fails too).
fn non_negative(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

fn check_unit(name: &str, value: f64) -> PyResult<()> {
    if !(0.0..1.0).contains(&value) {
        return Err(PyValueError::new_err(format!("invalid {name}: {value}; it must be in [0, 1)")));
    }
    Ok(())
}

#[pymethods]
impl PyOptimizer {
    #[new]
    #[pyo3(signature = (kind, params, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, momentum=0.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        kind: &str,
        params: &Bound<'_, PyList>,
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
        momentum: f64,
    ) -> PyResult<Self> {
        if !non_negative(lr) {
            return Err(PyValueError::new_err(format!("invalid learning rate: {lr}; it must be >= 0")));
        }
        if !(non_negative(eps) && non_negative(weight_decay) && non_negative(momentum)) {
            return Err(PyValueError::new_err(format!(
                "invalid eps {eps}, weight_decay {weight_decay} or momentum {momentum}; each must be >= 0"
            )));
        }
        check_unit("beta1", beta1)?;
        check_unit("beta2", beta2)?;
        if params.is_empty() {
            return Err(PyValueError::new_err("optimizer got an empty parameter list"));
        }
        let mut vars = Vec::with_capacity(params.len());
        for (i, p) in params.iter().enumerate() {
            let t = p.cast::<PyTensor>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "optimizer parameter {i} is a {}, not a candle_numpy Tensor",
                    p.get_type().name().map(|n| n.to_string()).unwrap_or_default()
                ))
            })?;
            let t = t.borrow();
            let (Some(slot), true) = (t.grad.clone(), t.inner.is_variable()) else {
                return Err(PyValueError::new_err(format!(
                    "optimizer parameter {i} (shape {:?}) is not a leaf tensor with requires_grad=True; \
                     create parameters with cn.torch.tensor(..., requires_grad=True) or nn.Parameter",
                    t.inner.dims()
                )));
            };
            // a Var over the same tensor (no copy: the tensor is a variable already)
            let var =
                Var::from_tensor(&t.inner).map_err(|e| candle_numpy::python::to_pyerr(p.py(), e.into()))?;
            vars.push((var, slot));
        }
        let list: Vec<Var> = vars.iter().map(|(v, _)| v.clone()).collect();
        let mk = |e: candle_core::Error| candle_numpy::python::to_pyerr(params.py(), e.into());
        let (inner, l2) = match kind {
            "sgd" => {
                let buffers = vec![None; list.len()];
                (Inner::Sgd { opt: SGD::new(list, lr).map_err(mk)?, momentum, buffers }, weight_decay)
            }
            "adam" | "adamw" => {
                let decoupled = if kind == "adamw" { weight_decay } else { 0.0 };
                let cfg = ParamsAdamW { lr, beta1, beta2, eps, weight_decay: decoupled };
                let l2 = if kind == "adam" { weight_decay } else { 0.0 };
                (Inner::AdamW(AdamW::new(list, cfg).map_err(mk)?), l2)
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown optimizer kind {other:?}; use \"sgd\", \"adam\" or \"adamw\""
                )))
            }
        };
        Ok(PyOptimizer { params: vars, inner, l2 })
    }

    /// The learning rate used by the next `step()`.
    #[getter]
    fn get_lr(&self) -> f64 {
        match &self.inner {
            Inner::Sgd { opt, .. } => opt.learning_rate(),
            Inner::AdamW(opt) => opt.learning_rate(),
        }
    }

    #[setter]
    fn set_lr(&mut self, lr: f64) -> PyResult<()> {
        if !non_negative(lr) {
            return Err(PyValueError::new_err(format!("invalid learning rate: {lr}; it must be >= 0")));
        }
        match &mut self.inner {
            Inner::Sgd { opt, .. } => opt.set_learning_rate(lr),
            Inner::AdamW(opt) => opt.set_learning_rate(lr),
        }
        Ok(())
    }

    /// Update every parameter that has a `.grad` (parameters without one are skipped, as in
    /// torch). Runs without the GIL.
    fn step(&mut self, py: Python<'_>) -> PyResult<()> {
        let grads: Vec<(Var, Option<Tensor>)> = self
            .params
            .iter()
            .map(|(v, slot)| (v.clone(), slot.lock().unwrap_or_else(|p| p.into_inner()).clone()))
            .collect();
        let l2 = self.l2;
        let inner = &mut self.inner;
        detach(py, move || -> candle_core::Result<()> {
            let mut store = GradStore::default();
            for (i, (var, g)) in grads.into_iter().enumerate() {
                let Some(mut g) = g else { continue };
                if l2 != 0.0 {
                    g = (g + (var.as_tensor() * l2)?)?;
                }
                if let Inner::Sgd { momentum, buffers, .. } = inner {
                    if *momentum != 0.0 {
                        let b = match buffers[i].take() {
                            Some(b) => ((b * *momentum)? + g)?,
                            None => g,
                        };
                        buffers[i] = Some(b.clone());
                        g = b;
                    }
                }
                store.insert(var.as_tensor(), g);
            }
            match inner {
                Inner::Sgd { opt, .. } => opt.step(&store),
                Inner::AdamW(opt) => opt.step(&store),
            }
        })
        .map_err(|e| candle_numpy::python::to_pyerr(py, e.into()))
    }

    /// Clear every parameter's `.grad` (torch's default `set_to_none=True`), or fill with
    /// zeros when `set_to_none=False`.
    #[pyo3(signature = (set_to_none=true))]
    fn zero_grad(&self, py: Python<'_>, set_to_none: bool) -> PyResult<()> {
        for (_, slot) in &self.params {
            let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
            if set_to_none {
                *s = None;
            } else if let Some(g) = s.as_ref() {
                *s = Some(g.zeros_like().map_err(|e| candle_numpy::python::to_pyerr(py, e.into()))?);
            }
        }
        Ok(())
    }

    /// Number of parameters.
    fn __len__(&self) -> usize {
        self.params.len()
    }
}
