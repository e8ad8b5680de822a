//! Activation functions by Keras name.

use std::fmt;
use std::str::FromStr;

use candle_core::{Tensor, D};

use crate::error::{Error, Result};

/// A layer activation, as Keras names it (`activation="relu"`).
///
/// ```
/// use candle_numpy::tf::keras::Activation;
/// assert_eq!("relu".parse::<Activation>()?, Activation::Relu);
/// let err = "rleu".parse::<Activation>().unwrap_err().to_string();
/// assert!(err.contains("valid choices: linear, relu, sigmoid, tanh, softmax, gelu"), "{err}");
/// # Ok::<(), candle_numpy::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    /// Identity (`None` / `"linear"` in Keras).
    #[default]
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// Softmax over the last axis.
    Softmax,
    /// Exact (erf) GELU, Keras's default `approximate=False`.
    Gelu,
}

impl Activation {
    /// Every accepted name, in declaration order.
    pub const NAMES: &'static [&'static str] = &["linear", "relu", "sigmoid", "tanh", "softmax", "gelu"];

    /// The Keras name.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
            Activation::Gelu => "gelu",
        }
    }

    /// Apply to `x`, differentiably (every op here has a candle backward).
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Linear => x.clone(),
            // TF's rule, as the fused dense layer's: zero gradient at 0, NaN kept
            Activation::Relu => crate::train::linear::relu(x)?,
            Activation::Sigmoid => candle_nn::ops::sigmoid(x)?,
            Activation::Tanh => x.tanh()?,
            // the composite softmax: candle-nn's fused `softmax_last_dim` has no backward
            Activation::Softmax => candle_nn::ops::softmax(x, D::Minus1)?,
            Activation::Gelu => x.gelu_erf()?,
        })
    }

    /// Apply to `x` where no gradient is needed (fused kernels where candle has them).
    pub fn apply_inference(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Softmax => Ok(candle_nn::ops::softmax_last_dim(x)?),
            other => other.apply(x),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = Error;
    /// Keras's spellings; `""`, `"none"` and `"linear"` are the identity.
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "linear" | "none" | "" => Activation::Linear,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softmax" => Activation::Softmax,
            "gelu" => Activation::Gelu,
            _ => {
                return Err(Error::UnknownName {
                    what: "activation",
                    given: s.to_string(),
                    valid: Self::NAMES,
                })
            }
        })
    }
}

crate::tf::keras::try_from_str!(Activation);

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn names_round_trip() {
        for name in Activation::NAMES {
            assert_eq!(name.parse::<Activation>().unwrap().name(), *name);
        }
        assert_eq!(" ReLU ".parse::<Activation>().unwrap(), Activation::Relu);
        assert_eq!("none".parse::<Activation>().unwrap(), Activation::Linear);
    }

    #[test]
    fn values() -> Result<()> {
        let x = Tensor::new(&[[-1f32, 0., 2.]], &Device::Cpu)?;
        let relu = Activation::Relu.apply(&x)?.to_vec2::<f32>()?;
        assert_eq!(relu, [[0., 0., 2.]]);
        let soft = Activation::Softmax.apply(&x)?.to_vec2::<f32>()?;
        let fused = Activation::Softmax.apply_inference(&x)?.to_vec2::<f32>()?;
        assert!((soft[0].iter().sum::<f32>() - 1.).abs() < 1e-6);
        assert!(soft[0].iter().zip(&fused[0]).all(|(a, b)| (a - b).abs() < 1e-6));
        let gelu = Activation::Gelu.apply(&x)?.to_vec2::<f32>()?;
        assert!((gelu[0][0] + 0.158_655_26).abs() < 1e-5, "{gelu:?}");
        Ok(())
    }
}
