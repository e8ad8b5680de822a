//! The tensor basics a ported torch script meets first (issue 17, item 9): memory queries
//! (`dim`, `stride`, `storage_offset`, `element_size`, `itemsize`, `nbytes`, `data_ptr`,
//! `is_floating_point`, `type`), views (`t`, `narrow`), comparisons as methods (`eq`, `ne`,
//! `lt`, `le`, `gt`, `ge`), logical reductions (`all`, `any`, `logical_not`) and `diag`.
//!
//! candle has no bool dtype: what torch answers with a bool tensor (`eq`, `all`, `any`,
//! `logical_not`) is a uint8 tensor of 0 and 1 here, the same masks the comparison operators
//! give, which index, `bool()` and `.float()` as torch's bool tensors do.

use candle_core::{DType, Tensor};
use pyo3::exceptions::{PyIndexError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{IntoPyDict, PyTuple};

use crate::tensor::{norm_axis, run, PyTensor};

/// torch's legacy type name of a dtype (`t.type()`): `torch.FloatTensor`, ...
pub(crate) fn legacy_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "FloatTensor",
        DType::F64 => "DoubleTensor",
        DType::F16 => "HalfTensor",
        DType::BF16 => "BFloat16Tensor",
        DType::I64 => "LongTensor",
        DType::I32 => "IntTensor",
        DType::I16 => "ShortTensor",
        DType::U8 => "ByteTensor",
        DType::U32 => "UInt32Tensor",
        DType::F8E4M3 => "Float8_e4m3fnTensor",
        _ => "Tensor",
    }
}

/// The dtype a legacy type name stands for (`"torch.FloatTensor"`, `"torch.cuda.LongTensor"`).
fn legacy_dtype(name: &str) -> Option<DType> {
    let short = name.rsplit('.').next()?;
    [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I64,
        DType::I32,
        DType::I16,
        DType::U8,
        DType::U32,
        DType::F8E4M3,
    ]
    .into_iter()
    .find(|&d| legacy_name(d) == short)
}

/// A uint8 mask of `t <op> 0` (`t != 0` counts NaN as true, as in torch).
fn compare_zero(t: &Tensor, op: candle_core::op::CmpOp) -> candle_core::Result<Tensor> {
    t.cmp(&Tensor::zeros((), t.dtype(), t.device())?.broadcast_as(t.shape())?, op)
}

/// `all` (`any == false`) or `any` of `t`, over everything or along `dim`, as a uint8 tensor;
/// an empty reduction gives 1 for `all` and 0 for `any`, as in torch.
fn logical_reduce(t: &Tensor, dim: Option<usize>, keepdim: bool, any: bool) -> candle_core::Result<Tensor> {
    let mask = compare_zero(t, candle_core::op::CmpOp::Ne)?;
    let (mask, d) = match dim {
        None => (mask.flatten_all()?, 0),
        Some(d) => (mask, d),
    };
    let out = if mask.dims()[d] == 0 {
        let mut dims = mask.dims().to_vec();
        dims.remove(d);
        let fill = if any { 0u8 } else { 1 };
        Tensor::full(fill, dims, mask.device())?
    } else if any {
        mask.max(d)?
    } else {
        mask.min(d)?
    };
    match dim {
        Some(d) if keepdim => out.unsqueeze(d),
        _ => Ok(out),
    }
}

/// The flat positions of the `k`-th diagonal of an `r` x `c` matrix with element strides
/// `(c, 1)`.
fn diagonal_positions(r: usize, c: usize, k: i64) -> Vec<u32> {
    let (row0, col0) = if k >= 0 { (0, k as usize) } else { ((-k) as usize, 0) };
    let n = r.saturating_sub(row0).min(c.saturating_sub(col0));
    (0..n).map(|i| ((row0 + i) * c + col0 + i) as u32).collect()
}

#[pymethods]
impl PyTensor {
    /// Number of dimensions (`t.ndim`).
    fn dim(&self) -> usize {
        self.inner.rank()
    }

    /// Element strides of every dimension, or of dimension `dim`.
    #[pyo3(signature = (dim=None))]
    fn stride<'py>(&self, py: Python<'py>, dim: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        let strides = self.inner.stride();
        match dim {
            None => Ok(PyTuple::new(py, strides)?.into_any()),
            Some(d) => Ok(strides[norm_axis(d, self.inner.rank())?].into_pyobject(py)?.into_any()),
        }
    }

    /// Offset of the first element in the storage, in elements.
    fn storage_offset(&self) -> usize {
        self.inner.layout().start_offset()
    }

    /// Bytes per element.
    fn element_size(&self) -> usize {
        self.inner.dtype().size_in_bytes()
    }

    /// Bytes per element (`t.element_size()`).
    #[getter]
    fn itemsize(&self) -> usize {
        self.inner.dtype().size_in_bytes()
    }

    /// Bytes of the elements (`numel() * itemsize`).
    #[getter]
    fn nbytes(&self) -> usize {
        self.inner.elem_count() * self.inner.dtype().size_in_bytes()
    }

    /// Address of the first element (CPU tensors).
    fn data_ptr(&self) -> PyResult<usize> {
        let (base, _) = candle_numpy::export::storage_range(&self.inner).map_err(|_| {
            PyRuntimeError::new_err(format!(
                "data_ptr() is available for CPU tensors; this one is on {}: use \
                 __dlpack__ to hand device memory to another library",
                self.device()
            ))
        })?;
        Ok(base as usize + self.inner.layout().start_offset() * self.inner.dtype().size_in_bytes())
    }

    /// Whether the dtype is a floating-point type.
    fn is_floating_point(&self) -> bool {
        self.inner.dtype().is_float()
    }

    /// With no argument, torch's legacy type name (`'torch.FloatTensor'`,
    /// `'torch.cuda.LongTensor'`); with one (a type name, a dtype, or a legacy class such as
    /// `cn.torch.DoubleTensor`), this tensor converted to it (`t.type(torch.float64)`).
    #[pyo3(signature = (dtype=None))]
    fn r#type<'py>(&self, py: Python<'py>, dtype: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let Some(dtype) = dtype.filter(|d| !d.is_none()) else {
            let cuda = if self.inner.device().is_cpu() { "" } else { "cuda." };
            let name = format!("torch.{cuda}{}", legacy_name(self.inner.dtype()));
            return Ok(name.into_pyobject(py)?.into_any());
        };
        // a legacy class carries its dtype as `dtype`
        let dtype = match dtype.getattr("dtype") {
            Ok(d) if dtype.is_instance_of::<pyo3::types::PyType>() => d,
            _ => dtype.clone(),
        };
        let target = match dtype.extract::<String>().ok().and_then(|s| legacy_dtype(&s)) {
            Some(d) => d,
            None => crate::dtype::parse(&dtype)?,
        };
        Ok(Bound::new(py, self.cast(py, target)?)?.into_any())
    }

    /// Transpose of a matrix (a view); tensors of rank 0 and 1 are returned as they are.
    fn t(&self) -> PyResult<PyTensor> {
        let rank = self.inner.rank();
        if rank > 2 {
            return Err(PyIndexError::new_err(format!(
                "t() expects a tensor with <= 2 dimensions, but this one has {rank}; use \
                 transpose(dim0, dim1) or .T"
            )));
        }
        let out = if rank == 2 { self.inner.t() } else { Ok(self.inner.clone()) };
        Ok(self.derived(out.map_err(|e| Python::attach(|py| candle_numpy::python::to_pyerr(py, e.into())))?))
    }

    /// The view of `length` elements of dimension `dim` from `start` (negative counts from the
    /// end).
    fn narrow(&self, dim: i64, start: i64, length: usize) -> PyResult<PyTensor> {
        let d = norm_axis(dim, self.inner.rank())?;
        let n = self.inner.dims()[d];
        let s = if start < 0 { start + n as i64 } else { start };
        if s < 0 || s as usize + length > n {
            return Err(PyIndexError::new_err(format!(
                "narrow: start ({start}) + length ({length}) exceeds dimension {d} of size {n}"
            )));
        }
        let out = self.inner.narrow(d, s as usize, length);
        Ok(self.derived(out.map_err(|e| Python::attach(|py| candle_numpy::python::to_pyerr(py, e.into())))?))
    }

    /// `self == other` elementwise, as a uint8 mask.
    fn eq(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__richcmp__(py, other, CompareOp::Eq)
    }
    /// `self != other` elementwise, as a uint8 mask.
    fn ne(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__richcmp__(py, other, CompareOp::Ne)
    }
    /// `self < other` elementwise, as a uint8 mask.
    fn lt(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__richcmp__(py, other, CompareOp::Lt)
    }
    /// `self <= other` elementwise, as a uint8 mask.
    fn le(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__richcmp__(py, other, CompareOp::Le)
    }
    /// `self > other` elementwise, as a uint8 mask.
    fn gt(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__richcmp__(py, other, CompareOp::Gt)
    }
    /// `self >= other` elementwise, as a uint8 mask.
    fn ge(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__richcmp__(py, other, CompareOp::Ge)
    }

    /// Whether every element (along `dim`) is non-zero, as uint8 (1 for an empty tensor).
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn all(&self, py: Python<'_>, dim: Option<i64>, keepdim: bool) -> PyResult<PyTensor> {
        self.logical(py, dim, keepdim, false)
    }

    /// Whether any element (along `dim`) is non-zero, as uint8 (0 for an empty tensor).
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn any(&self, py: Python<'_>, dim: Option<i64>, keepdim: bool) -> PyResult<PyTensor> {
        self.logical(py, dim, keepdim, true)
    }

    /// `t == 0` elementwise, as a uint8 mask.
    fn logical_not(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = self.inner.clone();
        let out = run(py, move || compare_zero(&t, candle_core::op::CmpOp::Eq))?;
        Ok(PyTensor::new(out, false).rules_of(self))
    }

    /// A 1-D tensor as the `diagonal`-th diagonal of a square matrix (zeros elsewhere), or the
    /// `diagonal`-th diagonal of a matrix as a 1-D tensor (a copy). Gradients flow.
    #[pyo3(signature = (diagonal=0))]
    fn diag(&self, py: Python<'_>, diagonal: i64) -> PyResult<PyTensor> {
        let t = self.inner.clone();
        let out = match t.rank() {
            1 => run(py, move || {
                let n = t.dims()[0] + diagonal.unsigned_abs() as usize;
                let pos = diagonal_positions(n, n, diagonal);
                let idx = Tensor::from_vec(pos, t.dims()[0], t.device())?;
                let square = Tensor::zeros(n * n, t.dtype(), t.device())?;
                // an empty source may be a view past its storage's end (see index::index_select)
                if t.elem_count() == 0 { Ok(square) } else { square.index_add(&idx, &t, 0) }?.reshape((n, n))
            })?,
            2 => run(py, move || {
                let (r, c) = t.dims2()?;
                let pos = diagonal_positions(r, c, diagonal);
                let idx = Tensor::from_vec(pos.clone(), pos.len(), t.device())?;
                crate::index::index_select(&t.flatten_all()?, &idx, 0)
            })?,
            rank => {
                return Err(PyIndexError::new_err(format!(
                    "diag: expected a 1-D or 2-D tensor, got one of rank {rank}"
                )))
            }
        };
        Ok(self.result(out))
    }
}

/// The tensors of a `cat`/`stack` call, converted (arrays and lists shared or copied as
/// `as_tensor` does) and cast to their common dtype (torch's promotion), all on one device.
fn joined(tensors: &Bound<'_, PyAny>, what: &str) -> PyResult<(Vec<Tensor>, bool)> {
    let items = tensors
        .try_iter()
        .map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!("{what}: expected a sequence of tensors"))
        })?
        .collect::<PyResult<Vec<_>>>()?;
    if items.is_empty() {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "{what}: expected a non-empty sequence of tensors"
        )));
    }
    let tf = items.iter().any(|t| t.cast::<PyTensor>().is_ok_and(|t| t.borrow().tf_rules));
    let ts = items.iter().map(crate::convert::tensor_arg).collect::<PyResult<Vec<_>>>()?;
    let mut dtype = ts[0].dtype();
    for t in &ts[1..] {
        dtype = crate::promote::promote_types(dtype, t.dtype())?;
    }
    let device = ts[0].device().clone();
    if let Some(t) = ts.iter().find(|t| !t.device().same_device(&device)) {
        return Err(PyRuntimeError::new_err(format!(
            "{what}: expected all tensors on one device, got {:?} and {:?}; move them with .to()",
            device.location(),
            t.device().location()
        )));
    }
    let ts = ts
        .into_iter()
        .map(|t| candle_numpy::dtype::cast(&t, dtype))
        .collect::<candle_core::Result<Vec<_>>>()
        .map_err(|e| Python::attach(|py| candle_numpy::python::to_pyerr(py, e.into())))?;
    Ok((ts, tf))
}

/// Join tensors along an existing dimension (`torch.cat`); dtypes promote as torch's do.
#[pyfunction]
#[pyo3(signature = (tensors, dim=0))]
pub fn cat(py: Python<'_>, tensors: &Bound<'_, PyAny>, dim: i64) -> PyResult<PyTensor> {
    let (ts, tf) = joined(tensors, "cat")?;
    let d = norm_axis(dim, ts[0].rank())?;
    let out = run(py, move || Tensor::cat(&ts, d))?;
    let mut out = PyTensor::new(crate::autograd::record(out), false);
    out.tf_rules = tf;
    Ok(out)
}

/// Join tensors of one shape along a new dimension (`torch.stack`); dtypes promote as torch's
/// do.
#[pyfunction]
#[pyo3(signature = (tensors, dim=0))]
pub fn stack(py: Python<'_>, tensors: &Bound<'_, PyAny>, dim: i64) -> PyResult<PyTensor> {
    let (ts, tf) = joined(tensors, "stack")?;
    let rank = ts[0].rank() as i64 + 1;
    let d = if dim < 0 { dim + rank } else { dim };
    if d < 0 || d >= rank {
        return Err(PyIndexError::new_err(format!(
            "stack: dimension {dim} out of range for tensors of rank {}",
            rank - 1
        )));
    }
    let out = run(py, move || Tensor::stack(&ts, d as usize))?;
    let mut out = PyTensor::new(crate::autograd::record(out), false);
    out.tf_rules = tf;
    Ok(out)
}

/// The values `uniform_`/`random_`/`normal_` write come from the package's generator
/// (`cn.torch.manual_seed`), registered at import (`candle_numpy/torch/_random.py`): the native
/// module never imports the package.
static RANDOM_SOURCE: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();

/// Register the random source: `fn(kind, shape, a, b, generator) -> ndarray`.
#[pyfunction]
pub fn _register_random_source(py: Python<'_>, source: Py<PyAny>) {
    let _ = RANDOM_SOURCE.set(py, source);
}

/// A view of a tensor's whole storage (`t.storage()`): its size in elements and address.
/// It keeps the tensor (and so the memory) alive.
#[pyclass(module = "candle_numpy", name = "TensorStorage", frozen)]
pub struct PyTensorStorage {
    tensor: Tensor,
}

#[pymethods]
impl PyTensorStorage {
    /// Number of elements in the storage (the tensor's, plus any its view does not show).
    fn size(&self) -> PyResult<usize> {
        Ok(self.bytes()? / self.tensor.dtype().size_in_bytes())
    }
    fn __len__(&self) -> PyResult<usize> {
        self.size()
    }
    /// Bytes in the storage.
    fn nbytes(&self) -> PyResult<usize> {
        self.bytes()
    }
    /// Bytes per element.
    fn element_size(&self) -> usize {
        self.tensor.dtype().size_in_bytes()
    }
    /// Address of the storage's first element.
    fn data_ptr(&self) -> PyResult<usize> {
        Ok(self.range()?.0 as usize)
    }
    /// The dtype of the elements.
    #[getter]
    fn dtype(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        crate::dtype::object(py, self.tensor.dtype())
    }
    /// "cpu" or "cuda:N".
    #[getter]
    fn device(&self) -> String {
        candle_numpy::device::device_name(self.tensor.device())
    }
    fn __repr__(&self) -> String {
        let n = self.size().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        format!("<TensorStorage of {n} {} on {}>", crate::dtype::name(self.tensor.dtype()), self.device())
    }
}

impl PyTensorStorage {
    fn range(&self) -> PyResult<(*const u8, usize)> {
        candle_numpy::export::storage_range(&self.tensor)
            .map_err(|e| Python::attach(|py| candle_numpy::python::to_pyerr(py, e)))
    }
    fn bytes(&self) -> PyResult<usize> {
        Ok(self.range()?.1)
    }
}

#[pymethods]
impl PyTensor {
    /// The tensor's storage (`t.storage()`; CPU tensors).
    fn storage(&self) -> PyTensorStorage {
        PyTensorStorage { tensor: self.inner.clone() }
    }

    /// The tensor tiled `sizes` times along each dimension (`t.repeat(2, 3)`), a copy; extra
    /// leading sizes add dimensions, as in torch.
    #[pyo3(signature = (*sizes))]
    fn repeat(&self, py: Python<'_>, sizes: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        let sizes = crate::tensor::dims_arg(sizes)?;
        if sizes.len() < self.inner.rank() {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "repeat: {} sizes given for a tensor of rank {}; give at least one per dimension",
                sizes.len(),
                self.inner.rank()
            )));
        }
        if let Some(s) = sizes.iter().find(|&&s| s < 0) {
            return Err(pyo3::exceptions::PyValueError::new_err(format!("repeat: negative size {s}")));
        }
        let sizes: Vec<usize> = sizes.iter().map(|&s| s as usize).collect();
        let t = self.inner.clone();
        let out = run(py, move || {
            let mut t = t;
            for _ in t.rank()..sizes.len() {
                t = t.unsqueeze(0)?;
            }
            if sizes.contains(&0) {
                let dims: Vec<usize> = t.dims().iter().zip(&sizes).map(|(d, s)| d * s).collect();
                return Tensor::zeros(dims, t.dtype(), t.device());
            }
            t.repeat(sizes)
        })?;
        Ok(self.result(out))
    }

    /// Views of consecutive pieces along `dim` (`torch.split`): pieces of `split_size_or_sections`
    /// elements (the last may be shorter), or of the sizes a list gives (they must sum to the
    /// dimension's size).
    #[pyo3(signature = (split_size_or_sections, dim=0))]
    fn split<'py>(
        &self,
        py: Python<'py>,
        split_size_or_sections: &Bound<'py, PyAny>,
        dim: i64,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let d = norm_axis(dim, self.inner.rank())?;
        let n = self.inner.dims()[d];
        let sizes: Vec<usize> = match split_size_or_sections.extract::<usize>() {
            Ok(0) if n > 0 => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "split: split_size must be positive for a non-empty dimension",
                ))
            }
            Ok(size) => (0..n.div_ceil(size.max(1))).map(|k| size.min(n - k * size)).collect(),
            Err(_) => {
                let sections: Vec<usize> = split_size_or_sections.extract()?;
                if sections.iter().sum::<usize>() != n {
                    return Err(pyo3::exceptions::PyValueError::new_err(format!(
                        "split: the sections {sections:?} must sum to the size of dimension {d} ({n})"
                    )));
                }
                sections
            }
        };
        self.pieces(py, d, &sizes)
    }

    /// `chunks` views of (nearly) equal size along `dim` (`torch.chunk`): each of
    /// `ceil(size / chunks)` elements, the last shorter, fewer pieces when the size runs out.
    #[pyo3(signature = (chunks, dim=0))]
    fn chunk<'py>(&self, py: Python<'py>, chunks: usize, dim: i64) -> PyResult<Bound<'py, PyTuple>> {
        if chunks == 0 {
            return Err(pyo3::exceptions::PyValueError::new_err("chunk: chunks must be positive"));
        }
        let d = norm_axis(dim, self.inner.rank())?;
        let n = self.inner.dims()[d];
        let size = n.div_ceil(chunks).max(1);
        let sizes: Vec<usize> = (0..n.div_ceil(size)).map(|k| size.min(n - k * size)).collect();
        self.pieces(py, d, &sizes)
    }

    /// A copy of `data` with this tensor's dtype and device unless given (`t.new_tensor`).
    #[pyo3(signature = (data, dtype=None, device=None, requires_grad=false))]
    fn new_tensor(
        &self,
        data: &Bound<'_, PyAny>,
        dtype: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
        requires_grad: bool,
    ) -> PyResult<PyTensor> {
        let py = data.py();
        let dtype = match dtype.filter(|d| !d.is_none()) {
            Some(d) => d.clone(),
            None => pyo3::types::PyString::new(py, self.dtype()).into_any(),
        };
        let device = match device.filter(|d| !d.is_none()) {
            Some(d) => d.clone(),
            None => pyo3::types::PyString::new(py, &self.device()).into_any(),
        };
        let mut out = crate::convert::tensor(data, Some(&dtype), Some(&device), requires_grad)?;
        out.tf_rules = self.tf_rules;
        Ok(out)
    }

    /// The sorted distinct elements (`torch.unique`), with `return_inverse` the index of each
    /// element in them and with `return_counts` how often each occurs (both int64). candle has
    /// no unique kernel: NumPy's runs on the tensor's memory (a host copy for a device tensor)
    /// and the results come back on the tensor's device. `dim` is not supported.
    #[pyo3(signature = (sorted=true, return_inverse=false, return_counts=false, dim=None))]
    fn unique<'py>(
        slf: &Bound<'py, Self>,
        sorted: bool,
        return_inverse: bool,
        return_counts: bool,
        dim: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = sorted; // NumPy's unique is always sorted, which torch allows for sorted=False too
        let py = slf.py();
        if dim.is_some() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "unique(dim=...) is not supported; unique over all elements (dim=None) is",
            ));
        }
        let this = slf.borrow();
        let arr = slf.call_method1("numpy", (true,))?;
        let kwargs =
            [("return_inverse", return_inverse), ("return_counts", return_counts)].into_py_dict(py)?;
        let found = py.import("numpy")?.call_method("unique", (arr,), Some(&kwargs))?;
        let device = pyo3::types::PyString::new(py, &this.device()).into_any();
        let back = |x: Bound<'py, PyAny>, dtype: Option<&str>| -> PyResult<Bound<'py, PyAny>> {
            let dtype = dtype.map(|d| pyo3::types::PyString::new(py, d).into_any());
            let t = crate::convert::convert(&x, candle_numpy::Sharing::Auto, dtype.as_ref(), Some(&device))?;
            Ok(Bound::new(py, t.rules_of(&this))?.into_any())
        };
        if !return_inverse && !return_counts {
            return back(found, None);
        }
        let parts = found.cast::<PyTuple>()?;
        let mut out = vec![back(parts.get_item(0)?, None)?];
        let mut i = 1;
        if return_inverse {
            // torch's inverse has the input's shape (NumPy 1.x flattens it)
            let inv = parts.get_item(i)?.call_method1("reshape", (slf.getattr("shape")?,))?;
            out.push(back(inv, Some("int64"))?);
            i += 1;
        }
        if return_counts {
            out.push(back(parts.get_item(i)?, Some("int64"))?);
        }
        Ok(PyTuple::new(py, out)?.into_any())
    }

    /// Always False: candle has no page-locked host memory (`pin_memory` is accepted and
    /// has no effect).
    fn is_pinned(&self) -> bool {
        false
    }

    /// This tensor itself: candle has no page-locked host memory, so there is nothing to pin
    /// (`DataLoader(pin_memory=True)` is accepted for the same reason).
    fn pin_memory(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Refused: a candle storage has a fixed size (torch refuses too for memory shared with
    /// NumPy); make a new tensor (`t.new_zeros(...)`, `cn.torch.zeros(...)`) or `reshape`.
    #[pyo3(signature = (*sizes))]
    fn resize_(&self, sizes: &Bound<'_, PyTuple>) -> PyResult<()> {
        Err(PyRuntimeError::new_err(format!(
            "resize_{sizes}: a candle tensor's storage has a fixed size and cannot be resized in \
             place; make a new tensor (cn.torch.zeros(...)) or reshape(...) to the same size"
        )))
    }

    /// In place: values drawn uniformly from `[from, to)`; returns self.
    #[pyo3(signature = (from=0.0, to=1.0, *, generator=None))]
    fn uniform_<'py>(
        slf: PyRef<'py, Self>,
        from: f64,
        to: f64,
        generator: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyRef<'py, Self>> {
        slf.fill_random(
            "uniform_",
            "uniform",
            from.into_pyobject(slf.py())?.into_any(),
            to.into_pyobject(slf.py())?.into_any(),
            generator,
        )?;
        Ok(slf)
    }

    /// In place: values drawn from a normal distribution; returns self.
    #[pyo3(signature = (mean=0.0, std=1.0, *, generator=None))]
    fn normal_<'py>(
        slf: PyRef<'py, Self>,
        mean: f64,
        std: f64,
        generator: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyRef<'py, Self>> {
        slf.fill_random(
            "normal_",
            "normal",
            mean.into_pyobject(slf.py())?.into_any(),
            std.into_pyobject(slf.py())?.into_any(),
            generator,
        )?;
        Ok(slf)
    }

    /// In place: integers drawn uniformly from `[from, to)` (`random_(to)` is `[0, to)`;
    /// `random_()` the dtype's range, up to 2**mantissa for floats, as in torch); returns self.
    #[pyo3(signature = (from=None, to=None, *, generator=None))]
    fn random_<'py>(
        slf: PyRef<'py, Self>,
        from: Option<i64>,
        to: Option<i64>,
        generator: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyRef<'py, Self>> {
        let py = slf.py();
        let (lo, hi): (i128, i128) = match (from, to) {
            (Some(f), Some(t)) => (f.into(), t.into()),
            (Some(t), None) => (0, t.into()),
            (None, _) => {
                let top: i128 = match slf.inner.dtype() {
                    DType::U8 => 1 << 8,
                    DType::I16 => 1 << 15,
                    DType::I32 => 1 << 31,
                    DType::U32 => 1 << 32,
                    DType::I64 => i64::MAX as i128,
                    DType::F16 => (1 << 11) + 1,
                    DType::BF16 => (1 << 8) + 1,
                    DType::F32 => (1 << 24) + 1,
                    _ => (1 << 53) + 1,
                };
                (0, top)
            }
        };
        if lo >= hi {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "random_ expects 'from' to be less than 'to', but got from={lo} >= to={hi}"
            )));
        }
        slf.fill_random(
            "random_",
            "integers",
            lo.into_pyobject(py)?.into_any(),
            hi.into_pyobject(py)?.into_any(),
            generator,
        )?;
        Ok(slf)
    }
}

impl PyTensor {
    /// Consecutive views along `d` of the given sizes (which sum to the dimension's size).
    fn pieces<'py>(&self, py: Python<'py>, d: usize, sizes: &[usize]) -> PyResult<Bound<'py, PyTuple>> {
        let mut start = 0;
        let mut views = Vec::with_capacity(sizes.len());
        for &len in sizes {
            let v =
                self.inner.narrow(d, start, len).map_err(|e| candle_numpy::python::to_pyerr(py, e.into()))?;
            views.push(Bound::new(py, self.derived(v))?);
            start += len;
        }
        PyTuple::new(py, views)
    }

    /// `all` or `any` (a fresh uint8 mask, outside the graph as torch's bool results are).
    fn logical(&self, py: Python<'_>, dim: Option<i64>, keepdim: bool, any: bool) -> PyResult<PyTensor> {
        let d = dim.map(|d| norm_axis(d, self.inner.rank())).transpose()?;
        let t = self.inner.clone();
        Ok(PyTensor::new(run(py, move || logical_reduce(&t, d, keepdim, any))?, false).rules_of(self))
    }

    fn fill_random(
        &self,
        op: &'static str,
        kind: &str,
        a: Bound<'_, PyAny>,
        b: Bound<'_, PyAny>,
        generator: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.check_writable(op)?;
        let py = a.py();
        let source = RANDOM_SOURCE.get(py).ok_or_else(|| {
            PyRuntimeError::new_err(format!(
                "{op}: import candle_numpy first (it registers the random source)"
            ))
        })?;
        let shape = PyTuple::new(py, self.inner.dims())?;
        let values = source.bind(py).call1((kind, shape, a, b, generator))?;
        // the fresh array is shared, not copied: assign casts it into place in one pass
        let values = crate::convert::convert(&values, candle_numpy::Sharing::Auto, None, None)?.inner.clone();
        let t = self.inner.clone();
        let v = values.to_device(t.device()).map_err(|e| candle_numpy::python::to_pyerr(py, e.into()))?;
        candle_numpy::python::detach(py, move || candle_numpy::inplace::assign(&t, &v))
            .map_err(|e| candle_numpy::python::to_pyerr(py, e))
    }
}
