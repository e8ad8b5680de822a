//! [`Sequential`]: build, compile, fit, evaluate, predict, weights.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};

use crate::data::rng::{derive, random_seed, Rng};
use crate::data::{Batches, Cardinality, Fields, Loader, LoaderSpec, Source};
use crate::distributed::Strategy;
use crate::error::{Error, Result};
use crate::tf::data::Dataset;

use super::activation::Activation;
use super::history::{FitOptions, History, HistoryParams};
use super::layers::Layer;
use super::losses::Loss;
use super::metrics::Metric;
use super::mixed_precision::{LossScaler, Policy};
use super::network::Network;
use super::optimizers::Optimizer;
use super::progress::Progress;
use super::tracker::Tracker;
use crate::train::callbacks::{Callback, Logs, TrainingContext};
use crate::train::Stepper;

/// The metadata key of a saved model's architecture, and the format version written.
const MODEL_KEY: &str = "candle_numpy.keras";
const MODEL_FORMAT: u64 = 1;

// keys under the model seed for its independent random streams
const INIT_STREAM: u64 = 0;
const DROPOUT_STREAM: u64 = 1;
const SHUFFLE_STREAM: u64 = 2;

/// `compile`'s arguments, kept so the optimizer can be (re)built over the model's variables.
#[derive(Debug, Clone)]
struct Compiled {
    optimizer: Optimizer,
    loss: Loss,
    metrics: Vec<Metric>,
}

/// Per-fit constants hoisted out of the step loop.
struct StepConstants {
    loss: Loss,
    /// `arange(units)` for the sparse loss's one-hot gradient.
    class_ids: Option<Tensor>,
}

/// `keras.Sequential`: a stack of [`Layer`]s trained with `compile` / `fit`.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_numpy::tf::keras::{layers::Dense, FitOptions, Sequential};
///
/// let x = Tensor::rand(0f32, 1., (256, 10), &Device::Cpu)?;
/// let y = x.narrow(1, 0, 1)?.ge(0.5)?.to_dtype(DType::F32)?; // (256, 1)
/// let mut model = Sequential::new(vec![
///     Dense::new(16).activation("relu")?.input_shape(&[10]).into(),
///     Dense::new(1).activation("sigmoid")?.into(),
/// ])?
/// .with_seed(0);
/// model.compile("adam", "binary_crossentropy", &["accuracy"])?;
/// let history = model.fit(&x, &y, &FitOptions { epochs: 2, verbose: 0, ..Default::default() })?;
/// assert_eq!(history.get("loss").unwrap().len(), 2);
/// let p = model.predict(&x, None)?;
/// assert_eq!(p.dims(), [256, 1]);
/// # Ok::<(), candle_numpy::Error>(())
/// ```
///
/// **Building.** The weights are created once the per-sample input shape is known: at
/// [`compile`](Self::compile) when the first layer has an `input_shape`, by
/// [`build`](Self::build), or at the first [`fit`](Self::fit) / [`predict`](Self::predict) /
/// [`evaluate`](Self::evaluate) from `x`'s shape. Kernels are glorot-uniform and biases zero,
/// drawn from the project's seeded generator (xoshiro256**; candle's own CPU generator cannot
/// be seeded), so [`with_seed`](Self::with_seed) makes weights, dropout masks and shuffle orders
/// reproducible.
///
/// **Device.** Weights live on the model's device ([`with_device`](Self::with_device), CPU by
/// default); inputs on another device are copied to it.
#[derive(Debug)]
pub struct Sequential {
    layers: Vec<Layer>,
    input_shape: Option<Vec<usize>>,
    device: Device,
    seed: u64,
    policy: Policy,
    network: Option<Network>,
    compiled: Option<Compiled>,
    stepper: Option<Stepper>,
    scaler: LossScaler,
    dropout_rng: Rng,
    fits: u64,
}

impl Sequential {
    /// `keras.Sequential(layers)`. Only the first layer may carry an `input_shape`; Dense
    /// layers need at least one unit.
    pub fn new(layers: Vec<Layer>) -> Result<Self> {
        let seed = random_seed();
        let mut model = Sequential {
            layers: Vec::with_capacity(layers.len()),
            input_shape: None,
            device: Device::Cpu,
            seed,
            policy: Policy::Float32,
            network: None,
            compiled: None,
            stepper: None,
            scaler: LossScaler::new(),
            dropout_rng: Rng::new(derive(seed, &[DROPOUT_STREAM])),
            fits: 0,
        };
        for layer in layers {
            model.add(layer)?;
        }
        Ok(model)
    }

    /// `model.add(layer)`. Refused once the model is built (its weights exist).
    pub fn add(&mut self, layer: impl Into<Layer>) -> Result<()> {
        let layer = layer.into();
        if self.network.is_some() {
            return Err(Error::InvalidArgument {
                operation: "Sequential.add",
                argument: "layer",
                value: layer.kind().to_string(),
                fix: "add every layer before the model is built (by compile with an input_shape, \
                      build, fit or predict)",
            });
        }
        layer.validate()?;
        if let Some(shape) = layer.input_shape() {
            if !self.layers.is_empty() {
                return Err(Error::InvalidArgument {
                    operation: "Sequential.add",
                    argument: "input_shape",
                    value: format!("{shape:?} on layer {} ({})", self.layers.len() + 1, layer.kind()),
                    fix: "give input_shape to the first layer only",
                });
            }
            self.input_shape = Some(shape.to_vec());
        }
        self.layers.push(layer);
        Ok(())
    }

    /// The per-sample input shape, as `keras.Input(shape)` before the first layer gives it:
    /// the model builds at `compile`. Refused once the model is built, or when the first layer
    /// carries another `input_shape`.
    pub fn with_input_shape(mut self, shape: &[usize]) -> Result<Self> {
        if self.network.is_some() || self.input_shape.as_deref().is_some_and(|s| s != shape) {
            return Err(Error::InvalidArgument {
                operation: "Sequential",
                argument: "input_shape",
                value: format!("{shape:?}"),
                fix: "give the input shape once, before the model is built",
            });
        }
        self.input_shape = Some(shape.to_vec());
        Ok(self)
    }

    /// The model on `device` (weights already built are moved there; the optimizer state is
    /// reset).
    pub fn with_device(mut self, device: &Device) -> Result<Self> {
        self.device = device.clone();
        if let Some(net) = &mut self.network {
            for var in net.vars_mut() {
                *var = Var::from_tensor(&var.as_tensor().to_device(device)?)?;
            }
            self.stepper = None;
        }
        Ok(self)
    }

    /// Seed the weight initialisation, dropout masks and default shuffle orders. Without it
    /// the model draws a random seed. Weights already built are re-initialised from the new
    /// seed (and the optimizer state reset).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self.dropout_rng = Rng::new(derive(seed, &[DROPOUT_STREAM]));
        self.fits = 0;
        if let Some(net) = self.network.take() {
            self.stepper = None;
            // same layers and shape: building again cannot fail
            let shape = net.input_shape;
            self.network = Network::build(&self.layers, &shape, &self.device, &mut self.init_rng()).ok();
        }
        self
    }

    /// Compute in another dtype policy (`"float32"`, `"mixed_float16"`, `"mixed_bfloat16"`,
    /// or a [`Policy`]); Keras's `mixed_precision.set_global_policy`, per model. See
    /// [`mixed_precision`](super::mixed_precision) for when it pays off (on CUDA, not on CPU).
    pub fn with_dtype_policy<P>(mut self, policy: P) -> Result<Self>
    where
        P: TryInto<Policy>,
        Error: From<P::Error>,
    {
        self.policy = policy.try_into()?;
        self.scaler = LossScaler::new();
        Ok(self)
    }

    fn init_rng(&self) -> Rng {
        Rng::new(derive(self.seed, &[INIT_STREAM]))
    }

    /// `model.build(input_shape)`: create the weights for per-sample inputs of `input_shape`
    /// (without the batch axis). Building again with the same shape is a no-op; another
    /// shape is an error.
    pub fn build(&mut self, input_shape: &[usize]) -> Result<()> {
        if let Some(net) = &self.network {
            if net.input_shape == input_shape {
                return Ok(());
            }
            return Err(Error::ShapeMismatch {
                operation: "build",
                detail: format!(
                    "the model was built for per-sample inputs of shape {:?}, not {input_shape:?}; \
                     create a new model for another input shape",
                    net.input_shape
                ),
            });
        }
        if self.layers.is_empty() {
            return Err(Error::InvalidArgument {
                operation: "build",
                argument: "layers",
                value: "[]".into(),
                fix: "add at least one layer (Sequential::new(vec![...]) or add)",
            });
        }
        self.network = Some(Network::build(&self.layers, input_shape, &self.device, &mut self.init_rng())?);
        self.input_shape = Some(input_shape.to_vec());
        self.stepper = None;
        Ok(())
    }

    /// `model.compile(optimizer, loss, metrics)`. Each argument is a Keras name or the typed
    /// value: `compile("adam", "binary_crossentropy", &["accuracy"])`, or
    /// `compile(Optimizer::sgd().with_learning_rate(0.1), Loss::MeanSquaredError, &[Metric::MeanAbsoluteError])`.
    /// Builds the model when the first layer has an `input_shape`. Compiling again replaces
    /// the optimizer (its state restarts); the weights are kept.
    pub fn compile<O, L, M>(&mut self, optimizer: O, loss: L, metrics: &[M]) -> Result<()>
    where
        O: TryInto<Optimizer>,
        Error: From<O::Error>,
        L: TryInto<Loss>,
        Error: From<L::Error>,
        M: TryInto<Metric> + Clone,
        Error: From<M::Error>,
    {
        let optimizer = optimizer.try_into()?;
        optimizer.validate()?;
        let loss = loss.try_into()?;
        let mut ms: Vec<Metric> = Vec::with_capacity(metrics.len());
        for m in metrics {
            let m: Metric = m.clone().try_into()?;
            m.check(loss)?;
            if !ms.contains(&m) {
                ms.push(m);
            }
        }
        self.compiled = Some(Compiled { optimizer, loss, metrics: ms });
        self.stepper = None;
        self.scaler = LossScaler::new();
        if let (None, Some(shape)) = (&self.network, self.input_shape.clone()) {
            self.build(&shape)?;
        }
        Ok(())
    }

    // ---- accessors -------------------------------------------------------------------

    /// The layer configurations.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The per-sample input shape, once known.
    pub fn input_shape(&self) -> Option<&[usize]> {
        self.input_shape.as_deref()
    }

    /// The per-sample output shape (needs a built model).
    pub fn output_shape(&self) -> Result<Vec<usize>> {
        Ok(self.network("output_shape")?.output_shape().to_vec())
    }

    /// Whether the weights exist.
    pub fn is_built(&self) -> bool {
        self.network.is_some()
    }

    /// The device of the weights.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The seed in use (given by [`with_seed`](Self::with_seed), or drawn at construction).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The dtype policy.
    pub fn dtype_policy(&self) -> Policy {
        self.policy
    }

    /// The current loss scale under `mixed_float16`, `None` under other policies.
    pub fn loss_scale(&self) -> Option<f64> {
        self.policy.loss_scaling().then(|| self.scaler.scale())
    }

    /// The compiled optimizer's configuration.
    pub fn optimizer(&self) -> Option<&Optimizer> {
        self.compiled.as_ref().map(|c| &c.optimizer)
    }

    /// The compiled loss.
    pub fn loss(&self) -> Option<Loss> {
        self.compiled.as_ref().map(|c| c.loss)
    }

    /// The compiled metrics (deduplicated, in the order given).
    pub fn metrics(&self) -> &[Metric] {
        self.compiled.as_ref().map(|c| c.metrics.as_slice()).unwrap_or(&[])
    }

    /// The current learning rate (`model.optimizer.learning_rate`).
    pub fn learning_rate(&self) -> Option<f64> {
        match &self.stepper {
            Some(s) => Some(s.learning_rate()),
            None => self.compiled.as_ref().map(|c| c.optimizer.learning_rate()),
        }
    }

    /// Change the learning rate, keeping the optimizer state (for schedules between fits).
    pub fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        let Some(c) = &mut self.compiled else {
            return Err(Error::NotCompiled { operation: "set_learning_rate" });
        };
        let updated = c.optimizer.with_learning_rate(lr);
        updated.validate()?;
        c.optimizer = updated;
        if let Some(s) = &mut self.stepper {
            s.set_learning_rate(lr);
        }
        Ok(())
    }

    fn network(&self, operation: &'static str) -> Result<&Network> {
        self.network.as_ref().ok_or(Error::NotBuilt { operation })
    }

    /// `(name, variable)` for every weight, in layer order: `dense/kernel` `(in, units)`,
    /// `dense/bias` `(units,)`, `conv2d/kernel` `(kh, kw, in, filters)`,
    /// `batch_normalization/gamma`, `.../beta`, `.../moving_mean`, `.../moving_variance`, ...
    /// (Keras's `model.weights`, non-trainable state included). The variables are the model's
    /// own (f32 masters): `set` on them changes the model.
    pub fn named_variables(&self) -> Result<Vec<(String, Var)>> {
        Ok(self.network("named_variables")?.named_state())
    }

    /// `model.trainable_variables`: the weight variables the optimizer trains, in layer order
    /// (all of [`named_variables`](Self::named_variables) but BatchNormalization's moving
    /// statistics).
    pub fn trainable_variables(&self) -> Result<Vec<Var>> {
        Ok(self.network("trainable_variables")?.named_vars().into_iter().map(|(_, v)| v).collect())
    }

    /// `model.get_weights()`: detached snapshots of the weights (name, value), in layer order.
    pub fn get_weights(&self) -> Result<Vec<(String, Tensor)>> {
        self.named_variables()?.into_iter().map(|(n, v)| Ok((n, v.as_tensor().copy()?))).collect()
    }

    /// `model.count_params()`.
    pub fn count_params(&self) -> Result<usize> {
        Ok(self.named_variables()?.iter().map(|(_, v)| v.elem_count()).sum())
    }

    /// `model.summary()`: a table of layers, output shapes and parameter counts.
    pub fn summary(&self) -> Result<String> {
        Ok(self.network("summary")?.summary("sequential"))
    }

    // ---- weights files ---------------------------------------------------------------

    /// `model.save_weights(path)`: the weights as a safetensors file, named as
    /// [`named_variables`](Self::named_variables).
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        let map: std::collections::HashMap<String, Tensor> = self
            .network("save_weights")?
            .named_state()
            .into_iter()
            .map(|(n, v)| (n, v.as_tensor().clone()))
            .collect();
        candle_core::safetensors::save(&map, path.as_ref())?;
        Ok(())
    }

    /// `model.load_weights(path)`: overwrite the weights from a safetensors file written by
    /// [`save_weights`](Self::save_weights). Every name must be present with the same shape
    /// and the file must hold no other tensor; otherwise [`Error::WeightsMismatch`] and the
    /// model is unchanged. Optimizer state is kept.
    pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let vars = self.network("load_weights")?.named_state();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            operation: "read",
            path: path.into(),
            source,
        })?;
        let mut loaded = candle_core::safetensors::load_buffer(&bytes, &self.device)?;
        let mismatch = |reason: String| Error::WeightsMismatch { path: path.into(), reason };
        let mut values = Vec::with_capacity(vars.len());
        for (name, var) in &vars {
            let t =
                loaded.remove(name).ok_or_else(|| mismatch(format!("the file has no tensor {name:?}")))?;
            if t.dims() != var.dims() {
                return Err(mismatch(format!(
                    "{name:?} has shape {:?} in the file but {:?} in the model",
                    t.dims(),
                    var.dims()
                )));
            }
            values.push(crate::dtype::cast(&t, var.dtype())?);
        }
        if !loaded.is_empty() {
            let mut extra: Vec<_> = loaded.into_keys().collect();
            extra.sort();
            return Err(mismatch(format!("the file has tensors the model lacks: {extra:?}")));
        }
        for ((_, var), value) in vars.iter().zip(values) {
            var.set(&value)?;
        }
        Ok(())
    }

    /// `model.save(path)`: the whole model in one safetensors file: the weights (as
    /// [`save_weights`](Self::save_weights) names them) and, in the file's metadata under
    /// `"candle_numpy.keras"`, the architecture as JSON (each layer's Keras config, the input
    /// shape, the seed and dtype policy, and the compile arguments). Any safetensors reader
    /// sees the weights; [`load`](Self::load) rebuilds the model. The optimizer's state is not
    /// saved (a loaded model starts its optimizer afresh).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let net = self.network("save")?;
        let config = serde_json::json!({
            "format": MODEL_FORMAT,
            "class_name": "Sequential",
            "layers": self.layers.iter().map(Layer::to_config).collect::<Vec<_>>(),
            "input_shape": net.input_shape,
            "seed": self.seed,
            "dtype_policy": self.policy.name(),
            "compile": self.compiled.as_ref().map(|c| serde_json::json!({
                "optimizer": c.optimizer.to_config(),
                "loss": c.loss.name(),
                "metrics": c.metrics.iter().map(|m| m.name()).collect::<Vec<_>>(),
            })),
        });
        let weights: Vec<(String, Tensor)> =
            net.named_state().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
        let metadata = [(MODEL_KEY.to_string(), config.to_string())].into_iter().collect();
        crate::safetensors::save(path, weights, Some(metadata))
    }

    /// `keras.models.load_model(path)`: the model [`save`](Self::save) wrote, built, with its
    /// weights, and compiled as it was. A file without the architecture (written by
    /// [`save_weights`](Self::save_weights) or another tool) is refused, naming the fix.
    pub fn load(path: impl AsRef<Path>) -> Result<Sequential> {
        let path = path.as_ref();
        let bad = |reason: String| Error::WeightsMismatch { path: path.into(), reason };
        let metadata = crate::safetensors::read_metadata(path)?;
        let text = metadata.get(MODEL_KEY).ok_or_else(|| {
            bad(format!(
                "the file has no {MODEL_KEY:?} metadata (no architecture): it holds weights only; build the \
                 model in code and call load_weights"
            ))
        })?;
        let config: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("the architecture is not valid JSON: {e}")))?;
        if config["format"].as_u64() != Some(MODEL_FORMAT) {
            return Err(bad(format!(
                "unknown model format {} (this version reads {MODEL_FORMAT})",
                config["format"]
            )));
        }
        let layers = config["layers"]
            .as_array()
            .ok_or_else(|| bad("the architecture has no layer list".into()))?
            .iter()
            .map(|l| Layer::from_config(l["class_name"].as_str().unwrap_or_default(), &l["config"]))
            .collect::<Result<Vec<_>>>()?;
        let shape: Vec<usize> = serde_json::from_value(config["input_shape"].clone())
            .map_err(|e| bad(format!("the architecture's input_shape: {e}")))?;
        let mut model = Sequential::new(layers)?;
        if let Some(seed) = config["seed"].as_u64() {
            model = model.with_seed(seed);
        }
        if let Some(p) = config["dtype_policy"].as_str() {
            model = model.with_dtype_policy(p)?;
        }
        model.build(&shape)?;
        if let Some(c) = config["compile"].as_object() {
            let optimizer = Optimizer::from_config(&c["optimizer"])?;
            let loss: Loss = c["loss"].as_str().unwrap_or_default().parse()?;
            let metrics: Vec<String> = serde_json::from_value(c["metrics"].clone())
                .map_err(|e| bad(format!("the architecture's compile metrics: {e}")))?;
            let metrics: Vec<&str> = metrics.iter().map(String::as_str).collect();
            model.compile(optimizer, loss, &metrics)?;
        }
        model.load_weights(path)?;
        Ok(model)
    }

    // ---- inputs ----------------------------------------------------------------------

    /// `x` checked against (or building) the input shape, on the model's device, in the
    /// compute dtype, contiguous. Done once per call, not per batch.
    fn prepare_x(&mut self, x: &Tensor, operation: &'static str) -> Result<Tensor> {
        if x.rank() < 2 {
            return Err(Error::ShapeMismatch {
                operation,
                detail: format!(
                    "x has shape {:?}; the first axis is samples, so x needs a feature axis too \
                     (reshape to (n, 1) for one feature)",
                    x.dims()
                ),
            });
        }
        let features = &x.dims()[1..];
        match &self.network {
            None => self.build(features)?,
            Some(net) if net.input_shape != features => {
                return Err(Error::ShapeMismatch {
                    operation,
                    detail: format!(
                        "x has shape {:?}, but the model takes samples of shape {:?} (x of shape \
                         (n, {})); reshape x or build a model for this input",
                        x.dims(),
                        net.input_shape,
                        net.input_shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
                    ),
                })
            }
            Some(_) => {}
        }
        let x = x.to_device(&self.device)?;
        // ids for an Embedding stay exact in f32 (a half compute dtype would round ids > 2048)
        let takes_ids = self.network.as_ref().is_some_and(Network::takes_ids);
        let dtype = if takes_ids { DType::F32 } else { self.policy.compute_dtype() };
        let x = crate::dtype::cast(&x, dtype)?;
        Ok(x.contiguous()?)
    }

    fn prepare_y(&self, y: &Tensor, loss: Loss, operation: &'static str) -> Result<Tensor> {
        let units = self.network(operation)?.output_shape().iter().product();
        loss.prepare_labels(&y.to_device(&self.device)?, units, operation)
    }

    fn compiled(&self, operation: &'static str) -> Result<Compiled> {
        self.compiled.clone().ok_or(Error::NotCompiled { operation })
    }

    fn check_samples(x: &Tensor, y: &Tensor, operation: &'static str) -> Result<usize> {
        let n = x.dim(0).map_err(|_| Error::ShapeMismatch {
            operation,
            detail: "x is a scalar; give x of shape (n, features)".into(),
        })?;
        let ny = y.dims().first().copied();
        if ny != Some(n) {
            return Err(Error::ShapeMismatch {
                operation,
                detail: format!(
                    "x has {n} samples (shape {:?}) but y has {} (shape {:?}); x and y need the \
                     same first dimension",
                    x.dims(),
                    ny.map_or("none".to_string(), |m| m.to_string()),
                    y.dims()
                ),
            });
        }
        Ok(n)
    }

    // ---- training --------------------------------------------------------------------

    /// The optimizer over the current variables, built on first use after compile / build.
    fn ensure_stepper(&mut self, compiled: &Compiled, operation: &'static str) -> Result<()> {
        if self.stepper.is_none() {
            let vars = self.network(operation)?.named_vars().into_iter().map(|(_, v)| v).collect();
            self.stepper = Some(compiled.optimizer.build(vars)?);
        }
        Ok(())
    }

    fn step_constants(&self, loss: Loss) -> Result<StepConstants> {
        let units = self.network("fit")?.output_shape().iter().product::<usize>();
        let class_ids =
            loss.sparse_labels().then(|| Tensor::arange(0u32, units as u32, &self.device)).transpose()?;
        Ok(StepConstants { loss, class_ids })
    }

    /// One gradient step on a prepared batch; returns the detached logits for the metrics.
    /// Under a multi-process `strategy` the gradients are first averaged across processes
    /// (weighted by batch sizes).
    fn train_step(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        w: Option<&Tensor>,
        k: &StepConstants,
        strategy: &Strategy,
    ) -> Result<(Tensor, Activation)> {
        let Sequential { network, scaler, dropout_rng, policy, .. } = self;
        let net = network.as_ref().ok_or(Error::NotBuilt { operation: "fit" })?;
        let weights = net.pass_weights(true, policy.compute_dtype())?;
        let (z, act) = net.forward(x, &weights, Some(dropout_rng))?;
        let scale = if policy.loss_scaling() { scaler.scale() } else { 1.0 };
        let z_value = z.detach();
        // the objective's gradient is the loss gradient (times the loss scale): a closed form
        // at the logits where there is one, else the loss graph itself
        let objective = match k.loss.logits_grad(&z_value, act, y, k.class_ids.as_ref())? {
            Some(g) => {
                let g = if scale == 1.0 { g } else { g.affine(scale, 0.0)? };
                // sample weights scale each sample's row of the gradient
                let g = match w {
                    Some(w) => g.broadcast_mul(&w.unsqueeze(1)?)?,
                    None => g,
                };
                (&z * g)?.sum_all()?
            }
            None => {
                let total = match w {
                    Some(w) => (k.loss.sample_losses(&z, act, y)? * w)?.sum_all()?,
                    None => k.loss.sample_sum(&z, act, y)?,
                };
                total.affine(scale / z.dim(0)? as f64, 0.0)?
            }
        };
        let mut grads = objective.backward()?;
        if strategy.world_size() > 1 {
            let vars: Vec<Var> = net.named_vars().into_iter().map(|(_, v)| v).collect();
            strategy.all_reduce_weighted_mean(&vars, &mut grads, x.dim(0)? as f64)?;
        }
        self.apply_gradients(grads, scale)?;
        Ok((z_value, act))
    }

    /// A step of a process that has no batch left while others still have: it takes part in
    /// the gradient average with weight 0 and applies the common update. Returns false when no
    /// process had a batch (the epoch is over everywhere).
    fn empty_step(&mut self, strategy: &Strategy) -> Result<bool> {
        let vars: Vec<Var> = self.network("fit")?.named_vars().into_iter().map(|(_, v)| v).collect();
        let mut grads = GradStore::default();
        if strategy.all_reduce_weighted_mean(&vars, &mut grads, 0.0)? == 0.0 {
            return Ok(false);
        }
        let scale = if self.policy.loss_scaling() { self.scaler.scale() } else { 1.0 };
        self.apply_gradients(grads, scale)?;
        Ok(true)
    }

    /// The optimizer step on (loss-scaled) gradients; under loss scaling, skipped when they
    /// are not finite.
    fn apply_gradients(&mut self, mut grads: GradStore, scale: f64) -> Result<()> {
        let Sequential { network, stepper, scaler, policy, .. } = self;
        let net = network.as_ref().ok_or(Error::NotBuilt { operation: "fit" })?;
        let stepper = stepper.as_mut().ok_or(Error::NotCompiled { operation: "fit" })?;
        if policy.loss_scaling() {
            let vars: Vec<Var> = net.named_vars().into_iter().map(|(_, v)| v).collect();
            let mut sums = Vec::with_capacity(vars.len());
            for v in &vars {
                if let Some(g) = grads.remove(v) {
                    let g = g.affine(1.0 / scale, 0.0)?;
                    sums.push(g.sum_all()?);
                    grads.insert(v, g);
                }
            }
            let total = Tensor::stack(&sums, 0)?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            if !scaler.update(total.is_finite()) {
                return Ok(());
            }
        }
        stepper.step(&grads)?;
        Ok(())
    }

    /// `model.fit(x, y, ...)`: train on `x` `(n, features...)` and `y` (shaped as the loss
    /// wants: `(n, units)`, `(n,)` for one unit, class indices `(n,)` for
    /// `sparse_categorical_crossentropy`; integer labels are cast to f32).
    ///
    /// Mini-batches come from the project's data engine (a [`Loader`] over the prepared
    /// `(x, y)`: one gather per tensor per batch, a seeded permutation per epoch when
    /// `shuffle`). `x` is cast to the compute dtype and `y` prepared once, not per batch.
    /// Returns the per-epoch [`History`].
    pub fn fit(&mut self, x: &Tensor, y: &Tensor, opts: &FitOptions) -> Result<History> {
        self.fit_with(x, y, opts, &mut [])
    }

    /// [`fit`](Self::fit) with callbacks (Keras's `fit(..., callbacks=[...])`): each is called
    /// at the start and end of training, of every epoch and of every batch (see
    /// [`crate::train::callbacks`]: early stopping, learning-rate schedules, checkpoints).
    pub fn fit_with(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        opts: &FitOptions,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        opts.validate()?;
        let compiled = self.compiled("fit")?;
        let n = Self::check_samples(x, y, "fit")?;
        let x = self.prepare_x(x, "fit")?;
        let y = self.prepare_y(y, compiled.loss, "fit")?;
        let w = self.sample_weights(opts, &y, n, compiled.loss)?;
        let validation = self.validation_data(opts, &compiled)?;
        let (train, validation) = match validation {
            Some((vx, vy)) => ((x, y, w), Some((vx, vy, None))),
            None if opts.validation_split > 0.0 => {
                // Keras: the last samples, before shuffling
                let split_at = (n as f64 * (1.0 - opts.validation_split)).floor() as usize;
                if split_at == 0 || split_at == n {
                    return Err(Error::InvalidArgument {
                        operation: "fit",
                        argument: "validation_split",
                        value: format!("{} of {n} samples", opts.validation_split),
                        fix: "leave at least one sample on each side of the split",
                    });
                }
                let (head, tail) =
                    (|t: &Tensor| t.narrow(0, 0, split_at), |t: &Tensor| t.narrow(0, split_at, n - split_at));
                let (wh, wt) = match &w {
                    Some(w) => (Some(head(w)?), Some(tail(w)?)),
                    None => (None, None),
                };
                ((head(&x)?, head(&y)?, wh), Some((tail(&x)?, tail(&y)?, wt)))
            }
            None => ((x, y, w), None),
        };
        let seed = opts.seed.unwrap_or_else(|| derive(self.seed, &[SHUFFLE_STREAM, self.fits]));
        self.fits += 1;
        let samples = train.0.dim(0)?;
        let fields = match train.2 {
            Some(w) => vec![train.0, train.1, w],
            None => vec![train.0, train.1],
        };
        let source = Source::new(Fields::Tuple(fields))?;
        // under a strategy, batch_size is the global batch (as Keras under tf.distribute):
        // every process takes its share of each global batch from the same permutation
        let ranks = opts.strategy.ranks();
        let (seed, local_batch) = match ranks.world_size {
            1 => (seed, opts.batch_size),
            world => {
                if opts.batch_size % world != 0 {
                    return Err(Error::InvalidArgument {
                        operation: "fit",
                        argument: "batch_size",
                        value: format!("{} for {world} processes", opts.batch_size),
                        fix: "with a distribution strategy batch_size is the global batch, split evenly \
                              between the processes: use a multiple of the number of processes",
                    });
                }
                (opts.strategy.broadcast_u64(seed, &self.device)?, opts.batch_size / world)
            }
        };
        let spec =
            LoaderSpec { batch_size: local_batch, shuffle: opts.shuffle, seed, ..LoaderSpec::default() };
        let mut loader = Loader::new(source, spec)?;
        if ranks.world_size > 1 {
            loader = ranks.shard(&loader)?;
        }
        let params = HistoryParams {
            epochs: opts.epochs,
            steps: Some(samples.div_ceil(opts.batch_size)),
            samples: Some(samples),
            validation_samples: validation.as_ref().map_or(Ok(0), |(vx, _, _)| vx.dim(0))?,
            verbose: opts.verbose,
        };
        self.run(&compiled, opts, params, validation.as_ref(), Epochs::Loader(&loader), callbacks)
    }

    /// Sample weights checked (one per sample: `(n,)` or `(n, 1)`) and made `(n,)` f32 on the
    /// model's device.
    fn prepare_weights(&self, w: &Tensor, n: usize, operation: &'static str) -> Result<Tensor> {
        if w.dims() != [n] && w.dims() != [n, 1] {
            return Err(Error::ShapeMismatch {
                operation,
                detail: format!(
                    "sample_weight has shape {:?} for {n} samples; give one weight per sample, shape ({n},)",
                    w.dims()
                ),
            });
        }
        Ok(crate::dtype::cast(&w.flatten_all()?.to_device(&self.device)?, DType::F32)?)
    }

    /// The per-sample weights of a `fit`: `sample_weight` times the weight of each sample's
    /// class, `(n,)` f32 on the model's device; `None` when neither is given.
    fn sample_weights(&self, opts: &FitOptions, y: &Tensor, n: usize, loss: Loss) -> Result<Option<Tensor>> {
        let given = opts.sample_weight.as_ref().map(|w| self.prepare_weights(w, n, "fit")).transpose()?;
        let by_class = match &opts.class_weight {
            None => None,
            Some(table) => {
                // each sample's class: the index itself (sparse labels), 0/1 for one unit, else
                // the one-hot row's argmax
                let classes: Vec<u32> = if loss.sparse_labels() {
                    y.flatten_all()?.to_dtype(DType::U32)?.to_vec1()?
                } else if y.dim(1).ok() == Some(1) || y.rank() == 1 {
                    y.flatten_all()?
                        .to_dtype(DType::F64)?
                        .to_vec1::<f64>()?
                        .iter()
                        .map(|v| v.round().max(0.0) as u32)
                        .collect()
                } else {
                    y.argmax(1)?.to_vec1()?
                };
                let w: Vec<f32> = classes
                    .iter()
                    .map(|c| table.get(&(*c as usize)).copied().unwrap_or(1.0) as f32)
                    .collect();
                Some(Tensor::from_vec(w, n, &self.device)?)
            }
        };
        Ok(match (given, by_class) {
            (Some(a), Some(b)) => Some((a * b)?),
            (a, b) => a.or(b),
        })
    }

    /// `model.fit(dataset)`: train on a [`Dataset`] whose elements are batches `(x, y)`
    /// (`Dataset::from_tensor_slices((x, y))?.shuffle(..)?.batch(32, false)?`). Each epoch is
    /// one iteration of the dataset (a new shuffle order where it reshuffles), or
    /// [`steps_per_epoch`](FitOptions::steps_per_epoch) batches of one continuing iteration
    /// (required for a repeated dataset). `batch_size`, `shuffle` and `seed` belong to the
    /// dataset and are ignored here; `validation_split` is refused (as Keras): use
    /// `validation_data`. Batches are cast and their labels prepared one by one.
    pub fn fit_dataset(&mut self, dataset: &Dataset, opts: &FitOptions) -> Result<History> {
        self.fit_dataset_with(dataset, opts, &mut [])
    }

    /// [`fit_dataset`](Self::fit_dataset) with callbacks (see [`fit_with`](Self::fit_with)).
    /// Elements may be `(x, y, sample_weight)` triples.
    pub fn fit_dataset_with(
        &mut self,
        dataset: &Dataset,
        opts: &FitOptions,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        opts.validate()?;
        if opts.sample_weight.is_some() || opts.class_weight.is_some() {
            return Err(Error::InvalidArgument {
                operation: "fit_dataset",
                argument: "sample_weight",
                value: "sample_weight or class_weight with a dataset".into(),
                fix: "put the weights into the dataset's elements: (x, y, sample_weight)",
            });
        }
        let compiled = self.compiled("fit")?;
        if opts.validation_split > 0.0 {
            return Err(Error::InvalidArgument {
                operation: "fit_dataset",
                argument: "validation_split",
                value: opts.validation_split.to_string(),
                fix: "a dataset cannot be split; pass validation_data = (x_val, y_val) instead",
            });
        }
        if !dataset.pipeline().is_batched() {
            return Err(Error::InvalidArgument {
                operation: "fit_dataset",
                argument: "dataset",
                value: "an unbatched dataset".into(),
                fix: "fit takes batches: call .batch(batch_size, false) on the dataset first",
            });
        }
        let steps = match (opts.steps_per_epoch, dataset.cardinality()) {
            (Some(s), _) => Some(s),
            (None, Cardinality::Finite(b)) => Some(b as usize),
            (None, Cardinality::Infinite) => {
                return Err(Error::InvalidArgument {
                    operation: "fit_dataset",
                    argument: "steps_per_epoch",
                    value: "None for an infinite (repeated) dataset".into(),
                    fix: "give steps_per_epoch, or drop repeat()",
                })
            }
            (None, Cardinality::Unknown) => None,
        };
        if !self.is_built() {
            // the input shape comes from the first batch
            if let Some(first) = dataset.take(1)?.iter().next() {
                let first = dataset_pair(first?.into_tensors())?;
                self.prepare_x(&first.0, "fit")?;
            }
        }
        let validation = self.validation_data(opts, &compiled)?.map(|(vx, vy)| (vx, vy, None));
        let params = HistoryParams {
            epochs: opts.epochs,
            steps,
            samples: None,
            validation_samples: validation.as_ref().map_or(Ok(0), |(vx, _, _)| vx.dim(0))?,
            verbose: opts.verbose,
        };
        let epochs =
            Epochs::Dataset { dataset, continuing: opts.steps_per_epoch.map(|s| (dataset.iter(), s)) };
        self.run(&compiled, opts, params, validation.as_ref(), epochs, callbacks)
    }

    fn validation_data(
        &mut self,
        opts: &FitOptions,
        compiled: &Compiled,
    ) -> Result<Option<(Tensor, Tensor)>> {
        let Some((vx, vy)) = &opts.validation_data else { return Ok(None) };
        Self::check_samples(vx, vy, "fit (validation_data)")?;
        let vx = self.prepare_x(vx, "fit (validation_data)")?;
        Ok(Some((vx, self.prepare_y(vy, compiled.loss, "fit (validation_data)")?)))
    }

    /// The epoch loop shared by [`fit`](Self::fit) and [`fit_dataset`](Self::fit_dataset).
    fn run(
        &mut self,
        compiled: &Compiled,
        opts: &FitOptions,
        params: HistoryParams,
        validation: Option<&Validation>,
        mut epochs: Epochs<'_>,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        self.ensure_stepper(compiled, "fit")?;
        let strategy = &opts.strategy;
        let distributed = strategy.world_size() > 1;
        if distributed {
            // every process starts from rank 0's weights
            let state: Vec<Var> = self.named_variables()?.into_iter().map(|(_, v)| v).collect();
            strategy.broadcast(&state)?;
        }
        let k = self.step_constants(compiled.loss)?;
        let mut history = History { history: BTreeMap::new(), epoch: Vec::new(), params };
        let mut progress = Progress::new(if strategy.is_root() { opts.verbose } else { 0 });
        let batch_logs = callbacks.iter().any(|c| c.wants_batch_logs());
        let mut stop = false;
        for cb in callbacks.iter_mut() {
            cb.on_train_begin(&mut FitContext { model: self, stop: &mut stop })?;
        }
        for epoch in 0..opts.epochs {
            for cb in callbacks.iter_mut() {
                cb.on_epoch_begin(epoch, &mut FitContext { model: self, stop: &mut stop })?;
            }
            progress.start_epoch(epoch, opts.epochs, history.params.steps);
            let mut tracker = Tracker::new(compiled.loss, &compiled.metrics);
            let mut batches = 0usize;
            let prepared = epochs.prepared();
            let mut local = epochs.next_epoch();
            loop {
                let batch = match local.next() {
                    Some(batch) => batch,
                    None if !distributed => break,
                    // this process is out of batches: join the others' steps until all are
                    None => match self.empty_step(strategy)? {
                        true => continue,
                        false => break,
                    },
                };
                let (x, y, w) = match prepared {
                    true => dataset_pair(batch?)?,
                    false => {
                        let (x, y, w) = dataset_pair(batch?)?;
                        let n = Self::check_samples(&x, &y, "fit")?;
                        let w = w.map(|w| self.prepare_weights(&w, n, "fit_dataset")).transpose()?;
                        (self.prepare_x(&x, "fit")?, self.prepare_y(&y, compiled.loss, "fit")?, w)
                    }
                };
                let (z, act) = self.train_step(&x, &y, w.as_ref(), &k, strategy)?;
                tracker.push(z, act, y, w)?;
                batches += 1;
                if progress.step() {
                    tracker.flush()?;
                    progress.show(&tracker.means());
                }
                if !callbacks.is_empty() {
                    let logs: Logs = match batch_logs {
                        true => {
                            tracker.flush()?;
                            tracker.means().into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                        }
                        false => Logs::new(),
                    };
                    for cb in callbacks.iter_mut() {
                        cb.on_batch_end(
                            batches - 1,
                            &logs,
                            &mut FitContext { model: self, stop: &mut stop },
                        )?;
                    }
                }
            }
            if batches == 0 {
                return Err(Error::InvalidArgument {
                    operation: "fit",
                    argument: "x",
                    value: format!("no batches in epoch {}", epoch + 1),
                    fix: "give at least one sample; for a dataset with steps_per_epoch, repeat() it \
                          so that it does not run out",
                });
            }
            drop(local);
            let means = match distributed {
                // the epoch's loss and metrics over every process's samples
                true => tracker.finish_across(strategy, &self.device)?,
                false => tracker.finish()?,
            };
            let mut logs: Vec<(String, f64)> = means.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            if let Some((vx, vy, vw)) = validation {
                let val = self.evaluate_prepared(vx, vy, vw.as_ref(), opts.batch_size, compiled)?;
                logs.extend(val.into_iter().map(|(k, v)| (format!("val_{k}"), v)));
            }
            if !callbacks.is_empty() {
                // callbacks run before the History records the epoch, as Keras's, so what they
                // add (learning_rate) is recorded too
                let mut map: Logs = logs.iter().cloned().collect();
                for cb in callbacks.iter_mut() {
                    cb.on_epoch_end(epoch, &mut map, &mut FitContext { model: self, stop: &mut stop })?;
                }
                for (k, v) in map {
                    if !logs.iter().any(|(key, _)| *key == k) {
                        logs.push((k, v));
                    }
                }
            }
            progress.end_epoch(&logs);
            for (key, value) in logs {
                history.history.entry(key).or_default().push(value);
            }
            history.epoch.push(epoch);
            if stop {
                break;
            }
        }
        for cb in callbacks.iter_mut() {
            cb.on_train_end(&mut FitContext { model: self, stop: &mut stop })?;
        }
        Ok(history)
    }

    /// `model.train_on_batch(x, y)`: one gradient step on one batch (for hand-written
    /// loops); returns the batch's loss and metrics, computed with the weights before the
    /// step, as Keras. Inputs are prepared as in [`fit`](Self::fit).
    pub fn train_on_batch(&mut self, x: &Tensor, y: &Tensor) -> Result<BTreeMap<String, f64>> {
        let compiled = self.compiled("train_on_batch")?;
        Self::check_samples(x, y, "train_on_batch")?;
        let x = self.prepare_x(x, "train_on_batch")?;
        let y = self.prepare_y(y, compiled.loss, "train_on_batch")?;
        self.ensure_stepper(&compiled, "train_on_batch")?;
        let k = self.step_constants(compiled.loss)?;
        let (z, act) = self.train_step(&x, &y, None, &k, &Strategy::Single)?;
        let mut tracker = Tracker::new(compiled.loss, &compiled.metrics);
        tracker.push(z, act, y, None)?;
        Ok(tracker.finish()?.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    // ---- inference -------------------------------------------------------------------

    /// Inference on prepared inputs, `batch_size` rows at a time (contiguous views, no
    /// gather); calls `each` with every chunk's logits and row range.
    fn infer_chunks(
        &self,
        x: &Tensor,
        batch_size: usize,
        mut each: impl FnMut(Tensor, Activation, usize, usize) -> Result<()>,
    ) -> Result<()> {
        let net = self.network("predict")?;
        // weights cast once per call, not per batch
        let weights = net.pass_weights(false, self.policy.compute_dtype())?;
        let n = x.dim(0)?;
        let mut start = 0;
        while start < n {
            let len = batch_size.min(n - start);
            let (z, act) = net.forward(&x.narrow(0, start, len)?, &weights, None)?;
            each(z, act, start, len)?;
            start += len;
        }
        Ok(())
    }

    fn evaluate_prepared(
        &self,
        x: &Tensor,
        y: &Tensor,
        w: Option<&Tensor>,
        batch_size: usize,
        c: &Compiled,
    ) -> Result<Vec<(&'static str, f64)>> {
        let mut tracker = Tracker::new(c.loss, &c.metrics);
        self.infer_chunks(x, batch_size, |z, act, start, len| {
            tracker.push(z, act, y.narrow(0, start, len)?, w.map(|w| w.narrow(0, start, len)).transpose()?)
        })?;
        tracker.finish()
    }

    /// `model.evaluate(x, y, batch_size=32)`: the loss and every metric over `(x, y)`, in
    /// inference mode (no dropout), keyed as in [`History`] (`"loss"`, `"accuracy"`, ...).
    pub fn evaluate(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        batch_size: Option<usize>,
    ) -> Result<BTreeMap<String, f64>> {
        let compiled = self.compiled("evaluate")?;
        let batch_size = check_batch_size(batch_size, "evaluate")?;
        Self::check_samples(x, y, "evaluate")?;
        let x = self.prepare_x(x, "evaluate")?;
        let y = self.prepare_y(y, compiled.loss, "evaluate")?;
        let means = self.evaluate_prepared(&x, &y, None, batch_size, &compiled)?;
        Ok(means.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// `model.predict(x, batch_size=32)`: the model's outputs (after the last activation:
    /// probabilities for sigmoid / softmax), f32, `(n, units)`, in inference mode.
    pub fn predict(&mut self, x: &Tensor, batch_size: Option<usize>) -> Result<Tensor> {
        let batch_size = check_batch_size(batch_size, "predict")?;
        let x = self.prepare_x(x, "predict")?;
        let mut outputs = Vec::new();
        self.infer_chunks(&x, batch_size, |z, act, _, _| {
            outputs.push(act.apply_inference(&z)?);
            Ok(())
        })?;
        if outputs.is_empty() {
            let units: usize = self.network("predict")?.output_shape().iter().product();
            return Ok(Tensor::zeros((0, units), DType::F32, &self.device)?);
        }
        Ok(Tensor::cat(&outputs, 0)?)
    }
}

fn check_batch_size(batch_size: Option<usize>, operation: &'static str) -> Result<usize> {
    match batch_size {
        Some(0) => Err(Error::InvalidArgument {
            operation,
            argument: "batch_size",
            value: "0".into(),
            fix: "use a batch size of at least 1, or None for Keras's 32",
        }),
        Some(b) => Ok(b),
        None => Ok(32),
    }
}

/// Validation inputs, labels and (held-out) sample weights, prepared.
type Validation = (Tensor, Tensor, Option<Tensor>);

/// A batch `(x, y)` or `(x, y, sample_weight)` of a fit dataset.
fn dataset_pair(batch: Vec<Tensor>) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let len = batch.len();
    let mut it = batch.into_iter();
    match (len, it.next(), it.next(), it.next()) {
        (2, Some(x), Some(y), None) => Ok((x, y, None)),
        (3, Some(x), Some(y), Some(w)) => Ok((x, y, Some(w))),
        _ => Err(Error::InvalidArgument {
            operation: "fit_dataset",
            argument: "dataset",
            value: format!("elements of {len} field(s)"),
            fix: "fit takes (x, y) or (x, y, sample_weight) elements: Dataset::from_tensor_slices((x, y))",
        }),
    }
}

/// What callbacks reach of the model during `fit`.
struct FitContext<'m> {
    model: &'m mut Sequential,
    stop: &'m mut bool,
}

impl TrainingContext for FitContext<'_> {
    fn learning_rate(&self) -> f64 {
        self.model.learning_rate().unwrap_or(0.0)
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        self.model.set_learning_rate(lr)
    }

    fn weights(&self) -> Result<Vec<Tensor>> {
        Ok(self.model.get_weights()?.into_iter().map(|(_, t)| t).collect())
    }

    fn set_weights(&mut self, weights: &[Tensor]) -> Result<()> {
        let vars = self.model.named_variables()?;
        for ((_, var), value) in vars.iter().zip(weights) {
            var.set(value)?;
        }
        Ok(())
    }

    fn save(&self, path: &Path, weights_only: bool) -> Result<()> {
        match weights_only {
            true => self.model.save_weights(path),
            false => self.model.save(path),
        }
    }

    fn stop_training(&mut self) {
        *self.stop = true;
    }
}

/// Where each epoch's batches come from.
enum Epochs<'a> {
    /// Prepared tensors through the engine's loader (a new order per `iter`).
    Loader(&'a Loader),
    /// A user dataset: a new iteration per epoch, or `steps` batches of one continuing one.
    Dataset { dataset: &'a Dataset, continuing: Option<(Batches, usize)> },
}

impl Epochs<'_> {
    fn prepared(&self) -> bool {
        matches!(self, Epochs::Loader(_))
    }

    fn next_epoch(&mut self) -> Box<dyn Iterator<Item = Result<Vec<Tensor>>> + '_> {
        match self {
            Epochs::Loader(loader) => Box::new(loader.iter().map(|b| b.map(Fields::into_tensors))),
            Epochs::Dataset { continuing: Some((batches, steps)), .. } => {
                Box::new(batches.by_ref().take(*steps).map(|b| b.map(Fields::into_tensors)))
            }
            Epochs::Dataset { dataset, continuing: None } => {
                Box::new(dataset.iter().map(|b| b.map(Fields::into_tensors)))
            }
        }
    }
}
