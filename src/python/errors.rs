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
//! Which variant raises which class is [`Error::python_class`], an exhaustive mapping whose
//! table is in [`crate::error`]'s docs (checked by a test there); a few variants raise built-in
//! classes (`MemoryError`, `OSError`, `FileNotFoundError`, `PermissionError`, `RuntimeError`,
//! `KeyboardInterrupt`). The message is always [`Error::render`] in Python's spelling (what,
//! which value, how to fix), never Debug.

use pyo3::exceptions::{
    PyBufferError, PyException, PyFileNotFoundError, PyKeyboardInterrupt, PyMemoryError, PyOSError,
    PyPermissionError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::error::{Error, Language, PythonClass};

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

/// The Python exception for an [`Error`]: the class of [`Error::python_class`] (an exhaustive
/// mapping documented in [`crate::error`]) with the message rendered in Python's spelling
/// ([`Error::render`]).
pub fn to_pyerr(py: Python<'_>, e: Error) -> PyErr {
    let msg = e.render(Language::Python);
    let c = match classes(py) {
        Ok(c) => c,
        Err(err) => return err,
    };
    let ty = match e.python_class() {
        PythonClass::DTypeError => c.dtype.bind(py).clone(),
        PythonClass::ShapeError => c.shape.bind(py).clone(),
        PythonClass::ShareError => c.share.bind(py).clone(),
        PythonClass::ShareDTypeError => c.share_dtype.bind(py).clone(),
        PythonClass::DeviceError => c.device.bind(py).clone(),
        PythonClass::DLPackError => c.dlpack.bind(py).clone(),
        PythonClass::FileFormatError => c.file_format.bind(py).clone(),
        PythonClass::MemoryError => py.get_type::<PyMemoryError>(),
        PythonClass::KeyboardInterrupt => py.get_type::<PyKeyboardInterrupt>(),
        PythonClass::RuntimeError => py.get_type::<PyRuntimeError>(),
        PythonClass::OSError => py.get_type::<PyOSError>(),
        PythonClass::FileNotFoundError => py.get_type::<PyFileNotFoundError>(),
        PythonClass::PermissionError => py.get_type::<PyPermissionError>(),
    };
    PyErr::from_type(ty, msg)
}

/// The message of a candle error without its backtrace.
pub fn candle_message(e: &candle_core::Error) -> String {
    crate::error::candle_message(e)
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| to_pyerr(py, e))
    }
}
