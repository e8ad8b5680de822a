//! Convolution and pooling over images (and sequences), for both facades: torch's
//! channels-first `(N, C, H, W)` with weights `(out, in / groups, kh, kw)`, and Keras's
//! channels-last `(N, H, W, C)` with kernels `(kh, kw, in / groups, out)`.
//!
//! **Why not candle's `conv2d`.** candle 0.11's takes one stride, one dilation and one
//! symmetric padding for both axes (torch takes a pair of each; Keras's `"same"` padding of an
//! even kernel is asymmetric), works channels-first only (Keras's layout would cost two
//! transposed copies per layer and step, and two more in the backward pass), and its max-pool
//! backward refuses windows that overlap (`MaxPool2d(3, stride=2)`). Here a convolution is
//! [`im2col`] (a custom op: the input's receptive fields as rows of a matrix, any strides,
//! dilations and paddings, either layout, with the scatter-add `col2im` as its backward) and the
//! engine's dense layer [`linear`](super::linear::linear) over those rows: one GEMM forward,
//! the closed-form backward (no gradient for the data batch, bias and ReLU fused), and the
//! channels-last output falls out of the product with no copy. Pooling is a custom op with a
//! closed-form backward (the gradient to each window's first maximum, torch's rule; or spread
//! over the window for the average).
//!
//! These ops run on the CPU in f32 and f64; other dtypes are computed in f32 and cast back.
//! On CUDA the convolution falls back to candle's `conv2d` where its arguments allow it
//! (channels-first, square strides and dilations, symmetric padding) and pooling to candle's
//! (non-overlapping windows); other cases are refused with an error that says so.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::linear::{self, Activation, WeightLayout};
use crate::error::{Error, Result};

/// Where the channel axis is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataFormat {
    /// `(N, C, H, W)`: torch's layout.
    ChannelsFirst,
    /// `(N, H, W, C)`: Keras's default.
    ChannelsLast,
}

/// Zero padding on each side of the two spatial axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Padding {
    /// Rows added above.
    pub top: usize,
    /// Rows added below.
    pub bottom: usize,
    /// Columns added on the left.
    pub left: usize,
    /// Columns added on the right.
    pub right: usize,
}

impl Padding {
    /// `(ph, pw)` on both sides, as torch's `padding=(ph, pw)`.
    pub fn symmetric(ph: usize, pw: usize) -> Self {
        Padding { top: ph, bottom: ph, left: pw, right: pw }
    }

    /// Keras's and TensorFlow's `"same"`: the output has `ceil(size / stride)` positions; the
    /// padding is split with the extra row or column at the bottom and right.
    pub fn same(
        input: (usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        dilation: (usize, usize),
    ) -> Self {
        let side = |size: usize, k: usize, s: usize, d: usize| {
            let out = size.div_ceil(s);
            let span = d * (k - 1) + 1;
            let total = ((out - 1) * s + span).saturating_sub(size);
            (total / 2, total - total / 2)
        };
        let (top, bottom) = side(input.0, kernel.0, stride.0, dilation.0);
        let (left, right) = side(input.1, kernel.1, stride.1, dilation.1);
        Padding { top, bottom, left, right }
    }
}

impl std::fmt::Display for Padding {
    /// `(top, bottom, left, right) = (1, 1, 2, 2)`, as error messages show it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "(top, bottom, left, right) = ({}, {}, {}, {})",
            self.top, self.bottom, self.left, self.right
        )
    }
}

/// The geometry of a 2-d convolution or pooling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `(kh, kw)`.
    pub kernel: (usize, usize),
    /// `(sh, sw)`, each at least 1.
    pub stride: (usize, usize),
    /// `(dh, dw)`, each at least 1.
    pub dilation: (usize, usize),
    /// Zero padding.
    pub padding: Padding,
}

impl Window {
    /// A `kh x kw` window with stride 1, no dilation, no padding.
    pub fn new(kernel: (usize, usize)) -> Self {
        Window { kernel, stride: (1, 1), dilation: (1, 1), padding: Padding::default() }
    }

    /// The output size `(oh, ow)` for an input of `(h, w)`, or an error naming the sizes.
    pub fn output(&self, operation: &'static str, h: usize, w: usize) -> Result<(usize, usize)> {
        let Window { kernel: (kh, kw), stride: (sh, sw), dilation: (dh, dw), padding: p } = *self;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || dh == 0 || dw == 0 {
            return Err(Error::InvalidArgument {
                operation,
                argument: "kernel_size/stride/dilation",
                value: format!(
                    "kernel {:?}, stride {:?}, dilation {:?}",
                    self.kernel, self.stride, self.dilation
                ),
                fix: "kernel sizes, strides and dilations must be at least 1",
            });
        }
        let side = |size: usize, before: usize, after: usize, k: usize, s: usize, d: usize| {
            let padded = size + before + after;
            let span = d * (k - 1) + 1;
            (padded >= span).then(|| (padded - span) / s + 1)
        };
        match (side(h, p.top, p.bottom, kh, sh, dh), side(w, p.left, p.right, kw, sw, dw)) {
            (Some(oh), Some(ow)) => Ok((oh, ow)),
            _ => Err(Error::ShapeMismatch {
                operation,
                detail: format!(
                    "the input's spatial size ({h}, {w}) with padding {p} is smaller than the \
                     kernel {:?} at dilation {:?}; use a smaller kernel, padding, or larger inputs",
                    self.kernel, self.dilation
                ),
            }),
        }
    }
}

/// The spatial geometry of an image tensor in `format`: `(n, c, h, w)` and the element strides
/// of those axes.
fn geometry(dims: &[usize], stride: &[usize], format: DataFormat) -> ([usize; 4], [usize; 4]) {
    match format {
        DataFormat::ChannelsFirst => {
            ([dims[0], dims[1], dims[2], dims[3]], [stride[0], stride[1], stride[2], stride[3]])
        }
        DataFormat::ChannelsLast => {
            ([dims[0], dims[3], dims[1], dims[2]], [stride[0], stride[3], stride[1], stride[2]])
        }
    }
}

fn check_image(x: &Tensor, operation: &'static str, format: DataFormat) -> Result<()> {
    if x.rank() != 4 {
        return Err(Error::ShapeMismatch {
            operation,
            detail: format!(
                "expects a batch of images of rank 4 ({}), got shape {:?}",
                match format {
                    DataFormat::ChannelsFirst => "N, C, H, W",
                    DataFormat::ChannelsLast => "N, H, W, C",
                },
                x.dims()
            ),
        });
    }
    Ok(())
}

/// The receptive fields of `x` as rows: `(N * oh * ow, kh * kw * C)`, one row per output
/// position (in `n, oh, ow` order), columns tap-major and channel-minor (`(kh, kw, c)`: the
/// order of Keras's kernel `(kh, kw, C, out)` flattened, and of torch's weight
/// `(out, C, kh, kw)` once permuted to `(out, kh, kw, C)`), so that each tap's channels are one
/// contiguous run of the row, copied as a block when the input's channels are contiguous
/// (channels-last data, and the channels-first views [`conv2d`] returns). Padding reads as
/// zeros. Differentiable: the backward pass scatters the rows' gradients back (`col2im`), and
/// is computed only when `x` is tracked.
pub fn im2col(x: &Tensor, window: &Window, format: DataFormat) -> Result<Tensor> {
    check_image(x, "im2col", format)?;
    let ([_, _, h, w], _) = geometry(x.dims(), x.stride(), format);
    window.output("im2col", h, w)?;
    if !x.device().is_cpu() {
        return Err(Error::InvalidArgument {
            operation: "im2col",
            argument: "device",
            value: format!("{:?}", x.device().location()),
            fix: "im2col runs on the CPU; move the tensor with .to_device(&Device::Cpu)",
        });
    }
    Ok(x.apply_op1(Im2Col { window: *window, format })?)
}

/// Below this many elements a loop runs on the calling thread: handing tiny blocks to rayon's
/// threads costs more than the copy.
const PARALLEL_ELEMENTS: usize = 1 << 15;

/// Run `f(block_index, block)` over `dst` in blocks of `block` elements, on rayon's threads
/// when `dst` is large.
fn for_each_block<T: Send>(dst: &mut [T], block: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    let block = block.max(1);
    if dst.len() >= PARALLEL_ELEMENTS {
        dst.par_chunks_mut(block).enumerate().for_each(|(i, b)| f(i, b));
    } else {
        dst.chunks_mut(block).enumerate().for_each(|(i, b)| f(i, b));
    }
}

/// An `(N, H, W, C)` tensor with the dims of `format`: itself, or a channels-first permuted
/// view (the engine's image ops compute in channels-last memory order).
fn with_dims_of(t: Tensor, format: DataFormat) -> candle_core::Result<Tensor> {
    match format {
        DataFormat::ChannelsLast => Ok(t),
        DataFormat::ChannelsFirst => t.permute((0, 3, 1, 2)),
    }
}

/// The gradient of an image tensor from its values in channels-last memory order, with the
/// dims of `format`.
fn image_grad<T: WithDType>(
    dx: Vec<T>,
    [n, c, h, w]: [usize; 4],
    format: DataFormat,
) -> candle_core::Result<Tensor> {
    with_dims_of(Tensor::from_vec(dx, (n, h, w, c), &candle_core::Device::Cpu)?, format)
}

#[derive(Debug, Clone, Copy)]
struct Im2Col {
    window: Window,
    format: DataFormat,
}

impl Im2Col {
    /// The input row and column a kernel tap reads for an output position, or `None` in the
    /// padding.
    fn source(&self, h: usize, w: usize, oy: usize, ox: usize, i: usize, j: usize) -> Option<(usize, usize)> {
        let win = &self.window;
        let y = (oy * win.stride.0 + i * win.dilation.0).checked_sub(win.padding.top)?;
        let x = (ox * win.stride.1 + j * win.dilation.1).checked_sub(win.padding.left)?;
        (y < h && x < w).then_some((y, x))
    }

    fn fwd<T: WithDType>(&self, src: &[T], l: &Layout) -> candle_core::Result<(Vec<T>, Shape)> {
        let ([n, c, h, w], [sn, sc, sh, sw]) = geometry(l.dims(), l.stride(), self.format);
        let (oh, ow) = self.window.output("im2col", h, w).map_err(candle_core::Error::wrap)?;
        let (kh, kw) = self.window.kernel;
        let cols = kh * kw * c;
        let base = l.start_offset();
        let mut dst = vec![T::zero(); n * oh * ow * cols];
        if dst.is_empty() {
            return Ok((dst, Shape::from((n * oh * ow, cols))));
        }
        // the last element any tap reads lies inside the buffer (safe indexing checks each
        // read too; this gives a clear error instead of a panic)
        let last = base + (n - 1) * sn + (c - 1) * sc + (h - 1) * sh + (w - 1) * sw;
        if last >= src.len() {
            candle_core::bail!("im2col: a view overruns its {}-element buffer", src.len());
        }
        // one block per sample: its oh * ow rows
        for_each_block(&mut dst, oh * ow * cols, |b, rows| {
            for (r, row) in rows.chunks_exact_mut(cols).enumerate() {
                let (oy, ox) = (r / ow, r % ow);
                for i in 0..kh {
                    for j in 0..kw {
                        if let Some((y, x)) = self.source(h, w, oy, ox, i, j) {
                            let at = base + b * sn + y * sh + x * sw;
                            let out = &mut row[(i * kw + j) * c..][..c];
                            if sc == 1 {
                                out.copy_from_slice(&src[at..at + c]);
                            } else {
                                for (ch, o) in out.iter_mut().enumerate() {
                                    *o = src[at + ch * sc];
                                }
                            }
                        }
                    }
                }
            }
        });
        Ok((dst, Shape::from((n * oh * ow, cols))))
    }

    /// `col2im`: the gradient of the input from the rows' gradient `g` (a 2-d layout).
    fn bwd_cpu<T: WithDType>(&self, dims: &[usize], g: &[T], gl: &Layout) -> candle_core::Result<Tensor> {
        let ([n, c, h, w], _) = geometry(dims, dims, self.format);
        let (oh, ow) = self.window.output("im2col", h, w).map_err(candle_core::Error::wrap)?;
        let (kh, kw) = self.window.kernel;
        let cols = kh * kw * c;
        let ([rows, gcols], [rs, cs]) = match (gl.dims(), gl.stride()) {
            ([r, k], [a, b]) => ([*r, *k], [*a, *b]),
            _ => candle_core::bail!("im2col: the gradient must be 2-d, got {:?}", gl.dims()),
        };
        if rows != n * oh * ow || gcols != cols {
            candle_core::bail!(
                "im2col: gradient of shape {:?}, expected ({}, {cols})",
                gl.dims(),
                n * oh * ow
            );
        }
        let g0 = gl.start_offset();
        // dx in (N, H, W, C) memory order: each tap's channels are a contiguous run of it
        let per_sample = h * w * c;
        let mut dx = vec![T::zero(); n * per_sample];
        // each sample's rows scatter into its own block of dx
        for_each_block(&mut dx, per_sample, |b, block| {
            for oy in 0..oh {
                for ox in 0..ow {
                    let r = (b * oh + oy) * ow + ox;
                    for i in 0..kh {
                        for j in 0..kw {
                            if let Some((y, x)) = self.source(h, w, oy, ox, i, j) {
                                let out = &mut block[(y * w + x) * c..][..c];
                                let from = g0 + r * rs + (i * kw + j) * c * cs;
                                if cs == 1 {
                                    for (o, v) in out.iter_mut().zip(&g[from..from + c]) {
                                        *o += *v;
                                    }
                                } else {
                                    for (ch, o) in out.iter_mut().enumerate() {
                                        *o += g[from + ch * cs];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        });
        image_grad(dx, [n, c, h, w], self.format)
    }
}

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        Ok(match s {
            CpuStorage::F32(v) => {
                let (d, sh) = self.fwd(v, l)?;
                (CpuStorage::F32(d), sh)
            }
            CpuStorage::F64(v) => {
                let (d, sh) = self.fwd(v, l)?;
                (CpuStorage::F64(d), sh)
            }
            other => candle_core::bail!("im2col: takes f32 or f64, got {:?}", other.dtype()),
        })
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (gs, gl) = grad.storage_and_layout();
        let candle_core::Storage::Cpu(gs) = &*gs else {
            candle_core::bail!("im2col: the gradient is not on the CPU")
        };
        let dims = arg.dims();
        let dx = match gs {
            CpuStorage::F32(g) => self.bwd_cpu(dims, g, gl)?,
            CpuStorage::F64(g) => self.bwd_cpu(dims, g, gl)?,
            other => candle_core::bail!("im2col: takes f32 or f64, got {:?}", other.dtype()),
        };
        Ok(Some(dx))
    }
}

/// The arguments of a convolution besides its operands: torch's `stride`, `padding`,
/// `dilation`, `groups`, or Keras's `strides`, `padding`, `dilation_rate`, `data_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    /// `(sh, sw)`.
    pub stride: (usize, usize),
    /// `(dh, dw)`.
    pub dilation: (usize, usize),
    /// Zero padding (see [`Padding::same`] for Keras's `"same"`).
    pub padding: Padding,
    /// Channel groups: input and output channels are split into `groups` blocks, block `g` of
    /// the output seeing block `g` of the input only (`groups == in_channels`: depthwise).
    pub groups: usize,
    /// The layout of the input, the output and the weight (see the module docs).
    pub format: DataFormat,
}

impl ConvSpec {
    /// Stride 1, no dilation, no padding, one group, in `format`.
    pub fn new(format: DataFormat) -> Self {
        ConvSpec { stride: (1, 1), dilation: (1, 1), padding: Padding::default(), groups: 1, format }
    }
}

/// A 2-d convolution (cross-correlation, as torch and Keras compute it) of `x` with `w`, plus
/// `b`, then `act`, differentiable in all three.
///
/// - [`DataFormat::ChannelsFirst`]: `x` `(N, C, H, W)`, `w` `(O, C / groups, kh, kw)`, output
///   `(N, O, oh, ow)` (torch's `conv2d`; returned as a channels-first view of a channels-last
///   buffer).
/// - [`DataFormat::ChannelsLast`]: `x` `(N, H, W, C)`, `w` `(kh, kw, C / groups, O)`, output
///   `(N, oh, ow, O)` (Keras's `Conv2D`).
///
/// `b` is `(O,)`. Each output size is `(size + padding - dilation * (k - 1) - 1) / stride + 1`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candle_numpy::train::conv::{conv2d, ConvSpec, DataFormat};
/// use candle_numpy::train::linear::Activation;
///
/// let x = Tensor::arange(0f32, 9.0, &Device::Cpu)?.reshape((1, 1, 3, 3))?;
/// let w = Tensor::ones((1, 1, 2, 2), candle_core::DType::F32, &Device::Cpu)?;
/// let y = conv2d(&x, &w, None, &ConvSpec::new(DataFormat::ChannelsFirst), Activation::Identity)?;
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [8.0, 12.0, 20.0, 24.0]);
/// # Ok::<(), candle_numpy::Error>(())
/// ```
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    spec: &ConvSpec,
    act: Activation,
) -> Result<Tensor> {
    check_image(x, "conv2d", spec.format)?;
    let ([n, c, h, wd], _) = geometry(x.dims(), x.stride(), spec.format);
    let (o, cg, kh, kw) = match (w.dims(), spec.format) {
        (&[o, cg, kh, kw], DataFormat::ChannelsFirst) | (&[kh, kw, cg, o], DataFormat::ChannelsLast) => {
            (o, cg, kh, kw)
        }
        (d, _) => {
            return Err(Error::ShapeMismatch {
                operation: "conv2d",
                detail: format!(
                    "the weight must be 4-d, {}, got shape {d:?}",
                    match spec.format {
                        DataFormat::ChannelsFirst => "(out_channels, in_channels / groups, kh, kw)",
                        DataFormat::ChannelsLast => "(kh, kw, in_channels / groups, out_channels)",
                    }
                ),
            })
        }
    };
    let g = spec.groups;
    if g == 0 || c % g != 0 || o % g != 0 || cg * g != c {
        return Err(Error::ShapeMismatch {
            operation: "conv2d",
            detail: format!(
                "the input has {c} channels and the weight {:?} takes {cg} per group for {o} outputs \
                 with groups={g}; in and out channels must be divisible by groups and the weight's \
                 input channels must be in_channels / groups",
                w.dims()
            ),
        });
    }
    if let Some(b) = b {
        if b.dims() != [o] {
            return Err(Error::ShapeMismatch {
                operation: "conv2d",
                detail: format!(
                    "the bias must have shape [{o}] (one per output channel), got {:?}",
                    b.dims()
                ),
            });
        }
    }
    let window =
        Window { kernel: (kh, kw), stride: spec.stride, dilation: spec.dilation, padding: spec.padding };
    let (oh, ow) = window.output("conv2d", h, wd)?;
    if !x.device().is_cpu() {
        return candle_conv2d(x, w, b, spec, act);
    }
    if !matches!(x.dtype(), DType::F32 | DType::F64) {
        // half precision: computed in f32 and cast back
        let f = |t: &Tensor| t.to_dtype(DType::F32);
        let b32 = b.map(f).transpose()?;
        let y = conv2d(&f(x)?, &f(w)?, b32.as_ref(), spec, act)?;
        return Ok(y.to_dtype(x.dtype())?);
    }
    let w = crate::dtype::cast(w, x.dtype())?;
    let b = b.map(|b| crate::dtype::cast(b, x.dtype())).transpose()?;
    // the weight with im2col's column order (kh, kw, c) on its input side, and the axis that
    // splits it by group: torch's (out, C, kh, kw) viewed as (out, kh, kw, C); Keras's kernel
    // (kh, kw, C, out) as it is
    let (w, channel_axis, out_axis, layout) = match spec.format {
        DataFormat::ChannelsFirst => (w.permute((0, 2, 3, 1))?, 1, 0, WeightLayout::OutIn),
        DataFormat::ChannelsLast => (w, 3, 3, WeightLayout::InOut),
    };
    let og = o / g;
    let mut parts = Vec::with_capacity(g);
    for gi in 0..g {
        let xg = if g == 1 { x.clone() } else { x.narrow(channel_axis, gi * cg, cg)? };
        let wg = if g == 1 { w.clone() } else { w.narrow(out_axis, gi * og, og)? };
        let wg = match layout {
            WeightLayout::OutIn => wg.reshape((og, kh * kw * cg))?,
            WeightLayout::InOut => wg.reshape((kh * kw * cg, og))?,
        };
        let bg = match &b {
            Some(b) if g > 1 => Some(b.narrow(0, gi * og, og)?),
            other => other.clone(),
        };
        let cols = im2col(&xg, &window, spec.format)?;
        parts.push(linear::linear(&cols, &wg, bg.as_ref(), layout, act)?);
    }
    let y = if g == 1 { parts.pop().expect("one group") } else { Tensor::cat(&parts, 1)? };
    Ok(with_dims_of(y.reshape((n, oh, ow, o))?, spec.format)?)
}

/// candle's own `conv2d`, for devices other than the CPU, where the arguments allow it.
fn candle_conv2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    spec: &ConvSpec,
    act: Activation,
) -> Result<Tensor> {
    let p = spec.padding;
    let square = spec.stride.0 == spec.stride.1
        && spec.dilation.0 == spec.dilation.1
        && p.top == p.bottom
        && p.top == p.left
        && p.left == p.right;
    if spec.format != DataFormat::ChannelsFirst || !square {
        return Err(Error::InvalidArgument {
            operation: "conv2d",
            argument: "device",
            value: format!(
                "{:?} with stride {:?}, dilation {:?}, padding {}, {:?}",
                x.device().location(),
                spec.stride,
                spec.dilation,
                spec.padding,
                spec.format
            ),
            fix: "off the CPU, convolutions run on candle's conv2d, which takes channels-first \
                  inputs with one stride, one dilation and the same padding on every side; move \
                  the model to the CPU for other arguments",
        });
    }
    let y = x.conv2d(w, p.top, spec.stride.0, spec.dilation.0, spec.groups)?;
    let y = match b {
        Some(b) => y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?)?,
        None => y,
    };
    Ok(match act {
        Activation::Identity => y,
        Activation::Relu => linear::relu(&y)?,
    })
}

/// A 1-d convolution: `x` `(N, C, L)` with `w` `(O, C / groups, k)` (channels-first), or `x`
/// `(N, L, C)` with `w` `(k, C / groups, O)` (channels-last), as a 2-d convolution over a
/// height of 1. `spec`'s second components (stride, dilation, left/right padding) apply; its
/// first are ignored.
pub fn conv1d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    spec: &ConvSpec,
    act: Activation,
) -> Result<Tensor> {
    if x.rank() != 3 || w.rank() != 3 {
        return Err(Error::ShapeMismatch {
            operation: "conv1d",
            detail: format!(
                "expects a rank-3 input ({}) and a rank-3 weight, got shapes {:?} and {:?}",
                match spec.format {
                    DataFormat::ChannelsFirst => "N, C, L",
                    DataFormat::ChannelsLast => "N, L, C",
                },
                x.dims(),
                w.dims()
            ),
        });
    }
    let spec2 = ConvSpec {
        stride: (1, spec.stride.1),
        dilation: (1, spec.dilation.1),
        padding: row(spec.padding),
        ..*spec
    };
    let axis = sequence_axis(spec.format);
    let w4 = match spec.format {
        DataFormat::ChannelsFirst => w.unsqueeze(2)?,
        DataFormat::ChannelsLast => w.unsqueeze(0)?,
    };
    Ok(conv2d(&x.unsqueeze(axis)?, &w4, b, &spec2, act)?.squeeze(axis)?)
}

/// The axis a sequence `(N, C, L)` / `(N, L, C)` gains to become a one-row image.
fn sequence_axis(format: DataFormat) -> usize {
    match format {
        DataFormat::ChannelsFirst => 2,
        DataFormat::ChannelsLast => 1,
    }
}

/// The left and right padding of `p` alone (a sequence is one row: nothing above or below).
fn row(p: Padding) -> Padding {
    Padding { top: 0, bottom: 0, ..p }
}

/// What a pooling window computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// The window's maximum (NaN when the window holds one, as torch); the gradient goes to
    /// the window's first maximum.
    Max,
    /// The window's mean. `count_padding`: divide by the window's size within the padded
    /// input (torch's default `count_include_pad=True`), or by the number of real elements
    /// (Keras's `"same"` padding, torch's `count_include_pad=False`).
    Avg {
        /// Whether padded zeros count in the divisor.
        count_padding: bool,
    },
}

/// Max or average pooling over `window` (padding reads as `-inf` for max, zeros for average),
/// output with `x`'s dims (computed in channels-last memory order: a channels-first result is
/// a permuted view); differentiable in `x`. Each side's padding may be at
/// most half the (dilated) window, as torch requires, so that every window holds an element.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candle_numpy::train::conv::{pool2d, DataFormat, PoolKind, Window};
///
/// let x = Tensor::arange(0f32, 16.0, &Device::Cpu)?.reshape((1, 1, 4, 4))?;
/// let mut w = Window::new((2, 2));
/// w.stride = (2, 2);
/// let y = pool2d(&x, PoolKind::Max, &w, DataFormat::ChannelsFirst)?;
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [5.0, 7.0, 13.0, 15.0]);
/// # Ok::<(), candle_numpy::Error>(())
/// ```
pub fn pool2d(x: &Tensor, kind: PoolKind, window: &Window, format: DataFormat) -> Result<Tensor> {
    check_image(x, "pool2d", format)?;
    let ([_, _, h, w], _) = geometry(x.dims(), x.stride(), format);
    window.output("pool2d", h, w)?;
    let p = window.padding;
    let (eh, ew) =
        (window.dilation.0 * (window.kernel.0 - 1) + 1, window.dilation.1 * (window.kernel.1 - 1) + 1);
    if p.top.max(p.bottom) * 2 > eh || p.left.max(p.right) * 2 > ew {
        return Err(Error::InvalidArgument {
            operation: "pool2d",
            argument: "padding",
            value: format!("{p} for a window of {:?}", window.kernel),
            fix: "pad each side by at most half the window (as torch requires)",
        });
    }
    if !x.device().is_cpu() {
        let plain = window.padding == Padding::default()
            && window.dilation == (1, 1)
            && window.kernel == window.stride;
        if format != DataFormat::ChannelsFirst || !plain {
            return Err(Error::InvalidArgument {
                operation: "pool2d",
                argument: "device",
                value: format!(
                    "{:?} with a {:?} window, stride {:?}, dilation {:?}, padding {}",
                    x.device().location(),
                    window.kernel,
                    window.stride,
                    window.dilation,
                    window.padding
                ),
                fix: "off the CPU, pooling runs on candle's, which takes channels-first inputs with \
                      non-overlapping unpadded windows; move the model to the CPU for other windows",
            });
        }
        return Ok(match kind {
            PoolKind::Max => x.max_pool2d_with_stride(window.kernel, window.stride)?,
            PoolKind::Avg { .. } => x.avg_pool2d_with_stride(window.kernel, window.stride)?,
        });
    }
    if !matches!(x.dtype(), DType::F32 | DType::F64) {
        let y = pool2d(&x.to_dtype(DType::F32)?, kind, window, format)?;
        return Ok(y.to_dtype(x.dtype())?);
    }
    Ok(with_dims_of(x.apply_op1(Pool { kind, window: *window, format })?, format)?)
}

/// 1-d pooling of a sequence `(N, C, L)` (channels-first) or `(N, L, C)` (channels-last) as
/// [`pool2d`] over a height of 1: the second components of `window`'s kernel, stride and
/// dilation and its left/right padding apply, the first are ignored (as [`conv1d`]'s).
pub fn pool1d(x: &Tensor, kind: PoolKind, window: &Window, format: DataFormat) -> Result<Tensor> {
    if x.rank() != 3 {
        return Err(Error::ShapeMismatch {
            operation: "pool1d",
            detail: format!("expects a rank-3 input (a batch of sequences), got shape {:?}", x.dims()),
        });
    }
    let w1 = Window {
        kernel: (1, window.kernel.1),
        stride: (1, window.stride.1),
        dilation: (1, window.dilation.1),
        padding: row(window.padding),
    };
    let axis = sequence_axis(format);
    Ok(pool2d(&x.unsqueeze(axis)?, kind, &w1, format)?.squeeze(axis)?)
}

#[derive(Debug, Clone, Copy)]
struct Pool {
    kind: PoolKind,
    window: Window,
    format: DataFormat,
}

impl Pool {
    /// The input positions of output `(oy, ox)`'s window that lie inside the input, and the
    /// window's divisor for the average.
    fn taps(&self, h: usize, w: usize, oy: usize, ox: usize, out: &mut Vec<(usize, usize)>) -> usize {
        let win = &self.window;
        out.clear();
        let (y0, x0) = (oy * win.stride.0, ox * win.stride.1);
        for i in 0..win.kernel.0 {
            for j in 0..win.kernel.1 {
                let y = (y0 + i * win.dilation.0).checked_sub(win.padding.top);
                let x = (x0 + j * win.dilation.1).checked_sub(win.padding.left);
                if let (Some(y), Some(x)) = (y, x) {
                    if y < h && x < w {
                        out.push((y, x));
                    }
                }
            }
        }
        match self.kind {
            PoolKind::Avg { count_padding: true } => {
                // torch: the window clipped to the padded input
                let (ph, pw) =
                    (h + win.padding.top + win.padding.bottom, w + win.padding.left + win.padding.right);
                let rows = (y0 + win.kernel.0).min(ph) - y0;
                let cols = (x0 + win.kernel.1).min(pw) - x0;
                rows * cols
            }
            _ => out.len(),
        }
    }

    /// The output, computed in `(N, oh, ow, C)` memory order (each window's channels are one
    /// contiguous run), with the dims of the input's format.
    fn fwd<T: WithDType>(&self, src: &[T], l: &Layout) -> candle_core::Result<(Vec<T>, usize, usize)> {
        let ([n, c, h, w], [sn, sc, sh, sw]) = geometry(l.dims(), l.stride(), self.format);
        let (oh, ow) = self.window.output("pool2d", h, w).map_err(candle_core::Error::wrap)?;
        let base = l.start_offset();
        let per = oh * ow * c;
        let mut dst = vec![T::zero(); n * per];
        if per == 0 {
            return Ok((dst, oh, ow));
        }
        let kind = self.kind;
        for_each_block(&mut dst, per, |b, block| {
            let mut taps = Vec::new();
            for (p, out) in block.chunks_exact_mut(c).enumerate() {
                let divisor = self.taps(h, w, p / ow, p % ow, &mut taps);
                // each tap's channels: a contiguous run when the input is channels-last in memory
                let lane =
                    |y: usize, x: usize| src[base + b * sn + y * sh + x * sw..].iter().step_by(sc).take(c);
                match kind {
                    PoolKind::Max => {
                        for (t, &(y, x)) in taps.iter().enumerate() {
                            if t == 0 {
                                out.iter_mut().zip(lane(y, x)).for_each(|(o, &v)| *o = v);
                            } else {
                                for (o, &v) in out.iter_mut().zip(lane(y, x)) {
                                    // `>`, and a NaN replaces a number: NaN propagates, as torch's
                                    if v > *o || is_nan(v) && !is_nan(*o) {
                                        *o = v;
                                    }
                                }
                            }
                        }
                    }
                    PoolKind::Avg { .. } => {
                        for &(y, x) in &taps {
                            out.iter_mut().zip(lane(y, x)).for_each(|(o, &v)| *o += v);
                        }
                        let d = T::from_f64(divisor as f64);
                        out.iter_mut().for_each(|o| *o /= d);
                    }
                }
            }
        });
        Ok((dst, oh, ow))
    }

    fn bwd_cpu<T: WithDType>(
        &self,
        src: &[T],
        l: &Layout,
        g: &[T],
        gl: &Layout,
    ) -> candle_core::Result<Tensor> {
        let ([n, c, h, w], [sn, sc, sh, sw]) = geometry(l.dims(), l.stride(), self.format);
        let (oh, ow) = self.window.output("pool2d", h, w).map_err(candle_core::Error::wrap)?;
        let ([_, _, gy, gx], [gn, gc, gys, gxs]) = geometry(gl.dims(), gl.stride(), self.format);
        if (gy, gx) != (oh, ow) {
            candle_core::bail!("pool2d: gradient of shape {:?} for an output of ({oh}, {ow})", gl.dims());
        }
        let (base, g0) = (l.start_offset(), gl.start_offset());
        // dx in (N, H, W, C) memory order
        let per = h * w * c;
        let mut dx = vec![T::zero(); n * per];
        let kind = self.kind;
        for_each_block(&mut dx, per, |b, block| {
            let mut taps = Vec::new();
            // per channel: the first maximum's tap and value so far
            let mut best: Vec<(usize, T)> = vec![(0, T::zero()); c];
            for oy in 0..oh {
                for ox in 0..ow {
                    let divisor = self.taps(h, w, oy, ox, &mut taps);
                    let gat = g0 + b * gn + oy * gys + ox * gxs;
                    match kind {
                        PoolKind::Max => {
                            for (t, &(y, x)) in taps.iter().enumerate() {
                                let at = base + b * sn + y * sh + x * sw;
                                for (ch, slot) in best.iter_mut().enumerate() {
                                    let v = src[at + ch * sc];
                                    if t == 0 || v > slot.1 || is_nan(v) && !is_nan(slot.1) {
                                        *slot = (t, v);
                                    }
                                }
                            }
                            if !taps.is_empty() {
                                for (ch, &(t, _)) in best.iter().enumerate() {
                                    let (y, x) = taps[t];
                                    block[(y * w + x) * c + ch] += g[gat + ch * gc];
                                }
                            }
                        }
                        PoolKind::Avg { .. } => {
                            let d = T::from_f64(divisor as f64);
                            for &(y, x) in &taps {
                                let out = &mut block[(y * w + x) * c..][..c];
                                for (ch, o) in out.iter_mut().enumerate() {
                                    *o += g[gat + ch * gc] / d;
                                }
                            }
                        }
                    }
                }
            }
        });
        image_grad(dx, [n, c, h, w], self.format)
    }
}

/// NaN is the one value unequal to itself (`WithDType` has no `is_nan`; this compiles to one
/// comparison, where a conversion to f64 would not).
#[allow(clippy::eq_op)]
fn is_nan<T: WithDType>(v: T) -> bool {
    v != v
}

impl CustomOp1 for Pool {
    fn name(&self) -> &'static str {
        "pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let n = l.dims()[0];
        let c = geometry(l.dims(), l.stride(), self.format).0[1];
        let (storage, oh, ow) = match s {
            CpuStorage::F32(v) => {
                let (d, oh, ow) = self.fwd(v, l)?;
                (CpuStorage::F32(d), oh, ow)
            }
            CpuStorage::F64(v) => {
                let (d, oh, ow) = self.fwd(v, l)?;
                (CpuStorage::F64(d), oh, ow)
            }
            other => candle_core::bail!("pool2d: takes f32 or f64, got {:?}", other.dtype()),
        };
        // a custom op's output is contiguous in its shape: channels-last here; channels-first
        // callers get a permuted view (see `pool2d`)
        Ok((storage, Shape::from((n, oh, ow, c))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        // the op's own output is (N, oh, ow, C); its gradient arrives in that shape
        let (xs, xl) = arg.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (candle_core::Storage::Cpu(xs), candle_core::Storage::Cpu(gs)) = (&*xs, &*gs) else {
            candle_core::bail!("pool2d: the backward pass runs on the CPU")
        };
        let gl_as_format = match self.format {
            DataFormat::ChannelsLast => gl.clone(),
            // present the (N, oh, ow, C) gradient with channels-first dims, as `geometry` reads
            DataFormat::ChannelsFirst => gl.permute(&[0, 3, 1, 2])?,
        };
        let dx = match (xs, gs) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => self.bwd_cpu(x, xl, g, &gl_as_format)?,
            (CpuStorage::F64(x), CpuStorage::F64(g)) => self.bwd_cpu(x, xl, g, &gl_as_format)?,
            _ => candle_core::bail!(
                "pool2d: takes f32 or f64 of one dtype, got {:?} and {:?}",
                arg.dtype(),
                grad.dtype()
            ),
        };
        Ok(Some(dx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;
    use candle_core::{Device, Var};

    fn values(n: usize, rng: &mut Rng) -> Vec<f64> {
        (0..n).map(|_| rng.below(17) as f64 / 8.0 - 1.0).collect()
    }

    /// The direct definition, channels-first, in f64: y[b, o, oy, ox] = bias[o] + sum over the
    /// group's channels and taps of x[b, c, y, x] * w[o, c', i, j].
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: &[f64],
        xd: [usize; 4],
        w: &[f64],
        wd: [usize; 4],
        b: &[f64],
        spec: &ConvSpec,
    ) -> (Vec<f64>, [usize; 4]) {
        let [n, c, h, wi] = xd;
        let [o, cg, kh, kw] = wd;
        let win =
            Window { kernel: (kh, kw), stride: spec.stride, dilation: spec.dilation, padding: spec.padding };
        let (oh, ow) = win.output("ref", h, wi).unwrap();
        let og = o / spec.groups;
        let mut y = vec![0.0; n * o * oh * ow];
        for bi in 0..n {
            for oc in 0..o {
                let g = oc / og;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = b.get(oc).copied().unwrap_or(0.0);
                        for ci in 0..cg {
                            let ch = g * cg + ci;
                            for i in 0..kh {
                                for j in 0..kw {
                                    let yy = (oy * spec.stride.0 + i * spec.dilation.0) as isize
                                        - spec.padding.top as isize;
                                    let xx = (ox * spec.stride.1 + j * spec.dilation.1) as isize
                                        - spec.padding.left as isize;
                                    if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < wi {
                                        s += x[((bi * c + ch) * h + yy as usize) * wi + xx as usize]
                                            * w[((oc * cg + ci) * kh + i) * kw + j];
                                    }
                                }
                            }
                        }
                        y[((bi * o + oc) * oh + oy) * ow + ox] = s;
                    }
                }
            }
        }
        (y, [n, o, oh, ow])
    }

    fn specs() -> Vec<(ConvSpec, [usize; 4], [usize; 4])> {
        let mut out = Vec::new();
        let cf = DataFormat::ChannelsFirst;
        out.push((ConvSpec::new(cf), [2, 3, 5, 6], [4, 3, 3, 3]));
        out.push((
            ConvSpec {
                stride: (2, 1),
                dilation: (1, 2),
                padding: Padding { top: 1, bottom: 0, left: 2, right: 1 },
                ..ConvSpec::new(cf)
            },
            [2, 2, 7, 6],
            [3, 2, 2, 3],
        ));
        out.push((
            ConvSpec { groups: 2, padding: Padding::symmetric(1, 1), ..ConvSpec::new(cf) },
            [1, 4, 4, 4],
            [6, 2, 3, 3],
        ));
        out.push((ConvSpec { groups: 3, stride: (2, 2), ..ConvSpec::new(cf) }, [2, 3, 5, 5], [3, 1, 2, 2]));
        out
    }

    /// (N, C, H, W) data to (N, H, W, C), and a torch weight (O, C, kh, kw) to Keras's (kh, kw, C, O).
    fn to_last(t: &Tensor, weight: bool) -> Tensor {
        if weight { t.permute((2, 3, 1, 0)) } else { t.permute((0, 2, 3, 1)) }.unwrap().contiguous().unwrap()
    }

    #[test]
    fn convolution_matches_the_definition_in_both_layouts_with_exact_gradients() -> Result<()> {
        let mut rng = Rng::new(5);
        let dev = Device::Cpu;
        for (spec, xd, wd) in specs() {
            let xv = values(xd.iter().product(), &mut rng);
            let wv = values(wd.iter().product(), &mut rng);
            let bv = values(wd[0], &mut rng);
            let (want, yd) = reference(&xv, xd, &wv, wd, &bv, &spec);
            let x = Var::from_tensor(&Tensor::from_vec(xv.clone(), &xd, &dev)?)?;
            let w = Var::from_tensor(&Tensor::from_vec(wv.clone(), &wd, &dev)?)?;
            let b = Var::from_tensor(&Tensor::from_vec(bv.clone(), wd[0], &dev)?)?;
            let y = conv2d(&x, &w, Some(&b), &spec, Activation::Identity)?;
            assert_eq!(y.dims(), yd, "{spec:?}");
            assert_eq!(y.flatten_all()?.to_vec1::<f64>()?, want, "{spec:?}");
            // channels-last: the same numbers, transposed
            let last = ConvSpec { format: DataFormat::ChannelsLast, ..spec };
            let yl = conv2d(&to_last(&x, false), &to_last(&w, true), Some(&b), &last, Activation::Identity)?;
            assert_eq!(yl.permute((0, 3, 1, 2))?.flatten_all()?.to_vec1::<f64>()?, want, "{spec:?}");
            // the objective sum(y * r) is linear in x and in w: its gradient entry k is exactly
            // f(v + e_k) - f(v) (all values are multiples of 1/64, so every sum is exact)
            let r = values(y.elem_count(), &mut rng);
            let rt = Tensor::from_vec(r.clone(), &yd, &dev)?;
            let grads = (&y * &rt)?.sum_all()?.backward()?;
            let objective = |xv: &[f64], wv: &[f64]| {
                let (y, _) = reference(xv, xd, wv, wd, &bv, &spec);
                y.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>()
            };
            let base = objective(&xv, &wv);
            let gx = grads.get(&x).unwrap().flatten_all()?.to_vec1::<f64>()?;
            for k in 0..xv.len() {
                let mut e = xv.clone();
                e[k] += 1.0;
                assert_eq!(gx[k], objective(&e, &wv) - base, "dx[{k}] {spec:?}");
            }
            let gw = grads.get(&w).unwrap().flatten_all()?.to_vec1::<f64>()?;
            for k in 0..wv.len() {
                let mut e = wv.clone();
                e[k] += 1.0;
                assert_eq!(gw[k], objective(&xv, &e) - base, "dw[{k}] {spec:?}");
            }
            // the bias gradient: r summed over every position of its channel
            let gb = grads.get(&b).unwrap().to_vec1::<f64>()?;
            let want_gb = rt.sum((0, 2, 3))?.to_vec1::<f64>()?;
            assert_eq!(gb, want_gb);
            // channels-last gradients are the channels-first ones, transposed
            let (xl, wl) = (Var::from_tensor(&to_last(&x, false))?, Var::from_tensor(&to_last(&w, true))?);
            let yl = conv2d(&xl, &wl, Some(&b), &last, Activation::Identity)?;
            let gl = (&yl * &rt.permute((0, 2, 3, 1))?)?.sum_all()?.backward()?;
            assert_eq!(gl.get(&xl).unwrap().permute((0, 3, 1, 2))?.flatten_all()?.to_vec1::<f64>()?, gx);
            assert_eq!(gl.get(&wl).unwrap().permute((3, 2, 0, 1))?.flatten_all()?.to_vec1::<f64>()?, gw);
        }
        Ok(())
    }

    #[test]
    fn relu_fused_and_f32_and_untracked_input() -> Result<()> {
        let dev = Device::Cpu;
        let mut rng = Rng::new(2);
        let (spec, xd, wd) = specs().remove(1);
        let xv = values(xd.iter().product(), &mut rng);
        let wv = values(wd.iter().product(), &mut rng);
        let (want, _) = reference(&xv, xd, &wv, wd, &[], &spec);
        let x = Tensor::from_vec(xv.iter().map(|&v| v as f32).collect::<Vec<_>>(), &xd, &dev)?;
        let w = Var::from_tensor(&Tensor::from_vec(
            wv.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            &wd,
            &dev,
        )?)?;
        let y = conv2d(&x, &w, None, &spec, Activation::Relu)?;
        let got = y.flatten_all()?.to_vec1::<f32>()?;
        let relu: Vec<f32> = want.iter().map(|&v| v.max(0.0) as f32).collect();
        assert_eq!(got, relu);
        let grads = y.sum_all()?.backward()?;
        assert!(grads.get(&x).is_none(), "the data batch gets no gradient");
        assert_eq!(grads.get(&w).unwrap().dims(), wd);
        Ok(())
    }

    #[test]
    fn same_padding_and_conv1d() -> Result<()> {
        // Keras "same": 5 wide, kernel 4, stride 2 -> 3 outputs, total padding 3 = 1 left + 2 right
        let p = Padding::same((1, 5), (1, 4), (1, 2), (1, 1));
        assert_eq!((p.left, p.right, p.top, p.bottom), (1, 2, 0, 0));
        let dev = Device::Cpu;
        let x = Tensor::new(&[[[1f32], [2.0], [3.0], [4.0], [5.0]]], &dev)?; // (N=1, L=5, C=1)
        let w = Tensor::ones((4, 1, 1), DType::F32, &dev)?; // (k, C, O)
        let spec = ConvSpec { stride: (1, 2), padding: p, ..ConvSpec::new(DataFormat::ChannelsLast) };
        let y = conv1d(&x, &w, None, &spec, Activation::Identity)?;
        // windows [pad, 1, 2, 3], [2, 3, 4, 5], [4, 5, pad, pad]
        assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [6.0, 14.0, 9.0]);
        Ok(())
    }

    #[test]
    fn pooling_overlapping_padded_windows_and_gradients() -> Result<()> {
        let dev = Device::Cpu;
        // a 1x1x4x5 input with a tie
        let xv: Vec<f64> =
            vec![1., 5., 2., 0., 3., 4., 5., 1., 7., 2., 0., 1., 9., 1., 1., 2., 2., 3., 8., 6.];
        let x = Var::from_tensor(&Tensor::from_vec(xv.clone(), (1, 1, 4, 5), &dev)?)?;
        let win =
            Window { kernel: (3, 3), stride: (2, 2), dilation: (1, 1), padding: Padding::symmetric(1, 1) };
        let y = pool2d(&x, PoolKind::Max, &win, DataFormat::ChannelsFirst)?;
        assert_eq!(y.dims(), [1, 1, 2, 3]);
        assert_eq!(y.flatten_all()?.to_vec1::<f64>()?, [5., 7., 7., 5., 9., 8.]);
        let g = y.sum_all()?.backward()?;
        // each output's gradient 1 lands on its window's first maximum: the first window's tie
        // goes to the 5 at (0, 1), not the one at (1, 1) (which the window below it takes);
        // the 7 at (1, 3) is the maximum of two overlapping windows
        let mut want = vec![0.0; 20];
        for (i, v) in [(1, 1.0), (8, 2.0), (6, 1.0), (12, 1.0), (18, 1.0)] {
            want[i] = v;
        }
        assert_eq!(g.get(&x).unwrap().flatten_all()?.to_vec1::<f64>()?, want);
        // average, torch's count_include_pad=True: the corner window divides by 9
        let a = pool2d(&x, PoolKind::Avg { count_padding: true }, &win, DataFormat::ChannelsFirst)?;
        let a0 = a.flatten_all()?.to_vec1::<f64>()?[0];
        assert_eq!(a0, (1. + 5. + 4. + 5.) / 9.0);
        let k = pool2d(&x, PoolKind::Avg { count_padding: false }, &win, DataFormat::ChannelsFirst)?;
        assert_eq!(k.flatten_all()?.to_vec1::<f64>()?[0], (1. + 5. + 4. + 5.) / 4.0);
        // the average's gradient: each window's 1/divisor on its real elements
        let ga = a.sum_all()?.backward()?.get(&x).unwrap().flatten_all()?.to_vec1::<f64>()?;
        assert_eq!(ga[0], 1.0 / 9.0);
        assert_eq!(ga[6], 4.0 / 9.0, "(1, 1) lies in four windows");
        // channels-last gives the same numbers
        let xl = x.permute((0, 2, 3, 1))?;
        let yl = pool2d(&xl, PoolKind::Max, &win, DataFormat::ChannelsLast)?;
        assert_eq!(yl.dims(), [1, 2, 3, 1]);
        assert_eq!(yl.flatten_all()?.to_vec1::<f64>()?, [5., 7., 7., 5., 9., 8.]);
        Ok(())
    }

    #[test]
    fn max_pool_propagates_nan_and_refuses_wide_padding() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[[[1f32, f32::NAN], [3.0, 2.0]]]], &dev)?;
        let win = Window { stride: (2, 2), ..Window::new((2, 2)) };
        let y = pool2d(&x, PoolKind::Max, &win, DataFormat::ChannelsFirst)?;
        assert!(y.flatten_all()?.to_vec1::<f32>()?[0].is_nan());
        let wide = Window { padding: Padding::symmetric(2, 2), ..Window::new((2, 2)) };
        let err = pool2d(&x, PoolKind::Max, &wide, DataFormat::ChannelsFirst).unwrap_err().to_string();
        assert!(err.contains("half the window"), "{err}");
        Ok(())
    }

    #[test]
    fn shape_errors_name_the_problem() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((1, 3, 4, 4), DType::F32, &dev).unwrap();
        let w = Tensor::zeros((2, 2, 3, 3), DType::F32, &dev).unwrap();
        let err = conv2d(&x, &w, None, &ConvSpec::new(DataFormat::ChannelsFirst), Activation::Identity)
            .unwrap_err();
        assert!(err.to_string().contains("divisible by groups"), "{err}");
        let w = Tensor::zeros((2, 3, 5, 5), DType::F32, &dev).unwrap();
        let err = conv2d(&x, &w, None, &ConvSpec::new(DataFormat::ChannelsFirst), Activation::Identity)
            .unwrap_err();
        assert!(err.to_string().contains("smaller than the kernel"), "{err}");
        let err = conv2d(
            &x.flatten_all().unwrap(),
            &w,
            None,
            &ConvSpec::new(DataFormat::ChannelsFirst),
            Activation::Identity,
        )
        .unwrap_err();
        assert!(err.to_string().contains("rank 4"), "{err}");
    }
}
