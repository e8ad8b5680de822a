//! Helpers shared by the integration tests (`#[macro_use] mod common;`).

/// Instantiate test cases written once as `fn case(device: &Device) -> Result<()>`: a `cpu`
/// variant always, and with the `cuda` feature a `cuda` variant on `cuda:0` that prints why
/// and passes when no CUDA device can be opened (no GPU, no driver). Without the feature the
/// CUDA variants are not compiled.
#[allow(unused_macros)]
macro_rules! device_tests {
    ($($name:ident),* $(,)?) => {
        mod cpu {
            $(#[test] fn $name() -> candle_numpy::Result<()> { super::$name(&candle_core::Device::Cpu) })*
        }
        #[cfg(feature = "cuda")]
        mod cuda {
            $(#[test] fn $name() -> candle_numpy::Result<()> {
                match candle_numpy::device::parse("cuda:0") {
                    Ok(device) => super::$name(&device),
                    Err(e @ candle_numpy::Error::CudaUnavailable { .. }) => {
                        eprintln!("skipped {} on CUDA: no CUDA device ({e})", stringify!($name));
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            })*
        }
    };
}
