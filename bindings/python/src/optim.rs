//! The native half of `cn.torch.optim`: the engine's [`Stepper`] (`candle_numpy::train`)
//! stepping the leaf variables of a torch-style model from their `.grad`s, with torch's
//! conventions: SGD momentum as torch keeps it (`b = momentum * b + g`, step along `b`),
//! `SGD`/`Adam` weight decay as an L2 term on the gradient, `AdamW`'s decoupled.

use candle_numpy::python::detach;
use candle_numpy::train::{MomentumStyle, OptimizerConfig, Stepper, WeightDecay};
use std::sync::Arc;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::autograd::GradSlot;
use crate::tensor::PyTensor;

/// `Optimizer(kind, params, lr, beta1, beta2, eps, weight_decay, momentum, nesterov)`: `kind` is
/// "sgd", "adam" or "adamw". `cn.torch.optim` wraps it with torch's signatures.
#[pyclass(module = "candle_numpy._native", name = "Optimizer")]
pub struct PyOptimizer {
    /// The parameters and their `.grad` slots, in the order given.
    vars: Vec<Var>,
    slots: Vec<Arc<GradSlot>>,
    stepper: Stepper,
}

fn value_error(e: candle_numpy::Error) -> PyErr {
    // the engine's range checks name the argument and the fix; torch raises ValueError
    PyValueError::new_err(e.render(candle_numpy::error::Language::Python))
}

#[pymethods]
impl PyOptimizer {
    #[new]
    #[pyo3(signature = (kind, params, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, momentum=0.0, nesterov=false))]
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
        nesterov: bool,
    ) -> PyResult<Self> {
        let config = match kind {
            "sgd" => OptimizerConfig::Sgd {
                lr,
                momentum,
                nesterov,
                style: MomentumStyle::Torch,
                weight_decay: WeightDecay::L2(weight_decay),
            },
            "adam" | "adamw" => OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay: if kind == "adam" {
                    WeightDecay::L2(weight_decay)
                } else {
                    WeightDecay::Decoupled(weight_decay)
                },
            },
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown optimizer kind {other:?}; use \"sgd\", \"adam\" or \"adamw\""
                )))
            }
        };
        config.validate("optimizer").map_err(value_error)?;
        if params.is_empty() {
            return Err(PyValueError::new_err("optimizer got an empty parameter list"));
        }
        let mut vars = Vec::with_capacity(params.len());
        let mut slots = Vec::with_capacity(params.len());
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
            vars.push(var);
            slots.push(slot);
        }
        let stepper = Stepper::new(config, vars.clone()).map_err(value_error)?;
        Ok(PyOptimizer { vars, slots, stepper })
    }

    /// The learning rate used by the next `step()`.
    #[getter]
    fn get_lr(&self) -> f64 {
        self.stepper.learning_rate()
    }

    #[setter]
    fn set_lr(&mut self, lr: f64) -> PyResult<()> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(PyValueError::new_err(format!("invalid learning rate: {lr}; it must be >= 0")));
        }
        self.stepper.set_learning_rate(lr);
        Ok(())
    }

    /// Update every parameter that has a `.grad` (parameters without one are skipped, as in
    /// torch). Runs without the GIL.
    fn step(&mut self, py: Python<'_>) -> PyResult<()> {
        let grads: Vec<Option<Tensor>> =
            self.slots.iter().map(|slot| slot.lock().unwrap_or_else(|p| p.into_inner()).clone()).collect();
        let (vars, stepper) = (&self.vars, &mut self.stepper);
        detach(py, move || -> candle_numpy::Result<()> {
            let mut store = GradStore::default();
            for (var, g) in vars.iter().zip(grads) {
                if let Some(g) = g {
                    store.insert(var.as_tensor(), g);
                }
            }
            stepper.step(&store)
        })
        .map_err(|e| candle_numpy::python::to_pyerr(py, e))
    }

    /// Clear every parameter's `.grad` (torch's default `set_to_none=True`), or fill with
    /// zeros when `set_to_none=False`.
    #[pyo3(signature = (set_to_none=true))]
    fn zero_grad(&self, py: Python<'_>, set_to_none: bool) -> PyResult<()> {
        for slot in &self.slots {
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
        self.slots.len()
    }
}

/// `_native.loss(name, input, target, reduction="mean")`: the engine's losses
/// (`candle_numpy::train::loss`) for `cn.torch.nn.functional`, recorded for `backward`. `name`
/// is "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss" or
/// "cross_entropy" (class indices as `target`).
#[pyfunction]
#[pyo3(signature = (name, input, target, reduction="mean"))]
pub fn loss(
    py: Python<'_>,
    name: &str,
    input: PyRef<'_, PyTensor>,
    target: PyRef<'_, PyTensor>,
    reduction: &str,
) -> PyResult<PyTensor> {
    use candle_numpy::train::loss;
    let reduction: loss::Reduction = reduction.parse()?;
    type LossFn = fn(&Tensor, &Tensor, loss::Reduction) -> candle_numpy::Result<Tensor>;
    let f: LossFn = match name {
        "binary_cross_entropy" => loss::binary_cross_entropy,
        "binary_cross_entropy_with_logits" => loss::binary_cross_entropy_with_logits,
        "mse_loss" => loss::mse_loss,
        "l1_loss" => loss::l1_loss,
        "cross_entropy" => loss::cross_entropy,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown loss {other:?}; use binary_cross_entropy, binary_cross_entropy_with_logits, \
                 mse_loss, l1_loss or cross_entropy"
            )))
        }
    };
    let (x, y) = (input.inner.clone(), target.inner.clone());
    let out = detach(py, move || f(&x, &y, reduction)).map_err(|e| candle_numpy::python::to_pyerr(py, e))?;
    Ok(input.result(out))
}

/// `_native.linear(input, weight, bias=None, activation=None)`: torch's `F.linear`
/// (`input @ weight.T + bias`, weight `(out, in)`), optionally followed by ReLU, as the engine's
/// dense layer (`candle_numpy::train::linear`): one op with a closed-form backward that skips
/// the gradient of an untracked input (the data batch). `weight` and `bias` are cast to the
/// input's dtype first, as `input @ weight.T` casts.
#[pyfunction]
#[pyo3(signature = (input, weight, bias=None, activation=None))]
pub fn linear(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    bias: Option<PyRef<'_, PyTensor>>,
    activation: Option<&str>,
) -> PyResult<PyTensor> {
    use candle_numpy::train::linear::{linear, WeightLayout};
    let act = crate::layers::activation(activation)?;
    let x = input.inner.clone();
    let (w, b) = (weight.inner.clone(), bias.map(|b| b.inner.clone()));
    let out = detach(py, move || {
        let cast = |t: &Tensor| candle_numpy::dtype::cast(t, x.dtype());
        let w = cast(&w)?;
        let b = b.as_ref().map(cast).transpose()?;
        linear(&x, &w, b.as_ref(), WeightLayout::OutIn, act)
    })
    .map_err(|e| candle_numpy::python::to_pyerr(py, e))?;
    Ok(input.result(out))
}
