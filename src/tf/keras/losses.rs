//! Losses by Keras name, computed from the last layer's pre-activation where that is stable.
//!
//! The model hands the loss the last [`Dense`](super::layers::Dense) layer's pre-activation
//! `z` (the logits) together with its [`Activation`]. Where the pair has a closed form, the
//! loss is computed from `z` and never from the probabilities, so saturated outputs stay
//! finite (Keras does the same through its `from_logits` shortcut):
//!
//! | last activation | loss | computed as (per element / sample) |
//! | --- | --- | --- |
//! | sigmoid | binary_crossentropy | `relu(z) - z*y + log(1 + exp(-abs(z)))` |
//! | softmax | categorical_crossentropy | `-sum(y * log_softmax(z))` |
//! | softmax | sparse_categorical_crossentropy | `-log_softmax(z)[label]` |
//! | other | binary / categorical | on `p = act(z)` clipped to `[1e-7, 1 - 1e-7]`, as Keras |
//! | any | mse / mae | on `p = act(z)` |
//!
//! For these fused pairs (and mse on a linear output) the gradient with respect to `z` has a
//! closed form too (`sigmoid(z) - y`, `softmax(z) - y`, `2 (z - y)`), which the training step
//! uses instead of differentiating the loss graph: a handful of candle ops per step instead
//! of a few dozen. Loss values for the History are computed from the same `z` with the
//! formulas above.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Tensor, D};

use crate::error::{Error, Result};

use super::activation::Activation;

/// Keras's probability clip for losses on probabilities (`backend.epsilon()`).
pub const EPSILON: f64 = 1e-7;

/// A training loss, as Keras names it (`loss="binary_crossentropy"`).
///
/// ```
/// use candle_numpy::tf::keras::Loss;
/// assert_eq!("mse".parse::<Loss>()?, Loss::MeanSquaredError);
/// let err = "bce".parse::<Loss>().unwrap_err().to_string();
/// assert!(err.contains("binary_crossentropy") && err.contains("sparse_categorical_crossentropy"));
/// # Ok::<(), candle_numpy::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Loss {
    /// `binary_crossentropy`: y in {0, 1} (or probabilities), shape `(n, units)` or `(n,)`
    /// for one unit.
    BinaryCrossentropy,
    /// `categorical_crossentropy`: one-hot (or probability) rows, shape `(n, classes)`.
    CategoricalCrossentropy,
    /// `sparse_categorical_crossentropy`: integer class labels, shape `(n,)` or `(n, 1)`.
    SparseCategoricalCrossentropy,
    /// `mse` / `mean_squared_error`.
    MeanSquaredError,
    /// `mae` / `mean_absolute_error`.
    MeanAbsoluteError,
}

impl Loss {
    /// Every accepted name (the long forms of mse / mae are accepted too).
    pub const NAMES: &'static [&'static str] = &[
        "binary_crossentropy",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "mse",
        "mae",
        "mean_squared_error",
        "mean_absolute_error",
    ];

    /// The Keras name.
    pub fn name(self) -> &'static str {
        match self {
            Loss::BinaryCrossentropy => "binary_crossentropy",
            Loss::CategoricalCrossentropy => "categorical_crossentropy",
            Loss::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            Loss::MeanSquaredError => "mse",
            Loss::MeanAbsoluteError => "mae",
        }
    }

    /// Whether labels are class indices (one per sample) rather than rows shaped as the output.
    pub fn sparse_labels(self) -> bool {
        self == Loss::SparseCategoricalCrossentropy
    }

    /// The sum over the batch of each sample's loss, differentiable in `z`.
    ///
    /// `z` is the last layer's pre-activation `(n, units)` in f32, `y` the labels as
    /// [`prepare_labels`](Self::prepare_labels) returns them. Per-sample losses average over units (binary, mse,
    /// mae) or sum over classes (categorical), as Keras; the batch loss is this sum over `n`.
    pub fn sample_sum(self, z: &Tensor, activation: Activation, y: &Tensor) -> Result<Tensor> {
        Ok(self.sample_losses(z, activation, y)?.sum_all()?)
    }

    /// Each sample's loss, `(n,)`, differentiable in `z` (see [`sample_sum`](Self::sample_sum)).
    pub fn sample_losses(self, z: &Tensor, activation: Activation, y: &Tensor) -> Result<Tensor> {
        let units = z.dim(D::Minus1)? as f64;
        // the per-sample sum over every axis but the batch
        let rows = |t: Tensor| -> Result<Tensor> { Ok(t.flatten_from(1)?.sum(1)?) };
        Ok(match (self, activation) {
            (Loss::BinaryCrossentropy, Activation::Sigmoid) => {
                // the engine's stable form, shared with torch's binary_cross_entropy_with_logits
                rows(crate::train::loss::bce_with_logits_elements(z, y)?)?.affine(1.0 / units, 0.0)?
            }
            (Loss::BinaryCrossentropy, act) => {
                let p = act.apply(z)?.clamp(EPSILON, 1.0 - EPSILON)?;
                let one_minus_y = y.affine(-1.0, 1.0)?;
                let one_minus_p = p.affine(-1.0, 1.0)?;
                let ll = ((y * p.log()?)? + (one_minus_y * one_minus_p.log()?)?)?;
                rows(ll)?.affine(-1.0 / units, 0.0)?
            }
            (Loss::CategoricalCrossentropy, Activation::Softmax) => {
                rows((y * candle_nn::ops::log_softmax(z, D::Minus1)?)?)?.neg()?
            }
            (Loss::CategoricalCrossentropy, act) => {
                // Keras: renormalise the rows to sum to 1, then clip
                let p = act.apply(z)?;
                let p = p.broadcast_div(&p.sum_keepdim(D::Minus1)?)?.clamp(EPSILON, 1.0 - EPSILON)?;
                rows((y * p.log()?)?)?.neg()?
            }
            (Loss::SparseCategoricalCrossentropy, Activation::Softmax) => {
                let log_p = candle_nn::ops::log_softmax(z, D::Minus1)?;
                log_p.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?.neg()?
            }
            (Loss::SparseCategoricalCrossentropy, act) => {
                let p = act.apply(z)?;
                let p = p.broadcast_div(&p.sum_keepdim(D::Minus1)?)?.clamp(EPSILON, 1.0 - EPSILON)?;
                p.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?.log()?.neg()?
            }
            (Loss::MeanSquaredError, act) => rows((act.apply(z)? - y)?.sqr()?)?.affine(1.0 / units, 0.0)?,
            (Loss::MeanAbsoluteError, act) => rows((act.apply(z)? - y)?.abs()?)?.affine(1.0 / units, 0.0)?,
        })
    }

    /// The gradient of the batch-mean loss with respect to `z`, where it has a closed form
    /// (sigmoid + binary, softmax + categorical / sparse, linear + mse); `None` otherwise.
    /// `class_ids` is `arange(units)` as u32 (for sparse labels), built once per fit.
    pub(crate) fn logits_grad(
        self,
        z: &Tensor,
        activation: Activation,
        y: &Tensor,
        class_ids: Option<&Tensor>,
    ) -> Result<Option<Tensor>> {
        let (n, units) = z.dims2()?;
        let n = n as f64;
        Ok(Some(match (self, activation) {
            (Loss::BinaryCrossentropy, Activation::Sigmoid) => {
                (candle_nn::ops::sigmoid(z)? - y)?.affine(1.0 / (n * units as f64), 0.0)?
            }
            (Loss::CategoricalCrossentropy, Activation::Softmax) => {
                // d/dz -sum(y * log_softmax(z)) = softmax(z) * sum(y) - y (= softmax - y for
                // rows that sum to 1)
                let p = candle_nn::ops::softmax_last_dim(z)?;
                (p.broadcast_mul(&y.sum_keepdim(1)?)? - y)?.affine(1.0 / n, 0.0)?
            }
            (Loss::SparseCategoricalCrossentropy, Activation::Softmax) => {
                let Some(ids) = class_ids else { return Ok(None) };
                let one_hot = y.unsqueeze(1)?.broadcast_eq(ids)?.to_dtype(z.dtype())?;
                (candle_nn::ops::softmax_last_dim(z)? - one_hot)?.affine(1.0 / n, 0.0)?
            }
            (Loss::MeanSquaredError, Activation::Linear) => (z - y)?.affine(2.0 / (n * units as f64), 0.0)?,
            _ => return Ok(None),
        }))
    }

    /// Labels as the loss wants them, checked against the output width `units`: f32 rows
    /// `(n, units)` (a `(n,)` vector is accepted for one unit; integer labels are cast), or
    /// u32 class indices `(n,)` for the sparse loss (checked to be in `0..units`).
    pub fn prepare_labels(self, y: &Tensor, units: usize, operation: &'static str) -> Result<Tensor> {
        let n = y.dim(0).map_err(|_| label_shape(self, y, units, operation))?;
        if self.sparse_labels() {
            let y = match y.dims() {
                [_] => y.clone(),
                [_, 1] => y.reshape(n)?,
                _ => return Err(label_shape(self, y, units, operation)),
            };
            if n > 0 {
                let wide = crate::dtype::cast(&y, DType::F64)?;
                let (lo, hi) = (wide.min(0)?.to_scalar::<f64>()?, wide.max(0)?.to_scalar::<f64>()?);
                if lo < 0.0 || hi >= units as f64 {
                    return Err(Error::InvalidArgument {
                        operation,
                        argument: "y",
                        value: format!("class labels in {lo}..={hi} for {units} output units"),
                        fix: "sparse_categorical_crossentropy takes labels in 0..units; give the last \
                              Dense layer one unit per class",
                    });
                }
            }
            return Ok(crate::dtype::cast(&y, DType::U32)?.contiguous()?);
        }
        let y = match y.dims() {
            [_] if units == 1 => y.reshape((n, 1))?,
            [_, w] if *w == units => y.clone(),
            _ => return Err(label_shape(self, y, units, operation)),
        };
        Ok(crate::dtype::cast(&y, DType::F32)?.contiguous()?)
    }
}

fn label_shape(loss: Loss, y: &Tensor, units: usize, operation: &'static str) -> Error {
    let wanted = match loss {
        Loss::SparseCategoricalCrossentropy => "(n,) or (n, 1) class indices".to_string(),
        _ if units == 1 => "(n,) or (n, 1)".to_string(),
        _ => format!("(n, {units})"),
    };
    let hint = match loss {
        Loss::CategoricalCrossentropy | Loss::BinaryCrossentropy if y.rank() == 1 && units > 1 => {
            "; for integer class labels use sparse_categorical_crossentropy"
        }
        _ => "; match y to the last layer's units",
    };
    Error::ShapeMismatch {
        operation,
        detail: format!(
            "y has shape {:?} but the model outputs {units} unit(s) and {} expects y of shape \
             {wanted}{hint}",
            y.dims(),
            loss.name()
        ),
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Loss {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "binary_crossentropy" => Loss::BinaryCrossentropy,
            "categorical_crossentropy" => Loss::CategoricalCrossentropy,
            "sparse_categorical_crossentropy" => Loss::SparseCategoricalCrossentropy,
            "mse" | "mean_squared_error" => Loss::MeanSquaredError,
            "mae" | "mean_absolute_error" => Loss::MeanAbsoluteError,
            _ => return Err(Error::UnknownName { what: "loss", given: s.to_string(), valid: Self::NAMES }),
        })
    }
}

crate::tf::keras::try_from_str!(Loss);

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn t(rows: &[f32]) -> Tensor {
        Tensor::new(rows, &Device::Cpu).unwrap().unsqueeze(1).unwrap()
    }

    #[test]
    fn stable_bce_on_huge_logits_is_finite_and_exact() -> Result<()> {
        let z = t(&[1e4, -1e4, 1e4, -1e4, 0.0]);
        let y = t(&[1.0, 0.0, 0.0, 1.0, 1.0]);
        let sum = Loss::BinaryCrossentropy.sample_sum(&z, Activation::Sigmoid, &y)?.to_scalar::<f32>()?;
        // right answers cost 0, wrong ones |z|, z = 0 costs ln 2
        let want = 2e4 + std::f32::consts::LN_2;
        assert!((sum - want).abs() <= want * 1e-6, "{sum} vs {want}");
        Ok(())
    }

    #[test]
    fn closed_form_grads_match_autodiff() -> Result<()> {
        let dev = Device::Cpu;
        let z = Var::new(&[[0.3f32, -1.2, 2.0], [-0.5, 0.1, 0.7]], &dev)?;
        let dense = Tensor::new(&[[0f32, 1., 0.], [1., 0., 0.]], &dev)?;
        let ids = Tensor::arange(0u32, 3, &dev)?;
        let cases = [
            (Loss::BinaryCrossentropy, Activation::Sigmoid, dense.clone()),
            (Loss::CategoricalCrossentropy, Activation::Softmax, dense.clone()),
            (Loss::SparseCategoricalCrossentropy, Activation::Softmax, Tensor::new(&[1u32, 0], &dev)?),
            (Loss::MeanSquaredError, Activation::Linear, dense.clone()),
        ];
        for (loss, act, y) in cases {
            let mean = loss.sample_sum(z.as_tensor(), act, &y)?.affine(0.5, 0.0)?;
            let auto = mean.backward()?.get(&z).unwrap().to_vec2::<f32>()?;
            let closed = loss.logits_grad(z.as_tensor(), act, &y, Some(&ids))?.unwrap().to_vec2::<f32>()?;
            for (a, c) in auto.iter().flatten().zip(closed.iter().flatten()) {
                assert!((a - c).abs() < 1e-6, "{loss}: {auto:?} vs {closed:?}");
            }
        }
        assert!(Loss::MeanAbsoluteError
            .logits_grad(z.as_tensor(), Activation::Linear, &dense, None)?
            .is_none());
        Ok(())
    }

    #[test]
    fn clipped_bce_on_probabilities_is_finite() -> Result<()> {
        let z = t(&[1e4, -1e4]);
        let y = t(&[0.0, 1.0]);
        let sum = Loss::BinaryCrossentropy.sample_sum(&z, Activation::Linear, &y)?.to_scalar::<f32>()?;
        assert!(sum.is_finite() && sum > 30.0, "{sum}");
        Ok(())
    }

    #[test]
    fn labels_are_checked() -> Result<()> {
        let dev = Device::Cpu;
        let y = Tensor::new(&[0i64, 1, 1], &dev)?;
        assert_eq!(Loss::BinaryCrossentropy.prepare_labels(&y, 1, "fit")?.dims(), [3, 1]);
        assert_eq!(Loss::BinaryCrossentropy.prepare_labels(&y, 1, "fit")?.dtype(), DType::F32);
        let err = Loss::CategoricalCrossentropy.prepare_labels(&y, 3, "fit").unwrap_err().to_string();
        assert!(err.contains("sparse_categorical_crossentropy"), "{err}");
        assert_eq!(Loss::SparseCategoricalCrossentropy.prepare_labels(&y, 2, "fit")?.dtype(), DType::U32);
        let err = Loss::SparseCategoricalCrossentropy.prepare_labels(&y, 1, "fit").unwrap_err().to_string();
        assert!(err.contains("0..units"), "{err}");
        Ok(())
    }
}
