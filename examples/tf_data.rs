//! The seed snippet's tf.data pipeline, ported (with the prefetch the issue asks for):
//!
//! ```python
//! X = np.random.rand(100, 10); y = np.random.randint(0, 2, 100)
//! dataset = tf.data.Dataset.from_tensor_slices((X, y))
//! dataset = dataset.batch(32).shuffle(buffer_size=100).prefetch(tf.data.AUTOTUNE)
//! for batch_X, batch_y in dataset.take(1): print(batch_X.shape, batch_y.shape)
//! ```
//!
//! `cargo run --example tf_data`

use candle_core::{DType, Device, Tensor};
use candle_numpy::tf::data::{Dataset, AUTOTUNE};
use candle_numpy::{tf, ArrayRef};

fn main() -> candle_numpy::Result<()> {
    let x = Tensor::rand(0f64, 1., (100, 10), &Device::Cpu)?;
    let y = Tensor::rand(0f32, 2., 100, &Device::Cpu)?.floor()?.to_dtype(DType::I64)?;
    // tf.data copies NumPy input into tensors (tf.convert_to_tensor semantics)
    let x = tf::convert_to_tensor(&ArrayRef::from_tensor(&x)?, None, None)?;
    let y = tf::convert_to_tensor(&ArrayRef::from_tensor(&y)?, None, None)?;

    // batch first, then shuffle: the seed snippet shuffles whole batches of 32
    let dataset = Dataset::from_tensor_slices((x, y))?
        .batch(32, false)?
        .shuffle(100, Some(0), true)?
        .prefetch(AUTOTUNE)?;
    println!("cardinality: {} batches", dataset.cardinality().as_i64());
    for batch in dataset.take(1)?.iter() {
        let batch = batch?.into_tensors();
        println!(
            "take(1): X {:?} {:?}, y {:?} {:?}",
            batch[0].dims(),
            batch[0].dtype(),
            batch[1].dims(),
            batch[1].dtype()
        );
    }
    for epoch in 0..2 {
        let sizes: Vec<usize> =
            dataset.iter().map(|b| Ok(b?.into_tensors()[0].dim(0)?)).collect::<candle_numpy::Result<_>>()?;
        println!("epoch {epoch}: batch sizes {sizes:?} (whole batches shuffled; the short one moves too)");
    }

    // the usual order: shuffle samples, then batch
    let usual = Dataset::from_tensor_slices(vec![
        ("x", Tensor::rand(0f32, 1., (100, 10), &Device::Cpu)?),
        ("y", Tensor::zeros(100, DType::I64, &Device::Cpu)?),
    ])?
    .shuffle(100, Some(0), true)?
    .batch(32, true)?
    .prefetch(AUTOTUNE)?;
    for batch in usual.iter() {
        let batch = batch?;
        println!(
            "dict batch: keys {:?}, x {:?}",
            batch.names().unwrap_or_default(),
            batch.get("x").map(|t| t.dims().to_vec())
        );
    }
    Ok(())
}
