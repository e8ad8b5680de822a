//! Python exceptions for [`Error`]: a small hierarchy rooted at `CandleNumpyError`, each class
//! also a subclass of the built-in exception Python users already catch.
//!
//! ```text
//! CandleNumpyError(Exception)
//! ├── DTypeError(CandleNumpyError, TypeError)        unsupported / mismatched dtypes
//! ├── ShapeError(CandleNumpyError, ValueError)       shapes, values, arguments
//! ├── ShareError(CandleNumpyError, ValueError)       Share refused (layout, byte order, ...)
//! │   └── ShareDTypeError(ShareError, TypeError)     Share refused because of the dtype
//! ├── DeviceError(CandleNumpyError, RuntimeError)    devices (CUDA missing, non-CPU share)
//! ├── DLPackError(CandleNumpyError, BufferError)     DLPack exchange refused
//! └── FileFormatError(CandleNumpyError, ValueError)  malformed .npy / .npz / .safetensors
//! ```
//!
//! An allocation failure is `MemoryError` (naming the size). I/O failures become `OSError` (`FileNotFoundError` where it applies; a missing object in
//! object storage too, refused credentials `PermissionError`); a truncated object, a bad CSV cell
//! and an undecodable image are `FileFormatError`. The message is always
//! the error's Display text (what, which value, how to fix), never Debug.

use pyo3::exceptions::{
    PyBufferError, PyException, PyFileNotFoundError, PyMemoryError, PyOSError, PyPermissionError,
    PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::error::Error;

/// The exception classes, created once per interpreter.
pub struct Classes {
    /// `CandleNumpyError`.
    pub base: Py<PyType>,
    /// `DTypeError`.
    pub dtype: Py<PyType>,
    /// `ShapeError`.
    pub shape: Py<PyType>,
    /// `ShareError`.
    pub share: Py<PyType>,
    /// `ShareDTypeError`.
    pub share_dtype: Py<PyType>,
    /// `DeviceError`.
    pub device: Py<PyType>,
    /// `DLPackError`.
    pub dlpack: Py<PyType>,
    /// `FileFormatError`.
    pub file_format: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn make(py: Python<'_>, name: &str, bases: &[&Bound<'_, PyType>], doc: &str) -> PyResult<Py<PyType>> {
    let ns = PyDict::new(py);
    ns.set_item("__module__", "candle_numpy")?;
    ns.set_item("__doc__", doc)?;
    let bases = PyTuple::new(py, bases)?;
    let ty = py.get_type::<PyType>().call1((name, bases, ns))?;
    Ok(ty.cast_into::<PyType>()?.unbind())
}

/// The exception classes (created on first use).
pub fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let exception = py.get_type::<PyException>();
        let base = make(py, "CandleNumpyError", &[&exception], "Base class of every candle_numpy error.")?;
        let b = base.bind(py);
        let share = make(
            py,
            "ShareError",
            &[b, &py.get_type::<PyValueError>()],
            "Sharing memory was refused; the message names the property and the fix (usually a copy).",
        )?;
        Ok(Classes {
            dtype: make(
                py,
                "DTypeError",
                &[b, &py.get_type::<PyTypeError>()],
                "Unsupported or mismatched dtype.",
            )?,
            shape: make(
                py,
                "ShapeError",
                &[b, &py.get_type::<PyValueError>()],
                "Bad shape, value or argument.",
            )?,
            share_dtype: make(
                py,
                "ShareDTypeError",
                &[share.bind(py), &py.get_type::<PyTypeError>()],
                "Sharing was refused because the dtype needs a conversion (a copy).",
            )?,
            device: make(
                py,
                "DeviceError",
                &[b, &py.get_type::<PyRuntimeError>()],
                "Device problem (CUDA missing, non-CPU sharing).",
            )?,
            dlpack: make(
                py,
                "DLPackError",
                &[b, &py.get_type::<PyBufferError>()],
                "DLPack exchange refused.",
            )?,
            file_format: make(
                py,
                "FileFormatError",
                &[b, &py.get_type::<PyValueError>()],
                "Malformed .npy / .npz / .safetensors data.",
            )?,
            share,
            base,
        })
    })
}

/// Add the exception classes to a module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let c = classes(py)?;
    for (name, ty) in [
        ("CandleNumpyError", &c.base),
        ("DTypeError", &c.dtype),
        ("ShapeError", &c.shape),
        ("ShareError", &c.share),
        ("ShareDTypeError", &c.share_dtype),
        ("DeviceError", &c.device),
        ("DLPackError", &c.dlpack),
        ("FileFormatError", &c.file_format),
    ] {
        m.add(name, ty.bind(py))?;
    }
    Ok(())
}

/// Which class an error maps to.
fn class_of<'a>(c: &'a Classes, e: &Error) -> &'a Py<PyType> {
    match e {
        Error::UnsupportedDType { .. } | Error::DTypeMismatch { .. } => &c.dtype,
        Error::Widening { .. } | Error::ShareCast { .. } => &c.share_dtype,
        Error::NonCpuShare { .. }
        | Error::NotOnCpu { .. }
        | Error::CudaNotCompiled { .. }
        | Error::CudaUnavailable { .. }
        | Error::Distributed { .. } => &c.device,
        Error::NpyFormat { .. }
        | Error::SafetensorsFormat { .. }
        | Error::Zip { .. }
        | Error::RowsNotContiguous { .. }
        | Error::RemoteTruncated { .. }
        | Error::CsvCell { .. }
        | Error::CsvFormat { .. }
        | Error::ImageFormat { .. } => &c.file_format,
        Error::DLPack { .. } => &c.dlpack,
        Error::Candle(inner) => candle_class(c, inner),
        // every other refusal of Sharing::Share
        e if e.is_share_refusal() => &c.share,
        _ => &c.shape,
    }
}

fn candle_class<'a>(c: &'a Classes, e: &candle_core::Error) -> &'a Py<PyType> {
    use candle_core::Error as E;
    match e {
        E::WithBacktrace { inner, .. } | E::Context { inner, .. } => candle_class(c, inner),
        E::UnsupportedDTypeForOp(..) | E::DTypeMismatchBinaryOp { .. } | E::UnexpectedDType { .. } => {
            &c.dtype
        }
        E::DeviceMismatchBinaryOp { .. } | E::NotCompiledWithCudaSupport | E::Cuda(_) => &c.device,
        _ => &c.shape,
    }
}

/// The message of a candle error without its backtrace.
pub fn candle_message(e: &candle_core::Error) -> String {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => candle_message(inner),
        other => other.to_string(),
    }
}

/// The Rust API names in a message, respelled as the Python calls that do the same.
fn python_spelling(msg: &str) -> String {
    msg.replace(
        "use Sharing::Copy (or Auto)",
        "copy with cn.tensor(a) (or cn.as_tensor(a), which copies only when it must)",
    )
    .replace("Sharing::Copy", "cn.tensor(a)")
    .replace("opt in with Options::allow_readonly(true) (the tensor must then never be written), or ", "")
    .replace("tensor.to_dtype(DType::F32)", "t.float()")
    .replace("call tensor.to_device(&Device::Cpu) first", "call t.cpu() first")
    .replace("Dense::new(16).input_shape(&[10])", "Dense(16, input_shape=(10,))")
    .replace("call build(&[10])", "call model.build((None, 10))")
}

/// Convert an [`Error`] into the matching Python exception (with its Display message).
pub fn to_pyerr(py: Python<'_>, e: Error) -> PyErr {
    if let Error::Io { source, .. } = &e {
        let msg = e.to_string();
        return if source.kind() == std::io::ErrorKind::NotFound {
            PyFileNotFoundError::new_err(msg)
        } else {
            PyOSError::new_err(msg)
        };
    }
    match &e {
        Error::AllocationFailed { .. } => return PyMemoryError::new_err(e.to_string()),
        Error::RemoteNotFound { .. } => return PyFileNotFoundError::new_err(e.to_string()),
        Error::RemoteAccess { .. } => return PyPermissionError::new_err(e.to_string()),
        Error::RemoteStore { .. } => return PyOSError::new_err(e.to_string()),
        _ => {}
    }
    if let Error::NotCompiled { .. } = &e {
        // Keras raises RuntimeError for a model used before compile()
        return pyo3::exceptions::PyRuntimeError::new_err(python_spelling(&e.to_string()));
    }
    let msg = match &e {
        Error::Candle(inner) => candle_message(inner),
        other => python_spelling(&other.to_string()),
    };
    match classes(py) {
        Ok(c) => PyErr::from_type(class_of(c, &e).bind(py).clone(), msg),
        Err(err) => err,
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| to_pyerr(py, e))
    }
}
