//! `keras.layers`: the layer configurations a [`Sequential`](super::Sequential) is made of.
//!
//! A layer here is a description (units, activation, rate); the model owns the weights it
//! creates for them when it is built, so one layer value can be reused in several models.
//! The set is closed ([`Layer`] is an enum) so that the model can read the last activation
//! and fuse it with the loss (see [`losses`](super::losses)).

use crate::error::{Error, Result};

use super::activation::Activation;

/// `keras.layers.Dense(units, activation=None, input_shape=None)`: `activation(x @ kernel +
/// bias)` with a `(in, units)` kernel (glorot-uniform initialised) and a zero bias.
///
/// ```
/// use candle_numpy::tf::keras::layers::Dense;
/// let d = Dense::new(16).activation("relu")?.input_shape(&[10]);
/// assert_eq!((d.units, d.input_shape.as_deref()), (16, Some(&[10][..])));
/// # Ok::<(), candle_numpy::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// Output width.
    pub units: usize,
    /// Applied to the affine output.
    pub activation: Activation,
    /// The per-sample input shape (without the batch axis), when this is the first layer.
    pub input_shape: Option<Vec<usize>>,
}

impl Dense {
    /// A linear dense layer of `units` outputs (`units == 0` is refused by
    /// [`Sequential::new`](super::Sequential::new) and [`add`](super::Sequential::add)).
    pub fn new(units: usize) -> Self {
        Dense { units, activation: Activation::Linear, input_shape: None }
    }

    /// With an activation, by name (`"relu"`) or as an [`Activation`].
    pub fn activation<A>(mut self, activation: A) -> Result<Self>
    where
        A: TryInto<Activation>,
        Error: From<A::Error>,
    {
        self.activation = activation.try_into()?;
        Ok(self)
    }

    /// With Keras's `input_shape` (per sample, without the batch axis): `&[10]` for rows of
    /// 10 features. Lets the model build at `compile`.
    pub fn input_shape(mut self, shape: &[usize]) -> Self {
        self.input_shape = Some(shape.to_vec());
        self
    }
}

pub(crate) fn check_units(units: usize) -> Result<()> {
    if units == 0 {
        return Err(Error::InvalidArgument {
            operation: "Dense",
            argument: "units",
            value: "0".into(),
            fix: "use at least one unit",
        });
    }
    Ok(())
}

/// `keras.layers.Dropout(rate)`: during `fit`, zero each input with probability `rate` and
/// scale the rest by `1 / (1 - rate)`; the identity in `evaluate` and `predict`. Masks come
/// from the model's seeded generator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    rate: f64,
}

impl Dropout {
    /// A dropout layer; `rate` must be in `[0, 1)`.
    ///
    /// ```
    /// use candle_numpy::tf::keras::layers::Dropout;
    /// assert!(Dropout::new(0.5).is_ok());
    /// assert!(Dropout::new(1.0).unwrap_err().to_string().contains("[0, 1)"));
    /// ```
    pub fn new(rate: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::InvalidArgument {
                operation: "Dropout",
                argument: "rate",
                value: rate.to_string(),
                fix: "use a drop probability in [0, 1)",
            });
        }
        Ok(Dropout { rate })
    }

    /// The drop probability.
    pub fn rate(&self) -> f64 {
        self.rate
    }
}

/// `keras.layers.Flatten()`: `(batch, d1, d2, ...)` to `(batch, d1 * d2 * ...)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flatten {
    /// The per-sample input shape, when this is the first layer.
    pub input_shape: Option<Vec<usize>>,
}

impl Flatten {
    /// A flatten layer.
    pub fn new() -> Self {
        Flatten::default()
    }

    /// With Keras's `input_shape` (per sample): `&[28, 28]` for 28x28 images.
    pub fn input_shape(mut self, shape: &[usize]) -> Self {
        self.input_shape = Some(shape.to_vec());
        self
    }
}

/// Any layer a [`Sequential`](super::Sequential) accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// [`Dense`].
    Dense(Dense),
    /// [`Dropout`].
    Dropout(Dropout),
    /// [`Flatten`].
    Flatten(Flatten),
}

impl Layer {
    /// The Keras class name ("Dense", "Dropout", "Flatten").
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "Dense",
            Layer::Dropout(_) => "Dropout",
            Layer::Flatten(_) => "Flatten",
        }
    }

    /// The `input_shape` given to this layer, if any.
    pub fn input_shape(&self) -> Option<&[usize]> {
        match self {
            Layer::Dense(d) => d.input_shape.as_deref(),
            Layer::Flatten(f) => f.input_shape.as_deref(),
            Layer::Dropout(_) => None,
        }
    }
}

impl From<Dense> for Layer {
    fn from(d: Dense) -> Self {
        Layer::Dense(d)
    }
}

impl From<Dropout> for Layer {
    fn from(d: Dropout) -> Self {
        Layer::Dropout(d)
    }
}

impl From<Flatten> for Layer {
    fn from(f: Flatten) -> Self {
        Layer::Flatten(f)
    }
}
