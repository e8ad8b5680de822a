//! Datasets over `.npy` files read by rows (`Dataset::from_npy`, `TensorDataset::from_npy`,
//! mixed columns): every row exactly once per epoch, rows paired across files, errors.

use candle_core::{DType, Device, Tensor};
use candle_numpy::data::{Column, Fields, RowFile};
use candle_numpy::tf::data::Dataset;
use candle_numpy::torch::data::{DataLoader, TensorDataset};
use candle_numpy::{Error, Result};

fn files(n: usize) -> Result<(tempfile::TempDir, std::path::PathBuf, std::path::PathBuf)> {
    let dir = tempfile::tempdir().unwrap();
    let (px, py) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    let x = Tensor::arange(0f32, (n * 5) as f32, &Device::Cpu)?.reshape((n, 5))?;
    candle_numpy::npy::save(&px, &x)?;
    candle_numpy::npy::save(&py, &Tensor::arange(0i64, n as i64, &Device::Cpu)?)?;
    Ok((dir, px, py))
}

#[test]
fn shuffled_epochs_visit_every_row_once_with_pairs_intact() -> Result<()> {
    let (_dir, px, py) = files(1003)?;
    let ds = Dataset::from_npy(&[&px, &py])?.shuffle(2000, Some(5), true)?.batch(64, false)?.prefetch(2)?;
    assert_eq!(ds.len()?, 16);
    for _epoch in 0..2 {
        let mut seen = Vec::new();
        for b in ds.iter() {
            let b = b?.into_tensors();
            let (x, y) = (b[0].to_vec2::<f32>()?, b[1].to_vec1::<i64>()?);
            for (row, id) in x.iter().zip(&y) {
                assert_eq!(row[0], (*id * 5) as f32, "row and label stay paired");
            }
            seen.extend(y);
        }
        assert_ne!(seen[..10], (0..10).collect::<Vec<i64>>()[..], "shuffled");
        seen.sort_unstable();
        assert_eq!(seen, (0..1003).collect::<Vec<i64>>());
    }
    Ok(())
}

#[test]
fn torch_loader_over_files_and_mixed_columns() -> Result<()> {
    let (_dir, px, py) = files(10)?;
    let td = TensorDataset::from_npy(&[&px, &py])?;
    assert!(td.tensors().is_none(), "file columns are not tensors");
    assert_eq!(td.get(9)?[0].to_vec1::<f32>()?, [45., 46., 47., 48., 49.]);
    let loader = DataLoader::new(td, 4, false, false, Some(0))?;
    let sizes: Vec<usize> = loader.iter().map(|b| Ok(b?[1].dim(0)?)).collect::<Result<_>>()?;
    assert_eq!(sizes, [4, 4, 2]);
    // a dict mixing a file and an in-memory tensor
    let w = Tensor::arange(100u32, 110, &Device::Cpu)?;
    let ds = Dataset::from_columns(Fields::Dict(vec![
        ("x".into(), Column::from(RowFile::open_npy(&px)?)),
        ("w".into(), Column::Tensor(w)),
    ]))?
    .batch(3, false)?;
    let first = ds.iter().next().unwrap()?;
    assert_eq!(first.get("w").unwrap().to_vec1::<u32>()?, [100, 101, 102]);
    assert_eq!(first.get("x").unwrap().dtype(), DType::F32);
    assert_eq!(first.get("x").unwrap().to_vec2::<f32>()?[2], [10., 11., 12., 13., 14.]);
    // unbatched elements are single rows
    let one = Dataset::from_npy(&[&py])?.skip(7)?.iter().next().unwrap()?.into_tensors();
    assert_eq!(one[0].to_scalar::<i64>()?, 7);
    Ok(())
}

#[test]
fn mismatched_or_fortran_files_are_refused() -> Result<()> {
    let (dir, px, _) = files(10)?;
    let short = dir.path().join("short.npy");
    candle_numpy::npy::save(&short, &Tensor::zeros(3, DType::F32, &Device::Cpu)?)?;
    let err = Dataset::from_npy(&[&px, &short]).unwrap_err();
    assert!(matches!(err, Error::SampleCountMismatch { .. }), "{err}");
    let f = dir.path().join("f.npy");
    let a = candle_numpy::ArrayRef::from_vec(vec![0f64; 6], &[2, 3])?;
    let opts = candle_numpy::npy::WriteOptions { fortran_order: true, ..Default::default() };
    candle_numpy::npy::save_array(&f, &a, &opts)?;
    let err = TensorDataset::from_npy(&[&f]).unwrap_err();
    assert!(err.to_string().contains("f.npy") && err.to_string().contains("C order"), "{err}");
    let err = Dataset::from_npy(&[dir.path().join("missing.npy")]).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    Ok(())
}

#[test]
fn fortran_order_tensor_sources_are_gathered() -> Result<()> {
    // a permuted (non-contiguous) source: made contiguous once when the dataset is built
    let x = Tensor::arange(0f32, 12., &Device::Cpu)?.reshape((3, 4))?.t()?;
    assert!(!x.is_contiguous());
    let ds = Dataset::from_tensor_slices(x.clone())?.batch(4, false)?;
    let b = ds.iter().next().unwrap()?.into_tensors();
    assert_eq!(b[0].to_vec2::<f32>()?, x.to_vec2::<f32>()?);
    Ok(())
}
