//! `keras.layers`: the layer configurations a [`Sequential`](super::Sequential) is made of.
//!
//! A layer here is a description (units, activation, rate); the model owns the weights it
//! creates for them when it is built, so one layer value can be reused in several models.
//! The set is closed ([`Layer`] is an enum) so that the model can read the last activation
//! and fuse it with the loss (see [`losses`](super::losses)).
//!
//! Image layers are channels-last, as Keras's default: per-sample inputs `(H, W, C)` for the
//! 2-d layers and `(L, C)` for the 1-d ones. Their computations are the engine's
//! ([`crate::train::conv`], [`crate::train::norm`]), shared with `cn.torch.nn`.

use crate::error::{Error, Result};
use crate::train::conv::Padding;

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

/// Keras's `padding` argument of convolutions and pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaddingMode {
    /// No padding (`"valid"`, the default).
    #[default]
    Valid,
    /// Pad so that the output has `ceil(size / stride)` positions (`"same"`).
    Same,
}

impl std::str::FromStr for PaddingMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "valid" => Ok(PaddingMode::Valid),
            "same" => Ok(PaddingMode::Same),
            _ => Err(Error::InvalidArgument {
                operation: "layers",
                argument: "padding",
                value: format!("{s:?}"),
                fix: "use \"valid\" or \"same\"",
            }),
        }
    }
}

impl PaddingMode {
    /// The zero padding of a window over an input of `(h, w)`: none for `"valid"`, TF's split
    /// for `"same"` ([`Padding::same`]).
    pub fn resolve(
        self,
        input: (usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        dilation: (usize, usize),
    ) -> Padding {
        match self {
            PaddingMode::Valid => Padding::default(),
            PaddingMode::Same => Padding::same(input, kernel, stride, dilation),
        }
    }

    /// The Keras spelling.
    pub fn name(&self) -> &'static str {
        match self {
            PaddingMode::Valid => "valid",
            PaddingMode::Same => "same",
        }
    }
}

/// `keras.layers.Conv2D(filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
/// activation=None, use_bias=True)` on `(H, W, C)` samples, or `Conv1D` (`rank == 1`) on
/// `(L, C)` samples (then only the second components of the pairs are used). The kernel
/// `(kh, kw, C, filters)` (`(k, C, filters)` for 1-d) is glorot-uniform, the bias zeros.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    /// 1 (`Conv1D`) or 2 (`Conv2D`).
    pub rank: usize,
    /// Output channels.
    pub filters: usize,
    /// `(kh, kw)`; `(1, k)` for 1-d.
    pub kernel_size: (usize, usize),
    /// `(sh, sw)`.
    pub strides: (usize, usize),
    /// `"valid"` or `"same"`.
    pub padding: PaddingMode,
    /// `(dh, dw)`.
    pub dilation_rate: (usize, usize),
    /// Applied after the bias (ReLU is fused into the convolution's op).
    pub activation: Activation,
    /// Whether there is a bias.
    pub use_bias: bool,
    /// The per-sample input shape, when this is the first layer.
    pub input_shape: Option<Vec<usize>>,
}

impl Conv {
    /// `Conv2D(filters, (kh, kw))`.
    pub fn conv2d(filters: usize, kernel_size: (usize, usize)) -> Self {
        Conv {
            rank: 2,
            filters,
            kernel_size,
            strides: (1, 1),
            padding: PaddingMode::Valid,
            dilation_rate: (1, 1),
            activation: Activation::Linear,
            use_bias: true,
            input_shape: None,
        }
    }

    /// `Conv1D(filters, k)`.
    pub fn conv1d(filters: usize, kernel_size: usize) -> Self {
        Conv { rank: 1, kernel_size: (1, kernel_size), ..Conv::conv2d(filters, (1, kernel_size)) }
    }

    /// With an activation, by name or value.
    pub fn activation<A>(mut self, activation: A) -> Result<Self>
    where
        A: TryInto<Activation>,
        Error: From<A::Error>,
    {
        self.activation = activation.try_into()?;
        Ok(self)
    }

    /// With strides.
    pub fn strides(mut self, strides: (usize, usize)) -> Self {
        self.strides = strides;
        self
    }

    /// With `"valid"` or `"same"` padding.
    pub fn padding(mut self, padding: PaddingMode) -> Self {
        self.padding = padding;
        self
    }

    /// With Keras's `input_shape` (per sample).
    pub fn input_shape(mut self, shape: &[usize]) -> Self {
        self.input_shape = Some(shape.to_vec());
        self
    }
}

/// What a pooling layer computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// `MaxPooling2D` / `MaxPooling1D`.
    Max,
    /// `AveragePooling2D` / `AveragePooling1D` (with `"same"` padding, padded positions are
    /// not counted, as Keras).
    Average,
}

/// `keras.layers.MaxPooling2D(pool_size=(2, 2), strides=None, padding="valid")` and
/// `AveragePooling2D` (`rank == 2`), or their 1-d forms. `strides` default to `pool_size`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pooling {
    /// Max or average.
    pub mode: PoolMode,
    /// 1 or 2.
    pub rank: usize,
    /// `(ph, pw)`; `(1, p)` for 1-d.
    pub pool_size: (usize, usize),
    /// `(sh, sw)`.
    pub strides: (usize, usize),
    /// `"valid"` or `"same"`.
    pub padding: PaddingMode,
}

impl Pooling {
    /// `MaxPooling2D(pool_size)` / `AveragePooling2D(pool_size)` with strides = pool size.
    pub fn new2d(mode: PoolMode, pool_size: (usize, usize)) -> Self {
        Pooling { mode, rank: 2, pool_size, strides: pool_size, padding: PaddingMode::Valid }
    }
}

/// `keras.layers.GlobalAveragePooling2D()` (`rank == 2`, `(H, W, C) -> (C,)`) or
/// `GlobalAveragePooling1D()` (`(L, C) -> (C,)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalAveragePooling {
    /// 1 or 2.
    pub rank: usize,
}

/// `keras.layers.BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center=True,
/// scale=True)`: normalise each channel (the last axis) with the batch's statistics in `fit`
/// and with moving averages (`moving = momentum * moving + (1 - momentum) * batch`) in
/// `evaluate` and `predict`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormalization {
    /// Weight of the old moving value.
    pub momentum: f64,
    /// Added to the variance.
    pub epsilon: f64,
    /// Learn a shift `beta`.
    pub center: bool,
    /// Learn a scale `gamma`.
    pub scale: bool,
}

impl Default for BatchNormalization {
    fn default() -> Self {
        BatchNormalization { momentum: 0.99, epsilon: 1e-3, center: true, scale: true }
    }
}

/// `keras.layers.LayerNormalization(axis=-1, epsilon=1e-3, center=True, scale=True)`:
/// normalise each sample over its last axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerNormalization {
    /// Added to the variance.
    pub epsilon: f64,
    /// Learn a shift `beta`.
    pub center: bool,
    /// Learn a scale `gamma`.
    pub scale: bool,
}

impl Default for LayerNormalization {
    fn default() -> Self {
        LayerNormalization { epsilon: 1e-3, center: true, scale: true }
    }
}

/// `keras.layers.Embedding(input_dim, output_dim)`: integer ids `(L,)` per sample to
/// `(L, output_dim)` rows of a table initialised uniform in `[-0.05, 0.05]`. Ids arrive in
/// the compute dtype and must be whole numbers in `[0, input_dim)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// Vocabulary size.
    pub input_dim: usize,
    /// Row width.
    pub output_dim: usize,
    /// The per-sample input shape, when this is the first layer (`(L,)`).
    pub input_shape: Option<Vec<usize>>,
}

/// `keras.layers.Reshape(target_shape)`: per-sample shape, one dimension may be `-1`
/// (`None` here), inferred.
#[derive(Debug, Clone, PartialEq)]
pub struct Reshape {
    /// The per-sample output shape; `None` marks the inferred dimension.
    pub target_shape: Vec<Option<usize>>,
    /// The per-sample input shape, when this is the first layer.
    pub input_shape: Option<Vec<usize>>,
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
    /// [`Conv`]: `Conv1D`, `Conv2D`.
    Conv(Conv),
    /// [`Pooling`]: `MaxPooling1D/2D`, `AveragePooling1D/2D`.
    Pooling(Pooling),
    /// [`GlobalAveragePooling`].
    GlobalAveragePooling(GlobalAveragePooling),
    /// [`BatchNormalization`].
    BatchNormalization(BatchNormalization),
    /// [`LayerNormalization`].
    LayerNormalization(LayerNormalization),
    /// [`Embedding`].
    Embedding(Embedding),
    /// [`Reshape`].
    Reshape(Reshape),
    /// `keras.layers.Activation(activation)`.
    Activation(Activation),
}

impl Layer {
    /// The Keras class name ("Dense", "Conv2D", "MaxPooling2D", ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "Dense",
            Layer::Dropout(_) => "Dropout",
            Layer::Flatten(_) => "Flatten",
            Layer::Conv(c) if c.rank == 1 => "Conv1D",
            Layer::Conv(_) => "Conv2D",
            Layer::Pooling(p) => match (p.mode, p.rank) {
                (PoolMode::Max, 1) => "MaxPooling1D",
                (PoolMode::Max, _) => "MaxPooling2D",
                (PoolMode::Average, 1) => "AveragePooling1D",
                (PoolMode::Average, _) => "AveragePooling2D",
            },
            Layer::GlobalAveragePooling(g) if g.rank == 1 => "GlobalAveragePooling1D",
            Layer::GlobalAveragePooling(_) => "GlobalAveragePooling2D",
            Layer::BatchNormalization(_) => "BatchNormalization",
            Layer::LayerNormalization(_) => "LayerNormalization",
            Layer::Embedding(_) => "Embedding",
            Layer::Reshape(_) => "Reshape",
            Layer::Activation(_) => "Activation",
        }
    }

    /// Keras's default layer name stem: the class name in snake case ("dense", "conv2d",
    /// "max_pooling2d", "batch_normalization", ...), as Keras derives it.
    pub fn base_name(&self) -> String {
        let mut out = String::new();
        let mut prev_lower = false;
        for ch in self.kind().chars() {
            if ch.is_ascii_uppercase() && prev_lower {
                out.push('_');
            }
            prev_lower = ch.is_ascii_lowercase();
            out.push(ch.to_ascii_lowercase());
        }
        out
    }

    /// The `input_shape` given to this layer, if any.
    pub fn input_shape(&self) -> Option<&[usize]> {
        match self {
            Layer::Dense(d) => d.input_shape.as_deref(),
            Layer::Flatten(f) => f.input_shape.as_deref(),
            Layer::Conv(c) => c.input_shape.as_deref(),
            Layer::Embedding(e) => e.input_shape.as_deref(),
            Layer::Reshape(r) => r.input_shape.as_deref(),
            _ => None,
        }
    }

    /// Check the configuration's sizes (at least one unit, filter, ...; sizes and strides at
    /// least 1; rates in range).
    pub fn validate(&self) -> Result<()> {
        let bad = |argument: &'static str, value: String, fix: &'static str| {
            Err(Error::InvalidArgument { operation: self.kind(), argument, value, fix })
        };
        let positive = |p: (usize, usize)| p.0 >= 1 && p.1 >= 1;
        match self {
            Layer::Dense(d) => check_units(d.units),
            Layer::Conv(c) => {
                if c.filters == 0 {
                    return bad("filters", "0".into(), "use at least one filter");
                }
                if !positive(c.kernel_size) || !positive(c.strides) || !positive(c.dilation_rate) {
                    return bad(
                        "kernel_size/strides/dilation_rate",
                        format!("{:?} / {:?} / {:?}", c.kernel_size, c.strides, c.dilation_rate),
                        "every size, stride and dilation must be at least 1",
                    );
                }
                if c.strides != (1, 1) && c.dilation_rate != (1, 1) {
                    return bad(
                        "dilation_rate",
                        format!("{:?} with strides {:?}", c.dilation_rate, c.strides),
                        "Keras refuses strides > 1 together with dilation_rate > 1; use one of them",
                    );
                }
                Ok(())
            }
            Layer::Pooling(p) if !positive(p.pool_size) || !positive(p.strides) => bad(
                "pool_size/strides",
                format!("{:?} / {:?}", p.pool_size, p.strides),
                "pool sizes and strides must be at least 1",
            ),
            Layer::BatchNormalization(b)
                if !(0.0..=1.0).contains(&b.momentum) || b.epsilon.is_nan() || b.epsilon < 0.0 =>
            {
                bad(
                    "momentum/epsilon",
                    format!("{} / {}", b.momentum, b.epsilon),
                    "momentum in [0, 1], epsilon >= 0",
                )
            }
            Layer::LayerNormalization(l) if l.epsilon.is_nan() || l.epsilon < 0.0 => {
                bad("epsilon", l.epsilon.to_string(), "use epsilon >= 0")
            }
            Layer::Embedding(e) if e.input_dim == 0 || e.output_dim == 0 => bad(
                "input_dim/output_dim",
                format!("{} / {}", e.input_dim, e.output_dim),
                "both must be at least 1",
            ),
            Layer::Reshape(r)
                if r.target_shape.iter().filter(|d| d.is_none()).count() > 1
                    || r.target_shape.contains(&Some(0)) =>
            {
                bad(
                    "target_shape",
                    format!("{:?}", r.target_shape),
                    "at most one dimension may be -1 (inferred); the others must be at least 1",
                )
            }
            _ => Ok(()),
        }
    }
}

macro_rules! layer_from {
    ($($t:ident => $v:ident),*) => {
        $(impl From<$t> for Layer {
            fn from(l: $t) -> Self {
                Layer::$v(l)
            }
        })*
    };
}
layer_from!(Dense => Dense, Dropout => Dropout, Flatten => Flatten, Conv => Conv, Pooling => Pooling,
    GlobalAveragePooling => GlobalAveragePooling, BatchNormalization => BatchNormalization,
    LayerNormalization => LayerNormalization, Embedding => Embedding, Reshape => Reshape,
    Activation => Activation);

// ---- configs (Keras's get_config / from_config, and the architecture in saved models) ----

use serde_json::{json, Value};

fn pair_json(p: (usize, usize), rank: usize) -> Value {
    if rank == 1 {
        json!([p.1])
    } else {
        json!([p.0, p.1])
    }
}

impl Layer {
    /// Keras's `{"class_name": ..., "config": {...}}` for this layer (argument names as
    /// Keras's; 1-d layers give 1-element sizes).
    pub fn to_config(&self) -> Value {
        let shape = |s: &Option<Vec<usize>>| s.as_ref().map_or(Value::Null, |s| json!(s));
        let config = match self {
            Layer::Dense(d) => {
                json!({"units": d.units, "activation": d.activation.name(), "input_shape": shape(&d.input_shape)})
            }
            Layer::Dropout(d) => json!({"rate": d.rate()}),
            Layer::Flatten(f) => json!({"input_shape": shape(&f.input_shape)}),
            Layer::Conv(c) => json!({
                "filters": c.filters,
                "kernel_size": pair_json(c.kernel_size, c.rank),
                "strides": pair_json(c.strides, c.rank),
                "padding": c.padding.name(),
                "dilation_rate": pair_json(c.dilation_rate, c.rank),
                "activation": c.activation.name(),
                "use_bias": c.use_bias,
                "input_shape": shape(&c.input_shape),
            }),
            Layer::Pooling(p) => json!({
                "pool_size": pair_json(p.pool_size, p.rank),
                "strides": pair_json(p.strides, p.rank),
                "padding": p.padding.name(),
            }),
            Layer::GlobalAveragePooling(_) => json!({}),
            Layer::BatchNormalization(b) => {
                json!({"axis": -1, "momentum": b.momentum, "epsilon": b.epsilon, "center": b.center, "scale": b.scale})
            }
            Layer::LayerNormalization(l) => {
                json!({"axis": -1, "epsilon": l.epsilon, "center": l.center, "scale": l.scale})
            }
            Layer::Embedding(e) => {
                json!({"input_dim": e.input_dim, "output_dim": e.output_dim, "input_shape": shape(&e.input_shape)})
            }
            Layer::Reshape(r) => json!({
                "target_shape": r.target_shape.iter().map(|d| d.map_or(-1, |d| d as i64)).collect::<Vec<_>>(),
                "input_shape": shape(&r.input_shape),
            }),
            Layer::Activation(a) => json!({"activation": a.name()}),
        };
        json!({"class_name": self.kind(), "config": config})
    }

    /// The layer of `class_name` from Keras's arguments in `config` (missing ones take
    /// Keras's defaults; unknown ones are refused, naming them).
    pub fn from_config(class_name: &str, config: &Value) -> Result<Layer> {
        let bad = |argument: &'static str, value: String, fix: &'static str| Error::InvalidArgument {
            operation: "layers.from_config",
            argument,
            value,
            fix,
        };
        let empty = serde_json::Map::new();
        let map = match config {
            Value::Object(m) => m,
            Value::Null => &empty,
            other => return Err(bad("config", other.to_string(), "a layer config is a JSON object")),
        };
        let known: &[&str] = match class_name {
            "Dense" => &["units", "activation", "input_shape"],
            "Dropout" => &["rate"],
            "Flatten" => &["input_shape"],
            "Conv1D" | "Conv2D" => {
                &["filters", "kernel_size", "strides", "padding", "dilation_rate", "activation", "use_bias", "input_shape"]
            }
            "MaxPooling1D" | "MaxPooling2D" | "AveragePooling1D" | "AveragePooling2D" => &["pool_size", "strides", "padding"],
            "GlobalAveragePooling1D" | "GlobalAveragePooling2D" => &[],
            "BatchNormalization" => &["axis", "momentum", "epsilon", "center", "scale"],
            "LayerNormalization" => &["axis", "epsilon", "center", "scale"],
            "Embedding" => &["input_dim", "output_dim", "input_shape"],
            "Reshape" => &["target_shape", "input_shape"],
            "Activation" => &["activation"],
            other => {
                return Err(bad(
                    "class_name",
                    format!("{other:?}"),
                    "use one of Dense, Dropout, Flatten, Conv1D, Conv2D, MaxPooling1D/2D, AveragePooling1D/2D, \
                     GlobalAveragePooling1D/2D, BatchNormalization, LayerNormalization, Embedding, Reshape, Activation",
                ))
            }
        };
        if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(bad(
                "config",
                format!("{class_name} argument {k:?}"),
                "this layer does not take that argument",
            ));
        }
        let get = |k: &str| map.get(k).filter(|v| !v.is_null());
        let usize_of = |k: &'static str, v: &Value| {
            v.as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| bad(k, v.to_string(), "expected a non-negative integer"))
        };
        let count = |k: &'static str, default: usize| get(k).map_or(Ok(default), |v| usize_of(k, v));
        let float = |k: &'static str, default: f64| {
            get(k)
                .map_or(Ok(default), |v| v.as_f64().ok_or_else(|| bad(k, v.to_string(), "expected a number")))
        };
        let flag = |k: &'static str, default: bool| {
            get(k).map_or(Ok(default), |v| {
                v.as_bool().ok_or_else(|| bad(k, v.to_string(), "expected true or false"))
            })
        };
        let rank = if class_name.ends_with("1D") { 1 } else { 2 };
        // an int, or a list of `rank` ints; 1-d sizes become (1, k)
        let pair = |k: &'static str, default: usize| -> Result<(usize, usize)> {
            let Some(v) = get(k) else {
                return Ok(if rank == 1 { (1, default) } else { (default, default) });
            };
            let items: Vec<usize> = match v {
                Value::Array(a) => a.iter().map(|x| usize_of(k, x)).collect::<Result<_>>()?,
                x => vec![usize_of(k, x)?; rank],
            };
            match (rank, items.as_slice()) {
                (1, &[a]) => Ok((1, a)),
                (2, &[a, b]) => Ok((a, b)),
                _ => Err(bad(k, v.to_string(), "give an int or one int per spatial axis")),
            }
        };
        let activation = |k: &'static str| -> Result<Activation> {
            match get(k) {
                None => Ok(Activation::Linear),
                Some(Value::String(s)) => s.parse(),
                Some(v) => Err(bad(k, v.to_string(), "give the activation's name")),
            }
        };
        let padding = || -> Result<PaddingMode> {
            match get("padding") {
                None => Ok(PaddingMode::Valid),
                Some(Value::String(s)) => s.parse(),
                Some(v) => Err(bad("padding", v.to_string(), "use \"valid\" or \"same\"")),
            }
        };
        let input_shape = || -> Result<Option<Vec<usize>>> {
            get("input_shape")
                .map(|v| match v {
                    Value::Array(a) => a.iter().map(|x| usize_of("input_shape", x)).collect(),
                    other => Err(bad("input_shape", other.to_string(), "give a list of sizes")),
                })
                .transpose()
        };
        let axis_last = || match get("axis") {
            None => Ok(()),
            Some(v)
                if v.as_i64() == Some(-1)
                    || v.as_array().is_some_and(|a| a.len() == 1 && a[0].as_i64() == Some(-1)) =>
            {
                Ok(())
            }
            Some(v) => Err(bad("axis", v.to_string(), "only axis=-1 (the last axis) is supported")),
        };
        let layer: Layer = match class_name {
            "Dense" => Dense {
                units: count("units", 0)?,
                activation: activation("activation")?,
                input_shape: input_shape()?,
            }
            .into(),
            "Dropout" => Dropout::new(float("rate", 0.0)?)?.into(),
            "Flatten" => Flatten { input_shape: input_shape()? }.into(),
            "Conv1D" | "Conv2D" => Conv {
                rank,
                filters: count("filters", 0)?,
                kernel_size: pair("kernel_size", 0)?,
                strides: pair("strides", 1)?,
                padding: padding()?,
                dilation_rate: pair("dilation_rate", 1)?,
                activation: activation("activation")?,
                use_bias: flag("use_bias", true)?,
                input_shape: input_shape()?,
            }
            .into(),
            "MaxPooling1D" | "MaxPooling2D" | "AveragePooling1D" | "AveragePooling2D" => {
                let pool_size = pair("pool_size", 2)?;
                let strides = match get("strides") {
                    None => pool_size,
                    Some(_) => pair("strides", 1)?,
                };
                let mode = if class_name.starts_with("Max") { PoolMode::Max } else { PoolMode::Average };
                Pooling { mode, rank, pool_size, strides, padding: padding()? }.into()
            }
            "GlobalAveragePooling1D" | "GlobalAveragePooling2D" => GlobalAveragePooling { rank }.into(),
            "BatchNormalization" => {
                axis_last()?;
                let d = BatchNormalization::default();
                BatchNormalization {
                    momentum: float("momentum", d.momentum)?,
                    epsilon: float("epsilon", d.epsilon)?,
                    center: flag("center", true)?,
                    scale: flag("scale", true)?,
                }
                .into()
            }
            "LayerNormalization" => {
                axis_last()?;
                let d = LayerNormalization::default();
                LayerNormalization {
                    epsilon: float("epsilon", d.epsilon)?,
                    center: flag("center", true)?,
                    scale: flag("scale", true)?,
                }
                .into()
            }
            "Embedding" => Embedding {
                input_dim: count("input_dim", 0)?,
                output_dim: count("output_dim", 0)?,
                input_shape: input_shape()?,
            }
            .into(),
            "Reshape" => {
                let target = match get("target_shape") {
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|x| match x.as_i64() {
                            Some(-1) => Ok(None),
                            Some(n) if n > 0 => Ok(Some(n as usize)),
                            _ => {
                                Err(bad("target_shape", x.to_string(), "sizes must be positive, or -1 once"))
                            }
                        })
                        .collect::<Result<Vec<_>>>()?,
                    other => {
                        return Err(bad(
                            "target_shape",
                            other.map_or("missing".into(), |v| v.to_string()),
                            "give the per-sample shape as a list",
                        ))
                    }
                };
                Reshape { target_shape: target, input_shape: input_shape()? }.into()
            }
            _ => Layer::Activation(activation("activation")?),
        };
        layer.validate()?;
        Ok(layer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_round_trip_and_take_keras_defaults() -> Result<()> {
        let layers: Vec<Layer> = vec![
            Conv::conv2d(8, (3, 3))
                .padding(PaddingMode::Same)
                .activation("relu")?
                .input_shape(&[8, 8, 1])
                .into(),
            Pooling::new2d(PoolMode::Max, (2, 2)).into(),
            Conv::conv1d(4, 5).strides((1, 2)).into(),
            BatchNormalization::default().into(),
            LayerNormalization::default().into(),
            Embedding { input_dim: 10, output_dim: 3, input_shape: Some(vec![7]) }.into(),
            Reshape { target_shape: vec![Some(2), None], input_shape: None }.into(),
            Layer::Activation(Activation::Softmax),
            Dense::new(3).activation("sigmoid")?.into(),
            Dropout::new(0.25)?.into(),
            GlobalAveragePooling { rank: 2 }.into(),
        ];
        for l in &layers {
            let c = l.to_config();
            let back = Layer::from_config(c["class_name"].as_str().unwrap(), &c["config"])?;
            assert_eq!(&back, l, "{c}");
        }
        // Keras's defaults: MaxPooling2D() pools 2x2 with strides = pool size
        let p = Layer::from_config("MaxPooling2D", &json!({}))?;
        assert_eq!(p, Pooling::new2d(PoolMode::Max, (2, 2)).into());
        let c = Layer::from_config("Conv2D", &json!({"filters": 4, "kernel_size": 3}))?;
        assert!(matches!(c, Layer::Conv(Conv { kernel_size: (3, 3), strides: (1, 1), .. })));
        let err =
            Layer::from_config("Conv2D", &json!({"filters": 4, "kernel_size": 3, "groups": 2})).unwrap_err();
        assert!(err.to_string().contains("groups"), "{err}");
        let err = Layer::from_config("Conv3D", &json!({})).unwrap_err();
        assert!(err.to_string().contains("Conv3D"), "{err}");
        let err = Layer::from_config("Conv2D", &json!({"filters": 0, "kernel_size": 3})).unwrap_err();
        assert!(err.to_string().contains("filter"), "{err}");
        Ok(())
    }
}
