//! The seed's PyTorch training loop, written directly over candle-nn (no `tf::keras`):
//!
//! ```python
//! class SimpleNN(nn.Module):
//!     def __init__(self):
//!         super().__init__(); self.fc1 = nn.Linear(10, 16); self.fc2 = nn.Linear(16, 1)
//!     def forward(self, x): return torch.sigmoid(self.fc2(torch.relu(self.fc1(x))))
//! model = SimpleNN(); criterion = nn.BCELoss(); optimizer = optim.Adam(model.parameters(), lr=0.001)
//! for epoch in range(5):
//!     optimizer.zero_grad(); loss = criterion(model(X), y); loss.backward(); optimizer.step()
//! ```
//!
//! Runs it full-batch (as the seed does), then with mini-batches of 32 from our
//! `torch::data::DataLoader`, printing the loss per epoch and the final accuracy.
//! `cargo run --release --example train_torch_loop [-- --epochs N] [--quiet]`
//!
//! candle-nn's `Linear` initialises from candle's CPU generator, which cannot be seeded, so
//! the numbers vary from run to run (the keras port seeds its own initialisation).

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{linear, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use candle_numpy::device::cuda_if_available;
use candle_numpy::torch::data::{DataLoader, TensorDataset};
use candle_numpy::Result;
use indicatif::{ProgressBar, ProgressStyle};

#[path = "common/uniform.rs"]
mod uniform;
use uniform::uniform;

struct SimpleNN {
    fc1: Linear,
    fc2: Linear,
}

impl SimpleNN {
    fn new(vb: VarBuilder) -> Result<Self> {
        Ok(SimpleNN { fc1: linear(10, 16, vb.pp("fc1"))?, fc2: linear(16, 1, vb.pp("fc2"))? })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.fc1.forward(x)?.relu()?;
        Ok(candle_nn::ops::sigmoid(&self.fc2.forward(&h)?)?)
    }
}

/// `nn.BCELoss()`: mean of `-(y log p + (1 - y) log(1 - p))`, each log clamped at -100 as
/// torch does (so p = 0 or 1 gives a finite loss).
fn bce_loss(p: &Tensor, y: &Tensor) -> Result<Tensor> {
    let log_p = p.log()?.clamp(-100f32, f32::MAX)?;
    let log_1mp = p.affine(-1.0, 1.0)?.log()?.clamp(-100f32, f32::MAX)?;
    let ll = ((y * log_p)? + (y.affine(-1.0, 1.0)? * log_1mp)?)?;
    Ok(ll.mean_all()?.neg()?)
}

fn accuracy(model: &SimpleNN, x: &Tensor, y: &Tensor) -> Result<f32> {
    let hits = model.forward(x)?.gt(0.5)?.to_dtype(DType::F32)?.eq(y)?.to_dtype(DType::F32)?;
    Ok(hits.mean_all()?.to_scalar::<f32>()?)
}

/// Adam as the seed's `optim.Adam(lr=0.001)`: candle-nn's AdamW without weight decay.
fn adam(vars: &VarMap) -> Result<candle_nn::AdamW> {
    let params = ParamsAdamW { lr: 1e-3, weight_decay: 0.0, ..ParamsAdamW::default() };
    Ok(candle_nn::AdamW::new(vars.all_vars(), params)?)
}

fn data(n: usize, device: &Device) -> Result<(Tensor, Tensor)> {
    let x = uniform(42, n * 10);
    let y: Vec<f32> = x.chunks(10).map(|r| f32::from(u8::from(r[0] + r[1] > 1.0))).collect();
    Ok((Tensor::from_vec(x, (n, 10), device)?, Tensor::from_vec(y, (n, 1), device)?))
}

fn bar(len: u64, quiet: bool) -> ProgressBar {
    // a bar only when it is worth watching
    if quiet || len < 2000 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{pos}/{len} steps {wide_bar} {elapsed} {msg}").expect("valid template"),
    );
    bar
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quiet = args.iter().any(|a| a == "--quiet");
    let epochs: usize = match args.iter().position(|a| a == "--epochs") {
        Some(i) => args.get(i + 1).and_then(|s| s.parse().ok()).expect("--epochs takes a number"),
        None => 5,
    };
    let device = cuda_if_available(0);
    let (x, y) = data(1000, &device)?;

    println!("full batch (the seed loop), {epochs} epochs:");
    let vars = VarMap::new();
    let model = SimpleNN::new(VarBuilder::from_varmap(&vars, DType::F32, &device))?;
    let mut opt = adam(&vars)?;
    let start = std::time::Instant::now();
    for epoch in 0..epochs {
        let loss = bce_loss(&model.forward(&x)?, &y)?;
        opt.backward_step(&loss)?; // zero_grad + backward + step: candle's grads are fresh each time
        if !quiet {
            println!("  epoch {}/{epochs}: loss {:.4}", epoch + 1, loss.to_scalar::<f32>()?);
        }
    }
    println!(
        "  {:.2} ms per epoch, accuracy {:.4}",
        start.elapsed().as_secs_f64() * 1e3 / epochs.max(1) as f64,
        accuracy(&model, &x, &y)?
    );

    println!("mini-batches of 32 through torch::data::DataLoader, {epochs} epochs:");
    let vars = VarMap::new();
    let model = SimpleNN::new(VarBuilder::from_varmap(&vars, DType::F32, &device))?;
    let mut opt = adam(&vars)?;
    let loader = DataLoader::new(TensorDataset::new(vec![x.clone(), y.clone()])?, 32, true, false, Some(0))?;
    let progress = bar((epochs * loader.len()) as u64, quiet);
    let start = std::time::Instant::now();
    for epoch in 0..epochs {
        // epoch loss as torch users log it: the sample-weighted mean of the batch losses
        let mut total = Tensor::zeros((), DType::F32, &device)?;
        for batch in loader.iter() {
            let [bx, by]: [Tensor; 2] = batch?.try_into().expect("the dataset holds (x, y)");
            let loss = bce_loss(&model.forward(&bx)?, &by)?;
            opt.backward_step(&loss)?;
            total = (total + (loss.detach() * bx.dim(0)? as f64)?)?;
            progress.inc(1);
        }
        let epoch_loss = total.to_scalar::<f32>()? / x.dim(0)? as f32;
        if !quiet {
            progress.suspend(|| println!("  epoch {}/{epochs}: loss {epoch_loss:.4}", epoch + 1));
        }
    }
    progress.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "  {:.2} ms per epoch ({:.1} µs per step), accuracy {:.4}",
        elapsed * 1e3 / epochs.max(1) as f64,
        elapsed * 1e6 / (epochs * loader.len()).max(1) as f64,
        accuracy(&model, &x, &y)?
    );
    Ok(())
}
