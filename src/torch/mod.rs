//! PyTorch-style facade: the constructors with torch's share-vs-copy semantics, and
//! [`data`]'s `TensorDataset` / `DataLoader`.
//!
//! | torch | here | mode |
//! | --- | --- | --- |
//! | `torch.from_numpy(a)` | [`from_numpy`] | [`Sharing::Share`]: shares or fails, never copies |
//! | `torch.as_tensor(a, dtype, device)` | [`as_tensor`] | [`Sharing::Auto`]: shares when it can |
//! | `torch.tensor(a, dtype, device)` | [`tensor`] | [`Sharing::Copy`]: always independent |
//!
//! Each is [`to_tensor`] with the mode fixed, so the rules and errors are the core's.
//!
//! ```
//! use candle_core::DType;
//! use candle_numpy::{shares_memory, torch, ArrayRef};
//! let a = ArrayRef::from_vec(vec![1.0f64, 2.0, 3.0], &[3])?;
//! let t = torch::tensor(&a, Some(DType::F32), None)?;
//! assert_eq!(t.dtype(), DType::F32);
//! assert!(!shares_memory(&t, &a));
//! # Ok::<(), candle_numpy::Error>(())
//! ```

pub mod data;

use candle_core::{DType, Device, Tensor};

use crate::array::ArrayRef;
use crate::convert::{to_tensor, Options, Sharing};
use crate::error::Result;

fn options(dtype: Option<DType>, device: Option<&Device>) -> Options {
    let device = device.cloned().unwrap_or(Device::Cpu);
    Options { dtype, device, ..Options::default() }
}

/// `torch.from_numpy(a)`: a tensor sharing `a`'s memory, or an error saying why it cannot
/// (negative strides, a dtype candle cannot hold exactly, no adopting allocator, ...).
pub fn from_numpy(a: &ArrayRef) -> Result<Tensor> {
    to_tensor(a, Sharing::Share, &Options::default())
}

/// `torch.as_tensor(a, dtype=None, device=None)`: shares when dtype, device and layout allow,
/// else copies.
pub fn as_tensor(a: &ArrayRef, dtype: Option<DType>, device: Option<&Device>) -> Result<Tensor> {
    to_tensor(a, Sharing::Auto, &options(dtype, device))
}

/// `torch.tensor(a, dtype=None, device=None)`: always an independent copy (cast to `dtype`,
/// placed on `device`).
pub fn tensor(a: &ArrayRef, dtype: Option<DType>, device: Option<&Device>) -> Result<Tensor> {
    to_tensor(a, Sharing::Copy, &options(dtype, device))
}
