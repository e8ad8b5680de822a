//! Pairwise distances (`torch.cdist`) that are exact where torch's are not, and as fast.
//!
//! `cdist(x1, x2, p)` maps `(P, M) x (R, M) -> (P, R)` and `(B, P, M) x (B, R, M) -> (B, P, R)`.
//!
//! **Euclidean, fast and exact.** torch computes p = 2 as `|x|² + |y|² - 2 x·y` with a GEMM.
//! That is fast, but the subtraction cancels: two f32 points 512695 and 512804 come out not
//! 109 apart, `cdist(X, X)` has a non-zero diagonal, and tiny negative squares become NaN. Here:
//! 1. both inputs are centred on their joint column mean (in f64), which removes the common
//!    offset that causes most of the cancellation, at the cost of one pass over the inputs;
//! 2. the GEMM runs on the centred data (candle's matmul, i.e. the `gemm` crate);
//! 3. a fused pass turns each dot product into a distance, and recomputes from the original
//!    coordinates, by direct differences, every entry whose square falls below
//!    `(|a|² + |b|²) / 64` of the centred norms: that is where the expansion's rounding error
//!    (at most `M ε (|a|² + |b|²)`) could exceed `32 M ε` relative to the result. Direct
//!    differences of nearby points are exact (Sterbenz), so close pairs, duplicates and the
//!    diagonal come out exact (the diagonal exactly 0), and nothing is ever negative or NaN.
//!
//! Every other entry has a relative error of at most `32 M ε` in the worst case and about
//! `ε √M` in practice (measured against a float64 reference in the tests).
//!
//! **Other metrics** (p = 1, p = ∞, any p > 0, cosine) are computed by direct differences.
//! f16/bf16 inputs are computed in f32 and the result cast back, as torch does.
//!
//! **Devices.** On the CPU the kernels above run fused over row blocks with rayon. On any
//! other device (CUDA) the same mathematics runs as candle ops over row tiles, so candle's
//! backend does the work there. When an input requires gradients the result is differentiable
//! through candle's autograd, with the gradient at zero distance defined as 0 (the
//! subgradient torch's users ask for) instead of NaN.
//!
//! **Scale.** The output size is checked before any work ([`Error::OutputTooLarge`] gives the
//! byte count); extra memory beyond the output is one row tile (at most
//! [`CdistOptions::tile_bytes`]); indices are `usize` throughout; a caller can interrupt
//! between tiles ([`cdist_with`]'s `interrupted`).
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use candle_numpy::distance::cdist;
//! let a = Tensor::new(&[[512695f32], [512804.0]], &Device::Cpu)?;
//! let d = cdist(&a, &a, 2.0)?;
//! assert_eq!(d.to_vec2::<f32>()?, [[0.0, 109.0], [109.0, 0.0]]);
//! # Ok::<(), candle_numpy::Error>(())
//! ```

use std::mem::MaybeUninit;

use candle_core::{DType, Device, Tensor, D};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::simd::wide;

/// What to compute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// `(Σ |a - b|^p)^(1/p)` for `p > 0`; `p = f64::INFINITY` is the Chebyshev distance.
    Minkowski(f64),
    /// The squared Euclidean distance `Σ (a - b)²` (no square root).
    SqEuclidean,
    /// `1 - a·b / (|a| |b|)`, in `[0, 2]`; a zero vector is at distance 1 from everything
    /// (cosine similarity 0), including itself unless both are the same zero row.
    Cosine,
}

/// How p = 2 is computed (torch's `compute_mode` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ComputeMode {
    /// The GEMM expansion with exact fix-up when both sides have more than 25 rows, direct
    /// differences otherwise (torch's default, `use_mm_for_euclid_dist_if_necessary`).
    #[default]
    Auto,
    /// Always the GEMM expansion with fix-up (`use_mm_for_euclid_dist`).
    Matmul,
    /// Always direct differences (`donot_use_mm_for_euclid_dist`): slower, exact.
    Direct,
}

/// Options of [`cdist_with`].
#[derive(Debug, Clone)]
pub struct CdistOptions {
    /// The metric (default Euclidean, `Minkowski(2.0)`).
    pub metric: Metric,
    /// How p = 2 is computed.
    pub compute_mode: ComputeMode,
    /// Refuse outputs larger than this many bytes (default: the memory available now, read
    /// from `/proc/meminfo`; unlimited where that cannot be read).
    pub max_output_bytes: Option<usize>,
    /// Extra memory one row tile may use (default 64 MiB).
    pub tile_bytes: usize,
    /// Run the candle-op tiles (what other devices run) on the CPU too, instead of the fused
    /// kernels: for comparison and tests.
    pub candle_ops: bool,
}

impl Default for CdistOptions {
    fn default() -> Self {
        CdistOptions {
            metric: Metric::Minkowski(2.0),
            compute_mode: ComputeMode::Auto,
            max_output_bytes: None,
            tile_bytes: 64 << 20,
            candle_ops: false,
        }
    }
}

/// Bytes of the GEMM block one CPU row tile computes before the fused pass consumes it.
const CPU_GEMM_TILE_BYTES: usize = 4 << 20;

/// `ComputeMode::Auto` uses the GEMM expansion from this many features on.
const MIN_GEMM_FEATURES: usize = 16;

/// Outputs up to this size skip the available-memory check (see `Plan::new`).
const MEMINFO_FLOOR: usize = 64 << 20;

/// Below this fraction of `|a|² + |b|²` (centred), a GEMM-expanded square is recomputed.
const FIXUP_FRACTION: f64 = 1.0 / 64.0;

/// `torch.cdist(x1, x2, p)`: pairwise Minkowski distances, `(P, M) x (R, M) -> (P, R)` or
/// batched `(B, P, M) x (B, R, M) -> (B, P, R)`.
pub fn cdist(x1: &Tensor, x2: &Tensor, p: f64) -> Result<Tensor> {
    cdist_with(x1, x2, &CdistOptions { metric: Metric::Minkowski(p), ..Default::default() }, &|| false)
}

/// [`cdist`] with every option; `interrupted` is polled between row tiles and stops the work
/// with [`Error::Interrupted`] when it returns true (Python's Ctrl-C).
pub fn cdist_with(
    x1: &Tensor,
    x2: &Tensor,
    opts: &CdistOptions,
    interrupted: &(dyn Fn() -> bool + Sync),
) -> Result<Tensor> {
    let plan = Plan::new(x1, x2, opts)?;
    if plan.b == 0 || plan.p == 0 || plan.r == 0 || plan.m == 0 {
        return empty_distances(x1, &plan);
    }
    let tracked = x1.track_op() || x2.track_op();
    let (x1b, x2b) = (plan.batched(x1)?, plan.batched(x2)?);
    let mut outs = Vec::with_capacity(plan.b);
    for bi in 0..plan.b {
        let (a, b) = (x1b.get(bi)?, x2b.get(bi)?);
        let value = if a.device().is_cpu() && !opts.candle_ops {
            cpu::distances(&a.detach(), &b.detach(), &plan, interrupted)?
        } else {
            generic::distances(&a.detach(), &b.detach(), &plan, interrupted)?
        };
        let value = if tracked { generic::attach_gradient(&a, &b, value, &plan)? } else { value };
        outs.push(value);
    }
    // one matrix: no stack (it would copy the whole output once more)
    let out = match (plan.batched_input, outs.len()) {
        (false, 1) => outs.pop().expect("one output"),
        _ => Tensor::stack(&outs, 0)?,
    };
    Ok(if out.dtype() != plan.out_dtype { out.to_dtype(plan.out_dtype)? } else { out })
}

/// The distances when there is nothing to compute: no rows (an empty result), or no features
/// (every row is the empty vector: distance 0, as torch; cosine puts the zero vector at 1).
fn empty_distances(x1: &Tensor, plan: &Plan) -> Result<Tensor> {
    let shape = if plan.batched_input { vec![plan.b, plan.p, plan.r] } else { vec![plan.p, plan.r] };
    let fill = if plan.metric == Metric::Cosine { 1.0 } else { 0.0 };
    let out = Tensor::full(fill, shape, x1.device())?.to_dtype(plan.out_dtype)?;
    Ok(out)
}

/// Checked shapes and the decisions that follow from them.
struct Plan {
    b: usize,
    p: usize,
    r: usize,
    m: usize,
    batched_input: bool,
    metric: Metric,
    use_mm: bool,
    /// The dtype the work is done in (f32 or f64).
    work: DType,
    out_dtype: DType,
    /// Rows of `x1` per tile.
    tile_rows: usize,
    /// `x1` and `x2` are the same data (`cdist(X, X)`): the GEMM path computes one triangle.
    symmetric: bool,
}

impl Plan {
    fn new(x1: &Tensor, x2: &Tensor, opts: &CdistOptions) -> Result<Self> {
        let shape_err = |detail: String| Error::ShapeMismatch { operation: "cdist", detail };
        if x1.rank() != x2.rank() || !(2..=3).contains(&x1.rank()) {
            return Err(shape_err(format!(
                "x1 has shape {:?} and x2 {:?}; both must be (P, M) and (R, M), or (B, P, M) and (B, R, M)",
                x1.dims(),
                x2.dims()
            )));
        }
        let batched_input = x1.rank() == 3;
        let (b, p, m) = if batched_input { x1.dims3()? } else { (1, x1.dims2()?.0, x1.dims2()?.1) };
        let (b2, r, m2) = if batched_input { x2.dims3()? } else { (1, x2.dims2()?.0, x2.dims2()?.1) };
        if m != m2 {
            return Err(shape_err(format!(
                "x1 has {m} features per row (shape {:?}) but x2 has {m2} (shape {:?}); the last \
                 dimensions must match",
                x1.dims(),
                x2.dims()
            )));
        }
        if b != b2 {
            return Err(shape_err(format!(
                "x1 has batch size {b} but x2 has {b2}; batched inputs must agree on the first dimension"
            )));
        }
        if !x1.device().same_device(x2.device()) {
            return Err(shape_err(format!(
                "x1 is on {} and x2 on {}; move both to one device first",
                crate::device::device_name(x1.device()),
                crate::device::device_name(x2.device())
            )));
        }
        let (dt1, dt2) = (x1.dtype(), x2.dtype());
        if !dt1.is_float() || !dt2.is_float() {
            return Err(Error::UnsupportedDType {
                dtype: format!("{dt1:?}/{dt2:?}"),
                reason: "cdist needs floating-point inputs; convert with .to_dtype(DType::F32) (t.float() in Python)",
                supported: "float16, bfloat16, float32, float64",
            });
        }
        if let Metric::Minkowski(p) = opts.metric {
            if p.is_nan() || p <= 0.0 {
                return Err(Error::InvalidArgument {
                    operation: "cdist",
                    argument: "p",
                    value: p.to_string(),
                    fix: "use p > 0 (1, 2, inf, or any positive number)",
                });
            }
        }
        let work = if dt1 == DType::F64 || dt2 == DType::F64 { DType::F64 } else { DType::F32 };
        let out_dtype = if dt1 == dt2 { dt1 } else { work };
        let out_bytes = b.saturating_mul(p).saturating_mul(r).saturating_mul(out_dtype.size_in_bytes());
        // reading /proc/meminfo costs ~15 us, half a small call: an output below
        // MEMINFO_FLOOR cannot be the one that exhausts memory, so only larger ones ask
        let limit =
            opts.max_output_bytes.or_else(|| (out_bytes > MEMINFO_FLOOR).then(available_memory).flatten());
        if let Some(limit) = limit {
            if out_bytes > limit {
                return Err(Error::OutputTooLarge {
                    operation: "cdist",
                    shape: if batched_input { vec![b, p, r] } else { vec![p, r] },
                    bytes: out_bytes,
                    limit,
                });
            }
        }
        let euclid =
            matches!(opts.metric, Metric::Minkowski(q) if q == 2.0) || opts.metric == Metric::SqEuclidean;
        let use_mm = (euclid || opts.metric == Metric::Cosine)
            && match opts.compute_mode {
                // torch's rule (more than 25 rows each), and enough features for the GEMM to beat
                // direct differences (measured: at M = 3 direct is 5x faster, and exact)
                ComputeMode::Auto => p > 25 && r > 25 && m >= MIN_GEMM_FEATURES,
                ComputeMode::Matmul => true,
                ComputeMode::Direct => false,
            };
        // a tile holds tile_rows x R work values (the GEMM block), and on other devices the
        // tile_rows x R x M differences
        let fused = x1.device().is_cpu() && !opts.candle_ops;
        let per_row = r.max(1) * work.size_in_bytes() * if fused { 1 } else { m.max(1) };
        // on the CPU the GEMM block is re-read by the fused pass at once: keep it cache-sized
        let tile_bytes = if fused { opts.tile_bytes.min(CPU_GEMM_TILE_BYTES) } else { opts.tile_bytes };
        let tile_rows = (tile_bytes / per_row).clamp(1, p.max(1));
        let symmetric = p == r && same_data(x1, x2);
        Ok(Plan {
            b,
            p,
            r,
            m,
            batched_input,
            metric: opts.metric,
            use_mm,
            work,
            out_dtype,
            tile_rows,
            symmetric,
        })
    }

    /// The input as `(B, rows, M)` in the work dtype.
    fn batched(&self, t: &Tensor) -> Result<Tensor> {
        let t = if t.dtype() != self.work { t.to_dtype(self.work)? } else { t.clone() };
        Ok(if self.batched_input { t } else { t.unsqueeze(0)? })
    }
}

/// Whether two tensors are the same values: one tensor, or views of the same CPU memory with
/// the same layout (what `cdist(x, x)` on a shared NumPy array gives).
fn same_data(a: &Tensor, b: &Tensor) -> bool {
    if a.id() == b.id() {
        return true;
    }
    if a.dtype() != b.dtype() || a.dims() != b.dims() || a.stride() != b.stride() {
        return false;
    }
    let (la, lb) = (a.layout().start_offset(), b.layout().start_offset());
    match (crate::export::storage_range(a), crate::export::storage_range(b)) {
        (Ok((pa, _)), Ok((pb, _))) => pa == pb && la == lb,
        _ => false,
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes (None where there is no such file).
pub(crate) fn available_memory() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The fused CPU kernels.
mod cpu {
    use super::*;

    /// A float the kernels run in.
    pub trait Work: candle_core::WithDType + num_like::Float {}
    impl Work for f32 {}
    impl Work for f64 {}

    /// The handful of float operations the kernels need, for f32 and f64 (std has no trait).
    pub mod num_like {
        pub trait Float:
            Copy
            + Send
            + Sync
            + PartialOrd
            + std::ops::Add<Output = Self>
            + std::ops::Sub<Output = Self>
            + std::ops::Mul<Output = Self>
        {
            const ZERO: Self;
            const MAX: Self;
            fn abs(self) -> Self;
            fn sqrt(self) -> Self;
            fn powf(self, e: Self) -> Self;
            fn powi(self, n: i32) -> Self;
            /// The larger of the two, NaN if either is NaN (torch's `max`; `f32::max` would
            /// drop a NaN and hide it).
            #[inline(always)]
            fn max_nan(self, o: Self) -> Self {
                // a NaN `o` is taken (o != o); a NaN `self` is kept (o > NaN is false)
                #[allow(clippy::eq_op)]
                if o > self || o != o {
                    o
                } else {
                    self
                }
            }
            /// `self` where it is not below zero (NaN stays NaN).
            #[inline(always)]
            fn at_least_zero(self) -> Self {
                if self < Self::ZERO {
                    Self::ZERO
                } else {
                    self
                }
            }
        }
        macro_rules! float {
            ($t:ty) => {
                impl Float for $t {
                    const ZERO: Self = 0.0;
                    const MAX: Self = <$t>::MAX;
                    fn abs(self) -> Self {
                        <$t>::abs(self)
                    }
                    fn sqrt(self) -> Self {
                        <$t>::sqrt(self)
                    }
                    fn powf(self, e: Self) -> Self {
                        <$t>::powf(self, e)
                    }
                    fn powi(self, n: i32) -> Self {
                        <$t>::powi(self, n)
                    }
                }
            };
        }
        float!(f32);
        float!(f64);
    }

    pub fn distances(
        a: &Tensor,
        b: &Tensor,
        plan: &Plan,
        interrupted: &(dyn Fn() -> bool + Sync),
    ) -> Result<Tensor> {
        match plan.work {
            DType::F64 => typed::<f64>(a, b, plan, interrupted),
            _ => typed::<f32>(a, b, plan, interrupted),
        }
    }

    fn typed<T: Work>(
        a: &Tensor,
        b: &Tensor,
        plan: &Plan,
        interrupted: &(dyn Fn() -> bool + Sync),
    ) -> Result<Tensor> {
        let (p, r, m) = (plan.p, plan.r, plan.m);
        let av: Vec<T> = a.flatten_all()?.to_vec1()?;
        let bv: Vec<T> = b.flatten_all()?.to_vec1()?;
        let fill = |out: &mut [MaybeUninit<T>]| -> Result<()> {
            if out.is_empty() {
                Ok(())
            } else if plan.use_mm {
                gemm_path(&av, &bv, out, plan, interrupted)
            } else if m < MIN_GEMM_FEATURES && plan.metric != Metric::Cosine {
                columns_path(&av, &bv, out, plan, interrupted)
            } else {
                direct_path(&av, &bv, out, plan, interrupted)
            }
        };
        // The output is written once, never zeroed first (clearing a 4 MiB output is a third
        // of a (1000, 3) call).
        // SAFETY: each path writes every one of the p * r outputs when it returns Ok: the direct
        // and columns paths every (i, j); the GEMM path every column of every row, or in the
        // symmetric case the diagonal and the columns after it, with the columns before it
        // mirrored from earlier rows ([`mirror`]). The tests compare every entry against
        // references, symmetric or not, across several tiles and odd sizes.
        let out = unsafe { crate::copy::try_filled_vec(p * r, "computing pairwise distances", fill)? };
        Ok(Tensor::from_vec(out, (p, r), &Device::Cpu)?)
    }

    /// Any metric, one distance at a time, in blocks of ROWS x COLS outputs: the COLS rows of
    /// x2 stay in cache for ROWS rows of x1.
    fn direct_path<T: Work>(
        av: &[T],
        bv: &[T],
        out: &mut [MaybeUninit<T>],
        plan: &Plan,
        interrupted: &(dyn Fn() -> bool + Sync),
    ) -> Result<()> {
        let (r, m) = (plan.r, plan.m);
        const ROWS: usize = 8;
        let cols = (32 << 10) / (m.max(1) * std::mem::size_of::<T>()).max(1);
        let cols = cols.clamp(8, 1024);
        for_each_tile(out, plan, interrupted, |i0, rows| {
            rows.par_chunks_mut(ROWS * r).enumerate().for_each(|(g, block)| {
                wide(
                    #[inline(always)]
                    || {
                        for j0 in (0..r).step_by(cols) {
                            let j1 = (j0 + cols).min(r);
                            for (di, row) in block.chunks_mut(r).enumerate() {
                                let i = i0 + g * ROWS + di;
                                let x = &av[i * m..(i + 1) * m];
                                for (j, o) in (j0..j1).zip(&mut row[j0..j1]) {
                                    o.write(direct(x, &bv[j * m..(j + 1) * m], plan.metric));
                                }
                            }
                        }
                    },
                )
            });
        })
    }

    /// `$body` with `$f` (the term of one coordinate difference) and `$join` (how terms
    /// combine: a sum, or a max for p = inf) bound for a Minkowski or squared-Euclidean metric;
    /// [`finish`] turns the combined terms into the distance.
    macro_rules! per_metric {
        ($t:ty, $metric:expr, |$f:ident, $join:ident| $body:expr) => {{
            let add = |a: $t, b: $t| a + b;
            match $metric {
                Metric::SqEuclidean | Metric::Minkowski(2.0) => {
                    let ($f, $join) = (|d: $t| d * d, add);
                    $body
                }
                Metric::Minkowski(1.0) => {
                    let ($f, $join) = (|d: $t| d.abs(), add);
                    $body
                }
                Metric::Minkowski(q) if q.is_infinite() => {
                    let ($f, $join) = (|d: $t| d.abs(), |a: $t, b: $t| a.max_nan(b));
                    $body
                }
                Metric::Minkowski(q) if small_integer(q) => {
                    let n = q as i32;
                    let ($f, $join) = (|d: $t| d.abs().powi(n), add);
                    $body
                }
                Metric::Minkowski(q) => {
                    let e = <$t>::from_f64(q);
                    let ($f, $join) = (|d: $t| d.abs().powf(e), add);
                    $body
                }
                Metric::Cosine => unreachable!("cosine is reduced from dot products"),
            }
        }};
    }

    /// The distance from the combined terms: the root for finite p other than 1.
    #[inline(always)]
    fn finish<T: Work>(metric: Metric, s: T) -> T {
        match metric {
            Metric::Minkowski(2.0) => s.sqrt(),
            Metric::Minkowski(q) if q.is_finite() && q != 1.0 => s.powf(T::from_f64(1.0 / q)),
            _ => s,
        }
    }

    /// Run `fill(first_row, rows)` over tiles of `plan.tile_rows` output rows, stopping with
    /// [`Error::Interrupted`] when `interrupted` says so between tiles.
    fn for_each_tile<T>(
        out: &mut [T],
        plan: &Plan,
        interrupted: &(dyn Fn() -> bool + Sync),
        mut fill: impl FnMut(usize, &mut [T]),
    ) -> Result<()> {
        for (t, rows) in out.chunks_mut(plan.tile_rows * plan.r).enumerate() {
            if interrupted() {
                return Err(Error::Interrupted { operation: "cdist" });
            }
            fill(t * plan.tile_rows, rows);
        }
        Ok(())
    }

    /// Outputs per parallel task in the few-features kernel.
    const TASK_OUTPUTS: usize = 1 << 15;

    /// Whole exponents up to 8 use `powi` (a few multiplies) instead of `powf` (exp and log).
    fn small_integer(q: f64) -> bool {
        q.fract() == 0.0 && (1.0..=8.0).contains(&q)
    }

    /// `Σ f(x_k - y_k)` over eight independent lanes, so the compiler can vectorise it (a
    /// single running sum is a dependency chain it may not reorder).
    #[inline(always)]
    fn lanes<T: Work>(x: &[T], y: &[T], f: impl Fn(T) -> T, join: impl Fn(T, T) -> T) -> T {
        let mut acc = [T::ZERO; 8];
        let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
        let (xr, yr) = (xc.remainder(), yc.remainder());
        for (a, b) in xc.zip(yc) {
            for l in 0..8 {
                acc[l] = join(acc[l], f(a[l] - b[l]));
            }
        }
        let mut s = join(
            join(join(acc[0], acc[1]), join(acc[2], acc[3])),
            join(join(acc[4], acc[5]), join(acc[6], acc[7])),
        );
        for (&a, &b) in xr.iter().zip(yr) {
            s = join(s, f(a - b));
        }
        s
    }

    /// One distance by direct differences.
    #[inline(always)]
    pub fn direct<T: Work>(x: &[T], y: &[T], metric: Metric) -> T {
        match metric {
            Metric::SqEuclidean | Metric::Minkowski(_) => {
                finish(metric, per_metric!(T, metric, |f, join| lanes(x, y, f, join)))
            }
            Metric::Cosine => {
                let (mut xy, mut xx, mut yy) = (0f64, 0f64, 0f64);
                for (&a, &b) in x.iter().zip(y) {
                    let (a, b) = (a.to_f64(), b.to_f64());
                    xy += a * b;
                    xx += a * a;
                    yy += b * b;
                }
                T::from_f64(cosine_from(xy, xx, yy, x == y))
            }
        }
    }

    /// Cosine distance from the dot product and squared norms, computed as `|x̂ - ŷ|² / 2`
    /// so that identical directions give exactly 0.
    fn cosine_from(xy: f64, xx: f64, yy: f64, identical: bool) -> f64 {
        if identical && xx > 0.0 {
            return 0.0;
        }
        if xx == 0.0 || yy == 0.0 {
            return 1.0;
        }
        (1.0 - xy / (xx.sqrt() * yy.sqrt())).clamp(0.0, 2.0)
    }

    /// Few features: vectorise across output columns instead of along the short rows. x2 is
    /// transposed once to `(M, R)`; each output row accumulates `f(x_ik - x2_jk)` one feature
    /// at a time over a block of columns held in L1. The sums run over k in order, as in
    /// [`direct`], so the results are the same direct differences (measured at M = 3: 3.5x
    /// faster than one distance at a time).
    fn columns_path<T: Work>(
        av: &[T],
        bv: &[T],
        out: &mut [MaybeUninit<T>],
        plan: &Plan,
        interrupted: &(dyn Fn() -> bool + Sync),
    ) -> Result<()> {
        let (r, m) = (plan.r, plan.m);
        let mut bt = vec![T::ZERO; m * r];
        for (j, row) in bv.chunks(m).enumerate() {
            for (k, &v) in row.iter().enumerate() {
                bt[k * r + j] = v;
            }
        }
        const COLS: usize = 2048;
        let metric = plan.metric;
        // accumulate in L1, write each output once
        #[inline(always)]
        fn kernel<T: Work>(
            x: &[T],
            bt: &[T],
            r: usize,
            metric: Metric,
            acc: &mut [T],
            dst: &mut [MaybeUninit<T>],
            j0: usize,
        ) {
            let acc = &mut acc[..dst.len()];
            per_metric!(T, metric, |f, join| accumulate(x, bt, r, j0, acc, f, join));
            finish_into(metric, acc, dst);
        }
        // several rows per task when rows are short: a task of a few microseconds costs as
        // much to schedule as it computes (and waking a second thread for a 2-row call costs
        // 10 us)
        let rows_per_task = (TASK_OUTPUTS / r).max(1);
        for_each_tile(out, plan, interrupted, |i0, rows| {
            rows.par_chunks_mut(rows_per_task * r).enumerate().for_each(|(t, chunk)| {
                wide(
                    #[inline(always)]
                    || {
                        let mut acc = [T::ZERO; COLS];
                        for (di, row) in chunk.chunks_mut(r).enumerate() {
                            let i = i0 + t * rows_per_task + di;
                            let x = &av[i * m..(i + 1) * m];
                            for (b, block) in row.chunks_mut(COLS).enumerate() {
                                kernel(x, &bt, r, metric, &mut acc, block, b * COLS);
                            }
                        }
                    },
                )
            });
        })
    }

    /// `dst[j] = finish(metric, acc[j])`, with the metric decided once for the whole run (a
    /// decision per element let the compiler evaluate `powf` for every element and select,
    /// measured 9x slower at p = 1).
    #[inline(always)]
    fn finish_into<T: Work>(metric: Metric, acc: &[T], dst: &mut [MaybeUninit<T>]) {
        let pairs = dst.iter_mut().zip(acc);
        match metric {
            Metric::Minkowski(2.0) => pairs.for_each(|(o, &a)| {
                o.write(a.sqrt());
            }),
            Metric::Minkowski(q) if q.is_finite() && q != 1.0 => {
                let e = T::from_f64(1.0 / q);
                pairs.for_each(|(o, &a)| {
                    o.write(a.powf(e));
                })
            }
            _ => pairs.for_each(|(o, &a)| {
                o.write(a);
            }),
        }
    }

    /// `out[j] = join_k f(x[k] - bt[k][j0 + j])`, independent across j (vectorisable).
    #[inline(always)]
    fn accumulate<T: Work>(
        x: &[T],
        bt: &[T],
        r: usize,
        j0: usize,
        out: &mut [T],
        f: impl Fn(T) -> T,
        join: impl Fn(T, T) -> T,
    ) {
        out.iter_mut().for_each(|o| *o = T::ZERO);
        for (k, &xk) in x.iter().enumerate() {
            let col = &bt[k * r + j0..k * r + j0 + out.len()];
            for (o, &y) in out.iter_mut().zip(col) {
                *o = join(*o, f(xk - y));
            }
        }
    }

    fn gemm_path<T: Work>(
        av: &[T],
        bv: &[T],
        out: &mut [MaybeUninit<T>],
        plan: &Plan,
        interrupted: &(dyn Fn() -> bool + Sync),
    ) -> Result<()> {
        let (p, r, m) = (plan.p, plan.r, plan.m);
        let cosine = plan.metric == Metric::Cosine;
        // centre on the joint column mean (f64 sums); cosine is not translation-invariant and
        // is left as it is
        // over finite values only: one NaN or inf would otherwise make its whole column (and so
        // every distance) NaN; the point that has it is fixed up by direct differences
        let mut mean = vec![0f64; m];
        if !cosine {
            let mut count = vec![0usize; m];
            for row in av.chunks(m).chain(bv.chunks(m)) {
                for ((s, c), &x) in mean.iter_mut().zip(&mut count).zip(row) {
                    let x = x.to_f64();
                    if x.is_finite() {
                        *s += x;
                        *c += 1;
                    }
                }
            }
            mean.iter_mut().zip(&count).for_each(|(s, &c)| *s /= c.max(1) as f64);
        }
        let centre = |v: &[T]| -> Vec<T> {
            v.chunks(m)
                .flat_map(|row| row.iter().zip(&mean).map(|(&x, &c)| T::from_f64(x.to_f64() - c)))
                .collect()
        };
        let (ac, bc) = (centre(av), centre(bv));
        let norms = |v: &[T]| -> Vec<T> {
            v.chunks(m).map(|row| row.iter().fold(T::ZERO, |s, &x| s + x * x)).collect()
        };
        let (na, nb) = (norms(&ac), norms(&bc));
        let frac = T::from_f64(FIXUP_FRACTION);
        let sym = plan.symmetric;
        let mut rest: &mut [MaybeUninit<T>] = out;
        let mut i0 = 0;
        while i0 < p {
            if interrupted() {
                return Err(Error::Interrupted { operation: "cdist" });
            }
            let n = plan.tile_rows.min(p - i0);
            let (rows, later) = std::mem::take(&mut rest).split_at_mut(n * r);
            // cdist(X, X): only the columns from the tile's first row on; the rest is mirrored
            let j0 = if sym { i0 } else { 0 };
            let width = r - j0;
            let at = Tensor::from_slice(&ac[i0 * m..(i0 + n) * m], (n, m), &Device::Cpu)?;
            let bt = Tensor::from_slice(&bc[j0 * m..], (width, m), &Device::Cpu)?.t()?;
            let gt = at.matmul(&bt)?.contiguous()?;
            let (storage, layout) = gt.storage_and_layout();
            let candle_core::Storage::Cpu(cpu) = &*storage else {
                unreachable!("a CPU matmul gives CPU storage")
            };
            let g = &cpu.as_slice::<T>()?[layout.start_offset()..][..n * width];
            rows.par_chunks_mut(r).zip(g.par_chunks(width)).enumerate().for_each(|(di, (row, gr))| {
                let i = i0 + di;
                let x = &av[i * m..(i + 1) * m];
                if cosine {
                    for (jj, (o, &dot)) in row[j0..].iter_mut().zip(gr).enumerate() {
                        let j = j0 + jj;
                        let (xx, yy) = (na[i].to_f64(), nb[j].to_f64());
                        let c = cosine_from(dot.to_f64(), xx, yy, false);
                        // near-parallel pairs lose digits in 1 - cos: recompute those directly
                        o.write(if c < FIXUP_FRACTION {
                            direct(x, &bv[j * m..(j + 1) * m], Metric::Cosine)
                        } else {
                            T::from_f64(c)
                        });
                    }
                    return;
                }
                let root = plan.metric != Metric::SqEuclidean;
                let finish_sq = |d2: T| if root { d2.sqrt() } else { d2 };
                // cdist(X, X): the diagonal is exactly 0 (a point with NaN or inf is its own
                // direct difference), columns after it are computed, those before it mirrored
                let lo = if sym { i + 1 } else { j0 };
                if sym {
                    row[i].write(if na[i] <= T::MAX {
                        T::ZERO
                    } else {
                        finish_sq(direct(x, x, Metric::SqEuclidean))
                    });
                }
                let (row, gr, nbs) = (&mut row[lo..], &gr[lo - j0..], &nb[lo..]);
                let bad = wide(
                    #[inline(always)]
                    || {
                        if root {
                            expand::<T, true>(na[i], row, gr, nbs, frac)
                        } else {
                            expand::<T, false>(na[i], row, gr, nbs, frac)
                        }
                    },
                );
                if bad > 0 {
                    for (jj, ((o, &dot), &nbj)) in row.iter_mut().zip(gr).zip(nbs).enumerate() {
                        if needs_fixup(na[i] + nbj, dot, frac) {
                            let j = lo + jj;
                            o.write(finish_sq(direct(x, &bv[j * m..(j + 1) * m], Metric::SqEuclidean)));
                        }
                    }
                }
            });
            if sym {
                mirror(rows, later, i0, n, r);
            }
            rest = later;
            i0 += n;
        }
        Ok(())
    }

    /// Whether the expansion `|a|² + |b|² - 2 a·b` (with `scale = |a|² + |b|²`, centred) cannot
    /// be trusted: it cancels to below [`FIXUP_FRACTION`] of the scale, or something is not
    /// finite (a NaN or infinite coordinate, or squares that overflow). Those entries are
    /// recomputed by direct differences, which give the exact small distances and propagate a
    /// NaN only to the pairs of the point that has it (as torch).
    #[inline(always)]
    fn needs_fixup<T: Work>(scale: T, dot: T, frac: T) -> bool {
        let d2 = scale - (dot + dot);
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let trusted = d2 >= scale * frac && scale <= T::MAX;
        !trusted
    }

    /// One output row of the Euclidean expansion, branch-free so it vectorises: each entry is
    /// `max(|a|² + |b|² - 2 a·b, 0)` (its root when `ROOT`); returns how many entries need the
    /// direct fix-up ([`needs_fixup`]), which the caller then applies (rarely: near-duplicate
    /// points).
    #[inline(always)]
    fn expand<T: Work, const ROOT: bool>(
        ni: T,
        row: &mut [MaybeUninit<T>],
        gr: &[T],
        nbs: &[T],
        frac: T,
    ) -> usize {
        let mut bad = 0usize;
        for ((o, &dot), &nbj) in row.iter_mut().zip(gr).zip(nbs) {
            let scale = ni + nbj;
            bad += needs_fixup(scale, dot, frac) as usize;
            let v = (scale - (dot + dot)).at_least_zero();
            o.write(if ROOT { v.sqrt() } else { v });
        }
        bad
    }

    /// cdist(X, X), after a row tile `[i0, i0 + n)` computed its columns from `i0` on: make the
    /// tile's diagonal block exactly symmetric, and copy the tile's columns beyond it into the
    /// lower triangle of the later rows (`later`), which then skip them.
    fn mirror<T: Copy + Send + Sync>(rows: &mut [T], later: &mut [T], i0: usize, n: usize, r: usize) {
        for a in 0..n {
            for b in 0..a {
                rows[a * r + i0 + b] = rows[b * r + i0 + a];
            }
        }
        let rows: &[T] = rows;
        let first = i0 + n;
        // 32 later rows per task, moved in 8 x 8 blocks: eight rows of the tile are read eight
        // values at a time and written as eight columns, so both sides move whole cache-line
        // runs (element by element, the tile is read one value per cache line; measured 4x
        // slower at 4096 x 4096)
        later.par_chunks_mut(32 * r).enumerate().for_each(|(c, block)| {
            wide(
                #[inline(always)]
                || {
                    for (q, eight) in block.chunks_mut(8 * r).enumerate() {
                        let j = first + c * 32 + q * 8;
                        let h = eight.len() / r;
                        let mut di = 0;
                        if h == 8 {
                            while di + 8 <= n {
                                transpose8(&rows[di * r + j..], r, &mut eight[i0 + di..], r);
                                di += 8;
                            }
                        }
                        for dj in 0..h {
                            for d in di..n {
                                eight[dj * r + i0 + d] = rows[d * r + j + dj];
                            }
                        }
                    }
                },
            )
        });
    }

    /// `dst[b][a] = src[a][b]` for an 8 x 8 block (row strides `ss` and `ds`): eight row loads
    /// into a local block, eight row stores out of it, which the compiler turns into vector
    /// shuffles.
    #[inline(always)]
    fn transpose8<T: Copy>(src: &[T], ss: usize, dst: &mut [T], ds: usize) {
        let mut t = [[src[0]; 8]; 8];
        for (a, row) in t.iter_mut().enumerate() {
            row.copy_from_slice(&src[a * ss..a * ss + 8]);
        }
        for b in 0..8 {
            let d = &mut dst[b * ds..b * ds + 8];
            for (a, o) in d.iter_mut().enumerate() {
                *o = t[a][b];
            }
        }
    }
}

/// The same mathematics as candle ops, tile by tile: what runs on CUDA, and what carries the
/// gradient.
mod generic {
    use super::*;

    /// Differences `a_i - b_j` of a row tile: `(n, R, M)`.
    fn diffs(a: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok(a.unsqueeze(1)?.broadcast_sub(&b.unsqueeze(0)?)?)
    }

    fn reduce(d: &Tensor, metric: Metric) -> Result<Tensor> {
        Ok(match metric {
            Metric::SqEuclidean => d.sqr()?.sum(D::Minus1)?,
            Metric::Minkowski(2.0) => d.sqr()?.sum(D::Minus1)?.sqrt()?,
            Metric::Minkowski(1.0) => d.abs()?.sum(D::Minus1)?,
            Metric::Minkowski(q) if q.is_infinite() => d.abs()?.max(D::Minus1)?,
            Metric::Minkowski(q) => d.abs()?.powf(q)?.sum(D::Minus1)?.powf(1.0 / q)?,
            Metric::Cosine => unreachable!("cosine is reduced from dot products"),
        })
    }

    fn cosine_tile(a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let na = a.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
        let nb = b.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
        // zero rows: similarity 0, distance 1
        let safe = |n: &Tensor| -> Result<Tensor> {
            let zero = n.eq(0.0)?;
            Ok(zero.where_cond(&n.ones_like()?, n)?)
        };
        let (ua, ub) = (a.broadcast_div(&safe(&na)?)?, b.broadcast_div(&safe(&nb)?)?);
        // |û - v̂|² / 2 is exact for identical directions, unlike 1 - û·v̂
        let d = diffs(&ua, &ub)?.sqr()?.sum(D::Minus1)?.affine(0.5, 0.0)?;
        let zero_pair = na.eq(0.0)?.broadcast_maximum(&nb.eq(0.0)?.t()?)?;
        Ok(zero_pair.where_cond(&d.ones_like()?, &d)?.clamp(0.0, 2.0)?)
    }

    pub fn distances(
        a: &Tensor,
        b: &Tensor,
        plan: &Plan,
        interrupted: &(dyn Fn() -> bool + Sync),
    ) -> Result<Tensor> {
        if plan.p == 0 || plan.r == 0 {
            return Ok(Tensor::zeros((plan.p, plan.r), plan.work, a.device())?);
        }
        let mut tiles = Vec::new();
        for i0 in (0..plan.p).step_by(plan.tile_rows) {
            if interrupted() {
                return Err(Error::Interrupted { operation: "cdist" });
            }
            let n = plan.tile_rows.min(plan.p - i0);
            let at = a.narrow(0, i0, n)?;
            tiles.push(match plan.metric {
                Metric::Cosine => cosine_tile(&at, b)?,
                metric => reduce(&diffs(&at, b)?, metric)?,
            });
        }
        Ok(Tensor::cat(&tiles, 0)?)
    }

    /// `value` with candle's gradient attached: `value + (s - s.detach())`, where `s` is a
    /// surrogate whose derivative is the distance's, with the derivative at zero distance
    /// defined as 0 (candle's own `sqrt`/`powf` backward would give `0 * inf = NaN` there).
    pub fn attach_gradient(a: &Tensor, b: &Tensor, value: Tensor, plan: &Plan) -> Result<Tensor> {
        if plan.p == 0 || plan.r == 0 {
            return Ok(value);
        }
        let mut tiles = Vec::new();
        for i0 in (0..plan.p).step_by(plan.tile_rows) {
            let n = plan.tile_rows.min(plan.p - i0);
            let at = a.narrow(0, i0, n)?;
            let v = value.narrow(0, i0, n)?.detach();
            let d = diffs(&at, b)?; // tracked
            let dd = d.detach();
            // coefficient c with d(dist)/d(diff) = c, 0 where the distance is 0
            let vz = v.eq(0.0)?.unsqueeze(D::Minus1)?.broadcast_as(dd.shape())?;
            let vb = v.unsqueeze(D::Minus1)?.broadcast_as(dd.shape())?;
            let safe_v = vz.where_cond(&vb.ones_like()?, &vb)?;
            let coef = match plan.metric {
                Metric::SqEuclidean => dd.affine(2.0, 0.0)?,
                Metric::Minkowski(2.0) => dd.div(&safe_v)?,
                Metric::Minkowski(1.0) => dd.sign()?,
                Metric::Minkowski(q) if q.is_infinite() => {
                    let at_max = dd.abs()?.eq(&vb)?.to_dtype(dd.dtype())?;
                    dd.sign()?.mul(&at_max)?
                }
                Metric::Minkowski(q) => {
                    dd.sign()?.mul(&dd.abs()?.powf(q - 1.0)?)?.div(&safe_v.powf(q - 1.0)?)?
                }
                Metric::Cosine => {
                    // d/dx (1 - x·y/(|x||y|)): through candle's ops on the cosine tile itself
                    let c = cosine_tile(&at, b)?;
                    tiles.push(c.sub(&c.detach())?);
                    continue;
                }
            };
            let coef = vz.where_cond(&coef.zeros_like()?, &coef)?;
            let s = coef.mul(&d)?.sum(D::Minus1)?;
            tiles.push(s.sub(&s.detach())?);
        }
        let zero_in_value = Tensor::cat(&tiles, 0)?;
        Ok(value.add(&zero_in_value)?)
    }
}
