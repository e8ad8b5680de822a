//! The adopting allocator over the large-block cache, installed as this test binary's global
//! allocator (the Python extension's stack): foreign memory is released to its owner and never
//! cached; our own large copies are reused, with fresh contents.

use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor};
use candle_numpy::adopt::AdoptingAllocator;
use candle_numpy::block_cache::BlockCache;
use candle_numpy::{to_tensor, ArrayRef, Buffer, NpDType, Options, Sharing};

#[global_allocator]
static ALLOC: AdoptingAllocator<BlockCache> = AdoptingAllocator::new(BlockCache::system());

/// The tests share one allocator: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const N: usize = 2 << 20; // f32 elements: 8 MiB

fn owned(n: usize, start: f32) -> ArrayRef {
    ArrayRef::from_vec((0..n).map(|i| start + i as f32).collect::<Vec<f32>>(), &[n]).unwrap()
}

#[test]
fn copies_of_one_size_reuse_the_freed_block_with_the_new_values() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cache = ALLOC.inner();
    cache.empty();
    let (a, b) = (owned(N, 0.0), owned(N, -1e6));
    let t = to_tensor(&a, Sharing::Copy, &Options::default()).unwrap();
    let first = candle_numpy::export::storage_range(&t).unwrap().0 as usize;
    drop(t);
    assert!(cache.stats().cached_bytes >= N * 4);
    let hits = cache.stats().hits;
    let u = to_tensor(&b, Sharing::Copy, &Options::default()).unwrap();
    assert_eq!(cache.stats().hits, hits + 1);
    assert_eq!(candle_numpy::export::storage_range(&u).unwrap().0 as usize, first, "the same block");
    let v = u.to_vec1::<f32>().unwrap();
    assert_eq!((v[0], v[N - 1]), (-1e6, -1e6 + (N - 1) as f32));
    // candle's own zeros from a reused block are zeros
    drop(u);
    drop(v);
    let z = Tensor::zeros(N, candle_core::DType::F32, &Device::Cpu).unwrap();
    assert_eq!(z.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
    drop(z);
    cache.empty();
    assert_eq!(cache.stats().cached_bytes, 0);
}

#[test]
fn shared_foreign_memory_goes_back_to_its_owner_not_into_the_cache() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cache = ALLOC.inner();
    cache.empty();
    let v: Arc<Vec<f32>> = Arc::new((0..N).map(|i| i as f32).collect());
    let weak = Arc::downgrade(&v);
    let ptr = v.as_ptr().cast::<u8>();
    // SAFETY: the Vec is kept alive by the owner Arc; nothing writes it while shared.
    let a = unsafe {
        ArrayRef::from_raw_parts(
            ptr,
            NpDType::Float32,
            candle_numpy::ByteOrder::NATIVE,
            vec![N],
            vec![4],
            false,
            Buffer { ptr, len: N * 4 },
            v,
        )
    }
    .unwrap();
    let t = to_tensor(&a, Sharing::Share, &Options::default()).unwrap();
    drop(a);
    drop(t);
    assert!(weak.upgrade().is_none(), "the owner was released");
    // the owner's Vec (8 MiB, from this allocator) was freed when the owner went: that one
    // block is cached; the tensor's adopted view of the same bytes was not cached as another
    let s = cache.stats();
    assert_eq!((s.blocks, s.cached_bytes), (1, N * 4));
    cache.empty();
}

/// cdist writes its output without zeroing it first. Poison the cache with a block of the
/// output's size full of NaN, so the output reuses it: an entry any kernel failed to write
/// would still be NaN. Every path, symmetric or not, several row tiles of odd height.
#[test]
fn every_cdist_entry_is_written_over_a_poisoned_reused_block() {
    use candle_numpy::distance::{cdist_with, CdistOptions, ComputeMode, Metric};
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cache = ALLOC.inner();
    let data = |rows: usize, m: usize, seed: u32| {
        let v: Vec<f32> = (0..rows * m)
            .map(|k| ((k as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32 / 16777216.0)
            .collect();
        Tensor::from_vec(v, (rows, m), &Device::Cpu).unwrap()
    };
    // (p, r, m): few features (columns kernel), many (GEMM), direct differences; r = p or not
    let cases = [(1103, 1103, 3), (1103, 1041, 3), (1103, 1103, 20), (1103, 1041, 20)];
    for &(p, r, m) in &cases {
        let x = data(p, m, 1);
        let y = if p == r { x.clone() } else { data(r, m, 7) };
        for (metric, mode) in [
            (Metric::Minkowski(2.0), ComputeMode::Auto),
            (Metric::Minkowski(2.0), ComputeMode::Matmul),
            (Metric::Minkowski(2.0), ComputeMode::Direct),
            (Metric::Minkowski(1.0), ComputeMode::Auto),
            (Metric::SqEuclidean, ComputeMode::Matmul),
            (Metric::Cosine, ComputeMode::Auto),
        ] {
            // 97 KiB tiles: 22-24 rows each for these widths, not a multiple of 8
            let opts =
                CdistOptions { metric, compute_mode: mode, tile_bytes: 97 << 10, ..Default::default() };
            cache.empty();
            drop(vec![f32::NAN; p * r]); // a block of exactly the output's layout, cached
            assert_eq!(cache.stats().blocks, 1);
            let hits = cache.stats().hits;
            let d = cdist_with(&x, &y, &opts, &|| false).unwrap();
            assert_eq!(cache.stats().hits, hits + 1, "the output reused the poisoned block");
            let d = d.to_vec2::<f32>().unwrap();
            let bad = d.iter().flatten().filter(|v| !v.is_finite()).count();
            assert_eq!(bad, 0, "{metric:?} {mode:?} ({p}, {r}, {m}): {bad} entries never written");
            if p == r && metric != Metric::Cosine {
                assert!((0..p).all(|i| d[i][i] == 0.0), "{metric:?} {mode:?}: zero diagonal");
            }
        }
    }
    cache.empty();
}
