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
//!
//! Last, the digits CNN's step (batch 32 of 8x8 images: Conv 16 3x3 same + ReLU, MaxPool 2,
//! Conv 32 3x3 same + ReLU, MaxPool 2, Linear 128 -> 10) through the engine's `train::conv`,
//! in both layouts, against candle's own `conv2d` and `max_pool2d` (channels-first only).

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

/// The digits CNN's forward pass: the engine's ops in `format`, or candle's (`None`).
fn cnn(x: &Tensor, w: &[Var], format: Option<candle_numpy::train::conv::DataFormat>) -> Tensor {
    use candle_numpy::train::conv::{conv2d, pool2d, ConvSpec, Padding, PoolKind, Window};
    use candle_numpy::train::linear::{linear, Activation, WeightLayout};
    let h = match format {
        Some(fmt) => {
            let spec = ConvSpec { padding: Padding::symmetric(1, 1), ..ConvSpec::new(fmt) };
            let win = Window { stride: (2, 2), ..Window::new((2, 2)) };
            let h = conv2d(x, &w[0], Some(&w[1]), &spec, Activation::Relu).unwrap();
            let h = pool2d(&h, PoolKind::Max, &win, fmt).unwrap();
            let h = conv2d(&h, &w[2], Some(&w[3]), &spec, Activation::Relu).unwrap();
            pool2d(&h, PoolKind::Max, &win, fmt).unwrap()
        }
        None => {
            let bias = |b: &Var| b.as_tensor().reshape((1, b.elem_count(), 1, 1)).unwrap();
            let h = x.conv2d(&w[0], 1, 1, 1, 1).unwrap().broadcast_add(&bias(&w[1])).unwrap().relu().unwrap();
            let h = h.max_pool2d(2).unwrap();
            let h = h.conv2d(&w[2], 1, 1, 1, 1).unwrap().broadcast_add(&bias(&w[3])).unwrap().relu().unwrap();
            h.max_pool2d(2).unwrap()
        }
    };
    linear(&h.flatten_from(1).unwrap(), &w[4], Some(&w[5]), WeightLayout::OutIn, Activation::Identity)
        .unwrap()
}

fn bench_cnn(c: &mut Criterion) {
    use candle_numpy::train::conv::DataFormat;
    let mut g = c.benchmark_group("digits_cnn_batch_32");
    g.measurement_time(Duration::from_secs(4)).sample_size(30);
    let dev = Device::Cpu;
    let v = |shape: &[usize]| Var::rand(-0.2f32, 0.2, shape, &dev).unwrap();
    let first = vec![v(&[16, 1, 3, 3]), v(&[16]), v(&[32, 16, 3, 3]), v(&[32]), v(&[10, 128]), v(&[10])];
    let last = vec![v(&[3, 3, 1, 16]), v(&[16]), v(&[3, 3, 16, 32]), v(&[32]), v(&[10, 128]), v(&[10])];
    let x_first = Tensor::rand(0f32, 1.0, (32, 1, 8, 8), &dev).unwrap();
    let x_last = x_first.permute((0, 2, 3, 1)).unwrap().contiguous().unwrap();
    let r = Tensor::rand(-1f32, 1.0, (32, 10), &dev).unwrap();
    let cases = [
        ("train::conv channels-first", &x_first, &first, Some(DataFormat::ChannelsFirst)),
        ("train::conv channels-last", &x_last, &last, Some(DataFormat::ChannelsLast)),
        ("candle conv2d + max_pool2d", &x_first, &first, None),
    ];
    for (name, x, w, fmt) in cases {
        g.bench_function(format!("forward: {name}"), |b| b.iter(|| cnn(x, w, fmt)));
        g.bench_function(format!("forward + backward: {name}"), |b| {
            b.iter(|| (cnn(x, w, fmt) * &r).unwrap().sum_all().unwrap().backward().unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_forward_backward, bench_cnn);
criterion_main!(benches);
