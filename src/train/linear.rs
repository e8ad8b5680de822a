//! Dense layers, `act(x @ W + b)`, as one candle custom op with a closed-form backward, under
//! both facades: Keras's `Dense` (kernel of shape `(in, out)`, [`WeightLayout::InOut`]) and
//! torch's `Linear` (weight of shape `(out, in)`, [`WeightLayout::OutIn`]).
//!
//! Through candle's generic ops a dense layer is a matmul (over a transposed view for torch's
//! weight), a broadcast add and an activation, and its backward pass is candle's per-op
//! backprop: both matmul gradients always (also the gradient of the data batch, which nothing
//! reads: a third of the first layer's backward products), the bias gradient as a broadcast
//! reduction, ReLU's as a comparison, a cast and a product, each a fresh buffer. Here:
//! - **forward**: one GEMM into a fresh buffer, then the bias and ReLU in one pass over it, in
//!   place.
//! - **backward**: ReLU's mask and the bias gradient in one pass over the output gradient, then
//!   the weight gradient as one GEMM over strided views (no transposed copies), and the input
//!   gradient only when the input is tracked ([`Tensor::track_op`]: a variable, or computed
//!   from one). A data batch, or a frozen (detached) weight, gets none.
//!
//! The products are the `gemm` crate's, the one candle's CPU matmul calls (same version, one
//! copy in the build), called directly so that the thread count comes from rayon's pool
//! instead of candle's per-call `get_num_threads()` (which reads `/proc/cpuinfo` each time
//! unless `RAYON_NUM_THREADS` is set) and so that large products are split by output columns
//! (see `PARALLEL_WORK`).
//!
//! The fused op is used for CPU tensors of one dtype, f32 or f64; anything else (CUDA, f16,
//! bf16, mixed dtypes) takes candle's ops with the same meaning. ReLU keeps NaN, as torch's
//! does; its gradient is zero where the output is not positive (torch's rule, also at 0).

use std::borrow::Cow;

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CustomOp2, CustomOp3, DType, Device, Layout, Shape, Storage, Tensor, WithDType,
};
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// How the weight matrix is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// `(in, out)`: Keras's kernel; `y = x @ W`.
    InOut,
    /// `(out, in)`: torch's weight; `y = x @ W.T`.
    OutIn,
}

/// The activation fused after the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// None: `y = x @ W + b`.
    Identity,
    /// `max(x @ W + b, 0)`, NaN kept.
    Relu,
}

/// Products of fewer multiply-adds than this run on the calling thread; larger ones are split
/// by columns of the output over rayon's threads, each part one single-threaded GEMM. Measured
/// on the 2-core work machine (AVX-512, ~100 GFLOP/s per thread), best of 20, this beats
/// gemm's own `Parallelism::Rayon` at every shape of the MLP's step: at (32x784)@(784x256)
/// 109 µs split, 171 µs on one thread, 267-398 µs with gemm's threading (it splits the rows,
/// 32 of them); at (512x784)@(784x256) 982 µs split, 1211 µs gemm's, 1877 µs one thread.
const PARALLEL_WORK: usize = 1 << 20;

/// The narrowest column block a thread gets (the AVX-512 f32 microkernel is 16 columns wide).
const MIN_COLUMNS: usize = 32;

/// `act(x @ W + b)` (with `W` read per `layout`), differentiable in `x`, `w` and `b`.
///
/// `x` is `(batch, in)`, or `(in,)`, or `(..., in)` with the leading dimensions flattened for
/// the product and restored after; `w` is 2-d, `b` (optional) is `(out,)`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candle_numpy::train::linear::{linear, Activation, WeightLayout};
///
/// let x = Tensor::new(&[[1f32, -2.0]], &Device::Cpu)?;
/// let w = Tensor::new(&[[1f32, 0.0], [0.0, 1.0], [1.0, 1.0]], &Device::Cpu)?; // (out 3, in 2)
/// let b = Tensor::new(&[0f32, 0.5, 0.0], &Device::Cpu)?;
/// let y = linear(&x, &w, Some(&b), WeightLayout::OutIn, Activation::Relu)?;
/// assert_eq!(y.to_vec2::<f32>()?, vec![vec![1.0, 0.0, 0.0]]);
/// # Ok::<(), candle_numpy::Error>(())
/// ```
pub fn linear(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    layout: WeightLayout,
    act: Activation,
) -> Result<Tensor> {
    let (k, n) = match (w.dims(), layout) {
        ([k, n], WeightLayout::InOut) | ([n, k], WeightLayout::OutIn) => (*k, *n),
        (d, _) => {
            return Err(Error::ShapeMismatch {
                operation: "linear",
                detail: format!("the weight must be 2-d, got shape {d:?}"),
            })
        }
    };
    let in_dim = x.dims().last().copied();
    if in_dim != Some(k) {
        return Err(Error::ShapeMismatch {
            operation: "linear",
            detail: format!(
                "the input's last dimension must be the layer's {k} input features, got shape {:?} \
                 (weight {:?}, {})",
                x.dims(),
                w.dims(),
                if layout == WeightLayout::OutIn { "(out, in)" } else { "(in, out)" }
            ),
        });
    }
    if let Some(b) = b {
        if b.dims() != [n] {
            return Err(Error::ShapeMismatch {
                operation: "linear",
                detail: format!("the bias must have shape [{n}] (one per output), got {:?}", b.dims()),
            });
        }
    }
    // (..., in) -> (rows, in) for the product, and back after
    let lead = &x.dims()[..x.rank() - 1];
    let rows: usize = lead.iter().product();
    let x2 = if x.rank() == 2 { x.clone() } else { x.reshape((rows, k))? };
    let y = if fusable(&x2, w, b) {
        let op = Linear { layout, act };
        match b {
            Some(b) => x2.apply_op3(w, b, op)?,
            None => x2.apply_op2(w, op)?,
        }
    } else {
        composed(&x2, w, b, layout, act)?
    };
    if x.rank() == 2 {
        Ok(y)
    } else {
        let mut out = lead.to_vec();
        out.push(n);
        Ok(y.reshape(out)?)
    }
}

/// The same layer through candle's ops: what runs on other devices and dtypes, and what the
/// fused op is checked against.
pub(crate) fn composed(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    layout: WeightLayout,
    act: Activation,
) -> Result<Tensor> {
    let y = match layout {
        WeightLayout::InOut => x.matmul(w)?,
        WeightLayout::OutIn => x.matmul(&w.t()?)?,
    };
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    Ok(match act {
        Activation::Identity => y,
        Activation::Relu => relu(&y)?,
    })
}

/// ReLU as torch and TensorFlow define it: NaN stays NaN and the gradient at 0 is 0 (candle's
/// `Tensor::relu` gives 0 for NaN and passes the gradient at 0). The fused op's activation.
pub fn relu(y: &Tensor) -> candle_core::Result<Tensor> {
    y.le(0.0)?.where_cond(&y.zeros_like()?, y)
}

fn fusable(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> bool {
    let dt = x.dtype();
    matches!(dt, DType::F32 | DType::F64)
        && x.device().is_cpu()
        && w.device().is_cpu()
        && w.dtype() == dt
        && b.is_none_or(|b| b.device().is_cpu() && b.dtype() == dt)
}

/// The custom op: `CustomOp3` with a bias, `CustomOp2` without.
#[derive(Debug, Clone, Copy)]
struct Linear {
    layout: WeightLayout,
    act: Activation,
}

/// A strided 2-d view of a slice: element `(i, j)` at `offset + i * rs + j * cs`.
#[derive(Clone, Copy)]
struct Mat<'a, T> {
    data: &'a [T],
    offset: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T> Mat<'a, T> {
    fn new(data: &'a [T], l: &Layout) -> candle_core::Result<Self> {
        match (l.dims(), l.stride()) {
            ([r, c], [rs, cs]) => {
                Mat { data, offset: l.start_offset(), rows: *r, cols: *c, rs: *rs, cs: *cs }.checked()
            }
            _ => candle_core::bail!("linear: expected a 2-d operand, got shape {:?}", l.dims()),
        }
    }

    fn contiguous(data: &'a [T], rows: usize, cols: usize) -> candle_core::Result<Self> {
        Mat { data, offset: 0, rows, cols, rs: cols, cs: 1 }.checked()
    }

    fn t(self) -> Self {
        Mat { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, ..self }
    }

    /// Every element the view names lies inside `data`: what makes [`product`]'s call sound.
    fn checked(self) -> candle_core::Result<Self> {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1)
                .checked_mul(self.rs)
                .and_then(|r| (self.cols - 1).checked_mul(self.cs).and_then(|c| r.checked_add(c)))
                .and_then(|rc| rc.checked_add(self.offset));
            if last.is_none_or(|last| last >= self.data.len()) {
                candle_core::bail!(
                    "linear: a {}x{} view (offset {}, strides {}, {}) overruns its {}-element buffer",
                    self.rows,
                    self.cols,
                    self.offset,
                    self.rs,
                    self.cs,
                    self.data.len()
                );
            }
        }
        Ok(self)
    }

    fn get(&self, i: usize, j: usize) -> T
    where
        T: Copy,
    {
        self.data[self.offset + i * self.rs + j * self.cs]
    }
}

/// `lhs @ rhs`, contiguous `(lhs.rows, rhs.cols)`.
fn product<T: WithDType>(lhs: Mat<T>, rhs: Mat<T>) -> candle_core::Result<Vec<T>> {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    if rhs.rows != k {
        candle_core::bail!("linear: product of {m}x{k} and {}x{n}", rhs.rows);
    }
    if !matches!(T::DTYPE, DType::F32 | DType::F64) {
        candle_core::bail!("linear: the fused product takes f32 or f64, got {:?}", T::DTYPE);
    }
    let mut dst = vec![T::from_f64(0.0); m * n];
    if m == 0 || n == 0 || k == 0 {
        return Ok(dst); // (an empty sum is 0)
    }
    let parts =
        if m * n * k >= PARALLEL_WORK { rayon::current_num_threads().min(n / MIN_COLUMNS).max(1) } else { 1 };
    let dst_ptr = SendPtr(dst.as_mut_ptr());
    // SAFETY: `lhs` and `rhs` passed `Mat::checked`, so every element gemm reads
    // (`offset + i*rs + p*cs` for i < rows, p < cols, all non-zero here) lies inside their
    // slices, and so does the first element of each column block of `rhs` (j0 < n); `dst` is
    // a fresh buffer of exactly m*n elements, written at `i*n + j` (row stride n, column
    // stride 1), so it aliases neither operand, and the column blocks [j0, j1) of the parts
    // are disjoint, so no two threads write one element; T is f32 or f64 (checked above), the
    // types gemm multiplies natively; the borrows outlive the calls (`for_each` returns after
    // every part has). The `as isize` casts are lossless: each stride steps inside a slice,
    // and no slice spans more than isize::MAX bytes.
    let run = |j0: usize, j1: usize| unsafe {
        gemm(
            m,
            j1 - j0,
            k,
            dst_ptr.get().add(j0),
            1,
            n as isize,
            false,
            lhs.data.as_ptr().add(lhs.offset),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr().add(rhs.offset + j0 * rhs.cs),
            rhs.cs as isize,
            rhs.rs as isize,
            T::from_f64(1.0),
            T::from_f64(1.0),
            false,
            false,
            false,
            Parallelism::None,
        )
    };
    if parts == 1 {
        run(0, n);
    } else {
        (0..parts).into_par_iter().for_each(|p| run(n * p / parts, n * (p + 1) / parts));
    }
    Ok(dst)
}

/// The output pointer, shared by the threads that write disjoint column blocks of it.
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: the pointer is only dereferenced by `product`'s parts, which write disjoint elements
// of a buffer that outlives them (see the SAFETY comment there).
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above: shared between threads only to write disjoint elements.
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// Through a method, so that closures capture the whole (Send) wrapper, not the raw field.
    fn get(self) -> *mut T {
        self.0
    }
}

/// The weight as the `(in, out)` right operand of `x @ W`.
fn weight_in_out<T>(w: Mat<'_, T>, layout: WeightLayout) -> Mat<'_, T> {
    match layout {
        WeightLayout::InOut => w,
        WeightLayout::OutIn => w.t(),
    }
}

fn forward<T: WithDType>(
    op: &Linear,
    x: &[T],
    xl: &Layout,
    w: &[T],
    wl: &Layout,
    bias: Option<(&[T], &Layout)>,
) -> candle_core::Result<(Vec<T>, usize, usize)> {
    let x = Mat::new(x, xl)?;
    let w = weight_in_out(Mat::new(w, wl)?, op.layout);
    let (m, n) = (x.rows, w.cols);
    let zero = T::from_f64(0.0);
    let mut y = product(x, w)?;
    // the bias and the activation in one pass over the output (measured: faster than a GEMM
    // that accumulates into bias-filled rows, which reads the output as it writes it)
    let bias: Option<Vec<T>> = match bias {
        Some((b, bl)) => {
            let b = match (bl.dims(), bl.stride()) {
                ([len], [st]) if *len == n => {
                    Mat { data: b, offset: bl.start_offset(), rows: 1, cols: n, rs: 0, cs: *st }
                }
                _ => candle_core::bail!("linear: the bias must have shape [{n}], got {:?}", bl.dims()),
            }
            .checked()?;
            Some((0..n).map(|j| b.get(0, j)).collect())
        }
        None => None,
    };
    let relu = op.act == Activation::Relu;
    for row in y.chunks_exact_mut(n.max(1)) {
        if let Some(b) = &bias {
            for (v, &b) in row.iter_mut().zip(b) {
                *v += b;
            }
        }
        if relu {
            for v in row.iter_mut() {
                // `<`, not `max`: NaN stays NaN, as torch's relu keeps it
                if *v < zero {
                    *v = zero;
                }
            }
        }
    }
    Ok((y, m, n))
}

/// The contiguous `(m, n)` output gradient with ReLU's mask applied (borrowed when there is
/// nothing to do), and the bias gradient (its column sums).
fn masked_grad<'a, T: WithDType>(
    op: &Linear,
    g: &'a [T],
    gl: &Layout,
    res: &[T],
    rl: &Layout,
    want_bias: bool,
) -> candle_core::Result<(Cow<'a, [T]>, Vec<T>)> {
    let gm = Mat::new(g, gl)?;
    let (m, n) = (gm.rows, gm.cols);
    let zero = T::from_f64(0.0);
    let gz: Cow<[T]> = match (op.act, gl.contiguous_offsets()) {
        (Activation::Identity, Some((a, b))) => Cow::Borrowed(&g[a..b]),
        (act, _) => {
            // ReLU passes the gradient where its output is positive (torch's rule)
            let mask = match act {
                Activation::Relu => Some(Mat::new(res, rl)?),
                Activation::Identity => None,
            };
            if mask.is_some_and(|r| (r.rows, r.cols) != (m, n)) {
                candle_core::bail!("linear: the output and its gradient ({m}x{n}) differ in shape");
            }
            let keep = |i, j| mask.is_none_or(|r| r.get(i, j) > zero);
            let mut out = Vec::with_capacity(m * n);
            for i in 0..m {
                out.extend((0..n).map(|j| if keep(i, j) { gm.get(i, j) } else { zero }));
            }
            Cow::Owned(out)
        }
    };
    let mut db = vec![zero; if want_bias { n } else { 0 }];
    if want_bias {
        for row in gz.chunks_exact(n.max(1)) {
            for (d, &v) in db.iter_mut().zip(row) {
                *d += v;
            }
        }
    }
    Ok((gz, db))
}

fn cpu<'a>(s: &'a Storage, what: &str) -> candle_core::Result<&'a CpuStorage> {
    match s {
        Storage::Cpu(c) => Ok(c),
        _ => candle_core::bail!("linear: the fused op runs on the CPU only, and the {what} is not on it"),
    }
}

impl Linear {
    fn cpu_fwd_any(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
        b: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Ok(match (x, w) {
            (CpuStorage::F32(x), CpuStorage::F32(w)) => {
                let b = b.map(|(b, bl)| b.as_slice::<f32>().map(|b| (b, bl))).transpose()?;
                let (y, m, n) = forward(self, x, xl, w, wl, b)?;
                (CpuStorage::F32(y), Shape::from((m, n)))
            }
            (CpuStorage::F64(x), CpuStorage::F64(w)) => {
                let b = b.map(|(b, bl)| b.as_slice::<f64>().map(|b| (b, bl))).transpose()?;
                let (y, m, n) = forward(self, x, xl, w, wl, b)?;
                (CpuStorage::F64(y), Shape::from((m, n)))
            }
            _ => candle_core::bail!(
                "linear: the fused op takes f32 or f64 operands of one dtype, got {:?} and {:?}",
                x.dtype(),
                w.dtype()
            ),
        })
    }

    /// The gradients of `x` (when tracked), `w` (when tracked) and the bias (when present and
    /// tracked), from the output `res` and its gradient `grad`.
    fn bwd_any(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let want_x = x.track_op();
        let want_w = w.track_op();
        let want_b = b.is_some_and(|b| b.track_op());
        let (xs, xl) = x.storage_and_layout();
        let (ws, wl) = w.storage_and_layout();
        let (rs, rl) = res.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (xs, ws, rs, gs) =
            (cpu(&xs, "input")?, cpu(&ws, "weight")?, cpu(&rs, "output")?, cpu(&gs, "gradient")?);
        macro_rules! grads {
            ($t:ty) => {{
                let (x, w, res, g) =
                    (xs.as_slice::<$t>()?, ws.as_slice::<$t>()?, rs.as_slice::<$t>()?, gs.as_slice::<$t>()?);
                let (gz, db) = masked_grad(self, g, gl, res, rl, want_b)?;
                let xm = Mat::new(x, xl)?;
                let wm = Mat::new(w, wl)?;
                let (m, k, n) = (xm.rows, xm.cols, gl.dims()[1]);
                let gzm = Mat::contiguous(&gz, m, n)?;
                let dx = if want_x {
                    // dx (m, k) = gz (m, n) @ W(in, out).T
                    let dx = product(gzm, weight_in_out(wm, self.layout).t())?;
                    Some(Tensor::from_vec(dx, (m, k), &Device::Cpu)?)
                } else {
                    None
                };
                let dw = if want_w {
                    let dw = match self.layout {
                        // dW (in, out) = x.T @ gz
                        WeightLayout::InOut => product(xm.t(), gzm)?,
                        // dW (out, in) = gz.T @ x
                        WeightLayout::OutIn => product(gzm.t(), xm)?,
                    };
                    Some(Tensor::from_vec(dw, wl.dims(), &Device::Cpu)?)
                } else {
                    None
                };
                let db = if want_b { Some(Tensor::from_vec(db, n, &Device::Cpu)?) } else { None };
                (dx, dw, db)
            }};
        }
        Ok(match (xs, ws, rs, gs) {
            (CpuStorage::F32(_), CpuStorage::F32(_), CpuStorage::F32(_), CpuStorage::F32(_)) => grads!(f32),
            (CpuStorage::F64(_), CpuStorage::F64(_), CpuStorage::F64(_), CpuStorage::F64(_)) => grads!(f64),
            _ => candle_core::bail!(
                "linear: the fused backward takes f32 or f64 tensors of one dtype, got input {:?}, \
                 weight {:?}, gradient {:?}",
                x.dtype(),
                w.dtype(),
                grad.dtype()
            ),
        })
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.cpu_fwd_any(x, xl, w, wl, Some((b, bl)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.bwd_any(x, w, Some(b), res, grad)
    }
}

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.cpu_fwd_any(x, xl, w, wl, None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.bwd_any(x, w, None, res, grad)?;
        Ok((dx, dw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::backprop::GradStore;
    use candle_core::{DType, Var};

    /// Seeded values in multiples of 1/8 in [-1, 1]: every product and sum these tests form is
    /// exact in f32 (a sum of 784 products needs 16 bits), so both paths give bit-identical
    /// pre-activations and ReLU masks (with arbitrary floats, a pre-activation within rounding
    /// of 0 may fall on either side of the kink, and its row's gradient with it), and results
    /// can be compared exactly.
    fn tensor(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
        let mut rng = crate::data::rng::Rng::new(seed);
        let v: Vec<f64> = (0..shape.iter().product()).map(|_| (rng.below(17) as f64 - 8.0) / 8.0).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
    }

    fn max_rel_diff(a: &Tensor, b: &Tensor) -> f64 {
        assert_eq!(a.dims(), b.dims());
        let a = a.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let b = b.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        a.iter().zip(&b).map(|(x, y)| (x - y).abs() / scale).fold(0.0, f64::max)
    }

    /// y and the gradients of `sum(y * r)` with respect to `wrt`, by `f`.
    fn run(
        f: impl Fn(&Tensor, &Tensor, Option<&Tensor>) -> Result<Tensor>,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        wrt: &[&Tensor],
    ) -> (Tensor, Vec<Option<Tensor>>) {
        let y = f(x, w, b).unwrap();
        let r = tensor(y.dims(), 99, y.dtype());
        let grads: GradStore = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        (y, wrt.iter().map(|t| grads.get(t).cloned()).collect())
    }

    /// [`run`] through the fused op and through candle's ops, with the same arguments.
    #[allow(clippy::type_complexity)]
    fn both(
        layout: WeightLayout,
        act: Activation,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        wrt: &[&Tensor],
    ) -> ((Tensor, Vec<Option<Tensor>>), (Tensor, Vec<Option<Tensor>>)) {
        (
            run(|x, w, b| linear(x, w, b, layout, act), x, w, b, wrt),
            run(|x, w, b| composed(x, w, b, layout, act), x, w, b, wrt),
        )
    }

    fn check_against_composed(m: usize, k: usize, n: usize, dtype: DType, x_is_var: bool) {
        let tol = 0.0; // exact data (see `tensor`)
        for layout in [WeightLayout::InOut, WeightLayout::OutIn] {
            for act in [Activation::Identity, Activation::Relu] {
                for with_bias in [true, false] {
                    let wshape = if layout == WeightLayout::InOut { [k, n] } else { [n, k] };
                    let w = Var::from_tensor(&tensor(&wshape, 2, dtype)).unwrap();
                    let b = Var::from_tensor(&tensor(&[n], 3, dtype)).unwrap();
                    let x_data = tensor(&[m, k], 1, dtype);
                    let xv = Var::from_tensor(&x_data).unwrap();
                    let x = if x_is_var { xv.as_tensor().clone() } else { x_data };
                    let b_opt = with_bias.then(|| b.as_tensor());
                    let wrt = [&x, w.as_tensor(), b.as_tensor()];
                    let (fused, plain) = both(layout, act, &x, &w, b_opt, &wrt);
                    let what =
                        format!("{m}x{k}x{n} {dtype:?} {layout:?} {act:?} bias={with_bias} x_var={x_is_var}");
                    assert!(max_rel_diff(&fused.0, &plain.0) <= tol, "output, {what}");
                    // the data batch gets no gradient from either; a tracked input gets one from both
                    assert_eq!(fused.1[0].is_some(), x_is_var, "input gradient, {what}");
                    for (i, name) in ["input", "weight", "bias"].iter().enumerate() {
                        match (&fused.1[i], &plain.1[i]) {
                            (Some(f), Some(p)) => {
                                let d = max_rel_diff(f, p);
                                assert!(d <= tol, "{name} gradient differs by {d:e}, {what}")
                            }
                            (None, None) => {}
                            (None, Some(p)) if i == 0 && !x_is_var => assert_eq!(p.dims(), [m, k]),
                            (f, p) => panic!(
                                "{name} gradient presence differs ({}, {}), {what}",
                                f.is_some(),
                                p.is_some()
                            ),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fused_matches_candle_ops_in_values_and_gradients() {
        for dtype in [DType::F32, DType::F64] {
            for &(m, k, n) in &[(1, 1, 1), (1, 5, 3), (7, 13, 5), (33, 17, 64)] {
                check_against_composed(m, k, n, dtype, false);
                check_against_composed(m, k, n, dtype, true);
            }
        }
        // large enough for the multi-threaded product (128 * 784 * 256 > PARALLEL_WORK)
        check_against_composed(128, 784, 256, DType::F32, false);
        check_against_composed(64, 300, 40, DType::F64, true);
        // split over threads into uneven column blocks (131 columns), odd row count
        check_against_composed(41, 200, 131, DType::F64, true);
    }

    #[test]
    fn strided_inputs_and_frozen_weights() {
        // x as a transposed, narrowed view; the weight a detached (frozen) transposed view
        let base = tensor(&[20, 9], 5, DType::F32);
        let x = base.t().unwrap().narrow(0, 2, 6).unwrap(); // (6, 20), strides (1, 9), offset 2
        assert!(!x.is_contiguous());
        let w_data = tensor(&[20, 4], 6, DType::F32);
        let w = w_data.t().unwrap(); // (4, 20) for OutIn, not contiguous, not tracked
        let b = Var::from_tensor(&tensor(&[4], 7, DType::F32)).unwrap();
        let ((y, g), (yc, gc)) = both(WeightLayout::OutIn, Activation::Relu, &x, &w, Some(&b), &[&w, &b]);
        assert!(max_rel_diff(&y, &yc) <= 1e-6);
        assert!(g[0].is_none(), "a frozen weight gets no gradient");
        assert!(max_rel_diff(g[1].as_ref().unwrap(), gc[1].as_ref().unwrap()) <= 1e-6);
        // the same numbers by hand: y[i][j] = max(0, b[j] + sum_p x[i][p] w[j][p])
        let (xv, wv, bv) = (
            x.to_vec2::<f32>().unwrap(),
            w.to_vec2::<f32>().unwrap(),
            b.as_tensor().to_vec1::<f32>().unwrap(),
        );
        let yv = y.to_vec2::<f32>().unwrap();
        for i in 0..6 {
            for j in 0..4 {
                let z: f32 = bv[j] + (0..20).map(|p| xv[i][p] * wv[j][p]).sum::<f32>();
                assert!((yv[i][j] - z.max(0.0)).abs() < 1e-5, "y[{i}][{j}] = {} vs {}", yv[i][j], z.max(0.0));
            }
        }
    }

    #[test]
    fn gradient_reaches_variables_behind_a_computed_input() {
        // x = 2 v: tracked through an op (not a variable itself), so its gradient is computed
        let v = Var::from_tensor(&tensor(&[5, 3], 8, DType::F64)).unwrap();
        let x = v.affine(2.0, 0.0).unwrap();
        let w = Var::from_tensor(&tensor(&[3, 4], 9, DType::F64)).unwrap();
        let ((_, g), (_, gc)) =
            both(WeightLayout::InOut, Activation::Identity, &x, &w, None, &[v.as_tensor()]);
        assert!(max_rel_diff(g[0].as_ref().unwrap(), gc[0].as_ref().unwrap()) <= 1e-12);
    }

    #[test]
    fn relu_keeps_nan_and_passes_no_gradient_at_zero() {
        for fused in [true, false] {
            let x =
                Tensor::new(&[[0f32, 0.0], [f32::NAN, 1.0], [1.0, 1.0], [-1.0, 0.0]], &Device::Cpu).unwrap();
            let w = Var::from_tensor(&Tensor::new(&[[1f32], [0.0]], &Device::Cpu).unwrap()).unwrap(); // (in 2, out 1)
            let b = Var::from_tensor(&Tensor::new(&[0f32], &Device::Cpu).unwrap()).unwrap();
            let f = |x: &Tensor, w: &Tensor, b: Option<&Tensor>| {
                if fused {
                    linear(x, w, b, WeightLayout::InOut, Activation::Relu)
                } else {
                    composed(x, w, b, WeightLayout::InOut, Activation::Relu)
                }
            };
            let y = f(&x, &w, Some(&b)).unwrap();
            let yv: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(yv[0], 0.0);
            assert!(yv[1].is_nan(), "relu(NaN) is NaN, as torch's (fused: {fused})");
            assert_eq!(&yv[2..], &[1.0, 0.0]);
            // rows without the NaN: only the row with output 1 passes a gradient to the bias
            let keep = Tensor::new(&[[1f32], [0.0], [1.0], [1.0]], &Device::Cpu).unwrap();
            let y = keep_where(&y, &keep);
            let grads = y.sum_all().unwrap().backward().unwrap();
            assert_eq!(grads.get(&b).unwrap().to_vec1::<f32>().unwrap(), vec![1.0], "fused: {fused}");
        }
    }

    /// `y` where `keep` is non-zero, 0 elsewhere (also where `y` is NaN, which `y * 0` keeps).
    fn keep_where(y: &Tensor, keep: &Tensor) -> Tensor {
        keep.ne(0f32).unwrap().where_cond(y, &y.zeros_like().unwrap()).unwrap()
    }

    #[test]
    fn leading_dimensions_and_vectors() {
        let w = tensor(&[6, 4], 10, DType::F32); // OutIn: out 6, in 4
        let x3 = tensor(&[2, 3, 4], 11, DType::F32);
        let y3 = linear(&x3, &w, None, WeightLayout::OutIn, Activation::Identity).unwrap();
        assert_eq!(y3.dims(), [2, 3, 6]);
        let flat = linear(&x3.reshape((6, 4)).unwrap(), &w, None, WeightLayout::OutIn, Activation::Identity)
            .unwrap();
        assert_eq!(y3.reshape((6, 6)).unwrap().to_vec2::<f32>().unwrap(), flat.to_vec2::<f32>().unwrap());
        let x1 = tensor(&[4], 12, DType::F32);
        let y1 = linear(&x1, &w, None, WeightLayout::OutIn, Activation::Identity).unwrap();
        assert_eq!(y1.dims(), [6]);
        let row =
            linear(&x1.unsqueeze(0).unwrap(), &w, None, WeightLayout::OutIn, Activation::Identity).unwrap();
        assert_eq!(y1.to_vec1::<f32>().unwrap(), row.get(0).unwrap().to_vec1::<f32>().unwrap());
    }

    #[test]
    fn half_precision_and_mixed_dtypes_take_candle_ops() {
        let x = tensor(&[3, 8], 13, DType::F32);
        let w = tensor(&[8, 2], 14, DType::F32);
        let want = linear(&x, &w, None, WeightLayout::InOut, Activation::Relu).unwrap();
        for dt in [DType::F16, DType::BF16] {
            let got = linear(
                &x.to_dtype(dt).unwrap(),
                &w.to_dtype(dt).unwrap(),
                None,
                WeightLayout::InOut,
                Activation::Relu,
            )
            .unwrap();
            assert_eq!(got.dtype(), dt);
            assert!(max_rel_diff(&got, &want) < 2e-2, "{dt:?}");
        }
        let err = linear(&x, &w.to_dtype(DType::F64).unwrap(), None, WeightLayout::InOut, Activation::Relu)
            .unwrap_err();
        assert!(err.to_string().contains("dtype"), "{err}");
    }

    #[test]
    fn shape_errors_name_the_operand() {
        let x = tensor(&[3, 8], 15, DType::F32);
        let e = linear(&x, &tensor(&[5, 2], 16, DType::F32), None, WeightLayout::InOut, Activation::Identity)
            .unwrap_err();
        assert!(e.to_string().contains("5 input features") && e.to_string().contains("[3, 8]"), "{e}");
        let e = linear(&x, &tensor(&[8], 16, DType::F32), None, WeightLayout::InOut, Activation::Identity)
            .unwrap_err();
        assert!(e.to_string().contains("weight must be 2-d"), "{e}");
        let b = tensor(&[3], 17, DType::F32);
        let e =
            linear(&x, &tensor(&[2, 8], 16, DType::F32), Some(&b), WeightLayout::OutIn, Activation::Identity)
                .unwrap_err();
        assert!(e.to_string().contains("bias must have shape [2]"), "{e}");
    }

    #[test]
    fn views_are_checked_against_their_buffer() {
        let data = [0f32; 12];
        // a 3x4 row-major view fits exactly; one more row, or an offset, overruns
        assert!(Mat { data: &data[..], offset: 0, rows: 3, cols: 4, rs: 4, cs: 1 }.checked().is_ok());
        assert!(Mat { data: &data[..], offset: 0, rows: 4, cols: 4, rs: 4, cs: 1 }.checked().is_err());
        assert!(Mat { data: &data[..], offset: 1, rows: 3, cols: 4, rs: 4, cs: 1 }.checked().is_err());
        assert!(Mat { data: &data[..], offset: 0, rows: 2, cols: 2, rs: usize::MAX, cs: 1 }
            .checked()
            .is_err());
        // empty views name no element
        assert!(Mat { data: &data[..0], offset: 5, rows: 0, cols: 4, rs: 4, cs: 1 }.checked().is_ok());
    }
}
