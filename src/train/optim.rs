//! Optimizer steppers: SGD (with momentum, Nesterov, L2 weight decay) and Adam / AdamW, with
//! the conventions of both frameworks as parameters.
//!
//! | rule | PyTorch | Keras | here |
//! | --- | --- | --- | --- |
//! | SGD momentum | `b = m*b + g; w -= lr*b` (Nesterov: `w -= lr*(g + m*b)`) | `v = m*v - lr*g; w += v` (Nesterov: `w += m*v - lr*g`) | [`MomentumStyle::Torch`] / [`MomentumStyle::Keras`] |
//! | weight decay | `Adam`/`SGD`: `g += wd*w` (L2); `AdamW`: `w -= lr*wd*w` | `AdamW`: `w -= lr*wd*w` | [`WeightDecay::L2`] / [`WeightDecay::Decoupled`] |
//!
//! The two momentum styles agree while the learning rate is constant (`v = -lr*b`) and differ
//! when a schedule changes it: torch's buffer holds gradients, Keras's velocity holds steps.
//! Adam puts epsilon outside the square root of the bias-corrected second moment, as PyTorch
//! and candle-nn's `AdamW` (Keras folds the corrections into the step size, which differs only
//! in how epsilon is scaled). CPU f32/f64 parameters are stepped by fused in-place kernels;
//! others by candle ops (candle-nn's `AdamW` for Adam) with the same formulas.
//!
//! ```
//! use candle_core::{Device, Var};
//! use candle_numpy::train::{OptimizerConfig, Stepper, WeightDecay};
//! let w = Var::new(&[1.0f32, -2.0], &Device::Cpu)?;
//! let mut opt = Stepper::new(OptimizerConfig::sgd(0.5), vec![w.clone()])?;
//! let loss = (w.as_tensor() * w.as_tensor())?.sum_all()?; // grad = 2w
//! opt.step(&loss.backward()?)?;
//! assert_eq!(w.as_tensor().to_vec1::<f32>()?, [0.0, 0.0]);
//! # Ok::<(), candle_numpy::Error>(())
//! ```

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::Optimizer as _;

use crate::error::{Error, Result};

/// How SGD's momentum buffer is kept (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MomentumStyle {
    /// `b = m*b + g; w -= lr*b`.
    Torch,
    /// `v = m*v - lr*g; w += v`.
    Keras,
}

/// Weight decay (see the module table).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightDecay {
    /// No decay.
    None,
    /// `g += wd * w` before the update (torch's `SGD` and `Adam`).
    L2(f64),
    /// `w -= lr * wd * w` beside the update (`AdamW`, both frameworks).
    Decoupled(f64),
}

impl WeightDecay {
    /// The factor of the L2 term added to the gradient (0 unless [`WeightDecay::L2`]).
    pub fn l2(self) -> f64 {
        match self {
            WeightDecay::L2(w) => w,
            _ => 0.0,
        }
    }

    /// The decoupled decay factor (0 unless [`WeightDecay::Decoupled`]).
    pub fn decoupled(self) -> f64 {
        match self {
            WeightDecay::Decoupled(w) => w,
            _ => 0.0,
        }
    }
}

/// An optimizer's update rule and hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerConfig {
    /// Stochastic gradient descent.
    Sgd {
        /// Step size.
        lr: f64,
        /// Momentum factor in `[0, 1)` (0: none).
        momentum: f64,
        /// Nesterov momentum.
        nesterov: bool,
        /// How the momentum buffer is kept.
        style: MomentumStyle,
        /// Weight decay (`None` or `L2`).
        weight_decay: WeightDecay,
    },
    /// Adam; with [`WeightDecay::Decoupled`] it is AdamW.
    Adam {
        /// Step size.
        lr: f64,
        /// First-moment decay in `[0, 1)`.
        beta1: f64,
        /// Second-moment decay in `[0, 1)`.
        beta2: f64,
        /// Denominator guard (> 0).
        eps: f64,
        /// Weight decay.
        weight_decay: WeightDecay,
    },
}

impl OptimizerConfig {
    /// Plain SGD at `lr`.
    pub fn sgd(lr: f64) -> Self {
        OptimizerConfig::Sgd {
            lr,
            momentum: 0.0,
            nesterov: false,
            style: MomentumStyle::Torch,
            weight_decay: WeightDecay::None,
        }
    }

    /// The step size.
    pub fn learning_rate(&self) -> f64 {
        match *self {
            OptimizerConfig::Sgd { lr, .. } | OptimizerConfig::Adam { lr, .. } => lr,
        }
    }

    /// Check every hyper-parameter's range (`operation` names the caller in the error).
    pub fn validate(&self, operation: &'static str) -> Result<()> {
        let bad = |argument, value: f64, fix| {
            Err(Error::InvalidArgument { operation, argument, value: value.to_string(), fix })
        };
        let lr = self.learning_rate();
        if !(lr.is_finite() && lr >= 0.0) {
            return bad("learning_rate", lr, "use a finite learning rate >= 0");
        }
        let decay = match *self {
            OptimizerConfig::Sgd { momentum, nesterov, weight_decay, .. } => {
                if !(0.0..1.0).contains(&momentum) {
                    return bad("momentum", momentum, "use a momentum in [0, 1)");
                }
                if nesterov && momentum == 0.0 {
                    return bad("momentum", momentum, "Nesterov momentum needs a momentum > 0");
                }
                if let WeightDecay::Decoupled(_) = weight_decay {
                    return bad(
                        "weight_decay",
                        f64::NAN,
                        "SGD's weight decay is an L2 term; use WeightDecay::L2",
                    );
                }
                weight_decay
            }
            OptimizerConfig::Adam { beta1, beta2, eps, weight_decay, .. } => {
                for (name, b) in [("beta1", beta1), ("beta2", beta2)] {
                    if !(0.0..1.0).contains(&b) {
                        return bad(name, b, "use a decay rate in [0, 1)");
                    }
                }
                if !(eps.is_finite() && eps > 0.0) {
                    return bad("eps", eps, "use a small epsilon > 0, e.g. 1e-8");
                }
                weight_decay
            }
        };
        match decay {
            WeightDecay::L2(w) | WeightDecay::Decoupled(w) if !(w.is_finite() && w >= 0.0) => {
                bad("weight_decay", w, "use a weight decay >= 0")
            }
            _ => Ok(()),
        }
    }
}

/// The state of one SGD parameter outside the fused path: its momentum buffer, made on the
/// first step.
#[derive(Debug)]
struct SgdSlot {
    var: Var,
    buffer: Option<Tensor>,
}

/// The variables the fused kernels cannot step (another device, half precision), updated with
/// candle ops.
#[derive(Debug)]
enum Generic {
    Sgd(Vec<SgdSlot>),
    Adam { opt: candle_nn::AdamW, vars: Vec<Var> },
}

/// An optimizer over a set of variables: [`step`](Stepper::step) applies one update from
/// their gradients. Variables without a gradient in the store are skipped (as torch skips
/// parameters whose `.grad` is `None`); non-float variables are never updated.
///
/// CPU f32/f64 variables are updated in place by fused kernels (one pass over the parameter,
/// its gradient and its state; no allocation per step; large parameters on rayon's threads);
/// others (CUDA, f16/bf16) by candle ops with the same formulas.
#[derive(Debug)]
pub struct Stepper {
    config: OptimizerConfig,
    fused: Vec<super::fused::Slot>,
    generic: Generic,
    /// Every variable, in order.
    vars: Vec<Var>,
    /// Steps taken (Adam's bias corrections).
    steps: u64,
}

impl Stepper {
    /// A stepper for `vars` under `config` (validated).
    pub fn new(config: OptimizerConfig, vars: Vec<Var>) -> Result<Self> {
        Self::with_fused(config, vars, true)
    }

    /// As [`new`](Self::new), choosing whether eligible variables use the fused kernels
    /// (`false`: candle ops for every variable; for comparisons and benchmarks).
    pub fn with_fused(config: OptimizerConfig, vars: Vec<Var>, fused: bool) -> Result<Self> {
        config.validate("optimizer")?;
        let vars: Vec<Var> = vars.into_iter().filter(|v| v.dtype().is_float()).collect();
        let (fast, rest): (Vec<Var>, Vec<Var>) =
            vars.iter().cloned().partition(|v| fused && super::fused::eligible(v));
        let buffers = match config {
            OptimizerConfig::Sgd { momentum, .. } => usize::from(momentum != 0.0),
            OptimizerConfig::Adam { .. } => 2,
        };
        let fused = fast.into_iter().map(|v| super::fused::Slot::new(v, buffers)).collect();
        let generic = match config {
            OptimizerConfig::Sgd { .. } => {
                Generic::Sgd(rest.into_iter().map(|var| SgdSlot { var, buffer: None }).collect())
            }
            OptimizerConfig::Adam { lr, beta1, beta2, eps, weight_decay } => {
                let p =
                    candle_nn::ParamsAdamW { lr, beta1, beta2, eps, weight_decay: weight_decay.decoupled() };
                Generic::Adam { opt: candle_nn::AdamW::new(rest.clone(), p)?, vars: rest }
            }
        };
        Ok(Stepper { config, fused, generic, vars, steps: 0 })
    }

    /// The configuration (with the current learning rate).
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// The learning rate of the next step.
    pub fn learning_rate(&self) -> f64 {
        self.config.learning_rate()
    }

    /// Change the learning rate (a schedule).
    pub fn set_learning_rate(&mut self, new: f64) {
        match &mut self.config {
            OptimizerConfig::Sgd { lr, .. } | OptimizerConfig::Adam { lr, .. } => *lr = new,
        }
        if let Generic::Adam { opt, .. } = &mut self.generic {
            opt.set_learning_rate(new);
        }
    }

    /// The variables being optimized (float ones, in the order given).
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// One update from the gradients in `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        use super::fused::Rule;
        self.steps += 1;
        let rule = match self.config {
            OptimizerConfig::Sgd { lr, momentum, nesterov, style, weight_decay } => {
                Rule::Sgd { lr, momentum, nesterov, style, l2: weight_decay.l2() }
            }
            OptimizerConfig::Adam { lr, beta1, beta2, eps, weight_decay } => Rule::Adam {
                lr,
                beta1,
                beta2,
                eps,
                l2: weight_decay.l2(),
                decoupled: weight_decay.decoupled(),
                scale_m: 1.0 / (1.0 - beta1.powi(self.steps as i32)),
                scale_v: 1.0 / (1.0 - beta2.powi(self.steps as i32)),
            },
        };
        for slot in &self.fused {
            if let Some(g) = grads.get(&slot.var) {
                super::fused::step(slot, g, rule)?;
            }
        }
        match (&mut self.generic, self.config) {
            (Generic::Sgd(slots), OptimizerConfig::Sgd { lr, momentum, nesterov, style, weight_decay }) => {
                for slot in slots {
                    let Some(g) = grads.get(&slot.var) else { continue };
                    let w = slot.var.as_tensor();
                    let g = match weight_decay {
                        WeightDecay::L2(wd) if wd != 0.0 => (g + (w * wd)?)?,
                        _ => g.clone(),
                    };
                    let next = if momentum == 0.0 {
                        (w - (g * lr)?)?
                    } else {
                        match style {
                            MomentumStyle::Torch => {
                                let b = match slot.buffer.take() {
                                    Some(b) => ((b * momentum)? + &g)?,
                                    None => g.clone(),
                                };
                                let dir = if nesterov { (&g + (&b * momentum)?)? } else { b.clone() };
                                slot.buffer = Some(b);
                                (w - (dir * lr)?)?
                            }
                            MomentumStyle::Keras => {
                                let step = (&g * -lr)?;
                                let v = match slot.buffer.take() {
                                    Some(v) => ((v * momentum)? + &step)?,
                                    None => step.clone(),
                                };
                                let delta = if nesterov { ((&v * momentum)? + step)? } else { v.clone() };
                                slot.buffer = Some(v);
                                (w + delta)?
                            }
                        }
                    };
                    slot.var.set(&next)?;
                }
            }
            (
                Generic::Adam { opt, vars },
                OptimizerConfig::Adam { weight_decay: WeightDecay::L2(wd), .. },
            ) if wd != 0.0 => {
                // torch's Adam: the L2 term joins the gradient
                let mut store = GradStore::default();
                for v in vars.iter() {
                    if let Some(g) = grads.get(v) {
                        store.insert(v.as_tensor(), (g + (v.as_tensor() * wd)?)?);
                    }
                }
                opt.step(&store)?;
            }
            (Generic::Adam { opt, .. }, _) => opt.step(grads)?,
            (Generic::Sgd(_), OptimizerConfig::Adam { .. }) => unreachable!("the state follows the config"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn run(config: OptimizerConfig, lrs: &[f64]) -> Result<f32> {
        let w = Var::new(&[1.0f32], &Device::Cpu)?;
        let mut opt = Stepper::new(config, vec![w.clone()])?;
        for &lr in lrs {
            opt.set_learning_rate(lr);
            // loss = w^2 / 2, grad = w
            opt.step(&(w.as_tensor().sqr()? * 0.5)?.sum_all()?.backward()?)?;
        }
        Ok(w.as_tensor().to_vec1::<f32>()?[0])
    }

    fn sgd(
        momentum: f64,
        nesterov: bool,
        style: MomentumStyle,
        weight_decay: WeightDecay,
    ) -> OptimizerConfig {
        OptimizerConfig::Sgd { lr: 0.1, momentum, nesterov, style, weight_decay }
    }

    #[test]
    fn momentum_styles_follow_their_formulas() -> Result<()> {
        // Keras: v1 = -0.1, w1 = 0.9; v2 = 0.9 * -0.1 - 0.1 * 0.9 = -0.18, w2 = 0.72
        let keras = run(sgd(0.9, false, MomentumStyle::Keras, WeightDecay::None), &[0.1, 0.1])?;
        assert!((keras - 0.72).abs() < 1e-6, "{keras}");
        // torch, same constant lr: the same numbers
        let torch = run(sgd(0.9, false, MomentumStyle::Torch, WeightDecay::None), &[0.1, 0.1])?;
        assert!((torch - 0.72).abs() < 1e-6, "{torch}");
        // a changed lr tells them apart: torch b2 = 0.9 * 1 + 0.9 = 1.8, w2 = 0.9 - 0.2 * 1.8 = 0.54;
        // Keras v2 = 0.9 * -0.1 - 0.2 * 0.9 = -0.27, w2 = 0.63
        let torch = run(sgd(0.9, false, MomentumStyle::Torch, WeightDecay::None), &[0.1, 0.2])?;
        let keras = run(sgd(0.9, false, MomentumStyle::Keras, WeightDecay::None), &[0.1, 0.2])?;
        assert!((torch - 0.54).abs() < 1e-6 && (keras - 0.63).abs() < 1e-6, "{torch} {keras}");
        // torch Nesterov: b1 = 1, w1 = 1 - 0.1 * (1 + 0.9) = 0.81
        let nesterov = run(sgd(0.9, true, MomentumStyle::Torch, WeightDecay::None), &[0.1])?;
        assert!((nesterov - 0.81).abs() < 1e-6, "{nesterov}");
        // Keras Nesterov: v1 = -0.1, w1 = 1 + 0.9 * -0.1 - 0.1 = 0.81 (the same first step)
        let nesterov = run(sgd(0.9, true, MomentumStyle::Keras, WeightDecay::None), &[0.1])?;
        assert!((nesterov - 0.81).abs() < 1e-6, "{nesterov}");
        Ok(())
    }

    #[test]
    fn l2_decay_joins_the_gradient_and_decoupled_decay_the_weights() -> Result<()> {
        // SGD, L2 0.5: g = 1 + 0.5 = 1.5, w = 1 - 0.15
        let l2 = run(sgd(0.0, false, MomentumStyle::Torch, WeightDecay::L2(0.5)), &[0.1])?;
        assert!((l2 - 0.85).abs() < 1e-6, "{l2}");
        // Adam's first step is lr * sign(g) whatever the gradient's size, so L2 leaves it at
        // 1 - 0.1; AdamW decays the weights first: 1 - 0.1 * 0.5 * 1 = 0.95, then - 0.1
        let adam = |weight_decay| OptimizerConfig::Adam {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        };
        let l2 = run(adam(WeightDecay::L2(0.5)), &[0.1])?;
        let decoupled = run(adam(WeightDecay::Decoupled(0.5)), &[0.1])?;
        assert!((l2 - 0.9).abs() < 1e-5 && (decoupled - 0.85).abs() < 1e-5, "{l2} {decoupled}");
        Ok(())
    }

    #[test]
    fn ranges_are_checked() {
        let err = run(sgd(1.0, false, MomentumStyle::Torch, WeightDecay::None), &[]).unwrap_err();
        assert!(err.to_string().contains("momentum"), "{err}");
        let err = Stepper::new(OptimizerConfig::sgd(-1.0), vec![]).unwrap_err();
        assert!(err.to_string().contains("learning_rate"), "{err}");
        let nan = OptimizerConfig::Adam {
            lr: 0.1,
            beta1: 0.9,
            beta2: 1.0,
            eps: 1e-8,
            weight_decay: WeightDecay::None,
        };
        assert!(nan.validate("Adam").unwrap_err().to_string().contains("beta2"));
    }

    /// The fused kernels and the candle-op path agree on every rule, for a parameter small
    /// enough for one thread and one split over rayon's chunks, in f32 and f64, over steps
    /// whose learning rate changes (where the momentum styles part).
    #[test]
    fn fused_kernels_match_the_candle_op_path() -> Result<()> {
        use candle_core::DType;
        let configs = [
            sgd(0.0, false, MomentumStyle::Torch, WeightDecay::None),
            sgd(0.9, false, MomentumStyle::Torch, WeightDecay::L2(0.01)),
            sgd(0.9, true, MomentumStyle::Torch, WeightDecay::None),
            sgd(0.8, false, MomentumStyle::Keras, WeightDecay::None),
            sgd(0.8, true, MomentumStyle::Keras, WeightDecay::L2(0.02)),
            OptimizerConfig::Adam {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: WeightDecay::None,
            },
            OptimizerConfig::Adam {
                lr: 0.01,
                beta1: 0.8,
                beta2: 0.99,
                eps: 1e-7,
                weight_decay: WeightDecay::L2(0.1),
            },
            OptimizerConfig::Adam {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: WeightDecay::Decoupled(0.05),
            },
        ];
        for dtype in [DType::F32, DType::F64] {
            for n in [37usize, 3 * (1 << 15) + 5] {
                for config in configs {
                    let init = Tensor::arange(0f64, n as f64, &Device::Cpu)?.affine(1.0 / n as f64, -0.5)?;
                    let init = init.to_dtype(dtype)?;
                    let (a, b) = (Var::from_tensor(&init)?, Var::from_tensor(&init)?);
                    let mut fused = Stepper::new(config, vec![a.clone()])?;
                    let mut plain = Stepper::with_fused(config, vec![b.clone()], false)?;
                    assert_eq!((fused.fused.len(), plain.fused.len()), (1, 0));
                    for (k, lr) in [0.1, 0.1, 0.05, 0.2].into_iter().enumerate() {
                        fused.set_learning_rate(lr);
                        plain.set_learning_rate(lr);
                        // the same gradient for both: cos of the weights, shifted per step
                        let g = |v: &Var| -> Result<GradStore> {
                            let mut store = GradStore::default();
                            store.insert(v.as_tensor(), v.as_tensor().affine(1.0, k as f64)?.cos()?);
                            Ok(store)
                        };
                        fused.step(&g(&a)?)?;
                        plain.step(&g(&b)?)?;
                    }
                    let diff = (a.as_tensor() - b.as_tensor())?.abs()?.max_all()?.to_dtype(DType::F64)?;
                    let diff = diff.to_scalar::<f64>()?;
                    let tol = if dtype == DType::F32 { 1e-6 } else { 1e-12 };
                    assert!(diff <= tol, "{config:?} {dtype:?} n={n}: fused and candle ops differ by {diff}");
                    assert!(
                        a.as_tensor().ne(&init)?.max_all()?.to_scalar::<u8>()? == 1,
                        "{config:?}: no update"
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn a_gradient_sharing_the_parameters_storage_is_read_before_it_is_written() -> Result<()> {
        // d(sum(w^2)/2)/dw = w: candle may hand back the parameter's own storage; the kernel
        // must not deadlock on it or read values it already overwrote
        let w = Var::new(&[1.0f32, 2.0, 3.0], &Device::Cpu)?;
        let mut opt = Stepper::new(OptimizerConfig::sgd(0.5), vec![w.clone()])?;
        let mut store = GradStore::default();
        store.insert(w.as_tensor(), w.as_tensor().clone());
        opt.step(&store)?;
        assert_eq!(w.as_tensor().to_vec1::<f32>()?, [0.5, 1.0, 1.5]);
        Ok(())
    }
}
