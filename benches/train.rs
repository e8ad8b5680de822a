//! One optimizer step over the parameters of the MLP 784-256-256-10 (the training-speed
//! issue's model: 269,322 f32 parameters in six tensors), with gradients already computed:
//! the engine's `train::Stepper` (fused in-place kernels) against candle-nn's `AdamW` / `SGD`
//! (whole-tensor ops, a fresh buffer per op), and the engine with its fused path turned off.
//! Adam and SGD with momentum, interleaved by criterion in one run.
//!
//! Then the same model's forward and backward pass on a batch of 128 (input 784 features,
//! cross-entropy-like objective `sum(logits * r)`): the engine's dense layer
//! (`train::linear`, Linear+ReLU as one op with a closed-form backward) against candle's ops
//! (matmul over the transposed weight, broadcast add, relu), and each GEMM shape of the step
//! alone through candle's matmul.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer as _;
use candle_numpy::train::{MomentumStyle, OptimizerConfig, Stepper, WeightDecay};
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;

/// The model's parameter shapes: (784 x 256, 256), (256 x 256, 256), (256 x 10, 10).
const SHAPES: [&[usize]; 6] = [&[256, 784], &[256], &[256, 256], &[256], &[10, 256], &[10]];

fn params() -> (Vec<Var>, GradStore) {
    let mut grads = GradStore::default();
    let vars: Vec<Var> = SHAPES
        .iter()
        .map(|s| {
            let v = Var::from_tensor(&Tensor::rand(-0.05f32, 0.05, *s, &Device::Cpu).unwrap()).unwrap();
            grads.insert(v.as_tensor(), Tensor::rand(-1e-3f32, 1e-3, *s, &Device::Cpu).unwrap());
            v
        })
        .collect();
    (vars, grads)
}

fn adam() -> OptimizerConfig {
    OptimizerConfig::Adam { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: WeightDecay::None }
}

fn sgd() -> OptimizerConfig {
    OptimizerConfig::Sgd {
        lr: 1e-2,
        momentum: 0.9,
        nesterov: false,
        style: MomentumStyle::Torch,
        weight_decay: WeightDecay::None,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("optimizer_step_mlp_784_256_256_10");
    g.measurement_time(Duration::from_secs(4)).sample_size(30);
    let (vars, grads) = params();
    let mut fused = Stepper::new(adam(), vars.clone()).unwrap();
    g.bench_function("adam: train::Stepper (fused)", |b| b.iter(|| fused.step(&grads).unwrap()));
    let mut unfused = Stepper::with_fused(adam(), vars.clone(), false).unwrap();
    g.bench_function("adam: train::Stepper (candle ops)", |b| b.iter(|| unfused.step(&grads).unwrap()));
    let p = candle_nn::ParamsAdamW { lr: 1e-3, weight_decay: 0.0, ..Default::default() };
    let mut peer = candle_nn::AdamW::new(vars.clone(), p).unwrap();
    g.bench_function("adam: candle_nn::AdamW", |b| b.iter(|| peer.step(&grads).unwrap()));
    let mut fused = Stepper::new(sgd(), vars.clone()).unwrap();
    g.bench_function("sgd momentum: train::Stepper (fused)", |b| b.iter(|| fused.step(&grads).unwrap()));
    let mut unfused = Stepper::with_fused(sgd(), vars.clone(), false).unwrap();
    g.bench_function("sgd momentum: train::Stepper (candle ops)", |b| {
        b.iter(|| unfused.step(&grads).unwrap())
    });
    let mut plain = candle_nn::SGD::new(vars.clone(), 1e-2).unwrap();
    g.bench_function("sgd (no momentum): candle_nn::SGD", |b| b.iter(|| plain.step(&grads).unwrap()));
    g.finish();
    assert!(vars.iter().all(|v| v.dtype() == DType::F32));
}

/// The forward pass of the MLP on `x` with torch-layout weights `(out, in)`: the engine's
/// fused layers, or candle's ops.
fn mlp(x: &Tensor, vars: &[Var], fused: bool) -> Tensor {
    use candle_numpy::train::linear::{linear, Activation, WeightLayout};
    let mut h = x.clone();
    for (i, wb) in vars.chunks(2).enumerate() {
        let relu = i < 2;
        h = if fused {
            let act = if relu { Activation::Relu } else { Activation::Identity };
            linear(&h, &wb[0], Some(&wb[1]), WeightLayout::OutIn, act).unwrap()
        } else {
            let z = h.matmul(&wb[0].t().unwrap()).unwrap().broadcast_add(&wb[1]).unwrap();
            if relu {
                z.relu().unwrap()
            } else {
                z
            }
        };
    }
    h
}

fn bench_forward_backward(c: &mut Criterion) {
    let mut g = c.benchmark_group("mlp_784_256_256_10_batch_128");
    g.measurement_time(Duration::from_secs(4)).sample_size(30);
    let (vars, _) = params();
    let x = Tensor::rand(0f32, 1.0, (128, 784), &Device::Cpu).unwrap();
    let r = Tensor::rand(-1f32, 1.0, (128, 10), &Device::Cpu).unwrap();
    for (name, fused) in [("train::linear (fused)", true), ("candle ops", false)] {
        g.bench_function(format!("forward: {name}"), |b| b.iter(|| mlp(&x, &vars, fused)));
        g.bench_function(format!("forward + backward: {name}"), |b| {
            b.iter(|| (mlp(&x, &vars, fused) * &r).unwrap().sum_all().unwrap().backward().unwrap())
        });
    }
    // the step's GEMM shapes through candle's matmul: forward (m, k) @ (k, n)
    for (m, k, n) in [(128, 784, 256), (128, 256, 256), (128, 256, 10)] {
        let a = Tensor::rand(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
        let w = Tensor::rand(0f32, 1.0, (k, n), &Device::Cpu).unwrap();
        g.bench_function(format!("candle matmul ({m}x{k}) @ ({k}x{n})"), |b| {
            b.iter(|| a.matmul(&w).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_forward_backward);
criterion_main!(benches);
