//! Zero-copy machinery: when an array can be shared, and how a shared array becomes a candle
//! view.
//!
//! Sharing happens in two steps:
//!
//! 1. **Adopt the buffer.** The whole block the array's owner keeps alive becomes the storage of
//!    a 1-D candle tensor without copying. Where that block is a candle tensor's own storage
//!    (an [`ArrayRef`] made by [`ArrayRef::from_tensor`]), the tensor itself is reused. Foreign
//!    memory (NumPy, memory maps) needs the adopting global allocator; without it, Share
//!    refuses with [`Error::SharingUnavailable`].
//! 2. **Express the layout.** candle views have unsigned element strides and are built from
//!    `reshape`, `narrow`, `squeeze`, `permute` and `broadcast_as`. [`ViewPlan`] finds that
//!    sequence for any array whose non-broadcast axes nest (each stride a multiple of the next
//!    smaller one, without overlap): C and Fortran order, transposes, slices with offsets and
//!    steps, broadcast (stride-0) axes. Layouts outside that class are refused with the reason.

use candle_core::op::BackpropOp;
use candle_core::{CpuStorage, DType, Device, Storage, Tensor, Var};

use crate::array::ArrayRef;
use crate::convert::Options;
use crate::dtype::{candle_name, candle_numpy_name, ByteOrder, Mapping};
use crate::error::{Error, Result};

/// How to build a candle view of an array from the 1-D tensor over its whole buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewPlan {
    /// First element (of the buffer) of the region that is reshaped.
    start: usize,
    /// Shape the region is reshaped to; its product is the region's length.
    grid: Vec<usize>,
    /// `(start, len)` to narrow each grid axis to.
    narrows: Vec<(usize, usize)>,
    /// Original axis index of each "real" (length > 1, stride > 0) axis, in grid order.
    real_axes: Vec<usize>,
    /// Final shape.
    shape: Vec<usize>,
}

impl ViewPlan {
    /// Plan a view of elements `offset + sum(i_k * strides[k])` of a buffer of `buffer_len`
    /// elements. Strides are in elements and must be non-negative.
    pub fn new(shape: &[usize], strides: &[usize], offset: usize, buffer_len: usize) -> Result<ViewPlan> {
        let refuse = |reason| Error::LayoutNotExpressible {
            shape: shape.to_vec(),
            strides: strides.iter().map(|&s| s as isize).collect(),
            reason,
        };
        let mut real: Vec<usize> = (0..shape.len()).filter(|&k| shape[k] > 1 && strides[k] > 0).collect();
        // outermost (largest stride) first; a stable sort keeps ties in axis order
        real.sort_by(|&a, &b| strides[b].cmp(&strides[a]));
        if real.is_empty() {
            if offset >= buffer_len {
                return Err(refuse("offset past the end of the buffer"));
            }
            return Ok(ViewPlan {
                start: offset,
                grid: vec![1],
                narrows: vec![(0, 1)],
                real_axes: vec![],
                shape: shape.to_vec(),
            });
        }
        let t: Vec<usize> = real.iter().map(|&k| strides[k]).collect();
        let n: Vec<usize> = real.iter().map(|&k| shape[k]).collect();
        let m = real.len();
        for i in 1..m {
            if t[i - 1] % t[i] != 0 {
                return Err(refuse("a stride is not a multiple of the next smaller stride"));
            }
            if n[i] * t[i] > t[i - 1] {
                return Err(refuse("axes overlap in memory (as in sliding_window_view)"));
            }
        }
        // grid = [n0, t0/t1, ..., t_{m-2}/t_{m-1}, t_{m-1}]; decompose the offset in that
        // mixed radix from the innermost digit out.
        let mut grid = Vec::with_capacity(m + 1);
        grid.push(n[0]);
        for i in 1..m {
            grid.push(t[i - 1] / t[i]);
        }
        grid.push(t[m - 1]);
        let mut narrows = vec![(0usize, 0usize); m + 1];
        let mut rem = offset;
        let last = rem % t[m - 1];
        narrows[m] = (last, 1);
        rem -= last;
        for i in (1..m).rev() {
            let digit = (rem / t[i]) % grid[i];
            if digit + n[i] > grid[i] {
                return Err(refuse("the view wraps around a row of its parent"));
            }
            narrows[i] = (digit, n[i]);
            rem -= digit * t[i];
        }
        narrows[0] = (0, n[0]);
        let start = rem;
        let region = n[0].checked_mul(t[0]).ok_or_else(|| refuse("strides overflow"))?;
        if start.checked_add(region).is_none_or(|end| end > buffer_len) {
            return Err(refuse(
                "the strided view would reach past the end of its buffer (e.g. a[::2] of an \
                 odd-length array)",
            ));
        }
        Ok(ViewPlan { start, grid, narrows, real_axes: real, shape: shape.to_vec() })
    }

    /// Elements of the buffer the view's region covers (`start .. start + len`).
    pub fn region(&self) -> (usize, usize) {
        (self.start, self.grid.iter().product())
    }

    /// Whether the view is the whole buffer in C order (the common case: no view ops needed):
    /// it starts at element 0, has as many distinct elements (no broadcast axes) as the buffer,
    /// and its axes run outermost-first.
    pub fn is_whole_buffer(&self, buffer_len: usize) -> bool {
        let no_broadcast = self.real_axes.len() == self.shape.iter().filter(|&&n| n > 1).count();
        let c_order = self.real_axes.windows(2).all(|w| w[0] < w[1]);
        self.start == 0 && no_broadcast && c_order && self.shape.iter().product::<usize>() == buffer_len
    }

    /// Build the view from `base`, a 1-D tensor over the whole buffer.
    pub fn apply(&self, base: &Tensor) -> Result<Tensor> {
        if self.is_whole_buffer(base.elem_count()) {
            return Ok(base.reshape(self.shape.as_slice())?);
        }
        let (start, len) = self.region();
        let mut t = base.narrow(0, start, len)?.reshape(self.grid.as_slice())?;
        for (axis, &(s, n)) in self.narrows.iter().enumerate() {
            t = t.narrow(axis, s, n)?;
        }
        // drop the innermost grid axis (length 1 now): the real axes remain, outermost first
        t = t.squeeze(self.grid.len() - 1)?;
        if self.real_axes.is_empty() {
            // a single element: `t` has shape [] after the squeeze
            t = t.reshape(vec![1usize; self.shape.len()])?;
            return Ok(t.broadcast_as(self.shape.as_slice())?);
        }
        // append every other axis with length 1, then permute into the original order
        let rank = self.shape.len();
        let others: Vec<usize> = (0..rank).filter(|k| !self.real_axes.contains(k)).collect();
        for _ in &others {
            t = t.unsqueeze(t.rank())?;
        }
        let current: Vec<usize> = self.real_axes.iter().chain(&others).copied().collect();
        let mut perm = vec![0usize; rank];
        for (pos, &axis) in current.iter().enumerate() {
            perm[axis] = pos;
        }
        if perm.iter().enumerate().any(|(i, &p)| i != p) {
            t = t.permute(perm)?;
        }
        // stride-0 axes of length > 1 are broadcasts of length-1 axes
        if t.dims() != self.shape.as_slice() {
            t = t.broadcast_as(self.shape.as_slice())?;
        }
        Ok(t)
    }
}

/// Decide whether `a` can be shared as a tensor of `dtype` on `device`, and plan the view.
///
/// Returns the precise refusal otherwise. The order of the checks is the order a user fixes
/// things in: the dtype, the device, emptiness, byte order, layout, alignment, write access.
pub fn share_plan(
    a: &ArrayRef,
    dtype: Option<DType>,
    device: &Device,
    allow_readonly: bool,
) -> Result<(DType, ViewPlan)> {
    let dtype = check_shareable(a, dtype, device, allow_readonly)?;
    if a.is_empty() {
        return Err(Error::EmptyShare { shape: a.shape().to_vec() });
    }
    Ok((dtype, plan_view(a)?))
}

/// The checks of [`share_plan`] without the plan: the candle dtype `a` shares as, or the
/// refusal.
fn check_shareable(
    a: &ArrayRef,
    dtype: Option<DType>,
    device: &Device,
    allow_readonly: bool,
) -> Result<DType> {
    let np = a.dtype();
    let exact = match np.mapping() {
        Mapping::Exact(d) => d,
        Mapping::Widen(to) | Mapping::RangeChecked(to) => {
            return Err(Error::Widening {
                from: np.name(),
                to: candle_name(to),
                to_numpy: candle_numpy_name(to),
            })
        }
    };
    if let Some(want) = dtype {
        if want != exact {
            return Err(Error::ShareCast { from: np.name(), to: candle_name(want) });
        }
    }
    if !device.is_cpu() {
        return Err(Error::NonCpuShare { device: crate::device::device_name(device) });
    }
    if a.is_empty() {
        // no memory: nothing can be copied or diverge, so byte order, strides, alignment and
        // write access do not apply ([`share`] answers with an empty tensor)
        return Ok(exact);
    }
    if a.byte_order() != ByteOrder::NATIVE {
        return Err(Error::ByteOrder { dtype: np.name(), order: a.byte_order().name() });
    }
    if let Some((axis, stride)) = a.negative_stride() {
        return Err(Error::NegativeStride { axis, stride });
    }
    let itemsize = np.itemsize();
    for (axis, (&n, &s)) in a.shape().iter().zip(a.strides()).enumerate() {
        if n > 1 && s % itemsize as isize != 0 {
            return Err(Error::StrideNotMultiple { axis, stride: s, itemsize, dtype: np.name() });
        }
    }
    let buffer = a.buffer();
    let align = exact.size_in_bytes();
    for address in [buffer.ptr as usize, a.data_ptr() as usize] {
        if address % align != 0 {
            return Err(Error::Misaligned { address, align, dtype: np.name() });
        }
    }
    // a private copy-on-write map cannot be hurt by a write: no promise needed
    if a.is_readonly() && !allow_readonly && !a.is_copy_on_write() {
        return Err(Error::ReadOnly {
            operation: "sharing as a writable tensor",
            fix: crate::error::Fix::ShareReadOnly,
        });
    }
    Ok(exact)
}

/// Whether `a` is its whole buffer in C order (`torch.from_numpy` of a fresh array, the common
/// case): then the tensor is the buffer itself, with no view plan to build.
fn is_whole_buffer_c_order(a: &ArrayRef, dtype: DType) -> bool {
    a.offset_in_buffer() == 0 && a.is_c_contiguous() && a.len() * dtype.size_in_bytes() == a.buffer().len
}

/// How to express `a` as a candle view of its whole buffer (after [`check_shareable`]).
fn plan_view(a: &ArrayRef) -> Result<ViewPlan> {
    let itemsize = a.dtype().itemsize();
    let buffer = a.buffer();
    let offset = a.offset_in_buffer();
    let strides: Vec<usize> = a
        .shape()
        .iter()
        .zip(a.strides())
        .map(|(&n, &s)| if n > 1 { s as usize / itemsize } else { 0 })
        .collect();
    ViewPlan::new(a.shape(), &strides, offset as usize / itemsize, buffer.len / itemsize).map_err(|e| match e
    {
        // report the caller's byte strides, not our element strides
        Error::LayoutNotExpressible { shape, reason, .. } => {
            Error::LayoutNotExpressible { shape, strides: a.strides().to_vec(), reason }
        }
        other => other,
    })
}

/// Share `a` as a candle tensor (no bytes copied), or say precisely why not. An empty array
/// (a zero in its shape) has no memory to share: it gives an empty tensor of its shape and
/// dtype, as `torch.from_numpy` does (nothing is copied, nothing can diverge).
pub fn share(a: &ArrayRef, opts: &Options) -> Result<Tensor> {
    let dtype = check_shareable(a, opts.dtype, &opts.device, opts.allows_readonly())?;
    if a.is_empty() {
        return Ok(Tensor::zeros(a.shape(), dtype, &Device::Cpu)?);
    }
    if let Some(exported) = a.owner().downcast_ref::<crate::export::TensorOwner>() {
        // our own export: the buffer is that tensor's storage, so a candle view of it is the
        // answer (adopting it again would hand one block to two owners)
        return exported.view(a, &plan_view(a)?);
    }
    if is_whole_buffer_c_order(a, dtype) {
        // the common case: the tensor is the whole buffer in C order, no view ops needed (and
        // no plan: this path is a fixed ~0.1 us of torch.from_numpy's per-call budget)
        let (storage, _) = adopt_foreign(a, dtype)?;
        return Ok(Tensor::from_storage(Storage::Cpu(storage), a.shape(), BackpropOp::none(), false));
    }
    let plan = plan_view(a)?;
    let (storage, n) = adopt_foreign(a, dtype)?;
    if plan.is_whole_buffer(n) {
        return Ok(Tensor::from_storage(Storage::Cpu(storage), a.shape(), BackpropOp::none(), false));
    }
    plan.apply(&Tensor::from_storage(Storage::Cpu(storage), n, BackpropOp::none(), false))
}

/// Share `a` as a candle [`Var`] (a trainable variable): `Var::set` and optimizer steps then
/// write straight into the array's memory. Only a whole C-contiguous foreign buffer can be a
/// variable (a `Var` owns its storage and its layout is plain); anything else is refused with
/// the reason, and `Sharing::Copy` makes an independent `Var`.
pub fn share_var(a: &ArrayRef, opts: &Options) -> Result<Var> {
    let (dtype, device, allow_readonly) = (opts.dtype, &opts.device, opts.allows_readonly());
    if a.is_empty() {
        // as `share`: no memory, an empty variable
        let dtype = check_shareable(a, dtype, device, allow_readonly)?;
        return Ok(Var::zeros(a.shape(), dtype, &Device::Cpu)?);
    }
    let (dtype, plan) = share_plan(a, dtype, device, allow_readonly)?;
    let refuse = |reason| Error::LayoutNotExpressible {
        shape: a.shape().to_vec(),
        strides: a.strides().to_vec(),
        reason,
    };
    if a.owner().downcast_ref::<crate::export::TensorOwner>().is_some() {
        return Err(refuse("it is memory of another tensor, and a variable must own its storage"));
    }
    let n = a.buffer().len / dtype.size_in_bytes();
    if !plan.is_whole_buffer(n) {
        return Err(refuse("a variable must be a whole C-contiguous buffer"));
    }
    let (storage, _) = adopt_foreign(a, dtype)?;
    let t = Tensor::from_storage(Storage::Cpu(storage), a.shape(), BackpropOp::none(), true);
    Ok(Var::from_tensor(&t)?)
}

/// A CPU storage over the whole buffer of foreign memory (and its element count), no copy.
///
/// Handing foreign memory to candle as a `Vec` needs the adopting global allocator
/// ([`crate::adopt`]), which recognises the block when candle drops it and releases the owner
/// instead of freeing. Without it, foreign memory cannot be shared.
fn adopt_foreign(a: &ArrayRef, dtype: DType) -> Result<(CpuStorage, usize)> {
    let isz = dtype.size_in_bytes();
    let buffer = a.buffer();
    let n = buffer.len / isz;
    let register =
        if a.is_memory_readonly() { crate::adopt::register_read_only } else { crate::adopt::register };
    register(buffer.ptr, n * isz, a.owner_identity(), a.owner().clone(), a.release())?;
    // SAFETY: share_plan checked that the buffer start is aligned for `dtype` and non-empty;
    // the buffer is readable (and, unless the caller opted into read-only sharing, writable)
    // memory the owner keeps alive (read-only memory is registered as such, and every write
    // path checks `storage_is_read_only` first), now registered under exactly (ptr, n * isz): when candle
    // frees this Vec (len = capacity = n), the adopting allocator intercepts that key and
    // releases the owner instead of freeing, and it copies out on realloc. Every element type
    // here is plain bits, so any byte pattern is a valid value.
    let storage = unsafe { adopted_storage(buffer.ptr, n, dtype) };
    Ok((storage, n))
}

/// A CPU storage whose `Vec` is `n` elements at `ptr`.
///
/// # Safety
/// `(ptr, n * size_of(dtype))` must be registered with the adopting allocator (which must be
/// installed), aligned for `dtype`, and valid memory for as long as the registration lives.
unsafe fn adopted_storage(ptr: *const u8, n: usize, dtype: DType) -> CpuStorage {
    macro_rules! vec_of {
        ($t:ty) => {
            // SAFETY: the caller's contract; the allocator owns the (ptr, layout) key.
            unsafe { Vec::from_raw_parts(ptr as *mut $t, n, n) }
        };
    }
    match dtype {
        DType::U8 => CpuStorage::U8(vec_of!(u8)),
        DType::U32 => CpuStorage::U32(vec_of!(u32)),
        DType::I16 => CpuStorage::I16(vec_of!(i16)),
        DType::I32 => CpuStorage::I32(vec_of!(i32)),
        DType::I64 => CpuStorage::I64(vec_of!(i64)),
        DType::F16 => CpuStorage::F16(vec_of!(half::f16)),
        DType::BF16 => CpuStorage::BF16(vec_of!(half::bf16)),
        DType::F32 => CpuStorage::F32(vec_of!(f32)),
        DType::F64 => CpuStorage::F64(vec_of!(f64)),
        DType::F8E4M3 => CpuStorage::F8E4M3(vec_of!(float8::F8E4M3)),
        other => unreachable!("share_plan only admits table dtypes, not {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: element offsets of every index, in C order.
    fn offsets(shape: &[usize], strides: &[usize], offset: usize) -> Vec<usize> {
        let n: usize = shape.iter().product();
        (0..n)
            .map(|mut flat| {
                let mut o = offset;
                for k in (0..shape.len()).rev() {
                    o += (flat % shape[k]) * strides[k];
                    flat /= shape[k];
                }
                o
            })
            .collect()
    }

    fn check(shape: &[usize], strides: &[usize], offset: usize, len: usize) {
        let plan = ViewPlan::new(shape, strides, offset, len).unwrap();
        let base = Tensor::arange(0u32, len as u32, &Device::Cpu).unwrap();
        let view = plan.apply(&base).unwrap();
        assert_eq!(view.dims(), shape);
        let got: Vec<u32> = view.flatten_all().unwrap().to_vec1().unwrap();
        let want: Vec<u32> = offsets(shape, strides, offset).into_iter().map(|o| o as u32).collect();
        assert_eq!(got, want, "shape {shape:?} strides {strides:?} offset {offset}");
        // it is a view: the layout addresses the same elements
        let layout = view.layout();
        assert_eq!(layout.start_offset(), offset);
        for (k, (&n, &s)) in shape.iter().zip(strides).enumerate() {
            if n > 1 {
                assert_eq!(layout.stride()[k], s, "axis {k}");
            }
        }
    }

    #[test]
    fn contiguous_and_fortran() {
        check(&[2, 3, 4], &[12, 4, 1], 0, 24);
        check(&[2, 3, 4], &[1, 2, 6], 0, 24);
        check(&[24], &[1], 0, 24);
        check(&[], &[], 5, 24);
    }

    #[test]
    fn slices_with_offsets_and_steps() {
        // a[1:, 1:3] of a (4, 6) array
        check(&[3, 2], &[6, 1], 7, 24);
        // a[:, ::2]
        check(&[4, 3], &[6, 2], 0, 24);
        // a[1::2] of an even-length array
        check(&[4], &[2], 1, 9);
        // a[::3, 1::2].T of a (6, 6) array
        check(&[3, 2], &[2, 18], 1, 36);
        // size-1 axes with arbitrary strides
        check(&[3, 1, 2], &[6, 0, 1], 2, 24);
    }

    #[test]
    fn broadcasts() {
        check(&[3, 4], &[0, 1], 4, 24);
        check(&[3, 4], &[0, 0], 9, 24);
        check(&[2, 3, 4], &[12, 0, 1], 0, 24);
    }

    #[test]
    fn refusals_name_the_reason() {
        let err = ViewPlan::new(&[3, 3], &[1, 1], 0, 10).unwrap_err();
        assert!(err.to_string().contains("overlap"), "{err}");
        let err = ViewPlan::new(&[2, 2], &[3, 2], 0, 10).unwrap_err();
        assert!(err.to_string().contains("multiple"), "{err}");
        let err = ViewPlan::new(&[4], &[2], 0, 7).unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");
        // a[::3] of a 4-row array: the last row of the grid would pass the end
        let err = ViewPlan::new(&[2, 6], &[18, 1], 0, 24).unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");
        // a view straddling rows of its parent: offset 4 in rows of 6 with 3 columns
        let err = ViewPlan::new(&[2, 3], &[6, 1], 4, 24).unwrap_err();
        assert!(err.to_string().contains("wraps"), "{err}");
    }

    #[test]
    fn dtype_rules_come_before_layout() {
        let a = ArrayRef::from_vec(vec![1i8, 2, 3], &[3]).unwrap();
        let err = share_plan(&a, None, &Device::Cpu, false).unwrap_err();
        assert!(matches!(err, Error::Widening { from: "int8", to: "i16", .. }), "{err}");
        let a = ArrayRef::from_vec(vec![1f32, 2.0], &[2]).unwrap();
        let err = share_plan(&a, Some(DType::F64), &Device::Cpu, false).unwrap_err();
        assert!(matches!(err, Error::ShareCast { .. }), "{err}");
    }
}
