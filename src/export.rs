//! candle tensors out to NumPy layouts (and owned ndarrays in), mostly without copying.
//!
//! | from | to | copies? |
//! | --- | --- | --- |
//! | `&Tensor` (CPU) | [`ArrayRef`] via [`ArrayRef::from_tensor`] | no: describes the storage, keeps the tensor alive |
//! | `&Tensor` (CPU) | `ndarray::ArrayViewD` via [`borrow`] + [`Borrowed::view`] | no: borrows the storage, any layout |
//! | `&Tensor` (any device) | owned `ndarray::ArrayD` via [`to_ndarray`] | yes |
//! | owned `ndarray::Array` | `Tensor` via [`from_ndarray`] | no: moves the buffer (negative strides copy) |
//!
//! candle never reallocates a storage `Vec`, so a pointer into a tensor's storage stays valid
//! for as long as any clone of the tensor lives.

use std::sync::Arc;

use candle_core::{CpuStorage, Layout, Storage, StorageRef, Tensor, WithDType};
use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};

use crate::array::{ArrayRef, Buffer, Element};
use crate::dtype::{ByteOrder, NpDType};
use crate::error::{Error, Result};
use crate::share::ViewPlan;

/// The owner of an [`ArrayRef`] made from a tensor: keeps the tensor (and so its storage)
/// alive, and lets [`Sharing::Share`](crate::Sharing::Share) map views of it back to candle
/// views without any allocator support.
#[derive(Debug)]
pub struct TensorOwner {
    tensor: Tensor,
    /// A 1-D view over exactly the buffer the `ArrayRef` reports, when the tensor is dense.
    base: Option<Tensor>,
}

impl TensorOwner {
    /// The exported tensor.
    pub fn tensor(&self) -> &Tensor {
        &self.tensor
    }

    /// A candle view of `a` (a view of this export), planned by `plan`.
    pub(crate) fn view(&self, a: &ArrayRef, plan: &ViewPlan) -> Result<Tensor> {
        match &self.base {
            Some(base) => plan.apply(base),
            None if is_exact_export(a, &self.tensor) => Ok(self.tensor.clone()),
            None => Err(Error::LayoutNotExpressible {
                shape: a.shape().to_vec(),
                strides: a.strides().to_vec(),
                reason: "it is a sub-view of an exported tensor that is itself a sparse view \
                         (call .contiguous() on the tensor before exporting it)",
            }),
        }
    }
}

fn is_exact_export(a: &ArrayRef, t: &Tensor) -> bool {
    let isz = t.dtype().size_in_bytes() as isize;
    let strides: Vec<isize> = t.stride().iter().map(|&s| s as isize * isz).collect();
    a.shape() == t.dims() && a.strides() == strides.as_slice() && {
        let (ptr, _) = storage_ptr(t).unwrap_or((std::ptr::null(), 0));
        a.data_ptr() == ptr.wrapping_add(t.layout().start_offset() * isz as usize)
    }
}

/// Start and byte length of a CPU tensor's storage.
pub(crate) fn storage_ptr(t: &Tensor) -> Result<(*const u8, usize)> {
    let (storage, _) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => Ok(cpu_bytes(cpu)),
        _ => Err(Error::NotOnCpu {
            operation: "viewing tensor memory",
            device: crate::device::device_name(t.device()),
        }),
    }
}

fn cpu_bytes(cpu: &CpuStorage) -> (*const u8, usize) {
    fn raw<T>(v: &[T]) -> (*const u8, usize) {
        (v.as_ptr().cast(), std::mem::size_of_val(v))
    }
    match cpu {
        CpuStorage::U8(v) => raw(v),
        CpuStorage::U32(v) => raw(v),
        CpuStorage::I16(v) => raw(v),
        CpuStorage::I32(v) => raw(v),
        CpuStorage::I64(v) => raw(v),
        CpuStorage::BF16(v) => raw(v),
        CpuStorage::F16(v) => raw(v),
        CpuStorage::F32(v) => raw(v),
        CpuStorage::F64(v) => raw(v),
        CpuStorage::F8E4M3(v) => raw(v),
        CpuStorage::F6E2M3(v) | CpuStorage::F6E3M2(v) | CpuStorage::F4(v) | CpuStorage::F8E8M0(v) => raw(v),
    }
}

/// A 1-D view of the dense block of storage `t` addresses (broadcast axes collapsed), if its
/// non-broadcast axes are a permutation of a contiguous block.
fn dense_base(t: &Tensor) -> Result<Option<Tensor>> {
    let mut v = t.clone();
    // collapse broadcast axes to length 1, then drop every length-1 axis
    for (axis, (&n, &s)) in t.dims().iter().zip(t.stride()).enumerate() {
        if n > 1 && s == 0 {
            v = v.narrow(axis, 0, 1)?;
        }
    }
    for axis in (0..v.rank()).rev() {
        if v.dims()[axis] == 1 {
            v = v.squeeze(axis)?;
        }
    }
    let mut order: Vec<usize> = (0..v.rank()).collect();
    order.sort_by(|&a, &b| v.stride()[b].cmp(&v.stride()[a]));
    if v.rank() > 1 {
        v = v.permute(order)?;
    }
    if !v.is_contiguous() {
        return Ok(None);
    }
    Ok(Some(v.flatten_all()?))
}

impl ArrayRef {
    /// Describe a CPU tensor's memory as an array (no copy). The array keeps the tensor alive.
    ///
    /// Broadcast tensors (stride-0 axes) come out read-only, as NumPy's `broadcast_to` does:
    /// writing one element would change many.
    ///
    /// ```
    /// use candle_core::{Device, Tensor};
    /// use candle_numpy::{shares_memory, to_tensor, ArrayRef, Options, Sharing};
    /// let t = Tensor::arange(0f32, 12., &Device::Cpu)?.reshape((3, 4))?.t()?;
    /// let a = ArrayRef::from_tensor(&t)?;
    /// assert_eq!(a.strides(), &[4, 16]);
    /// assert!(shares_memory(&t, &a));
    /// // and back, as a candle view of the same storage
    /// let back = to_tensor(&a, Sharing::Share, &Options::default())?;
    /// assert!(shares_memory(&back, &a));
    /// assert_eq!(back.to_vec2::<f32>()?, t.to_vec2::<f32>()?);
    /// # Ok::<(), candle_numpy::Error>(())
    /// ```
    pub fn from_tensor(t: &Tensor) -> Result<ArrayRef> {
        let dtype = NpDType::from_candle(t.dtype())?;
        let (ptr, len) = storage_ptr(t)?;
        let isz = t.dtype().size_in_bytes();
        let layout = t.layout();
        let data = ptr.wrapping_add(layout.start_offset() * isz);
        let strides: Vec<isize> = layout.stride().iter().map(|&s| (s * isz) as isize).collect();
        let base = dense_base(t)?;
        let buffer = match &base {
            Some(b) => {
                Buffer { ptr: ptr.wrapping_add(b.layout().start_offset() * isz), len: b.elem_count() * isz }
            }
            None => Buffer { ptr, len },
        };
        let readonly = is_read_only(t);
        let owner = Arc::new(TensorOwner { tensor: t.clone(), base });
        // SAFETY: the buffer is (part of) the tensor's CPU storage, which candle never
        // reallocates and which the owner keeps alive; the layout is candle's own, so every
        // element lies inside it (checked again by from_raw_parts).
        unsafe {
            ArrayRef::from_raw_parts(
                data,
                dtype,
                ByteOrder::NATIVE,
                t.dims().to_vec(),
                strides,
                readonly,
                buffer,
                owner,
            )
        }
    }
}

/// A read lock on a CPU tensor's storage, from which `ndarray` views borrow.
///
/// ```
/// use candle_core::{Device, Tensor};
/// let t = Tensor::arange(0i64, 6, &Device::Cpu)?.reshape((2, 3))?.t()?;
/// let guard = candle_numpy::export::borrow(&t)?;
/// let v = guard.view::<i64>()?;
/// assert_eq!(v.shape(), &[3, 2]);
/// assert_eq!(v[[2, 1]], 5);
/// # Ok::<(), candle_numpy::Error>(())
/// ```
pub struct Borrowed<'a> {
    guard: StorageRef<'a>,
    layout: &'a Layout,
}

/// Lock `t`'s storage for reading so `ndarray` views can borrow it (CPU tensors only).
pub fn borrow(t: &Tensor) -> Result<Borrowed<'_>> {
    let (guard, layout) = t.storage_and_layout();
    if !matches!(&*guard, Storage::Cpu(_)) {
        return Err(Error::NotOnCpu {
            operation: "borrowing as an ndarray view",
            device: crate::device::device_name(t.device()),
        });
    }
    Ok(Borrowed { guard, layout })
}

impl Borrowed<'_> {
    /// The tensor as an `ndarray` view of element type `T` (which must be its dtype), in the
    /// tensor's own layout: no copy.
    pub fn view<T: WithDType>(&self) -> Result<ArrayViewD<'_, T>> {
        let Storage::Cpu(cpu) = &*self.guard else { unreachable!("checked in borrow()") };
        let all: &[T] = cpu.as_slice::<T>().map_err(|_| Error::DTypeMismatch {
            operation: "ndarray view",
            actual: cpu_dtype(cpu),
            expected: <T as WithDType>::DTYPE,
        })?;
        let l = self.layout;
        let shape = IxDyn(l.dims()).strides(IxDyn(l.stride()));
        ArrayViewD::from_shape(shape, &all[l.start_offset()..])
            .map_err(|e| Error::ShapeMismatch { operation: "ndarray view", detail: e.to_string() })
    }
}

fn cpu_dtype(cpu: &CpuStorage) -> candle_core::DType {
    use candle_core::backend::BackendStorage;
    cpu.dtype()
}

/// Copy a tensor (any device, any layout) into an owned C-order `ndarray` array.
pub fn to_ndarray<T: WithDType>(t: &Tensor) -> Result<ArrayD<T>> {
    if t.dtype() != T::DTYPE {
        return Err(Error::DTypeMismatch { operation: "to_ndarray", actual: t.dtype(), expected: T::DTYPE });
    }
    let data = t.flatten_all()?.to_vec1::<T>()?;
    ArrayD::from_shape_vec(IxDyn(t.dims()), data)
        .map_err(|e| Error::ShapeMismatch { operation: "to_ndarray", detail: e.to_string() })
}

/// Move an owned `ndarray` array into a CPU tensor without copying its elements.
///
/// Standard (C) layout and Fortran layout both move; sliced arrays become a view of the moved
/// buffer. Arrays candle cannot view are gathered into a copy instead: negative strides (after
/// `invert_axis`; candle strides are unsigned) and steps that do not nest (e.g. every other
/// column of rows of odd length).
///
/// ```
/// use ndarray::{array, ShapeBuilder};
/// let a = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
/// let ptr = a.as_ptr();
/// let t = candle_numpy::from_ndarray(a)?;
/// assert_eq!(t.to_vec2::<f32>()?, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
/// let (tp, _) = candle_numpy::export::storage_range(&t)?;
/// assert_eq!(tp, ptr.cast()); // same buffer: moved, not copied
/// # Ok::<(), candle_numpy::Error>(())
/// ```
pub fn from_ndarray<T, D>(a: ndarray::Array<T, D>) -> Result<Tensor>
where
    T: WithDType + Element,
    D: ndarray::Dimension,
{
    let shape = a.shape().to_vec();
    let strides: Vec<isize> = a.strides().to_vec();
    let (vec, offset) = a.into_raw_vec_and_offset();
    let offset = offset.unwrap_or(0);
    if vec.is_empty() || shape.contains(&0) {
        return Ok(Tensor::from_vec(Vec::<T>::new(), shape, &candle_core::Device::Cpu)?);
    }
    let len = vec.len();
    let elem_strides: Vec<usize> =
        strides.iter().zip(&shape).map(|(&s, &n)| if n > 1 { s.max(0) as usize } else { 0 }).collect();
    let negative = strides.iter().zip(&shape).any(|(&s, &n)| s < 0 && n > 1);
    match ViewPlan::new(&shape, &elem_strides, offset, len) {
        Ok(plan) if !negative => {
            let base = Tensor::from_vec(vec, len, &candle_core::Device::Cpu)?;
            plan.apply(&base)
        }
        // negative or non-nesting strides: candle cannot view them, so gather a copy
        _ => {
            let isz = std::mem::size_of::<T>();
            let buffer = Buffer { ptr: vec.as_ptr().cast(), len: len * isz };
            let data = buffer.ptr.wrapping_add(offset * isz);
            let byte_strides = strides.iter().map(|&s| s * isz as isize).collect();
            // SAFETY: the Vec is moved into the owner, so its heap block stays alive and
            // unchanged; ndarray guarantees the layout lies within it (re-checked here).
            let a = unsafe {
                ArrayRef::from_raw_parts(
                    data,
                    <T as Element>::DTYPE,
                    ByteOrder::NATIVE,
                    shape,
                    byte_strides,
                    false,
                    buffer,
                    Arc::new(vec),
                )?
            };
            crate::convert::to_tensor(&a, crate::Sharing::Copy, &crate::Options::default())
        }
    }
}

/// Start address and byte length of the storage block a CPU tensor lives in.
pub fn storage_range(t: &Tensor) -> Result<(*const u8, usize)> {
    storage_ptr(t)
}

/// Whether two CPU tensors are views of one storage (a write through one can change what the
/// other reads). False when either is not on the CPU.
pub(crate) fn same_storage(a: &Tensor, b: &Tensor) -> bool {
    matches!((storage_ptr(a), storage_ptr(b)), (Ok((pa, _)), Ok((pb, _))) if pa == pb)
}

/// Whether `t`'s storage is read-only memory: foreign memory shared read-only (a read-only
/// array, a read-only memory map), as recorded by the adopting allocator
/// ([`crate::adopt::register_read_only`]). Every tensor over that storage answers the same,
/// however it was derived (a slice, a view, a dataset row), so write paths check this rather
/// than a flag carried along. False for non-CPU tensors.
pub fn storage_is_read_only(t: &Tensor) -> bool {
    storage_ptr(t).is_ok_and(|(ptr, len)| crate::adopt::is_read_only(ptr, len))
}

/// Whether writes through `t` must be refused: its storage is read-only
/// ([`storage_is_read_only`]) or it is a broadcast (a stride-0 axis of length > 1, several
/// elements at one address; candle gives empty tensors zero strides too, and those have
/// nothing to protect).
pub fn is_read_only(t: &Tensor) -> bool {
    let broadcast = t.elem_count() > 0 && t.dims().iter().zip(t.stride()).any(|(&n, &s)| n > 1 && s == 0);
    broadcast || storage_is_read_only(t)
}

/// Byte range `[lo, hi)` of memory a CPU tensor's elements touch, or `None` for empty or
/// non-CPU tensors.
fn touched_bytes(t: &Tensor) -> Option<(usize, usize)> {
    let (ptr, _) = storage_ptr(t).ok()?;
    let isz = t.dtype().size_in_bytes();
    let l = t.layout();
    let strides: Vec<isize> = l.stride().iter().map(|&s| (s * isz) as isize).collect();
    let (lo, hi) = crate::array::byte_extent(l.dims(), &strides, isz)?;
    let start = ptr as usize + l.start_offset() * isz;
    Some(((start as isize + lo) as usize, (start as isize + hi) as usize))
}

/// Whether the tensor and the array may share memory: their byte ranges overlap (the test
/// NumPy's `np.may_share_memory` does; exact for the dense layouts sharing produces).
///
/// ```
/// use candle_numpy::{shares_memory, to_tensor, ArrayRef, Options, Sharing};
/// let a = ArrayRef::from_vec(vec![1f32, 2., 3.], &[3])?;
/// let copy = to_tensor(&a, Sharing::Copy, &Options::default())?;
/// assert!(!shares_memory(&copy, &a));
/// # Ok::<(), candle_numpy::Error>(())
/// ```
pub fn shares_memory(t: &Tensor, a: &ArrayRef) -> bool {
    let (Some((tlo, thi)), Some((alo, ahi))) = (touched_bytes(t), a.extent()) else {
        return false;
    };
    let base = a.data_ptr() as isize;
    let (alo, ahi) = ((base + alo) as usize, (base + ahi) as usize);
    tlo < ahi && alo < thi
}
