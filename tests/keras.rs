//! `tf::keras`: training outcomes, History shape, reproducibility, weights files, errors.
//!
//! Every case takes the device; `device_tests!` instantiates them on the CPU (and on CUDA
//! with `--features cuda`; skipped with a message when no GPU opens).

use candle_core::{DType, Device, Tensor, D};
use candle_numpy::tf::data::Dataset;
use candle_numpy::tf::keras::layers::{Dense, Dropout, Flatten};
use candle_numpy::tf::keras::{FitOptions, Loss, Metric, Optimizer, Sequential};
use candle_numpy::{Error, Result};

#[path = "../examples/common/uniform.rs"]
mod uniform;
use uniform::uniform;

#[macro_use]
mod common;

device_tests!(
    learns_the_seed_task,
    history_keys_and_lengths,
    validation_split_holds_out_the_last_samples,
    validation_data_is_used,
    seeded_runs_reproduce,
    weights_round_trip,
    load_weights_checks_the_architecture,
    stable_bce_on_huge_logits,
    categorical_and_sparse_learn_three_classes,
    mse_regression_with_sgd_momentum,
    mixed_bfloat16_learns,
    mixed_float16_learns,
    float16_overflow_skips_the_step,
    dropout_trains_and_predicts_deterministically,
    fit_dataset_learns,
    builds_at_first_fit,
    label_shapes_and_dtypes,
    bad_arguments,
    train_on_batch_steps_once,
);

#[test]
fn models_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<Sequential>();
    send::<candle_numpy::tf::keras::History>();
}

/// X uniform in [0, 1) (`n x features`, seeded) and the seed's label `x0 + x1 > 1` (f32, `(n,)`).
fn seed_task(n: usize, features: usize, seed: u64, device: &Device) -> Result<(Tensor, Tensor)> {
    let x = uniform(seed, n * features);
    let y: Vec<f32> = x.chunks(features).map(|r| f32::from(u8::from(r[0] + r[1] > 1.0))).collect();
    Ok((Tensor::from_vec(x, (n, features), device)?, Tensor::from_vec(y, n, device)?))
}

fn seed_model(device: &Device, seed: u64) -> Result<Sequential> {
    let mut m = Sequential::new(vec![
        Dense::new(16).activation("relu")?.input_shape(&[10]).into(),
        Dense::new(1).activation("sigmoid")?.into(),
    ])?
    .with_device(device)?
    .with_seed(seed);
    m.compile(Optimizer::adam().with_learning_rate(0.01), "binary_crossentropy", &["accuracy"])?;
    Ok(m)
}

fn quiet(epochs: usize) -> FitOptions {
    FitOptions { epochs, verbose: 0, ..FitOptions::default() }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
    Ok((a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?)
}

fn learns_the_seed_task(device: &Device) -> Result<()> {
    let (x, y) = seed_task(1000, 10, 1, device)?;
    let mut model = seed_model(device, 0)?;
    let start = std::time::Instant::now();
    let h = model.fit(&x, &y, &quiet(20))?;
    let secs = start.elapsed().as_secs_f64();
    let acc = model.evaluate(&x, &y, None)?["accuracy"];
    assert!(acc >= 0.9, "accuracy {acc}, history {:?}", h.history);
    assert!(h.last("accuracy").unwrap() >= 0.88, "{:?}", h.history);
    let losses = h.get("loss").unwrap();
    assert!(losses[19] < losses[0] * 0.5, "{losses:?}");
    assert!(secs < 10.0, "20 epochs took {secs:.1}s");
    // predict: probabilities agreeing with evaluate's accuracy
    let p = model.predict(&x, Some(100))?;
    assert_eq!((p.dims(), p.dtype()), (&[1000, 1][..], DType::F32));
    let (lo, hi) = (p.min_all()?.to_scalar::<f32>()?, p.max_all()?.to_scalar::<f32>()?);
    assert!(lo >= 0.0 && hi <= 1.0);
    let hits = p.squeeze(1)?.gt(0.5)?.to_dtype(DType::F32)?.eq(&y)?.to_dtype(DType::F32)?.mean_all()?;
    assert!((f64::from(hits.to_scalar::<f32>()?) - acc).abs() < 1e-6);
    Ok(())
}

fn history_keys_and_lengths(device: &Device) -> Result<()> {
    let (x, y) = seed_task(200, 10, 2, device)?;
    let mut model = seed_model(device, 0)?;
    model.compile("adam", "binary_crossentropy", &["accuracy", "mse"])?;
    let h = model.fit(&x, &y, &quiet(3))?;
    let keys: Vec<&str> = h.history.keys().map(String::as_str).collect();
    assert_eq!(keys, ["accuracy", "loss", "mse"]);
    assert!(h.history.values().all(|v| v.len() == 3));
    assert_eq!(h.epoch, [0, 1, 2]);
    assert_eq!((h.params.steps, h.params.samples, h.params.validation_samples), (Some(7), Some(200), 0));

    let h = model.fit(&x, &y, &FitOptions { validation_split: 0.25, ..quiet(4) })?;
    let keys: Vec<&str> = h.history.keys().map(String::as_str).collect();
    assert_eq!(keys, ["accuracy", "loss", "mse", "val_accuracy", "val_loss", "val_mse"]);
    assert!(h.history.values().all(|v| v.len() == 4));
    assert!(h.history.values().flatten().all(|v| v.is_finite()));
    assert_eq!(model.fit(&x, &y, &quiet(0))?.history.len(), 0);
    Ok(())
}

fn validation_split_holds_out_the_last_samples(device: &Device) -> Result<()> {
    let (x, y) = seed_task(1000, 10, 3, device)?;
    let mut model = seed_model(device, 0)?;
    let h = model.fit(&x, &y, &FitOptions { validation_split: 0.2, ..quiet(2) })?;
    assert_eq!((h.params.samples, h.params.validation_samples), (Some(800), 200));
    assert_eq!(h.params.steps, Some(25));
    // the last epoch's validation values are evaluate() on exactly the last 200 samples
    let tail = model.evaluate(&x.narrow(0, 800, 200)?, &y.narrow(0, 800, 200)?, None)?;
    assert!((h.last("val_loss").unwrap() - tail["loss"]).abs() < 1e-6, "{h:?} vs {tail:?}");
    assert_eq!(h.last("val_accuracy").unwrap(), tail["accuracy"]);
    let head = model.evaluate(&x.narrow(0, 0, 200)?, &y.narrow(0, 0, 200)?, None)?;
    assert_ne!(head["loss"], tail["loss"]);
    Ok(())
}

fn validation_data_is_used(device: &Device) -> Result<()> {
    let (x, y) = seed_task(300, 10, 4, device)?;
    let (vx, vy) = seed_task(50, 10, 5, device)?;
    let mut model = seed_model(device, 0)?;
    let opts =
        FitOptions { validation_data: Some((vx.clone(), vy.clone())), validation_split: 0.5, ..quiet(2) };
    let h = model.fit(&x, &y, &opts)?;
    // validation_data wins over validation_split, as in Keras
    assert_eq!((h.params.samples, h.params.validation_samples), (Some(300), 50));
    let val = model.evaluate(&vx, &vy, Some(7))?;
    assert!((h.last("val_loss").unwrap() - val["loss"]).abs() < 1e-6);
    Ok(())
}

fn seeded_runs_reproduce(device: &Device) -> Result<()> {
    let (x, y) = seed_task(300, 10, 6, device)?;
    let run = |seed: u64| -> Result<_> {
        let mut m = Sequential::new(vec![
            Dense::new(16).activation("relu")?.input_shape(&[10]).into(),
            Dropout::new(0.2)?.into(),
            Dense::new(1).activation("sigmoid")?.into(),
        ])?
        .with_device(device)?
        .with_seed(seed);
        m.compile("adam", "binary_crossentropy", &["accuracy"])?;
        let h = m.fit(&x, &y, &FitOptions { validation_split: 0.1, ..quiet(3) })?;
        Ok((h, m.get_weights()?))
    };
    let (h1, w1) = run(7)?;
    let (h2, w2) = run(7)?;
    let (h3, w3) = run(8)?;
    assert_eq!(h1, h2);
    for ((n1, a), (n2, b)) in w1.iter().zip(&w2) {
        assert_eq!(n1, n2);
        assert_eq!(max_abs_diff(a, b)?, 0.0, "{n1}");
    }
    assert_ne!(h1.history["loss"], h3.history["loss"]);
    assert!(max_abs_diff(&w1[0].1, &w3[0].1)? > 0.0);
    // a different shuffle seed alone changes the run too
    let mut m = seed_model(device, 7)?;
    let a = m.fit(&x, &y, &FitOptions { seed: Some(1), ..quiet(1) })?;
    let mut m = seed_model(device, 7)?;
    let b = m.fit(&x, &y, &FitOptions { seed: Some(2), ..quiet(1) })?;
    assert_ne!(a.history["loss"], b.history["loss"]);
    Ok(())
}

fn weights_round_trip(device: &Device) -> Result<()> {
    let dir =
        tempfile::tempdir().map_err(|e| Error::Io { operation: "tempdir", path: ".".into(), source: e })?;
    let path = dir.path().join("model.safetensors");
    let (x, y) = seed_task(200, 10, 7, device)?;
    let mut trained = seed_model(device, 1)?;
    trained.fit(&x, &y, &quiet(3))?;
    trained.save_weights(&path)?;
    let mut fresh = seed_model(device, 2)?;
    let before = fresh.predict(&x, None)?;
    let want = trained.predict(&x, None)?;
    assert!(max_abs_diff(&before, &want)? > 0.0);
    fresh.load_weights(&path)?;
    assert_eq!(max_abs_diff(&fresh.predict(&x, None)?, &want)?, 0.0);
    let names: Vec<String> = fresh.named_variables()?.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]);
    assert_eq!(fresh.count_params()?, 10 * 16 + 16 + 16 + 1);
    // a missing file names the path
    let err = fresh.load_weights(dir.path().join("nope.safetensors")).unwrap_err().to_string();
    assert!(err.contains("nope.safetensors"), "{err}");
    Ok(())
}

fn load_weights_checks_the_architecture(device: &Device) -> Result<()> {
    let dir =
        tempfile::tempdir().map_err(|e| Error::Io { operation: "tempdir", path: ".".into(), source: e })?;
    let path = dir.path().join("w.safetensors");
    let model = seed_model(device, 1)?;
    model.save_weights(&path)?;
    let mut wider = Sequential::new(vec![
        Dense::new(8).activation("relu")?.input_shape(&[10]).into(),
        Dense::new(1).activation("sigmoid")?.into(),
    ])?
    .with_device(device)?;
    wider.build(&[10])?;
    let before = wider.get_weights()?;
    let err = wider.load_weights(&path).unwrap_err();
    assert!(matches!(err, Error::WeightsMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("dense/kernel") && msg.contains("[10, 16]") && msg.contains("[10, 8]"), "{msg}");
    // unchanged on error
    for ((_, a), (_, b)) in before.iter().zip(wider.get_weights()?.iter()) {
        assert_eq!(max_abs_diff(a, b)?, 0.0);
    }
    let mut deeper = Sequential::new(vec![
        Dense::new(16).activation("relu")?.input_shape(&[10]).into(),
        Dense::new(1).into(),
        Dense::new(1).activation("sigmoid")?.into(),
    ])?
    .with_device(device)?;
    deeper.build(&[10])?;
    let msg = deeper.load_weights(&path).unwrap_err().to_string();
    assert!(msg.contains("dense_2/kernel"), "{msg}");
    let mut shallower =
        Sequential::new(vec![Dense::new(16).input_shape(&[10]).into()])?.with_device(device)?;
    shallower.build(&[10])?;
    let msg = shallower.load_weights(&path).unwrap_err().to_string();
    assert!(msg.contains("lacks") && msg.contains("dense_1/bias"), "{msg}");
    Ok(())
}

fn stable_bce_on_huge_logits(device: &Device) -> Result<()> {
    let mut model = Sequential::new(vec![Dense::new(1).activation("sigmoid")?.input_shape(&[1]).into()])?
        .with_device(device)?;
    model.compile("sgd", "binary_crossentropy", &["accuracy"])?;
    let vars = model.trainable_variables()?;
    vars[0].set(&Tensor::new(&[[1e4f32]], device)?)?;
    // logits +-1e4: right answers cost 0, wrong ones 1e4 each
    let x = Tensor::new(&[[1f32], [-1.], [1.], [-1.]], device)?;
    let y = Tensor::new(&[1f32, 0., 0., 1.], device)?;
    let r = model.evaluate(&x, &y, None)?;
    assert!(r["loss"].is_finite());
    assert!((r["loss"] - 5000.0).abs() < 1e-3, "{r:?}");
    assert_eq!(r["accuracy"], 0.5);
    let p = model.predict(&x, None)?.squeeze(1)?.to_vec1::<f32>()?;
    assert_eq!(p, [1.0, 0.0, 1.0, 0.0]);
    // a training step on them stays finite too
    let h = model.fit(&x, &y, &quiet(1))?;
    assert!(h.last("loss").unwrap().is_finite());
    let k = vars[0].as_tensor().flatten_all()?.to_vec1::<f32>()?;
    assert!(k.iter().all(|v| v.is_finite()));
    Ok(())
}

/// 2-d points, class = which third of [0, 1) x0 falls in.
fn three_classes(n: usize, device: &Device) -> Result<(Tensor, Tensor)> {
    let (x, _) = seed_task(n, 2, 9, device)?;
    let labels = (x.narrow(1, 0, 1)?.squeeze(1)? * 3.0)?.floor()?.to_dtype(DType::U32)?;
    Ok((x, labels))
}

fn categorical_and_sparse_learn_three_classes(device: &Device) -> Result<()> {
    let (x, labels) = three_classes(600, device)?;
    let one_hot = labels
        .unsqueeze(1)?
        .broadcast_eq(&Tensor::arange(0u32, 3, device)?.unsqueeze(0)?)?
        .to_dtype(DType::F32)?;
    for (loss, y) in [("categorical_crossentropy", &one_hot), ("sparse_categorical_crossentropy", &labels)] {
        let mut m = Sequential::new(vec![
            Dense::new(16).activation("relu")?.input_shape(&[2]).into(),
            Dense::new(3).activation("softmax")?.into(),
        ])?
        .with_device(device)?
        .with_seed(3);
        m.compile(Optimizer::adam().with_learning_rate(0.02), loss, &["accuracy"])?;
        let h = m.fit(&x, y, &quiet(30))?;
        let acc = m.evaluate(&x, y, None)?["accuracy"];
        assert!(acc >= 0.9, "{loss}: {acc} {:?}", h.history["loss"]);
        let p = m.predict(&x, None)?;
        let row_sums = p.sum(D::Minus1)?.to_vec1::<f32>()?;
        assert!(row_sums.iter().all(|s| (s - 1.0).abs() < 1e-5));
    }
    Ok(())
}

fn mse_regression_with_sgd_momentum(device: &Device) -> Result<()> {
    let (x, _) = seed_task(500, 3, 10, device)?;
    let w = Tensor::new(&[[2f32], [-1.], [0.5]], device)?;
    let y = (x.matmul(&w)? + 0.25)?;
    let mut m =
        Sequential::new(vec![Dense::new(1).input_shape(&[3]).into()])?.with_device(device)?.with_seed(0);
    let sgd = Optimizer::Sgd { learning_rate: 0.05, momentum: 0.9, nesterov: false };
    m.compile(sgd, Loss::MeanSquaredError, &[Metric::MeanAbsoluteError])?;
    let h = m.fit(&x, &y, &quiet(20))?;
    let loss = h.get("loss").unwrap();
    assert!(loss[19] < loss[0] / 20.0 && loss[19] < 1e-3, "{loss:?}");
    assert!(h.last("mae").unwrap() < 0.05, "{:?}", h.history);
    let kernel = m.get_weights()?[0].1.flatten_all()?.to_vec1::<f32>()?;
    assert!((kernel[0] - 2.0).abs() < 0.1 && (kernel[1] + 1.0).abs() < 0.1, "{kernel:?}");
    Ok(())
}

fn mixed_learns(device: &Device, policy: &str) -> Result<()> {
    let (x, y) = seed_task(1000, 10, 1, device)?;
    let mut model = seed_model(device, 0)?.with_dtype_policy(policy)?;
    model.compile(Optimizer::adam().with_learning_rate(0.01), "binary_crossentropy", &["accuracy"])?;
    let h = model.fit(&x, &y, &quiet(20))?;
    let acc = model.evaluate(&x, &y, None)?["accuracy"];
    assert!(acc >= 0.85, "{policy}: {acc} {:?}", h.history);
    // master weights stay f32, outputs are f32
    assert!(model.trainable_variables()?.iter().all(|v| v.dtype() == DType::F32));
    assert_eq!(model.predict(&x, None)?.dtype(), DType::F32);
    Ok(())
}

fn mixed_bfloat16_learns(device: &Device) -> Result<()> {
    mixed_learns(device, "mixed_bfloat16")
}

fn mixed_float16_learns(device: &Device) -> Result<()> {
    mixed_learns(device, "mixed_float16")
}

fn float16_overflow_skips_the_step(device: &Device) -> Result<()> {
    let mut model = seed_model(device, 0)?.with_dtype_policy("mixed_float16")?;
    model.compile("adam", "binary_crossentropy", &["accuracy"])?;
    assert_eq!(model.loss_scale(), Some(32768.0));
    let before = model.get_weights()?;
    // 1e6 is beyond f16's range: the forward pass overflows, the gradients are not finite
    let x = Tensor::full(1e6f32, (8, 10), device)?;
    let y = Tensor::zeros(8, DType::F32, device)?;
    model.fit(&x, &y, &FitOptions { batch_size: 8, ..quiet(1) })?;
    assert_eq!(model.loss_scale(), Some(16384.0));
    for ((n, a), (_, b)) in before.iter().zip(model.get_weights()?.iter()) {
        assert_eq!(max_abs_diff(a, b)?, 0.0, "{n} changed by a skipped step");
    }
    // a finite batch steps (and keeps the scale)
    let (x, y) = seed_task(8, 10, 1, device)?;
    model.fit(&x, &y, &FitOptions { batch_size: 8, ..quiet(1) })?;
    assert_eq!(model.loss_scale(), Some(16384.0));
    assert!(max_abs_diff(&before[0].1, &model.get_weights()?[0].1)? > 0.0);
    assert_eq!(seed_model(device, 0)?.loss_scale(), None);
    Ok(())
}

fn dropout_trains_and_predicts_deterministically(device: &Device) -> Result<()> {
    let (x, y) = seed_task(1000, 10, 11, device)?;
    let mut m = Sequential::new(vec![
        Dense::new(32).activation("relu")?.input_shape(&[10]).into(),
        Dropout::new(0.3)?.into(),
        Dense::new(1).activation("sigmoid")?.into(),
    ])?
    .with_device(device)?
    .with_seed(5);
    m.compile(Optimizer::adam().with_learning_rate(0.01), "binary_crossentropy", &["accuracy"])?;
    let h = m.fit(&x, &y, &quiet(15))?;
    let eval = m.evaluate(&x, &y, None)?;
    assert!(eval["accuracy"] >= 0.9, "{eval:?}");
    // inference has no dropout: same output twice; training loss (with dropout) is higher
    assert_eq!(max_abs_diff(&m.predict(&x, None)?, &m.predict(&x, None)?)?, 0.0);
    assert!(max_abs_diff(&m.predict(&x, None)?, &m.predict(&x, Some(1000))?)? < 1e-6);
    assert!(h.last("loss").unwrap() > eval["loss"], "{h:?} {eval:?}");
    Ok(())
}

fn fit_dataset_learns(device: &Device) -> Result<()> {
    let (x, y) = seed_task(1000, 10, 1, device)?;
    let ds = Dataset::from_tensor_slices((x.clone(), y.to_dtype(DType::I64)?))?
        .shuffle(1000, Some(0), true)?
        .batch(32, false)?;
    let mut model = Sequential::new(vec![
        Dense::new(16).activation("relu")?.into(),
        Dense::new(1).activation("sigmoid")?.into(),
    ])?
    .with_device(device)?
    .with_seed(0);
    model.compile(Optimizer::adam().with_learning_rate(0.01), "binary_crossentropy", &["accuracy"])?;
    let h =
        model.fit_dataset(&ds, &FitOptions { validation_data: Some((x.clone(), y.clone())), ..quiet(20) })?;
    assert_eq!((h.params.steps, h.params.samples, h.params.validation_samples), (Some(32), None, 1000));
    assert!(h.last("val_accuracy").unwrap() >= 0.9, "{:?}", h.history);
    // a repeated dataset with steps_per_epoch
    let repeated = ds.repeat(None)?;
    let h = model.fit_dataset(&repeated, &FitOptions { steps_per_epoch: Some(10), ..quiet(3) })?;
    assert_eq!((h.params.steps, h.history["loss"].len()), (Some(10), 3));
    let msg = model.fit_dataset(&repeated, &quiet(1)).unwrap_err().to_string();
    assert!(msg.contains("steps_per_epoch"), "{msg}");
    let unbatched = Dataset::from_tensor_slices((x.clone(), y.clone()))?;
    assert!(model.fit_dataset(&unbatched, &quiet(1)).unwrap_err().to_string().contains(".batch("));
    let msg =
        model.fit_dataset(&ds, &FitOptions { validation_split: 0.2, ..quiet(1) }).unwrap_err().to_string();
    assert!(msg.contains("validation_data"), "{msg}");
    let single = Dataset::from_tensor_slices(x)?.batch(32, false)?;
    assert!(model.fit_dataset(&single, &quiet(1)).unwrap_err().to_string().contains("(x, y)"));
    Ok(())
}

fn builds_at_first_fit(device: &Device) -> Result<()> {
    let mut model = Sequential::new(vec![Flatten::new().into(), Dense::new(4).activation("tanh")?.into()])?
        .with_device(device)?;
    model.add(Dense::new(1).activation("sigmoid")?)?;
    model.compile("adam", "binary_crossentropy", &["accuracy"])?;
    assert!(!model.is_built());
    for err in [model.summary().unwrap_err(), model.count_params().unwrap_err()] {
        assert!(matches!(err, Error::NotBuilt { .. }) && err.to_string().contains("input_shape"), "{err}");
    }
    let path = std::env::temp_dir().join("candle_numpy_keras_unbuilt.safetensors");
    let msg = model.save_weights(&path).unwrap_err().to_string();
    assert!(msg.contains("save_weights") && msg.contains("input_shape"), "{msg}");
    assert!(model.load_weights(&path).unwrap_err().to_string().contains("input_shape"));
    // rank-3 input: Flatten makes rows of 6
    let x = Tensor::rand(0f32, 1., (64, 2, 3), device)?;
    let y = Tensor::zeros((64, 1), DType::F32, device)?;
    model.fit(&x, &y, &quiet(1))?;
    assert_eq!(model.input_shape(), Some(&[2, 3][..]));
    let s = model.summary()?;
    assert!(
        s.contains("flatten (Flatten)") && s.contains("(None, 6)") && s.contains("Total params: 33"),
        "{s}"
    );
    assert!(model.add(Dense::new(1)).unwrap_err().to_string().contains("before the model is built"));
    let msg = model.predict(&Tensor::zeros((4, 6), DType::F32, device)?, None).unwrap_err().to_string();
    assert!(msg.contains("[2, 3]"), "{msg}");
    Ok(())
}

fn label_shapes_and_dtypes(device: &Device) -> Result<()> {
    let (x, y) = seed_task(100, 10, 12, device)?;
    let runs = [
        y.clone(),
        y.unsqueeze(1)?,
        y.to_dtype(DType::I64)?,
        y.to_dtype(DType::U8)?,
        y.to_dtype(DType::F64)?,
    ];
    let mut losses = Vec::new();
    for y in &runs {
        let mut m = seed_model(device, 0)?;
        losses.push(m.fit(&x, y, &FitOptions { shuffle: false, ..quiet(2) })?.history["loss"].clone());
    }
    assert!(losses.windows(2).all(|w| w[0] == w[1]), "{losses:?}");
    Ok(())
}

fn bad_arguments(device: &Device) -> Result<()> {
    let msg = |r: Result<()>| r.unwrap_err().to_string();
    let (x, y) = seed_task(100, 10, 13, device)?;
    let mut model = seed_model(device, 0)?;

    let m = msg(model.compile("adam", "binary_crossentropyy", &["accuracy"]));
    assert!(
        m.contains("unknown loss") && m.contains("categorical_crossentropy, sparse_categorical_crossentropy"),
        "{m}"
    );
    let m = msg(model.compile("rmsprop", "mse", &["accuracy"]));
    assert!(m.contains("unknown optimizer \"rmsprop\"") && m.contains("adam, sgd, adamw"), "{m}");
    let m = msg(model.compile("adam", "mse", &["f1"]));
    assert!(m.contains("unknown metric") && m.contains("accuracy, mse, mae"), "{m}");
    let m = Dense::new(3).activation("swish").unwrap_err().to_string();
    assert!(
        m.contains("unknown activation") && m.contains("linear, relu, sigmoid, tanh, softmax, gelu"),
        "{m}"
    );
    let m = msg(model.compile("adam", "sparse_categorical_crossentropy", &["mse"]));
    assert!(m.contains("accuracy"), "{m}");
    let m = msg(model.compile(Optimizer::adam().with_learning_rate(-1.0), "mse", &[] as &[&str]));
    assert!(m.contains("learning_rate"), "{m}");
    model.compile("adam", "binary_crossentropy", &["accuracy"])?;

    let fit = |model: &mut Sequential, x: &Tensor, y: &Tensor, o: FitOptions| model.fit(x, y, &o).map(|_| ());
    let m = msg(fit(&mut model, &x, &y.narrow(0, 0, 99)?, quiet(1)));
    assert!(m.contains("100 samples") && m.contains("99"), "{m}");
    let m = msg(fit(&mut model, &x, &Tensor::zeros((100, 2), DType::F32, device)?, quiet(1)));
    assert!(m.contains("[100, 2]") && m.contains("1 unit"), "{m}");
    let m = msg(fit(&mut model, &x.narrow(1, 0, 9)?, &y, quiet(1)));
    assert!(m.contains("[10]"), "{m}");
    let m = msg(fit(&mut model, &x, &y, FitOptions { batch_size: 0, ..quiet(1) }));
    assert!(m.contains("batch_size 0"), "{m}");
    for split in [1.0, -0.1, 1.5] {
        let m = msg(fit(&mut model, &x, &y, FitOptions { validation_split: split, ..quiet(1) }));
        assert!(m.contains("validation_split") && m.contains("[0, 1)"), "{m}");
    }
    let m = msg(model.predict(&x, Some(0)).map(|_| ()));
    assert!(m.contains("batch_size"), "{m}");

    let m = Dropout::new(1.0).unwrap_err().to_string();
    assert!(m.contains("rate") && m.contains("[0, 1)"), "{m}");
    assert!(Dropout::new(-0.1).is_err());
    assert!(Sequential::new(vec![Dense::new(0).into()]).unwrap_err().to_string().contains("units"));
    let m = Sequential::new(vec![Dense::new(2).into(), Dense::new(1).input_shape(&[2]).into()]).unwrap_err();
    assert!(m.to_string().contains("first layer"), "{m}");
    let m = "mixed_float8".parse::<candle_numpy::tf::keras::Policy>().unwrap_err().to_string();
    assert!(m.contains("mixed_bfloat16"), "{m}");

    let mut uncompiled = Sequential::new(vec![Dense::new(1).input_shape(&[10]).into()])?;
    let m = msg(uncompiled.fit(&x, &y, &quiet(1)).map(|_| ()));
    assert!(m.contains("compile("), "{m}");
    Ok(())
}

fn train_on_batch_steps_once(device: &Device) -> Result<()> {
    let (x, y) = seed_task(64, 10, 14, device)?;
    let mut model = seed_model(device, 0)?;
    let before = model.evaluate(&x, &y, None)?;
    let logs = model.train_on_batch(&x, &y)?;
    // the batch's values are computed with the weights before the step
    assert!((logs["loss"] - before["loss"]).abs() < 1e-6, "{logs:?} {before:?}");
    assert_eq!(logs["accuracy"], before["accuracy"]);
    let after = model.evaluate(&x, &y, None)?;
    assert!(after["loss"] < before["loss"], "{after:?} {before:?}");
    let msg = model.train_on_batch(&x, &y.narrow(0, 0, 10)?).unwrap_err().to_string();
    assert!(msg.contains("train_on_batch"), "{msg}");
    let msg = model.evaluate(&x, &Tensor::zeros((64, 3), DType::F32, device)?, None).unwrap_err().to_string();
    assert!(msg.contains("evaluate"), "{msg}");
    Ok(())
}

#[test]
fn huge_sizes_are_one_batch_or_a_refusal_naming_the_argument() -> Result<()> {
    let (x, y) = seed_task(10, 10, 1, &Device::Cpu)?;
    let mut model = seed_model(&Device::Cpu, 0)?;
    let opts = FitOptions { batch_size: 1 << 40, ..quiet(2) };
    let history = model.fit(&x, &y, &opts)?;
    assert_eq!(history.history["loss"].len(), 2);
    assert_eq!(model.predict(&x, Some(1 << 40))?.dims(), [10, 1]);
    // a kernel of 10 x 2^40 floats cannot exist: refused before candle tries to allocate it
    let mut big = Sequential::new(vec![Dense::new(1 << 40).input_shape(&[10]).into()])?;
    let err = big.build(&[10]).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { argument: "units", .. }), "{err}");
    assert!(err.to_string().contains("fewer units"), "{err}");
    Ok(())
}

// ---- image layers, callbacks, weights, saved models (CPU: the image layers' kernels are the
// engine's CPU ops) ------------------------------------------------------------------------

use candle_numpy::tf::keras::layers::{BatchNormalization, Conv, PaddingMode, PoolMode, Pooling};
use candle_numpy::train::callbacks::{EarlyStopping, ReduceLROnPlateau};

/// 8x8 one-channel images, class 1 when the top half is brighter than the bottom half.
fn halves(n: usize) -> Result<(Tensor, Tensor)> {
    let v = uniform(7, n * 64);
    let y: Vec<u32> = v
        .chunks(64)
        .map(|img| u32::from(img[..32].iter().sum::<f32>() > img[32..].iter().sum::<f32>()))
        .collect();
    Ok((Tensor::from_vec(v, (n, 8, 8, 1), &Device::Cpu)?, Tensor::from_vec(y, n, &Device::Cpu)?))
}

fn cnn(seed: u64) -> Result<Sequential> {
    let mut m = Sequential::new(vec![
        Conv::conv2d(8, (3, 3)).padding(PaddingMode::Same).activation("relu")?.input_shape(&[8, 8, 1]).into(),
        BatchNormalization::default().into(),
        Pooling::new2d(PoolMode::Max, (2, 2)).into(),
        Flatten::new().into(),
        Dense::new(2).activation("softmax")?.into(),
    ])?
    .with_seed(seed);
    m.compile(Optimizer::adam().with_learning_rate(0.01), "sparse_categorical_crossentropy", &["accuracy"])?;
    Ok(m)
}

#[test]
fn a_cnn_learns_images_and_round_trips_through_save_and_load() -> Result<()> {
    let (x, y) = halves(512)?;
    let mut m = cnn(0)?;
    let h = m.fit(&x, &y, &quiet(8))?;
    let acc = h.last("accuracy").unwrap();
    assert!(acc > 0.9, "{acc}");
    // BatchNormalization's moving statistics are weights (saved, loaded) but not trained
    let names: Vec<String> = m.named_variables()?.into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"batch_normalization/moving_variance".to_string()));
    assert_eq!(m.trainable_variables()?.len(), names.len() - 2);
    let dir = std::env::temp_dir().join(format!("cn-keras-cnn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        operation: "mkdir",
        path: dir.clone(),
        source,
    })?;
    let path = dir.join("cnn.safetensors");
    m.save(&path)?;
    let mut back = Sequential::load(&path)?;
    assert_eq!(back.layers(), m.layers());
    assert_eq!(max_abs_diff(&back.predict(&x, None)?, &m.predict(&x, None)?)?, 0.0);
    assert_eq!(back.loss(), Some(Loss::SparseCategoricalCrossentropy));
    // a weights-only file is refused as a model, naming the fix
    m.save_weights(dir.join("w.safetensors"))?;
    let err = Sequential::load(dir.join("w.safetensors")).unwrap_err().to_string();
    assert!(err.contains("load_weights"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[test]
fn early_stopping_and_plateau_act_inside_fit() -> Result<()> {
    let (x, y) = halves(256)?;
    let (xv, yv) = halves(64)?;
    let mut m = cnn(1)?;
    // a rate so large that the validation loss soon stops improving
    m.set_learning_rate(2.0)?;
    let mut stop = EarlyStopping::new("val_loss").patience(1).restore_best_weights(true);
    let mut plateau = ReduceLROnPlateau::new("val_loss", 0.5, 1)?;
    let opts = FitOptions { validation_data: Some((xv.clone(), yv.clone())), ..quiet(50) };
    let h = m.fit_with(&x, &y, &opts, &mut [&mut plateau, &mut stop])?;
    let losses = h.get("val_loss").unwrap();
    assert!(losses.len() < 50, "stopped early: {losses:?}");
    assert_eq!(stop.stopped_epoch, losses.len() - 1);
    let best = losses.iter().enumerate().fold(0, |b, (i, v)| if *v < losses[b] { i } else { b });
    assert_eq!(stop.best_epoch, best);
    // the best epoch's weights are back
    let now = m.evaluate(&xv, &yv, None)?["loss"];
    assert!((now - losses[best]).abs() < 1e-5 * losses[best].max(1.0), "{now} vs {}", losses[best]);
    // the plateau callback halved the rate at least once and logged it
    let lrs = h.get("learning_rate").unwrap();
    assert_eq!(lrs[0], 2.0);
    assert!(m.learning_rate().unwrap() < 2.0);
    Ok(())
}

#[test]
fn sample_weights_scale_the_loss() -> Result<()> {
    let (x, y) = seed_task(64, 10, 3, &Device::Cpu)?;
    let run = |w: Option<Tensor>| -> Result<f64> {
        let mut m = seed_model(&Device::Cpu, 4)?;
        m.compile(Optimizer::sgd().with_learning_rate(1e-30), "binary_crossentropy", &["accuracy"])?;
        let opts = FitOptions { batch_size: 64, shuffle: false, sample_weight: w, ..quiet(1) };
        Ok(m.fit(&x, &y, &opts)?.last("loss").unwrap())
    };
    let plain = run(None)?;
    let doubled = run(Some(Tensor::full(2f32, 64, &Device::Cpu)?))?;
    assert!((doubled - 2.0 * plain).abs() < 1e-6 * plain, "{doubled} vs {plain}");
    let err = run(Some(Tensor::ones(3, DType::F32, &Device::Cpu)?)).unwrap_err().to_string();
    assert!(err.contains("one weight per sample"), "{err}");
    Ok(())
}
