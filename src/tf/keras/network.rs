//! A built [`Sequential`](super::Sequential): the layers with their weights, and the forward
//! pass.

use candle_core::{DType, Device, Tensor, Var};

use crate::data::rng::Rng;
use crate::error::{Error, Result};

use super::activation::Activation;
use super::layers::Layer;
use super::small_matmul;
use crate::train::linear::{self, WeightLayout};

/// A layer with its weights and output shape.
#[derive(Debug, Clone)]
pub(crate) struct BuiltLayer {
    /// Keras-style unique name: `dense`, `dense_1`, `dropout`, ...
    pub name: String,
    pub kind: Kind,
    /// Per-sample output shape.
    pub output_shape: Vec<usize>,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Dense { kernel: Var, bias: Var, activation: Activation },
    Dropout { rate: f64 },
    Flatten,
}

/// The built layers.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    pub input_shape: Vec<usize>,
    pub layers: Vec<BuiltLayer>,
}

/// The weights one forward pass uses: per layer, the kernel and bias in the compute dtype
/// (`None` for layers without weights).
pub(crate) type PassWeights = Vec<Option<(Tensor, Tensor)>>;

/// Glorot (Xavier) uniform, Keras's default kernel initializer: `U(-l, l)` with
/// `l = sqrt(6 / (fan_in + fan_out))`, drawn from our seeded generator.
/// Refuse a Dense kernel that cannot be allocated (its byte count overflows, exceeds the
/// memory available, or the allocator refuses a block that size) before candle tries and
/// aborts the process. The probe reserves address space only; nothing is touched, and it is
/// released at once.
fn check_kernel_fits(fan_in: usize, units: usize, layer: &str) -> Result<()> {
    let bytes = fan_in.checked_mul(units).and_then(|n| n.checked_mul(DType::F32.size_in_bytes()));
    let available = crate::distance::available_memory().unwrap_or(usize::MAX);
    let fits = bytes.is_some_and(|b| b <= available && Vec::<u8>::new().try_reserve_exact(b).is_ok());
    if fits {
        return Ok(());
    }
    Err(Error::InvalidArgument {
        operation: "Dense",
        argument: "units",
        value: format!("{units} on layer {layer}, a ({fan_in}, {units}) float32 kernel"),
        fix: "the kernel does not fit in memory: use fewer units",
    })
}

fn glorot_uniform(fan_in: usize, fan_out: usize, rng: &mut Rng, device: &Device) -> Result<Tensor> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    let values: Vec<f32> = (0..fan_in * fan_out).map(|_| (2.0 * uniform(rng) - 1.0) * limit).collect();
    Ok(Tensor::from_vec(values, (fan_in, fan_out), device)?)
}

/// A uniform f32 in `[0, 1)` (24 random bits).
pub(crate) fn uniform(rng: &mut Rng) -> f32 {
    (rng.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
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
            let base = match layer {
                Layer::Dense(_) => "dense",
                Layer::Dropout(_) => "dropout",
                Layer::Flatten(_) => "flatten",
            };
            let count = counts.entry(base).or_insert(0usize);
            let name = if *count == 0 { base.to_string() } else { format!("{base}_{count}") };
            *count += 1;
            let kind = match layer {
                Layer::Dense(d) => {
                    let &[fan_in] = shape.as_slice() else {
                        return Err(Error::ShapeMismatch {
                            operation: "build",
                            detail: format!(
                                "layer {name} (Dense) gets per-sample inputs of shape {shape:?}; Dense \
                                 here takes rows of features, so add a Flatten layer before it"
                            ),
                        });
                    };
                    check_kernel_fits(fan_in, d.units, &name)?;
                    let kernel = Var::from_tensor(&glorot_uniform(fan_in, d.units, rng, device)?)?;
                    let bias = Var::zeros(d.units, DType::F32, device)?;
                    shape = vec![d.units];
                    Kind::Dense { kernel, bias, activation: d.activation }
                }
                Layer::Dropout(d) => Kind::Dropout { rate: d.rate() },
                Layer::Flatten(_) => {
                    shape = vec![shape.iter().product()];
                    Kind::Flatten
                }
            };
            built.push(BuiltLayer { name, kind, output_shape: shape.clone() });
        }
        Ok(Network { input_shape: input_shape.to_vec(), layers: built })
    }

    /// Per-sample output shape.
    pub fn output_shape(&self) -> &[usize] {
        self.layers.last().map(|l| l.output_shape.as_slice()).unwrap_or(&self.input_shape)
    }

    /// `(name, variable)` for every weight, in layer order (`dense/kernel`, `dense/bias`, ...).
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for l in &self.layers {
            if let Kind::Dense { kernel, bias, .. } = &l.kind {
                out.push((format!("{}/kernel", l.name), kernel.clone()));
                out.push((format!("{}/bias", l.name), bias.clone()));
            }
        }
        out
    }

    /// The weights for one pass in `dtype`: the variables themselves when `train` (so the
    /// pass is differentiated), detached views (no copy, no graph) otherwise; cast when
    /// `dtype` is not f32.
    pub fn pass_weights(&self, train: bool, dtype: DType) -> Result<PassWeights> {
        let prepare = |v: &Var| -> Result<Tensor> {
            let t = if train { v.as_tensor().clone() } else { v.as_tensor().detach() };
            Ok(if t.dtype() == dtype { t } else { t.to_dtype(dtype)? })
        };
        self.layers
            .iter()
            .map(|l| match &l.kind {
                Kind::Dense { kernel, bias, .. } => Ok(Some((prepare(kernel)?, prepare(bias)?))),
                _ => Ok(None),
            })
            .collect()
    }

    /// The forward pass on a batch `x` (already in the weights' dtype): returns the last
    /// layer's pre-activation cast to f32, and the activation it still needs (the last
    /// Dense layer's, so that the loss can fuse it; `Linear` when the model ends otherwise).
    /// `dropout` is the mask generator in training, `None` in inference.
    pub fn forward(
        &self,
        x: &Tensor,
        weights: &PassWeights,
        mut dropout: Option<&mut Rng>,
    ) -> Result<(Tensor, Activation)> {
        let mut h = x.clone();
        let mut pending = Activation::Linear;
        let last = self.layers.len().saturating_sub(1);
        for (i, (layer, w)) in self.layers.iter().zip(weights).enumerate() {
            h = match (&layer.kind, w) {
                (Kind::Dense { activation, .. }, Some((kernel, bias))) => {
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
                    } else if dropout.is_some() {
                        activation.apply(&z)?
                    } else {
                        activation.apply_inference(&z)?
                    }
                }
                (Kind::Dropout { rate }, _) => match dropout.as_deref_mut() {
                    Some(rng) if *rate > 0.0 => {
                        let mask = dropout_mask(*rate, h.elem_count(), rng);
                        let mask = Tensor::from_vec(mask, h.shape(), h.device())?;
                        let mask = if mask.dtype() == h.dtype() { mask } else { mask.to_dtype(h.dtype())? };
                        (h * mask)?
                    }
                    _ => h,
                },
                (Kind::Flatten, _) => h.flatten_from(1)?,
                (Kind::Dense { .. }, None) => unreachable!("pass_weights gives every Dense layer weights"),
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
                let kind = match l.kind {
                    Kind::Dense { .. } => "Dense",
                    Kind::Dropout { .. } => "Dropout",
                    Kind::Flatten => "Flatten",
                };
                let params = match &l.kind {
                    Kind::Dense { kernel, bias, .. } => kernel.elem_count() + bias.elem_count(),
                    _ => 0,
                };
                (format!("{} ({kind})", l.name), shape(&l.output_shape), params)
            })
            .collect();
        let w0 = rows.iter().map(|r| r.0.len()).chain(["Layer (type)".len()]).max().unwrap_or(0) + 4;
        let w1 = rows.iter().map(|r| r.1.len()).chain(["Output Shape".len()]).max().unwrap_or(0) + 4;
        let total: usize = rows.iter().map(|r| r.2).sum();
        let rule = |c: &str| c.repeat(w0 + w1 + 10);
        let mut out = format!("Model: \"{model_name}\"\n{}\n", rule("_"));
        out += &format!("{:<w0$}{:<w1$}{:>10}\n{}\n", "Layer (type)", "Output Shape", "Param #", rule("="));
        for (name, shape, params) in &rows {
            out += &format!("{name:<w0$}{shape:<w1$}{params:>10}\n");
        }
        out += &format!(
            "{}\nTotal params: {total}\nTrainable params: {total}\nNon-trainable params: 0\n{}\n",
            rule("="),
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
