//! The seed snippet's PyTorch DataLoader epoch, ported:
//!
//! ```python
//! X = np.random.rand(100, 10); y = np.random.randint(0, 2, 100)
//! dataset = torch.utils.data.TensorDataset(torch.from_numpy(X).float(), torch.from_numpy(y).long())
//! dataloader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True)
//! for batch_X, batch_y in dataloader: print(batch_X.shape, batch_y.shape)
//! ```
//!
//! `cargo run --example dataloader`

use candle_core::{DType, Device, Tensor};
use candle_numpy::torch::data::{DataLoader, TensorDataset};
use candle_numpy::{torch, ArrayRef};

fn main() -> candle_numpy::Result<()> {
    // X = rand(100, 10) as float64 (NumPy's default), y = randint(0, 2, 100) as int64
    let x64 = Tensor::rand(0f64, 1., (100, 10), &Device::Cpu)?;
    let y = Tensor::rand(0f32, 2., 100, &Device::Cpu)?.floor()?.to_dtype(DType::I64)?;
    // torch.from_numpy(X).float(): the float64 array cast to float32 (a copy, as in torch)
    let x = torch::tensor(&ArrayRef::from_tensor(&x64)?, Some(DType::F32), None)?;
    // torch.from_numpy(y): shares the labels' memory
    let y = torch::from_numpy(&ArrayRef::from_tensor(&y)?)?;

    let dataset = TensorDataset::new(vec![x, y])?;
    let loader = DataLoader::new(dataset, 32, true, false, Some(0))?;
    println!(
        "dataset of {} samples, {} batches per epoch (batch_size=32, shuffle=True)",
        loader.dataset().len(),
        loader.len()
    );
    for epoch in 0..2 {
        for (i, batch) in loader.iter().enumerate() {
            let batch = batch?;
            let (bx, by) = (&batch[0], &batch[1]);
            let first: Vec<i64> = by.to_vec1::<i64>()?.into_iter().take(5).collect();
            println!(
                "epoch {epoch} batch {i}: X {:?} {:?}, y {:?} {:?}, first labels {first:?}",
                bx.dims(),
                bx.dtype(),
                by.dims(),
                by.dtype()
            );
        }
    }
    Ok(())
}
