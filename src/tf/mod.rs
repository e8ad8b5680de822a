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
    let Some(shape) = shape else { return Ok(t) };
    let wanted: usize = shape.iter().product();
    let have = t.elem_count();
    if have == wanted {
        Ok(t.reshape(shape)?)
    } else if have == 1 {
        Ok(t.reshape(())?.broadcast_as(shape)?.contiguous()?)
    } else {
        Err(Error::ShapeMismatch {
            operation: "tf.constant",
            detail: format!(
                "a value of shape {:?} ({have} elements) cannot fill shape {shape:?} ({wanted} \
                 elements); pass a single value to fill, or a value with {wanted} elements",
                t.dims()
            ),
        })
    }
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

    /// `v.assign(value)`: overwrite the value (same shape and dtype).
    pub fn assign(&self, value: &Tensor) -> Result<()> {
        Ok(self.var.set(value)?)
    }

    /// The candle variable, by value.
    pub fn into_var(self) -> Var {
        self.var
    }
}
