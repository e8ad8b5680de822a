//! The seed's Keras snippet, ported:
//!
//! ```python
//! X = np.random.rand(1000, 10); y = (X[:, 0] + X[:, 1] > 1).astype(int)
//! model = tf.keras.Sequential([Dense(16, activation='relu', input_shape=(10,)),
//!                              Dense(1, activation='sigmoid')])
//! model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
//! model.fit(X, y, epochs=5, batch_size=32)
//! ```
//!
//! `cargo run --release --example train_keras` trains it (30 epochs, so that it gets to a high
//! accuracy) and prints the History. `-- --bench` times 5 epochs of 1000 x 10 at batch 32 and
//! 100k x 10 at batch 256 under each dtype policy, and prints ms per epoch and µs per step.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_numpy::device::cuda_if_available;
use candle_numpy::tf::keras::{layers::Dense, FitOptions, Sequential};
use candle_numpy::Result;

#[path = "common/uniform.rs"]
mod uniform;
use uniform::uniform;

/// `X` uniform in [0, 1) and `y = x0 + x1 > 1` (as f32, shape (n,)), from a seeded model-free
/// generator so runs are comparable.
fn data(n: usize, device: &Device) -> Result<(Tensor, Tensor)> {
    let x = uniform(42, n * 10);
    let y: Vec<i64> = x.chunks(10).map(|r| i64::from(r[0] + r[1] > 1.0)).collect();
    Ok((Tensor::from_vec(x, (n, 10), device)?, Tensor::from_vec(y, n, device)?))
}

fn model(device: &Device, policy: &str) -> Result<Sequential> {
    let mut model = Sequential::new(vec![
        Dense::new(16).activation("relu")?.input_shape(&[10]).into(),
        Dense::new(1).activation("sigmoid")?.into(),
    ])?
    .with_device(device)?
    .with_seed(0)
    .with_dtype_policy(policy)?;
    model.compile("adam", "binary_crossentropy", &["accuracy"])?;
    Ok(model)
}

fn bench(device: &Device) -> Result<()> {
    println!("policy          | data        | batch | ms/epoch | µs/step");
    for policy in ["float32", "mixed_bfloat16", "mixed_float16"] {
        for (n, batch) in [(1000, 32), (100_000, 256)] {
            let (x, y) = data(n, device)?;
            let mut m = model(device, policy)?;
            let opts = FitOptions { epochs: 1, batch_size: batch, verbose: 0, ..Default::default() };
            m.fit(&x, &y, &opts)?; // warm-up epoch
            let epochs = 5;
            let start = Instant::now();
            let h = m.fit(&x, &y, &FitOptions { epochs, ..opts })?;
            let secs = start.elapsed().as_secs_f64();
            let steps = h.params.steps.unwrap_or(1) * epochs;
            println!(
                "{policy:<15} | {n:>7} x 10 | {batch:>5} | {:>8.2} | {:>7.1}   (final accuracy {:.3})",
                secs * 1e3 / epochs as f64,
                secs * 1e6 / steps as f64,
                h.last("accuracy").unwrap_or(f64::NAN)
            );
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let device = cuda_if_available(0);
    if std::env::args().any(|a| a == "--bench") {
        return bench(&device);
    }
    let (x, y) = data(1000, &device)?;
    let mut model = model(&device, "float32")?;
    print!("{}", model.summary()?);
    let history = model.fit(&x, &y, &FitOptions { epochs: 30, batch_size: 32, ..Default::default() })?;
    println!("History:");
    for (key, values) in &history.history {
        let shown: Vec<String> = values.iter().map(|v| format!("{v:.4}")).collect();
        println!("  {key}: [{}]", shown.join(", "));
    }
    let p = model.predict(&x, None)?;
    let hits = p.gt(0.5)?.to_dtype(DType::F32)?.squeeze(1)?.eq(&y.to_dtype(DType::F32)?)?;
    let accuracy = hits.to_dtype(DType::F32)?.mean_all()?.to_scalar::<f32>()?;
    println!("final accuracy (predict): {accuracy:.4}");
    Ok(())
}
