//! The math a torch-style training loop needs: matmul, activations, reductions, comparisons and
//! autograd (`backward`, `.grad`, `detach`, `requires_grad_`). Every op is a candle op, so it is
//! recorded for candle's backward pass when an input is a variable, and runs on the tensors'
//! device.

use candle_core::{DType, Tensor, Var, D};
use candle_numpy::python::detach;
use candle_numpy::python::to_pyerr;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::PyTuple;

use crate::autograd;
use crate::promote::Scalar;
use crate::tensor::{norm_axis, op_dtype, operand, operands, run, Operand, PyTensor};
use candle_numpy::dtype::cast;

/// `a @ b` with torch's rank rules: 1-D operands are promoted to a row (left) or a column
/// (right) and the added dimension removed afterwards; batch dimensions broadcast.
fn matmul(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let b = cast(b, a.dtype())?;
    match (a.rank(), b.rank()) {
        (0, _) | (_, 0) => candle_core::bail!("matmul needs tensors of rank >= 1, got a scalar"),
        (1, 1) => a.mul(&b)?.sum_all(),
        (1, _) => a.unsqueeze(0)?.broadcast_matmul(&b)?.squeeze(D::Minus2),
        (_, 1) => a.broadcast_matmul(&b.unsqueeze(1)?)?.squeeze(D::Minus1),
        _ => a.broadcast_matmul(&b),
    }
}

/// The dtype a reduction accumulates in and the dtype it returns, as torch: half-precision
/// floats accumulate in f32 and return their own dtype; integer sums accumulate in and return
/// int64; integer means (which torch refuses, and which would truncate) are computed in and
/// return f32, as NumPy computes them in floating point.
fn reduction_dtypes(dtype: DType, mean: bool) -> (DType, DType) {
    match dtype {
        DType::F16 | DType::BF16 => (DType::F32, dtype),
        d if d.is_float() => (d, d),
        _ if mean => (DType::F32, DType::F32),
        _ => (DType::I64, DType::I64),
    }
}

/// Reduce over `dim` (all dimensions when `None`), as torch's `sum`/`mean`.
fn reduce(t: &Tensor, dim: Option<usize>, keepdim: bool, mean: bool) -> candle_core::Result<Tensor> {
    let (work, out) = reduction_dtypes(t.dtype(), mean);
    let t = cast(t, work)?;
    let r = match (dim, mean, keepdim) {
        (None, false, _) => t.sum_all(),
        (None, true, _) => t.mean_all(),
        (Some(d), false, true) => t.sum_keepdim(d),
        (Some(d), false, false) => t.sum(d),
        (Some(d), true, true) => t.mean_keepdim(d),
        (Some(d), true, false) => t.mean(d),
    }?;
    cast(&r, out)
}

/// `argmax` along `d` where a NaN is the largest value (the first NaN wins), as torch and
/// NumPy; candle's comparisons skip NaN.
fn argmax_nan_first(t: &Tensor, d: usize) -> candle_core::Result<Tensor> {
    let plain = t.argmax(d)?;
    if !t.dtype().is_float() {
        return Ok(plain);
    }
    let nan = t.ne(t)?;
    let has_nan = nan.max(d)?;
    has_nan.where_cond(&nan.argmax(d)?, &plain)
}

/// An integer tensor as float32, as torch's float-valued unary ops (`exp`, `sqrt`, ...) take
/// integer inputs; floating-point tensors unchanged.
fn floating(t: &Tensor) -> candle_core::Result<Tensor> {
    if t.dtype().is_float() {
        Ok(t.clone())
    } else {
        t.to_dtype(DType::F32)
    }
}

/// `-t`: candle negates floating point only; integers are `0 - t`, which wraps for uint8 as in
/// torch.
pub(crate) fn negate(t: &Tensor) -> candle_core::Result<Tensor> {
    if t.dtype().is_float() {
        t.neg()
    } else {
        t.zeros_like()?.sub(t)
    }
}

/// `t ** e` for an integer tensor and a non-negative integer `e`, by repeated squaring (exact,
/// wrapping on overflow as torch's integer pow does).
fn int_pow(t: &Tensor, mut e: u64) -> candle_core::Result<Tensor> {
    let mut result = t.ones_like()?;
    let mut base = t.clone();
    while e > 0 {
        if e & 1 == 1 {
            result = result.mul(&base)?;
        }
        e >>= 1;
        if e > 0 {
            base = base.mul(&base)?;
        }
    }
    Ok(result)
}

/// Refuse a floating-point-only op (softmax, gelu) on an integer tensor, as torch does.
fn require_float(t: &Tensor, op: &str) -> PyResult<()> {
    if t.dtype().is_float() {
        return Ok(());
    }
    Err(PyTypeError::new_err(format!(
        "{op} needs a floating-point tensor, got {}; convert with .float() first",
        crate::dtype::name(t.dtype())
    )))
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
            Some(v) if v.inner.dtype() != self.inner.dtype() => {
                return Err(PyTypeError::new_err(format!(
                    "assigned grad has dtype {} but the tensor has dtype {}; convert it with \
                     .to(\"{}\") first",
                    crate::dtype::name(v.inner.dtype()),
                    crate::dtype::name(self.inner.dtype()),
                    crate::dtype::name(self.inner.dtype())
                )))
            }
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
        let mut out = PyTensor::new(self.inner.detach(), self.readonly).rules_of(self);
        out.stepped_copy = self.stepped_copy;
        out
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
            let v = run(py, move || cast(&t, DType::F64)?.to_vec1::<f64>())?[0];
            Ok(v.into_pyobject(py)?.into_any())
        } else {
            let v = run(py, move || cast(&t, DType::I64)?.to_vec1::<i64>())?[0];
            Ok(v.into_pyobject(py)?.into_any())
        }
    }

    /// `float(t)`: the value of a one-element tensor (as `t.item()`), as a float.
    fn __float__(&self, py: Python<'_>) -> PyResult<f64> {
        self.item(py)?.extract::<f64>()
    }

    /// `int(t)`: the value of a one-element tensor; floats truncate toward zero as `int(2.7)`,
    /// and NaN or infinity raise as Python's `int` does.
    fn __int__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self.item(py)?;
        py.get_type::<pyo3::types::PyInt>().call1((v,))
    }

    /// `operator.index(t)`: a one-element integer (or bool) tensor used as an index
    /// (`xs[t]`, `range(t)`), as in torch; float tensors are refused.
    fn __index__(&self, py: Python<'_>) -> PyResult<i64> {
        if self.inner.dtype().is_float() || self.inner.elem_count() != 1 {
            return Err(PyTypeError::new_err(format!(
                "only integer tensors of a single element can be converted to an index; this \
                 one is {} with shape {:?} (use int(t) to truncate a float, or index it first)",
                crate::dtype::name(self.inner.dtype()),
                self.inner.dims()
            )));
        }
        self.item(py)?.extract::<i64>()
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
                // norm_axis lets a 0-d tensor's reductions name dim 0, as torch; size has no
                // dimension to report
                let d = norm_axis(d, self.inner.rank())?;
                let n = self.inner.dims().get(d).copied().ok_or_else(|| {
                    pyo3::exceptions::PyIndexError::new_err(format!(
                        "dimension {d} out of range: the tensor is 0-d (it has no dimensions)"
                    ))
                })?;
                Ok(n.into_pyobject(py)?.into_any())
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

    /// `t.relu()`: `max(t, 0)` elementwise, a new tensor in the tensor's dtype (integers too).
    /// Floats follow torch: NaN stays NaN and the gradient at 0 is 0 (the engine's
    /// `train::linear::relu`, which the fused `Linear`+`ReLU` also follows).
    fn relu(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, |t| if t.dtype().is_float() { candle_numpy::train::linear::relu(t) } else { t.relu() })
    }
    /// Integer inputs give float32 (as torch), here and in `tanh`, `exp`, `log`, `sqrt`.
    fn sigmoid(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, |t| candle_nn::ops::sigmoid(&floating(t)?))
    }
    /// `t.tanh()`: hyperbolic tangent elementwise, a new tensor; integer inputs give float32.
    fn tanh(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, |t| floating(t)?.tanh())
    }
    /// GELU; `approximate="tanh"` (torch's option) uses the tanh form, the default the exact erf.
    #[pyo3(signature = (approximate="none"))]
    fn gelu(&self, py: Python<'_>, approximate: &str) -> PyResult<PyTensor> {
        require_float(&self.inner, "gelu")?;
        match approximate {
            "none" => self.unary(py, Tensor::gelu_erf),
            "tanh" => self.unary(py, Tensor::gelu),
            other => {
                Err(PyValueError::new_err(format!("approximate must be 'none' or 'tanh', got {other:?}")))
            }
        }
    }
    /// `t.exp()`: `e ** t` elementwise, a new tensor; integer inputs give float32.
    fn exp(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, |t| floating(t)?.exp())
    }
    /// `t.log()`: natural logarithm elementwise, a new tensor; integer inputs give float32.
    fn log(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, |t| floating(t)?.log())
    }
    /// `t.abs()` (also `abs(t)`): absolute value elementwise, a new tensor in the tensor's
    /// dtype (integers too).
    fn abs(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, Tensor::abs)
    }
    /// `t.sqrt()`: square root elementwise, a new tensor; integer inputs give float32.
    fn sqrt(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, |t| floating(t)?.sqrt())
    }
    /// `t * t`, in the tensor's dtype (integers too).
    fn square(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.unary(py, |t| if t.dtype().is_float() { t.sqr() } else { t.mul(t) })
    }
    fn __abs__(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.abs(py)
    }

    /// `t ** e` for a Python number `e`. As torch: an integer tensor to a non-negative Python
    /// int stays integer (exact, wrapping on overflow), to a negative one is refused, and to a
    /// float gives float32.
    fn pow(&self, py: Python<'_>, exponent: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let e = match operand(exponent) {
            Ok(Operand::Scalar(e)) => e,
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "pow takes a Python int or float exponent, got {}",
                    exponent.get_type().name()?
                )))
            }
        };
        let int_exponent = match e {
            Scalar::Bool(b) => Some(b as i64),
            Scalar::Int(i) => Some(i),
            Scalar::Float(_) => None,
        };
        if !self.inner.dtype().is_float() {
            match int_exponent {
                Some(i) if i < 0 => {
                    return Err(PyValueError::new_err(format!(
                        "integers to negative integer powers are not allowed (as in torch): this \
                         tensor is {}; use t.float() ** {i}",
                        crate::dtype::name(self.inner.dtype())
                    )))
                }
                Some(i) => return self.unary(py, move |t| int_pow(t, i as u64)),
                None => {}
            }
        }
        let e = match e {
            Scalar::Float(f) => f,
            _ => int_exponent.unwrap_or_default() as f64,
        };
        match e {
            1.0 => self.unary(py, floating),
            2.0 => self.unary(py, |t| floating(t)?.sqr()),
            0.5 => self.unary(py, |t| floating(t)?.sqrt()),
            e => self.unary(py, move |t| floating(t)?.powf(e)),
        }
    }
    fn __pow__(
        &self,
        py: Python<'_>,
        exponent: &Bound<'_, PyAny>,
        modulo: Option<Py<PyAny>>,
    ) -> PyResult<PyTensor> {
        if modulo.is_some() {
            return Err(PyTypeError::new_err("pow() with a modulus is not supported for tensors"));
        }
        self.pow(py, exponent)
    }

    /// Softmax along `dim` (default the last).
    #[pyo3(signature = (dim=-1))]
    fn softmax(&self, py: Python<'_>, dim: i64) -> PyResult<PyTensor> {
        require_float(&self.inner, "softmax")?;
        let d = norm_axis(dim, self.inner.rank())?;
        self.unary(py, move |t| candle_nn::ops::softmax(t, d))
    }
    /// Log-softmax along `dim` (default the last), computed stably.
    #[pyo3(signature = (dim=-1))]
    fn log_softmax(&self, py: Python<'_>, dim: i64) -> PyResult<PyTensor> {
        require_float(&self.inner, "log_softmax")?;
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

    /// Sum of all elements, or along `dim`, as torch: integer tensors sum in and give int64;
    /// float16/bfloat16 accumulate in float32 and give their own dtype.
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn sum(&self, py: Python<'_>, dim: Option<i64>, keepdim: bool) -> PyResult<PyTensor> {
        let d = dim.map(|d| norm_axis(d, self.inner.rank())).transpose()?;
        self.unary(py, move |t| reduce(t, d, keepdim, false))
    }
    /// Mean of all elements, or along `dim`: float16/bfloat16 accumulate in float32 and give
    /// their own dtype; integer tensors (which torch refuses) give float32.
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
            let (t, d) = match d {
                None => (t.flatten_all()?, 0),
                Some(d) => (t.clone(), d),
            };
            let r = argmax_nan_first(&t, d)?;
            let r = if keepdim && dim.is_some() { r.unsqueeze(d)? } else { r };
            r.to_dtype(DType::I64)
        })
    }

    /// `bool(t)`: the truth of a one-element tensor (NaN is true); more elements are ambiguous,
    /// as in torch and NumPy.
    fn __bool__(&self, py: Python<'_>) -> PyResult<bool> {
        let n = self.inner.elem_count();
        if n != 1 {
            return Err(PyValueError::new_err(format!(
                "the truth value of a tensor with {n} elements is ambiguous; compare or reduce \
                 it first (e.g. bool((t != 0).sum()))"
            )));
        }
        let t = self.inner.clone();
        let v = run(py, move || cast(&t.flatten_all()?, DType::F64)?.to_vec1::<f64>())?[0];
        Ok(v != 0.0)
    }

    /// Remove size-1 dimensions (all, or just `dim`; a `dim` of another size is left alone, as
    /// in torch).
    #[pyo3(signature = (dim=None))]
    fn squeeze(&self, py: Python<'_>, dim: Option<i64>) -> PyResult<PyTensor> {
        let t = &self.inner;
        let out = match dim {
            Some(d) => {
                let d = norm_axis(d, t.rank())?;
                // a 0-d tensor has no dimension to remove (torch returns it as is)
                if t.dims().get(d) == Some(&1) {
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
        detach(py, move || candle_numpy::inplace::fill(&t, 0.0)).map_err(|e| to_pyerr(py, e))?;
        Ok(slf)
    }

    /// Elementwise comparisons give uint8 masks (candle has no bool dtype): `(p > 0.5).float()`.
    pub(crate) fn __richcmp__(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let tf = self.tf_rules_with(other);
        let Ok(o) = operand(other) else {
            return Ok(py.NotImplemented());
        };
        let dtype = op_dtype(&self.inner, &o, false, tf)?;
        let t = self.inner.clone();
        let out = run(py, move || {
            let (t, o) = operands(&t, &o, dtype)?;
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
        let mut mask = PyTensor::new(out, false);
        mask.tf_rules = tf;
        Ok(Py::new(py, mask)?.into_any())
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
        PyTensor::new(autograd::record(t), false).rules_of(self)
    }

    fn view_result(&self, t: Tensor) -> PyTensor {
        let ro = self.readonly;
        let mut out = PyTensor::new(autograd::record(t), ro).rules_of(self);
        out.stepped_copy = self.stepped_copy;
        out
    }

    fn unary(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&Tensor) -> candle_core::Result<Tensor> + Send,
    ) -> PyResult<PyTensor> {
        refuse_float8(&self.inner)?;
        let t = self.inner.clone();
        Ok(self.result(run(py, move || f(&t))?))
    }
}

/// float8 tensors hold and convert values; candle (like torch) has no math kernels for them.
pub(crate) fn refuse_float8(t: &Tensor) -> PyResult<()> {
    if t.dtype() != DType::F8E4M3 {
        return Ok(());
    }
    Err(PyTypeError::new_err(
        "float8_e4m3fn tensors support conversions only (as in torch); convert with .float() \
         first and back with .to(\"float8_e4m3fn\")",
    ))
}
