//! In-place writes into a tensor's own storage, whatever its layout: what makes `t.add_(1)`,
//! `t += 1` and `t.copy_(x)` visible through memory shared with NumPy.
//!
//! candle's arithmetic always allocates its result; [`assign`] writes such a result back into
//! the destination's storage through the destination's layout (strided, offset, permuted), as
//! torch's in-place operators do.

use candle_core::{CpuStorage, InplaceOp2, Layout, Tensor};

use crate::copy::Walk;

use crate::error::{Error, Result};

/// Write `src` (broadcast to `dst`'s shape and cast to its dtype) into `dst`'s memory.
///
/// `dst` may be any view; views with broadcast (stride-0) axes are refused, since several of
/// their elements are one memory location. A `src` that shares storage with `dst` is copied
/// first, so overlapping writes (`t.copy_(t.T)`) see the old values.
///
/// ```
/// use candle_core::{Device, Tensor};
/// let t = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu)?;
/// let col = t.narrow(1, 1, 1)?;
/// candle_numpy::inplace::assign(&col, &Tensor::new(&[[5f32], [6.]], &Device::Cpu)?)?;
/// assert_eq!(t.to_vec2::<f32>()?, [[0., 5., 0.], [0., 6., 0.]]);
/// # Ok::<(), candle_numpy::Error>(())
/// ```
pub fn assign(dst: &Tensor, src: &Tensor) -> Result<()> {
    if crate::export::storage_is_read_only(dst) {
        return Err(Error::ReadOnly { operation: "in-place write", fix: crate::error::Fix::WriteIntoCopy });
    }
    if let Some(axis) = dst.dims().iter().zip(dst.stride()).position(|(&n, &s)| n > 1 && s == 0) {
        return Err(Error::ShapeMismatch {
            operation: "in-place write",
            detail: format!(
                "axis {axis} of the destination is a broadcast (stride 0): several of its elements \
                 are one memory location; write into a .clone() instead"
            ),
        });
    }
    if dst.elem_count() == 0 {
        return Ok(());
    }
    let src = crate::dtype::cast(src, dst.dtype())?.broadcast_as(dst.shape())?;
    // Only a source that lives in dst's own storage needs a private copy first (writes would
    // otherwise read values already overwritten); a fresh result (`t + 1`) is written as is.
    let src =
        if crate::export::same_storage(&src, dst) { src.copy()?.contiguous()? } else { src.contiguous()? };
    dst.inplace_op2(&src, &Assign)?;
    Ok(())
}

/// Fill every element of `dst` with `value` (cast to its dtype).
pub fn fill(dst: &Tensor, value: f64) -> Result<()> {
    let v = crate::dtype::cast(&Tensor::new(value, dst.device())?, dst.dtype())?;
    assign(dst, &v)
}

struct Assign;

/// Copy the contiguous `src` into `dst` through `dst_l` (element strides, any order).
fn write<T: Copy>(dst: &mut [T], dst_l: &Layout, src: &[T], src_l: &Layout) {
    let src = &src[src_l.start_offset()..];
    let strides: Vec<isize> = dst_l.stride().iter().map(|&s| s as isize).collect();
    let walk = Walk::new(dst_l.dims(), &strides);
    let rank = walk.shape.len();
    let (inner_n, inner_s) = (walk.shape[rank - 1], walk.strides[rank - 1] as usize);
    let outer: usize = walk.shape[..rank - 1].iter().product();
    let mut idx = vec![0usize; rank.saturating_sub(1)];
    for run in 0..outer {
        let base: usize = dst_l.start_offset()
            + idx.iter().zip(&walk.strides).map(|(&i, &s)| i * s as usize).sum::<usize>();
        let part = &src[run * inner_n..(run + 1) * inner_n];
        if inner_s == 1 {
            dst[base..base + inner_n].copy_from_slice(part);
        } else {
            for (k, &v) in part.iter().enumerate() {
                dst[base + k * inner_s] = v;
            }
        }
        // advance the outer multi-index
        for ax in (0..idx.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < walk.shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
}

impl InplaceOp2 for Assign {
    fn name(&self) -> &'static str {
        "candle-numpy-assign"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        match (s1, s2) {
            (CpuStorage::U8(d), CpuStorage::U8(s)) => write(d, l1, s, l2),
            (CpuStorage::U32(d), CpuStorage::U32(s)) => write(d, l1, s, l2),
            (CpuStorage::I16(d), CpuStorage::I16(s)) => write(d, l1, s, l2),
            (CpuStorage::I32(d), CpuStorage::I32(s)) => write(d, l1, s, l2),
            (CpuStorage::I64(d), CpuStorage::I64(s)) => write(d, l1, s, l2),
            (CpuStorage::BF16(d), CpuStorage::BF16(s)) => write(d, l1, s, l2),
            (CpuStorage::F16(d), CpuStorage::F16(s)) => write(d, l1, s, l2),
            (CpuStorage::F32(d), CpuStorage::F32(s)) => write(d, l1, s, l2),
            (CpuStorage::F64(d), CpuStorage::F64(s)) => write(d, l1, s, l2),
            (CpuStorage::F8E4M3(d), CpuStorage::F8E4M3(s)) => write(d, l1, s, l2),
            _ => candle_core::bail!("in-place write: destination and source dtypes differ"),
        }
        Ok(())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &mut candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        // Device-side strided writes need a kernel of their own; until then say so plainly.
        let _ = (s1, l1, s2, l2);
        candle_core::bail!("in-place writes into CUDA tensors are not supported yet; use out-of-place ops")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn writes_through_strided_views() {
        let t = Tensor::arange(0f64, 12., &Device::Cpu).unwrap().reshape((3, 4)).unwrap();
        let tt = t.t().unwrap().narrow(0, 1, 2).unwrap(); // columns 1..3 seen transposed: (2, 3)
        let src = Tensor::new(&[[10f64, 11., 12.], [13., 14., 15.]], &Device::Cpu).unwrap();
        assign(&tt, &src).unwrap();
        assert_eq!(
            t.to_vec2::<f64>().unwrap(),
            [[0., 10., 13., 3.], [4., 11., 14., 7.], [8., 12., 15., 11.]]
        );
    }

    #[test]
    fn aliased_source_reads_old_values() {
        let t = Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu).unwrap();
        assign(&t, &t.t().unwrap()).unwrap();
        assert_eq!(t.to_vec2::<f32>().unwrap(), [[1., 3.], [2., 4.]]);
    }

    #[test]
    fn broadcast_sources_and_casts() {
        let t = Tensor::zeros((2, 3), DType::I64, &Device::Cpu).unwrap();
        fill(&t, 7.9).unwrap();
        assert_eq!(t.to_vec2::<i64>().unwrap(), [[7, 7, 7], [7, 7, 7]]);
        assign(&t, &Tensor::new(&[1f32, 2., 3.], &Device::Cpu).unwrap()).unwrap();
        assert_eq!(t.to_vec2::<i64>().unwrap(), [[1, 2, 3], [1, 2, 3]]);
    }

    #[test]
    fn broadcast_destinations_are_refused() {
        let t = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap().broadcast_as((2, 3)).unwrap();
        let err = assign(&t, &Tensor::ones((2, 3), DType::F32, &Device::Cpu).unwrap()).unwrap_err();
        assert!(err.to_string().contains("broadcast") && err.to_string().contains("clone"), "{err}");
        let bad = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
        assert!(assign(&bad, &Tensor::ones((4, 3), DType::F32, &Device::Cpu).unwrap()).is_err());
    }
}
