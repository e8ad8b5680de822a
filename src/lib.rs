//! # candle-numpy
//!
//! NumPy-layout arrays and [candle](https://github.com/huggingface/candle) tensors as one world,
//! with explicit share-vs-copy semantics.
//!
//! Every entry point goes through one path: a source is described as an [`ArrayRef`] (pointer,
//! dtype, shape, byte strides, byte order, read-only flag, keep-alive owner), and
//! [`to_tensor`] turns it into a candle `Tensor` in the [`Sharing`] mode the caller chose:
//!
//! | mode | result |
//! | --- | --- |
//! | [`Sharing::Share`] | shares memory (a candle view, no bytes copied), or fails with an error that says why and what to do; never a silent copy |
//! | [`Sharing::Copy`] | an independent C-contiguous tensor (byte-swapping, casting, widening, gathering any strides) |
//! | [`Sharing::Auto`] | shares when it can, copies otherwise |
//!
//! [`shares_memory`] tells whether a tensor and an array share memory, like
//! `np.shares_memory`. Back out: [`ArrayRef::from_tensor`] and [`export::borrow`] describe or
//! borrow a tensor's storage without copying; [`from_ndarray`] moves an owned `ndarray` buffer
//! into a tensor without copying.
//!
//! ```
//! use candle_core::DType;
//! use candle_numpy::{shares_memory, to_tensor, ArrayRef, Options, Sharing};
//!
//! let a = ArrayRef::from_vec((0..12).map(|i| i as f64).collect::<Vec<_>>(), &[3, 4])?;
//! // a transposed (Fortran-order) view, copied and cast to f32
//! let t = to_tensor(&a.transposed(), Sharing::Copy, &Options::default().dtype(DType::F32))?;
//! assert_eq!(t.dims(), &[4, 3]);
//! assert_eq!(t.to_vec2::<f32>()?[1], [1.0, 5.0, 9.0]);
//! assert!(!shares_memory(&t, &a));
//! # Ok::<(), candle_numpy::Error>(())
//! ```
//!
//! ## Sharing foreign memory
//! candle's CPU storage owns a `Vec`. A tensor's own memory is shared freely (exports and
//! re-imports are views), and owned `ndarray` arrays move in. Memory owned by someone else
//! (NumPy, a memory map) can only become candle storage through the *adopting allocator*,
//! which the final binary installs as its `#[global_allocator]` (the Python extension does);
//! without it `Sharing::Share` of foreign memory fails with [`Error::SharingUnavailable`] and
//! `Sharing::Auto` copies.
//!
//! ## Modules
//! - [`dtype`]: the NumPy <-> candle dtype table, used by every path.
//! - [`array`](mod@array): [`ArrayRef`] and layout predicates.
//! - [`convert`]: [`Sharing`], [`Options`], [`to_tensor`].
//! - [`share`]: when sharing is possible and how a layout becomes a candle view.
//! - [`adopt`]: the adopting global allocator that lets candle storage borrow foreign memory.
//! - [`block_cache`]: a global-allocator layer that keeps freed large buffers for the next copy.
//! - [`copy`]: strided, casting, byte-swapping copy kernels (parallel for large inputs).
//! - [`inplace`]: writes into a tensor's own storage through any layout (`t += 1` semantics).
//! - [`export`]: tensors out (`ArrayRef`, `ndarray` views and copies), owned `ndarray` in.
//! - [`npy`]: `.npy` / `.npz` read, write, memory map.
//! - [`safetensors`](mod@safetensors): `.safetensors` save, load, memory map (shared, read-only).
//! - [`device`]: `"cpu"` / `"cuda:N"` parsing, `cuda_if_available`.
//! - [`dlpack`]: DLPack 1.1 export and import (zero-copy exchange with other frameworks).
//! - [`data`]: the batching engine (order, shard, gather, prefetch) under both facades.
//! - [`train`]: the framework-neutral training layer (optimizer steppers) under both facades.
//! - [`distributed`]: data-parallel training (rank sharding, gradient all-reduce over MPI or NCCL).
//! - [`torch`] / [`tf`]: PyTorch- and TensorFlow-style constructors and data loaders.
//! - `remote` (feature `s3`): `.npy` / `.npz` / `.safetensors` from `s3://` URLs.
//! - `csv` (feature `csv`, default): feature and label columns of a CSV file as tensors.
//! - `image` (feature `image`, default): PNG / JPEG files as HWC `u8` tensors, CHW views, batches.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod adopt;
pub mod array;
pub mod block_cache;
pub mod convert;
pub mod copy;
#[cfg(feature = "csv")]
pub mod csv;
pub mod data;
pub mod device;
pub mod distance;
pub mod distributed;
pub mod dlpack;
pub mod dtype;
pub mod error;
pub mod export;
#[cfg(feature = "image")]
pub mod image;
pub mod inplace;
pub mod npy;
#[cfg(feature = "python")]
pub mod python;
#[cfg(feature = "s3")]
pub mod remote;
pub mod safetensors;
pub mod share;
pub(crate) mod simd;
pub mod tf;
pub mod torch;
pub mod train;

pub use array::{ArrayRef, Buffer, Element, Owner};
pub use convert::{to_tensor, to_var, Options, ReadOnlyOptIn, Sharing};
pub use dtype::{ByteOrder, NpDType};
pub use error::{Error, Result};
pub use export::{from_ndarray, shares_memory, to_ndarray};

/// The names most programs need.
pub mod prelude {
    pub use crate::{
        from_ndarray, shares_memory, to_ndarray, to_tensor, ArrayRef, NpDType, Options, Sharing,
    };
    pub use candle_core::{DType, Device, Tensor};
}

/// The README's Rust snippets, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
