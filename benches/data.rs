//! One shuffled epoch of X = 1_000_000 x 10 f32 and y = 1_000_000 i64 at batch 32 and 1024:
//! the torch-style DataLoader (with and without prefetch) and the tf.data-style pipeline,
//! against a floor of the same gathers done with `index_select` directly (a precomputed
//! permutation, one index tensor and one `index_select` per field per batch, nothing else).
//! Throughput is in samples (elements) per second.

use candle_core::{DType, Device, Tensor};
use candle_numpy::data::Order;
use candle_numpy::tf::data::{Dataset, AUTOTUNE};
use candle_numpy::torch::data::{DataLoader, TensorDataset};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

const N: usize = 1_000_000;

fn data() -> (Tensor, Tensor) {
    let x = Tensor::rand(0f32, 1., (N, 10), &Device::Cpu).unwrap();
    let y = Tensor::rand(0f32, 2., N, &Device::Cpu).unwrap().to_dtype(DType::I64).unwrap();
    (x, y)
}

fn floor(x: &Tensor, y: &Tensor, batch: usize, seed: u64) {
    let order = match Order::shuffled(N as u64, seed) {
        Order::U32(v) => v,
        Order::U64(_) => unreachable!(),
    };
    for chunk in order.chunks(batch) {
        let idx = Tensor::from_slice(chunk, chunk.len(), &Device::Cpu).unwrap();
        black_box(x.index_select(&idx, 0).unwrap());
        black_box(y.index_select(&idx, 0).unwrap());
    }
}

fn epoch<I: Iterator<Item = candle_numpy::Result<T>>, T>(it: I) {
    for b in it {
        black_box(b.unwrap());
    }
}

fn bench(c: &mut Criterion) {
    let (x, y) = data();
    let mut g = c.benchmark_group("data_epoch_1M_x10");
    g.sample_size(10).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(N as u64));
    for batch in [32usize, 1024] {
        let ds = TensorDataset::new(vec![x.clone(), y.clone()]).unwrap();
        let loader = DataLoader::new(ds, batch, true, false, Some(0)).unwrap();
        let prefetched = loader.prefetch(2);
        let tf_plain = Dataset::from_tensor_slices((x.clone(), y.clone()))
            .unwrap()
            .shuffle(N as u64, Some(0), true)
            .unwrap()
            .batch(batch as u64, false)
            .unwrap();
        let tf = tf_plain.prefetch(AUTOTUNE).unwrap();
        let mut seed = 0;
        g.bench_with_input(BenchmarkId::new("index_select_floor", batch), &batch, |b, &batch| {
            b.iter(|| {
                seed += 1;
                floor(&x, &y, batch, seed)
            })
        });
        g.bench_with_input(BenchmarkId::new("torch_dataloader", batch), &batch, |b, _| {
            b.iter(|| epoch(loader.iter()))
        });
        g.bench_with_input(BenchmarkId::new("torch_dataloader_prefetch2", batch), &batch, |b, _| {
            b.iter(|| epoch(prefetched.iter()))
        });
        g.bench_with_input(BenchmarkId::new("tf_shuffle_batch", batch), &batch, |b, _| {
            b.iter(|| epoch(tf_plain.iter()))
        });
        g.bench_with_input(BenchmarkId::new("tf_shuffle_batch_prefetch", batch), &batch, |b, _| {
            b.iter(|| epoch(tf.iter()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
