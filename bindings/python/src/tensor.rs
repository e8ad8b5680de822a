//! `candle_numpy.Tensor`: a candle tensor with torch's Python surface.
//!
//! `.numpy()` and `np.asarray(t)` view the tensor's memory (no copy) on the CPU; in-place
//! methods (`add_`, `mul_`, `fill_`, `copy_`, `+=`, ...) write into the tensor's own storage,
//! so they are visible through NumPy arrays that share it, as in torch.

use candle_core::{DType, Device, Tensor};
use candle_numpy::python::detach;
use candle_numpy::python::{drop_then_release, tensor_to_numpy, to_pyerr};
use candle_numpy::{inplace, Error, Sharing};
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::autograd::{self, GradSlot};
use crate::convert::parse_device;
use crate::promote::{can_cast, result_type, scalar_tensor, tf_result_type, Other, Scalar};
use candle_numpy::dtype::cast;
use std::sync::Arc;

/// A candle tensor. Create one with `cn.from_numpy`, `cn.tensor`, `cn.as_tensor` or
/// `cn.to_tensor`.
#[pyclass(module = "candle_numpy", name = "Tensor", weakref)]
pub struct PyTensor {
    pub inner: Tensor,
    /// The tensor was made read-only by its source although its storage is not read-only
    /// memory (a read-only NumPy view of another tensor's memory); carried to views of it.
    /// Read-only storage (read-only arrays and maps shared without a copy) and broadcasts are
    /// not recorded here but read off the tensor itself: see [`PyTensor::read_only`].
    pub readonly: bool,
    /// The gradient slot when this tensor is a leaf variable (see `autograd`).
    pub grad: Option<Arc<GradSlot>>,
    /// Made by the tf facade (`cn.tf.constant`, ...) or computed from such a tensor: its
    /// arithmetic follows TensorFlow's rule (no implicit promotion) instead of torch's.
    pub tf_rules: bool,
    /// Gathered by a slice with a step above one (`t[::2]`): a copy where torch has a view.
    /// Writes through it (and through views of it) are refused, since in torch they would
    /// reach the original; its NumPy exports are read-only for the same reason.
    pub stepped_copy: bool,
}

impl Drop for PyTensor {
    fn drop(&mut self) {
        // Dropping the tensor may park a Python owner (a shared array's root); we hold the GIL
        // here (tp_dealloc), so release it now rather than later.
        let t = std::mem::replace(&mut self.inner, placeholder());
        if let Some(slot) = self.grad.take() {
            autograd::release(&t, slot);
        }
        // tp_dealloc runs attached; `try_attach` (not `attach`) so that a drop elsewhere during
        // interpreter shutdown is a plain drop rather than a panic (the closure, and `t` in it,
        // is dropped unrun then)
        let _ = Python::try_attach(|py| drop_then_release(py, t));
    }
}

/// What a dropped wrapper's `inner` is swapped for: one shared 0-d tensor, cloned (a reference
/// count), so that a drop allocates nothing.
fn placeholder() -> Tensor {
    static PLACEHOLDER: std::sync::OnceLock<Tensor> = std::sync::OnceLock::new();
    PLACEHOLDER.get_or_init(|| Tensor::zeros((), DType::U8, &Device::Cpu).expect("a 0-d CPU tensor")).clone()
}

impl PyTensor {
    /// NumPy-style dtype name, e.g. "float32".
    pub(crate) fn dtype(&self) -> &'static str {
        crate::dtype::name(self.inner.dtype())
    }

    pub fn new(inner: Tensor, readonly: bool) -> Self {
        let grad = inner.is_variable().then(|| autograd::slot_for(&inner));
        PyTensor { inner, readonly, grad, tf_rules: false, stepped_copy: false }
    }

    /// Point this object at another tensor (`requires_grad` changes), releasing the old leaf.
    pub fn replace(&mut self, inner: Tensor, readonly: bool) {
        let tf_rules = self.tf_rules;
        let old = std::mem::replace(self, PyTensor::new(inner, readonly));
        self.tf_rules = tf_rules;
        drop(old);
    }

    pub(crate) fn derived(&self, t: Tensor) -> PyTensor {
        // views of a read-only tensor stay read-only; fresh results are writable
        let shares = same_storage(&t, &self.inner);
        let mut out = PyTensor::new(autograd::record(t), self.readonly && shares).rules_of(self);
        out.stepped_copy = self.stepped_copy && shares;
        out
    }

    /// This tensor with `from`'s arithmetic rules (torch's, or TF's for tf-facade tensors).
    pub(crate) fn rules_of(mut self, from: &PyTensor) -> PyTensor {
        self.tf_rules = from.tf_rules;
        self
    }

    /// Whether `self <op> other` follows TF's rule: either side came from the tf facade.
    pub(crate) fn tf_rules_with(&self, other: &Bound<'_, PyAny>) -> bool {
        self.tf_rules || other.cast::<PyTensor>().is_ok_and(|o| o.borrow().tf_rules)
    }

    /// Whether writes through this tensor are refused: its storage is read-only memory (asked
    /// of the adopting allocator's registry, so every view, row or element over that storage
    /// answers the same however it was made), it is a broadcast, or its source made it
    /// read-only (`readonly`).
    pub(crate) fn read_only(&self) -> bool {
        self.readonly || self.stepped_copy || candle_numpy::export::is_read_only(&self.inner)
    }

    pub(crate) fn check_writable(&self, op: &'static str) -> PyResult<()> {
        if self.inner.is_variable() && autograd::is_grad_enabled() {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "{op}: a leaf tensor that requires grad is being used in an in-place operation; \
                 wrap the update in `with cn.torch.no_grad():` (as optimizers do)"
            )));
        }
        if self.stepped_copy {
            return Err(PyValueError::new_err(format!(
                "{op}: this tensor is a copy made by a slice with a step above one (t[::2]), \
                 where torch has a view of the original; candle cannot express that view, so \
                 the write is refused rather than reaching only the copy. Write into the \
                 original through NumPy (t.numpy()[::2] += 1), or into a copy of your own \
                 (y = t[::2].clone())"
            )));
        }
        if self.read_only() {
            return Err(
                Error::ReadOnly { operation: op, fix: candle_numpy::error::Fix::WriteIntoCopy }.into()
            );
        }
        Ok(())
    }
}

fn same_storage(a: &Tensor, b: &Tensor) -> bool {
    match (candle_numpy::export::storage_range(a), candle_numpy::export::storage_range(b)) {
        (Ok((x, _)), Ok((y, _))) => x == y,
        _ => false,
    }
}

fn err(py: Python<'_>, e: candle_core::Error) -> PyErr {
    to_pyerr(py, e.into())
}

/// Run candle work with the GIL released, mapping errors to Python exceptions.
pub(crate) fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> candle_core::Result<T> + Send) -> PyResult<T> {
    detach(py, f).map_err(|e| err(py, e))
}

/// NumPy's `__array__(dtype, copy)` protocol over a zero-copy view: cast when a dtype is asked
/// for, copy when `copy=True`, else the view itself.
pub fn array_protocol<'py>(
    view: Bound<'py, PyAny>,
    dtype: Option<&Bound<'py, PyAny>>,
    copy: Option<bool>,
) -> PyResult<Bound<'py, PyAny>> {
    let arr = match dtype {
        Some(d) if !d.is_none() => view.call_method1("astype", (d,))?,
        _ => view,
    };
    if copy == Some(true) {
        return arr.call_method0("copy");
    }
    Ok(arr)
}

/// A scalar or tensor operand of arithmetic.
pub(crate) enum Operand {
    Scalar(Scalar),
    Tensor(Tensor),
}

impl Operand {
    fn for_typing(&self) -> Other<'_> {
        match self {
            Operand::Scalar(x) => Other::Scalar(*x),
            Operand::Tensor(t) => Other::Tensor(t),
        }
    }
}

pub(crate) fn operand(other: &Bound<'_, PyAny>) -> PyResult<Operand> {
    // Python numbers only: a one-element array would also extract as f64 (with NumPy's
    // deprecation warning), but is a tensor operand. bool before int (bool is an int).
    if other.is_instance_of::<pyo3::types::PyBool>() {
        return Ok(Operand::Scalar(Scalar::Bool(other.extract::<bool>()?)));
    }
    if other.is_instance_of::<pyo3::types::PyInt>() {
        let v = other.extract::<i64>().map_err(|_| {
            pyo3::exceptions::PyOverflowError::new_err(format!(
                "the Python int {other} does not fit in int64, the widest integer a tensor holds"
            ))
        })?;
        return Ok(Operand::Scalar(Scalar::Int(v)));
    }
    if other.is_instance_of::<pyo3::types::PyFloat>() {
        return Ok(Operand::Scalar(Scalar::Float(other.extract::<f64>()?)));
    }
    // tensors, and arrays and lists (shared or copied into a tensor)
    Ok(Operand::Tensor(crate::convert::tensor_arg(other)?))
}

/// The dtype `t <op> other` computes in and returns: torch's result type, floating point for
/// true division; under `tf_rules`, TensorFlow's (no implicit promotion).
pub(crate) fn op_dtype(t: &Tensor, other: &Operand, div: bool, tf_rules: bool) -> PyResult<DType> {
    if tf_rules {
        return tf_result_type(t, &other.for_typing(), div);
    }
    let d = result_type(t, &other.for_typing())?;
    Ok(if div && !d.is_float() { DType::F32 } else { d })
}

/// Both operands in `dtype`, on `t`'s device.
pub(crate) fn operands(t: &Tensor, other: &Operand, dtype: DType) -> candle_core::Result<(Tensor, Tensor)> {
    let a = cast(t, dtype)?;
    let b = match other {
        Operand::Scalar(x) => scalar_tensor(*x, dtype, t.device())?,
        Operand::Tensor(o) => {
            let o = cast(o, dtype)?;
            if o.device().same_device(t.device()) {
                o
            } else {
                o.to_device(t.device())?
            }
        }
    };
    Ok((a, b))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
        }
    }
}

fn apply(t: &Tensor, other: &Operand, op: Op, reflected: bool, dtype: DType) -> candle_core::Result<Tensor> {
    let (a, b) = operands(t, other, dtype)?;
    let (a, b) = if reflected { (&b, &a) } else { (&a, &b) };
    match op {
        Op::Add => a.broadcast_add(b),
        Op::Sub => a.broadcast_sub(b),
        Op::Mul => a.broadcast_mul(b),
        Op::Div => a.broadcast_div(b),
    }
}

pub(crate) fn dims_arg(args: &Bound<'_, PyTuple>) -> PyResult<Vec<i64>> {
    if args.len() == 1 {
        let first = args.get_item(0)?;
        if let Ok(v) = first.extract::<Vec<i64>>() {
            return Ok(v);
        }
    }
    args.extract::<Vec<i64>>()
}

pub(crate) fn norm_axis(axis: i64, rank: usize) -> PyResult<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) {
        return Err(PyIndexError::new_err(format!(
            "dimension {axis} out of range for a tensor of rank {rank}"
        )));
    }
    Ok(a as usize)
}

#[pymethods]
impl PyTensor {
    /// `Tensor(data)` is a float32 copy of `data`; `Tensor(2, 3)` a float32 tensor of that
    /// shape (zeros: torch leaves it uninitialised); `Tensor()` an empty float32 tensor. The
    /// legacy `torch.Tensor` constructor, so `cn.torch.Tensor` can be this class itself
    /// (`isinstance(x, cn.torch.Tensor)`).
    #[new]
    #[pyo3(signature = (*args))]
    fn py_new(py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        let sizes = args
            .iter()
            .all(|a| a.is_instance_of::<pyo3::types::PyInt>() && !a.is_instance_of::<pyo3::types::PyBool>());
        if args.is_empty() || sizes {
            let shape = if args.is_empty() { PyTuple::new(py, [0usize])? } else { args.clone() };
            // NumPy's zeros come from zeroed pages (calloc), are shared rather than copied, and
            // a negative or impossible size is NumPy's ValueError or MemoryError
            let zeros = py.import("numpy")?.call_method1("zeros", (shape, "float32"))?;
            return crate::convert::convert(&zeros, Sharing::Auto, None, None);
        }
        if args.len() == 1 {
            let float32 = pyo3::types::PyString::new(py, "float32");
            return crate::convert::convert(&args.get_item(0)?, Sharing::Copy, Some(float32.as_any()), None);
        }
        Err(PyTypeError::new_err(format!(
            "Tensor() takes one data argument (Tensor([[1, 2], [3, 4]])) or integer sizes \
             (Tensor(2, 3)), got {} arguments that are not all ints",
            args.len()
        )))
    }

    /// Shape as a tuple.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.inner.dims())
    }

    /// The dtype: a `str` subclass equal to its NumPy-style name ("float32") with torch's
    /// attributes (`is_floating_point`, `itemsize`, ...).
    #[getter(dtype)]
    fn dtype_object(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        crate::dtype::object(py, self.inner.dtype())
    }

    /// "cpu" or "cuda:N".
    #[getter]
    pub(crate) fn device(&self) -> String {
        candle_numpy::device::device_name(self.inner.device())
    }

    /// Number of dimensions, `len(t.shape)` (0 for a 0-d tensor).
    #[getter]
    fn ndim(&self) -> usize {
        self.inner.rank()
    }

    /// Whether this tensor shares read-only memory (in-place writes are refused).
    #[getter]
    fn is_readonly(&self) -> bool {
        self.read_only()
    }

    /// Whether arithmetic follows TensorFlow's rule (set by the tf facade's constructors).
    #[getter(_tf_rules)]
    fn get_tf_rules(&self) -> bool {
        self.tf_rules
    }
    #[setter(_tf_rules)]
    fn set_tf_rules(&mut self, value: bool) {
        self.tf_rules = value;
    }

    fn __len__(&self) -> PyResult<usize> {
        self.inner.dims().first().copied().ok_or_else(|| PyTypeError::new_err("len() of a 0-d tensor"))
    }

    /// A NumPy array viewing this tensor's memory (no copy). Writable unless the tensor is
    /// read-only or broadcast. A CUDA tensor raises unless `force=True`, which copies to host.
    #[pyo3(signature = (force=false))]
    fn numpy<'py>(&self, py: Python<'py>, force: bool) -> PyResult<Bound<'py, PyAny>> {
        if self.inner.device().is_cpu() {
            return tensor_to_numpy(py, &self.inner, self.read_only());
        }
        if !force {
            return Err(Error::NotOnCpu {
                operation: "Tensor.numpy() (pass force=True to copy to host)",
                device: self.device(),
            }
            .into());
        }
        let t = self.inner.clone();
        let host = run(py, move || t.to_device(&Device::Cpu))?;
        tensor_to_numpy(py, &host, false)
    }

    #[pyo3(signature = (dtype=None, copy=None))]
    fn __array__<'py>(
        &self,
        py: Python<'py>,
        dtype: Option<&Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        array_protocol(self.numpy(py, false)?, dtype, copy)
    }

    /// NumPy functions and NumPy operands on the left give tensors, as torch's do.
    ///
    /// - The arithmetic and comparison ufuncs with a tensor operand (`a * t`, `np.float32(2) *
    ///   t`, `a == t`, `np.add(a, t)`) run as tensor arithmetic (`t.__rmul__(a)`, ...): torch's
    ///   type promotion, and the gradient kept.
    /// - Every other ufunc (`np.sin(t)`, `np.maximum(t, 0)`, `np.add.reduce(t)`) runs in NumPy
    ///   on views of the tensors' memory (CPU) and its array result is shared as a tensor, no
    ///   copy; as in torch, an operand that requires grad is refused (NumPy cannot record it).
    /// - `out=` tensors are written in place (and returned), through the same views.
    #[pyo3(signature = (ufunc, method, *inputs, **kwargs))]
    fn __array_ufunc__<'py>(
        slf: &Bound<'py, Self>,
        ufunc: &Bound<'py, PyAny>,
        method: &str,
        inputs: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, pyo3::types::PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let is_tensor = |x: &Bound<'py, PyAny>| x.cast::<PyTensor>().is_ok();
        let kwargs_empty = kwargs.is_none_or(|k| k.is_empty());
        if method == "__call__" && kwargs_empty && inputs.len() == 2 {
            let name: String = ufunc.getattr("__name__")?.extract()?;
            // (tensor on the left, tensor on the right only)
            let ops = match name.as_str() {
                "add" => Some(("__add__", "__radd__")),
                "subtract" => Some(("__sub__", "__rsub__")),
                "multiply" => Some(("__mul__", "__rmul__")),
                "true_divide" | "divide" => Some(("__truediv__", "__rtruediv__")),
                "matmul" => Some(("__matmul__", "__rmatmul__")),
                "equal" => Some(("__eq__", "__eq__")),
                "not_equal" => Some(("__ne__", "__ne__")),
                "less" => Some(("__lt__", "__gt__")),
                "less_equal" => Some(("__le__", "__ge__")),
                "greater" => Some(("__gt__", "__lt__")),
                "greater_equal" => Some(("__ge__", "__le__")),
                _ => None,
            };
            if let Some((left, right)) = ops {
                let (a, b) = (inputs.get_item(0)?, inputs.get_item(1)?);
                let out =
                    if is_tensor(&a) { a.call_method1(left, (b,)) } else { b.call_method1(right, (a,)) };
                match out {
                    Ok(r) if !r.is(py.NotImplemented().bind(py)) => return Ok(r),
                    Ok(_) => {}
                    // a right operand arithmetic cannot take (e.g. an ndarray for matmul)
                    Err(e) if e.is_instance_of::<PyTypeError>(py) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let to_numpy = |x: Bound<'py, PyAny>, write: bool| -> PyResult<Bound<'py, PyAny>> {
            let Ok(t) = x.cast::<PyTensor>() else { return Ok(x) };
            let t = t.borrow();
            if t.inner.track_op() {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "can't apply the NumPy function {} to a tensor that requires grad (NumPy \
                     cannot record it for backward); use t.detach(), or the tensor's own method",
                    ufunc.repr().map(|r| r.to_string()).unwrap_or_default()
                )));
            }
            if write {
                t.check_writable("a NumPy function's out=")?;
            }
            t.numpy(py, false)
        };
        let args = inputs.iter().map(|x| to_numpy(x, false)).collect::<PyResult<Vec<_>>>()?;
        let call_kwargs = pyo3::types::PyDict::new(py);
        let mut outs: Option<Bound<'py, PyTuple>> = None;
        if let Some(k) = kwargs {
            for (key, value) in k.iter() {
                if key.extract::<String>().is_ok_and(|s| s == "out") {
                    let given = match value.cast::<PyTuple>() {
                        Ok(t) => t.clone(),
                        Err(_) => PyTuple::new(py, [value.clone()])?,
                    };
                    let views = given.iter().map(|x| to_numpy(x, true)).collect::<PyResult<Vec<_>>>()?;
                    call_kwargs.set_item(key, PyTuple::new(py, views)?)?;
                    outs = Some(given);
                } else {
                    call_kwargs.set_item(key, value)?;
                }
            }
        }
        let result = ufunc.getattr(method)?.call(PyTuple::new(py, args)?, Some(&call_kwargs))?;
        if let Some(given) = outs {
            return Ok(if given.len() == 1 { given.get_item(0)? } else { given.into_any() });
        }
        let wrap = |r: Bound<'py, PyAny>| -> PyResult<Bound<'py, PyAny>> {
            if r.cast::<numpy::PyUntypedArray>().is_ok() {
                let t = crate::convert::convert(&r, Sharing::Auto, None, None)?;
                return Ok(Bound::new(py, t)?.into_any());
            }
            // a NumPy scalar (the ufunc of 0-d operands, a reduction): a 0-d tensor, as torch's
            if r.is_instance(&py.import("numpy")?.getattr("generic")?)? {
                let t = crate::convert::convert(&r, Sharing::Copy, None, None)?;
                return Ok(Bound::new(py, t)?.into_any());
            }
            Ok(r)
        };
        match result.cast::<PyTuple>() {
            Ok(parts) => {
                Ok(PyTuple::new(py, parts.iter().map(wrap).collect::<PyResult<Vec<_>>>()?)?.into_any())
            }
            Err(_) => wrap(result),
        }
    }

    /// Nested Python lists of Python numbers.
    fn tolist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let arr = self.numpy(py, true)?;
        arr.call_method0("tolist")
    }

    /// A copy (or view, when nothing changes) on another device and/or dtype:
    /// `t.to("cuda")`, `t.to("float16")`, `t.to(np.float32)`.
    #[pyo3(signature = (*args, dtype=None, device=None))]
    fn to(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        dtype: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTensor> {
        let mut want_dtype = dtype.filter(|d| !d.is_none()).map(crate::dtype::parse).transpose()?;
        let mut want_device = device.filter(|d| !d.is_none()).map(|d| parse_device(Some(d))).transpose()?;
        for a in args.iter() {
            if let Ok(s) = a.extract::<String>() {
                if candle_numpy::device::parse_location(&s).is_ok() {
                    want_device = Some(parse_device(Some(&a))?);
                    continue;
                }
            }
            want_dtype = Some(crate::dtype::parse(&a)?);
        }
        let t = self.inner.clone();
        let out = run(py, move || {
            let mut out = t;
            if let Some(d) = want_dtype {
                out = cast(&out, d)?;
            }
            if let Some(dev) = want_device {
                if !out.device().same_device(&dev) {
                    out = out.to_device(&dev)?;
                }
            }
            Ok(out)
        })?;
        Ok(self.derived(out))
    }

    /// `t.cpu()`: this tensor on the CPU. A CPU tensor comes back sharing its memory (no
    /// copy); a CUDA tensor is copied to host memory.
    fn cpu(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = self.inner.clone();
        Ok(self.derived(run(py, move || t.to_device(&Device::Cpu))?))
    }

    /// `t.cuda(device=None)`: this tensor on CUDA device `device` (an int, default 0): a copy,
    /// or the same memory when it is on that device already. Raises `cn.DeviceError` when
    /// this build has no CUDA or the device cannot be opened.
    #[pyo3(signature = (device=None))]
    fn cuda(&self, py: Python<'_>, device: Option<usize>) -> PyResult<PyTensor> {
        let dev = candle_numpy::device::parse(&format!("cuda:{}", device.unwrap_or(0)))?;
        let t = self.inner.clone();
        Ok(self.derived(run(py, move || t.to_device(&dev))?))
    }

    /// `t.float()` is `t.to("float32")`: a converted copy (kept in the autograd graph), or
    /// this tensor's memory, shared without a copy, when it is float32 already.
    fn float(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.cast(py, DType::F32)
    }
    /// `t.double()` is `t.to("float64")`: a converted copy, or shared memory when the
    /// tensor is float64 already.
    fn double(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.cast(py, DType::F64)
    }
    /// `t.half()` is `t.to("float16")`: a converted copy, or shared memory when the tensor
    /// is float16 already.
    fn half(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.cast(py, DType::F16)
    }
    /// `t.bfloat16()` is `t.to("bfloat16")`: a converted copy, or shared memory when the
    /// tensor is bfloat16 already.
    fn bfloat16(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.cast(py, DType::BF16)
    }
    /// `t.long()` is `t.to("int64")`: a converted copy (floats truncate toward zero), or
    /// shared memory when the tensor is int64 already.
    fn long(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.cast(py, DType::I64)
    }
    /// `t.int()` is `t.to("int32")`: a converted copy (floats truncate toward zero), or
    /// shared memory when the tensor is int32 already.
    fn int(&self, py: Python<'_>) -> PyResult<PyTensor> {
        self.cast(py, DType::I32)
    }

    /// An independent copy (writable even if this tensor is read-only).
    fn clone(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = self.inner.clone();
        // torch's clone stays in the graph (a copy whose gradient flows back); so does ours
        Ok(self.result(run(py, move || t.copy())?))
    }

    /// This tensor if C-contiguous, else a contiguous copy.
    fn contiguous(slf: PyRef<'_, Self>, py: Python<'_>) -> PyResult<Py<PyTensor>> {
        if slf.inner.is_contiguous() {
            return Ok(slf.into());
        }
        let t = slf.inner.clone();
        let out = run(py, move || t.contiguous())?;
        Py::new(py, slf.derived(out))
    }

    /// Whether the layout is C-contiguous (row-major, no gaps). Transposes, permutations and
    /// slices of part of each row (`t[:, 1:3]`) are not; `contiguous()` gives one that is.
    fn is_contiguous(&self) -> bool {
        self.inner.is_contiguous()
    }

    /// A view with the dimensions permuted.
    #[pyo3(signature = (*dims))]
    fn permute(&self, dims: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        let dims = dims_arg(dims)?;
        let rank = self.inner.rank();
        if dims.len() != rank {
            return Err(PyValueError::new_err(format!(
                "permute needs {rank} dimensions, got {}",
                dims.len()
            )));
        }
        let dims = dims.iter().map(|&d| norm_axis(d, rank)).collect::<PyResult<Vec<_>>>()?;
        let out = self.inner.permute(dims).map_err(|e| Python::attach(|py| err(py, e)))?;
        Ok(self.derived(out))
    }

    /// A view with a new shape when the layout allows, else a copy; one -1 is inferred.
    #[pyo3(signature = (*shape))]
    pub(crate) fn reshape(&self, py: Python<'_>, shape: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        let shape = dims_arg(shape)?;
        let n = self.inner.elem_count();
        let known: i64 = shape.iter().filter(|&&d| d != -1).product();
        let holes = shape.iter().filter(|&&d| d == -1).count();
        if holes > 1 || shape.iter().any(|&d| d < -1) || (holes == 1 && (known == 0 || n as i64 % known != 0))
        {
            return Err(PyValueError::new_err(format!(
                "cannot reshape a tensor of {n} elements into {shape:?}"
            )));
        }
        let dims: Vec<usize> =
            shape.iter().map(|&d| if d == -1 { n / known.max(1) as usize } else { d as usize }).collect();
        if dims.iter().product::<usize>() != n {
            return Err(PyValueError::new_err(format!(
                "cannot reshape a tensor of shape {:?} ({n} elements) into {dims:?}",
                self.inner.dims()
            )));
        }
        let t = self.inner.clone();
        Ok(self.derived(run(py, move || t.reshape(dims))?))
    }

    /// A view with two dimensions swapped.
    fn transpose(&self, dim0: i64, dim1: i64) -> PyResult<PyTensor> {
        let rank = self.inner.rank();
        let (a, b) = (norm_axis(dim0, rank)?, norm_axis(dim1, rank)?);
        let out = self.inner.transpose(a, b).map_err(|e| Python::attach(|py| err(py, e)))?;
        Ok(self.derived(out))
    }

    /// Transpose of a 2-D tensor (reversed dimensions in general), as a view.
    #[getter(T)]
    fn t_prop(&self) -> PyResult<PyTensor> {
        let dims: Vec<usize> = (0..self.inner.rank()).rev().collect();
        let out = self.inner.permute(dims).map_err(|e| Python::attach(|py| err(py, e)))?;
        Ok(self.derived(out))
    }

    /// `t[key]`: a view for integers and unit-step slices, a copy for stepped slices and
    /// advanced indexes (lists, integer arrays and tensors, boolean masks); see `index`.
    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        if crate::index::has_advanced(key) {
            return crate::index::advanced_get(py, self, key);
        }
        let (out, gathered) = crate::index::get(py, &self.inner, key)?;
        let mut out = self.derived(out);
        out.stepped_copy |= gathered;
        Ok(out)
    }

    /// `t[key] = value`: writes `value` (a number, array or tensor; broadcast and cast to
    /// this tensor's dtype) into the elements `t[key]` selects, in place, as torch does.
    /// Any key `__getitem__` takes: masks, index lists and stepped slices too (on the CPU).
    fn __setitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.check_writable("item assignment (t[...] = v)")?;
        if crate::index::needs_numpy_set(key)? {
            return crate::index::numpy_set(py, self, key, value);
        }
        let view = crate::index::view_for_write(py, &self.inner, key)?;
        let src = match operand(value)? {
            Operand::Tensor(t) => t,
            Operand::Scalar(x) => scalar_tensor(x, view.dtype(), view.device()).map_err(|e| err(py, e))?,
        };
        detach(py, move || inplace::assign(&view, &src)).map_err(|e| to_pyerr(py, e))
    }

    fn __add__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.arith(py, other, Op::Add, false)
    }
    fn __radd__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.arith(py, other, Op::Add, true)
    }
    fn __sub__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.arith(py, other, Op::Sub, false)
    }
    fn __rsub__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.arith(py, other, Op::Sub, true)
    }
    fn __mul__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.arith(py, other, Op::Mul, false)
    }
    fn __rmul__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.arith(py, other, Op::Mul, true)
    }
    fn __truediv__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.arith(py, other, Op::Div, false)
    }
    fn __rtruediv__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.arith(py, other, Op::Div, true)
    }
    fn __neg__(&self, py: Python<'_>) -> PyResult<PyTensor> {
        crate::ops::refuse_float8(&self.inner)?;
        let t = self.inner.clone();
        Ok(self.result(run(py, move || crate::ops::negate(&t))?))
    }

    fn __iadd__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.in_place(py, other, Op::Add, "+=")
    }
    fn __isub__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.in_place(py, other, Op::Sub, "-=")
    }
    fn __imul__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.in_place(py, other, Op::Mul, "*=")
    }
    fn __itruediv__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.in_place(py, other, Op::Div, "/=")
    }

    /// In place: `self += other`; returns self.
    fn add_(slf: PyRef<'_, Self>, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        slf.in_place(py, other, Op::Add, "add_")?;
        Ok(slf.into())
    }

    /// In place: `self *= other`; returns self.
    fn mul_(slf: PyRef<'_, Self>, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        slf.in_place(py, other, Op::Mul, "mul_")?;
        Ok(slf.into())
    }

    /// In place: set every element to `value`; returns self.
    fn fill_(slf: PyRef<'_, Self>, py: Python<'_>, value: f64) -> PyResult<Py<PyTensor>> {
        slf.check_writable("fill_")?;
        let t = slf.inner.clone();
        detach(py, move || inplace::fill(&t, value)).map_err(|e| to_pyerr(py, e))?;
        Ok(slf.into())
    }

    /// In place: copy `src` (broadcast and cast as needed) into self; returns self.
    fn copy_(slf: PyRef<'_, Self>, py: Python<'_>, src: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        slf.check_writable("copy_")?;
        let src = match operand(src)? {
            Operand::Tensor(t) => t,
            Operand::Scalar(x) => {
                scalar_tensor(x, slf.inner.dtype(), slf.inner.device()).map_err(|e| err(py, e))?
            }
        };
        let t = slf.inner.clone();
        detach(py, move || inplace::assign(&t, &src)).map_err(|e| to_pyerr(py, e))?;
        Ok(slf.into())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let body = match self.numpy(py, true) {
            Ok(arr) => {
                let np = py.import("numpy")?;
                np.call_method1("array2string", (arr,))?
                    .call_method1("replace", ("\n", "\n       "))?
                    .to_string()
            }
            Err(_) => format!("<{} values>", self.inner.elem_count()),
        };
        let mut extra = format!(", dtype={}", self.dtype());
        if !self.inner.device().is_cpu() {
            extra.push_str(&format!(", device='{}'", self.device()));
        }
        if self.inner.track_op() {
            extra.push_str(", requires_grad=True");
        }
        Ok(format!("tensor({body}{extra})"))
    }

    /// Nested-list view for `list(t)` on 1-D tensors and iteration over the first dimension.
    fn __iter__<'py>(slf: PyRef<'py, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let n = slf.__len__()?;
        let items = (0..n)
            .map(|i| {
                let row = slf.inner.get(i).map_err(|e| err(py, e))?;
                Py::new(py, slf.derived(row))
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)?.try_iter().map(|it| it.into_any())
    }

    /// A DLPack capsule viewing this tensor's memory (no copy), for `np.from_dlpack(t)`,
    /// `torch.from_dlpack(t)`, ...: versioned when `max_version >= (1, 0)` (read-only tensors
    /// are flagged read-only), legacy otherwise; `copy=True` exports a copy. CPU tensors only.
    #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
    fn __dlpack__<'py>(
        &self,
        py: Python<'py>,
        stream: Option<&Bound<'py, PyAny>>,
        max_version: Option<&Bound<'py, PyAny>>,
        dl_device: Option<&Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if self.inner.track_op() {
            let e = Error::DLPack {
                operation: "DLPack export",
                reason: "Can't export tensors that require gradient, use tensor.detach() (DLPack \
                         carries no autograd graph; torch refuses too)"
                    .into(),
            };
            return Err(to_pyerr(py, e));
        }
        let dlpack = candle_numpy::python::dlpack::tensor_dlpack;
        dlpack(py, &self.inner, self.read_only(), stream, max_version, dl_device, copy)
    }

    /// `(device_type, device_id)` as DLPack numbers devices: `(1, 0)` on the CPU, `(2, N)` on
    /// cuda:N.
    fn __dlpack_device__(&self) -> (i32, i32) {
        candle_numpy::python::dlpack::dlpack_device(&self.inner)
    }
}

impl PyTensor {
    pub(crate) fn cast(&self, py: Python<'_>, dtype: DType) -> PyResult<PyTensor> {
        if self.inner.dtype() == dtype {
            return Ok(self.derived(self.inner.clone()));
        }
        let t = self.inner.clone();
        Ok(self.result(run(py, move || cast(&t, dtype))?))
    }

    fn arith(&self, py: Python<'_>, other: &Bound<'_, PyAny>, op: Op, reflected: bool) -> PyResult<PyTensor> {
        let tf = self.tf_rules_with(other);
        let o = operand(other)?;
        let dtype = op_dtype(&self.inner, &o, op == Op::Div, tf)?;
        let t = self.inner.clone();
        let mut out = self.result(run(py, move || apply(&t, &o, op, reflected, dtype))?);
        out.tf_rules = tf;
        Ok(out)
    }

    fn in_place(&self, py: Python<'_>, other: &Bound<'_, PyAny>, op: Op, name: &'static str) -> PyResult<()> {
        self.check_writable(name)?;
        let tf = self.tf_rules_with(other);
        let o = operand(other)?;
        let dtype = op_dtype(&self.inner, &o, op == Op::Div, tf)?;
        if !can_cast(dtype, self.inner.dtype()) {
            return Err(PyTypeError::new_err(format!(
                "{name}: the result type {} can't be written into this {} tensor in place (as in \
                 torch); use the out-of-place form (t = t {} x) or convert first (t.float())",
                crate::dtype::name(dtype),
                crate::dtype::name(self.inner.dtype()),
                op.symbol(),
            )));
        }
        let t = self.inner.clone();
        detach(py, move || -> candle_numpy::Result<()> {
            let r = apply(&t, &o, op, false, dtype)?;
            if r.dims() != t.dims() {
                return Err(Error::ShapeMismatch {
                    operation: name,
                    detail: format!(
                        "the result has shape {:?} but the tensor written in place has shape {:?}",
                        r.dims(),
                        t.dims()
                    ),
                });
            }
            inplace::assign(&t, &r)
        })
        .map_err(|e| to_pyerr(py, e))
    }
}
