//! The digits CNN of `examples/python/digits_cnn.py`, in Rust: the same channels-last network
//! (Conv-ReLU-Pool x2, Dense softmax head) through `tf::keras::Sequential`, on the split that
//! script exports as `.npy` files.
//!
//! ```text
//! python examples/python/digits_cnn.py --export target/digits
//! cargo run --release --example digits_cnn -- target/digits [epochs]
//! ```
//!
//! Prints one line per epoch (loss, validation accuracy) and the final test accuracy, with
//! EarlyStopping restoring the best epoch's weights and a checkpoint of the best model.

use std::path::PathBuf;

use candle_numpy::tf::keras::layers::{Conv, Dense, Flatten, PaddingMode, PoolMode, Pooling};
use candle_numpy::tf::keras::{FitOptions, Optimizer, Sequential};
use candle_numpy::train::callbacks::{EarlyStopping, ModelCheckpoint};
use candle_numpy::{npy, Error, Result};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or_else(|| Error::InvalidArgument {
        operation: "digits_cnn",
        argument: "DIR",
        value: "missing".into(),
        fix: "export the split first: python examples/python/digits_cnn.py --export DIR",
    })?);
    let epochs: usize = args.next().map_or(Ok(15), |e| e.parse()).map_err(|_| Error::InvalidArgument {
        operation: "digits_cnn",
        argument: "epochs",
        value: "not a number".into(),
        fix: "give the number of epochs after the folder",
    })?;
    // (N, 8, 8) images in [0, 1] -> (N, 8, 8, 1), channels last
    let load = |name: &str| npy::load(dir.join(format!("{name}.npy")));
    let x_train = load("x_train")?.unsqueeze(3)?;
    let y_train = load("y_train")?;
    let x_test = load("x_test")?.unsqueeze(3)?;
    let y_test = load("y_test")?;
    println!("digits: {} train / {} test images of 8x8", x_train.dim(0)?, x_test.dim(0)?);

    let conv = |filters| Conv::conv2d(filters, (3, 3)).padding(PaddingMode::Same).activation("relu");
    let mut model = Sequential::new(vec![
        conv(16)?.input_shape(&[8, 8, 1]).into(),
        Pooling::new2d(PoolMode::Max, (2, 2)).into(),
        conv(32)?.into(),
        Pooling::new2d(PoolMode::Max, (2, 2)).into(),
        Flatten::new().into(),
        Dense::new(10).activation("softmax")?.into(),
    ])?
    .with_seed(0);
    model.compile(
        Optimizer::adam().with_learning_rate(3e-3),
        "sparse_categorical_crossentropy",
        &["accuracy"],
    )?;
    println!("{}", model.summary()?);

    let mut stop = EarlyStopping::new("val_loss").patience(4).restore_best_weights(true);
    let best = std::env::temp_dir().join("candle_numpy_digits_best.safetensors");
    let mut checkpoint = ModelCheckpoint::new(&best.display().to_string());
    checkpoint.save_best_only = true;
    let opts = FitOptions {
        epochs,
        batch_size: 32,
        verbose: 0,
        validation_data: Some((x_test.clone(), y_test.clone())),
        ..FitOptions::default()
    };
    let history = model.fit_with(&x_train, &y_train, &opts, &mut [&mut stop, &mut checkpoint])?;
    for (epoch, (loss, acc)) in
        history.history["loss"].iter().zip(&history.history["val_accuracy"]).enumerate()
    {
        println!("  epoch {:2}  loss {loss:.4}  val_accuracy {acc:.4}", epoch + 1);
    }
    let scores = model.evaluate(&x_test, &y_test, None)?;
    println!("test accuracy {:.4} (best epoch {})", scores["accuracy"], stop.best_epoch + 1);
    // the checkpoint holds the best model, architecture included
    let reloaded = Sequential::load(&best)?.evaluate(&x_test, &y_test, None)?;
    println!("reloaded checkpoint: test accuracy {:.4}", reloaded["accuracy"]);
    Ok(())
}
