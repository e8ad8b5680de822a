//! The native module of the `candle_numpy` Python package: registration only. Each concern
//! lives in its own file: `tensor.rs` (the `Tensor` class), `convert.rs` (constructors and
//! input normalisation), `dtype.rs` (dtype arguments), `index.rs` (basic slicing), `dlpack.rs`
//! (`from_dlpack`), `safetensors.rs` (`.safetensors` files), `io.rs` (`.npy` / `.npz` files).

use candle_numpy::adopt::AdoptingAllocator;
use candle_numpy::block_cache::BlockCache;
use pyo3::prelude::*;

mod autograd;
mod basics;
mod callbacks;
mod convert;
mod data;
mod distance;
mod dlpack;
mod dtype;
mod index;
mod io;
mod keras;
mod layers;
mod memory;
mod ops;
mod optim;
mod promote;
mod remote;
mod safetensors;
mod tensor;
mod variable;

/// Foreign (NumPy) memory can become candle storage only through this allocator, which the
/// extension module, being the final binary, installs. Under it, freed large blocks are kept
/// for the next copy of the same size (`memory.rs`: `cn.empty_cache()`, `cn.cache_info()`).
#[global_allocator]
static ALLOC: AdoptingAllocator<BlockCache> = AdoptingAllocator::new(BlockCache::system());

/// candle's CPU matmul asks for its thread count on every call and, unless
/// `RAYON_NUM_THREADS` is set, reads `/proc/cpuinfo` to find it: ~29 µs per call on this
/// machine kind, 60x the cost of the small products a training step makes. At import we pin
/// the value candle would compute, once. Rayon's own pool is built first, so its size is what
/// it would have been; the variable is inherited by child processes (documented in the README).
fn pin_candle_threads() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let _ = rayon::current_num_threads();
        let n = candle_core::utils::get_num_threads();
        // edition 2021: set_var is safe here; it runs once at import, under the GIL
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    pin_candle_threads();
    memory::configure(m.py())?;
    candle_numpy::python::install(m)?;
    m.add_class::<tensor::PyTensor>()?;
    m.add_class::<data::PyTensorDataset>()?;
    m.add_class::<data::PyDataLoader>()?;
    m.add_class::<data::PyDataset>()?;
    m.add_class::<data::PyBatchIter>()?;
    m.add_class::<variable::PyVariable>()?;
    m.add_function(wrap_pyfunction!(variable::tf_constant, m)?)?;
    m.add_function(wrap_pyfunction!(convert::from_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(convert::tensor, m)?)?;
    m.add_function(wrap_pyfunction!(convert::as_tensor, m)?)?;
    m.add_function(wrap_pyfunction!(convert::to_tensor, m)?)?;
    m.add_function(wrap_pyfunction!(convert::shares_memory, m)?)?;
    m.add_function(wrap_pyfunction!(convert::sharing_available, m)?)?;
    m.add_function(wrap_pyfunction!(convert::cuda_is_available, m)?)?;
    m.add_function(wrap_pyfunction!(convert::device_name, m)?)?;
    m.add_function(wrap_pyfunction!(convert::adopted_blocks, m)?)?;
    m.add_class::<optim::PyOptimizer>()?;
    m.add_function(wrap_pyfunction!(optim::loss, m)?)?;
    m.add_function(wrap_pyfunction!(optim::linear, m)?)?;
    m.add_function(wrap_pyfunction!(layers::conv, m)?)?;
    m.add_function(wrap_pyfunction!(layers::pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(layers::batch_norm, m)?)?;
    m.add_function(wrap_pyfunction!(layers::layer_norm, m)?)?;
    m.add_function(wrap_pyfunction!(layers::embedding, m)?)?;
    m.add_class::<keras::PyKerasSequential>()?;
    m.add_function(wrap_pyfunction!(autograd::is_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(autograd::set_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(distance::cdist, m)?)?;
    m.add_function(wrap_pyfunction!(basics::cat, m)?)?;
    m.add_function(wrap_pyfunction!(dtype::_register_dtype_class, m)?)?;
    m.add_function(wrap_pyfunction!(convert::_register_pandas_values, m)?)?;
    m.add_function(wrap_pyfunction!(basics::_register_random_source, m)?)?;
    m.add_class::<basics::PyTensorStorage>()?;
    m.add_function(wrap_pyfunction!(basics::stack, m)?)?;
    m.add_function(wrap_pyfunction!(dlpack::from_dlpack, m)?)?;
    m.add_function(wrap_pyfunction!(dlpack::live_dlpack_exports, m)?)?;
    m.add_function(wrap_pyfunction!(safetensors::save_safetensors, m)?)?;
    m.add_function(wrap_pyfunction!(safetensors::load_safetensors, m)?)?;
    m.add_function(wrap_pyfunction!(safetensors::safetensors_metadata, m)?)?;
    m.add_function(wrap_pyfunction!(io::load_npy, m)?)?;
    m.add_function(wrap_pyfunction!(io::save_npy, m)?)?;
    m.add_function(wrap_pyfunction!(io::load_npz, m)?)?;
    m.add_function(wrap_pyfunction!(io::save_npz, m)?)?;
    m.add_function(wrap_pyfunction!(remote::load_url, m)?)?;
    m.add_function(wrap_pyfunction!(memory::empty_cache, m)?)?;
    m.add_function(wrap_pyfunction!(memory::set_cache_limit, m)?)?;
    m.add_function(wrap_pyfunction!(memory::cache_info, m)?)?;
    Ok(())
}
