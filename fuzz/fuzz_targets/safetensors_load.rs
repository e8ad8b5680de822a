//! The safetensors loader on arbitrary bytes: header length, JSON, dtype table, byte-range
//! validation and the copy of every tensor. Any input must give tensors or an error, never a
//! panic, an abort or an allocation the input does not justify.
#![no_main]

use candle_core::Device;
use candle_numpy::safetensors;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tensors) = safetensors::load_buffer(data, &Device::Cpu) {
        // what loads must be usable: every tensor's bytes are there
        for (_, t) in tensors {
            let _ =
                t.flatten_all().and_then(|t| t.to_dtype(candle_core::DType::F64)).map(|t| t.to_vec1::<f64>());
        }
    }
});
