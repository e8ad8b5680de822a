//! DLPack on CUDA devices (`kDLCUDA`), compiled only with the `cuda` feature.
//!
//! * **Export**: the `DLTensor` points at the tensor's device memory (no copy); the export holds
//!   a clone of the tensor, so the memory stays allocated until the consumer's deleter runs.
//! * **Stream semantics** (the `stream` argument of `__dlpack__`, DLPack Python spec): candle
//!   queues its work on the device's stream (the per-thread default stream for
//!   `Device::new_cuda`). Before handing out memory we make the *consumer's* stream wait for
//!   everything queued so far on ours: an event recorded on candle's stream and
//!   `cuStreamWaitEvent(consumer, event)`. The host never blocks. `None` means the legacy
//!   default stream (1), `-1` asks for no synchronization, `0` is refused (the spec forbids it
//!   as ambiguous), and a consumer stream equal to candle's needs nothing.
//! * **Import**: a foreign `kDLCUDA` tensor is **copied device-to-device** into a new candle
//!   tensor on the same GPU (one `cuMemcpyDtoDAsync` of the bytes it spans, then a gather on the
//!   device when it is not C-contiguous). The consumer (we) passes candle's stream to the
//!   producer, so the producer orders its pending writes before our copy; we wait for the copy
//!   to finish before calling the producer's deleter. Element types that candle only reaches by
//!   widening (int8, uint16, ...) are refused: widen on the producer side.

use std::ffi::c_void;

use candle_core::cuda_backend::cudarc::driver::{result, sys, CudaStream, DevicePtr};
use candle_core::cuda_backend::{CudaStorage, CudaStorageSlice};
use candle_core::{Device, Storage, Tensor};

use super::{np_dtype, refused, DLTensor, EXPORT, IMPORT};
use crate::error::{Error, Result};

/// candle's CUDA stream of a CUDA tensor's device.
fn stream_of(device: &Device) -> Result<std::sync::Arc<CudaStream>> {
    Ok(device.as_cuda_device()?.cuda_stream())
}

fn driver(operation: &'static str, what: &str, e: impl std::fmt::Debug) -> Error {
    refused(operation, format!("{what} failed in the CUDA driver: {e:?}"))
}

/// The raw device address of a CUDA storage's first element.
fn storage_address(storage: &CudaStorage, stream: &CudaStream) -> u64 {
    macro_rules! addr {
        ($($v:ident),*) => {
            match &storage.slice {
                $(CudaStorageSlice::$v(s) => s.device_ptr(stream).0,)*
            }
        };
    }
    addr!(U8, U32, I16, I32, I64, BF16, F16, F32, F64, F8E4M3, F6E2M3, F6E3M2, F4, F8E8M0)
}

/// The address of the first element of a CUDA tensor (layout offset applied).
pub(super) fn data_ptr(t: &Tensor) -> Result<*mut c_void> {
    let stream = stream_of(t.device())?;
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cuda(cuda) = &*storage else {
        return Err(refused(EXPORT, "a CUDA tensor without CUDA storage (a candle bug)"));
    };
    let base = storage_address(cuda, &stream);
    let offset = (layout.start_offset() * t.dtype().size_in_bytes()) as u64;
    Ok((base + offset) as usize as *mut c_void)
}

/// Make the consumer's stream (`stream` of `__dlpack__`) wait for the work candle has queued
/// on `t`'s device. See the module docs for the values.
pub fn sync_for_consumer(t: &Tensor, stream: Option<i64>) -> Result<()> {
    let consumer = match stream {
        Some(-1) => return Ok(()),
        Some(0) => {
            return Err(refused(
                EXPORT,
                "stream=0 is ambiguous for CUDA and the DLPack spec forbids it; pass 1 for the legacy \
                 default stream, 2 for the per-thread default stream, a stream handle, or -1",
            ))
        }
        Some(s) if s < -1 => {
            return Err(refused(
                EXPORT,
                format!("stream={s} is not a CUDA stream; pass None, -1, 1, 2 or a handle"),
            ))
        }
        Some(s) => s as u64,
        None => 1, // the spec: None means the legacy default stream
    };
    let ours = stream_of(t.device())?;
    if ours.cu_stream() as usize as u64 == consumer {
        return Ok(());
    }
    let event = ours.record_event(None).map_err(|e| driver(EXPORT, "recording an event", e))?;
    ours.context().bind_to_thread().map_err(|e| driver(EXPORT, "binding the context", e))?;
    // SAFETY: `consumer` is a stream handle of this device's context as the consumer promised
    // (or one of the special handles 1/2, which the driver defines); the event is live for the
    // call, and the driver keeps what it needs after the event is destroyed.
    unsafe {
        result::stream::wait_event(
            consumer as usize as sys::CUstream,
            event.cu_event(),
            sys::CUevent_wait_flags::CU_EVENT_WAIT_DEFAULT,
        )
    }
    .map_err(|e| driver(EXPORT, &format!("making stream {consumer:#x} wait"), e))
}

/// The stream handle a consumer passes to a CUDA producer's `__dlpack__(stream=...)`: candle's
/// stream on `device`, spelled as the DLPack spec wants (1 for the legacy default stream, which
/// the driver API calls 0).
pub fn consumer_stream(device: &Device) -> Result<i64> {
    let handle = stream_of(device)?.cu_stream() as usize as i64;
    Ok(if handle == 0 { 1 } else { handle })
}

/// Copy a foreign `kDLCUDA` tensor into a new candle tensor on the same GPU.
///
/// # Safety
/// `t` must be a valid `DLTensor` whose device memory stays valid until this returns.
pub(super) unsafe fn copy_in(t: &DLTensor) -> Result<Tensor> {
    let dtype = np_dtype(t.dtype)?;
    let candle = dtype.exact_candle().ok_or_else(|| {
        refused(
            IMPORT,
            format!(
                "{} on a CUDA device has no candle dtype of the same bits, and widening is done on the \
                 host only; convert it on the producer side (e.g. x.to(torch.int32)) or copy it to the \
                 CPU first",
                dtype.name()
            ),
        )
    })?;
    let device = crate::device::parse(&format!("cuda:{}", t.device.device_id))?;
    let ndim = usize::try_from(t.ndim).map_err(|_| refused(IMPORT, format!("negative ndim {}", t.ndim)))?;
    let shape: Vec<i64> = if ndim == 0 {
        vec![]
    } else {
        // SAFETY: DLPack: `shape` points to `ndim` values, valid while the tensor is.
        unsafe { std::slice::from_raw_parts(t.shape, ndim) }.to_vec()
    };
    let dims = shape
        .iter()
        .map(|&n| usize::try_from(n))
        .collect::<std::result::Result<Vec<usize>, _>>()
        .map_err(|_| refused(IMPORT, format!("negative size in shape {shape:?} (a broken producer)")))?;
    if dims.contains(&0) {
        return Ok(Tensor::zeros(dims, candle, &device)?);
    }
    let strides: Vec<i64> = if t.strides.is_null() || ndim == 0 {
        crate::array::c_strides(&dims, 1).iter().map(|&s| s as i64).collect()
    } else {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(t.strides, ndim) }.to_vec()
    };
    // the elements spanned, relative to the first element: [lo, hi]
    let (mut lo, mut hi) = (0i64, 0i64);
    for (&n, &s) in shape.iter().zip(&strides) {
        let reach =
            s.checked_mul(n - 1).ok_or_else(|| refused(IMPORT, format!("strides {strides:?} overflow")))?;
        if reach < 0 {
            lo += reach
        } else {
            hi += reach
        }
    }
    let span = (hi - lo + 1) as usize;
    let itemsize = dtype.itemsize();
    let src = (t.data as u64).wrapping_add(t.byte_offset).wrapping_add_signed(lo * itemsize as i64);
    let flat = Tensor::zeros(span, candle, &device)?;
    let stream = stream_of(&device)?;
    {
        let (storage, _) = flat.storage_and_layout();
        let Storage::Cuda(dst) = &*storage else {
            return Err(refused(IMPORT, "a CUDA tensor without CUDA storage (a candle bug)"));
        };
        let dst = storage_address(dst, &stream);
        stream.context().bind_to_thread().map_err(|e| driver(IMPORT, "binding the context", e))?;
        // SAFETY: `src` spans `span` elements of live device memory (the caller's contract and
        // the extent computed above); `dst` is the fresh `flat` tensor of exactly that size,
        // which nobody else uses; both belong to this device's context.
        unsafe { result::memcpy_dtod_async(dst, src, span * itemsize, stream.cu_stream()) }
            .map_err(|e| driver(IMPORT, "the device-to-device copy", e))?;
    }
    // the producer's memory may go once the copy is done: wait for it before returning
    stream.synchronize().map_err(|e| driver(IMPORT, "waiting for the copy", e))?;
    let c_order = crate::array::c_strides(&dims, 1)
        .iter()
        .zip(&strides)
        .zip(&dims)
        .all(|((&c, &s), &n)| n == 1 || c as i64 == s);
    if lo == 0 && c_order {
        return Ok(flat.reshape(dims)?);
    }
    // any other layout: gather the elements in C order on the device
    let mut offsets = vec![-lo];
    for (&n, &s) in shape.iter().zip(&strides) {
        offsets = offsets.iter().flat_map(|&o| (0..n).map(move |i| o + i * s)).collect();
    }
    let index = Tensor::from_vec(offsets, dims.iter().product::<usize>(), &device)?;
    Ok(flat.index_select(&index, 0)?.reshape(dims)?)
}
