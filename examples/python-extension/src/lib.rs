//! An example pyo3 extension around a small candle model: `forward(np.ndarray) -> np.ndarray`.
//!
//! The conversions come from candle-numpy's `python` feature: the argument type says whether
//! the input is shared or copied, the return type whether the output is a view or a copy.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{linear, Linear, VarBuilder, VarMap};
use candle_numpy::adopt::AdoptingAllocator;
use candle_numpy::python::{AutoTensor, NumpyCopy, NumpyView, SharedTensor};
use pyo3::prelude::*;

// The extension is the final binary, so it chooses the global allocator: this one lets NumPy
// memory be shared with candle without a copy.
#[global_allocator]
static ALLOC: AdoptingAllocator = AdoptingAllocator::system();

/// Linear(4 -> 8) -> ReLU -> Linear(8 -> 1) -> sigmoid, with deterministic weights.
#[pyclass]
struct TinyModel {
    l1: Linear,
    l2: Linear,
}

fn py_err(e: candle_core::Error) -> PyErr {
    candle_numpy::Error::from(e).into()
}

#[pymethods]
impl TinyModel {
    #[new]
    fn new() -> PyResult<Self> {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let l1 = linear(4, 8, vb.pp("l1")).map_err(py_err)?;
        let l2 = linear(8, 1, vb.pp("l2")).map_err(py_err)?;
        // deterministic weights, so tests can check values
        for (name, var) in map.data().lock().unwrap().iter() {
            let n = var.elem_count();
            let values = Tensor::arange(0f32, n as f32, &Device::Cpu)
                .and_then(|t| t.affine(0.01, if name.ends_with("bias") { 0.0 } else { -0.02 }))
                .and_then(|t| t.reshape(var.shape()))
                .map_err(py_err)?;
            var.set(&values).map_err(py_err)?;
        }
        Ok(TinyModel { l1, l2 })
    }

    /// Forward pass. The input (float32, shape (batch, 4)) is shared when it can be, else
    /// copied; the output is a fresh NumPy array of shape (batch, 1).
    fn forward(&self, py: Python<'_>, x: AutoTensor) -> PyResult<NumpyCopy> {
        let x = x.0.to_dtype(DType::F32).map_err(py_err)?;
        let y = py
            .detach(|| -> candle_core::Result<Tensor> {
                let h = self.l1.forward(&x)?.relu()?;
                candle_nn::ops::sigmoid(&self.l2.forward(&h)?)
            })
            .map_err(py_err)?;
        Ok(NumpyCopy(y))
    }

    /// Scale an array in place through a shared tensor (fails rather than copy).
    fn scale_in_place(&self, x: SharedTensor, factor: f64) -> PyResult<()> {
        let scaled = x.0.affine(factor, 0.0).map_err(py_err)?;
        candle_numpy::inplace::assign(&x.0, &scaled)?;
        Ok(())
    }

    /// The first layer's weight as a NumPy view of the model's own memory.
    fn weight(&self) -> NumpyView {
        NumpyView(self.l1.weight().clone())
    }
}

#[pymodule]
fn tiny_model(m: &Bound<'_, PyModule>) -> PyResult<()> {
    candle_numpy::python::install(m)?;
    m.add_class::<TinyModel>()?;
    Ok(())
}
