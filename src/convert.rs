//! The one conversion entry point: [`to_tensor`] with an explicit [`Sharing`] mode.
//!
//! Every constructor of the facades (torch's `from_numpy`, `tensor`, `as_tensor`; tf's
//! `convert_to_tensor`, `constant`) is this function with a fixed mode, so the rules below are
//! defined once:
//!
//! | mode | result | when it cannot share |
//! | --- | --- | --- |
//! | [`Sharing::Share`] | a view of the array's memory, no bytes copied | a precise error, never a silent copy |
//! | [`Sharing::Copy`] | an independent tensor | - |
//! | [`Sharing::Auto`] | shares when dtype, device, layout and allocator allow | copies |

use candle_core::{op::BackpropOp, DType, Device, Storage, Tensor, Var};

use crate::array::ArrayRef;
use crate::copy::copy_to_storage;
use crate::error::Result;
use crate::share::share;

/// Whether a conversion may, must or must not share memory with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sharing {
    /// Share the memory (`torch.from_numpy`); refuse with the reason when impossible.
    Share,
    /// Always copy (`torch.tensor`, `tf.constant`).
    Copy,
    /// Share when possible, else copy (`torch.as_tensor`).
    Auto,
}

/// Whether a read-only array may be shared ([`Options::allow_readonly`]): a value only `unsafe`
/// code can make granted, so `Options { device, ..Default::default() }` stays a safe literal
/// while the opt-in stays a promise:
///
/// ```compile_fail
/// use candle_numpy::{Options, ReadOnlyOptIn};
/// // error[E0133]: call to unsafe function `ReadOnlyOptIn::granted` requires an unsafe block
/// let opts = Options { allow_readonly: ReadOnlyOptIn::granted(), ..Options::default() };
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOnlyOptIn(bool);

impl ReadOnlyOptIn {
    /// Read-only arrays are refused (the default).
    pub const REFUSED: ReadOnlyOptIn = ReadOnlyOptIn(false);

    /// Read-only arrays may be shared.
    ///
    /// # Safety
    /// As [`Options::allow_readonly`]: nothing may ever write the shared tensors' storage.
    pub unsafe fn granted() -> Self {
        ReadOnlyOptIn(true)
    }

    /// Whether the opt-in was granted.
    pub fn is_granted(self) -> bool {
        self.0
    }
}

/// Target dtype and device of a conversion.
///
/// ```
/// use candle_core::DType;
/// use candle_numpy::Options;
/// let o = Options::default().dtype(DType::F32);
/// assert_eq!(o.dtype, Some(DType::F32));
/// assert!(o.device.is_cpu());
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    /// The candle dtype wanted; `None` applies the dtype table (exact, or widening on copy).
    pub dtype: Option<DType>,
    /// Where the tensor should live. Only the CPU can share.
    pub device: Device,
    /// Whether a read-only array may be shared at all: off by default, and only turned on
    /// through the `unsafe` [`Options::allow_readonly`], because candle's own safe calls
    /// (`Tensor::slice_set`, `inplace_op*`, `Var::set`) write a tensor's storage without asking,
    /// and writing memory that is read-only crashes (a read-only map) or breaks what its owner
    /// relies on (a Python `bytes` object). Memory-mapped files need no opt-in: they are
    /// mapped copy-on-write (see [`ArrayRef::is_copy_on_write`](crate::ArrayRef::is_copy_on_write)).
    pub allow_readonly: ReadOnlyOptIn,
}

impl Default for Options {
    fn default() -> Self {
        Options { dtype: None, device: Device::Cpu, allow_readonly: ReadOnlyOptIn::REFUSED }
    }
}

impl Options {
    /// Ask for a dtype (a cast on copy; Share refuses a change of dtype).
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = Some(dtype);
        self
    }
    /// Ask for a device (a copy unless it is the CPU).
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }
    /// Allow sharing read-only arrays as tensors.
    ///
    /// # Safety
    /// No write may ever reach the shared tensors' storage while the array's memory is in use:
    /// not through this crate (whose in-place writes check and refuse), and not through candle's
    /// own safe writers (`Tensor::slice_set`, `inplace_op1/2/3`, `Var::from_tensor` of the
    /// tensor followed by `Var::set` or an optimizer step), which do not check. The caller
    /// upholds that for every tensor derived from the result that shares its storage (views,
    /// reshapes, exports). The Python package does it by marking such tensors read-only and
    /// checking that mark on every write path.
    pub unsafe fn allow_readonly(mut self, allow: bool) -> Self {
        self.allow_readonly = if allow {
            // SAFETY: the caller's promise, passed on (this function's # Safety).
            unsafe { ReadOnlyOptIn::granted() }
        } else {
            ReadOnlyOptIn::REFUSED
        };
        self
    }

    /// Whether read-only arrays may be shared ([`Options::allow_readonly`]).
    pub fn allows_readonly(&self) -> bool {
        self.allow_readonly.is_granted()
    }
}

/// Convert an array to a candle tensor, sharing or copying as `mode` says.
///
/// Copies come out C-contiguous; shares come out as candle views with the array's own strides
/// (a Fortran-order array is a permuted view). Use [`shares_memory`](crate::shares_memory) to
/// ask a result whether it shares.
///
/// ```
/// use candle_core::DType;
/// use candle_numpy::{to_tensor, ArrayRef, Error, Options, Sharing};
/// let a = ArrayRef::from_vec(vec![1i8, -2, 3], &[3])?;
/// // int8 has no candle twin: a copy widens it, Share says so
/// let t = to_tensor(&a, Sharing::Copy, &Options::default())?;
/// assert_eq!(t.dtype(), DType::I16);
/// assert_eq!(t.to_vec1::<i16>()?, [1, -2, 3]);
/// let err = to_tensor(&a, Sharing::Share, &Options::default()).unwrap_err();
/// assert!(matches!(err, Error::Widening { .. }));
/// assert!(err.to_string().contains("Sharing::Copy"));
/// # Ok::<(), candle_numpy::Error>(())
/// ```
pub fn to_tensor(a: &ArrayRef, mode: Sharing, opts: &Options) -> Result<Tensor> {
    match mode {
        Sharing::Share => share(a, opts),
        Sharing::Copy => copy(a, opts),
        Sharing::Auto => match share(a, opts) {
            Err(e) if e.is_share_refusal() => copy(a, opts),
            result => result,
        },
    }
}

/// Convert an array to a candle [`Var`] (for training). `Sharing::Share` makes the variable
/// write into the array's memory (a whole C-contiguous foreign buffer; see
/// [`share_var`](crate::share::share_var)); `Sharing::Copy` makes an independent variable;
/// `Sharing::Auto` shares when it can.
pub fn to_var(a: &ArrayRef, mode: Sharing, opts: &Options) -> Result<Var> {
    let shared = match mode {
        Sharing::Copy => None,
        _ => match crate::share::share_var(a, opts) {
            Ok(v) => Some(v),
            Err(e) if mode == Sharing::Auto && e.is_share_refusal() => None,
            Err(e) => return Err(e),
        },
    };
    match shared {
        Some(v) => Ok(v),
        // marked a variable at creation: `Var::from_tensor` of a variable is a handle, not a
        // second copy
        None => Ok(Var::from_tensor(&copy_as(a, opts, true)?)?),
    }
}

fn copy(a: &ArrayRef, opts: &Options) -> Result<Tensor> {
    copy_as(a, opts, false)
}

/// A copy of `a` on `opts.device`, a candle variable when `variable` (on the CPU the copy is
/// made a variable directly; on a device, `Var::from_tensor` copies the uploaded tensor).
fn copy_as(a: &ArrayRef, opts: &Options, variable: bool) -> Result<Tensor> {
    let storage = copy_to_storage(a, opts.dtype)?;
    let on_cpu = opts.device.is_cpu();
    let t = Tensor::from_storage(Storage::Cpu(storage), a.shape(), BackpropOp::none(), variable && on_cpu);
    if on_cpu {
        Ok(t)
    } else {
        Ok(t.to_device(&opts.device)?)
    }
}
