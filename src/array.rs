//! [`ArrayRef`]: a description of foreign strided memory (what NumPy calls an array), plus
//! the owner that keeps that memory alive.
//!
//! An `ArrayRef` never owns or copies data itself. It records where element `[0, 0, ...]` is,
//! the dtype and byte order, the shape, the signed byte strides, whether writes are allowed,
//! and the *buffer*: the whole block of memory the owner keeps alive (for a NumPy view, the
//! root array's allocation). Sharing adopts the buffer, so views with offsets and steps into a
//! larger allocation can still be shared.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::adopt::Release;
use crate::dtype::{ByteOrder, NpDType};
use crate::error::{Error, Result};

/// Something that keeps a block of memory alive (a `Vec`, a memory map, a Python object, a
/// candle tensor). Dropping the last clone releases the memory.
pub type Owner = Arc<dyn Any + Send + Sync>;

/// The block of memory an [`Owner`] keeps alive.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Buffer {
    /// Start of the block.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Buffer({:p}, {} bytes)", self.ptr, self.len)
    }
}

/// Foreign strided memory with a dtype, shape and keep-alive owner.
///
/// Build one with [`ArrayRef::from_vec`] / [`ArrayRef::from_bytes`] (safe, checked), or with
/// [`ArrayRef::from_raw_parts`] when the memory comes from elsewhere (NumPy, DLPack, a map).
///
/// ```
/// use candle_numpy::{ArrayRef, NpDType};
/// let a = ArrayRef::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
/// assert_eq!(a.dtype(), NpDType::Float32);
/// assert_eq!(a.strides(), &[12, 4]);
/// assert!(a.is_c_contiguous());
/// let t = a.transposed();
/// assert!(t.is_f_contiguous() && !t.is_c_contiguous());
/// # Ok::<(), candle_numpy::Error>(())
/// ```
#[derive(Clone)]
pub struct ArrayRef {
    data: *const u8,
    dtype: NpDType,
    byte_order: ByteOrder,
    shape: Vec<usize>,
    strides: Vec<isize>,
    readonly: bool,
    /// The memory itself must never be written (false for a read-only view of writable
    /// memory, such as NumPy's `broadcast_to` of a writable array).
    memory_readonly: bool,
    /// The memory is a private copy-on-write mapping: a write lands in this process's own
    /// copy of the page, never in the file or in memory anyone else reads, so sharing it needs
    /// no promise (see [`ArrayRef::is_copy_on_write`]).
    copy_on_write: bool,
    buffer: Buffer,
    owner: Owner,
    /// Identity of the object that really owns the memory (for the adopting allocator).
    owner_identity: usize,
    release: Release,
}

// SAFETY: an ArrayRef is a description plus an `Owner` that is `Send + Sync`; the raw pointers
// only point into the owner's memory, which the owner keeps valid from any thread.
unsafe impl Send for ArrayRef {}
// SAFETY: as above; shared references only read the description.
unsafe impl Sync for ArrayRef {}

impl fmt::Debug for ArrayRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayRef")
            .field("dtype", &self.dtype.name())
            .field("byte_order", &self.byte_order)
            .field("shape", &self.shape)
            .field("strides", &self.strides)
            .field("readonly", &self.readonly)
            .field("offset", &self.offset_in_buffer())
            .field("buffer", &self.buffer)
            .finish()
    }
}

/// A stand-in so empty Vecs still have a non-null, aligned data pointer.
fn dangling_for(align: usize) -> *const u8 {
    align as *const u8
}

/// C-order byte strides for `shape` and `itemsize`.
pub fn c_strides(shape: &[usize], itemsize: usize) -> Vec<isize> {
    let mut strides = vec![0isize; shape.len()];
    let mut acc = itemsize as isize;
    for (s, &n) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc = acc.saturating_mul(n.max(1) as isize);
    }
    strides
}

/// Fortran-order byte strides for `shape` and `itemsize`.
pub fn f_strides(shape: &[usize], itemsize: usize) -> Vec<isize> {
    let mut strides = vec![0isize; shape.len()];
    let mut acc = itemsize as isize;
    for (s, &n) in strides.iter_mut().zip(shape) {
        *s = acc;
        acc = acc.saturating_mul(n.max(1) as isize);
    }
    strides
}

/// Byte range `[lo, hi)` touched by an array relative to its first element, or `None` when it
/// has no elements.
pub fn byte_extent(shape: &[usize], strides: &[isize], itemsize: usize) -> Option<(isize, isize)> {
    if shape.contains(&0) {
        return None;
    }
    let (mut lo, mut hi) = (0isize, 0isize);
    for (&n, &s) in shape.iter().zip(strides) {
        let reach = s.checked_mul(n as isize - 1)?;
        if reach < 0 {
            lo = lo.checked_add(reach)?;
        } else {
            hi = hi.checked_add(reach)?;
        }
    }
    Some((lo, hi.checked_add(itemsize as isize)?))
}

/// Element types an `ArrayRef` can be built from in safe Rust.
pub trait Element: Copy + Send + Sync + 'static {
    /// The NumPy dtype of this Rust type.
    const DTYPE: NpDType;
}

macro_rules! element {
    ($($t:ty => $d:ident),*) => {$(impl Element for $t { const DTYPE: NpDType = NpDType::$d; })*};
}
element!(bool => Bool, i8 => Int8, i16 => Int16, i32 => Int32, i64 => Int64, u8 => UInt8,
         u16 => UInt16, u32 => UInt32, u64 => UInt64, half::f16 => Float16, f32 => Float32,
         f64 => Float64, half::bf16 => BFloat16, float8::F8E4M3 => Float8E4M3FN);

impl ArrayRef {
    /// Describe foreign memory.
    ///
    /// `data` is the address of element `[0, ..., 0]`; `strides` are in bytes and may be
    /// negative or zero. The description is checked against `buffer`: every addressed element
    /// must lie inside it (else [`Error::OutOfBounds`]).
    ///
    /// # Safety
    /// `buffer` must be readable memory (and writable when `readonly` is false) that stays valid
    /// and is not freed for as long as `owner` (or any clone of it) is alive, and `data` must
    /// point into it. Writers other than through this crate must follow the same rules as for
    /// NumPy arrays shared with torch (see the crate docs on concurrent mutation).
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn from_raw_parts(
        data: *const u8,
        dtype: NpDType,
        byte_order: ByteOrder,
        shape: Vec<usize>,
        strides: Vec<isize>,
        readonly: bool,
        buffer: Buffer,
        owner: Owner,
    ) -> Result<Self> {
        if shape.len() != strides.len() {
            return Err(Error::ShapeMismatch {
                operation: "describe an array",
                detail: format!(
                    "shape {shape:?} has {} axes but strides {strides:?} have {}",
                    shape.len(),
                    strides.len()
                ),
            });
        }
        shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n)).ok_or_else(|| Error::ShapeMismatch {
            operation: "describe an array",
            detail: format!("shape {shape:?} has more elements than fit in memory"),
        })?;
        let byte_order = if dtype.has_byte_order() { byte_order } else { ByteOrder::NATIVE };
        let owner_identity = Arc::as_ptr(&owner) as *const () as usize;
        let release = Release::Drop;
        let a = ArrayRef {
            data,
            dtype,
            byte_order,
            shape,
            strides,
            readonly,
            memory_readonly: readonly,
            copy_on_write: false,
            buffer,
            owner,
            owner_identity,
            release,
        };
        a.check_bounds()?;
        Ok(a)
    }

    fn check_bounds(&self) -> Result<()> {
        let Some((lo, hi)) = byte_extent(&self.shape, &self.strides, self.dtype.itemsize()) else {
            return Ok(());
        };
        let base = self.offset_in_buffer();
        let overflow = || Error::OutOfBounds {
            shape: self.shape.clone(),
            strides: self.strides.clone(),
            lo: isize::MIN,
            hi: isize::MAX,
            len: self.buffer.len,
        };
        let (lo, hi) =
            (base.checked_add(lo).ok_or_else(overflow)?, base.checked_add(hi).ok_or_else(overflow)?);
        if lo < 0 || hi as usize > self.buffer.len {
            return Err(Error::OutOfBounds {
                shape: self.shape.clone(),
                strides: self.strides.clone(),
                lo,
                hi,
                len: self.buffer.len,
            });
        }
        Ok(())
    }

    /// A C-contiguous array owning `data` (moved in, not copied).
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::ShapeMismatch {
                operation: "ArrayRef::from_vec",
                detail: format!("shape {shape:?} holds {n} elements but the Vec has {}", data.len()),
            });
        }
        let itemsize = std::mem::size_of::<T>();
        let ptr = if data.is_empty() {
            dangling_for(std::mem::align_of::<T>())
        } else {
            data.as_ptr().cast::<u8>()
        };
        let buffer = Buffer { ptr, len: data.len() * itemsize };
        let strides = c_strides(shape, itemsize);
        // SAFETY: the Vec's heap block is moved into the owner and never touched mutably
        // elsewhere; moving a Vec does not move its heap block, so `ptr` stays valid while the
        // owner lives. Bounds are checked by from_raw_parts.
        unsafe {
            Self::from_raw_parts(
                ptr,
                T::DTYPE,
                ByteOrder::NATIVE,
                shape.to_vec(),
                strides,
                false,
                buffer,
                Arc::new(data),
            )
        }
    }

    /// An array over raw bytes (e.g. read from a file) with any dtype, byte order, byte offset
    /// of the first element and byte strides. Bounds are checked; the bytes need no alignment.
    pub fn from_bytes(
        bytes: Vec<u8>,
        offset: usize,
        dtype: NpDType,
        byte_order: ByteOrder,
        shape: &[usize],
        strides: &[isize],
    ) -> Result<Self> {
        let ptr = if bytes.is_empty() { dangling_for(1) } else { bytes.as_ptr() };
        let buffer = Buffer { ptr, len: bytes.len() };
        if offset > bytes.len() {
            return Err(Error::OutOfBounds {
                shape: shape.to_vec(),
                strides: strides.to_vec(),
                lo: offset as isize,
                hi: offset as isize,
                len: bytes.len(),
            });
        }
        // SAFETY: the Vec's heap block is moved into the owner (moving a Vec does not move its
        // block) and nothing else can reach it; `offset` is within it and from_raw_parts checks
        // every element. It is marked read-only: no one may write through it.
        unsafe {
            Self::from_raw_parts(
                buffer.ptr.add(offset),
                dtype,
                byte_order,
                shape.to_vec(),
                strides.to_vec(),
                true,
                buffer,
                Arc::new(bytes),
            )
        }
    }

    /// Address of element `[0, ..., 0]`.
    pub fn data_ptr(&self) -> *const u8 {
        self.data
    }
    /// NumPy dtype.
    pub fn dtype(&self) -> NpDType {
        self.dtype
    }
    /// Byte order of the stored elements.
    pub fn byte_order(&self) -> ByteOrder {
        self.byte_order
    }
    /// Shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// Byte strides (signed).
    pub fn strides(&self) -> &[isize] {
        &self.strides
    }
    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Size of the elements in bytes (`len() * itemsize`).
    pub fn nbytes(&self) -> usize {
        self.len() * self.dtype.itemsize()
    }
    /// Whether writes through this array are forbidden.
    pub fn is_readonly(&self) -> bool {
        self.readonly
    }
    /// The whole block the owner keeps alive.
    pub fn buffer(&self) -> Buffer {
        self.buffer
    }
    /// The keep-alive owner.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }
    /// Identity of the object that really owns the memory: two arrays over one buffer with the
    /// same identity may both be shared. Defaults to the address of the owner `Arc`.
    pub fn owner_identity(&self) -> usize {
        self.owner_identity
    }
    /// How the owner must be released once candle no longer uses the memory.
    pub fn release(&self) -> Release {
        self.release
    }
    /// Set the owner identity and release policy (bindings whose owner handles wrap a shared
    /// root object, e.g. a Python array's base, use the root's address and
    /// [`Release::Defer`]).
    pub fn with_owner_identity(mut self, identity: usize, release: Release) -> ArrayRef {
        self.owner_identity = identity;
        self.release = release;
        self
    }
    /// Byte offset of element `[0, ..., 0]` from the start of the buffer.
    pub fn offset_in_buffer(&self) -> isize {
        (self.data as isize).wrapping_sub(self.buffer.ptr as isize)
    }

    /// Whether the data is in this machine's byte order (always true for one-byte types).
    pub fn is_native_byte_order(&self) -> bool {
        self.byte_order == ByteOrder::NATIVE
    }

    /// Byte range touched, relative to element `[0, ..., 0]`; `None` if empty.
    pub fn extent(&self) -> Option<(isize, isize)> {
        byte_extent(&self.shape, &self.strides, self.dtype.itemsize())
    }

    /// C-contiguous (row-major, no gaps), ignoring the strides of size-1 axes as NumPy does.
    pub fn is_c_contiguous(&self) -> bool {
        self.is_empty() || self.dense_in_order(self.shape.len(), |i| self.shape.len() - 1 - i)
    }

    /// Fortran-contiguous (column-major, no gaps), ignoring size-1 axes.
    pub fn is_f_contiguous(&self) -> bool {
        self.is_empty() || self.dense_in_order(self.shape.len(), |i| i)
    }

    fn dense_in_order(&self, n: usize, axis: impl Fn(usize) -> usize) -> bool {
        let mut expected = self.dtype.itemsize() as isize;
        for i in 0..n {
            let ax = axis(i);
            if self.shape[ax] == 1 {
                continue;
            }
            if self.strides[ax] != expected {
                return false;
            }
            expected *= self.shape[ax] as isize;
        }
        true
    }

    /// Whether the data pointer and every stride (of axes longer than 1) are multiples of the
    /// element alignment, as NumPy's `ALIGNED` flag.
    pub fn is_aligned(&self) -> bool {
        let align = self.dtype.itemsize();
        (self.data as usize) % align == 0
            && self
                .shape
                .iter()
                .zip(&self.strides)
                .all(|(&n, &s)| n <= 1 || s.rem_euclid(align as isize) == 0)
    }

    /// The first axis (of length > 1) with a negative stride, and that stride.
    pub fn negative_stride(&self) -> Option<(usize, isize)> {
        self.shape
            .iter()
            .zip(&self.strides)
            .enumerate()
            .find(|(_, (&n, &s))| n > 1 && s < 0)
            .map(|(i, (_, &s))| (i, s))
    }

    /// Whether some axis (of length > 1) has stride 0 (a broadcast view).
    pub fn has_zero_stride(&self) -> bool {
        self.shape.iter().zip(&self.strides).any(|(&n, &s)| n > 1 && s == 0)
    }

    /// A read-only view of this one-element array repeated over `shape` (every stride 0, as
    /// `np.broadcast_to(a.reshape(()), shape)`): no memory is touched until it is copied, and
    /// the copy allocates fallibly, so a huge `shape` is an error, not an abort.
    pub fn filled(&self, shape: &[usize]) -> Result<ArrayRef> {
        if self.len() != 1 {
            return Err(Error::ShapeMismatch {
                operation: "fill a shape",
                detail: format!(
                    "the value has shape {:?} ({} elements); fill needs exactly one",
                    self.shape,
                    self.len()
                ),
            });
        }
        shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n)).ok_or_else(|| Error::ShapeMismatch {
            operation: "fill a shape",
            detail: format!("shape {shape:?} has more elements than fit in memory"),
        })?;
        let mut t = self.clone();
        t.shape = shape.to_vec();
        t.strides = vec![0; shape.len()];
        t.readonly = true;
        Ok(t)
    }

    /// A view with axes reversed (`a.T`), sharing the same memory and owner.
    pub fn transposed(&self) -> ArrayRef {
        let mut t = self.clone();
        t.shape.reverse();
        t.strides.reverse();
        t
    }

    /// A view with its axes permuted (`np.transpose(a, axes)`).
    pub fn permuted(&self, axes: &[usize]) -> Result<ArrayRef> {
        let mut seen = vec![false; self.ndim()];
        if axes.len() != self.ndim()
            || axes.iter().any(|&a| a >= self.ndim() || std::mem::replace(&mut seen[a], true))
        {
            return Err(Error::ShapeMismatch {
                operation: "permute",
                detail: format!("axes {axes:?} are not a permutation of 0..{}", self.ndim()),
            });
        }
        let mut t = self.clone();
        t.shape = axes.iter().map(|&a| self.shape[a]).collect();
        t.strides = axes.iter().map(|&a| self.strides[a]).collect();
        Ok(t)
    }

    /// A basic-slicing view: `start..stop` with `step` (may be negative, as Python's
    /// `a[start:stop:step]` after normalisation) along `axis`. The indices are in elements and
    /// must already be in range; the view shares memory and owner.
    pub fn sliced(&self, axis: usize, start: usize, len: usize, step: isize) -> Result<ArrayRef> {
        let n = *self.shape.get(axis).ok_or_else(|| Error::ShapeMismatch {
            operation: "slice",
            detail: format!("axis {axis} out of range for {} axes", self.ndim()),
        })?;
        let last = start as isize + step * (len as isize - 1);
        if step == 0 || (len > 0 && (start >= n || last < 0 || last >= n as isize)) {
            return Err(Error::ShapeMismatch {
                operation: "slice",
                detail: format!(
                    "start {start}, len {len}, step {step} out of range for axis {axis} of length {n}"
                ),
            });
        }
        let mut t = self.clone();
        if len > 0 {
            t.data = self.data.wrapping_offset(start as isize * self.strides[axis]);
        }
        t.shape[axis] = len;
        t.strides[axis] = self.strides[axis] * step;
        Ok(t)
    }

    /// The same memory described with the opposite byte order label (what
    /// `a.view(a.dtype.newbyteorder())` does): for tests and for data known to be mislabelled.
    pub fn with_byte_order(&self, order: ByteOrder) -> ArrayRef {
        let mut t = self.clone();
        if t.dtype.has_byte_order() {
            t.byte_order = order;
        }
        t
    }

    /// Mark the array read-only (writes through shared tensors then fail).
    pub fn into_readonly(mut self) -> ArrayRef {
        self.readonly = true;
        self.memory_readonly = true;
        self
    }

    /// Say that the memory behind this read-only array is writable: the array is a read-only
    /// *view* (NumPy's `broadcast_to`, a view flagged `writeable=False`) of memory its owner
    /// writes. Sharing then does not record the memory as read-only storage (which would make
    /// every other tensor over it read-only too); the view's own read-only flag still holds.
    pub fn with_writable_memory(mut self) -> ArrayRef {
        self.memory_readonly = false;
        self
    }

    /// Say that the memory is a private copy-on-write mapping (`npy::mmap`,
    /// `safetensors::mmap`): the array stays read-only (this crate refuses writes through it,
    /// as `np.load(mmap_mode="r")`), but a write that bypasses the check (candle's own
    /// `slice_set`, `Var::set`) only dirties a private page, so sharing needs no opt-in.
    pub(crate) fn into_copy_on_write(mut self) -> ArrayRef {
        self.copy_on_write = true;
        self
    }

    /// Whether the memory is a private copy-on-write mapping (see the field's meaning in
    /// `npy::mmap`): shared without [`Options::allow_readonly`](crate::Options::allow_readonly),
    /// since no write through a tensor can reach the file or crash.
    pub fn is_copy_on_write(&self) -> bool {
        self.copy_on_write
    }

    /// Whether the memory itself is read-only (see [`ArrayRef::with_writable_memory`]):
    /// sharing records it with the adopting allocator, so every tensor over it is read-only.
    pub fn is_memory_readonly(&self) -> bool {
        self.memory_readonly
    }

    /// Reinterpret the same memory as another dtype with the same item size
    /// (`a.view(dtype)`), e.g. `uint16` bits as `bfloat16`.
    pub fn view_as(&self, dtype: NpDType) -> Result<ArrayRef> {
        if dtype.itemsize() != self.dtype.itemsize() {
            return Err(Error::ShapeMismatch {
                operation: "view_as",
                detail: format!(
                    "{} has {} bytes per item but {} has {}; only same-size views are allowed",
                    self.dtype.name(),
                    self.dtype.itemsize(),
                    dtype.name(),
                    dtype.itemsize()
                ),
            });
        }
        let mut t = self.clone();
        t.dtype = dtype;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(shape: &[usize]) -> ArrayRef {
        let n = shape.iter().product();
        ArrayRef::from_vec((0..n).map(|i| i as f64).collect::<Vec<f64>>(), shape).unwrap()
    }

    #[test]
    fn strides_c_and_f() {
        assert_eq!(c_strides(&[2, 3, 4], 4), vec![48, 16, 4]);
        assert_eq!(f_strides(&[2, 3, 4], 4), vec![4, 8, 24]);
        assert_eq!(c_strides(&[], 8), Vec::<isize>::new());
        assert_eq!(c_strides(&[0, 3], 2), vec![6, 2]);
    }

    #[test]
    fn extent_handles_negative_and_zero_strides() {
        assert_eq!(byte_extent(&[3, 4], &[32, 8], 8), Some((0, 96)));
        assert_eq!(byte_extent(&[3, 4], &[-32, 8], 8), Some((-64, 32)));
        assert_eq!(byte_extent(&[5], &[0], 4), Some((0, 4)));
        assert_eq!(byte_extent(&[2, 0], &[8, 8], 8), None);
        assert_eq!(byte_extent(&[], &[], 8), Some((0, 8)));
    }

    #[test]
    fn contiguity_ignores_size_one_axes() {
        let a = arr(&[3, 1, 4]);
        assert!(a.is_c_contiguous());
        assert!(!a.is_f_contiguous());
        // stride of the size-1 axis is irrelevant
        let mut b = a.clone();
        b.strides[1] = 12345;
        assert!(b.is_c_contiguous());
        assert!(arr(&[1, 5]).transposed().is_c_contiguous());
        assert!(arr(&[7]).is_f_contiguous() && arr(&[7]).is_c_contiguous());
        assert!(arr(&[]).is_c_contiguous());
        let t = arr(&[3, 4]).transposed();
        assert!(t.is_f_contiguous() && !t.is_c_contiguous());
    }

    #[test]
    fn slicing_views_and_predicates() {
        let a = arr(&[4, 6]);
        let rev = a.sliced(0, 3, 4, -1).unwrap();
        assert_eq!(rev.negative_stride(), Some((0, -48)));
        assert_eq!(rev.offset_in_buffer(), 144);
        assert!(!rev.is_c_contiguous());
        let cols = a.sliced(1, 1, 3, 2).unwrap();
        assert_eq!(cols.strides(), &[48, 16]);
        assert_eq!(cols.shape(), &[4, 3]);
        assert!(cols.is_aligned());
        assert!(a.sliced(1, 5, 2, 1).is_err());
        assert!(a.sliced(1, 0, 1, 0).is_err());
        assert_eq!(a.sliced(0, 0, 0, 1).unwrap().shape(), &[0, 6]);
    }

    #[test]
    fn misalignment_is_detected() {
        let bytes = vec![0u8; 64];
        let base = bytes.as_ptr() as usize;
        let offset = (0..8).find(|o| (base + o) % 4 == 1).unwrap();
        let a = ArrayRef::from_bytes(bytes, offset, NpDType::Float32, ByteOrder::NATIVE, &[4], &[4]).unwrap();
        assert!(!a.is_aligned());
    }

    #[test]
    fn out_of_bounds_descriptions_are_refused() {
        let bytes = vec![0u8; 16];
        let err = ArrayRef::from_bytes(bytes.clone(), 0, NpDType::Float32, ByteOrder::NATIVE, &[5], &[4])
            .unwrap_err();
        assert!(matches!(err, Error::OutOfBounds { hi: 20, len: 16, .. }), "{err}");
        let err = ArrayRef::from_bytes(bytes.clone(), 0, NpDType::Float32, ByteOrder::NATIVE, &[2], &[-4])
            .unwrap_err();
        assert!(matches!(err, Error::OutOfBounds { lo: -4, .. }), "{err}");
        let err =
            ArrayRef::from_bytes(bytes, 0, NpDType::Float32, ByteOrder::NATIVE, &[2, 2], &[4]).unwrap_err();
        assert!(err.to_string().contains("2 axes"), "{err}");
        assert!(ArrayRef::from_vec(vec![1u8, 2, 3], &[2, 2]).is_err());
    }

    #[test]
    fn zero_strides_and_permutes() {
        let bytes = vec![0u8; 8];
        let a =
            ArrayRef::from_bytes(bytes, 0, NpDType::Float64, ByteOrder::NATIVE, &[3, 4], &[0, 0]).unwrap();
        assert!(a.has_zero_stride());
        let b = arr(&[2, 3, 4]).permuted(&[2, 0, 1]).unwrap();
        assert_eq!(b.shape(), &[4, 2, 3]);
        assert_eq!(b.strides(), &[8, 96, 32]);
        assert!(arr(&[2, 3]).permuted(&[0, 0]).is_err());
    }
}
