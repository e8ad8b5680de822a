//! torch-style data loading over the shared engine: coverage, shapes, determinism, epochs,
//! shards, prefetch and argument errors.

use candle_core::{DType, Device, Tensor};
use candle_numpy::torch::data::{DataLoader, TensorDataset};
use candle_numpy::{Error, Result};

/// X[i] = [i, i + 0.5, ...] (f32, 3 columns), y[i] = i (i64): the labels name the samples.
fn dataset(n: usize) -> Result<TensorDataset> {
    let x: Vec<f32> = (0..n).flat_map(|i| [i as f32, i as f32 + 0.5, -(i as f32)]).collect();
    let x = Tensor::from_vec(x, (n, 3), &Device::Cpu)?;
    let y = Tensor::from_vec((0..n as i64).collect::<Vec<_>>(), n, &Device::Cpu)?;
    TensorDataset::new(vec![x, y])
}

/// The sample ids of an epoch, batch by batch, checking x and y agree.
fn epoch(loader: &DataLoader) -> Result<Vec<Vec<i64>>> {
    loader
        .iter()
        .map(|b| {
            let b = b?;
            assert_eq!(b.len(), 2);
            let ids = b[1].to_vec1::<i64>()?;
            let x = b[0].to_vec2::<f32>()?;
            for (row, id) in x.iter().zip(&ids) {
                assert_eq!(row[0], *id as f32);
            }
            Ok(ids)
        })
        .collect()
}

fn sorted(batches: &[Vec<i64>]) -> Vec<i64> {
    let mut all: Vec<i64> = batches.concat();
    all.sort_unstable();
    all
}

#[test]
fn every_sample_once_per_epoch() -> Result<()> {
    for shuffle in [false, true] {
        let loader = DataLoader::new(dataset(103)?, 10, shuffle, false, Some(5))?;
        assert_eq!(loader.len(), 11);
        for _ in 0..3 {
            let batches = epoch(&loader)?;
            assert_eq!(batches.len(), 11);
            assert_eq!(sorted(&batches), (0..103).collect::<Vec<_>>());
        }
    }
    Ok(())
}

#[test]
fn drop_last_drops_only_the_short_batch() -> Result<()> {
    let loader = DataLoader::new(dataset(103)?, 10, true, true, Some(5))?;
    assert_eq!(loader.len(), 10);
    let batches = epoch(&loader)?;
    assert_eq!(batches.len(), 10);
    assert!(batches.iter().all(|b| b.len() == 10));
    let all = sorted(&batches);
    assert_eq!(all.len(), 100);
    all.windows(2).for_each(|w| assert!(w[0] < w[1], "a sample came twice"));
    Ok(())
}

#[test]
fn first_and_last_batch_shapes_and_dtypes() -> Result<()> {
    let loader = DataLoader::new(dataset(100)?, 32, true, false, Some(1))?;
    let batches: Vec<Vec<Tensor>> = loader.iter().collect::<Result<_>>()?;
    assert_eq!(batches.len(), 4);
    assert_eq!(batches[0][0].dims(), &[32, 3]);
    assert_eq!(batches[0][1].dims(), &[32]);
    assert_eq!(batches[3][0].dims(), &[4, 3]);
    assert_eq!(batches[3][1].dims(), &[4]);
    assert_eq!(batches[0][0].dtype(), DType::F32);
    assert_eq!(batches[0][1].dtype(), DType::I64);
    Ok(())
}

#[test]
fn same_seed_same_epochs_new_order_each_epoch() -> Result<()> {
    let a = DataLoader::new(dataset(200)?, 16, true, false, Some(42))?;
    let b = DataLoader::new(dataset(200)?, 16, true, false, Some(42))?;
    let (a0, a1) = (epoch(&a)?, epoch(&a)?);
    let (b0, b1) = (epoch(&b)?, epoch(&b)?);
    assert_eq!(a0, b0);
    assert_eq!(a1, b1);
    assert_ne!(a0, a1, "a new epoch reshuffles");
    let c = DataLoader::new(dataset(200)?, 16, true, false, Some(43))?;
    assert_ne!(epoch(&c)?, a0, "another seed, another order");
    // set_epoch replays an epoch
    a.set_epoch(1);
    assert_eq!(epoch(&a)?, a1);
    Ok(())
}

#[test]
fn without_shuffle_the_order_is_sequential() -> Result<()> {
    let loader = DataLoader::new(dataset(25)?, 10, false, false, None)?;
    assert_eq!(epoch(&loader)?.concat(), (0..25).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn shards_partition_each_epoch() -> Result<()> {
    let loader = DataLoader::new(dataset(101)?, 8, true, false, Some(9))?;
    for e in 0..2 {
        let mut all = Vec::new();
        for rank in 0..3 {
            let shard = loader.shard(3, rank)?;
            shard.set_epoch(e);
            let batches = epoch(&shard)?;
            assert_eq!(batches.len(), shard.len());
            all.extend(batches.concat());
        }
        all.sort_unstable();
        assert_eq!(all, (0..101).collect::<Vec<_>>(), "epoch {e}");
    }
    Ok(())
}

#[test]
fn prefetch_yields_the_same_batches_and_stops_when_dropped() -> Result<()> {
    let plain = DataLoader::new(dataset(500)?, 7, true, false, Some(3))?;
    let pre = plain.prefetch(2);
    assert_eq!(epoch(&plain)?, epoch(&pre)?);
    // dropped early, with the producer blocked on a full queue: the drop joins it
    for _ in 0..20 {
        let mut it = pre.iter();
        it.next().unwrap()?;
        drop(it);
    }
    Ok(())
}

#[test]
fn dataset_get_is_a_row() -> Result<()> {
    let ds = dataset(4)?;
    assert_eq!(ds.len(), 4);
    let s = ds.get(2)?;
    assert_eq!(s[0].to_vec1::<f32>()?, [2.0, 2.5, -2.0]);
    assert_eq!(s[1].to_scalar::<i64>()?, 2);
    let err = ds.get(4).unwrap_err();
    assert!(err.to_string().contains("index 4"), "{err}");
    Ok(())
}

#[test]
fn bad_arguments_are_clear_errors() -> Result<()> {
    let err = DataLoader::new(dataset(10)?, 0, false, false, None).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { argument: "batch_size", .. }));
    assert!(err.to_string().contains("batch_size 0") && err.to_string().contains("at least 1"), "{err}");

    let x = Tensor::zeros((5, 2), DType::F32, &Device::Cpu)?;
    let y = Tensor::zeros(4, DType::I64, &Device::Cpu)?;
    let err = TensorDataset::new(vec![x, y]).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::SampleCountMismatch { first_len: 5, len: 4, .. }));
    assert!(msg.contains("5 samples") && msg.contains("has 4"), "{msg}");

    let loader = DataLoader::new(dataset(10)?, 2, false, false, None)?;
    let err = loader.shard(2, 2).unwrap_err();
    assert!(err.to_string().contains("index 2 with num_shards=2"), "{err}");
    assert!(loader.shard(0, 0).is_err());

    let scalar = Tensor::new(1f32, &Device::Cpu)?;
    let err = TensorDataset::new(vec![scalar]).unwrap_err();
    assert!(err.to_string().contains("sample axis"), "{err}");
    assert!(TensorDataset::new(vec![]).is_err());
    Ok(())
}

#[test]
fn shared_source_is_not_copied() -> Result<()> {
    // The dataset holds the tensor itself: a view of the same storage.
    let x = Tensor::arange(0f32, 12., &Device::Cpu)?.reshape((4, 3))?;
    let ds = TensorDataset::new(vec![x.clone()])?;
    let held = &ds.tensors().unwrap()[0];
    let (a, _) = x.storage_and_layout();
    let (b, _) = held.storage_and_layout();
    assert!(std::ptr::eq(&*a, &*b));
    Ok(())
}

#[test]
fn a_batch_larger_than_the_data_is_one_short_batch() -> Result<()> {
    for n in [1usize << 40, 1 << 63, usize::MAX] {
        let loader = DataLoader::new(dataset(10)?, n, true, false, Some(3))?;
        assert_eq!(loader.len(), 1);
        let batches = epoch(&loader)?;
        assert_eq!(batches.len(), 1);
        assert_eq!(sorted(&batches), (0..10).collect::<Vec<_>>());
        assert!(epoch(&DataLoader::new(dataset(10)?, n, false, true, Some(3))?)?.is_empty());
        assert_eq!(sorted(&epoch(&loader.prefetch(1 << 40))?), (0..10).collect::<Vec<_>>());
    }
    Ok(())
}
