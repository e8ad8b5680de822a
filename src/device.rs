//! Device names: `"cpu"`, `"cuda"`, `"cuda:N"`, and `cuda_if_available`.
//!
//! Without the crate's `cuda` feature, asking for a CUDA device is an
//! [`Error::CudaNotCompiled`] naming the feature; with it, a device that cannot be opened (no
//! GPU, no driver) is an [`Error::CudaUnavailable`] with the driver's reason. Never a panic.
//!
//! With CUDA, [`parse`] opens each ordinal once per process and hands out that same device
//! afterwards: candle treats two `Device::new_cuda(0)` calls as two devices (tensors from both
//! cannot meet in one op), so `"cuda:0"` must mean one device wherever it is written.

use candle_core::{Device, DeviceLocation};

use crate::error::{Error, Result};

/// Parse a device name: `"cpu"`, `"cuda"` (= `"cuda:0"`) or `"cuda:N"`.
///
/// ```
/// let cpu = candle_numpy::device::parse("cpu")?;
/// assert!(cpu.is_cpu());
/// assert!(candle_numpy::device::parse("tpu").is_err());
/// # Ok::<(), candle_numpy::Error>(())
/// ```
pub fn parse(spec: &str) -> Result<Device> {
    match parse_location(spec)? {
        DeviceLocation::Cpu => Ok(Device::Cpu),
        DeviceLocation::Cuda { gpu_id } => cuda(gpu_id, spec),
        DeviceLocation::Metal { .. } => Err(Error::DeviceSpec { spec: spec.to_string() }),
    }
}

/// Parse a device name without opening the device.
pub fn parse_location(spec: &str) -> Result<DeviceLocation> {
    let s = spec.trim().to_ascii_lowercase();
    let bad = || Error::DeviceSpec { spec: spec.to_string() };
    match s.as_str() {
        "cpu" => Ok(DeviceLocation::Cpu),
        "cuda" | "gpu" => Ok(DeviceLocation::Cuda { gpu_id: 0 }),
        _ => {
            let n = s.strip_prefix("cuda:").ok_or_else(bad)?;
            let gpu_id = n.parse::<usize>().map_err(|_| bad())?;
            Ok(DeviceLocation::Cuda { gpu_id })
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda(ordinal: usize, _spec: &str) -> Result<Device> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static OPENED: OnceLock<Mutex<HashMap<usize, Device>>> = OnceLock::new();
    let mut opened = OPENED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(device) = opened.get(&ordinal) {
        return Ok(device.clone());
    }
    let device = Device::new_cuda(ordinal).map_err(|e| Error::CudaUnavailable {
        spec: format!("cuda:{ordinal}"),
        reason: crate::device::driver_message(&e),
    })?;
    opened.insert(ordinal, device.clone());
    Ok(device)
}

/// A candle error's message without its backtrace.
#[cfg(feature = "cuda")]
fn driver_message(e: &candle_core::Error) -> String {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => driver_message(inner),
        other => other.to_string(),
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda(ordinal: usize, _spec: &str) -> Result<Device> {
    Err(Error::CudaNotCompiled { spec: format!("cuda:{ordinal}") })
}

/// The CUDA device `ordinal` if this build has CUDA and a device opens, else the CPU.
pub fn cuda_if_available(ordinal: usize) -> Device {
    cuda(ordinal, "").unwrap_or(Device::Cpu)
}

/// Whether this build was compiled with CUDA support and a CUDA device can be opened.
pub fn cuda_is_available() -> bool {
    cuda(0, "").is_ok()
}

/// Whether this build was compiled with the `cuda` feature (whether or not a GPU is present).
pub const CUDA_COMPILED: bool = cfg!(feature = "cuda");

/// The torch-style name of a device: `"cpu"`, `"cuda:0"`, `"metal:0"`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        DeviceLocation::Cpu => "cpu".to_string(),
        DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert!(matches!(parse_location("cpu").unwrap(), DeviceLocation::Cpu));
        assert!(matches!(parse_location(" CUDA ").unwrap(), DeviceLocation::Cuda { gpu_id: 0 }));
        assert!(matches!(parse_location("cuda:3").unwrap(), DeviceLocation::Cuda { gpu_id: 3 }));
        for bad in ["", "cuda:", "cuda:x", "cuda:-1", "tpu", "cpu:0"] {
            let err = parse_location(bad).unwrap_err();
            assert!(err.to_string().contains("expected \"cpu\""), "{bad}: {err}");
        }
        assert_eq!(device_name(&Device::Cpu), "cpu");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        let err = parse("cuda:1").unwrap_err();
        assert!(matches!(err, Error::CudaNotCompiled { .. }));
        assert!(err.to_string().contains("--features cuda") && err.to_string().contains("cuda:1"));
        assert!(cuda_if_available(0).is_cpu());
        assert!(!cuda_is_available());
    }
}
