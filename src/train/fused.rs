//! Optimizer updates as fused, in-place kernels over a CPU parameter's own storage.
//!
//! candle-nn's optimizers update a parameter with a chain of whole-tensor ops (about ten for
//! Adam), each allocating a fresh buffer, and `Var::set` then copies the result back. Here one
//! pass over the parameter, its gradient and the optimizer's state does the same arithmetic in
//! place: no allocation per step, each buffer read (and written) once, large parameters split
//! over rayon's threads. The state (SGD's momentum buffer, Adam's moments) is plain `Vec`s
//! owned by the stepper. The formulas are those of the `optim` module's table, computed in the
//! parameter's own precision (f32 or f64), as candle's ops compute them.

use std::sync::Mutex;

use candle_core::{CpuStorage, DType, Layout, Tensor, Var};
use rayon::prelude::*;

use super::optim::MomentumStyle;
use crate::error::Result;

/// Elements per parallel chunk: a parameter of fewer than two chunks is updated on the calling
/// thread (a rayon hand-off costs more than the update).
const CHUNK: usize = 1 << 15;

/// Optimizer state of one parameter, in its dtype: SGD with momentum keeps one buffer, Adam
/// two (the moments), plain SGD none.
#[derive(Debug)]
pub(crate) enum State {
    F32(Vec<f32>, Vec<f32>),
    F64(Vec<f64>, Vec<f64>),
}

/// Whether `var` can be stepped by the fused kernels: a CPU f32/f64 variable (variables are
/// contiguous, over storage of their own).
pub(crate) fn eligible(var: &Var) -> bool {
    var.device().is_cpu() && matches!(var.dtype(), DType::F32 | DType::F64) && var.is_contiguous()
}

/// A parameter and its state. Buffers start at zero, which is torch's "the first buffer is
/// the first gradient" (no dampening) and Keras's zero velocity alike.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) var: Var,
    state: Mutex<State>,
}

impl Slot {
    /// `buffers`: how many state buffers the rule keeps (0, 1 or 2).
    pub(crate) fn new(var: Var, buffers: usize) -> Self {
        let n = var.elem_count();
        let len = |k: usize| if buffers > k { n } else { 0 };
        let state = match var.dtype() {
            DType::F64 => State::F64(vec![0.0; len(0)], vec![0.0; len(1)]),
            _ => State::F32(vec![0.0; len(0)], vec![0.0; len(1)]),
        };
        Slot { var, state: Mutex::new(state) }
    }
}

/// The update rule and its per-step scalars.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    /// SGD: step size, momentum (0: none), Nesterov, buffer style, L2 factor.
    Sgd { lr: f64, momentum: f64, nesterov: bool, style: MomentumStyle, l2: f64 },
    /// Adam: step size, betas, eps, L2 factor, decoupled decay, this step's bias corrections.
    Adam { lr: f64, beta1: f64, beta2: f64, eps: f64, l2: f64, decoupled: f64, scale_m: f64, scale_v: f64 },
}

/// The gradient as a contiguous tensor in the parameter's dtype, over storage of its own (the
/// kernel holds the parameter's storage for writing while it reads the gradient's).
fn own_contiguous(g: &Tensor, var: &Var) -> Result<Tensor> {
    let g = crate::dtype::cast(g, var.dtype())?;
    Ok(if crate::export::same_storage(&g, var.as_tensor()) || !g.is_contiguous() {
        g.copy()?.contiguous()?
    } else {
        g
    })
}

/// One step of `rule` for `slot` from gradient `g`, in place.
pub(crate) fn step(slot: &Slot, g: &Tensor, rule: Rule) -> Result<()> {
    let g = own_contiguous(g, &slot.var)?;
    slot.var.as_tensor().inplace_op2(&g, &Kernel { state: &slot.state, rule })?;
    Ok(())
}

struct Kernel<'a> {
    state: &'a Mutex<State>,
    rule: Rule,
}

/// `buf` in `CHUNK`-sized pieces, or, for a state buffer the rule does not keep (empty), an
/// empty slice for each of the `n_chunks` pieces of the parameter.
fn chunks_or_empty<T: Send>(buf: &mut [T], n_chunks: usize) -> Vec<&mut [T]> {
    if buf.is_empty() {
        (0..n_chunks).map(|_| &mut [][..]).collect()
    } else {
        buf.chunks_mut(CHUNK).collect()
    }
}

/// `f` over matching chunks of the parameter, the gradient and `k` state buffers (the others
/// empty), in parallel when the parameter is large.
fn chunked<T: Send + Sync>(
    w: &mut [T],
    g: &[T],
    a: &mut [T],
    b: &mut [T],
    f: impl Fn(&mut [T], &[T], &mut [T], &mut [T]) + Sync + Send,
) {
    if w.len() < 2 * CHUNK {
        return f(w, g, a, b);
    }
    let n_chunks = w.len().div_ceil(CHUNK);
    w.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(chunks_or_empty(a, n_chunks))
        .zip(chunks_or_empty(b, n_chunks))
        .for_each(|(((w, g), a), b)| f(w, g, a, b));
}

macro_rules! update {
    ($t:ty, $w:expr, $g:expr, $a:expr, $b:expr, $rule:expr) => {{
        let (w, g, a, b): (&mut [$t], &[$t], &mut [$t], &mut [$t]) = ($w, $g, $a, $b);
        match $rule {
            Rule::Sgd { lr, momentum, nesterov, style, l2 } => {
                let (lr, m, l2) = (lr as $t, momentum as $t, l2 as $t);
                chunked(w, g, a, b, move |w, g, buf, _| {
                    for i in 0..w.len() {
                        let gi = g[i] + l2 * w[i];
                        if m == 0.0 {
                            w[i] -= lr * gi;
                            continue;
                        }
                        match style {
                            MomentumStyle::Torch => {
                                let bi = m * buf[i] + gi;
                                buf[i] = bi;
                                w[i] -= lr * if nesterov { gi + m * bi } else { bi };
                            }
                            MomentumStyle::Keras => {
                                let step = -lr * gi;
                                let vi = m * buf[i] + step;
                                buf[i] = vi;
                                w[i] += if nesterov { m * vi + step } else { vi };
                            }
                        }
                    }
                });
            }
            Rule::Adam { lr, beta1, beta2, eps, l2, decoupled, scale_m, scale_v } => {
                let keep = (1.0 - lr * decoupled) as $t;
                let (lr, b1, b2, eps, l2) = (lr as $t, beta1 as $t, beta2 as $t, eps as $t, l2 as $t);
                // the constants in f64 first, then rounded once (as candle's ops receive them)
                let (sm, sv) = (scale_m as $t, scale_v as $t);
                let (c1, c2) = ((1.0 - beta1) as $t, (1.0 - beta2) as $t);
                chunked(w, g, a, b, move |w, g, m, v| {
                    for i in 0..w.len() {
                        let gi = g[i] + l2 * w[i];
                        let mi = b1 * m[i] + c1 * gi;
                        let vi = b2 * v[i] + c2 * (gi * gi);
                        m[i] = mi;
                        v[i] = vi;
                        w[i] = w[i] * keep - lr * ((mi * sm) / ((vi * sv).sqrt() + eps));
                    }
                });
            }
        }
    }};
}

impl candle_core::InplaceOp2 for Kernel<'_> {
    fn name(&self) -> &'static str {
        "fused-optimizer-step"
    }

    fn cpu_fwd(
        &self,
        w: &mut CpuStorage,
        lw: &Layout,
        g: &CpuStorage,
        lg: &Layout,
    ) -> candle_core::Result<()> {
        let (Some((w0, w1)), Some((g0, g1))) = (lw.contiguous_offsets(), lg.contiguous_offsets()) else {
            candle_core::bail!("fused optimizer step: the parameter and its gradient must be contiguous");
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match (w, g, &mut *state) {
            (CpuStorage::F32(w), CpuStorage::F32(g), State::F32(a, b)) => {
                update!(f32, &mut w[w0..w1], &g[g0..g1], a.as_mut_slice(), b.as_mut_slice(), self.rule)
            }
            (CpuStorage::F64(w), CpuStorage::F64(g), State::F64(a, b)) => {
                update!(f64, &mut w[w0..w1], &g[g0..g1], a.as_mut_slice(), b.as_mut_slice(), self.rule)
            }
            _ => candle_core::bail!("fused optimizer step: parameter, gradient and state dtypes differ"),
        }
        Ok(())
    }
}
