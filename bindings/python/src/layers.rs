//! The native half of `cn.torch.nn`'s convolution, pooling, normalisation and embedding
//! layers: thin calls into the engine (`candle_numpy::train::{conv, norm}`), recorded for
//! `backward`, run without the GIL. Argument checking that names torch's arguments (tuples,
//! `padding="same"`) happens in Python; the engine checks shapes and names the fix.

use candle_numpy::python::{detach, to_pyerr};
use candle_numpy::train::conv::{self as engine, ConvSpec, DataFormat, Padding, PoolKind, Window};
use candle_numpy::train::linear::Activation;
use candle_numpy::train::norm::{self, Statistics};

use candle_core::Tensor;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::tensor::PyTensor;

fn format(channels_last: bool) -> DataFormat {
    if channels_last {
        DataFormat::ChannelsLast
    } else {
        DataFormat::ChannelsFirst
    }
}

/// A fused activation by name: `None` or `"relu"` (also `_native.linear`'s).
pub(crate) fn activation(name: Option<&str>) -> PyResult<Activation> {
    match name {
        None => Ok(Activation::Identity),
        Some("relu") => Ok(Activation::Relu),
        Some(other) => {
            Err(PyValueError::new_err(format!("unknown activation {other:?}; use None or \"relu\"")))
        }
    }
}

fn padding((top, bottom, left, right): (usize, usize, usize, usize)) -> Padding {
    Padding { top, bottom, left, right }
}

/// `_native.conv(input, weight, bias, stride, padding, dilation, groups, channels_last=False,
/// activation=None)`: a 2-d convolution of a rank-4 input, or a 1-d one of a rank-3 input (then
/// only the second components of `stride`/`dilation` and the left/right padding apply).
/// `padding` is `(top, bottom, left, right)`. Weight and bias are cast to the input's dtype.
#[pyfunction]
#[pyo3(signature = (input, weight, bias, stride, padding, dilation, groups, channels_last=false, activation=None))]
#[allow(clippy::too_many_arguments)]
pub fn conv(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    bias: Option<PyRef<'_, PyTensor>>,
    stride: (usize, usize),
    padding: (usize, usize, usize, usize),
    dilation: (usize, usize),
    groups: usize,
    channels_last: bool,
    activation: Option<&str>,
) -> PyResult<PyTensor> {
    let act = self::activation(activation)?;
    let spec =
        ConvSpec { stride, dilation, padding: self::padding(padding), groups, format: format(channels_last) };
    let x = input.inner.clone();
    let (w, b) = (weight.inner.clone(), bias.map(|b| b.inner.clone()));
    let out = detach(py, move || {
        let cast = |t: &Tensor| candle_numpy::dtype::cast(t, x.dtype());
        let w = cast(&w)?;
        let b = b.as_ref().map(cast).transpose()?;
        match x.rank() {
            3 => engine::conv1d(&x, &w, b.as_ref(), &spec, act),
            _ => engine::conv2d(&x, &w, b.as_ref(), &spec, act),
        }
    })
    .map_err(|e| to_pyerr(py, e))?;
    Ok(input.result(out))
}

/// `_native.pool2d(input, kind, kernel, stride, padding, dilation, count_include_pad=True,
/// channels_last=False)`: `kind` is "max" or "avg"; a rank-3 input is pooled along its last
/// (channels-first) or middle (channels-last) axis as a 1-d pool.
#[pyfunction]
#[pyo3(signature = (input, kind, kernel, stride, padding, dilation=(1, 1), count_include_pad=true, channels_last=false))]
#[allow(clippy::too_many_arguments)]
pub fn pool2d(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    kind: &str,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize, usize, usize),
    dilation: (usize, usize),
    count_include_pad: bool,
    channels_last: bool,
) -> PyResult<PyTensor> {
    let kind = match kind {
        "max" => PoolKind::Max,
        "avg" => PoolKind::Avg { count_padding: count_include_pad },
        other => {
            return Err(PyValueError::new_err(format!("unknown pooling {other:?}; use \"max\" or \"avg\"")))
        }
    };
    let window = Window { kernel, stride, dilation, padding: self::padding(padding) };
    let fmt = format(channels_last);
    let x = input.inner.clone();
    let out = detach(py, move || -> candle_numpy::Result<Tensor> {
        if x.rank() == 3 {
            return engine::pool1d(&x, kind, &window, fmt);
        }
        engine::pool2d(&x, kind, &window, fmt)
    })
    .map_err(|e| to_pyerr(py, e))?;
    Ok(input.result(out))
}

/// `_native.batch_norm(input, weight, bias, running_mean, running_var, training, momentum,
/// eps, axis=1, unbiased=True)`: normalise over every axis but `axis`; in training with
/// running estimates given, they are updated in place (`(1 - momentum) * running +
/// momentum * batch`, the variance unbiased when `unbiased`, as torch). Without running
/// estimates, batch statistics are used in both modes (torch's `track_running_stats=False`).
#[pyfunction]
#[pyo3(signature = (input, weight, bias, running_mean, running_var, training, momentum, eps, axis=1, unbiased=true))]
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    weight: Option<PyRef<'_, PyTensor>>,
    bias: Option<PyRef<'_, PyTensor>>,
    running_mean: Option<PyRef<'_, PyTensor>>,
    running_var: Option<PyRef<'_, PyTensor>>,
    training: bool,
    momentum: f64,
    eps: f64,
    axis: usize,
    unbiased: bool,
) -> PyResult<PyTensor> {
    if !(0.0..=1.0).contains(&momentum) {
        return Err(PyValueError::new_err(format!("batch_norm: momentum must be in [0, 1], got {momentum}")));
    }
    let running = match (running_mean, running_var) {
        (Some(m), Some(v)) => {
            for (t, what) in [(&m, "running_mean"), (&v, "running_var")] {
                if training {
                    t.check_writable(what)?;
                }
            }
            Some((m.inner.clone(), v.inner.clone()))
        }
        (None, None) => None,
        _ => {
            return Err(PyValueError::new_err(
                "batch_norm: give both running_mean and running_var, or neither",
            ))
        }
    };
    let x = input.inner.clone();
    let (g, b) = (weight.map(|w| w.inner.clone()), bias.map(|b| b.inner.clone()));
    let out = detach(py, move || -> candle_numpy::Result<Tensor> {
        let stats = match (&running, training) {
            (Some((mean, var)), false) => Statistics::Running { mean, var },
            _ => Statistics::Batch,
        };
        let out = norm::batch_norm(&x, axis, g.as_ref(), b.as_ref(), eps, stats)?;
        if let (Some((rm, rv)), Some(batch)) = (&running, &out.batch) {
            let (mean, var) = norm::running_statistics(rm, rv, batch, momentum, unbiased)?;
            candle_numpy::inplace::assign(rm, &mean)?;
            candle_numpy::inplace::assign(rv, &var)?;
        }
        Ok(out.y)
    })
    .map_err(|e| to_pyerr(py, e))?;
    Ok(input.result(out))
}

/// `_native.layer_norm(input, normalized_ndim, weight, bias, eps)`: normalise each sample over
/// its last `normalized_ndim` axes.
#[pyfunction]
#[pyo3(signature = (input, normalized_ndim, weight, bias, eps))]
pub fn layer_norm(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    normalized_ndim: usize,
    weight: Option<PyRef<'_, PyTensor>>,
    bias: Option<PyRef<'_, PyTensor>>,
    eps: f64,
) -> PyResult<PyTensor> {
    let x = input.inner.clone();
    let (g, b) = (weight.map(|w| w.inner.clone()), bias.map(|b| b.inner.clone()));
    let out = detach(py, move || norm::layer_norm(&x, normalized_ndim, g.as_ref(), b.as_ref(), eps))
        .map_err(|e| to_pyerr(py, e))?;
    Ok(input.result(out))
}

/// `_native.embedding(input, weight, padding_idx=None)`: rows of `weight` for the integer ids
/// in `input`; the `padding_idx` row gets no gradient.
#[pyfunction]
#[pyo3(signature = (input, weight, padding_idx=None))]
pub fn embedding(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    padding_idx: Option<usize>,
) -> PyResult<PyTensor> {
    let (ids, table) = (input.inner.clone(), weight.inner.clone());
    let out = detach(py, move || norm::embedding(&ids, &table, padding_idx)).map_err(|e| to_pyerr(py, e))?;
    Ok(weight.result(out))
}
