//! DLPack import of foreign memory shared without copying, with the adopting allocator
//! installed as this test binary's global allocator (as the Python extension does).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use candle_core::{Device, Tensor};
use candle_numpy::adopt::{self, AdoptingAllocator};
use candle_numpy::dlpack::{
    self, dl_dtype, DLDevice, DLManagedTensorVersioned, DLPackOwner, DLPackVersion, DLTensor, ExportOptions,
    Exported,
};
use candle_numpy::export::storage_range;
use candle_numpy::{shares_memory, to_tensor, ArrayRef, Error, NpDType, Options, Sharing};

#[global_allocator]
static ALLOC: AdoptingAllocator = AdoptingAllocator::system();

/// A foreign producer: `n` f32 values in a Vec, described with the given shape and element
/// strides at `offset` elements, whose deleter counts its calls in `calls`.
struct Producer {
    data: Vec<f32>,
    shape: Vec<i64>,
    strides: Vec<i64>,
    calls: Arc<AtomicUsize>,
}

unsafe extern "C" fn deleter(m: *mut DLManagedTensorVersioned) {
    // SAFETY: made by `produce` with Box::into_raw; DLPack calls the deleter once (counted).
    let m = unsafe { Box::from_raw(m) };
    // SAFETY: the context is the Box<Producer> leaked by `produce`.
    let p = unsafe { Box::from_raw(m.manager_ctx.cast::<Producer>()) };
    p.calls.fetch_add(1, Ordering::SeqCst);
}

fn produce(
    data: Vec<f32>,
    shape: &[i64],
    strides: &[i64],
    offset: usize,
) -> (*mut DLManagedTensorVersioned, Arc<AtomicUsize>, *const f32) {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut p =
        Box::new(Producer { data, shape: shape.to_vec(), strides: strides.to_vec(), calls: calls.clone() });
    let base = p.data.as_ptr();
    let dl_tensor = DLTensor {
        data: p.data.as_mut_ptr().cast(),
        device: DLDevice::CPU,
        ndim: shape.len() as i32,
        dtype: dl_dtype(NpDType::Float32),
        shape: p.shape.as_mut_ptr(),
        strides: p.strides.as_mut_ptr(),
        byte_offset: (offset * 4) as u64,
    };
    let m = Box::into_raw(Box::new(DLManagedTensorVersioned {
        version: DLPackVersion { major: 1, minor: 1 },
        manager_ctx: Box::into_raw(p).cast(),
        deleter: Some(deleter),
        flags: 0,
        dl_tensor,
    }));
    (m, calls, base)
}

fn import(m: *mut DLManagedTensorVersioned) -> ArrayRef {
    // SAFETY: a fresh managed tensor, handed over once.
    unsafe { dlpack::import_versioned(m) }.unwrap()
}

#[test]
fn foreign_memory_is_shared_and_the_deleter_runs_once_after_the_last_tensor() {
    let (m, calls, base) = produce((0..64).map(|i| i as f32).collect(), &[8, 8], &[8, 1], 0);
    let a = import(m);
    assert!(a.owner().is::<DLPackOwner>());
    let t = to_tensor(&a, Sharing::Share, &Options::default()).unwrap();
    assert_eq!(storage_range(&t).unwrap().0, base.cast(), "same address: no copy");
    assert!(shares_memory(&t, &a));
    assert_eq!(adopt::adoption_count(base.cast(), 256), 1);
    // writes through candle land in the producer's memory
    candle_numpy::inplace::fill(&t.narrow(0, 2, 1).unwrap(), -1.0).unwrap();
    // SAFETY: element 16 of the live producer buffer.
    assert_eq!(unsafe { *base.add(16) }, -1.0);
    drop(a);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the tensor keeps the producer's memory");
    let view = t.narrow(0, 7, 1).unwrap();
    drop(t);
    assert_eq!(view.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0], 56.0);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    drop(view);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "released with the last tensor, once");
    assert_eq!(adopt::adoption_count(base.cast(), 256), 0);
}

#[test]
fn two_imports_of_the_same_memory_both_share() {
    // one buffer, two producers describing it (as two `__dlpack__` calls on one array give)
    let (m1, calls1, base) = produce((0..16).map(|i| i as f32).collect(), &[16], &[1], 0);
    let calls2 = Arc::new(AtomicUsize::new(0));
    let ctx2 = Box::into_raw(Box::new(Producer {
        data: Vec::new(),
        shape: vec![16],
        strides: vec![1],
        calls: calls2.clone(),
    }));
    // SAFETY: m1 and ctx2 are live; the copy of m1's description points at ctx2's own arrays.
    let dl = unsafe {
        DLTensor {
            shape: (*ctx2).shape.as_mut_ptr(),
            strides: (*ctx2).strides.as_mut_ptr(),
            ..std::ptr::read(&(*m1).dl_tensor)
        }
    };
    let m2 = Box::into_raw(Box::new(DLManagedTensorVersioned {
        version: DLPackVersion { major: 1, minor: 0 },
        manager_ctx: ctx2.cast(),
        deleter: Some(deleter),
        flags: 0,
        dl_tensor: dl,
    }));
    let (a1, a2) = (import(m1), import(m2));
    let t1 = to_tensor(&a1, Sharing::Share, &Options::default()).unwrap();
    let t2 = to_tensor(&a2, Sharing::Share, &Options::default()).unwrap();
    assert_eq!(adopt::adoption_count(base.cast(), 64), 2, "one adoption, counted twice");
    drop((a1, a2));
    // the second owner was a duplicate of the first: released at once
    assert_eq!((calls1.load(Ordering::SeqCst), calls2.load(Ordering::SeqCst)), (0, 1));
    drop(t1);
    assert_eq!(t2.to_vec1::<f32>().unwrap()[15], 15.0, "the first owner still keeps the memory");
    drop(t2);
    assert_eq!(calls1.load(Ordering::SeqCst), 1);
}

#[test]
fn partial_row_views_are_refused_by_share_and_copied_by_auto() {
    // columns 1..3 of an (4, 4) block: only the addressed bytes are known to be alive, and
    // candle's view of them would need the whole last row
    let (m, calls, _) = produce((0..16).map(|i| i as f32).collect(), &[4, 2], &[4, 1], 1);
    let a = import(m);
    let err = to_tensor(&a, Sharing::Share, &Options::default()).unwrap_err();
    assert!(matches!(err, Error::LayoutNotExpressible { .. }), "{err}");
    let t = to_tensor(&a, Sharing::Auto, &Options::default()).unwrap();
    assert!(!shares_memory(&t, &a));
    assert_eq!(t.to_vec2::<f32>().unwrap(), [[1., 2.], [5., 6.], [9., 10.], [13., 14.]]);
    drop(a);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a copy does not keep the producer");
    // whole rows of a block, transposed: shared
    let (m, calls, _) = produce((0..16).map(|i| i as f32).collect(), &[4, 2], &[1, 4], 8);
    let a = import(m);
    let t = to_tensor(&a, Sharing::Share, &Options::default()).unwrap();
    assert!(shares_memory(&t, &a));
    assert_eq!(t.to_vec2::<f32>().unwrap(), [[8., 12.], [9., 13.], [10., 14.], [11., 15.]]);
    drop((a, t));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn our_own_exports_map_back_without_adoption() {
    let t = Tensor::arange(0u32, 30, &Device::Cpu).unwrap().reshape((5, 6)).unwrap();
    let view = t.narrow(1, 2, 3).unwrap().t().unwrap();
    let e = dlpack::export(&view, &ExportOptions::default()).unwrap();
    assert!(matches!(e, Exported::Versioned(_)));
    let a = import(e.into_raw().cast());
    let back = to_tensor(&a, Sharing::Share, &Options::default()).unwrap();
    let (ptr, len) = storage_range(&t).unwrap();
    assert_eq!(storage_range(&back).unwrap(), (ptr, len), "a view of the same storage");
    assert_eq!(adopt::adoption_count(ptr, len), 0, "never adopted");
    assert_eq!(back.to_vec2::<u32>().unwrap(), view.to_vec2::<u32>().unwrap());
}

#[test]
fn shared_foreign_tensors_round_trip_through_export() {
    // foreign memory -> tensor (adopted) -> DLPack export -> import: the export maps back to
    // the adopted tensor, and the producer is released once everything is gone
    let (m, calls, base) = produce(vec![3.0; 32], &[4, 8], &[8, 1], 0);
    let a = import(m);
    let t = to_tensor(&a, Sharing::Share, &Options::default()).unwrap();
    drop(a);
    let e = dlpack::export(&t, &ExportOptions::default()).unwrap();
    drop(t);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the export holds the tensor");
    let a = import(e.into_raw().cast());
    assert_eq!(a.data_ptr(), base.cast());
    drop(a);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
