//! Copy throughput against `memcpy` of the same bytes, strided and casting copies, and the
//! O(1) cost of exports. Ratios are what matter: compare rows of one run (the machine is
//! shared and noisy).
//!
//! `cargo bench --bench copy` (all), or e.g. `cargo bench --bench copy -- contiguous`.

use std::hint::black_box;

use candle_core::{DType, Device, Tensor};
use candle_numpy::copy::{copy_into_slice_with, copy_to_storage_with};
use candle_numpy::{to_tensor, ArrayRef, Options, Sharing};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

fn f32_array(n: usize) -> ArrayRef {
    ArrayRef::from_vec((0..n).map(|i| i as f32).collect::<Vec<_>>(), &[n]).unwrap()
}

fn sized<'a>(
    c: &'a mut Criterion,
    name: &str,
    bytes: usize,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(bytes as u64));
    if bytes >= 64 * MIB {
        g.sample_size(10);
    }
    g
}

/// Same-dtype contiguous copies: ours vs `memcpy` (`copy_from_slice`), into a warm buffer and
/// into a fresh one.
fn contiguous(c: &mut Criterion) {
    for bytes in [4 * KIB, 4 * MIB, 256 * MIB] {
        let n = bytes / 4;
        let a = f32_array(n);
        let src: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let mut dst = vec![0f32; n];
        let label = format!("{}KiB", bytes / KIB);
        let mut g = sized(c, "contiguous_f32", bytes);
        g.bench_function(BenchmarkId::new("memcpy_warm", &label), |b| {
            b.iter(|| dst.copy_from_slice(black_box(&src)))
        });
        g.bench_function(BenchmarkId::new("ours_warm", &label), |b| {
            b.iter(|| copy_into_slice_with(black_box(&a), &mut dst, true).unwrap())
        });
        g.bench_function(BenchmarkId::new("ours_warm_1thread", &label), |b| {
            b.iter(|| copy_into_slice_with(black_box(&a), &mut dst, false).unwrap())
        });
        g.bench_function(BenchmarkId::new("memcpy_fresh", &label), |b| b.iter(|| black_box(&src).to_vec()));
        g.bench_function(BenchmarkId::new("ours_fresh", &label), |b| {
            b.iter(|| to_tensor(black_box(&a), Sharing::Copy, &Options::default()).unwrap())
        });
        g.bench_function(BenchmarkId::new("ours_fresh_1thread", &label), |b| {
            b.iter(|| copy_to_storage_with(black_box(&a), None, false).unwrap())
        });
        g.finish();
    }
}

/// Gathers from strided layouts, 16 MiB of output.
fn strided(c: &mut Criterion) {
    let side = 2048;
    let a =
        ArrayRef::from_vec((0..side * side).map(|i| i as f32).collect::<Vec<_>>(), &[side, side]).unwrap();
    let mut g = sized(c, "strided_f32_16MiB", side * side * 4);
    let cases = [
        ("transposed", a.transposed()),
        ("reversed_rows", a.sliced(0, side - 1, side, -1).unwrap()),
        (
            "byte_swapped",
            a.with_byte_order(if cfg!(target_endian = "little") {
                candle_numpy::ByteOrder::Big
            } else {
                candle_numpy::ByteOrder::Little
            }),
        ),
    ];
    for (name, view) in cases {
        g.bench_function(name, |b| b.iter(|| copy_to_storage_with(black_box(&view), None, true).unwrap()));
    }
    let half_cols = a.sliced(1, 0, side / 2, 2).unwrap();
    g.throughput(Throughput::Bytes((side * side * 2) as u64));
    g.bench_function("every_other_column", |b| {
        b.iter(|| copy_to_storage_with(black_box(&half_cols), None, true).unwrap())
    });
    g.finish();
}

/// Casting copies, 64 MiB of f64 (or 32 MiB of f32) in.
fn casting(c: &mut Criterion) {
    let n = 8 * MIB;
    let a64 = ArrayRef::from_vec((0..n).map(|i| i as f64 * 0.5).collect::<Vec<_>>(), &[n]).unwrap();
    let a32 = f32_array(n);
    let mut g = sized(c, "cast_8M_elements", n * 8);
    g.bench_function("f64_to_f32", |b| {
        b.iter(|| copy_to_storage_with(black_box(&a64), Some(DType::F32), true).unwrap())
    });
    g.bench_function("f64_to_f32_1thread", |b| {
        b.iter(|| copy_to_storage_with(black_box(&a64), Some(DType::F32), false).unwrap())
    });
    g.throughput(Throughput::Bytes((n * 4) as u64));
    g.bench_function("f32_to_f16", |b| {
        b.iter(|| copy_to_storage_with(black_box(&a32), Some(DType::F16), true).unwrap())
    });
    g.bench_function("f32_to_bf16", |b| {
        b.iter(|| copy_to_storage_with(black_box(&a32), Some(DType::BF16), true).unwrap())
    });
    let i8s = ArrayRef::from_vec((0..n).map(|i| i as i8).collect::<Vec<_>>(), &[n]).unwrap();
    g.throughput(Throughput::Bytes(n as u64));
    g.bench_function("i8_widen_i16", |b| {
        b.iter(|| copy_to_storage_with(black_box(&i8s), None, true).unwrap())
    });
    g.finish();
}

/// Exports are O(1): describing or borrowing a tensor costs the same at 4 KiB and 256 MiB.
fn export(c: &mut Criterion) {
    let mut g = c.benchmark_group("export");
    for bytes in [4 * KIB, 256 * MIB] {
        let t = Tensor::zeros(bytes / 4, DType::F32, &Device::Cpu).unwrap();
        let label = format!("{}KiB", bytes / KIB);
        g.bench_function(BenchmarkId::new("array_ref_from_tensor", &label), |b| {
            b.iter(|| ArrayRef::from_tensor(black_box(&t)).unwrap())
        });
        g.bench_function(BenchmarkId::new("ndarray_view", &label), |b| {
            b.iter(|| {
                let guard = candle_numpy::export::borrow(black_box(&t)).unwrap();
                black_box(guard.view::<f32>().unwrap().len());
            })
        });
        let a = ArrayRef::from_tensor(&t).unwrap();
        g.bench_function(BenchmarkId::new("share_back", &label), |b| {
            b.iter(|| to_tensor(black_box(&a), Sharing::Share, &Options::default()).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, contiguous, strided, casting, export);
criterion_main!(benches);
