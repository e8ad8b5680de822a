//! The math a torch-style training loop needs: matmul, activations, reductions, comparisons and
//! autograd (`backward`, `.grad`, `detach`, `requires_grad_`). Every op is a candle op, so it is
//! recorded for candle's backward pass when an input is a variable, and runs on the tensors'
//! device.

use candle_core::{DType, Tensor, Var, D};
use candle_numpy::python::to_pyerr;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::PyTuple;

use crate::autograd;
use crate::tensor::{norm_axis, operand, run, Operand, PyTensor};

/// `a @ b` with torch's rank rules: 1-D operands are promoted to a row (left) or a column
/// (right) and the added dimension removed afterwards; batch dimensions broadcast.
fn matmul(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let b = if b.dtype() != a.dtype() { b.to_dtype(a.dtype())? } else { b.clone() };
    match (a.rank(), b.rank()) {
        (0, _) | (_, 0) => candle_core::bail!("matmul needs tensors of rank >= 1, got a scalar"),
        (1, 1) => a.mul(&b)?.sum_all(),
        (1, _) => a.unsqueeze(0)?.broadcast_matmul(&b)?.squeeze(D::Minus2),
        (_, 1) => a.broadcast_matmul(&b.unsqueeze(1)?)?.squeeze(D::Minus1),
        _ => a.broadcast_matmul(&b),
    }
}

/// Reduce over `dim` (all dimensions when `None`), as torch's `sum`/`mean`.
fn reduce(t: &Tensor, dim: Option<usize>, keepdim: bool, mean: bool) -> candle_core::Result<Tensor> {
    // integer means would truncate; torch refuses them, we compute them in f32 like NumPy
    let t = if mean && !t.dtype().is_float() { t.to_dtype(DType::F32)? } else { t.clone() };
    match (dim, mean, keepdim) {
        (None, false, _) => t.sum_all(),
        (None, true, _) => t.mean_all(),
        (Some(d), false, true) => t.sum_keepdim(d),
        (Some(d), false, false) => t.sum(d),
        (Some(d), true, true) => t.mean_keepdim(d),
        (Some(d), true, false) => t.mean(d),
    }
}

/// A scalar or tensor as a tensor of `like`'s dtype and device.
fn as_tensor_like(o: Operand, like: &Tensor) -> candle_core::Result<Tensor> {
    match o {
        Operand::Scalar(x) => Tensor::new(x, like.device())?.to_dtype(like.dtype()),
        Operand::Tensor(t) => {
            let t = if t.dtype() != like.dtype() { t.to_dtype(like.dtype())? } else { t };
            if t.device().same_device(like.device()) {
                Ok(t)
            } else {
                t.to_device(like.device())
            }
        }
    }
}

#[pymethods]
impl PyTensor {
    /// True when this tensor is a leaf variable or is computed from one (its ops are recorded).
    #[getter]
    fn get_requires_grad(&self) -> bool {
        self.inner.track_op()
    }

    /// `t.requires_grad = True` makes a leaf tensor a candle `Var`. candle marks variables when
    /// they are created, so this copies the data into a fresh variable: NumPy arrays that
    /// shared the old memory no longer see it (create with `tensor(..., requires_grad=True)` to
    /// avoid the copy). `False` detaches a leaf without copying.
    #[setter]
    fn set_requires_grad(&mut self, py: Python<'_>, value: bool) -> PyResult<()> {
        let leaf = !self.inner.track_op() || self.inner.is_variable();
        if !leaf {
            return Err(PyRuntimeError::new_err(
                "you can only change requires_grad flags of leaf tensors; this tensor is computed \
                 from others. Use t.detach() for a copy-free tensor outside the graph",
            ));
        }
        if value == self.inner.is_variable() {
            return Ok(());
        }
        if value {
            if !self.inner.dtype().is_float() {
                return Err(PyTypeError::new_err(format!(
                    "only floating-point tensors can require gradients, this one is {}; \
                     convert with .float() first",
                    crate::dtype::name(self.inner.dtype())
                )));
            }
            let t = self.inner.clone();
            let var = run(py, move || Var::from_tensor(&t))?;
            self.replace(var.as_tensor().clone(), false);
        } else {
            let t = self.inner.detach();
            let ro = self.readonly;
            self.replace(t, ro);
        }
        Ok(())
    }

    /// `t.requires_grad_(True)`: as setting `requires_grad`; returns self.
    #[pyo3(signature = (requires_grad=true))]
    fn requires_grad_(mut slf: PyRefMut<'_, Self>, requires_grad: bool) -> PyResult<PyRefMut<'_, Self>> {
        let py = slf.py();
        slf.set_requires_grad(py, requires_grad)?;
        Ok(slf)
    }

    /// True for tensors not computed from a variable, and for the variables themselves.
    #[getter]
    fn is_leaf(&self) -> bool {
        !self.inner.track_op() || self.inner.is_variable()
    }

    /// The gradient accumulated by `backward()` (None before, or after `zero_grad`). Only leaf
    /// variables have one, as in torch.
    #[getter]
    fn get_grad(&self) -> Option<PyTensor> {
        let slot = self.grad.as_ref()?;
        let g = slot.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        Some(PyTensor::new(g, false))
    }

    /// `t.grad = None` clears the gradient; a tensor of the variable's shape replaces it.
    #[setter]
    fn set_grad(&self, value: Option<PyRef<'_, PyTensor>>) -> PyResult<()> {
        let Some(slot) = self.grad.as_ref() else {
            return match value {
                None => Ok(()),
                Some(_) => {
                    Err(PyRuntimeError::new_err("only leaf tensors with requires_grad=True hold a .grad"))
                }
            };
        };
        let g = match value {
            None => None,
            Some(v) if v.inner.dims() == self.inner.dims() => Some(v.inner.detach()),
            Some(v) => {
                return Err(PyValueError::new_err(format!(
                    "assigned grad has shape {:?} but the tensor has shape {:?}",
                    v.inner.dims(),
                    self.inner.dims()
                )))
            }
        };
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = g;
        Ok(())
    }

    /// Run the backward pass from this (scalar) tensor, adding each leaf's gradient to its
    /// `.grad`. `gradient=` weights a non-scalar output. The graph is candle's and is rebuilt
    /// by every forward pass, so `retain_graph` is accepted and has nothing to do.
    #[pyo3(signature = (gradient=None, retain_graph=None))]
    fn backward(
        &self,
        py: Python<'_>,
        gradient: Option<PyRef<'_, PyTensor>>,
        retain_graph: Option<bool>,
    ) -> PyResult<()> {
        let _ = retain_graph;
        autograd::backward(py, &self.inner, gradient.map(|g| g.inner.clone()))
    }

    /// A tensor sharing this one's memory, outside the graph.
    fn detach(&self) -> PyTensor {
        PyTensor::new(self.inner.detach(), self.readonly)
    }

    /// The value of a one-element tensor as a Python number.
    fn item<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.inner.elem_count() != 1 {
            return Err(PyValueError::new_err(format!(
                "item() needs a tensor with one element, this one has shape {:?}",
                self.inner.dims()
            )));
        }
        let t = self.inner.flatten_all().map_err(|e| to_pyerr(py, e.into()))?;
        if t.dtype().is_float() {
            let v = run(py, move || t.to_dtype(DType::F64)?.to_vec1::<f64>())?[0];
            Ok(v.into_pyobject(py)?.into_any())
        } else {
            let v = run(py, move || t.to_dtype(DType::I64)?.to_vec1::<i64>())?[0];
            Ok(v.into_pyobject(py)?.into_any())
        }
    }

    /// Number of elements.
    fn numel(&self) -> usize {
        self.inner.elem_count()
    }

    /// `t.size()` is the shape; `t.size(d)` one dimension.
    #[pyo3(signature = (dim=None))]
    fn size<'py>(&self, py: Python<'py>, dim: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        match dim {
            None => Ok(PyTuple::new(py, self.inner.dims())?.into_any()),
            Some(d) => {
                let d = norm_axis(d, self.inner.rank())?;
                Ok(self.inner.dims()[d].into_pyobject(py)?.into_any())
            }
        }
    }

    /// Alias of `reshape` (a view when the layout allows).
    #[pyo3(signature = (*shape))]
    fn view(&self, py: Python<'_>, shape: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        self.reshape(py, shape)
    }

    /// Matrix product with torch's rank rules (`a @ b`).
    fn matmul(&self, py: Python<'_>, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        let (a, b) = (self.inner.clone(), other.inner.clone());
        Ok(self.result(run(py, move || matmul(&a, &b))?))
    }
    fn __matmul__(&self, py: Python<'_>, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        self.matmul(py, other)
    }
    fn __rmatmul__(&self, py: Python<'_>, other: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        let (a, b) = (other.inner.clone(), self.inner.clone());
        Ok(self.result(run(py, move || matmul(&a, &b))?))
    }

    fn relu(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, Tensor::relu)
    }
    fn sigmoid(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, candle_nn::ops::sigmoid)
    }
    fn tanh(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, Tensor::tanh)
    }
    /// GELU; `approximate="tanh"` (torch's option) uses the tanh form, the default the exact erf.
    #[pyo3(signature = (approximate="none"))]
    fn gelu(&self, py: Python<'_>, approximate: &str) -> PyResult<PyTensor> {
        match approximate {
            "none" => self.unary(py, Tensor::gelu_erf),
            "tanh" => self.unary(py, Tensor::gelu),
            other => {
                Err(PyValueError::new_err(format!("approximate must be 'none' or 'tanh', got {other:?}")))
            }
        }
    }
    fn exp(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, Tensor::exp)
    }
    fn log(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, Tensor::log)
    }
    fn abs(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, Tensor::abs)
    }
    fn sqrt(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, Tensor::sqrt)
    }
    fn square(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, Tensor::sqr)
    }
    fn __abs__(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.abs(py)
    }

    /// `t ** e` for a Python number `e`.
    fn pow(&self, py: Python<'_>, exponent: f64) -> PyResult<PyTensor> {
        match exponent {
            1.0 => self.unary(py, |t| Ok(t.clone())),
            2.0 => self.unary(py, Tensor::sqr),
            0.5 => self.unary(py, Tensor::sqrt),
            e => self.unary(py, move |t| t.powf(e)),
        }
    }
    fn __pow__(&self, py: Python<'_>, exponent: f64, modulo: Option<Py<PyAny>>) -> PyResult<PyTensor> {
        if modulo.is_some() {
            return Err(PyTypeError::new_err("pow() with a modulus is not supported for tensors"));
        }
        self.pow(py, exponent)
    }

    /// Softmax along `dim` (default the last).
    #[pyo3(signature = (dim=-1))]
    fn softmax(&self, py: Python<'_>, dim: i64) -> PyResult<PyTensor> {
        let d = norm_axis(dim, self.inner.rank())?;
        self.unary(py, move |t| candle_nn::ops::softmax(t, d))
    }
    /// Log-softmax along `dim` (default the last), computed stably.
    #[pyo3(signature = (dim=-1))]
    fn log_softmax(&self, py: Python<'_>, dim: i64) -> PyResult<PyTensor> {
        let d = norm_axis(dim, self.inner.rank())?;
        self.unary(py, move |t| candle_nn::ops::log_softmax(t, d))
    }

    /// Clamp into `[min, max]` (either may be None).
    #[pyo3(signature = (min=None, max=None))]
    fn clamp(&self, py: Python<'_>, min: Option<f64>, max: Option<f64>) -> PyResult<PyTensor> {
        if min.is_none() && max.is_none() {
            return Err(PyValueError::new_err("clamp needs at least one of min= or max="));
        }
        self.unary(py, move |t| {
            let mut t = t.clone();
            if let Some(lo) = min {
                t = t.maximum(lo)?;
            }
            if let Some(hi) = max {
                t = t.minimum(hi)?;
            }
            Ok(t)
        })
    }

    /// Sum of all elements, or along `dim`.
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn sum(&self, py: Python<'_>, dim: Option<i64>, keepdim: bool) -> PyResult<PyTensor> {
        let d = dim.map(|d| norm_axis(d, self.inner.rank())).transpose()?;
        self.unary(py, move |t| reduce(t, d, keepdim, false))
    }
    /// Mean of all elements, or along `dim`.
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn mean(&self, py: Python<'_>, dim: Option<i64>, keepdim: bool) -> PyResult<PyTensor> {
        let d = dim.map(|d| norm_axis(d, self.inner.rank())).transpose()?;
        self.unary(py, move |t| reduce(t, d, keepdim, true))
    }
    /// Index of the largest element (of the flattened tensor, or along `dim`), as int64.
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmax(&self, py: Python<'_>, dim: Option<i64>, keepdim: bool) -> PyResult<PyTensor> {
        let d = dim.map(|d| norm_axis(d, self.inner.rank())).transpose()?;
        self.unary(py, move |t| {
            let r = match (d, keepdim) {
                (None, _) => t.flatten_all()?.argmax(0)?,
                (Some(d), true) => t.argmax_keepdim(d)?,
                (Some(d), false) => t.argmax(d)?,
            };
            r.to_dtype(DType::I64)
        })
    }

    /// Remove size-1 dimensions (all, or just `dim`; a `dim` of another size is left alone, as
    /// in torch).
    #[pyo3(signature = (dim=None))]
    fn squeeze(&self, py: Python<'_>, dim: Option<i64>) -> PyResult<PyTensor> {
        let t = &self.inner;
        let out = match dim {
            Some(d) => {
                let d = norm_axis(d, t.rank())?;
                if t.dims()[d] == 1 {
                    t.squeeze(d)
                } else {
                    Ok(t.clone())
                }
            }
            None => {
                let dims: Vec<usize> = t.dims().iter().copied().filter(|&n| n != 1).collect();
                t.reshape(dims)
            }
        };
        Ok(self.view_result(out.map_err(|e| to_pyerr(py, e.into()))?))
    }

    /// Insert a size-1 dimension at `dim`.
    fn unsqueeze(&self, py: Python<'_>, dim: i64) -> PyResult<PyTensor> {
        let r = self.inner.rank() as i64;
        let d = if dim < 0 { dim + r + 1 } else { dim };
        if d < 0 || d > r {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "dimension {dim} out of range for unsqueeze of a tensor of rank {r}"
            )));
        }
        let out = self.inner.unsqueeze(d as usize);
        Ok(self.view_result(out.map_err(|e| to_pyerr(py, e.into()))?))
    }

    /// Flatten dimensions `start_dim..=end_dim` into one.
    #[pyo3(signature = (start_dim=0, end_dim=-1))]
    fn flatten(&self, py: Python<'_>, start_dim: i64, end_dim: i64) -> PyResult<PyTensor> {
        if self.inner.rank() == 0 {
            return self.reshape(py, &PyTuple::new(py, [1])?);
        }
        let (a, b) = (norm_axis(start_dim, self.inner.rank())?, norm_axis(end_dim, self.inner.rank())?);
        let t = self.inner.clone();
        Ok(self.view_result(run(py, move || t.flatten(a, b))?))
    }

    /// In place: set every element to zero; returns self.
    fn zero_<'py>(slf: PyRef<'py, Self>, py: Python<'py>) -> PyResult<PyRef<'py, Self>> {
        slf.check_writable("zero_")?;
        let t = slf.inner.clone();
        py.detach(move || candle_numpy::inplace::fill(&t, 0.0)).map_err(|e| to_pyerr(py, e))?;
        Ok(slf)
    }

    /// Elementwise comparisons give uint8 masks (candle has no bool dtype): `(p > 0.5).float()`.
    fn __richcmp__(&self, py: Python<'_>, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let Ok(o) = operand(other) else {
            return Ok(py.NotImplemented());
        };
        let t = self.inner.clone();
        let out = run(py, move || {
            let o = as_tensor_like(o, &t)?;
            let op = match op {
                CompareOp::Lt => candle_core::op::CmpOp::Lt,
                CompareOp::Le => candle_core::op::CmpOp::Le,
                CompareOp::Eq => candle_core::op::CmpOp::Eq,
                CompareOp::Ne => candle_core::op::CmpOp::Ne,
                CompareOp::Gt => candle_core::op::CmpOp::Gt,
                CompareOp::Ge => candle_core::op::CmpOp::Ge,
            };
            let shape = t.shape().broadcast_shape_binary_op(o.shape(), "cmp")?;
            t.broadcast_as(shape.clone())?.cmp(&o.broadcast_as(shape)?, op)
        })?;
        Ok(Py::new(py, PyTensor::new(out, false))?.into_any())
    }

    /// Tensors hash by identity, as in torch (`==` is elementwise).
    fn __hash__(slf: PyRef<'_, Self>) -> isize {
        slf.as_ptr() as isize
    }
}

impl PyTensor {
    /// `requires_grad = value` from Rust.
    pub(crate) fn set_requires_grad_py(&mut self, py: Python<'_>, value: bool) -> PyResult<()> {
        self.set_requires_grad(py, value)
    }

    /// A computed result, cut from the graph under `no_grad()`.
    pub(crate) fn result(&self, t: Tensor) -> PyTensor {
        PyTensor::new(autograd::record(t), false)
    }

    fn view_result(&self, t: Tensor) -> PyTensor {
        let ro = self.readonly;
        PyTensor::new(autograd::record(t), ro)
    }

    fn unary(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&Tensor) -> candle_core::Result<Tensor> + Send,
    ) -> PyResult<PyTensor> {
        let t = self.inner.clone();
        Ok(self.result(run(py, move || f(&t))?))
    }
}
