//! Helpers shared by the integration tests (`#[macro_use] mod common;`).

/// Instantiate test cases written once as `fn case(device: &Device) -> Result<()>`: a `cpu`
/// variant always, and with the `cuda` feature a `cuda` variant on `cuda:0`. The CUDA variants
/// are `#[ignore]`d with a reason, so a run without a GPU reports them as ignored (never as a
/// pass); on a GPU machine run them with `--include-ignored` (scripts/gpu-kit/run.sh and
/// `scripts/cuda-lane.sh gpu` do), where a device that cannot be opened fails the test.
/// Without the feature the CUDA variants are not compiled.
#[allow(unused_macros)]
macro_rules! device_tests {
    ($($name:ident),* $(,)?) => {
        mod cpu {
            $(#[test] fn $name() -> candle_numpy::Result<()> { super::$name(&candle_core::Device::Cpu) })*
        }
        #[cfg(feature = "cuda")]
        mod cuda {
            $(
                #[test]
                #[ignore = "needs a CUDA GPU: run with --include-ignored on a GPU machine"]
                fn $name() -> candle_numpy::Result<()> {
                    super::$name(&candle_numpy::device::parse("cuda:0")?)
                }
            )*
        }
    };
}
