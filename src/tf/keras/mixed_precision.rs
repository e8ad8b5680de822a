//! Mixed precision: Keras's dtype policies and dynamic loss scaling.
//!
//! Under a mixed policy the model keeps f32 master weights (the optimizer updates those);
//! each forward pass casts the weights and the inputs to the compute dtype, runs the layers
//! there, and casts the last layer's output back to f32 before the loss, so losses, metrics
//! and gradients with respect to the weights are f32. With `mixed_float16`, whose range ends
//! at 65504, the loss is multiplied by a [`LossScaler`] factor so that small gradients do not
//! flush to zero in f16; the gradients are divided by it before the step, and a step whose
//! gradients overflowed is skipped.
//!
//! **When it pays off.** On CUDA GPUs with tensor cores, f16/bf16 matmuls run several times
//! faster than f32 and move half the bytes. On the CPU it does not: candle's CPU f16/bf16
//! matmul is slower than f32 (there is no native half-precision FMA on most CPUs, so gemm
//! converts), and the casts add work. Measured on this project's 2-core build machine
//! (release build, `cargo run --release --example train_keras -- --bench`, seed model
//! 10 -> 16 relu -> 1 sigmoid, Adam, 5 epochs after a warm-up epoch, one run on a shared
//! machine):
//!
//! | policy | 1000 x 10, batch 32: ms/epoch (µs/step) | 100k x 10, batch 256: ms/epoch (µs/step) |
//! | --- | --- | --- |
//! | `float32` | 1.13 (35) | 36.6 (94) |
//! | `mixed_bfloat16` | 1.42 (45) | 55.3 (142) |
//! | `mixed_float16` | 2.05 (64) | 107 (274) |
//!
//! (`mixed_float16` also reads the gradient norm back every step to decide whether to skip
//! it.) All three reach the same accuracy on that task.
//!
//! Use `float32` on the CPU; use a mixed policy on a GPU.

use std::fmt;
use std::str::FromStr;

use candle_core::DType;

use crate::error::{Error, Result};

/// A dtype policy (`keras.mixed_precision.set_global_policy("mixed_float16")`), set per
/// model with [`Sequential::with_dtype_policy`](super::Sequential::with_dtype_policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// Everything in f32.
    #[default]
    Float32,
    /// f32 weights, f16 compute, dynamic loss scaling.
    MixedFloat16,
    /// f32 weights, bf16 compute (bf16 has f32's range: no loss scaling).
    MixedBFloat16,
}

impl Policy {
    /// Every accepted name.
    pub const NAMES: &'static [&'static str] = &["float32", "mixed_float16", "mixed_bfloat16"];

    /// The Keras name.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Float32 => "float32",
            Policy::MixedFloat16 => "mixed_float16",
            Policy::MixedBFloat16 => "mixed_bfloat16",
        }
    }

    /// The dtype layers compute in.
    pub fn compute_dtype(self) -> DType {
        match self {
            Policy::Float32 => DType::F32,
            Policy::MixedFloat16 => DType::F16,
            Policy::MixedBFloat16 => DType::BF16,
        }
    }

    /// The dtype of the weights (always f32).
    pub fn variable_dtype(self) -> DType {
        DType::F32
    }

    /// Whether training scales the loss (f16 only).
    pub fn loss_scaling(self) -> bool {
        self == Policy::MixedFloat16
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Policy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "float32" => Policy::Float32,
            "mixed_float16" => Policy::MixedFloat16,
            "mixed_bfloat16" => Policy::MixedBFloat16,
            _ => {
                return Err(Error::UnknownName {
                    what: "dtype policy",
                    given: s.to_string(),
                    valid: Self::NAMES,
                })
            }
        })
    }
}

crate::tf::keras::try_from_str!(Policy);

/// Keras's dynamic loss scale: start at 2^15; a step with non-finite gradients is skipped
/// and halves the scale; [`growth_interval`](Self::GROWTH_INTERVAL) finite steps in a row
/// double it.
///
/// ```
/// use candle_numpy::tf::keras::mixed_precision::LossScaler;
/// let mut s = LossScaler::new();
/// assert_eq!(s.scale(), 32768.0);
/// assert!(!s.update(false)); // overflow: skip the step
/// assert_eq!(s.scale(), 16384.0);
/// assert!(s.update(true));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LossScaler {
    scale: f64,
    good_steps: u32,
}

impl Default for LossScaler {
    fn default() -> Self {
        Self::new()
    }
}

impl LossScaler {
    /// Initial scale (2^15).
    pub const INITIAL_SCALE: f64 = 32768.0;
    /// Finite steps in a row before the scale doubles.
    pub const GROWTH_INTERVAL: u32 = 2000;
    /// The scale never drops below 1.
    pub const MIN_SCALE: f64 = 1.0;

    /// A scaler at the initial scale.
    pub fn new() -> Self {
        LossScaler { scale: Self::INITIAL_SCALE, good_steps: 0 }
    }

    /// The current factor.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Record one step's outcome; returns whether to apply it (`grads_finite`).
    pub fn update(&mut self, grads_finite: bool) -> bool {
        if grads_finite {
            self.good_steps += 1;
            if self.good_steps >= Self::GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        } else {
            self.scale = (self.scale / 2.0).max(Self::MIN_SCALE);
            self.good_steps = 0;
        }
        grads_finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_halves_on_overflow_and_doubles_after_the_interval() {
        let mut s = LossScaler::new();
        assert!(!s.update(false));
        assert!(!s.update(false));
        assert_eq!(s.scale(), LossScaler::INITIAL_SCALE / 4.0);
        for _ in 0..LossScaler::GROWTH_INTERVAL - 1 {
            assert!(s.update(true));
        }
        assert_eq!(s.scale(), LossScaler::INITIAL_SCALE / 4.0);
        assert!(s.update(true));
        assert_eq!(s.scale(), LossScaler::INITIAL_SCALE / 2.0);
        // an overflow resets the streak
        for _ in 0..10 {
            s.update(true);
        }
        s.update(false);
        for _ in 0..LossScaler::GROWTH_INTERVAL - 1 {
            s.update(true);
        }
        assert_eq!(s.scale(), LossScaler::INITIAL_SCALE / 4.0);
    }

    #[test]
    fn policy_names() {
        assert_eq!("mixed_bfloat16".parse::<Policy>().unwrap().compute_dtype(), DType::BF16);
        let err = "float16".parse::<Policy>().unwrap_err().to_string();
        assert!(err.contains("mixed_float16"), "{err}");
    }
}
