//! A matmul for the small products of small dense layers on the CPU.
//!
//! candle 0.11's CPU matmul asks `candle_core::utils::get_num_threads()` for its thread
//! count on every call, and on Linux, unless `RAYON_NUM_THREADS` is set, that ends in
//! `num_cpus::get_physical()`, which reads and parses `/proc/cpuinfo` each time: measured at
//! ~29 µs per matmul on the 2-core build machine, against ~0.5 µs for the product itself at
//! (32 x 10) @ (10 x 16). A training step of the seed model runs five matmuls, so that
//! overhead alone was ~150 µs of a ~240 µs step. Products of at most [`SMALL_WORK`]
//! multiply-adds therefore go through this op (a plain row-times-matrix loop that the
//! compiler vectorises, f32 accumulation), larger ones and every non-CPU device through
//! candle's `matmul`. Its backward pass skips the gradient of an input that needs none (the
//! data batch), which candle's matmul always computes. Setting `RAYON_NUM_THREADS` (to any
//! value) in the environment avoids the `/proc/cpuinfo` read for the large products too.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use half::{bf16, f16};

/// Largest `m * k * n` sent to [`SmallMatMul`].
pub(crate) const SMALL_WORK: usize = 1 << 16;

/// `a @ b` for 2-D tensors: [`SmallMatMul`] for small CPU products, candle's matmul otherwise.
pub(crate) fn matmul(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let small = match (a.dims(), b.dims()) {
        ([m, k], [k2, n]) if k == k2 => m * k * n <= SMALL_WORK,
        _ => false,
    };
    if small && a.device().is_cpu() && matches!(a.dtype(), DType::F32 | DType::F16 | DType::BF16 | DType::F64)
    {
        a.apply_op2(b, SmallMatMul)
    } else {
        a.matmul(b)
    }
}

/// The custom op behind [`matmul`] (CPU only; any strides).
pub(crate) struct SmallMatMul;

fn dims(l: &Layout) -> candle_core::Result<(usize, usize, usize, usize, usize)> {
    match (l.dims(), l.stride()) {
        ([r, c], [rs, cs]) => Ok((*r, *c, l.start_offset(), *rs, *cs)),
        _ => candle_core::bail!("small-matmul takes 2-d tensors, got shape {:?}", l.dims()),
    }
}

/// A 2-d operand, row-major in the accumulation type.
fn dense<T: Copy, F>(
    s: &[T],
    l: &Layout,
    load: impl Fn(T) -> F,
) -> candle_core::Result<(Vec<F>, usize, usize)> {
    let (r, c, o, rs, cs) = dims(l)?;
    let mut out = Vec::with_capacity(r * c);
    for i in 0..r {
        let row = o + i * rs;
        if cs == 1 {
            out.extend(s[row..row + c].iter().map(|&v| load(v)));
        } else {
            out.extend((0..c).map(|j| load(s[row + j * cs])));
        }
    }
    Ok((out, r, c))
}

/// `out[i, j] = sum_p a[i, p] * b[p, j]` in `F`, on operands copied row-major first (cheap:
/// `m*k + k*n` against `m*k*n`), so both loops below run over contiguous memory and vectorise.
fn kernel<T: Copy, F>(
    a: &[T],
    al: &Layout,
    b: &[T],
    bl: &Layout,
    load: impl Fn(T) -> F + Copy,
    store: impl Fn(F) -> T,
) -> candle_core::Result<(Vec<T>, Shape)>
where
    F: Copy + Default + std::ops::Mul<Output = F> + std::ops::Add<Output = F> + std::ops::AddAssign,
{
    let (a, m, k) = dense(a, al, load)?;
    let (b, k2, n) = dense(b, bl, load)?;
    if k != k2 {
        candle_core::bail!("small-matmul shape mismatch: ({m}, {k}) @ ({k2}, {n})");
    }
    let mut out = Vec::with_capacity(m * n);
    if n >= 8 {
        // wide output: out row i += a[i, p] * b row p
        let mut row = vec![F::default(); n];
        for a_row in a.chunks_exact(k.max(1)).take(m) {
            row.iter_mut().for_each(|o| *o = F::default());
            for (&av, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
                for (o, &bv) in row.iter_mut().zip(b_row) {
                    *o += av * bv;
                }
            }
            out.extend(row.iter().map(|&v| store(v)));
        }
    } else {
        // narrow output: dot products, with 8 partial sums so the reduction vectorises
        let bt: Vec<Vec<F>> = (0..n).map(|j| (0..k).map(|p| b[p * n + j]).collect()).collect();
        for a_row in a.chunks_exact(k.max(1)).take(m) {
            for col in &bt {
                let mut acc = [F::default(); 8];
                let (a8, b8) = (a_row.chunks_exact(8), col.chunks_exact(8));
                let tail: F =
                    a8.remainder().iter().zip(b8.remainder()).fold(F::default(), |s, (&x, &y)| s + x * y);
                for (x, y) in a8.zip(b8) {
                    for l in 0..8 {
                        acc[l] += x[l] * y[l];
                    }
                }
                out.push(store(acc.iter().fold(tail, |s, &v| s + v)));
            }
        }
    }
    if k == 0 {
        out = (0..m * n).map(|_| store(F::default())).collect();
    }
    Ok((out, Shape::from((m, n))))
}

impl CustomOp2 for SmallMatMul {
    fn name(&self) -> &'static str {
        "small-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Ok(match (s1, s2) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => {
                let (v, s) = kernel(a, l1, b, l2, |x| x, |x| x)?;
                (CpuStorage::F32(v), s)
            }
            (CpuStorage::F64(a), CpuStorage::F64(b)) => {
                let (v, s) = kernel(a, l1, b, l2, |x| x, |x| x)?;
                (CpuStorage::F64(v), s)
            }
            (CpuStorage::F16(a), CpuStorage::F16(b)) => {
                let (v, s) = kernel(a, l1, b, l2, f16::to_f32, f16::from_f32)?;
                (CpuStorage::F16(v), s)
            }
            (CpuStorage::BF16(a), CpuStorage::BF16(b)) => {
                let (v, s) = kernel(a, l1, b, l2, bf16::to_f32, bf16::from_f32)?;
                (CpuStorage::BF16(v), s)
            }
            (a, b) => {
                candle_core::bail!("small-matmul: unsupported dtypes {:?} and {:?}", a.dtype(), b.dtype())
            }
        })
    }

    fn bwd(
        &self,
        lhs: &Tensor,
        rhs: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // d(a @ b) = grad @ b^T for a, a^T @ grad for b; skipped for inputs without a graph
        let grad_lhs = if lhs.track_op() { Some(matmul(grad, &rhs.t()?)?) } else { None };
        let grad_rhs = if rhs.track_op() { Some(matmul(&lhs.t()?, grad)?) } else { None };
        Ok((grad_lhs, grad_rhs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn matches_candle_forward_and_backward() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::rand(-1f32, 1., (7, 5), &dev)?;
        let w = Var::from_tensor(&Tensor::rand(-1f32, 1., (5, 3), &dev)?)?;
        let ours = matmul(&x, w.as_tensor())?;
        let theirs = x.matmul(w.as_tensor())?;
        let diff = (&ours - &theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "{diff}");
        let g_ours = ours.sqr()?.sum_all()?.backward()?;
        let g_theirs = theirs.sqr()?.sum_all()?.backward()?;
        let d =
            (g_ours.get(&w).unwrap() - g_theirs.get(&w).unwrap())?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(d < 1e-4, "{d}");
        // transposed (strided) operands and half precision
        let xt = Tensor::rand(-1f32, 1., (5, 7), &dev)?.t()?;
        let a = matmul(&xt, w.as_tensor())?;
        let b = xt.contiguous()?.matmul(w.as_tensor())?;
        assert!((a - b)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-5);
        let h = matmul(&x.to_dtype(DType::BF16)?, &w.as_tensor().to_dtype(DType::BF16)?)?;
        assert_eq!(h.dtype(), DType::BF16);
        let hd =
            (h.to_dtype(DType::F32)? - x.matmul(w.as_tensor())?)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(hd < 0.05, "{hd}");
        Ok(())
    }
}
