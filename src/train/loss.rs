//! Losses as candle ops with a [`Reduction`], written once for both facades: torch's
//! `nn.functional` losses call these (through the Python bindings), and Keras's fused
//! logits losses share their stable forms.
//!
//! | loss | computed as (per element) | numerics |
//! | --- | --- | --- |
//! | [`binary_cross_entropy`] | `-(y log p + (1 - y) log(1 - p))` | logs clamped at -100 and gradient `(p - y) / max(p (1 - p), 1e-12)`, as torch: finite at saturated `p` |
//! | [`binary_cross_entropy_with_logits`] | `relu(z) - z y + log(1 + exp(-abs(z)))` | `exp` of a non-positive number never overflows |
//! | [`mse_loss`] | `(x - y)^2` | |
//! | [`l1_loss`] | `abs(x - y)` | |
//! | [`cross_entropy`] | `-log_softmax(z)[class]` per row | from logits |
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use candle_numpy::train::loss::{binary_cross_entropy, Reduction};
//! let p = Tensor::new(&[1.0f32, 0.0, 0.5], &Device::Cpu)?;
//! let y = Tensor::new(&[0.0f32, 1.0, 1.0], &Device::Cpu)?;
//! // saturated probabilities give torch's clamped -100 logs, not inf
//! let l = binary_cross_entropy(&p, &y, Reduction::Sum)?.to_scalar::<f32>()?;
//! assert!((l - (200.0 + std::f32::consts::LN_2)).abs() < 1e-3, "{l}");
//! # Ok::<(), candle_numpy::Error>(())
//! ```

use std::str::FromStr;

use candle_core::{Tensor, D};

use crate::error::{Error, Result};

/// How per-element losses become the result (torch's `reduction=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// The mean over every element.
    Mean,
    /// The sum over every element.
    Sum,
    /// The per-element losses, unreduced.
    None,
}

impl Reduction {
    /// Every accepted name.
    pub const NAMES: &'static [&'static str] = &["mean", "sum", "none"];

    /// Apply to per-element losses.
    pub fn apply(self, losses: Tensor) -> Result<Tensor> {
        Ok(match self {
            Reduction::Mean => losses.mean_all()?,
            Reduction::Sum => losses.sum_all()?,
            Reduction::None => losses,
        })
    }
}

impl FromStr for Reduction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            "none" => Ok(Reduction::None),
            _ => Err(Error::UnknownName { what: "reduction", given: s.to_string(), valid: Self::NAMES }),
        }
    }
}

/// A shape as torch prints it: `(3,)`, `(3, 1)`, `()`.
fn tuple(dims: &[usize]) -> String {
    match dims {
        [d] => format!("({d},)"),
        _ => format!("({})", dims.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    }
}

fn same_shape(operation: &'static str, input: &Tensor, target: &Tensor) -> Result<()> {
    if input.dims() != target.dims() {
        return Err(Error::ShapeMismatch {
            operation,
            detail: format!(
                "target shape {} differs from input shape {}; reshape one (e.g. \
                 output.squeeze() or target.reshape(-1, 1))",
                tuple(target.dims()),
                tuple(input.dims())
            ),
        });
    }
    Ok(())
}

/// The target in the input's dtype (labels often arrive as integers).
fn like(target: &Tensor, input: &Tensor) -> Result<Tensor> {
    Ok(crate::dtype::cast(target, input.dtype())?)
}

/// BCE on probabilities `p` (torch's `binary_cross_entropy` / `nn.BCELoss`), with torch's
/// numerics: the logs are clamped at -100 and the gradient with respect to `p` is
/// `(p - y) / max(p (1 - p), 1e-12)`, so a saturated sigmoid (`p` exactly 0 or 1) gives a finite
/// loss and a gradient that pushes back, not NaN.
///
/// candle would differentiate the clamped logs to `0 * inf`, so the value is computed outside
/// the graph and the gradient attached through `coef * p - detach(coef * p)`: zero in value,
/// and exactly torch's derivative.
pub fn binary_cross_entropy(p: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    same_shape("binary_cross_entropy", p, target)?;
    let y = like(target, p)?.detach();
    let pd = p.detach();
    let log_p = pd.log()?.maximum(-100.0)?;
    let log_1mp = pd.affine(-1.0, 1.0)?.log()?.maximum(-100.0)?;
    let value = ((&y * log_p)? + (y.affine(-1.0, 1.0)? * log_1mp)?)?.neg()?;
    let losses = if p.track_op() {
        let coef = ((&pd - &y)? / (&pd * pd.affine(-1.0, 1.0)?)?.maximum(1e-12)?)?;
        let surrogate = (coef * p)?;
        (value + (&surrogate - surrogate.detach())?)?
    } else {
        value
    };
    reduction.apply(losses)
}

/// BCE on logits `z` (torch's `binary_cross_entropy_with_logits`), computed stably as
/// `relu(z) - z y + log(1 + exp(-abs(z)))` (Keras's fused sigmoid + binary crossentropy is the
/// same form).
pub fn binary_cross_entropy_with_logits(z: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    same_shape("binary_cross_entropy_with_logits", z, target)?;
    let y = like(target, z)?;
    reduction.apply(bce_with_logits_elements(z, &y)?)
}

/// The per-element `relu(z) - z y + log(1 + exp(-abs(z)))` (`y` already in `z`'s dtype).
pub(crate) fn bce_with_logits_elements(z: &Tensor, y: &Tensor) -> Result<Tensor> {
    // exp of a non-positive number never overflows, and log(1 + u) for u in (0, 1] is well
    // conditioned
    let softplus_tail = z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    Ok(((z.relu()? - (z * y)?)? + softplus_tail)?)
}

/// Mean squared error (torch's `mse_loss`).
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    same_shape("mse_loss", input, target)?;
    reduction.apply((input - like(target, input)?)?.sqr()?)
}

/// Mean absolute error (torch's `l1_loss`).
pub fn l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    same_shape("l1_loss", input, target)?;
    reduction.apply((input - like(target, input)?)?.abs()?)
}

/// Cross-entropy from logits `(n, c)` and integer class indices `(n,)` (torch's
/// `cross_entropy` / `nn.CrossEntropyLoss`): `-log_softmax(z)[i, class_i]` per row. Indices
/// outside `0..c` are an error naming them.
pub fn cross_entropy(logits: &Tensor, classes: &Tensor, reduction: Reduction) -> Result<Tensor> {
    let (n, c) = logits.dims2().map_err(|_| Error::ShapeMismatch {
        operation: "cross_entropy",
        detail: format!("expects logits of shape (N, C), got {}", tuple(logits.dims())),
    })?;
    if classes.dims() != [n] || classes.dtype().is_float() {
        return Err(Error::ShapeMismatch {
            operation: "cross_entropy",
            detail: format!(
                "expects integer class indices of shape ({n},), got {} {}",
                crate::dtype::candle_numpy_name(classes.dtype()),
                tuple(classes.dims())
            ),
        });
    }
    let ids = classes.to_dtype(candle_core::DType::I64)?;
    if n > 0 {
        let (lo, hi) = (ids.min_all()?.to_scalar::<i64>()?, ids.max_all()?.to_scalar::<i64>()?);
        if lo < 0 || hi >= c as i64 {
            return Err(Error::ShapeMismatch {
                operation: "cross_entropy",
                detail: format!("class indices must be in [0, {c}), got {lo}..{hi}"),
            });
        }
    }
    let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = log_p.gather(&ids.to_dtype(candle_core::DType::U32)?.unsqueeze(1)?, 1)?.squeeze(1)?;
    reduction.apply(picked.neg()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn bce_gradient_is_torchs_and_finite_at_saturation() -> Result<()> {
        let p = Var::new(&[1.0f32, 0.0, 0.5, 0.25], &Device::Cpu)?;
        let y = Tensor::new(&[0.0f32, 1.0, 1.0, 0.0], &Device::Cpu)?;
        let loss = binary_cross_entropy(p.as_tensor(), &y, Reduction::Sum)?;
        let g = loss.backward()?.get(p.as_tensor()).unwrap().to_vec1::<f32>()?;
        // (p - y) / max(p (1 - p), 1e-12): 1e12, -1e12, -2, 1 / 0.75
        assert_eq!(&g[..2], [1e12, -1e12]);
        assert!((g[2] + 2.0).abs() < 1e-6 && (g[3] - 4.0 / 3.0).abs() < 1e-6, "{g:?}");
        Ok(())
    }

    #[test]
    fn logits_forms_and_reductions() -> Result<()> {
        let z = Tensor::new(&[[2.0f32, -1.0, 0.5], [0.0, 0.0, 0.0]], &Device::Cpu)?;
        let ids = Tensor::new(&[0i64, 2], &Device::Cpu)?;
        let ce = cross_entropy(&z, &ids, Reduction::None)?.to_vec1::<f32>()?;
        let lse = (2f32.exp() + (-1f32).exp() + 0.5f32.exp()).ln();
        assert!((ce[0] - (lse - 2.0)).abs() < 1e-6 && (ce[1] - 3f32.ln()).abs() < 1e-6, "{ce:?}");
        let bad = Tensor::new(&[0i64, 3], &Device::Cpu)?;
        let err = cross_entropy(&z, &bad, Reduction::Mean).unwrap_err().to_string();
        assert!(err.contains("[0, 3)") && err.contains("0..3"), "{err}");
        let y = Tensor::new(&[[1.0f32, 0.0, 1.0], [0.0, 1.0, 0.0]], &Device::Cpu)?;
        let b = binary_cross_entropy_with_logits(&z, &y, Reduction::Mean)?.to_scalar::<f32>()?;
        let by_hand: f32 = [(2.0f32, 1.0f32), (-1.0, 0.0), (0.5, 1.0), (0.0, 0.0), (0.0, 1.0), (0.0, 0.0)]
            .iter()
            .map(|&(z, y)| z.max(0.0) - z * y + (1.0 + (-z.abs()).exp()).ln())
            .sum::<f32>()
            / 6.0;
        assert!((b - by_hand).abs() < 1e-6, "{b} {by_hand}");
        assert_eq!(mse_loss(&z, &y, Reduction::Sum)?.to_scalar::<f32>()?, 1.0 + 1.0 + 0.25 + 0.0 + 1.0 + 0.0);
        assert!("avg".parse::<Reduction>().unwrap_err().to_string().contains("mean, sum, none"));
        let err = l1_loss(&z, &ids, Reduction::Sum).unwrap_err().to_string();
        assert!(err.contains("differs from input shape"), "{err}");
        Ok(())
    }
}
