//! TensorFlow-style facade: constructors that always copy (as TensorFlow), [`Variable`], and
//! [`data`]'s `Dataset`, and [`keras`]'s `Sequential` training API.
//!
//! | TensorFlow | here | mode |
//! | --- | --- | --- |
//! | `tf.convert_to_tensor(a, dtype, dtype_hint)` | [`convert_to_tensor`] | [`Sharing::Copy`] |
//! | `tf.constant(a, dtype, shape)` | [`constant`] | [`Sharing::Copy`]; `shape` reshapes, or fills from a single value |
//! | `tf.Variable(a, trainable, dtype)` | [`Variable::new`] | [`Sharing::Copy`] into a candle `Var` |
//!
//! ```
//! use candle_numpy::{tf, ArrayRef};
//! let seven = ArrayRef::from_vec(vec![7i32], &[])?;
//! let t = tf::constant(&seven, None, Some(&[2, 3]))?;
//! assert_eq!(t.to_vec2::<i32>()?, [[7, 7, 7], [7, 7, 7]]);
//! # Ok::<(), candle_numpy::Error>(())
//! ```

pub mod data;
pub mod keras;

use candle_core::{DType, Tensor, Var};

use crate::array::ArrayRef;
use crate::convert::{to_tensor, to_var, Options, Sharing};
use crate::error::{Error, Result};

fn options(dtype: Option<DType>) -> Options {
    Options { dtype, ..Options::default() }
}

/// `tf.convert_to_tensor(value, dtype=None, dtype_hint=None)`: an independent copy, cast to
/// `dtype` when given. `dtype_hint` is accepted for parity and, as in TensorFlow for a value
/// that already has a dtype (every `ArrayRef` does), does not change the result; it matters
/// only where a binding infers a dtype for Python lists and scalars.
pub fn convert_to_tensor(
    value: &ArrayRef,
    dtype: Option<DType>,
    dtype_hint: Option<DType>,
) -> Result<Tensor> {
    let _ = dtype_hint;
    to_tensor(value, Sharing::Copy, &options(dtype))
}

/// `tf.constant(value, dtype=None, shape=None)`: an independent copy. With `shape`, a value
/// with that many elements is reshaped and a single value fills the shape (as TensorFlow);
/// anything else is an error.
pub fn constant(value: &ArrayRef, dtype: Option<DType>, shape: Option<&[usize]>) -> Result<Tensor> {
    let t = to_tensor(value, Sharing::Copy, &options(dtype))?;
    match shape {
        Some(shape) => reshape_or_fill(&t, shape),
        None => Ok(t),
    }
}

/// `tf.constant`'s `shape` rule on a tensor: a view of `t` reshaped when it has that many
/// elements, a new tensor filled from its one element, anything else an error. The fill
/// copies a zero-stride view with the fallible copy kernel, so a huge shape is
/// [`Error::AllocationFailed`] (a `MemoryError` in Python), never an abort of the process.
pub fn reshape_or_fill(t: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let wanted = shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
    let have = t.elem_count();
    if Some(have) == wanted {
        return Ok(t.reshape(shape)?);
    }
    if have == 1 {
        let one = ArrayRef::from_tensor(&t.to_device(&candle_core::Device::Cpu)?)?;
        let opts = Options { device: t.device().clone(), ..Options::default() };
        return to_tensor(&one.filled(shape)?, Sharing::Copy, &opts);
    }
    let wanted = wanted.map_or_else(|| "more than fit in memory".to_string(), |w| w.to_string());
    Err(Error::ShapeMismatch {
        operation: "tf.constant",
        detail: format!(
            "a value of shape {:?} ({have} elements) cannot fill shape {shape:?} ({wanted} \
             elements); pass a single value to fill, or a value with {wanted} elements",
            t.dims()
        ),
    })
}

/// `tf.Variable(initial_value, trainable=True, dtype=None)`: an independent copy held in a
/// candle [`Var`] (usable with candle-nn optimizers), with TensorFlow's `trainable` flag.
///
/// ```
/// use candle_numpy::{tf, ArrayRef};
/// let a = ArrayRef::from_vec(vec![1.0f32, 2.0], &[2])?;
/// let v = tf::Variable::new(&a, true, None)?;
/// assert!(v.trainable());
/// assert_eq!(v.as_tensor().to_vec1::<f32>()?, [1.0, 2.0]);
/// # Ok::<(), candle_numpy::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Variable {
    var: Var,
    trainable: bool,
}

impl Variable {
    /// Copy `initial_value` (cast to `dtype` when given) into a new variable.
    pub fn new(initial_value: &ArrayRef, trainable: bool, dtype: Option<DType>) -> Result<Self> {
        Ok(Variable { var: to_var(initial_value, Sharing::Copy, &options(dtype))?, trainable })
    }

    /// The candle variable (hand it to an optimizer when [`trainable`](Self::trainable)).
    pub fn var(&self) -> &Var {
        &self.var
    }

    /// The current value.
    pub fn as_tensor(&self) -> &Tensor {
        self.var.as_tensor()
    }

    /// Whether optimizers should update it (TensorFlow's `trainable`).
    pub fn trainable(&self) -> bool {
        self.trainable
    }

    /// A new variable holding a copy of `value` (never its memory, even when `value` is a
    /// variable itself), on `value`'s device.
    pub fn from_tensor(value: &Tensor, trainable: bool) -> Result<Self> {
        // a detached tensor is never a variable, so candle copies it into the new Var
        Ok(Variable { var: Var::from_tensor(&value.detach())?, trainable })
    }

    /// `v.assign(value)`: overwrite the value with `value` cast to the variable's dtype and
    /// broadcast to its shape (a shape that does not broadcast is an error). This is
    /// [`inplace::assign`](crate::inplace::assign), which copies `value` first only when it is
    /// this variable's own memory.
    pub fn assign(&self, value: &Tensor) -> Result<()> {
        crate::inplace::assign(self.var.as_tensor(), value)
    }

    /// `v.assign_add(delta)`: add `delta` (cast to the variable's dtype, broadcast).
    pub fn assign_add(&self, delta: &Tensor) -> Result<()> {
        let d = crate::dtype::cast(delta, self.var.dtype())?;
        Ok(self.var.set(&self.var.as_tensor().broadcast_add(&d)?)?)
    }

    /// The candle variable, by value.
    pub fn into_var(self) -> Var {
        self.var
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_fills_reshapes_and_fails_cleanly_on_huge_shapes() -> Result<()> {
        let one = ArrayRef::from_vec(vec![2.5f64], &[1, 1])?;
        let t = constant(&one, Some(DType::F32), Some(&[2, 3]))?;
        assert_eq!(t.to_vec2::<f32>()?, [[2.5; 3]; 2]);
        let six = ArrayRef::from_vec((0..6).collect::<Vec<i64>>(), &[6])?;
        assert_eq!(constant(&six, None, Some(&[3, 2]))?.to_vec2::<i64>()?, [[0, 1], [2, 3], [4, 5]]);
        let err = constant(&six, None, Some(&[4])).unwrap_err().to_string();
        assert!(err.contains("cannot fill shape [4]") && err.contains("[6]"), "{err}");
        // 4 TiB: an allocation error, not an abort (candle's own allocation would abort)
        let err = constant(&one, Some(DType::F32), Some(&[1 << 20, 1 << 20])).unwrap_err();
        assert!(matches!(err, Error::AllocationFailed { .. }), "{err}");
        Ok(())
    }
}
