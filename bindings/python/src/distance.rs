//! `cn.cdist` / `cn.torch.cdist`: `candle_numpy::distance` over tensors or NumPy arrays, with
//! the GIL released and Ctrl-C honoured between row tiles.

use candle_numpy::python::detach;
use std::sync::Mutex;

use candle_numpy::distance::{cdist_with, CdistOptions, ComputeMode, Metric};
use candle_numpy::Error;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::tensor_arg;
use crate::tensor::PyTensor;

/// Pairwise distances, torch's `cdist`: `(P, M) x (R, M) -> (P, R)`, batched
/// `(B, P, M) x (B, R, M) -> (B, P, R)`. `metric` overrides `p` with "sqeuclidean" or "cosine".
#[pyfunction]
#[pyo3(signature = (x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary", metric=None, max_output_bytes=None))]
pub fn cdist(
    py: Python<'_>,
    x1: &Bound<'_, PyAny>,
    x2: &Bound<'_, PyAny>,
    p: f64,
    compute_mode: &str,
    metric: Option<&str>,
    max_output_bytes: Option<usize>,
) -> PyResult<PyTensor> {
    let compute_mode = match compute_mode {
        "use_mm_for_euclid_dist_if_necessary" => ComputeMode::Auto,
        "use_mm_for_euclid_dist" => ComputeMode::Matmul,
        "donot_use_mm_for_euclid_dist" => ComputeMode::Direct,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown compute_mode {other:?}; use \"use_mm_for_euclid_dist_if_necessary\", \
                 \"use_mm_for_euclid_dist\" or \"donot_use_mm_for_euclid_dist\""
            )))
        }
    };
    let metric = match metric {
        None | Some("minkowski") => Metric::Minkowski(p),
        Some("euclidean") => Metric::Minkowski(2.0),
        Some("cityblock") | Some("manhattan") => Metric::Minkowski(1.0),
        Some("chebyshev") => Metric::Minkowski(f64::INFINITY),
        Some("sqeuclidean") => Metric::SqEuclidean,
        Some("cosine") => Metric::Cosine,
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "unknown metric {other:?}; use \"minkowski\" (with p), \"euclidean\", \"sqeuclidean\", \
                 \"cityblock\", \"chebyshev\" or \"cosine\""
            )))
        }
    };
    let (a, b) = (tensor_arg(x1)?, tensor_arg(x2)?);
    let opts = CdistOptions { metric, compute_mode, max_output_bytes, ..Default::default() };
    let pending: Mutex<Option<PyErr>> = Mutex::new(None);
    let interrupted = || {
        // at shutdown (a daemon thread computing), stop instead of asking for the GIL
        if !candle_numpy::python::python_alive() {
            return true;
        }
        Python::try_attach(|py| match py.check_signals() {
            Ok(()) => false,
            Err(e) => {
                *pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                true
            }
        })
        .unwrap_or(true)
    };
    let result = detach(py, || cdist_with(&a, &b, &opts, &interrupted));
    match result {
        Ok(t) => Ok(PyTensor::new(crate::autograd::record(t), false)),
        Err(Error::Interrupted { .. }) => Err(pending
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or_else(|| pyo3::exceptions::PyKeyboardInterrupt::new_err("cdist was interrupted"))),
        Err(e) => Err(candle_numpy::python::to_pyerr(py, e)),
    }
}
