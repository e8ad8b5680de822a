//! torch's type promotion for `cn.Tensor` arithmetic and comparisons.
//!
//! - Tensor with tensor: by category (integer < floating point), then by width; `uint8` with a
//!   signed integer gives the signed one (`uint8 + int32 -> int32`); `float16 +
//!   bfloat16 -> float32`. float8 promotes with nothing else, and uint32 with no other integer
//!   type (torch refuses both too).
//! - A 0-d tensor or a Python number only decides the result when its category is higher than
//!   the dimensioned operands' (`int32 tensor + 0.5 -> float32`, `float32 tensor + 0-d float64
//!   -> float32`, `int32 tensor + 0-d float64 -> float64`). Python floats count as float32 and
//!   Python ints as int64 (torch's default dtypes); a Python bool never changes the type.
//! - True division (`/`) gives floating point: integer results become float32.
//! - In-place ops keep the tensor's dtype and refuse a result of a higher category
//!   (`int32 tensor /= 2` is an error, as in torch).
//!
//! A Python int is converted to an integer result type by wrapping, as torch does
//! (`uint8 250 + 300 == 38`).

use candle_core::{DType, Device, Tensor};
use pyo3::exceptions::PyTypeError;
use pyo3::PyErr;

use crate::dtype::name;

/// A Python number operand, with the kind torch types it by.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
}

/// The category torch promotes by: integers (candle has no bool dtype) below floating point.
fn is_float(d: DType) -> bool {
    d.is_float()
}

fn float_rank(d: DType) -> u8 {
    match d {
        DType::F16 | DType::BF16 => 1,
        DType::F32 => 2,
        _ => 3,
    }
}

fn refused(a: DType, b: DType) -> PyErr {
    let (what, fix) = if a == DType::F8E4M3 || b == DType::F8E4M3 {
        ("float8 promotes with no other dtype", ".float()")
    } else {
        ("uint32 promotes with no other integer dtype", ".long()")
    };
    PyTypeError::new_err(format!(
        "no common dtype for {} and {}: {what} (as in torch); convert with {fix} first",
        name(a),
        name(b)
    ))
}

/// `torch.promote_types(a, b)` over candle's dtypes.
pub(crate) fn promote_types(a: DType, b: DType) -> Result<DType, PyErr> {
    if a == b {
        return Ok(a);
    }
    if a == DType::F8E4M3 || b == DType::F8E4M3 {
        return Err(refused(a, b));
    }
    Ok(match (is_float(a), is_float(b)) {
        (true, false) => a,
        (false, true) => b,
        (true, true) => match (float_rank(a), float_rank(b)) {
            // float16 with bfloat16: neither holds the other
            (1, 1) => DType::F32,
            (ra, rb) if ra >= rb => a,
            _ => b,
        },
        (false, false) => {
            if a == DType::U32 || b == DType::U32 {
                return Err(refused(a, b));
            }
            // uint8 with a signed type (int16 and up): the signed one, which holds 0..=255
            if a.size_in_bytes() >= b.size_in_bytes() {
                a
            } else {
                b
            }
        }
    })
}

/// torch's `combine_categories`: the higher tier's dtype, unless the lower tier has a higher
/// category (floating point over integer), then their promotion.
fn combine(higher: Option<DType>, lower: Option<DType>) -> Result<Option<DType>, PyErr> {
    match (higher, lower) {
        (Some(h), Some(l)) if !is_float(h) && is_float(l) => promote_types(h, l).map(Some),
        (Some(h), _) => Ok(Some(h)),
        (None, l) => Ok(l),
    }
}

/// What the other operand of an arithmetic op or comparison is, for typing.
pub(crate) enum Other<'a> {
    Scalar(Scalar),
    Tensor(&'a Tensor),
}

/// `torch.result_type(t, other)`.
pub(crate) fn result_type(t: &Tensor, other: &Other<'_>) -> Result<DType, PyErr> {
    let mut dim: Option<DType> = None;
    let mut zero: Option<DType> = None;
    let mut add = |x: &Tensor| -> Result<(), PyErr> {
        let tier = if x.rank() == 0 { &mut zero } else { &mut dim };
        *tier = Some(match *tier {
            None => x.dtype(),
            Some(d) => promote_types(d, x.dtype())?,
        });
        Ok(())
    };
    add(t)?;
    let wrapped = match other {
        Other::Tensor(o) => {
            add(o)?;
            None
        }
        Other::Scalar(Scalar::Bool(_)) => None,
        Other::Scalar(Scalar::Int(_)) => Some(DType::I64),
        Other::Scalar(Scalar::Float(_)) => Some(DType::F32),
    };
    let lower = combine(zero, wrapped)?;
    let out = combine(dim, lower)?.unwrap_or(t.dtype());
    // float8 takes part in no arithmetic (torch has no kernels for it either)
    if out == DType::F8E4M3 {
        return Err(PyTypeError::new_err(
            "arithmetic on float8_e4m3fn tensors is not supported (as in torch); convert with \
             .float() first and back with .to(\"float8_e4m3fn\")",
        ));
    }
    Ok(out)
}

/// TensorFlow's rule, for tensors of the tf facade: no implicit promotion. Both tensors must
/// have one dtype; a Python int takes the tensor's dtype, a Python float needs a floating-point
/// tensor. True division of integers gives float32 (8- and 16-bit) or float64, as
/// `tf.math.truediv`.
pub(crate) fn tf_result_type(t: &Tensor, other: &Other<'_>, div: bool) -> Result<DType, PyErr> {
    let d = t.dtype();
    match other {
        Other::Tensor(o) if o.dtype() != d => {
            return Err(PyTypeError::new_err(format!(
                "tf: no implicit promotion between {} and {} tensors (as in TensorFlow); cast one \
                 first with tf.cast(x, dtype) (x.to(dtype))",
                name(d),
                name(o.dtype())
            )))
        }
        Other::Scalar(Scalar::Float(x)) if !d.is_float() => {
            return Err(PyTypeError::new_err(format!(
                "tf: cannot convert the Python float {x} to a {} tensor (as in TensorFlow); cast \
                 the tensor first with tf.cast(x, tf.float32) (x.to(\"float32\"))",
                name(d)
            )))
        }
        _ => {}
    }
    if d == DType::F8E4M3 {
        return result_type(t, other);
    }
    Ok(match d {
        DType::U8 | DType::I16 if div => DType::F32,
        d if div && !d.is_float() => DType::F64,
        d => d,
    })
}

/// A 0-d tensor holding `x` as `dtype`; Python ints wrap into integer dtypes (as torch).
pub(crate) fn scalar_tensor(x: Scalar, dtype: DType, device: &Device) -> candle_core::Result<Tensor> {
    let t = match (x, dtype) {
        (Scalar::Float(v), _) => Tensor::new(v, device)?,
        (Scalar::Bool(b), _) => Tensor::new(b as i64, device)?,
        // `as` between integers wraps: what torch does with an out-of-range Python int
        (Scalar::Int(i), DType::U8) => Tensor::new(i as u8, device)?,
        (Scalar::Int(i), DType::U32) => Tensor::new(i as u32, device)?,
        (Scalar::Int(i), DType::I16) => Tensor::new(i as i16, device)?,
        (Scalar::Int(i), DType::I32) => Tensor::new(i as i32, device)?,
        (Scalar::Int(i), _) => Tensor::new(i, device)?,
    };
    candle_numpy::dtype::cast(&t, dtype)
}

/// torch's `can_cast(from, to)` for writing a result in place: never floating point into an
/// integer tensor.
pub(crate) fn can_cast(from: DType, to: DType) -> bool {
    !is_float(from) || is_float(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promote_types_follows_torch() {
        use DType::*;
        let cases = [
            (U8, I16, I16),
            (U8, I32, I32),
            (I16, I64, I64),
            (U32, F16, F16),
            (F16, BF16, F32),
            (F16, F32, F32),
            (BF16, F64, F64),
            (I64, F16, F16),
            (U8, BF16, BF16),
        ];
        for (a, b, want) in cases {
            assert_eq!(promote_types(a, b).unwrap(), want, "{a:?} {b:?}");
            assert_eq!(promote_types(b, a).unwrap(), want, "{b:?} {a:?}");
        }
        for (a, b) in [(U32, U8), (U32, I64), (F8E4M3, F32), (F8E4M3, U8)] {
            assert!(promote_types(a, b).is_err() && promote_types(b, a).is_err(), "{a:?} {b:?}");
        }
    }

    #[test]
    fn wrapped_ints_wrap() {
        let t = scalar_tensor(Scalar::Int(300), DType::U8, &Device::Cpu).unwrap();
        assert_eq!(t.to_scalar::<u8>().unwrap(), 44);
        let t = scalar_tensor(Scalar::Int(-1), DType::U32, &Device::Cpu).unwrap();
        assert_eq!(t.to_scalar::<u32>().unwrap(), u32::MAX);
    }
}
