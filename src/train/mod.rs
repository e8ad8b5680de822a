//! The framework-neutral training layer under both facades: optimizer steppers with the update
//! rules of PyTorch and Keras as parameters ([`optim`]), losses with reductions ([`loss`]), and
//! the dense layer with a closed-form backward ([`linear`]) that Keras's `Dense` and torch's
//! `Linear` (+`ReLU`) run on, the convolutions and pooling built on it ([`conv`]), and the
//! normalisation and embedding layers ([`norm`]), and training callbacks ([`callbacks`]:
//! early stopping, learning-rate schedules, checkpoints).
//!
//! `tf::keras`'s `fit` and the Python `cn.torch.optim` classes both step through
//! [`optim::Stepper`]; the facades only name things (Keras's `"adam"` with `epsilon=1e-7`,
//! torch's `Adam(weight_decay=...)` as an L2 term) and translate to an
//! [`optim::OptimizerConfig`].

pub mod callbacks;
pub mod conv;
mod fused;
pub mod linear;
pub mod loss;
pub mod norm;
pub mod optim;

pub use loss::Reduction;
pub use optim::{MomentumStyle, OptimizerConfig, Stepper, WeightDecay};
