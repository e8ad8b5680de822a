//! tf.data-style pipelines over the shared engine: chaining in any order with tf.data's
//! meaning, windowed shuffle bounds, counts and cardinality, structure, prefetch, errors.

use candle_core::{DType, Device, Tensor};
use candle_numpy::data::{Cardinality, Fields};
use candle_numpy::tf::data::{Dataset, AUTOTUNE};
use candle_numpy::{Error, Result};

fn ids(n: usize) -> Result<Tensor> {
    Ok(Tensor::from_vec((0..n as i64).collect::<Vec<_>>(), n, &Device::Cpu)?)
}

/// Elements of a single-tensor i64 dataset, flattened per element.
fn elements(ds: &Dataset) -> Result<Vec<Vec<i64>>> {
    ds.iter()
        .map(|e| {
            let t = match e? {
                Fields::Single(t) => t,
                other => panic!("expected a single tensor, got {other:?}"),
            };
            Ok(t.flatten_all()?.to_vec1::<i64>()?)
        })
        .collect()
}

fn flat(ds: &Dataset) -> Result<Vec<i64>> {
    Ok(elements(ds)?.concat())
}

#[test]
fn batch_covers_every_element_with_and_without_remainder() -> Result<()> {
    let ds = Dataset::from_tensor_slices(ids(10)?)?;
    let b = ds.batch(4, false)?;
    assert_eq!(elements(&b)?, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    assert_eq!(b.cardinality(), Cardinality::Finite(3));
    let d = ds.batch(4, true)?;
    assert_eq!(elements(&d)?.len(), 2);
    assert_eq!(d.len()?, 2);
    let shuffled = ds.shuffle(10, Some(1), true)?.batch(3, false)?;
    let mut all = flat(&shuffled)?;
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn unbatched_elements_drop_the_sample_axis() -> Result<()> {
    let x = Tensor::arange(0f32, 6., &Device::Cpu)?.reshape((3, 2))?;
    let ds = Dataset::from_tensor_slices(x)?;
    let first = ds.iter().next().unwrap()?.into_tensors();
    assert_eq!(first[0].dims(), &[2]);
    assert_eq!(first[0].to_vec1::<f32>()?, [0.0, 1.0]);
    Ok(())
}

#[test]
fn windowed_shuffle_moves_elements_at_most_buffer_minus_one_earlier() -> Result<()> {
    let n = 1000;
    for buffer in [1u64, 2, 10, 64] {
        let ds = Dataset::from_tensor_slices(ids(n)?)?.shuffle(buffer, Some(7), true)?;
        for _ in 0..3 {
            let out = flat(&ds)?;
            let mut sorted = out.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n as i64).collect::<Vec<_>>());
            let max_earlier = out.iter().enumerate().map(|(pos, &id)| id - pos as i64).max().unwrap();
            assert!(max_earlier < buffer as i64, "buffer {buffer}: moved {max_earlier} earlier");
            if buffer == 1 {
                assert_eq!(out, (0..n as i64).collect::<Vec<_>>());
            } else {
                assert!(max_earlier > 0, "buffer {buffer} shuffles");
            }
        }
    }
    Ok(())
}

#[test]
fn shuffle_after_batch_moves_whole_batches() -> Result<()> {
    let ds = Dataset::from_tensor_slices(ids(20)?)?.batch(5, false)?.shuffle(4, Some(3), true)?;
    let batches = elements(&ds)?;
    assert_eq!(batches.len(), 4);
    for b in &batches {
        assert_eq!(b.len(), 5);
        assert_eq!(b[0] % 5, 0);
        assert!(b.windows(2).all(|w| w[1] == w[0] + 1), "batch kept intact: {b:?}");
    }
    let firsts: Vec<i64> = batches.iter().map(|b| b[0]).collect();
    let mut sorted = firsts.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 5, 10, 15]);
    Ok(())
}

#[test]
fn determinism_and_reshuffling() -> Result<()> {
    let make = |reshuffle| -> Result<Dataset> {
        Dataset::from_tensor_slices(ids(100)?)?.shuffle(100, Some(11), reshuffle)?.batch(10, false)
    };
    let (a, b) = (make(true)?, make(true)?);
    let a0 = flat(&a)?;
    assert_eq!(a0, flat(&b)?, "same seed, same first iteration");
    let a1 = flat(&a)?;
    assert_ne!(a0, a1, "reshuffle_each_iteration");
    assert_eq!(a1, flat(&b)?);
    let fixed = make(false)?;
    assert_eq!(flat(&fixed)?, flat(&fixed)?, "no reshuffle: same order every iteration");
    Ok(())
}

#[test]
fn repeat_take_skip_counts_and_cardinality() -> Result<()> {
    let ds = Dataset::from_tensor_slices(ids(10)?)?;
    let r = ds.repeat(Some(3))?;
    assert_eq!(r.cardinality(), Cardinality::Finite(30));
    assert_eq!(flat(&r)?.len(), 30);
    let forever = ds.repeat(None)?;
    assert_eq!(forever.cardinality(), Cardinality::Infinite);
    assert_eq!(forever.cardinality().as_i64(), -1);
    assert!(matches!(forever.len(), Err(Error::UnboundedLength { .. })));
    let t = forever.take(25)?;
    assert_eq!(t.cardinality(), Cardinality::Finite(25));
    assert_eq!(flat(&t)?, (0..25).map(|i| i % 10).collect::<Vec<_>>());
    let s = ds.skip(7)?;
    assert_eq!(flat(&s)?, [7, 8, 9]);
    assert_eq!(s.len()?, 3);
    assert_eq!(ds.skip(12)?.len()?, 0);
    assert!(flat(&ds.skip(12)?)?.is_empty());
    let bt = ds.batch(3, false)?.repeat(Some(2))?.skip(1)?.take(5)?;
    assert_eq!(bt.len()?, 5);
    assert_eq!(elements(&bt)?.len(), 5);
    // a shuffle inside repeat reshuffles each repetition
    let rs = ds.shuffle(10, Some(2), true)?.repeat(Some(2))?;
    let out = flat(&rs)?;
    assert_ne!(out[..10], out[10..]);
    let mut first = out[..10].to_vec();
    first.sort_unstable();
    assert_eq!(first, (0..10).collect::<Vec<_>>());
    // repeat forever of an empty dataset ends
    assert!(flat(&ds.skip(100)?.repeat(None)?)?.is_empty());
    Ok(())
}

#[test]
fn shards_are_strided_and_partition() -> Result<()> {
    let ds = Dataset::from_tensor_slices(ids(11)?)?;
    assert_eq!(flat(&ds.shard(3, 1)?)?, [1, 4, 7, 10]);
    let mut all = Vec::new();
    for i in 0..3 {
        let s = ds.shuffle(11, Some(4), false)?.shard(3, i)?;
        assert_eq!(s.len()? as usize, flat(&s)?.len());
        all.extend(flat(&s)?);
    }
    all.sort_unstable();
    assert_eq!(all, (0..11).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn dict_and_tuple_structure_and_dtypes_are_preserved() -> Result<()> {
    let x = Tensor::arange(0f64, 20., &Device::Cpu)?.reshape((10, 2))?;
    let y = Tensor::arange(0u8, 10, &Device::Cpu)?;
    let ds = Dataset::from_tensor_slices(vec![("x", x.clone()), ("label", y.clone())])?.batch(4, false)?;
    let first = ds.iter().next().unwrap()?;
    assert_eq!(first.names(), Some(vec!["x", "label"]));
    assert_eq!(first.get("x").unwrap().dims(), &[4, 2]);
    assert_eq!(first.get("x").unwrap().dtype(), DType::F64);
    assert_eq!(first.get("label").unwrap().dtype(), DType::U8);
    assert_eq!(first.get("label").unwrap().to_vec1::<u8>()?, [0, 1, 2, 3]);
    let tuple = Dataset::from_tensor_slices((x, y))?.batch(4, true)?;
    for b in tuple.iter() {
        assert!(matches!(b?, Fields::Tuple(ref ts) if ts.len() == 2));
    }
    Ok(())
}

#[test]
fn prefetch_matches_and_stops_cleanly() -> Result<()> {
    let base = Dataset::from_tensor_slices(ids(300)?)?.shuffle(50, Some(1), true)?.batch(8, false)?;
    let pre = base.prefetch(AUTOTUNE)?;
    assert_eq!(pre.cardinality(), base.cardinality());
    assert_eq!(elements(&base)?, elements(&pre)?);
    let deep = base.prefetch(3)?.repeat(None)?;
    for _ in 0..10 {
        let mut it = deep.iter();
        it.next().unwrap()?;
        it.next().unwrap()?;
    }
    assert!(base.prefetch(-2).is_err());
    Ok(())
}

#[test]
fn bad_arguments_are_clear_errors() -> Result<()> {
    let ds = Dataset::from_tensor_slices(ids(10)?)?;
    let msg = ds.batch(0, false).unwrap_err().to_string();
    assert!(msg.contains("batch_size 0") && msg.contains("at least 1"), "{msg}");
    let msg = ds.shuffle(0, None, true).unwrap_err().to_string();
    assert!(msg.contains("buffer_size 0") && msg.contains("at least 1"), "{msg}");
    let msg = ds.shard(4, 4).unwrap_err().to_string();
    assert!(msg.contains("index 4 with num_shards=4") && msg.contains("0..num_shards"), "{msg}");
    let err = ds.batch(2, false)?.batch(2, false).unwrap_err();
    assert!(matches!(err, Error::NestedBatch { size: 2 }), "{err}");
    let err = Dataset::from_tensor_slices(vec![("a", ids(3)?), ("b", ids(2)?)]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("\"a\" has 3") && msg.contains("\"b\" has 2"), "{msg}");
    Ok(())
}

#[test]
fn public_types_are_send_for_bindings() {
    fn send<T: Send + 'static>() {}
    fn sync<T: Sync>() {}
    send::<candle_numpy::data::Batches>();
    send::<candle_numpy::data::Pipeline>();
    send::<Dataset>();
    sync::<Dataset>();
    send::<candle_numpy::torch::data::DataLoader>();
    sync::<candle_numpy::torch::data::DataLoader>();
    send::<candle_numpy::torch::data::DataLoaderIter>();
    send::<Fields>();
}

#[test]
fn autotune_prefetch_starts_a_thread_only_for_batches_worth_handing_off() -> Result<()> {
    // 32 samples x 10 f32 = 1280 bytes per batch: the gather is cheaper than the hand-off
    let small =
        Dataset::from_tensor_slices(Tensor::zeros((100, 10), DType::F32, &Device::Cpu)?)?.batch(32, false)?;
    assert_eq!(small.pipeline().batch_bytes(), 32 * 10 * 4);
    assert_eq!(small.prefetch(AUTOTUNE)?.pipeline().prefetch_depth(), 0);
    // an explicit depth is honoured whatever the size
    assert_eq!(small.prefetch(3)?.pipeline().prefetch_depth(), 3);
    assert_eq!(small.prefetch(AUTOTUNE)?.prefetch(1)?.pipeline().prefetch_depth(), 1);
    // 32 x 4096 f32 = 512 KiB per batch: worth a background thread
    let large = Dataset::from_tensor_slices(Tensor::zeros((64, 4096), DType::F32, &Device::Cpu)?)?
        .batch(32, false)?;
    let tuned = large.prefetch(AUTOTUNE)?;
    assert_eq!(tuned.pipeline().prefetch_depth(), candle_numpy::data::AUTOTUNE_DEPTH);
    assert_eq!(tuned.iter().count(), 2);
    Ok(())
}

#[test]
fn sizes_larger_than_the_data_allocate_what_exists() -> Result<()> {
    let ds = Dataset::from_tensor_slices(ids(10)?)?;
    for n in [1u64 << 40, 1 << 63, u64::MAX] {
        assert_eq!(elements(&ds.batch(n, false)?)?, vec![(0..10).collect::<Vec<_>>()]);
        assert!(elements(&ds.batch(n, true)?)?.is_empty());
        let deep = ds.batch(n, false)?.prefetch(i64::try_from(n).unwrap_or(i64::MAX))?;
        assert_eq!(elements(&deep)?, vec![(0..10).collect::<Vec<_>>()]);
        assert_eq!(flat(&ds.prefetch(1 << 40)?)?, (0..10).collect::<Vec<_>>());
        // an endless pipeline's queue is capped, not sized by the request
        assert_eq!(flat(&ds.repeat(None)?.prefetch(1 << 40)?.take(25)?)?.len(), 25);
        assert_eq!(flat(&ds.repeat(Some(3))?.batch(n, false)?)?.len(), 30);
    }
    Ok(())
}
