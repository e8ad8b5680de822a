//! A built [`Sequential`](super::Sequential): the layers with their weights, and the forward
//! pass.

use candle_core::{DType, Device, Tensor, Var};

use crate::data::rng::Rng;
use crate::error::{Error, Result};
use crate::train::conv::{self, ConvSpec, DataFormat, PoolKind, Window};
use crate::train::norm::{self, Statistics};

use super::activation::Activation;
use super::layers::{Layer, PoolMode};
use super::small_matmul;
use crate::train::linear::{self, WeightLayout};

/// One weight of a layer: Keras's name for it (`kernel`, `bias`, `gamma`, `moving_mean`, ...),
/// the variable (f32 master), and whether the optimizer trains it (BatchNormalization's moving
/// statistics are state, not trained).
#[derive(Debug, Clone)]
pub(crate) struct Weight {
    pub name: &'static str,
    pub var: Var,
    pub trainable: bool,
}

/// A layer with its weights and output shape.
#[derive(Debug, Clone)]
pub(crate) struct BuiltLayer {
    /// Keras-style unique name: `dense`, `dense_1`, `conv2d`, ...
    pub name: String,
    /// The Keras class name (`Dense`, `Conv2D`, ...), for `summary`.
    pub class: &'static str,
    pub kind: Kind,
    /// In Keras's order (`kernel`, `bias`; `gamma`, `beta`, `moving_mean`, `moving_variance`).
    pub weights: Vec<Weight>,
    /// Per-sample output shape.
    pub output_shape: Vec<usize>,
}

/// What a built layer computes (its weights are in [`BuiltLayer::weights`]).
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Dense {
        activation: Activation,
    },
    Dropout {
        rate: f64,
    },
    Flatten,
    /// A 1-d convolution is a 2-d one over a height of 1 (`rank == 1`).
    Conv {
        spec: ConvSpec,
        rank: usize,
        activation: Activation,
    },
    Pool {
        kind: PoolKind,
        window: Window,
        rank: usize,
    },
    GlobalAveragePooling {
        rank: usize,
    },
    BatchNorm {
        momentum: f64,
        epsilon: f64,
        scale: bool,
        center: bool,
    },
    LayerNorm {
        epsilon: f64,
        scale: bool,
        center: bool,
    },
    Embedding,
    Reshape {
        shape: Vec<usize>,
    },
    Activation(Activation),
}

/// The built layers.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    pub input_shape: Vec<usize>,
    pub layers: Vec<BuiltLayer>,
}

/// The weights one forward pass uses: per layer, its trainable weights in the compute dtype.
pub(crate) type PassWeights = Vec<Vec<Tensor>>;

/// Refuse a weight that cannot be allocated (its byte count overflows, exceeds the memory
/// available, or the allocator refuses a block that size) before candle tries and aborts the
/// process. The probe reserves address space only; nothing is touched, and it is released at
/// once.
fn check_weight_fits(
    shape: &[usize],
    kind: &'static str,
    argument: &'static str,
    layer: &str,
    fix: &'static str,
) -> Result<()> {
    let bytes = shape.iter().try_fold(DType::F32.size_in_bytes(), |acc, &d| acc.checked_mul(d));
    let available = crate::distance::available_memory().unwrap_or(usize::MAX);
    let fits = bytes.is_some_and(|b| b <= available && Vec::<u8>::new().try_reserve_exact(b).is_ok());
    if fits {
        return Ok(());
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    Err(Error::InvalidArgument {
        operation: kind,
        argument,
        value: format!(
            "{} on layer {layer}, a ({}) float32 weight",
            shape.last().copied().unwrap_or(0),
            dims.join(", ")
        ),
        fix,
    })
}

/// Glorot (Xavier) uniform, Keras's default kernel initializer: `U(-l, l)` with
/// `l = sqrt(6 / (fan_in + fan_out))`, drawn from our seeded generator.
fn glorot_uniform(
    shape: &[usize],
    fan_in: usize,
    fan_out: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<Tensor> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| (2.0 * uniform(rng) - 1.0) * limit).collect();
    Ok(Tensor::from_vec(values, shape, device)?)
}

/// A uniform f32 in `[0, 1)` (24 random bits).
pub(crate) fn uniform(rng: &mut Rng) -> f32 {
    (rng.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

fn shape_error(name: &str, kind: &str, shape: &[usize], wants: &str) -> Error {
    Error::ShapeMismatch {
        operation: "build",
        detail: format!("layer {name} ({kind}) gets per-sample inputs of shape {shape:?}; {wants}"),
    }
}

/// `(h, w, channels)` of a per-sample image shape `(h, w, c)` (`rank` 2) or sequence shape
/// `(l, c)` (`rank` 1, as a height of 1), or `None` when the shape is neither.
fn spatial(rank: usize, shape: &[usize]) -> Option<(usize, usize, usize)> {
    match (rank, shape) {
        (2, &[h, w, c]) => Some((h, w, c)),
        (1, &[l, c]) => Some((1, l, c)),
        _ => None,
    }
}

/// What the image layers of `rank` take, for shape errors.
fn samples(rank: usize) -> &'static str {
    match rank {
        2 => "(height, width, channels) samples: add a channel axis (x[..., None]) or a Reshape layer",
        _ => "(steps, channels) samples: add a channel axis or a Reshape layer",
    }
}

fn weight(name: &'static str, t: Tensor, trainable: bool) -> Result<Weight> {
    Ok(Weight { name, var: Var::from_tensor(&t)?, trainable })
}

impl Network {
    /// Create the weights of `layers` for per-sample inputs of `input_shape`.
    pub fn build(layers: &[Layer], input_shape: &[usize], device: &Device, rng: &mut Rng) -> Result<Self> {
        if input_shape.is_empty() || input_shape.contains(&0) {
            return Err(Error::InvalidArgument {
                operation: "build",
                argument: "input_shape",
                value: format!("{input_shape:?}"),
                fix: "give the per-sample shape without the batch axis, e.g. [10] for rows of 10 \
                      features; every dimension must be at least 1",
            });
        }
        let mut shape = input_shape.to_vec();
        let mut built = Vec::with_capacity(layers.len());
        let mut counts = std::collections::HashMap::new();
        for layer in layers {
            let base = layer.base_name();
            let count = counts.entry(base.clone()).or_insert(0usize);
            let name = if *count == 0 { base.to_string() } else { format!("{base}_{count}") };
            *count += 1;
            let kind_name = layer.kind();
            let mut weights = Vec::new();
            let kind = match layer {
                Layer::Dense(d) => {
                    let &[fan_in] = shape.as_slice() else {
                        return Err(shape_error(
                            &name,
                            kind_name,
                            &shape,
                            "Dense here takes rows of features, so add a Flatten layer before it",
                        ));
                    };
                    check_weight_fits(
                        &[fan_in, d.units],
                        "Dense",
                        "units",
                        &name,
                        "the kernel does not fit in memory: use fewer units",
                    )?;
                    weights.push(weight(
                        "kernel",
                        glorot_uniform(&[fan_in, d.units], fan_in, d.units, rng, device)?,
                        true,
                    )?);
                    weights.push(weight("bias", Tensor::zeros(d.units, DType::F32, device)?, true)?);
                    shape = vec![d.units];
                    Kind::Dense { activation: d.activation }
                }
                Layer::Dropout(d) => Kind::Dropout { rate: d.rate() },
                Layer::Flatten(_) => {
                    shape = vec![shape.iter().product()];
                    Kind::Flatten
                }
                Layer::Conv(c) => {
                    let (h, w, channels) = spatial(c.rank, &shape).ok_or_else(|| {
                        shape_error(
                            &name,
                            kind_name,
                            &shape,
                            &format!("{kind_name} takes {}", samples(c.rank)),
                        )
                    })?;
                    let padding = c.padding.resolve((h, w), c.kernel_size, c.strides, c.dilation_rate);
                    let spec = ConvSpec {
                        stride: c.strides,
                        dilation: c.dilation_rate,
                        padding,
                        groups: 1,
                        format: DataFormat::ChannelsLast,
                    };
                    let window = Window {
                        kernel: c.kernel_size,
                        stride: c.strides,
                        dilation: c.dilation_rate,
                        padding,
                    };
                    let (oh, ow) = window.output("build", h, w).map_err(|_| {
                        shape_error(
                            &name,
                            kind_name,
                            &shape,
                            "the input is smaller than the kernel: use padding=\"same\" or a smaller kernel",
                        )
                    })?;
                    let taps = c.kernel_size.0 * c.kernel_size.1;
                    let kshape: Vec<usize> = match c.rank {
                        2 => vec![c.kernel_size.0, c.kernel_size.1, channels, c.filters],
                        _ => vec![c.kernel_size.1, channels, c.filters],
                    };
                    check_weight_fits(
                        &kshape,
                        kind_name,
                        "filters",
                        &name,
                        "the kernel does not fit in memory: use fewer filters",
                    )?;
                    weights.push(weight(
                        "kernel",
                        glorot_uniform(&kshape, taps * channels, taps * c.filters, rng, device)?,
                        true,
                    )?);
                    if c.use_bias {
                        weights.push(weight("bias", Tensor::zeros(c.filters, DType::F32, device)?, true)?);
                    }
                    shape = if c.rank == 2 { vec![oh, ow, c.filters] } else { vec![ow, c.filters] };
                    Kind::Conv { spec, rank: c.rank, activation: c.activation }
                }
                Layer::Pooling(p) => {
                    let (h, w, channels) = spatial(p.rank, &shape).ok_or_else(|| {
                        shape_error(&name, kind_name, &shape, &format!("it takes {}", samples(p.rank)))
                    })?;
                    let padding = p.padding.resolve((h, w), p.pool_size, p.strides, (1, 1));
                    let window = Window { kernel: p.pool_size, stride: p.strides, dilation: (1, 1), padding };
                    let (oh, ow) = window.output("build", h, w).map_err(|_| {
                        shape_error(
                            &name,
                            kind_name,
                            &shape,
                            "the input is smaller than the pool: use padding=\"same\" or a smaller pool_size",
                        )
                    })?;
                    let kind = match p.mode {
                        PoolMode::Max => PoolKind::Max,
                        PoolMode::Average => PoolKind::Avg { count_padding: false },
                    };
                    shape = if p.rank == 2 { vec![oh, ow, channels] } else { vec![ow, channels] };
                    Kind::Pool { kind, window, rank: p.rank }
                }
                Layer::GlobalAveragePooling(g) => {
                    if spatial(g.rank, &shape).is_none() {
                        return Err(shape_error(
                            &name,
                            kind_name,
                            &shape,
                            &format!("it takes {}", samples(g.rank)),
                        ));
                    }
                    shape = vec![*shape.last().expect("rank >= 2")];
                    Kind::GlobalAveragePooling { rank: g.rank }
                }
                Layer::BatchNormalization(b) => {
                    let c = *shape.last().expect("non-empty shape");
                    let ones = || Tensor::ones(c, DType::F32, device);
                    let zeros = || Tensor::zeros(c, DType::F32, device);
                    if b.scale {
                        weights.push(weight("gamma", ones()?, true)?);
                    }
                    if b.center {
                        weights.push(weight("beta", zeros()?, true)?);
                    }
                    weights.push(weight("moving_mean", zeros()?, false)?);
                    weights.push(weight("moving_variance", ones()?, false)?);
                    Kind::BatchNorm {
                        momentum: b.momentum,
                        epsilon: b.epsilon,
                        scale: b.scale,
                        center: b.center,
                    }
                }
                Layer::LayerNormalization(l) => {
                    let c = *shape.last().expect("non-empty shape");
                    if l.scale {
                        weights.push(weight("gamma", Tensor::ones(c, DType::F32, device)?, true)?);
                    }
                    if l.center {
                        weights.push(weight("beta", Tensor::zeros(c, DType::F32, device)?, true)?);
                    }
                    Kind::LayerNorm { epsilon: l.epsilon, scale: l.scale, center: l.center }
                }
                Layer::Embedding(e) => {
                    check_weight_fits(
                        &[e.input_dim, e.output_dim],
                        "Embedding",
                        "input_dim",
                        &name,
                        "the table does not fit in memory: use a smaller input_dim or output_dim",
                    )?;
                    // Keras's default: uniform in [-0.05, 0.05]
                    let n = e.input_dim * e.output_dim;
                    let values: Vec<f32> = (0..n).map(|_| (2.0 * uniform(rng) - 1.0) * 0.05).collect();
                    weights.push(weight(
                        "embeddings",
                        Tensor::from_vec(values, (e.input_dim, e.output_dim), device)?,
                        true,
                    )?);
                    shape.push(e.output_dim);
                    Kind::Embedding
                }
                Layer::Reshape(r) => {
                    let total: usize = shape.iter().product();
                    let known: usize = r.target_shape.iter().flatten().product();
                    let inferred = r.target_shape.contains(&None);
                    let fits = if inferred { known > 0 && total % known == 0 } else { known == total };
                    if !fits {
                        return Err(shape_error(
                            &name,
                            kind_name,
                            &shape,
                            &format!("{total} values per sample cannot be reshaped to {:?}", r.target_shape),
                        ));
                    }
                    shape = r.target_shape.iter().map(|d| d.unwrap_or(total / known.max(1))).collect();
                    Kind::Reshape { shape: shape.clone() }
                }
                Layer::Activation(a) => Kind::Activation(*a),
            };
            built.push(BuiltLayer { name, class: kind_name, kind, weights, output_shape: shape.clone() });
        }
        Ok(Network { input_shape: input_shape.to_vec(), layers: built })
    }

    /// Per-sample output shape.
    pub fn output_shape(&self) -> &[usize] {
        self.layers.last().map(|l| l.output_shape.as_slice()).unwrap_or(&self.input_shape)
    }

    /// Whether the first layer looks up ids (its inputs are not cast to a half compute dtype).
    pub fn takes_ids(&self) -> bool {
        matches!(self.layers.first().map(|l| &l.kind), Some(Kind::Embedding))
    }

    /// `(name, variable)` for every **trainable** weight, in layer order (`dense/kernel`,
    /// `dense/bias`, ...): what the optimizer steps.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        self.named_weights().into_iter().filter(|(_, w)| w.trainable).map(|(n, w)| (n, w.var)).collect()
    }

    /// `(name, variable)` for every weight, trainable or not (moving statistics too): what
    /// `get_weights`, `save_weights` and `load_weights` cover.
    pub fn named_state(&self) -> Vec<(String, Var)> {
        self.named_weights().into_iter().map(|(n, w)| (n, w.var)).collect()
    }

    fn named_weights(&self) -> Vec<(String, Weight)> {
        self.layers
            .iter()
            .flat_map(|l| l.weights.iter().map(move |w| (format!("{}/{}", l.name, w.name), w.clone())))
            .collect()
    }

    /// Every weight variable, mutably (to move them to another device).
    pub fn vars_mut(&mut self) -> impl Iterator<Item = &mut Var> {
        self.layers.iter_mut().flat_map(|l| l.weights.iter_mut().map(|w| &mut w.var))
    }

    /// The trainable weights for one pass in `dtype`: the variables themselves when `train`
    /// (so the pass is differentiated), detached views (no copy, no graph) otherwise; cast
    /// when `dtype` is not f32.
    pub fn pass_weights(&self, train: bool, dtype: DType) -> Result<PassWeights> {
        let prepare = |v: &Var| -> Result<Tensor> {
            let t = if train { v.as_tensor().clone() } else { v.as_tensor().detach() };
            Ok(if t.dtype() == dtype { t } else { t.to_dtype(dtype)? })
        };
        self.layers
            .iter()
            .map(|l| l.weights.iter().filter(|w| w.trainable).map(|w| prepare(&w.var)).collect())
            .collect()
    }

    /// The forward pass on a batch `x` (already in the weights' dtype): returns the last
    /// layer's pre-activation cast to f32, and the activation it still needs (the last
    /// Dense or Activation layer's, so that the loss can fuse it; `Linear` when the model ends
    /// otherwise). `dropout` is the mask generator in training, `None` in inference; in
    /// training BatchNormalization normalises with the batch's statistics and updates its
    /// moving averages.
    pub fn forward(
        &self,
        x: &Tensor,
        weights: &PassWeights,
        mut dropout: Option<&mut Rng>,
    ) -> Result<(Tensor, Activation)> {
        let training = dropout.is_some();
        let mut h = x.clone();
        let mut pending = Activation::Linear;
        let last = self.layers.len().saturating_sub(1);
        let apply =
            |act: &Activation, z: &Tensor| if training { act.apply(z) } else { act.apply_inference(z) };
        for (i, (layer, w)) in self.layers.iter().zip(weights).enumerate() {
            h = match &layer.kind {
                Kind::Dense { activation } => {
                    let (kernel, bias) = (&w[0], &w[1]);
                    // the engine's dense layer (closed-form backward) with ReLU fused in, but for
                    // the last layer, whose activation the loss fuses; small_matmul for the
                    // seeds' tiny layers
                    let fused = uses_fused_linear(&h, kernel);
                    let relu_done = fused && *activation == Activation::Relu && i != last;
                    let z = if fused {
                        let act =
                            if relu_done { linear::Activation::Relu } else { linear::Activation::Identity };
                        linear::linear(&h, kernel, Some(bias), WeightLayout::InOut, act)?
                    } else {
                        small_matmul::matmul(&h, kernel)?.broadcast_add(bias)?
                    };
                    if i == last {
                        pending = *activation;
                        z
                    } else if relu_done {
                        z
                    } else {
                        apply(activation, &z)?
                    }
                }
                Kind::Conv { spec, rank, activation } => {
                    let relu_done = *activation == Activation::Relu && i != last;
                    let act = if relu_done { linear::Activation::Relu } else { linear::Activation::Identity };
                    let z = match rank {
                        1 => conv::conv1d(&h, &w[0], w.get(1), spec, act)?,
                        _ => conv::conv2d(&h, &w[0], w.get(1), spec, act)?,
                    };
                    if i == last {
                        pending = *activation;
                        z
                    } else if relu_done {
                        z
                    } else {
                        apply(activation, &z)?
                    }
                }
                Kind::Activation(a) => {
                    if i == last {
                        pending = *a;
                        h
                    } else {
                        apply(a, &h)?
                    }
                }
                Kind::Dropout { rate } => match dropout.as_deref_mut() {
                    Some(rng) if *rate > 0.0 => {
                        let mask = dropout_mask(*rate, h.elem_count(), rng);
                        let mask = Tensor::from_vec(mask, h.shape(), h.device())?;
                        let mask = if mask.dtype() == h.dtype() { mask } else { mask.to_dtype(h.dtype())? };
                        (h * mask)?
                    }
                    _ => h,
                },
                Kind::Flatten => h.flatten_from(1)?,
                Kind::Pool { kind, window, rank } => match rank {
                    1 => conv::pool1d(&h, *kind, window, DataFormat::ChannelsLast)?,
                    _ => conv::pool2d(&h, *kind, window, DataFormat::ChannelsLast)?,
                },
                Kind::GlobalAveragePooling { rank } => {
                    let axes: Vec<usize> = (1..=*rank).collect();
                    h.mean(axes)?
                }
                Kind::BatchNorm { momentum, epsilon, scale, center } => {
                    let mut it = w.iter();
                    let gamma = if *scale { it.next() } else { None };
                    let beta = if *center { it.next() } else { None };
                    let state = &layer.weights[layer.weights.len() - 2..];
                    let (moving_mean, moving_var) = (&state[0].var, &state[1].var);
                    let axis = h.rank() - 1;
                    if training {
                        let out = norm::batch_norm(&h, axis, gamma, beta, *epsilon, Statistics::Batch)?;
                        if let Some(batch) = &out.batch {
                            norm::update_running(moving_mean, moving_var, batch, 1.0 - momentum, false)?;
                        }
                        out.y
                    } else {
                        let stats = Statistics::Running {
                            mean: moving_mean.as_tensor(),
                            var: moving_var.as_tensor(),
                        };
                        norm::batch_norm(&h, axis, gamma, beta, *epsilon, stats)?.y
                    }
                }
                Kind::LayerNorm { epsilon, scale, center } => {
                    let mut it = w.iter();
                    let gamma = if *scale { it.next() } else { None };
                    let beta = if *center { it.next() } else { None };
                    norm::layer_norm(&h, 1, gamma, beta, *epsilon)?
                }
                Kind::Embedding => {
                    let ids = h.to_dtype(DType::I64)?;
                    norm::embedding(&ids, &w[0], None)?
                }
                Kind::Reshape { shape } => {
                    let mut full = vec![h.dim(0)?];
                    full.extend_from_slice(shape);
                    h.reshape(full)?
                }
            };
        }
        let h = if h.dtype() == DType::F32 { h } else { h.to_dtype(DType::F32)? };
        Ok((h, pending))
    }

    /// A Keras-style table of layers, output shapes and parameter counts.
    pub fn summary(&self, model_name: &str) -> String {
        let shape = |s: &[usize]| {
            let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
            format!("(None, {})", dims.join(", "))
        };
        let rows: Vec<(String, String, usize)> = self
            .layers
            .iter()
            .map(|l| {
                let params = l.weights.iter().map(|w| w.var.elem_count()).sum();
                (format!("{} ({})", l.name, l.class), shape(&l.output_shape), params)
            })
            .collect();
        let w0 = rows.iter().map(|r| r.0.len()).chain(["Layer (type)".len()]).max().unwrap_or(0) + 4;
        let w1 = rows.iter().map(|r| r.1.len()).chain(["Output Shape".len()]).max().unwrap_or(0) + 4;
        let total: usize = rows.iter().map(|r| r.2).sum();
        let trainable: usize = self.named_vars().iter().map(|(_, v)| v.elem_count()).sum();
        let rule = |c: &str| c.repeat(w0 + w1 + 10);
        let mut out = format!("Model: \"{model_name}\"\n{}\n", rule("_"));
        out += &format!("{:<w0$}{:<w1$}{:>10}\n{}\n", "Layer (type)", "Output Shape", "Param #", rule("="));
        for (name, shape, params) in &rows {
            out += &format!("{name:<w0$}{shape:<w1$}{params:>10}\n");
        }
        out += &format!(
            "{}\nTotal params: {total}\nTrainable params: {trainable}\nNon-trainable params: {}\n{}\n",
            rule("="),
            total - trainable,
            rule("_")
        );
        out
    }
}

/// Whether a Dense layer on `h` goes through [`linear::linear`]'s fused op: CPU f32/f64
/// products too large for [`small_matmul`] (whose plain loop wins on the seeds' tiny layers).
fn uses_fused_linear(h: &Tensor, kernel: &Tensor) -> bool {
    match (h.dims(), kernel.dims()) {
        ([m, k], [_, n]) => {
            h.device().is_cpu()
                && matches!(h.dtype(), DType::F32 | DType::F64)
                && m * k * n > small_matmul::SMALL_WORK
        }
        _ => false,
    }
}

/// Inverted-dropout mask values: 0 with probability `rate`, else `1 / (1 - rate)`.
pub(crate) fn dropout_mask(rate: f64, len: usize, rng: &mut Rng) -> Vec<f32> {
    let keep = (1.0 / (1.0 - rate)) as f32;
    let rate = rate as f32;
    (0..len).map(|_| if uniform(rng) < rate { 0.0 } else { keep }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tf::keras::layers::{Dense, Dropout, Flatten};

    #[test]
    fn glorot_bounds_and_names() -> Result<()> {
        let layers: Vec<Layer> = vec![
            Flatten::new().into(),
            Dense::new(8).activation("relu")?.into(),
            Dropout::new(0.5)?.into(),
            Dense::new(2).into(),
        ];
        let net = Network::build(&layers, &[2, 3], &Device::Cpu, &mut Rng::new(0))?;
        let names: Vec<String> = net.named_vars().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]);
        assert_eq!(net.output_shape(), [2]);
        let k = net.named_vars()[0].1.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        let limit = (6.0f32 / 14.0).sqrt();
        assert!(k.iter().all(|v| v.abs() <= limit) && k.iter().any(|v| v.abs() > limit * 0.5));
        let s = net.summary("sequential");
        assert!(
            s.contains("dense_1 (Dense)") && s.contains("(None, 8)") && s.contains("Total params: 74"),
            "{s}"
        );
        Ok(())
    }

    #[test]
    fn large_dense_layers_take_the_fused_op_with_the_same_values_and_gradients() -> Result<()> {
        // (40 x 50) @ (50 x 64) is past small_matmul's size: the engine's fused dense layer
        let layers: Vec<Layer> = vec![Dense::new(64).activation("relu")?.into(), Dense::new(64).into()];
        let net = Network::build(&layers, &[50], &Device::Cpu, &mut Rng::new(1))?;
        let x = Tensor::rand(-1f32, 1.0, (40, 50), &Device::Cpu)?;
        assert!(uses_fused_linear(&x, net.named_vars()[0].1.as_tensor()));
        let weights = net.pass_weights(true, DType::F32)?;
        let (z, pending) = net.forward(&x, &weights, None)?;
        assert_eq!(pending, Activation::Linear);
        // the same model through candle's ops
        let v: Vec<Var> = net.named_vars().into_iter().map(|(_, v)| v).collect();
        let h = x.matmul(v[0].as_tensor())?.broadcast_add(v[1].as_tensor())?.relu()?;
        let want = h.matmul(v[2].as_tensor())?.broadcast_add(v[3].as_tensor())?;
        let diff = (&z - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "{diff}");
        let r = Tensor::rand(-1f32, 1.0, (40, 64), &Device::Cpu)?;
        let g = (&z * &r)?.sum_all()?.backward()?;
        let gw = (&want * &r)?.sum_all()?.backward()?;
        for var in &v {
            let d = (g.get(var).unwrap() - gw.get(var).unwrap())?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(d < 1e-4, "{d}");
        }
        Ok(())
    }

    #[test]
    fn dropout_mask_rate() {
        let m = dropout_mask(0.25, 10_000, &mut Rng::new(3));
        let dropped = m.iter().filter(|&&v| v == 0.0).count();
        assert!((2300..2700).contains(&dropped), "{dropped}");
        assert!(m.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
    }
}
