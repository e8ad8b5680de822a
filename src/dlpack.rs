//! DLPack: zero-copy tensor exchange with other frameworks (NumPy, PyTorch, JAX, CuPy, ...),
//! following the DLPack 1.1 ABI (`dlpack.h`).
//!
//! | from | to | copies? |
//! | --- | --- | --- |
//! | `&Tensor` (CPU) | `DLManagedTensorVersioned` / legacy `DLManagedTensor` via [`export`] | no (unless [`ExportOptions::copy`]): the export owns a clone of the tensor |
//! | `DLManagedTensorVersioned` / `DLManagedTensor` (host memory) | [`ArrayRef`] via [`import_versioned`] / [`import_legacy`] | no: the array's owner calls the producer's deleter once, when dropped |
//!
//! The imported [`ArrayRef`] goes through [`to_tensor`](crate::to_tensor) like any other source:
//! `Sharing::Share` shares foreign memory through the adopting allocator, and an import of one of
//! our own exports maps straight back to a candle view of the exported tensor (its owner is the
//! [`TensorOwner`](crate::export::TensorOwner) of that tensor, as for
//! [`ArrayRef::from_tensor`]), so a round trip never adopts memory twice.
//!
//! Exports describe the tensor as candle lays it out: `data` points at the first element (the
//! layout's start offset is applied to the pointer, `byte_offset` is 0), strides are in elements,
//! broadcast (stride-0) tensors are exported read-only. Imports accept host memory only
//! (`kDLCPU`, and the host-visible `kDLCUDAHost`, `kDLROCMHost`, `kDLCUDAManaged`); any other
//! device is an [`Error::DLPack`] naming the device and the fix. `NULL` strides mean a compact
//! row-major tensor.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use candle_numpy::dlpack::{export, import_versioned, ExportOptions, Exported};
//! use candle_numpy::{shares_memory, to_tensor, Options, Sharing};
//!
//! let t = Tensor::arange(0f32, 6., &Device::Cpu)?.reshape((2, 3))?.t()?;
//! let exported = export(&t, &ExportOptions::default())?; // versioned (DLPack 1.1) by default
//! assert!(matches!(exported, Exported::Versioned(_)));
//! let managed = exported.into_raw(); // what a producer hands out (in Python: in a capsule)
//! // SAFETY: a fresh export, handed over exactly once.
//! let a = unsafe { import_versioned(managed.cast())? };
//! assert_eq!(a.shape(), &[3, 2]);
//! let back = to_tensor(&a, Sharing::Share, &Options::default())?; // a view of `t`, no copy
//! assert!(shares_memory(&back, &a));
//! assert_eq!(back.to_vec2::<f32>()?, t.to_vec2::<f32>()?);
//! # Ok::<(), candle_numpy::Error>(())
//! ```

use std::ffi::c_void;
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use candle_core::{DeviceLocation, Tensor};

use crate::adopt::Release;
use crate::array::{byte_extent, c_strides, ArrayRef, Buffer, Owner};
use crate::dtype::{ByteOrder, NpDType};
use crate::error::{Error, Result};

#[cfg(feature = "cuda")]
pub mod cuda;

/// A DLPack ABI version (`DLPackVersion`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DLPackVersion {
    /// Major version: a change means a different struct layout.
    pub major: u32,
    /// Minor version: a change means new enum values (device types, type codes).
    pub minor: u32,
}

/// The DLPack version this module implements (1.1).
pub const DLPACK_VERSION: DLPackVersion = DLPackVersion { major: 1, minor: 1 };

/// `DLPACK_FLAG_BITMASK_READ_ONLY`: the consumer must not write the memory.
pub const READ_ONLY: u64 = 1 << 0;
/// `DLPACK_FLAG_BITMASK_IS_COPIED`: the producer made a copy the consumer owns alone.
pub const IS_COPIED: u64 = 1 << 1;
/// `DLPACK_FLAG_BITMASK_IS_SUBBYTE_TYPE_PADDED` (sub-byte types, which this crate never uses).
pub const IS_SUBBYTE_TYPE_PADDED: u64 = 1 << 2;

/// `DLDeviceType` values (dlpack.h 1.1).
pub mod device_type {
    /// `kDLCPU`.
    pub const CPU: i32 = 1;
    /// `kDLCUDA`.
    pub const CUDA: i32 = 2;
    /// `kDLCUDAHost`: pinned host memory (`cudaMallocHost`).
    pub const CUDA_HOST: i32 = 3;
    /// `kDLOpenCL`.
    pub const OPENCL: i32 = 4;
    /// `kDLVulkan`.
    pub const VULKAN: i32 = 7;
    /// `kDLMetal`.
    pub const METAL: i32 = 8;
    /// `kDLVPI`.
    pub const VPI: i32 = 9;
    /// `kDLROCM`.
    pub const ROCM: i32 = 10;
    /// `kDLROCMHost`: pinned host memory (`hipMallocHost`).
    pub const ROCM_HOST: i32 = 11;
    /// `kDLExtDev`.
    pub const EXT_DEV: i32 = 12;
    /// `kDLCUDAManaged`: unified memory (`cudaMallocManaged`), host-visible.
    pub const CUDA_MANAGED: i32 = 13;
    /// `kDLOneAPI`.
    pub const ONE_API: i32 = 14;
    /// `kDLWebGPU`.
    pub const WEBGPU: i32 = 15;
    /// `kDLHexagon`.
    pub const HEXAGON: i32 = 16;
    /// `kDLMAIA`.
    pub const MAIA: i32 = 17;
    /// `kDLTrn`.
    pub const TRN: i32 = 18;
}

/// `DLDataTypeCode` values (dlpack.h 1.1).
pub mod type_code {
    /// `kDLInt`.
    pub const INT: u8 = 0;
    /// `kDLUInt`.
    pub const UINT: u8 = 1;
    /// `kDLFloat` (IEEE).
    pub const FLOAT: u8 = 2;
    /// `kDLOpaqueHandle`.
    pub const OPAQUE_HANDLE: u8 = 3;
    /// `kDLBfloat`.
    pub const BFLOAT: u8 = 4;
    /// `kDLComplex`.
    pub const COMPLEX: u8 = 5;
    /// `kDLBool` (8 bits per value).
    pub const BOOL: u8 = 6;
    /// `kDLFloat8_e4m3fn` (added in DLPack 1.1).
    pub const FLOAT8_E4M3FN: u8 = 10;
}

/// Where a tensor lives (`DLDevice`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DLDevice {
    /// One of [`device_type`].
    pub device_type: i32,
    /// Device ordinal (0 for host memory).
    pub device_id: i32,
}

impl DLDevice {
    /// The CPU.
    pub const CPU: DLDevice = DLDevice { device_type: device_type::CPU, device_id: 0 };

    /// Whether the CPU can read this memory directly (what an import accepts).
    pub fn is_host_accessible(self) -> bool {
        matches!(
            self.device_type,
            device_type::CPU | device_type::CUDA_HOST | device_type::ROCM_HOST | device_type::CUDA_MANAGED
        )
    }
}

impl fmt::Display for DLDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use device_type as d;
        let id = self.device_id;
        match self.device_type {
            d::CPU => write!(f, "cpu"),
            d::CUDA => write!(f, "cuda:{id}"),
            d::CUDA_HOST => write!(f, "pinned CUDA host memory"),
            d::OPENCL => write!(f, "opencl:{id}"),
            d::VULKAN => write!(f, "vulkan:{id}"),
            d::METAL => write!(f, "metal:{id}"),
            d::VPI => write!(f, "vpi:{id}"),
            d::ROCM => write!(f, "rocm:{id}"),
            d::ROCM_HOST => write!(f, "pinned ROCm host memory"),
            d::EXT_DEV => write!(f, "ext_dev:{id}"),
            d::CUDA_MANAGED => write!(f, "CUDA managed memory"),
            d::ONE_API => write!(f, "oneapi:{id}"),
            d::WEBGPU => write!(f, "webgpu:{id}"),
            d::HEXAGON => write!(f, "hexagon:{id}"),
            d::MAIA => write!(f, "maia:{id}"),
            d::TRN => write!(f, "trn:{id}"),
            other => write!(f, "unknown DLPack device type {other} (id {id})"),
        }
    }
}

/// The element type (`DLDataType`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DLDataType {
    /// One of [`type_code`].
    pub code: u8,
    /// Bits per value.
    pub bits: u8,
    /// Values per element (vector types); always 1 here.
    pub lanes: u16,
}

impl fmt::Display for DLDataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.code {
            0 => "int",
            1 => "uint",
            2 => "float",
            3 => "opaque handle",
            4 => "bfloat",
            5 => "complex",
            6 => "bool",
            7 => "float8_e3m4",
            8 => "float8_e4m3",
            9 => "float8_e4m3b11fnuz",
            10 => "float8_e4m3fn",
            11 => "float8_e4m3fnuz",
            12 => "float8_e5m2",
            13 => "float8_e5m2fnuz",
            14 => "float8_e8m0fnu",
            15 => "float6_e2m3fn",
            16 => "float6_e3m2fn",
            17 => "float4_e2m1fn",
            _ => "unknown",
        };
        write!(f, "{name} (DLPack type code {}, {} bits, {} lanes)", self.code, self.bits, self.lanes)
    }
}

/// The DLPack element type of a NumPy dtype (every row of the dtype table has one).
pub fn dl_dtype(dtype: NpDType) -> DLDataType {
    use type_code as c;
    let (code, bits) = match dtype {
        NpDType::Bool => (c::BOOL, 8),
        NpDType::Int8 => (c::INT, 8),
        NpDType::Int16 => (c::INT, 16),
        NpDType::Int32 => (c::INT, 32),
        NpDType::Int64 => (c::INT, 64),
        NpDType::UInt8 => (c::UINT, 8),
        NpDType::UInt16 => (c::UINT, 16),
        NpDType::UInt32 => (c::UINT, 32),
        NpDType::UInt64 => (c::UINT, 64),
        NpDType::Float16 => (c::FLOAT, 16),
        NpDType::Float32 => (c::FLOAT, 32),
        NpDType::Float64 => (c::FLOAT, 64),
        NpDType::BFloat16 => (c::BFLOAT, 16),
        NpDType::Float8E4M3FN => (c::FLOAT8_E4M3FN, 8),
    };
    DLDataType { code, bits, lanes: 1 }
}

/// The NumPy dtype of a DLPack element type, or an [`Error::DLPack`] naming it.
pub fn np_dtype(dtype: DLDataType) -> Result<NpDType> {
    use type_code as c;
    if dtype.lanes != 1 {
        return Err(refused(
            IMPORT,
            format!(
                "vector element type {dtype} is not supported (lanes must be 1); unpack the vector \
                 lanes into a trailing axis on the producer side"
            ),
        ));
    }
    let found = NpDType::all().find(|&d| dl_dtype(d) == dtype);
    found.ok_or_else(|| {
        let hint = match dtype.code {
            c::COMPLEX => "complex numbers have no candle dtype; split them into real and imaginary parts",
            c::FLOAT | c::INT | c::UINT | c::BFLOAT => "no such width exists for this kind",
            _ => "candle has no such type; convert it on the producer side (e.g. to float32)",
        };
        refused(
            IMPORT,
            format!(
                "element type {dtype} is not supported ({hint}); supported: bool, int8-64, uint8-64, \
                 float16/32/64, bfloat16, float8_e4m3fn"
            ),
        )
    })
}

/// A strided tensor in some memory (`DLTensor`). Does not manage the memory.
#[repr(C)]
#[derive(Debug)]
pub struct DLTensor {
    /// Base address of the data (`NULL` allowed for empty tensors).
    pub data: *mut c_void,
    /// Where the memory is.
    pub device: DLDevice,
    /// Number of axes.
    pub ndim: i32,
    /// Element type.
    pub dtype: DLDataType,
    /// `ndim` axis lengths.
    pub shape: *mut i64,
    /// `ndim` strides in elements, or `NULL` for a compact row-major tensor.
    pub strides: *mut i64,
    /// Bytes from `data` to the first element.
    pub byte_offset: u64,
}

/// A legacy (pre-1.0, unversioned) managed tensor (`DLManagedTensor`).
#[repr(C)]
#[derive(Debug)]
pub struct DLManagedTensor {
    /// The tensor.
    pub dl_tensor: DLTensor,
    /// The producer's context (opaque).
    pub manager_ctx: *mut c_void,
    /// Frees the context and this struct; `None` if nothing needs freeing.
    pub deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

/// A versioned managed tensor (`DLManagedTensorVersioned`, DLPack >= 1.0).
#[repr(C)]
#[derive(Debug)]
pub struct DLManagedTensorVersioned {
    /// ABI version of this struct.
    pub version: DLPackVersion,
    /// The producer's context (opaque).
    pub manager_ctx: *mut c_void,
    /// Frees the context and this struct; `None` if nothing needs freeing.
    pub deleter: Option<unsafe extern "C" fn(*mut DLManagedTensorVersioned)>,
    /// [`READ_ONLY`], [`IS_COPIED`], ...
    pub flags: u64,
    /// The tensor.
    pub dl_tensor: DLTensor,
}

const IMPORT: &str = "DLPack import";
const EXPORT: &str = "DLPack export";

fn refused(operation: &'static str, reason: impl Into<String>) -> Error {
    Error::DLPack { operation, reason: reason.into() }
}

// ------------------------------------------------------------------------------------------
// Export
// ------------------------------------------------------------------------------------------

/// How to export a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// The version to report in a `DLManagedTensorVersioned`; `None` exports a legacy
    /// `DLManagedTensor` (which cannot say read-only). See [`ExportOptions::negotiate`].
    pub version: Option<DLPackVersion>,
    /// Mark the export read-only (a read-only tensor: the consumer must not write).
    pub read_only: bool,
    /// Export a fresh C-contiguous copy, flagged [`IS_COPIED`] (and never read-only: the
    /// consumer owns it alone).
    pub copy: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions { version: Some(DLPACK_VERSION), read_only: false, copy: false }
    }
}

impl ExportOptions {
    /// The struct to export for a consumer's `max_version` (the Python protocol's argument):
    /// `None` or a major version below 1 asks for a legacy `DLManagedTensor`; otherwise a
    /// versioned one, reporting the lower of the consumer's version and ours.
    ///
    /// ```
    /// use candle_numpy::dlpack::{DLPackVersion, ExportOptions};
    /// assert_eq!(ExportOptions::negotiate(None), None);
    /// assert_eq!(ExportOptions::negotiate(Some((1, 0))), Some(DLPackVersion { major: 1, minor: 0 }));
    /// assert_eq!(ExportOptions::negotiate(Some((2, 3))), Some(DLPackVersion { major: 1, minor: 1 }));
    /// ```
    pub fn negotiate(max_version: Option<(u32, u32)>) -> Option<DLPackVersion> {
        let (major, minor) = max_version?;
        if major < DLPACK_VERSION.major {
            return None;
        }
        let asked = DLPackVersion { major, minor };
        Some(asked.min(DLPACK_VERSION))
    }
}

/// A tensor exported as a DLPack managed tensor, owned until handed to a consumer.
///
/// Dropping it calls the deleter (what a consumer does when done with it). To hand it over
/// (e.g. in a Python capsule), take [`Exported::as_ptr`] and then [`std::mem::forget`] it, or
/// use [`Exported::into_raw`].
#[derive(Debug)]
#[must_use = "an export holds a clone of the tensor until its deleter runs"]
pub enum Exported {
    /// A `DLManagedTensorVersioned`.
    Versioned(NonNull<DLManagedTensorVersioned>),
    /// A legacy `DLManagedTensor`.
    Legacy(NonNull<DLManagedTensor>),
}

// SAFETY: an `Exported` exclusively owns its heap-allocated managed tensor and context (a
// `Tensor` and two `Vec`s, all `Send`, plus raw pointers into them), like a `Box`; our deleter
// frees them on any thread.
unsafe impl Send for Exported {}

impl Exported {
    /// The managed tensor's address (still owned by `self`).
    pub fn as_ptr(&self) -> *mut c_void {
        match self {
            Exported::Versioned(p) => p.as_ptr().cast(),
            Exported::Legacy(p) => p.as_ptr().cast(),
        }
    }

    /// Give up ownership: the receiver must call the deleter exactly once.
    pub fn into_raw(self) -> *mut c_void {
        let p = self.as_ptr();
        std::mem::forget(self);
        p
    }
}

impl Drop for Exported {
    fn drop(&mut self) {
        match *self {
            // SAFETY: `self` owns the export (created by `export`, not yet handed over), and
            // the deleter is ours, which frees it exactly once.
            Exported::Versioned(p) => unsafe { delete_versioned(p.as_ptr()) },
            // SAFETY: as above.
            Exported::Legacy(p) => unsafe { delete_legacy(p.as_ptr()) },
        }
    }
}

/// What an export keeps alive: the tensor (and so its storage) and the shape and strides arrays
/// the `DLTensor` points into.
struct ExportCtx {
    tensor: Tensor,
    /// Pointed to by `DLTensor::shape` (only read through that pointer).
    _shape: Vec<i64>,
    /// Pointed to by `DLTensor::strides`.
    _strides: Vec<i64>,
}

static LIVE_EXPORTS: AtomicUsize = AtomicUsize::new(0);

impl Drop for ExportCtx {
    fn drop(&mut self) {
        LIVE_EXPORTS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Number of exports whose deleter has not run yet (diagnostics and leak tests).
pub fn live_exports() -> usize {
    LIVE_EXPORTS.load(Ordering::Relaxed)
}

/// The DLPack device of a tensor: `(kDLCPU, 0)`, `(kDLCUDA, N)` or `(kDLMetal, N)`.
pub fn device_of(t: &Tensor) -> DLDevice {
    match t.device().location() {
        DeviceLocation::Cpu => DLDevice::CPU,
        DeviceLocation::Cuda { gpu_id } => {
            DLDevice { device_type: device_type::CUDA, device_id: gpu_id as i32 }
        }
        DeviceLocation::Metal { gpu_id } => {
            DLDevice { device_type: device_type::METAL, device_id: gpu_id as i32 }
        }
    }
}

/// Export a tensor as a DLPack managed tensor (no copy unless `opts.copy`): CPU tensors as
/// `kDLCPU`, CUDA tensors (with the `cuda` feature) as `kDLCUDA` pointing at device memory.
/// For CUDA, call `cuda::sync_for_consumer` (module `dlpack::cuda`, `cuda` feature) with the consumer's stream before handing the
/// export over (the Python `__dlpack__` does).
///
/// The export holds a clone of the tensor (so its storage stays valid, candle never reallocates
/// it) plus the shape and strides arrays, until its deleter runs. The read-only flag is set
/// when `opts.read_only` asks for it, the tensor is a broadcast (stride-0) view, or its
/// storage is read-only memory ([`crate::export::storage_is_read_only`]). A legacy
/// export of read-only memory is refused (legacy DLPack cannot say read-only), unless it is a
/// copy. Tensors on other devices (Metal) are refused with [`Error::NotOnCpu`].
pub fn export(t: &Tensor, opts: &ExportOptions) -> Result<Exported> {
    let device = device_of(t);
    if device != DLDevice::CPU && !(cfg!(feature = "cuda") && device.device_type == device_type::CUDA) {
        return Err(Error::NotOnCpu {
            operation: "DLPack export (of memory on this device)",
            device: crate::device::device_name(t.device()),
        });
    }
    let t = if opts.copy { t.force_contiguous()? } else { t.clone() };
    let np = NpDType::from_candle(t.dtype())?;
    let read_only = !opts.copy && (opts.read_only || crate::export::is_read_only(&t));
    if opts.version.is_none() && read_only {
        return Err(refused(
            EXPORT,
            "the tensor is read-only (it shares read-only memory, or is a broadcast) and a legacy \
             (unversioned) DLPack capsule cannot say so; ask for a versioned capsule \
             (max_version=(1, 0) or later, as np.from_dlpack does), or for a copy (copy=True)",
        ));
    }
    let ndim = i32::try_from(t.rank())
        .map_err(|_| refused(EXPORT, format!("{} axes do not fit DLPack's int32 ndim", t.rank())))?;
    let isz = t.dtype().size_in_bytes();
    let layout = t.layout();
    let data = if t.elem_count() == 0 {
        // dlpack.h: the data pointer of an empty tensor should be NULL
        std::ptr::null_mut()
    } else if device == DLDevice::CPU {
        let (storage, _) = crate::export::storage_ptr(&t)?;
        storage.wrapping_add(layout.start_offset() * isz).cast_mut().cast::<c_void>()
    } else {
        device_data_ptr(&t)?
    };
    // candle sizes and strides are bounded by the memory they index, so they fit i64
    let mut shape: Vec<i64> = layout.dims().iter().map(|&n| n as i64).collect();
    let mut strides: Vec<i64> = layout.stride().iter().map(|&s| s as i64).collect();
    let dl_tensor = DLTensor {
        data,
        device,
        ndim,
        dtype: dl_dtype(np),
        shape: shape.as_mut_ptr(),
        strides: strides.as_mut_ptr(),
        byte_offset: 0,
    };
    LIVE_EXPORTS.fetch_add(1, Ordering::Relaxed);
    // the Vecs' heap blocks do not move when the Vecs move into the context
    let ctx =
        Box::into_raw(Box::new(ExportCtx { tensor: t, _shape: shape, _strides: strides })).cast::<c_void>();
    let flags = if read_only { READ_ONLY } else { 0 } | if opts.copy { IS_COPIED } else { 0 };
    Ok(match opts.version {
        Some(version) => Exported::Versioned(NonNull::from(Box::leak(Box::new(DLManagedTensorVersioned {
            version,
            manager_ctx: ctx,
            deleter: Some(delete_versioned),
            flags,
            dl_tensor,
        })))),
        None => Exported::Legacy(NonNull::from(Box::leak(Box::new(DLManagedTensor {
            dl_tensor,
            manager_ctx: ctx,
            deleter: Some(delete_legacy),
        })))),
    })
}

/// The device address of a CUDA tensor's first element.
#[cfg(feature = "cuda")]
fn device_data_ptr(t: &Tensor) -> Result<*mut c_void> {
    cuda::data_ptr(t)
}

#[cfg(not(feature = "cuda"))]
fn device_data_ptr(t: &Tensor) -> Result<*mut c_void> {
    // without the feature no tensor lives on a CUDA device; `export` refused others already
    Err(Error::NotOnCpu { operation: "DLPack export", device: crate::device::device_name(t.device()) })
}

/// The deleter of our versioned exports: frees the struct and its context (dropping the tensor
/// clone). May be called from any thread, at any time (also while a Python interpreter shuts
/// down); runs no Python code and cannot unwind into its C caller.
unsafe extern "C" fn delete_versioned(managed: *mut DLManagedTensorVersioned) {
    if managed.is_null() {
        return;
    }
    // Dropping a tensor never panics; should it ever, the export is leaked rather than the
    // panic unwinding into C (which aborts).
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `managed` was made by `export` with Box::leak and its context with
        // Box::into_raw; the DLPack contract has the deleter called once, so both are reclaimed
        // exactly once.
        unsafe {
            let managed = Box::from_raw(managed);
            drop(Box::from_raw(managed.manager_ctx.cast::<ExportCtx>()));
        }
    }));
}

/// The deleter of our legacy exports (as [`delete_versioned`]).
unsafe extern "C" fn delete_legacy(managed: *mut DLManagedTensor) {
    if managed.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: as in delete_versioned.
        unsafe {
            let managed = Box::from_raw(managed);
            drop(Box::from_raw(managed.manager_ctx.cast::<ExportCtx>()));
        }
    }));
}

// ------------------------------------------------------------------------------------------
// Import
// ------------------------------------------------------------------------------------------

/// The owner of foreign memory imported through DLPack: dropping the last clone calls the
/// producer's deleter, exactly once.
///
/// The deleter runs wherever the last clone drops (with [`Release::Drop`], possibly on a thread
/// candle freed the tensor on). DLPack requires deleters to be callable from any thread (Python
/// producers take the GIL themselves); bindings that prefer to release on a particular thread
/// use [`Release::Defer`] via [`ArrayRef::with_owner_identity`].
pub struct DLPackOwner {
    managed: Managed,
}

enum Managed {
    Versioned(NonNull<DLManagedTensorVersioned>),
    Legacy(NonNull<DLManagedTensor>),
}

impl fmt::Debug for DLPackOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.managed {
            Managed::Versioned(p) => write!(f, "DLPackOwner(versioned {p:p})"),
            Managed::Legacy(p) => write!(f, "DLPackOwner(legacy {p:p})"),
        }
    }
}

// SAFETY: the owner only holds the managed tensor to call its deleter once; DLPack requires the
// deleter to be callable from any thread, and nothing else is accessed through the pointer
// after construction.
unsafe impl Send for DLPackOwner {}
// SAFETY: shared references expose nothing (no methods read the pointer).
unsafe impl Sync for DLPackOwner {}

impl Drop for DLPackOwner {
    fn drop(&mut self) {
        match self.managed {
            Managed::Versioned(p) => {
                // SAFETY: the owner holds the one reference the consumer was given; the struct
                // stays valid until its deleter runs, which happens here, once.
                unsafe {
                    if let Some(deleter) = (*p.as_ptr()).deleter {
                        deleter(p.as_ptr());
                    }
                }
            }
            Managed::Legacy(p) => {
                // SAFETY: as above.
                unsafe {
                    if let Some(deleter) = (*p.as_ptr()).deleter {
                        deleter(p.as_ptr());
                    }
                }
            }
        }
    }
}

/// Take ownership of a versioned DLPack tensor and describe its memory as an [`ArrayRef`]
/// (no copy).
///
/// The array is read-only when the producer set [`READ_ONLY`]. Its owner is a
/// [`DLPackOwner`] that calls the producer's deleter once, when the last clone drops; its owner
/// identity is the buffer's address (so two imports of the same memory can both be shared) and
/// its release is [`Release::Drop`]. When the tensor is one of our own exports, the result is
/// [`ArrayRef::from_tensor`] of the exported tensor instead (owned by its
/// [`TensorOwner`](crate::export::TensorOwner), so sharing gives a candle view of it) and the
/// export is freed right away.
///
/// Refused, with an [`Error::DLPack`] naming the problem: another major version, memory the
/// CPU cannot read (CUDA, ROCm, ...), element types outside the dtype table or with lanes != 1,
/// negative sizes, a `NULL` data pointer for a non-empty tensor.
///
/// # Safety
/// `managed` must be a valid `DLManagedTensorVersioned` that the caller owns and hands over
/// (for a Python capsule: taken from an unconsumed `"dltensor_versioned"` capsule, which the
/// caller renames `"used_dltensor_versioned"` so nobody else uses it). Ownership passes to this
/// function in every case: on error the deleter has run before it returns. The memory must stay
/// valid (and writable, unless flagged read-only) until the deleter runs, as DLPack promises.
pub unsafe fn import_versioned(managed: *mut DLManagedTensorVersioned) -> Result<ArrayRef> {
    // SAFETY: the caller's contract, passed on.
    host_only(unsafe { import_versioned_any(managed, false) })
}

/// What an import yields: host memory described as an [`ArrayRef`] (no copy), or a tensor on a
/// CUDA device (with the `cuda` feature).
#[derive(Debug)]
pub enum Imported {
    /// Host memory, described without copying (convert with [`to_tensor`](crate::to_tensor)).
    Host(ArrayRef),
    /// A `kDLCUDA` tensor: a **device-to-device copy** into a new candle tensor on the same GPU,
    /// or, for one of our own exports, the exported tensor itself (no copy).
    Device(Tensor),
}

fn host_only(imported: Result<Imported>) -> Result<ArrayRef> {
    match imported? {
        Imported::Host(a) => Ok(a),
        Imported::Device(t) => Err(device_refusal(device_of(&t))),
    }
}

/// [`import_versioned`], also accepting CUDA memory when `allow_device` (see [`Imported`]).
///
/// # Safety
/// As [`import_versioned`]. For CUDA memory, the producer must have ordered its writes before
/// candle's stream (pass `cuda::consumer_stream` as `__dlpack__`'s `stream`); the memory is
/// read before this returns.
pub unsafe fn import_versioned_any(
    managed: *mut DLManagedTensorVersioned,
    allow_device: bool,
) -> Result<Imported> {
    let managed = NonNull::new(managed)
        .ok_or_else(|| refused(IMPORT, "the managed tensor pointer is NULL (a broken producer)"))?;
    // From here on the deleter runs exactly once, whatever happens below.
    let guard = DLPackOwner { managed: Managed::Versioned(managed) };
    // SAFETY: valid per the caller's contract until the guard calls the deleter; `version`,
    // `manager_ctx` and `deleter` are readable whatever the major version (they are ABI-stable).
    let m = unsafe { managed.as_ref() };
    if m.version.major != DLPACK_VERSION.major {
        return Err(refused(
            IMPORT,
            format!(
                "the producer exported DLPack {}.{}, this build reads major version {}; ask the \
                 producer for max_version=({}, {})",
                m.version.major,
                m.version.minor,
                DLPACK_VERSION.major,
                DLPACK_VERSION.major,
                DLPACK_VERSION.minor
            ),
        ));
    }
    let readonly = m.flags & READ_ONLY != 0;
    let ours = m.deleter.is_some_and(|d| {
        std::ptr::fn_addr_eq(d, delete_versioned as unsafe extern "C" fn(*mut DLManagedTensorVersioned))
    });
    if ours {
        // SAFETY: our deleter means `export` made this struct, so the context is an ExportCtx,
        // alive until the guard runs the deleter below.
        let ctx = unsafe { &*m.manager_ctx.cast::<ExportCtx>() };
        return reclaim(ctx, guard, readonly, allow_device);
    }
    // SAFETY: the tensor description is valid per the caller's contract.
    unsafe { describe(&m.dl_tensor, readonly, guard, allow_device) }
}

/// Take ownership of a legacy DLPack tensor (`DLManagedTensor`) and describe its memory as an
/// [`ArrayRef`] (no copy). As [`import_versioned`], without version or flags (legacy tensors
/// are always writable).
///
/// # Safety
/// As [`import_versioned`], for a `DLManagedTensor` (from a `"dltensor"` capsule).
pub unsafe fn import_legacy(managed: *mut DLManagedTensor) -> Result<ArrayRef> {
    // SAFETY: the caller's contract, passed on.
    host_only(unsafe { import_legacy_any(managed, false) })
}

/// [`import_legacy`], also accepting CUDA memory when `allow_device` (see [`Imported`]).
///
/// # Safety
/// As [`import_versioned_any`], for a `DLManagedTensor`.
pub unsafe fn import_legacy_any(managed: *mut DLManagedTensor, allow_device: bool) -> Result<Imported> {
    let managed = NonNull::new(managed)
        .ok_or_else(|| refused(IMPORT, "the managed tensor pointer is NULL (a broken producer)"))?;
    let guard = DLPackOwner { managed: Managed::Legacy(managed) };
    // SAFETY: valid per the caller's contract until the guard calls the deleter.
    let m = unsafe { managed.as_ref() };
    let ours = m.deleter.is_some_and(|d| {
        std::ptr::fn_addr_eq(d, delete_legacy as unsafe extern "C" fn(*mut DLManagedTensor))
    });
    if ours {
        // SAFETY: our deleter means `export` made this struct and its ExportCtx context.
        let ctx = unsafe { &*m.manager_ctx.cast::<ExportCtx>() };
        return reclaim(ctx, guard, false, allow_device);
    }
    // SAFETY: the tensor description is valid per the caller's contract.
    unsafe { describe(&m.dl_tensor, false, guard, allow_device) }
}

/// The tensor behind one of our own exports that a consumer still holds, or `None` when
/// `managed` is not ours (its deleter is someone else's). NumPy keeps the managed tensor of an
/// array made by `np.from_dlpack(t)` in a capsule (the array's base): seeing through it lets
/// `cn.from_dlpack(np.from_dlpack(t))` give a view of `t` instead of adopting `t`'s memory a
/// second time. The export stays owned by its holder; this only clones the tensor.
///
/// # Safety
/// `managed` must be null or point to a live `DLManagedTensorVersioned` (when `versioned`) or
/// `DLManagedTensor`, valid for the duration of the call.
pub unsafe fn exported_tensor(managed: *const c_void, versioned: bool) -> Option<Tensor> {
    if managed.is_null() {
        return None;
    }
    let ctx = if versioned {
        // SAFETY: the caller's contract: a live versioned managed tensor.
        let m = unsafe { &*managed.cast::<DLManagedTensorVersioned>() };
        let ours = m.deleter.is_some_and(|d| {
            std::ptr::fn_addr_eq(d, delete_versioned as unsafe extern "C" fn(*mut DLManagedTensorVersioned))
        });
        ours.then_some(m.manager_ctx)
    } else {
        // SAFETY: the caller's contract: a live legacy managed tensor.
        let m = unsafe { &*managed.cast::<DLManagedTensor>() };
        let ours = m.deleter.is_some_and(|d| {
            std::ptr::fn_addr_eq(d, delete_legacy as unsafe extern "C" fn(*mut DLManagedTensor))
        });
        ours.then_some(m.manager_ctx)
    }?;
    // SAFETY: our deleter means `export` made the struct, so its context is an ExportCtx, alive
    // while the managed tensor is (the caller's contract).
    Some(unsafe { &*ctx.cast::<ExportCtx>() }.tensor.clone())
}

/// One of our own exports coming back: the tensor itself (no copy), then the capsule's deleter
/// (the guard) runs.
fn reclaim(ctx: &ExportCtx, guard: DLPackOwner, readonly: bool, allow_device: bool) -> Result<Imported> {
    let t = ctx.tensor.clone();
    drop(guard);
    if !t.device().is_cpu() {
        return if allow_device { Ok(Imported::Device(t)) } else { Err(device_refusal(device_of(&t))) };
    }
    let a = ArrayRef::from_tensor(&t)?;
    Ok(Imported::Host(if readonly { a.into_readonly() } else { a }))
}

/// Why an import of memory on `device` is refused, and what to do.
fn device_refusal(device: DLDevice) -> Error {
    let build = if !cfg!(feature = "cuda") {
        "this build has no GPU support"
    } else if device.device_type == device_type::CUDA {
        "this import reads host memory; cn.from_dlpack / import_*_any(.., true) copy CUDA memory \
         device-to-device"
    } else {
        "only CUDA device memory is supported"
    };
    refused(
        IMPORT,
        format!(
            "the tensor lives on {device} (DLPack device type {}), but only host (CPU) memory can be \
             imported ({build}); copy it to the CPU first (PyTorch: x.cpu(), CuPy: x.get(), JAX: \
             jax.device_get(x)) and import that",
            device.device_type
        ),
    )
}

/// Describe a foreign `DLTensor` as an array owned by `guard` (or, for CUDA memory when
/// `allow_device`, copy it into a candle tensor and release it).
///
/// # Safety
/// `t` must be a valid `DLTensor` whose memory `guard` keeps alive.
unsafe fn describe(t: &DLTensor, readonly: bool, guard: DLPackOwner, allow_device: bool) -> Result<Imported> {
    if !t.device.is_host_accessible() {
        #[cfg(feature = "cuda")]
        if allow_device && t.device.device_type == device_type::CUDA {
            // SAFETY: the guard keeps the memory valid until it drops, after the copy finished.
            let copied = unsafe { cuda::copy_in(t) };
            drop(guard);
            return copied.map(Imported::Device);
        }
        let _ = allow_device;
        return Err(device_refusal(t.device));
    }
    let dtype = np_dtype(t.dtype)?;
    let ndim = usize::try_from(t.ndim)
        .map_err(|_| refused(IMPORT, format!("negative ndim {} (a broken producer)", t.ndim)))?;
    if ndim > 0 && t.shape.is_null() {
        return Err(refused(
            IMPORT,
            format!("shape is NULL for a tensor of {ndim} axes (a broken producer)"),
        ));
    }
    let raw_shape: &[i64] = if ndim == 0 {
        &[]
    } else {
        // SAFETY: DLPack: `shape` points to `ndim` values, valid while the tensor is.
        unsafe { std::slice::from_raw_parts(t.shape, ndim) }
    };
    let shape = raw_shape
        .iter()
        .map(|&n| usize::try_from(n))
        .collect::<std::result::Result<Vec<usize>, _>>()
        .map_err(|_| refused(IMPORT, format!("negative size in shape {raw_shape:?} (a broken producer)")))?;
    let itemsize = dtype.itemsize();
    let strides: Vec<isize> = if t.strides.is_null() || ndim == 0 {
        c_strides(&shape, itemsize)
    } else {
        // SAFETY: DLPack: non-NULL `strides` points to `ndim` values, valid while the tensor is.
        let raw = unsafe { std::slice::from_raw_parts(t.strides, ndim) };
        raw.iter()
            .map(|&s| isize::try_from(s).ok().and_then(|s| s.checked_mul(itemsize as isize)))
            .collect::<Option<Vec<isize>>>()
            .ok_or_else(|| refused(IMPORT, format!("strides {raw:?} overflow the address space")))?
    };
    let empty = shape.contains(&0);
    let offset = usize::try_from(t.byte_offset)
        .map_err(|_| refused(IMPORT, format!("byte_offset {} overflows the address space", t.byte_offset)))?;
    let data = if t.data.is_null() {
        if !empty {
            return Err(refused(
                IMPORT,
                format!(
                    "the data pointer is NULL for a non-empty tensor of shape {shape:?} (a broken producer)"
                ),
            ));
        }
        // nothing is read through an empty array; any aligned non-null address describes it
        itemsize as *const u8
    } else {
        t.data.cast::<u8>().cast_const().wrapping_add(offset)
    };
    let buffer = if empty {
        Buffer { ptr: data, len: 0 }
    } else {
        let (lo, hi) = byte_extent(&shape, &strides, itemsize).ok_or_else(|| {
            refused(IMPORT, format!("shape {shape:?} with strides {strides:?} overflows the address space"))
        })?;
        Buffer { ptr: data.wrapping_offset(lo), len: (hi - lo) as usize }
    };
    let identity = buffer.ptr as usize;
    let owner: Owner = Arc::new(guard);
    // SAFETY: the buffer is exactly the bytes the tensor addresses, which the producer keeps
    // valid (and writable unless flagged read-only) until its deleter runs, i.e. until the
    // owner drops; DLPack data is in native byte order.
    let a = unsafe {
        ArrayRef::from_raw_parts(data, dtype, ByteOrder::NATIVE, shape, strides, readonly, buffer, owner)?
    };
    Ok(Imported::Host(a.with_owner_identity(identity, Release::Drop)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::TensorOwner;
    use crate::{shares_memory, to_tensor, Options, Sharing};
    use candle_core::{DType, Device};
    use std::mem::{offset_of, size_of};
    use std::sync::Mutex;

    /// Tests that count live exports run one at a time.
    static COUNTING: Mutex<()> = Mutex::new(());

    fn counting() -> std::sync::MutexGuard<'static, ()> {
        COUNTING.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn versioned(e: Exported) -> NonNull<DLManagedTensorVersioned> {
        assert!(matches!(e, Exported::Versioned(_)));
        NonNull::new(e.into_raw().cast()).unwrap()
    }

    #[test]
    fn abi_layout_matches_dlpack_h() {
        assert_eq!(size_of::<DLDevice>(), 8);
        assert_eq!(size_of::<DLDataType>(), 4);
        assert_eq!(size_of::<DLPackVersion>(), 8);
        if size_of::<usize>() == 8 {
            assert_eq!(size_of::<DLTensor>(), 48);
            assert_eq!(offset_of!(DLTensor, device), 8);
            assert_eq!(offset_of!(DLTensor, ndim), 16);
            assert_eq!(offset_of!(DLTensor, dtype), 20);
            assert_eq!(offset_of!(DLTensor, shape), 24);
            assert_eq!(offset_of!(DLTensor, byte_offset), 40);
            assert_eq!(size_of::<DLManagedTensor>(), 64);
            assert_eq!(offset_of!(DLManagedTensor, deleter), 56);
            assert_eq!(size_of::<DLManagedTensorVersioned>(), 80);
            assert_eq!(offset_of!(DLManagedTensorVersioned, manager_ctx), 8);
            assert_eq!(offset_of!(DLManagedTensorVersioned, deleter), 16);
            assert_eq!(offset_of!(DLManagedTensorVersioned, flags), 24);
            assert_eq!(offset_of!(DLManagedTensorVersioned, dl_tensor), 32);
        }
    }

    #[test]
    fn dtype_table() {
        for d in NpDType::all() {
            let dl = dl_dtype(d);
            assert_eq!(dl.lanes, 1);
            assert_eq!(dl.bits as usize, d.itemsize() * 8, "{d:?}");
            assert_eq!(np_dtype(dl).unwrap(), d);
        }
        let f = |code, bits| DLDataType { code, bits, lanes: 1 };
        assert_eq!(dl_dtype(NpDType::Float32), f(type_code::FLOAT, 32));
        assert_eq!(dl_dtype(NpDType::BFloat16), f(4, 16));
        assert_eq!(dl_dtype(NpDType::Float8E4M3FN), f(10, 8));
        assert_eq!(dl_dtype(NpDType::Bool), f(6, 8));
        assert_eq!(dl_dtype(NpDType::UInt16), f(1, 16));
        assert_eq!(dl_dtype(NpDType::Int8), f(0, 8));
        let err = np_dtype(DLDataType { code: type_code::FLOAT, bits: 32, lanes: 4 }).unwrap_err();
        assert!(err.to_string().contains("lanes must be 1"), "{err}");
        let err = np_dtype(f(type_code::COMPLEX, 64)).unwrap_err();
        assert!(matches!(err, Error::DLPack { .. }) && err.to_string().contains("complex"), "{err}");
        assert!(np_dtype(f(type_code::FLOAT, 8)).is_err());
        assert!(np_dtype(f(12, 8)).unwrap_err().to_string().contains("float8_e5m2"));
    }

    #[test]
    fn export_describes_the_layout() {
        let _c = counting();
        let before = live_exports();
        // a transposed, narrowed view: start offset 1, element strides [1, 4]
        let base = Tensor::arange(0f32, 12., &Device::Cpu).unwrap().reshape((3, 4)).unwrap();
        let t = base.narrow(1, 1, 2).unwrap().t().unwrap();
        let e = export(&t, &ExportOptions::default()).unwrap();
        assert_eq!(live_exports(), before + 1);
        let Exported::Versioned(p) = &e else { panic!("versioned expected") };
        // SAFETY: a live export owned by `e`.
        let m = unsafe { p.as_ref() };
        assert_eq!(m.version, DLPACK_VERSION);
        assert_eq!(m.flags, 0);
        let d = &m.dl_tensor;
        assert_eq!(
            (d.device, d.ndim, d.dtype, d.byte_offset),
            (DLDevice::CPU, 2, dl_dtype(NpDType::Float32), 0)
        );
        // SAFETY: ndim-long arrays owned by the export.
        let (shape, strides) =
            unsafe { (std::slice::from_raw_parts(d.shape, 2), std::slice::from_raw_parts(d.strides, 2)) };
        assert_eq!((shape, strides), (&[2i64, 3][..], &[1i64, 4][..]));
        let (storage, _) = crate::export::storage_range(&base).unwrap();
        assert_eq!(d.data.cast::<u8>().cast_const(), storage.wrapping_add(4));
        drop(e);
        assert_eq!(live_exports(), before);
    }

    #[test]
    fn round_trip_maps_back_to_the_tensor() {
        let _c = counting();
        let before = live_exports();
        let t = Tensor::arange(0i64, 24, &Device::Cpu).unwrap().reshape((2, 3, 4)).unwrap();
        let view = t.permute((2, 0, 1)).unwrap().narrow(0, 1, 2).unwrap();
        for version in [Some(DLPACK_VERSION), None] {
            let e = export(&view, &ExportOptions { version, ..Default::default() }).unwrap();
            // SAFETY: a fresh export handed over once.
            let a = unsafe {
                match e.into_raw() {
                    p if version.is_some() => import_versioned(p.cast()),
                    p => import_legacy(p.cast()),
                }
            }
            .unwrap();
            assert_eq!(live_exports(), before, "the import frees the export right away");
            assert!(a.owner().is::<TensorOwner>(), "our own export maps back to the tensor");
            assert_eq!(a.shape(), view.dims());
            assert!(!a.is_readonly());
            let back = to_tensor(&a, Sharing::Share, &Options::default()).unwrap();
            assert!(shares_memory(&back, &a) && shares_memory(&view, &a));
            assert_eq!(back.to_vec3::<i64>().unwrap(), view.to_vec3::<i64>().unwrap());
        }
    }

    #[test]
    fn flags_read_only_and_copied() {
        let _c = counting();
        let before = live_exports();
        let t = Tensor::arange(0f64, 6., &Device::Cpu).unwrap().reshape((2, 3)).unwrap().t().unwrap();
        // read-only: flagged, and the import is read-only
        let e = export(&t, &ExportOptions { read_only: true, ..Default::default() }).unwrap();
        let p = versioned(e);
        // SAFETY: a live export we own.
        assert_eq!(unsafe { p.as_ref() }.flags, READ_ONLY);
        // SAFETY: handed over once.
        let a = unsafe { import_versioned(p.as_ptr()) }.unwrap();
        assert!(a.is_readonly());
        assert!(to_tensor(&a, Sharing::Share, &Options::default()).is_err());
        // SAFETY: the shared tensor is dropped unread and unwritten.
        assert!(to_tensor(&a, Sharing::Share, &unsafe { Options::default().allow_readonly(true) }).is_ok());
        // broadcasts are read-only without asking
        let b = Tensor::new(&[1f32, 2.], &Device::Cpu).unwrap().broadcast_as((3, 2)).unwrap();
        let p = versioned(export(&b, &ExportOptions::default()).unwrap());
        // SAFETY: a live export we own; freed by the drop below.
        assert_eq!(unsafe { p.as_ref() }.flags, READ_ONLY);
        drop(Exported::Versioned(p));
        // legacy cannot say read-only: refused, unless copied
        let err = export(&t, &ExportOptions { version: None, read_only: true, copy: false }).unwrap_err();
        assert!(matches!(err, Error::DLPack { .. }) && err.to_string().contains("max_version"), "{err}");
        assert!(export(&b, &ExportOptions { version: None, ..Default::default() }).is_err());
        let legacy_copy = export(&t, &ExportOptions { version: None, read_only: true, copy: true }).unwrap();
        assert!(matches!(legacy_copy, Exported::Legacy(_)));
        drop(legacy_copy);
        // a copy: IS_COPIED, writable, C-contiguous, its own memory
        let p = versioned(
            export(&t, &ExportOptions { read_only: true, copy: true, ..Default::default() }).unwrap(),
        );
        // SAFETY: a live export we own.
        let m = unsafe { p.as_ref() };
        assert_eq!(m.flags, IS_COPIED);
        // SAFETY: ndim-long array owned by the export.
        assert_eq!(unsafe { std::slice::from_raw_parts(m.dl_tensor.strides, 2) }, &[2, 1]);
        // SAFETY: handed over once.
        let a = unsafe { import_versioned(p.as_ptr()) }.unwrap();
        assert!(!a.is_readonly() && a.is_c_contiguous());
        let copy = to_tensor(&a, Sharing::Share, &Options::default()).unwrap();
        assert!(!shares_memory(&t, &a));
        assert_eq!(copy.to_vec2::<f64>().unwrap(), t.to_vec2::<f64>().unwrap());
        drop((a, copy));
        assert_eq!(live_exports(), before);
    }

    #[test]
    fn versions_negotiate() {
        let v = |major, minor| DLPackVersion { major, minor };
        assert_eq!(ExportOptions::negotiate(None), None);
        assert_eq!(ExportOptions::negotiate(Some((0, 8))), None);
        assert_eq!(ExportOptions::negotiate(Some((1, 0))), Some(v(1, 0)));
        assert_eq!(ExportOptions::negotiate(Some((1, 1))), Some(v(1, 1)));
        assert_eq!(ExportOptions::negotiate(Some((1, 7))), Some(v(1, 1)));
        assert_eq!(ExportOptions::negotiate(Some((3, 0))), Some(v(1, 1)));
    }

    #[test]
    fn empty_and_scalar_exports() {
        let _c = counting();
        let before = live_exports();
        let empty = Tensor::zeros((0, 3), DType::F32, &Device::Cpu).unwrap();
        let p = versioned(export(&empty, &ExportOptions::default()).unwrap());
        // SAFETY: a live export we own.
        assert!(unsafe { p.as_ref() }.dl_tensor.data.is_null());
        // SAFETY: handed over once.
        let a = unsafe { import_versioned(p.as_ptr()) }.unwrap();
        assert_eq!(a.shape(), &[0, 3]);
        // candle gives the outer axis of a (2, 0) tensor stride 0: not a broadcast, writable
        let empty = Tensor::zeros((2, 0), DType::F32, &Device::Cpu).unwrap();
        let legacy = export(&empty, &ExportOptions { version: None, ..Default::default() }).unwrap();
        drop(legacy);
        let scalar = Tensor::new(7u32, &Device::Cpu).unwrap();
        let p = versioned(export(&scalar, &ExportOptions::default()).unwrap());
        // SAFETY: handed over once.
        let a = unsafe { import_versioned(p.as_ptr()) }.unwrap();
        let back = to_tensor(&a, Sharing::Share, &Options::default()).unwrap();
        assert_eq!(back.to_scalar::<u32>().unwrap(), 7);
        drop((a, back));
        assert_eq!(live_exports(), before);
    }

    /// A foreign producer: a Vec described by a hand-built managed tensor whose deleter counts
    /// its calls in the `AtomicUsize` passed as context.
    struct Foreign {
        data: Vec<f32>,
        shape: Vec<i64>,
        strides: Option<Vec<i64>>,
        calls: &'static AtomicUsize,
    }

    unsafe extern "C" fn foreign_deleter(m: *mut DLManagedTensorVersioned) {
        // SAFETY: made by `foreign` below with Box::leak; called once per the contract (and the
        // count checks that).
        let m = unsafe { Box::from_raw(m) };
        // SAFETY: the context is the Box<Foreign> leaked by `foreign`.
        let ctx = unsafe { Box::from_raw(m.manager_ctx.cast::<Foreign>()) };
        ctx.calls.fetch_add(1, Ordering::SeqCst);
    }

    unsafe extern "C" fn foreign_legacy_deleter(m: *mut DLManagedTensor) {
        // SAFETY: as foreign_deleter.
        let m = unsafe { Box::from_raw(m) };
        // SAFETY: as foreign_deleter.
        let ctx = unsafe { Box::from_raw(m.manager_ctx.cast::<Foreign>()) };
        ctx.calls.fetch_add(1, Ordering::SeqCst);
    }

    fn foreign_tensor(ctx: &mut Foreign, device: DLDevice, byte_offset: u64) -> DLTensor {
        DLTensor {
            data: ctx.data.as_mut_ptr().cast(),
            device,
            ndim: ctx.shape.len() as i32,
            dtype: dl_dtype(NpDType::Float32),
            shape: ctx.shape.as_mut_ptr(),
            strides: ctx.strides.as_mut().map_or(std::ptr::null_mut(), |s| s.as_mut_ptr()),
            byte_offset,
        }
    }

    fn foreign(
        shape: &[i64],
        strides: Option<&[i64]>,
        device: DLDevice,
        byte_offset: u64,
        flags: u64,
        calls: &'static AtomicUsize,
    ) -> *mut DLManagedTensorVersioned {
        let mut ctx = Box::new(Foreign {
            data: (0..16).map(|i| i as f32).collect(),
            shape: shape.to_vec(),
            strides: strides.map(<[i64]>::to_vec),
            calls,
        });
        let dl_tensor = foreign_tensor(&mut ctx, device, byte_offset);
        Box::leak(Box::new(DLManagedTensorVersioned {
            version: DLPackVersion { major: 1, minor: 0 },
            manager_ctx: Box::into_raw(ctx).cast(),
            deleter: Some(foreign_deleter),
            flags,
            dl_tensor,
        }))
    }

    #[test]
    fn foreign_import_calls_the_deleter_exactly_once() {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        // rows 1..3 of a (4, 4) f32 block, transposed: byte_offset 16, element strides [1, 4]
        let m = foreign(&[4, 3], Some(&[1, 4]), DLDevice::CPU, 16, READ_ONLY, &CALLS);
        // SAFETY: a valid managed tensor handed over once.
        let a = unsafe { import_versioned(m) }.unwrap();
        assert!(a.owner().is::<DLPackOwner>());
        assert!(a.is_readonly());
        assert_eq!(a.shape(), &[4, 3]);
        assert_eq!(a.strides(), &[4, 16]);
        assert_eq!(a.buffer().len, 48, "the bytes the tensor addresses");
        assert_eq!(a.owner_identity(), a.buffer().ptr as usize);
        assert_eq!(a.release(), Release::Drop);
        let copy = to_tensor(&a, Sharing::Copy, &Options::default()).unwrap();
        assert_eq!(
            copy.to_vec2::<f32>().unwrap(),
            [[4., 8., 12.], [5., 9., 13.], [6., 10., 14.], [7., 11., 15.]]
        );
        // without the adopting allocator (not installed in unit tests) Share says so
        // SAFETY: nothing is shared (no adopting allocator in unit tests).
        let err =
            to_tensor(&a, Sharing::Share, &unsafe { Options::default().allow_readonly(true) }).unwrap_err();
        assert!(matches!(err, Error::SharingUnavailable), "{err}");
        let clone = a.clone();
        drop(a);
        assert_eq!(CALLS.load(Ordering::SeqCst), 0, "a clone still owns it");
        drop(clone);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        drop(copy);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn null_strides_mean_row_major() {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        let m = foreign(&[2, 8], None, DLDevice::CPU, 0, 0, &CALLS);
        // SAFETY: a valid managed tensor handed over once.
        let a = unsafe { import_versioned(m) }.unwrap();
        assert!(a.is_c_contiguous() && !a.is_readonly());
        assert_eq!(a.strides(), &[32, 4]);
        drop(a);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        // legacy: the same, through a DLManagedTensor
        static LEGACY: AtomicUsize = AtomicUsize::new(0);
        let mut ctx =
            Box::new(Foreign { data: vec![1.0; 16], shape: vec![16], strides: None, calls: &LEGACY });
        let dl_tensor = foreign_tensor(&mut ctx, DLDevice::CPU, 0);
        let m = Box::leak(Box::new(DLManagedTensor {
            dl_tensor,
            manager_ctx: Box::into_raw(ctx).cast(),
            deleter: Some(foreign_legacy_deleter),
        }));
        // SAFETY: a valid managed tensor handed over once.
        let a = unsafe { import_legacy(m) }.unwrap();
        assert_eq!((a.shape(), a.strides()), (&[16usize][..], &[4isize][..]));
        drop(a);
        assert_eq!(LEGACY.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn refusals_name_the_problem_and_still_call_the_deleter() {
        // it exports too: keep it out of the counting tests' way
        let _c = counting();
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        let cuda = DLDevice { device_type: device_type::CUDA, device_id: 1 };
        let m = foreign(&[4], None, cuda, 0, 0, &CALLS);
        // SAFETY: a valid managed tensor handed over once.
        let err = unsafe { import_versioned(m) }.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::DLPack { .. }), "{err}");
        assert!(msg.contains("cuda:1") && msg.contains("x.cpu()"), "{msg}");
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);

        let m = foreign(&[4], None, DLDevice::CPU, 0, 0, &CALLS);
        // SAFETY: writing a field of a struct we own before handing it over.
        unsafe { (*m).version = DLPackVersion { major: 2, minor: 0 } };
        // SAFETY: handed over once.
        let err = unsafe { import_versioned(m) }.unwrap_err();
        assert!(err.to_string().contains("DLPack 2.0"), "{err}");
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);

        let m = foreign(&[4], None, DLDevice::CPU, 0, 0, &CALLS);
        // SAFETY: as above.
        unsafe { (*m).dl_tensor.dtype.lanes = 4 };
        // SAFETY: handed over once.
        assert!(unsafe { import_versioned(m) }.unwrap_err().to_string().contains("lanes"));
        assert_eq!(CALLS.load(Ordering::SeqCst), 3);

        let m = foreign(&[-1], None, DLDevice::CPU, 0, 0, &CALLS);
        // SAFETY: handed over once.
        assert!(unsafe { import_versioned(m) }.unwrap_err().to_string().contains("negative size"));
        assert_eq!(CALLS.load(Ordering::SeqCst), 4);

        let m = foreign(&[4], None, DLDevice::CPU, 0, 0, &CALLS);
        // SAFETY: as above.
        unsafe { (*m).dl_tensor.data = std::ptr::null_mut() };
        // SAFETY: handed over once.
        assert!(unsafe { import_versioned(m) }.unwrap_err().to_string().contains("NULL"));
        assert_eq!(CALLS.load(Ordering::SeqCst), 5);

        // SAFETY: NULL is refused before anything is read.
        assert!(unsafe { import_versioned(std::ptr::null_mut()) }.is_err());
        // pinned host memory is host memory
        let pinned = DLDevice { device_type: device_type::CUDA_HOST, device_id: 0 };
        let m = foreign(&[4], None, pinned, 0, 0, &CALLS);
        // SAFETY: handed over once.
        assert!(unsafe { import_versioned(m) }.is_ok());
        assert_eq!(CALLS.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn float8_exports_with_its_dlpack_1_1_code() {
        let t = Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap().to_dtype(DType::F8E4M3).unwrap();
        let p = versioned(export(&t, &ExportOptions::default()).unwrap());
        // SAFETY: a live export we own.
        assert_eq!(unsafe { p.as_ref() }.dl_tensor.dtype, dl_dtype(NpDType::Float8E4M3FN));
        drop(Exported::Versioned(p));
    }

    #[test]
    fn device_names() {
        assert_eq!(DLDevice::CPU.to_string(), "cpu");
        assert_eq!(DLDevice { device_type: 2, device_id: 3 }.to_string(), "cuda:3");
        assert!(DLDevice { device_type: 99, device_id: 0 }.to_string().contains("99"));
        assert!(!DLDevice { device_type: device_type::ROCM, device_id: 0 }.is_host_accessible());
        assert_eq!(device_of(&Tensor::zeros(1, DType::U8, &Device::Cpu).unwrap()), DLDevice::CPU);
    }
}
