//! Metrics by Keras name, computed from the last layer's pre-activation.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Tensor, D};

use crate::error::{Error, Result};

use super::activation::Activation;
use super::losses::Loss;

/// A metric reported next to the loss (`metrics=["accuracy"]`).
///
/// `"accuracy"` means what Keras makes of it for the loss: binary accuracy (prediction
/// `p > 0.5`, i.e. logit `> 0` for a sigmoid output) for `binary_crossentropy`, arg-max
/// agreement for the categorical losses, and for mse / mae binary accuracy on a one-unit
/// output, arg-max agreement otherwise.
///
/// ```
/// use candle_numpy::tf::keras::Metric;
/// assert_eq!("acc".parse::<Metric>()?, Metric::Accuracy);
/// assert!("f1".parse::<Metric>().unwrap_err().to_string().contains("accuracy, mse, mae"));
/// # Ok::<(), candle_numpy::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `accuracy` (also `acc`).
    Accuracy,
    /// `mse` (also `mean_squared_error`).
    MeanSquaredError,
    /// `mae` (also `mean_absolute_error`).
    MeanAbsoluteError,
}

impl Metric {
    /// Every accepted name.
    pub const NAMES: &'static [&'static str] =
        &["accuracy", "mse", "mae", "acc", "mean_squared_error", "mean_absolute_error"];

    /// The History key (`"accuracy"`, `"mse"`, `"mae"`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::MeanSquaredError => "mse",
            Metric::MeanAbsoluteError => "mae",
        }
    }

    /// The sum over the batch of each sample's metric value (f32 scalar, not differentiated).
    /// `z`, `activation` and `y` as in [`Loss::sample_sum`].
    pub fn sample_sum(self, loss: Loss, z: &Tensor, activation: Activation, y: &Tensor) -> Result<Tensor> {
        let units = z.dim(D::Minus1)?;
        let per_unit = 1.0 / units as f64;
        Ok(match self {
            Metric::Accuracy => {
                let categorical = match loss {
                    Loss::BinaryCrossentropy => false,
                    Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => true,
                    Loss::MeanSquaredError | Loss::MeanAbsoluteError => units > 1,
                };
                if categorical {
                    // arg-max is the same on logits as on softmax probabilities
                    let pred = match activation {
                        Activation::Softmax | Activation::Linear => z.argmax(D::Minus1)?,
                        act => act.apply_inference(z)?.argmax(D::Minus1)?,
                    };
                    let truth = if loss.sparse_labels() { y.clone() } else { y.argmax(D::Minus1)? };
                    pred.eq(&truth)?.to_dtype(DType::F32)?.sum_all()?
                } else {
                    let pred = match activation {
                        Activation::Sigmoid => z.gt(0.0)?,
                        act => act.apply_inference(z)?.gt(0.5)?,
                    };
                    pred.eq(&y.gt(0.5)?)?.to_dtype(DType::F32)?.sum_all()?.affine(per_unit, 0.0)?
                }
            }
            Metric::MeanSquaredError | Metric::MeanAbsoluteError => {
                let diff = (activation.apply_inference(z)? - y)?;
                let e = if self == Metric::MeanSquaredError { diff.sqr()? } else { diff.abs()? };
                e.sum_all()?.affine(per_unit, 0.0)?
            }
        })
    }

    /// Refuse metric / loss pairs that cannot be computed (mse / mae on class indices).
    pub(crate) fn check(self, loss: Loss) -> Result<()> {
        if self != Metric::Accuracy && loss.sparse_labels() {
            return Err(Error::InvalidArgument {
                operation: "compile",
                argument: "metrics",
                value: format!("{:?} with loss sparse_categorical_crossentropy", self.name()),
                fix: "mse / mae need labels shaped as the output; use accuracy, or one-hot labels \
                      with categorical_crossentropy",
            });
        }
        Ok(())
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "accuracy" | "acc" => Metric::Accuracy,
            "mse" | "mean_squared_error" => Metric::MeanSquaredError,
            "mae" | "mean_absolute_error" => Metric::MeanAbsoluteError,
            _ => return Err(Error::UnknownName { what: "metric", given: s.to_string(), valid: Self::NAMES }),
        })
    }
}

crate::tf::keras::try_from_str!(Metric);

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn binary_accuracy_uses_the_logit_sign() -> Result<()> {
        let z = Tensor::new(&[[2f32], [-1.], [0.5], [-3.]], &Device::Cpu)?;
        let y = Tensor::new(&[[1f32], [0.], [0.], [0.]], &Device::Cpu)?;
        let hits = Metric::Accuracy.sample_sum(Loss::BinaryCrossentropy, &z, Activation::Sigmoid, &y)?;
        assert_eq!(hits.to_scalar::<f32>()?, 3.0);
        Ok(())
    }

    #[test]
    fn categorical_accuracy_on_indices_and_one_hot() -> Result<()> {
        let dev = Device::Cpu;
        let z = Tensor::new(&[[2f32, 0., 1.], [0., 1., 5.]], &dev)?;
        let idx = Tensor::new(&[0u32, 1], &dev)?;
        let one_hot = Tensor::new(&[[1f32, 0., 0.], [0., 1., 0.]], &dev)?;
        let sparse = Loss::SparseCategoricalCrossentropy;
        let a = Metric::Accuracy.sample_sum(sparse, &z, Activation::Softmax, &idx)?.to_scalar::<f32>()?;
        let cat = Loss::CategoricalCrossentropy;
        let b = Metric::Accuracy.sample_sum(cat, &z, Activation::Softmax, &one_hot)?.to_scalar::<f32>()?;
        assert_eq!((a, b), (1.0, 1.0));
        Ok(())
    }
}
