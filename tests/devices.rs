//! Device-dependent paths, written once per device: conversions in and out, DLPack, cdist, the
//! data engine's device placement. `device_tests!` runs each case on the CPU and, with
//! `--features cuda`, on `cuda:0` (skipped with a message when no GPU opens). The last tests
//! check that every CUDA request fails cleanly on a machine without one.

use candle_core::{DType, Device, Tensor};
use candle_numpy::data::{Op, Pipeline, Source};
use candle_numpy::dlpack::{self, ExportOptions, Imported};
use candle_numpy::tf::data::Dataset;
use candle_numpy::torch::data::{DataLoader, TensorDataset};
use candle_numpy::{shares_memory, to_ndarray, to_tensor, ArrayRef, Error, Options, Result, Sharing};

#[macro_use]
mod common;

device_tests!(
    copy_to_the_device_and_back,
    share_is_cpu_only_and_auto_copies_elsewhere,
    dlpack_export_names_the_device_and_round_trips,
    cdist_on_the_device_matches_the_cpu,
    dataset_prefetch_to_device_delivers_every_batch_there,
    dataloader_to_device_keeps_order_and_moves_batches,
);

fn same_place(a: &Device, b: &Device) -> bool {
    a.location() == b.location()
}

fn copy_to_the_device_and_back(device: &Device) -> Result<()> {
    // a Fortran-order f64 array, copied and cast to f32 on `device`
    let a = ArrayRef::from_vec((0..12).map(f64::from).collect::<Vec<_>>(), &[3, 4])?.transposed();
    let t = to_tensor(&a, Sharing::Copy, &Options::default().dtype(DType::F32).device(device.clone()))?;
    assert!(same_place(t.device(), device));
    assert_eq!((t.dims(), t.dtype()), (&[4usize, 3][..], DType::F32));
    // device -> host: numpy(force=True) is to_ndarray, a copy from any device
    let back = to_ndarray::<f32>(&t)?;
    assert_eq!(back.shape(), &[4, 3]);
    assert_eq!(back.iter().copied().collect::<Vec<_>>(), [0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]);
    Ok(())
}

fn share_is_cpu_only_and_auto_copies_elsewhere(device: &Device) -> Result<()> {
    let a = ArrayRef::from_tensor(&Tensor::arange(0f32, 6., &Device::Cpu)?.reshape((2, 3))?)?;
    let opts = Options::default().device(device.clone());
    let auto = to_tensor(&a, Sharing::Auto, &opts)?;
    assert_eq!(auto.to_vec2::<f32>()?, [[0., 1., 2.], [3., 4., 5.]]);
    match to_tensor(&a, Sharing::Share, &opts) {
        Ok(t) => {
            assert!(device.is_cpu(), "only the CPU shares");
            assert!(shares_memory(&t, &a) && shares_memory(&auto, &a));
        }
        Err(e) => {
            assert!(!device.is_cpu(), "{e}");
            assert!(matches!(e, Error::NonCpuShare { .. }), "{e}");
            assert!(e.to_string().contains("use Sharing::Copy"), "{e}");
            assert!(!shares_memory(&auto, &a));
        }
    }
    Ok(())
}

fn dlpack_export_names_the_device_and_round_trips(device: &Device) -> Result<()> {
    let t = Tensor::arange(0i64, 6, device)?.reshape((2, 3))?.t()?;
    let exported = dlpack::export(&t, &ExportOptions::default())?;
    let d = dlpack::device_of(&t);
    assert_eq!(d.device_type, if device.is_cpu() { 1 } else { 2 }); // kDLCPU / kDLCUDA
                                                                    // SAFETY: a fresh export, handed over once.
    let imported = unsafe { dlpack::import_versioned_any(exported.into_raw().cast(), true)? };
    let back = match imported {
        Imported::Host(a) => to_tensor(&a, Sharing::Share, &Options::default())?,
        Imported::Device(t) => t,
    };
    assert!(same_place(back.device(), device));
    assert_eq!(back.to_vec2::<i64>()?, [[0, 3], [1, 4], [2, 5]]);
    // the host-only import refuses device memory with the reason
    if !device.is_cpu() {
        let again = dlpack::export(&t, &ExportOptions::default())?;
        // SAFETY: as above.
        let err = unsafe { dlpack::import_versioned(again.into_raw().cast()) }.unwrap_err();
        assert!(err.to_string().contains("device-to-device"), "{err}");
    }
    assert_eq!(dlpack::live_exports(), 0);
    Ok(())
}

fn cdist_on_the_device_matches_the_cpu(device: &Device) -> Result<()> {
    let x1 = Tensor::new(&[[0f32, 0.], [3., 4.], [1., 1.]], device)?;
    let x2 = Tensor::new(&[[0f32, 0.], [6., 8.]], device)?;
    let d = candle_numpy::distance::cdist(&x1, &x2, 2.0)?;
    assert!(same_place(d.device(), device));
    let got = d.to_device(&Device::Cpu)?.to_vec2::<f32>()?;
    let want = [[0., 10.], [5., 5.], [2f32.sqrt(), 5f32.hypot(7.)]];
    for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
        assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
    }
    Ok(())
}

fn dataset_prefetch_to_device_delivers_every_batch_there(device: &Device) -> Result<()> {
    let x = Tensor::arange(0i64, 10, &Device::Cpu)?;
    let y = (Tensor::arange(0f32, 10., &Device::Cpu)? * 0.5)?;
    let ds = Dataset::from_tensor_slices((x, y))?.batch(4, false)?.prefetch_to_device(device, None)?;
    let mut seen = Vec::new();
    for batch in ds.iter() {
        let b = batch?.into_tensors();
        assert!(b.iter().all(|t| same_place(t.device(), device)));
        let ids = b[0].to_vec1::<i64>()?;
        let halves = b[1].to_vec1::<f32>()?;
        assert_eq!(halves, ids.iter().map(|&i| i as f32 * 0.5).collect::<Vec<_>>());
        seen.extend(ids);
    }
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    // an engine pipeline without prefetch moves inline
    let p = Pipeline::new(Source::new(Tensor::zeros((6, 2), DType::F32, &Device::Cpu)?)?)
        .then(Op::Batch { size: 3, drop_remainder: false })?
        .to_device(device.clone());
    assert_eq!(p.prefetch_depth(), 0);
    for b in p.iter(0) {
        assert!(same_place(b?.tensors()[0].device(), device));
    }
    Ok(())
}

fn dataloader_to_device_keeps_order_and_moves_batches(device: &Device) -> Result<()> {
    let ds = TensorDataset::new(vec![Tensor::arange(0u32, 9, &Device::Cpu)?])?;
    let plain = DataLoader::new(ds.clone(), 4, true, false, Some(7))?;
    let moved = plain.prefetch(2).to_device(device).shard(1, 0)?; // settings survive a rebuild
    assert!(same_place(&moved.device(), device));
    let want: Vec<Vec<u32>> =
        plain.iter().map(|b| b.and_then(|b| Ok(b[0].to_vec1()?))).collect::<Result<_>>()?;
    let mut got = Vec::new();
    for b in moved.iter() {
        let b = b?;
        assert!(same_place(b[0].device(), device));
        got.push(b[0].to_vec1::<u32>()?);
    }
    assert_eq!(got, want);
    Ok(())
}

/// Without a GPU (or without the feature), every way of asking for CUDA is a clear error.
#[test]
fn cuda_requests_without_a_gpu_are_clear_errors() {
    if candle_numpy::device::cuda_is_available() {
        eprintln!("skipped: a CUDA device is present");
        return;
    }
    assert!(candle_numpy::device::cuda_if_available(0).is_cpu());
    for spec in ["cuda", "cuda:0", "gpu", "cuda:3"] {
        let err = candle_numpy::device::parse(spec).unwrap_err();
        let msg = err.to_string();
        if candle_numpy::device::CUDA_COMPILED {
            assert!(matches!(err, Error::CudaUnavailable { .. }), "{spec}: {err:?}");
            assert!(msg.contains("cannot open CUDA device cuda:") && msg.contains("CUDA 13 driver"), "{msg}");
        } else {
            assert!(matches!(err, Error::CudaNotCompiled { .. }), "{spec}: {err:?}");
            assert!(msg.contains("--features cuda"), "{msg}");
        }
        assert!(msg.contains("use \"cpu\""), "{msg}");
    }
}
