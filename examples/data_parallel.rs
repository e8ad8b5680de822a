//! Data-parallel training of the seed model (10 -> 16 relu -> 1 sigmoid) on N processes,
//! Keras-style (`fit` with a strategy) and PyTorch-style (a loop with `DistributedOptimizer`).
//!
//! ```text
//! # CPUs, 2 processes over MPI (build with the mpi feature)
//! cargo build --release --features mpi --example data_parallel
//! mpirun -np 2 target/release/examples/data_parallel
//! # one process (no launcher): the same code, Strategy::Single
//! cargo run --release --example data_parallel
//! ```
//!
//! `--check` also trains a single-process reference on the same global batches on every rank
//! and prints how far each rank's weights are from it, plus a digest of the weights (equal on
//! every rank when they are bit-identical); `--bench` times steps (data-parallel vs single).

use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Optimizer as _, VarBuilder, VarMap};
use candle_numpy::distributed::{DistributedOptimizer, Ranks, Strategy};
use candle_numpy::tf::keras::{layers::Dense, FitOptions, Optimizer, Sequential};
use candle_numpy::torch::data::{DataLoader, TensorDataset};
use candle_numpy::Result;

const SAMPLES: usize = 1000;
const GLOBAL_BATCH: usize = 64;
const SEED: u64 = 7;

/// The same data on every rank: x uniform in [0, 1), y = x0 + x1 > 1.
fn data() -> Result<(Tensor, Tensor)> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let values: Vec<f32> = (0..SAMPLES * 10)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    let x = Tensor::from_vec(values, (SAMPLES, 10), &Device::Cpu)?;
    let y = (x.narrow(1, 0, 1)? + x.narrow(1, 1, 1)?)?.gt(1.0)?.to_dtype(DType::F32)?;
    Ok((x, y))
}

fn seed_model(seed: u64) -> Result<Sequential> {
    let mut m = Sequential::new(vec![
        Dense::new(16).activation("relu")?.input_shape(&[10]).into(),
        Dense::new(1).activation("sigmoid")?.into(),
    ])?
    .with_seed(seed);
    m.compile(Optimizer::adam().with_learning_rate(0.01), "binary_crossentropy", &["accuracy"])?;
    Ok(m)
}

fn flat(tensors: &[Tensor]) -> Result<Vec<f32>> {
    let parts: Vec<Tensor> = tensors.iter().map(|t| t.flatten_all()).collect::<candle_core::Result<_>>()?;
    Ok(Tensor::cat(&parts, 0)?.to_vec1::<f32>()?)
}

/// FNV-1a over the f32 bit patterns: equal digests mean bit-identical weights.
fn digest(values: &[f32]) -> u64 {
    values
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, v| (h ^ u64::from(v.to_bits())).wrapping_mul(0x100_0000_01b3))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn weights(m: &Sequential) -> Result<Vec<f32>> {
    flat(&m.get_weights()?.into_iter().map(|(_, t)| t).collect::<Vec<_>>())
}

/// Keras-style: `fit` with the strategy (batch_size is the global batch). Returns the weights
/// and the seconds per step.
fn keras(strategy: &Strategy, epochs: usize) -> Result<(Vec<f32>, f64, f64)> {
    let (x, y) = data()?;
    // each rank starts from other weights: fit broadcasts rank 0's
    let mut model = seed_model(42 + strategy.rank() as u64)?;
    let opts = FitOptions {
        epochs,
        batch_size: GLOBAL_BATCH,
        seed: Some(SEED),
        verbose: 0,
        strategy: strategy.clone(),
        ..Default::default()
    };
    let start = Instant::now();
    let history = model.fit(&x, &y, &opts)?;
    let per_step = start.elapsed().as_secs_f64() / (epochs * SAMPLES.div_ceil(GLOBAL_BATCH)) as f64;
    Ok((weights(&model)?, per_step, history.last("loss").unwrap_or(f64::NAN)))
}

/// PyTorch-style: candle-nn layers, a DataLoader sharded by rank, AdamW wrapped in a
/// DistributedOptimizer. `init` fixes the initial weights (for the reference run).
fn torch_loop(
    strategy: &Strategy,
    epochs: usize,
    init: Option<&[Tensor]>,
) -> Result<(Vec<f32>, Vec<Tensor>)> {
    let (x, y) = data()?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let l1 = candle_nn::linear(10, 16, vb.pp("l1"))?;
    let l2 = candle_nn::linear(16, 1, vb.pp("l2"))?;
    let vars: Vec<Var> = ["l1.weight", "l1.bias", "l2.weight", "l2.bias"]
        .iter()
        .map(|n| varmap.data().lock().unwrap()[*n].clone())
        .collect();
    if let Some(init) = init {
        for (v, t) in vars.iter().zip(init) {
            v.set(t)?;
        }
    }
    let adam = candle_nn::AdamW::new(
        vars.clone(),
        candle_nn::ParamsAdamW { lr: 0.01, weight_decay: 0.0, ..Default::default() },
    )?;
    // broadcasts rank 0's (random) initial weights to every rank
    let mut opt = DistributedOptimizer::new(adam, vars.clone(), strategy.clone())?;
    let start: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
    let ranks = strategy.ranks();
    // per-process batch (PyTorch DDP's convention): the global batch is world_size times it
    let loader = DataLoader::new(
        TensorDataset::new(vec![x, y])?,
        GLOBAL_BATCH / ranks.world_size,
        true,
        false,
        Some(SEED),
    )?;
    let loader = ranks.shard(&loader)?;
    for epoch in 0..epochs {
        loader.set_epoch(epoch as u64);
        let mut batches = loader.iter();
        loop {
            let stepped = match batches.next() {
                Some(batch) => {
                    let [xb, yb]: [Tensor; 2] = batch?.try_into().expect("two fields");
                    let logits = l2.forward(&l1.forward(&xb)?.relu()?)?;
                    let loss = candle_nn::loss::binary_cross_entropy_with_logit(&logits, &yb)?;
                    opt.step_weighted(&mut loss.backward()?, xb.dim(0)?)?
                }
                // out of batches here: join the other ranks' steps with no samples
                None => opt.step_weighted(&mut GradStore::default(), 0)?,
            };
            if !stepped {
                break;
            }
        }
    }
    let end: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    Ok((flat(&end)?, start))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let check = args.iter().any(|a| a == "--check");
    let bench = args.iter().any(|a| a == "--bench");
    let strategy = Strategy::from_env()?;
    let Ranks { rank, world_size, .. } = strategy.ranks();
    let who = format!("rank {rank}/{world_size}");
    let epochs = 3;

    let (w, step_s, loss) = keras(&strategy, epochs)?;
    println!("{who} keras: loss={loss:.6} digest={:016x} step_us={:.1}", digest(&w), step_s * 1e6);
    let (tw, init) = torch_loop(&strategy, epochs, None)?;
    println!("{who} torch: digest={:016x}", digest(&tw));

    if check {
        // one process on the same global batches, from rank 0's initial weights
        let single = Strategy::Single;
        let mut reference = seed_model(42)?;
        let opts = FitOptions {
            epochs,
            batch_size: GLOBAL_BATCH,
            seed: Some(SEED),
            verbose: 0,
            ..Default::default()
        };
        let (x, y) = data()?;
        reference.fit(&x, &y, &opts)?;
        let kd = max_abs_diff(&w, &weights(&reference)?);
        let (tr, _) = torch_loop(&single, epochs, Some(&init))?;
        let td = max_abs_diff(&tw, &tr);
        println!("{who} check: keras_max_abs_diff={kd:.3e} torch_max_abs_diff={td:.3e} params={}", w.len());
    }
    if bench {
        let epochs = 20;
        let (_, dp, _) = keras(&strategy, epochs)?;
        let (_, one, _) = keras(&Strategy::Single, epochs)?;
        println!(
            "{who} bench: data_parallel_step_us={:.1} single_process_step_us={:.1} ratio={:.2} (global batch {GLOBAL_BATCH})",
            dp * 1e6,
            one * 1e6,
            dp / one
        );
    }
    Ok(())
}
