//! Optimizers by Keras name and with Keras's defaults, stepped by the engine's
//! [`train::Stepper`](crate::train::Stepper) (the same stepper as `cn.torch.optim`).
//!
//! | Keras | here | runs on |
//! | --- | --- | --- |
//! | `"adam"`, `Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)` | [`Optimizer::Adam`] | the engine's Adam (candle-nn's `AdamW` with no decay) |
//! | `"adamw"`, `AdamW(..., weight_decay=0.004)` | [`Optimizer::AdamW`] | the engine's Adam with decoupled decay (`w -= lr * wd * w`, as Keras) |
//! | `"sgd"`, `SGD(learning_rate=0.01, momentum=0.0, nesterov=False)` | [`Optimizer::Sgd`] | the engine's SGD with [`MomentumStyle::Keras`](crate::train::MomentumStyle::Keras) |
//!
//! candle-nn's Adam puts `epsilon` outside the square root of the bias-corrected second
//! moment (`m_hat / (sqrt(v_hat) + eps)`), as PyTorch; Keras folds the bias corrections into
//! the step size, which differs only in how `epsilon` is scaled (negligible at 1e-7).

use std::fmt;
use std::str::FromStr;

use candle_core::Var;

use crate::error::{Error, Result};
use crate::train::Stepper;

/// An optimizer configuration (`optimizer="adam"` or `Adam(learning_rate=...)`).
///
/// ```
/// use candle_numpy::tf::keras::Optimizer;
/// let adam: Optimizer = "adam".parse()?;
/// assert_eq!(adam.learning_rate(), 1e-3);
/// assert_eq!(Optimizer::sgd().with_learning_rate(0.1).learning_rate(), 0.1);
/// assert!("adagrad".parse::<Optimizer>().unwrap_err().to_string().contains("adam, sgd, adamw"));
/// # Ok::<(), candle_numpy::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// Adam.
    Adam {
        /// Step size (Keras default 1e-3).
        learning_rate: f64,
        /// First-moment decay (0.9).
        beta_1: f64,
        /// Second-moment decay (0.999).
        beta_2: f64,
        /// Denominator guard (1e-7).
        epsilon: f64,
    },
    /// Adam with decoupled weight decay.
    AdamW {
        /// Step size (Keras default 1e-3).
        learning_rate: f64,
        /// First-moment decay (0.9).
        beta_1: f64,
        /// Second-moment decay (0.999).
        beta_2: f64,
        /// Denominator guard (1e-7).
        epsilon: f64,
        /// Decoupled decay factor (0.004).
        weight_decay: f64,
    },
    /// Stochastic gradient descent, optionally with (Nesterov) momentum.
    Sgd {
        /// Step size (Keras default 0.01).
        learning_rate: f64,
        /// Velocity decay in `[0, 1)` (0: plain SGD).
        momentum: f64,
        /// Nesterov momentum.
        nesterov: bool,
    },
}

impl Optimizer {
    /// Every accepted name.
    pub const NAMES: &'static [&'static str] = &["adam", "sgd", "adamw"];

    /// Keras's `Adam()`.
    pub fn adam() -> Self {
        Optimizer::Adam { learning_rate: 1e-3, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 }
    }

    /// Keras's `AdamW()`.
    pub fn adamw() -> Self {
        Optimizer::AdamW {
            learning_rate: 1e-3,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            weight_decay: 0.004,
        }
    }

    /// Keras's `SGD()`.
    pub fn sgd() -> Self {
        Optimizer::Sgd { learning_rate: 0.01, momentum: 0.0, nesterov: false }
    }

    /// The Keras name.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Adam { .. } => "adam",
            Optimizer::AdamW { .. } => "adamw",
            Optimizer::Sgd { .. } => "sgd",
        }
    }

    /// The step size.
    pub fn learning_rate(&self) -> f64 {
        match *self {
            Optimizer::Adam { learning_rate, .. }
            | Optimizer::AdamW { learning_rate, .. }
            | Optimizer::Sgd { learning_rate, .. } => learning_rate,
        }
    }

    /// The same optimizer with another step size.
    pub fn with_learning_rate(mut self, lr: f64) -> Self {
        match &mut self {
            Optimizer::Adam { learning_rate, .. }
            | Optimizer::AdamW { learning_rate, .. }
            | Optimizer::Sgd { learning_rate, .. } => *learning_rate = lr,
        }
        self
    }

    /// Keras's `{"class_name": "Adam", "config": {"learning_rate": ..., ...}}`.
    pub fn to_config(&self) -> serde_json::Value {
        use serde_json::json;
        match *self {
            Optimizer::Adam { learning_rate, beta_1, beta_2, epsilon } => json!({"class_name": "Adam",
                "config": {"learning_rate": learning_rate, "beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon}}),
            Optimizer::AdamW { learning_rate, beta_1, beta_2, epsilon, weight_decay } => {
                json!({"class_name": "AdamW",
                "config": {"learning_rate": learning_rate, "beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon,
                           "weight_decay": weight_decay}})
            }
            Optimizer::Sgd { learning_rate, momentum, nesterov } => json!({"class_name": "SGD",
                "config": {"learning_rate": learning_rate, "momentum": momentum, "nesterov": nesterov}}),
        }
    }

    /// The optimizer of a [`to_config`](Self::to_config) value (missing entries take Keras's
    /// defaults).
    pub fn from_config(value: &serde_json::Value) -> Result<Self> {
        let c = &value["config"];
        let f = |k: &str, d: f64| c[k].as_f64().unwrap_or(d);
        let opt = match value["class_name"].as_str() {
            Some("Adam") => Optimizer::Adam {
                learning_rate: f("learning_rate", 1e-3),
                beta_1: f("beta_1", 0.9),
                beta_2: f("beta_2", 0.999),
                epsilon: f("epsilon", 1e-7),
            },
            Some("AdamW") => Optimizer::AdamW {
                learning_rate: f("learning_rate", 1e-3),
                beta_1: f("beta_1", 0.9),
                beta_2: f("beta_2", 0.999),
                epsilon: f("epsilon", 1e-7),
                weight_decay: f("weight_decay", 0.004),
            },
            Some("SGD") => Optimizer::Sgd {
                learning_rate: f("learning_rate", 0.01),
                momentum: f("momentum", 0.0),
                nesterov: c["nesterov"].as_bool().unwrap_or(false),
            },
            _ => {
                return Err(Error::UnknownName {
                    what: "optimizer",
                    given: value["class_name"].to_string(),
                    valid: &["Adam", "AdamW", "SGD"],
                })
            }
        };
        opt.validate()?;
        Ok(opt)
    }

    /// Check every hyper-parameter's range.
    pub fn validate(&self) -> Result<()> {
        let bad = |argument, value: f64, fix| {
            Err(Error::InvalidArgument { operation: "optimizer", argument, value: value.to_string(), fix })
        };
        let lr = self.learning_rate();
        if !(lr.is_finite() && lr > 0.0) {
            return bad("learning_rate", lr, "use a finite learning rate > 0");
        }
        match *self {
            Optimizer::Adam { beta_1, beta_2, epsilon, .. }
            | Optimizer::AdamW { beta_1, beta_2, epsilon, .. } => {
                for (name, b) in [("beta_1", beta_1), ("beta_2", beta_2)] {
                    if !(0.0..1.0).contains(&b) {
                        return bad(name, b, "use a decay rate in [0, 1)");
                    }
                }
                if !(epsilon.is_finite() && epsilon > 0.0) {
                    return bad("epsilon", epsilon, "use a small epsilon > 0, e.g. 1e-7");
                }
                if let Optimizer::AdamW { weight_decay, .. } = *self {
                    if !(weight_decay.is_finite() && weight_decay >= 0.0) {
                        return bad("weight_decay", weight_decay, "use a weight decay >= 0");
                    }
                }
            }
            Optimizer::Sgd { momentum, .. } => {
                if !(0.0..1.0).contains(&momentum) {
                    return bad("momentum", momentum, "use a momentum in [0, 1)");
                }
            }
        }
        Ok(())
    }

    /// The engine's configuration for this optimizer: Keras's momentum formula, Adam without
    /// decay, AdamW with decoupled decay.
    pub fn config(&self) -> crate::train::OptimizerConfig {
        use crate::train::{MomentumStyle, OptimizerConfig, WeightDecay};
        match *self {
            Optimizer::Adam { learning_rate, beta_1, beta_2, epsilon } => OptimizerConfig::Adam {
                lr: learning_rate,
                beta1: beta_1,
                beta2: beta_2,
                eps: epsilon,
                weight_decay: WeightDecay::None,
            },
            Optimizer::AdamW { learning_rate, beta_1, beta_2, epsilon, weight_decay } => {
                OptimizerConfig::Adam {
                    lr: learning_rate,
                    beta1: beta_1,
                    beta2: beta_2,
                    eps: epsilon,
                    weight_decay: WeightDecay::Decoupled(weight_decay),
                }
            }
            Optimizer::Sgd { learning_rate, momentum, nesterov } => OptimizerConfig::Sgd {
                lr: learning_rate,
                momentum,
                nesterov: nesterov && momentum > 0.0,
                style: MomentumStyle::Keras,
                weight_decay: WeightDecay::None,
            },
        }
    }

    /// The engine's stepper for `vars`.
    pub(crate) fn build(&self, vars: Vec<Var>) -> Result<Stepper> {
        self.validate()?;
        Stepper::new(self.config(), vars)
    }
}

impl fmt::Display for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(learning_rate={})", self.name(), self.learning_rate())
    }
}

impl FromStr for Optimizer {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "adam" => Optimizer::adam(),
            "adamw" => Optimizer::adamw(),
            "sgd" => Optimizer::sgd(),
            _ => {
                return Err(Error::UnknownName {
                    what: "optimizer",
                    given: s.to_string(),
                    valid: Self::NAMES,
                })
            }
        })
    }
}

crate::tf::keras::try_from_str!(Optimizer);

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn momentum_matches_keras_formula() -> Result<()> {
        let w = Var::new(&[1.0f32], &Device::Cpu)?;
        let mut opt =
            Optimizer::Sgd { learning_rate: 0.1, momentum: 0.9, nesterov: false }.build(vec![w.clone()])?;
        // loss = w^2 / 2, grad = w: v1 = -0.1, w1 = 0.9; v2 = -0.09 - 0.09 = -0.18, w2 = 0.72
        for _ in 0..2 {
            let loss = (w.as_tensor().sqr()? * 0.5)?.sum_all()?;
            opt.step(&loss.backward()?)?;
        }
        let got = w.as_tensor().to_vec1::<f32>()?[0];
        assert!((got - 0.72).abs() < 1e-6, "{got}");
        Ok(())
    }

    #[test]
    fn ranges_are_checked() {
        let err = Optimizer::sgd().with_learning_rate(0.0).validate().unwrap_err().to_string();
        assert!(err.contains("learning_rate"), "{err}");
        let m = Optimizer::Sgd { learning_rate: 0.1, momentum: 1.0, nesterov: false };
        assert!(m.validate().unwrap_err().to_string().contains("momentum"));
    }
}
