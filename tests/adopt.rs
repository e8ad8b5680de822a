//! True zero-copy sharing of foreign memory, with the adopting allocator installed as this
//! test binary's global allocator (as the Python extension and any downstream binary do).

use std::sync::{Arc, Weak};

use candle_core::{DType, Device, Tensor};
use candle_numpy::adopt::{self, AdoptingAllocator, Release};
use candle_numpy::export::storage_range;
use candle_numpy::{shares_memory, to_tensor, ArrayRef, Buffer, Error, NpDType, Options, Sharing};

#[global_allocator]
static ALLOC: AdoptingAllocator = AdoptingAllocator::system();

/// Foreign memory: a Vec owned by an Arc we can watch through a Weak.
fn foreign(n: usize) -> (ArrayRef, Weak<Vec<f32>>, *const u8) {
    let v: Arc<Vec<f32>> = Arc::new((0..n).map(|i| i as f32).collect());
    let weak = Arc::downgrade(&v);
    let ptr = v.as_ptr().cast::<u8>();
    let buffer = Buffer { ptr, len: n * 4 };
    // SAFETY: the Vec is kept alive by the owner Arc; nothing else writes it while shared.
    let a = unsafe {
        ArrayRef::from_raw_parts(
            ptr,
            NpDType::Float32,
            candle_numpy::ByteOrder::NATIVE,
            vec![n],
            vec![4],
            false,
            buffer,
            v,
        )
    }
    .unwrap();
    (a, weak, ptr)
}

fn share(a: &ArrayRef) -> candle_numpy::Result<Tensor> {
    to_tensor(a, Sharing::Share, &Options::default())
}

#[test]
fn installed_is_detected() {
    assert!(adopt::installed());
}

#[test]
fn shares_the_same_memory_and_releases_the_owner_last() {
    let (a, weak, ptr) = foreign(1024);
    let t = share(&a).unwrap();
    assert_eq!(storage_range(&t).unwrap().0, ptr, "same address: no copy");
    assert!(shares_memory(&t, &a));
    assert_eq!(adopt::adoption_count(ptr, 4096), 1);
    // writes through candle land in the foreign memory
    t.slice_set(&Tensor::full(-5f32, 2, &Device::Cpu).unwrap(), 0, 10).unwrap();
    // SAFETY: element 10 of the live buffer.
    assert_eq!(unsafe { *ptr.cast::<f32>().add(10) }, -5.0);
    // drop the array first: the tensor keeps the owner alive
    drop(a);
    assert!(weak.upgrade().is_some());
    let view = t.narrow(0, 100, 4).unwrap();
    drop(t);
    assert!(weak.upgrade().is_some(), "a view outliving its base tensor keeps the owner");
    assert_eq!(view.to_vec1::<f32>().unwrap(), [100.0, 101.0, 102.0, 103.0]);
    drop(view);
    assert!(weak.upgrade().is_none(), "the last tensor released the owner");
    assert_eq!(adopt::adoption_count(ptr, 4096), 0);
}

#[test]
fn tensor_dropped_first_then_array() {
    let (a, weak, _) = foreign(64);
    let t = share(&a).unwrap();
    drop(t);
    assert!(weak.upgrade().is_some(), "the array still owns it");
    drop(a);
    assert!(weak.upgrade().is_none());
}

#[test]
fn one_key_for_one_owner_many_times() {
    let (a, weak, ptr) = foreign(256);
    let t1 = share(&a).unwrap();
    let t2 = share(&a.sliced(0, 10, 20, 1).unwrap()).unwrap();
    assert_eq!(adopt::adoption_count(ptr, 1024), 2);
    assert_eq!(t2.to_vec1::<f32>().unwrap()[0], 10.0);
    drop((t1, a));
    assert!(weak.upgrade().is_some());
    drop(t2);
    assert!(weak.upgrade().is_none());
}

#[test]
fn identical_key_with_a_different_owner_is_refused() {
    let (a, _weak, ptr) = foreign(128);
    let t = share(&a).unwrap();
    // the same bytes described again on behalf of another owner object
    let other_owner: Arc<Vec<u8>> = Arc::new(Vec::new());
    // SAFETY: `a` keeps the memory alive for the duration of this test.
    let b = unsafe {
        ArrayRef::from_raw_parts(
            ptr,
            NpDType::Float32,
            candle_numpy::ByteOrder::NATIVE,
            vec![128],
            vec![4],
            false,
            Buffer { ptr, len: 512 },
            other_owner,
        )
    }
    .unwrap();
    let err = share(&b).unwrap_err();
    assert!(matches!(err, Error::Adoption(adopt::AdoptError::KeyOwnedElsewhere { .. })), "{err:?}");
    assert!(
        err.to_string().contains("different owner") && err.to_string().contains("Sharing::Copy"),
        "{err}"
    );
    // Auto copies instead
    let c = to_tensor(&b, Sharing::Auto, &Options::default()).unwrap();
    assert!(!shares_memory(&c, &b));
    drop(t);
}

#[test]
fn tensors_dropped_on_other_threads_release_their_owners() {
    let mut weaks = Vec::new();
    let mut tensors = Vec::new();
    for _ in 0..16 {
        let (a, weak, _) = foreign(1000);
        tensors.push(share(&a).unwrap());
        weaks.push(weak);
    }
    let handles: Vec<_> = tensors
        .chunks(4)
        .map(|c| {
            let c = c.to_vec();
            std::thread::spawn(move || {
                let s: f32 = c.iter().map(|t| t.sum_all().unwrap().to_scalar::<f32>().unwrap()).sum();
                drop(c);
                s
            })
        })
        .collect();
    drop(tensors);
    for h in handles {
        assert_eq!(h.join().unwrap(), 4.0 * 499_500.0);
    }
    assert!(weaks.iter().all(|w| w.upgrade().is_none()));
}

#[test]
fn deferred_owners_wait_for_a_drain_and_the_hook_is_told() {
    static TOLD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    fn hook() {
        TOLD.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    adopt::set_release_hook(hook);
    let (a, weak, ptr) = foreign(32);
    let a = a.with_owner_identity(ptr as usize, Release::Defer);
    let t = share(&a).unwrap();
    drop((a, t));
    assert!(weak.upgrade().is_some(), "parked, not released inside the allocator");
    assert!(TOLD.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert!(adopt::drain_released() >= 1);
    assert!(weak.upgrade().is_none());
    assert_eq!(adopt::leaked_owners(), 0);
}

#[test]
fn memory_mapped_npy_files_share_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.npy");
    let t = Tensor::arange(0f64, 600., &Device::Cpu).unwrap().reshape((20, 30)).unwrap();
    candle_numpy::npy::save(&path, &t).unwrap();
    let mapped = candle_numpy::npy::mmap(&path).unwrap();
    // read-only to this crate, but a private copy-on-write map: sharing needs no promise
    assert!(mapped.is_readonly() && mapped.is_copy_on_write());
    let shared =
        to_tensor(&mapped.sliced(1, 5, 10, 1).unwrap(), Sharing::Share, &Options::default()).unwrap();
    let err = candle_numpy::inplace::fill(&shared, 1.0).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "this crate's writes still refuse: {err:?}");
    assert!(shares_memory(&shared, &mapped));
    assert_eq!(shared.dims(), &[20, 10]);
    assert_eq!(shared.to_dtype(DType::F64).unwrap().to_vec2::<f64>().unwrap()[2][0], 65.0);
    drop(mapped);
    // the map lives on inside the tensor
    assert_eq!(
        shared.sum_all().unwrap().to_scalar::<f64>().unwrap(),
        (0..20).map(|r| (0..10).map(|c| (r * 30 + 5 + c) as f64).sum::<f64>()).sum::<f64>()
    );
}

#[test]
fn many_round_trips_leave_nothing_behind() {
    // (per-key checks only: the global block count is shared with tests running in parallel)
    for i in 0..20_000 {
        let (a, weak, ptr) = foreign(16);
        let t = share(&a).unwrap();
        assert_eq!(adopt::adoption_count(ptr, 64), 1);
        if i % 2 == 0 {
            drop(a);
            drop(t);
        } else {
            drop(t);
            drop(a);
        }
        assert!(weak.upgrade().is_none());
        assert_eq!(adopt::adoption_count(ptr, 64), 0);
    }
}

#[test]
fn realloc_of_an_adopted_block_copies_out() {
    use std::alloc::{GlobalAlloc, Layout};
    let (a, weak, ptr) = foreign(8);
    let layout = Layout::from_size_align(32, 4).unwrap();
    adopt::register(ptr, 32, a.owner_identity(), a.owner().clone(), Release::Drop).unwrap();
    // SAFETY: (ptr, 32) is registered; the allocator must copy it out, not reallocate it.
    let grown = unsafe { ALLOC.realloc(ptr as *mut u8, layout, 64) };
    assert_ne!(grown as *const u8, ptr);
    // SAFETY: the first 32 bytes were copied into the new 64-byte block.
    let first: Vec<f32> = unsafe { std::slice::from_raw_parts(grown as *const f32, 8) }.to_vec();
    assert_eq!(first, (0..8).map(|i| i as f32).collect::<Vec<_>>());
    assert_eq!(adopt::adoption_count(ptr, 32), 0, "the adoption was released");
    // SAFETY: the new block came from the inner allocator with this layout.
    unsafe { ALLOC.dealloc(grown, Layout::from_size_align(64, 4).unwrap()) };
    drop(a);
    assert!(weak.upgrade().is_none());
}

#[test]
fn a_var_over_foreign_memory_writes_through_set() {
    let (a, weak, ptr) = foreign(6);
    let a2 = {
        // reshape the description to (2, 3)
        let buffer = a.buffer();
        // SAFETY: same memory and owner as `a`, C-contiguous (2, 3) over its 6 floats.
        unsafe {
            ArrayRef::from_raw_parts(
                ptr,
                NpDType::Float32,
                candle_numpy::ByteOrder::NATIVE,
                vec![2, 3],
                vec![12, 4],
                false,
                buffer,
                a.owner().clone(),
            )
        }
        .unwrap()
        .with_owner_identity(a.owner_identity(), Release::Drop)
    };
    let var = candle_numpy::to_var(&a2, Sharing::Share, &Options::default()).unwrap();
    assert_eq!(storage_range(var.as_tensor()).unwrap().0, ptr, "the variable is the array's memory");
    var.set(&Tensor::new(&[[9f32, 8., 7.], [6., 5., 4.]], &Device::Cpu).unwrap()).unwrap();
    // SAFETY: 6 live floats at ptr.
    let seen: Vec<f32> = unsafe { std::slice::from_raw_parts(ptr.cast::<f32>(), 6) }.to_vec();
    assert_eq!(seen, [9., 8., 7., 6., 5., 4.]);
    // a strided view cannot be a variable; Copy makes an independent one
    let err = candle_numpy::to_var(&a2.transposed(), Sharing::Share, &Options::default()).unwrap_err();
    assert!(err.to_string().contains("whole C-contiguous buffer"), "{err}");
    let copied = candle_numpy::to_var(&a2.transposed(), Sharing::Auto, &Options::default()).unwrap();
    assert_ne!(storage_range(copied.as_tensor()).unwrap().0, ptr);
    drop((a, a2, var));
    assert!(weak.upgrade().is_none());
}

#[test]
fn read_only_storage_is_read_only_through_every_view() {
    let (a, weak, ptr) = foreign(64);
    let err = share(&a.clone().into_readonly()).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "read-only sharing is an unsafe opt-in: {err:?}");
    // SAFETY: the test writes the tensor only through this crate's checked writers, which refuse.
    let opts = unsafe { Options::default().allow_readonly(true) };
    let t = to_tensor(&a.into_readonly(), Sharing::Share, &opts).unwrap();
    assert_eq!(storage_range(&t).unwrap().0, ptr, "shared, not copied");
    assert!(adopt::is_read_only(ptr, 256));
    let view = t.narrow(0, 8, 16).unwrap().reshape((4, 4)).unwrap().t().unwrap();
    for x in [&t, &view] {
        assert!(candle_numpy::export::is_read_only(x));
        let err = candle_numpy::inplace::fill(x, 1.0).unwrap_err();
        assert!(matches!(err, Error::ReadOnly { .. }), "{err}");
        assert!(ArrayRef::from_tensor(x).unwrap().is_readonly(), "exports are read-only too");
    }
    // SAFETY: element 9 of the live buffer.
    assert_eq!(unsafe { *ptr.cast::<f32>().add(9) }, 9.0, "nothing was written");
    // a copy is writable memory of its own
    let copy = view.copy().unwrap();
    assert!(!candle_numpy::export::is_read_only(&copy));
    candle_numpy::inplace::fill(&copy, 1.0).unwrap();
    drop((t, view));
    assert!(!adopt::is_read_only(ptr, 256), "the record goes with the last tensor");
    assert!(weak.upgrade().is_none());
}

/// A write-only custom op: every element becomes `value` (what any third-party `InplaceOp1`
/// could do to a tensor it is handed).
struct FillOp(f32);

impl candle_core::InplaceOp1 for FillOp {
    fn name(&self) -> &'static str {
        "fill"
    }
    fn cpu_fwd(&self, s: &mut candle_core::CpuStorage, _: &candle_core::Layout) -> candle_core::Result<()> {
        match s {
            candle_core::CpuStorage::F32(v) => v.iter_mut().for_each(|x| *x = self.0),
            _ => candle_core::bail!("f32 only"),
        }
        Ok(())
    }
}

/// The type-level promise of read-only memory: tensors over memory-mapped files come from a
/// private copy-on-write map, so every *safe* candle call that writes a tensor's storage
/// (`slice_set`, `inplace_op1`, `Var::set`, an optimizer step) neither faults nor reaches the
/// file. With a read-only map (the old `Mmap::map`) each of these writes crashes the process
/// with SIGSEGV.
#[test]
fn safe_writes_to_mapped_tensors_never_reach_the_file() {
    use candle_nn::Optimizer as _;
    let dir = tempfile::tempdir().unwrap();
    let original = Tensor::arange(0f32, 64., &Device::Cpu).unwrap().reshape((8, 8)).unwrap();
    let npy_path = dir.path().join("w.npy");
    candle_numpy::npy::save(&npy_path, &original).unwrap();
    let st_path = dir.path().join("w.safetensors");
    candle_numpy::safetensors::save(&st_path, [("w", &original)], None).unwrap();
    let bytes_before = (std::fs::read(&npy_path).unwrap(), std::fs::read(&st_path).unwrap());

    let mapped_npy = candle_numpy::npy::mmap(&npy_path).unwrap();
    let st = candle_numpy::safetensors::mmap(&st_path).unwrap();
    let mapped_st = st.array("w").unwrap().unwrap();
    for (what, a) in [("npy", &mapped_npy), ("safetensors", &mapped_st)] {
        assert!(a.is_readonly() && a.is_copy_on_write(), "{what}");
        // 1. slice_set on a shared tensor
        let t = to_tensor(a, Sharing::Share, &Options::default()).unwrap();
        assert!(shares_memory(&t, a), "{what}: shared, not copied");
        t.slice_set(&Tensor::full(-1f32, (1, 8), &Device::Cpu).unwrap(), 0, 3).unwrap();
        assert_eq!(t.get(3).unwrap().to_vec1::<f32>().unwrap(), [-1f32; 8], "{what}: the write is seen");
        // 2. a third-party in-place op
        t.inplace_op1(&FillOp(7.0)).unwrap();
        assert_eq!(t.flatten_all().unwrap().to_vec1::<f32>().unwrap(), [7f32; 64], "{what}");
        // 3. a variable over the map: Var::set, then an optimizer step
        let var = candle_numpy::to_var(a, Sharing::Share, &Options::default()).unwrap();
        var.set(&Tensor::ones((8, 8), DType::F32, &Device::Cpu).unwrap()).unwrap();
        let mut sgd = candle_nn::SGD::new(vec![var.clone()], 0.25).unwrap();
        sgd.backward_step(&var.as_tensor().sqr().unwrap().sum_all().unwrap()).unwrap();
        // d(w^2)/dw = 2w = 2: 1 - 0.25 * 2
        assert_eq!(var.as_tensor().to_vec2::<f32>().unwrap()[0][0], 0.5, "{what}");
        // 4. the safe mapped-file API hands out the same kind of tensors
        if what == "safetensors" {
            let t = st.tensors(Sharing::Share, &Device::Cpu).unwrap().remove(0).1;
            t.inplace_op1(&FillOp(3.0)).unwrap();
        }
    }
    // the files are untouched, byte for byte, and a fresh map reads the original values
    assert_eq!((std::fs::read(&npy_path).unwrap(), std::fs::read(&st_path).unwrap()), bytes_before);
    let fresh = candle_numpy::npy::load(&npy_path).unwrap();
    assert_eq!(fresh.to_vec2::<f32>().unwrap(), original.to_vec2::<f32>().unwrap());
}
