//! `tf.keras`: a Keras-style training API over candle-nn.
//!
//! The seed snippet, ported:
//!
//! ```python
//! model = tf.keras.Sequential([Dense(16, activation='relu', input_shape=(10,)),
//!                              Dense(1, activation='sigmoid')])
//! model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
//! model.fit(X, y, epochs=5, batch_size=32)
//! ```
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_numpy::tf::keras::{layers::Dense, FitOptions, Sequential};
//!
//! let x = Tensor::rand(0f32, 1., (1000, 10), &Device::Cpu)?;
//! let y = (x.narrow(1, 0, 1)? + x.narrow(1, 1, 1)?)?.gt(1.0)?.to_dtype(DType::F32)?;
//! let mut model = Sequential::new(vec![
//!     Dense::new(16).activation("relu")?.input_shape(&[10]).into(),
//!     Dense::new(1).activation("sigmoid")?.into(),
//! ])?;
//! model.compile("adam", "binary_crossentropy", &["accuracy"])?;
//! let history = model.fit(&x, &y, &FitOptions { epochs: 5, batch_size: 32, verbose: 0, ..Default::default() })?;
//! assert_eq!(history.history["accuracy"].len(), 5);
//! # Ok::<(), candle_numpy::Error>(())
//! ```
//!
//! | Keras | here |
//! | --- | --- |
//! | `Sequential([...])`, `.add(layer)` | [`Sequential::new`], [`Sequential::add`] |
//! | `layers.Dense(units, activation, input_shape)`, `Dropout(rate)`, `Flatten()` | [`layers`] |
//! | `Conv1D`, `Conv2D`, `MaxPooling1D/2D`, `AveragePooling1D/2D`, `GlobalAveragePooling1D/2D` | [`layers::Conv`], [`layers::Pooling`], [`layers::GlobalAveragePooling`] (channels-last) |
//! | `BatchNormalization`, `LayerNormalization`, `Embedding`, `Reshape`, `Activation` | [`layers`] |
//! | `fit(..., callbacks=[...])`: `EarlyStopping`, `ReduceLROnPlateau`, `LearningRateScheduler`, `ModelCheckpoint` | [`Sequential::fit_with`], [`crate::train::callbacks`] |
//! | `fit(sample_weight=..., class_weight=...)` | [`FitOptions::sample_weight`], [`FitOptions::class_weight`] |
//! | `model.save(path)`, `keras.models.load_model(path)` | [`Sequential::save`], [`Sequential::load`] (one safetensors file) |
//! | `compile(optimizer, loss, metrics)` | [`Sequential::compile`]: names or [`Optimizer`] / [`Loss`] / [`Metric`] values |
//! | `fit(x, y, epochs, batch_size, shuffle, validation_split, validation_data, verbose)` | [`Sequential::fit`] with [`FitOptions`] |
//! | `fit(dataset)` | [`Sequential::fit_dataset`] |
//! | `evaluate`, `predict`, `summary`, `count_params` | same names |
//! | `save_weights` / `load_weights` | safetensors files |
//! | `model.trainable_variables`, `get_weights()` | [`Sequential::trainable_variables`], [`Sequential::get_weights`] |
//! | `mixed_precision.set_global_policy(p)` | [`Sequential::with_dtype_policy`] (per model) |
//! | `keras.utils.set_random_seed(s)` | [`Sequential::with_seed`] |
//!
//! **Design.** Layers are plain configurations (a closed [`Layer`] enum) and the model owns
//! the weights, as f32 candle `Var`s, so the optimizers are candle-nn's own. Because the set
//! of layers is closed, the model knows the last activation and computes the losses from the
//! logits where that is stable and cheap (see [`losses`]). A training step runs the forward
//! pass, one backward pass and the optimizer update, and stores the step's logits; loss and
//! metrics are folded from them every few thousand samples ([`FitOptions::verbose`] refreshes
//! the bar a few times a second), so there is no device-to-host transfer per step.
//!
//! **Speed.** One training step of the seed model (10 -> 16 relu -> 1 sigmoid, Adam) takes
//! ~35 µs at batch 32 and ~94 µs at batch 256 on the 2-core build machine (release build,
//! `cargo run --release --example train_keras -- --bench`; PyTorch takes ~570 µs per step at
//! batch 32 there). What keeps it low: the closed-form logit gradients of [`losses`], no
//! per-step host transfer, inputs cast and labels prepared once per `fit`, one gather per
//! tensor per batch, and a small-matmul op for the CPU (candle 0.11's CPU matmul re-reads
//! `/proc/cpuinfo` on every call unless `RAYON_NUM_THREADS` is set: ~29 µs per call; the
//! same loop written directly over candle-nn, `examples/train_torch_loop.rs`, takes ~250 µs
//! per step, or ~64 µs with `RAYON_NUM_THREADS` set). Dense layers too large for that op run
//! on the engine's [`crate::train::linear`] (one op per layer, ReLU fused, a closed-form
//! backward that computes no gradient for the data batch).
//!
//! **Not ported** (yet): `from_logits` losses, the functional API (only `Sequential`),
//! channels-first data and `groups` in the Keras layers (`cn.torch.nn.Conv2d` has both), the
//! optimizer's state in saved models, `RMSprop`, and Dense on inputs of rank > 2 (add a
//! [`Flatten`](layers::Flatten)). The image layers' kernels are the engine's CPU ops
//! ([`crate::train::conv`]); on CUDA a model with Conv or pooling layers is refused with an error
//! that says so.

/// `TryFrom<&str>` through the type's `FromStr`, so `compile` and the builders take a Keras
/// name or the typed value alike.
macro_rules! try_from_str {
    ($t:ty) => {
        impl TryFrom<&str> for $t {
            type Error = crate::error::Error;
            fn try_from(s: &str) -> crate::error::Result<Self> {
                s.parse()
            }
        }
    };
}
pub(crate) use try_from_str;

mod activation;
mod history;
pub mod layers;
pub mod losses;
pub mod metrics;
pub mod mixed_precision;
mod model;
mod network;
pub mod optimizers;
mod progress;
mod small_matmul;
mod tracker;

pub use activation::Activation;
pub use history::{FitOptions, History, HistoryParams};
pub use layers::Layer;
pub use losses::Loss;
pub use metrics::Metric;
pub use mixed_precision::Policy;
pub use model::Sequential;
pub use optimizers::Optimizer;
