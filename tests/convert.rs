//! The conversion contract: Share shares or refuses precisely, Copy always copies, Auto picks.

use candle_core::{DType, Device, Tensor};
use candle_numpy::export::{borrow, storage_range};
use candle_numpy::{
    from_ndarray, shares_memory, to_ndarray, to_tensor, ArrayRef, ByteOrder, Error, NpDType, Options, Sharing,
};

const FOREIGN: ByteOrder = if cfg!(target_endian = "little") { ByteOrder::Big } else { ByteOrder::Little };

fn opts() -> Options {
    Options::default()
}

fn f32_array(shape: &[usize]) -> ArrayRef {
    let n = shape.iter().product();
    ArrayRef::from_vec((0..n).map(|i| i as f32).collect::<Vec<_>>(), shape).unwrap()
}

/// A tensor export: the one kind of memory that can be shared without the adopting allocator.
fn exported(shape: &[usize]) -> (Tensor, ArrayRef) {
    let n: usize = shape.iter().product();
    let t = Tensor::arange(0f32, n as f32, &Device::Cpu).unwrap().reshape(shape).unwrap();
    let a = ArrayRef::from_tensor(&t).unwrap();
    (t, a)
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_vec1().unwrap()
}

/// Assert the message names the property and offers the copy as the fix.
fn assert_refusal(err: &Error, property: &str) {
    let msg = err.to_string();
    assert!(msg.contains(property), "message should name {property:?}: {msg}");
    assert!(msg.contains("Sharing::Copy") || msg.contains("np."), "message should name a fix: {msg}");
}

// ---- every refusal class ----------------------------------------------------------------

#[test]
fn negative_stride_is_refused_with_axis_and_stride() {
    let (_, a) = exported(&[4, 3]);
    let rev = a.sliced(0, 3, 4, -1).unwrap();
    let err = to_tensor(&rev, Sharing::Share, &opts()).unwrap_err();
    assert!(matches!(err, Error::NegativeStride { axis: 0, stride: -12 }), "{err:?}");
    assert_refusal(&err, "negative stride -12 on axis 0");
    assert!(err.to_string().contains("np.ascontiguousarray"));
    // Copy gathers it
    let t = to_tensor(&rev, Sharing::Copy, &opts()).unwrap();
    assert_eq!(t.to_vec2::<f32>().unwrap()[0], [9.0, 10.0, 11.0]);
    // Auto copies instead of failing
    let t = to_tensor(&rev, Sharing::Auto, &opts()).unwrap();
    assert!(!shares_memory(&t, &rev));
    assert_eq!(values(&t)[..3], [9.0, 10.0, 11.0]);
}

#[test]
fn misaligned_data_is_refused_with_the_address() {
    let mut bytes = vec![0u8; 4 * 8 + 8];
    let offset = (0..4).find(|o| (bytes.as_ptr() as usize + o) % 4 == 1).unwrap();
    for i in 0..8 {
        bytes[offset + 4 * i..offset + 4 * i + 4].copy_from_slice(&(i as f32).to_ne_bytes());
    }
    let a = ArrayRef::from_bytes(bytes, offset, NpDType::Float32, ByteOrder::NATIVE, &[8], &[4]).unwrap();
    assert!(!a.is_aligned());
    // SAFETY: nothing is shared (the call is refused for misalignment).
    let err = to_tensor(&a, Sharing::Share, &unsafe { opts().allow_readonly(true) }).unwrap_err();
    assert!(matches!(err, Error::Misaligned { align: 4, dtype: "float32", .. }), "{err:?}");
    assert_refusal(&err, "misaligned");
    assert!(err.to_string().contains(&format!("{:#x}", a.data_ptr() as usize)));
    let t = to_tensor(&a, Sharing::Copy, &opts()).unwrap();
    assert_eq!(t.to_vec1::<f32>().unwrap(), (0..8).map(|i| i as f32).collect::<Vec<_>>());
}

#[test]
fn foreign_byte_order_is_refused_and_copied_swapped() {
    let v: Vec<u32> = vec![1, 2, 0x01020304];
    let a = ArrayRef::from_vec(v, &[3]).unwrap().with_byte_order(FOREIGN);
    let err = to_tensor(&a, Sharing::Share, &opts()).unwrap_err();
    assert!(matches!(err, Error::ByteOrder { dtype: "uint32", .. }), "{err:?}");
    assert_refusal(&err, "byte order");
    assert!(err.to_string().contains(FOREIGN.name()));
    let t = to_tensor(&a, Sharing::Copy, &opts()).unwrap();
    assert_eq!(t.to_vec1::<u32>().unwrap(), [0x01000000, 0x02000000, 0x04030201]);
}

#[test]
fn unsupported_dtypes_are_refused_when_described() {
    for (descr, word) in [("<c8", "complex"), ("|O", "object"), ("<U3", "strings"), ("<M8[ns]", "datetime")] {
        let err = NpDType::from_typestr(descr).unwrap_err();
        assert!(matches!(err, Error::UnsupportedDType { .. }), "{descr}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains(descr) && msg.contains(word) && msg.contains("supported:"), "{msg}");
    }
}

#[test]
fn widening_dtypes_are_refused_for_share_and_widened_on_copy() {
    let cases: Vec<(ArrayRef, &str, DType)> = vec![
        (ArrayRef::from_vec(vec![-1i8, 2, 127], &[3]).unwrap(), "int8", DType::I16),
        (ArrayRef::from_vec(vec![1u16, 65535, 3], &[3]).unwrap(), "uint16", DType::U32),
        (ArrayRef::from_vec(vec![true, false, true], &[3]).unwrap(), "bool", DType::U8),
        (ArrayRef::from_vec(vec![1u64, 2, 3], &[3]).unwrap(), "uint64", DType::I64),
    ];
    for (a, name, to) in cases {
        let err = to_tensor(&a, Sharing::Share, &opts()).unwrap_err();
        assert!(matches!(err, Error::Widening { from, .. } if from == name), "{err:?}");
        assert_refusal(&err, name);
        assert!(err.to_string().contains(to.as_str()), "{err}");
        let t = to_tensor(&a, Sharing::Copy, &opts()).unwrap();
        assert_eq!(t.dtype(), to, "{name}");
        let auto = to_tensor(&a, Sharing::Auto, &opts()).unwrap();
        assert_eq!(auto.dtype(), to);
        assert_eq!(values(&t), values(&auto));
    }
    let t =
        to_tensor(&ArrayRef::from_vec(vec![-1i8, 2, 127], &[3]).unwrap(), Sharing::Copy, &opts()).unwrap();
    assert_eq!(t.to_vec1::<i16>().unwrap(), [-1, 2, 127]);
    let t =
        to_tensor(&ArrayRef::from_vec(vec![1u16, 65535, 3], &[3]).unwrap(), Sharing::Copy, &opts()).unwrap();
    assert_eq!(t.to_vec1::<u32>().unwrap(), [1, 65535, 3]);
}

#[test]
fn empty_arrays_share_as_empty_tensors_in_every_mode() {
    // no memory to share: Share gives an empty tensor of the shape and dtype (torch.from_numpy
    // does the same); the dtype checks still apply
    let a = f32_array(&[0, 3]);
    let t = to_tensor(&a, Sharing::Share, &opts()).unwrap();
    assert_eq!((t.dims(), t.dtype()), (&[0usize, 3][..], DType::F32));
    let widening = to_tensor(&ArrayRef::from_vec(Vec::<i8>::new(), &[0]).unwrap(), Sharing::Share, &opts());
    assert!(matches!(widening, Err(Error::Widening { .. })), "{widening:?}");
    let v = candle_numpy::convert::to_var(&a, Sharing::Share, &opts()).unwrap();
    assert_eq!(v.dims(), &[0, 3]);
    let t = to_tensor(&a, Sharing::Copy, &opts()).unwrap();
    assert_eq!(t.dims(), &[0, 3]);
    let t = to_tensor(&a, Sharing::Auto, &opts()).unwrap();
    assert_eq!(t.dims(), &[0, 3]);
}

#[test]
fn non_cpu_targets_are_refused_for_share() {
    // Without a GPU here, the refusal is checked through its message; with the `cuda`
    // feature and a device, the real path is tested below.
    let err = Error::NonCpuShare { device: "cuda:0".into() };
    assert_refusal(&err, "device cuda:0");
    #[cfg(feature = "cuda")]
    if let Ok(dev) = Device::new_cuda(0) {
        let (_, a) = exported(&[2, 2]);
        let err = to_tensor(&a, Sharing::Share, &opts().device(dev.clone())).unwrap_err();
        assert!(matches!(err, Error::NonCpuShare { .. }));
        let t = to_tensor(&a, Sharing::Auto, &opts().device(dev)).unwrap();
        assert!(t.device().is_cuda());
    }
    // Asking for CUDA in a build without it is its own clear error
    #[cfg(not(feature = "cuda"))]
    {
        let err = candle_numpy::device::parse("cuda:0").unwrap_err();
        assert!(matches!(err, Error::CudaNotCompiled { .. }));
    }
}

#[test]
fn read_only_arrays_need_an_explicit_opt_in() {
    // a broadcast tensor exports read-only
    let t = Tensor::new(&[1f32, 2., 3.], &Device::Cpu).unwrap().broadcast_as((4, 3)).unwrap();
    let a = ArrayRef::from_tensor(&t).unwrap();
    assert!(a.is_readonly());
    let err = to_tensor(&a, Sharing::Share, &opts()).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("read-only") && msg.contains("allow_readonly(true)") && msg.contains("Sharing::Copy"),
        "{msg}"
    );
    // SAFETY: the test only reads the shared tensor.
    let shared = to_tensor(&a, Sharing::Share, &unsafe { opts().allow_readonly(true) }).unwrap();
    assert!(shares_memory(&shared, &a));
    assert_eq!(shared.dims(), &[4, 3]);
    assert_eq!(shared.stride(), &[0, 1]);
    // Auto without the opt-in copies
    let copied = to_tensor(&a, Sharing::Auto, &opts()).unwrap();
    assert!(!shares_memory(&copied, &a));
    assert_eq!(copied.to_vec2::<f32>().unwrap()[3], [1.0, 2.0, 3.0]);
}

#[test]
fn dtype_change_is_refused_for_share_and_cast_on_copy() {
    let (_, a) = exported(&[2, 2]);
    let err = to_tensor(&a, Sharing::Share, &opts().dtype(DType::F16)).unwrap_err();
    assert!(matches!(err, Error::ShareCast { from: "float32", to: "f16" }), "{err:?}");
    assert_refusal(&err, "float32 to f16");
    let t = to_tensor(&a, Sharing::Copy, &opts().dtype(DType::BF16)).unwrap();
    assert_eq!(t.dtype(), DType::BF16);
    assert_eq!(values(&t), [0.0, 1.0, 2.0, 3.0]);
}

#[test]
fn unexpressible_layouts_are_refused_with_the_reason() {
    // a[::2] of an odd-length tensor: a stride-2 candle view would reach past the storage
    let (_, a) = exported(&[7]);
    let every_other = a.sliced(0, 0, 4, 2).unwrap();
    let err = to_tensor(&every_other, Sharing::Share, &opts()).unwrap_err();
    assert!(matches!(err, Error::LayoutNotExpressible { .. }), "{err:?}");
    assert_refusal(&err, "past the end");
    assert!(err.to_string().contains("[8]"), "reports the caller's byte strides: {err}");
    let t = to_tensor(&every_other, Sharing::Auto, &opts()).unwrap();
    assert_eq!(t.to_vec1::<f32>().unwrap(), [0.0, 2.0, 4.0, 6.0]);
}

#[test]
fn foreign_memory_needs_the_adopting_allocator() {
    let a = f32_array(&[2, 3]);
    let err = to_tensor(&a, Sharing::Share, &opts()).unwrap_err();
    assert!(matches!(err, Error::SharingUnavailable), "{err:?}");
    assert!(err.to_string().contains("global_allocator") && err.to_string().contains("Sharing::Copy"));
    let t = to_tensor(&a, Sharing::Auto, &opts()).unwrap();
    assert!(!shares_memory(&t, &a));
    assert_eq!(values(&t), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
}

// ---- sharing that works ------------------------------------------------------------------

#[test]
fn shared_views_of_exports_see_writes() {
    let (t, a) = exported(&[4, 6]);
    let (ptr, _) = storage_range(&t).unwrap();
    // a[1:, 1:5:2] shares
    let view = a.sliced(0, 1, 3, 1).unwrap().sliced(1, 1, 2, 2).unwrap();
    let s = to_tensor(&view, Sharing::Share, &opts()).unwrap();
    assert_eq!(storage_range(&s).unwrap().0, ptr, "same storage");
    assert!(shares_memory(&s, &a));
    assert_eq!(s.to_vec2::<f32>().unwrap(), [[7.0, 9.0], [13.0, 15.0], [19.0, 21.0]]);
    // write into the original storage in place; the shared view sees it
    let patch = Tensor::full(-1f32, (1, 6), &Device::Cpu).unwrap();
    t.slice_set(&patch, 0, 2).unwrap();
    assert_eq!(s.to_vec2::<f32>().unwrap()[1], [-1.0, -1.0]);
    // Auto shares too; Copy does not
    let auto = to_tensor(&view, Sharing::Auto, &opts()).unwrap();
    assert!(shares_memory(&auto, &a));
    let copy = to_tensor(&view, Sharing::Copy, &opts()).unwrap();
    assert!(!shares_memory(&copy, &a));
    assert_ne!(storage_range(&copy).unwrap().0, ptr);
}

#[test]
fn fortran_order_shares_as_a_permuted_view() {
    let (_, a) = exported(&[3, 4]);
    let f = a.transposed();
    assert!(f.is_f_contiguous());
    let s = to_tensor(&f, Sharing::Share, &opts()).unwrap();
    assert_eq!(s.dims(), &[4, 3]);
    assert_eq!(s.stride(), &[1, 4]);
    assert_eq!(s.to_vec2::<f32>().unwrap()[1], [1.0, 5.0, 9.0]);
}

#[test]
fn exports_of_sparse_views_round_trip_exactly() {
    let t = Tensor::arange(0f32, 24., &Device::Cpu).unwrap().reshape((4, 6)).unwrap();
    let cols = t.narrow(1, 1, 3).unwrap();
    let a = ArrayRef::from_tensor(&cols).unwrap();
    assert_eq!(a.strides(), &[24, 4]);
    let back = to_tensor(&a, Sharing::Share, &opts()).unwrap();
    assert!(shares_memory(&back, &a));
    assert_eq!(back.to_vec2::<f32>().unwrap(), cols.to_vec2::<f32>().unwrap());
}

// ---- ndarray interop ---------------------------------------------------------------------

#[test]
fn owned_ndarrays_move_in_without_copying() {
    use ndarray::{s, Array2, ShapeBuilder};
    let c = Array2::from_shape_vec((2, 3), vec![1f64, 2., 3., 4., 5., 6.]).unwrap();
    let ptr = c.as_ptr();
    let t = from_ndarray(c).unwrap();
    assert_eq!(storage_range(&t).unwrap().0, ptr.cast());
    assert_eq!(t.to_vec2::<f64>().unwrap(), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);

    let f = Array2::from_shape_vec((2, 3).f(), vec![1f32, 4., 2., 5., 3., 6.]).unwrap();
    let ptr = f.as_ptr();
    let t = from_ndarray(f).unwrap();
    assert_eq!(storage_range(&t).unwrap().0, ptr.cast());
    assert_eq!(t.to_vec2::<f32>().unwrap(), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);

    let big = Array2::from_shape_fn((4, 6), |(i, j)| (i * 6 + j) as i64);
    let base = big.as_ptr();
    let sliced = big.slice_move(s![1.., 1..4;2]);
    let t = from_ndarray(sliced).unwrap();
    assert_eq!(storage_range(&t).unwrap().0, base.cast(), "a view of the moved buffer");
    assert_eq!(t.to_vec2::<i64>().unwrap(), [[7, 9], [13, 15], [19, 21]]);

    // steps that do not nest (rows of 5, every other column) cannot be a candle view: copied
    let odd = Array2::from_shape_fn((4, 5), |(i, j)| (i * 5 + j) as i64);
    let base = odd.as_ptr();
    let t = from_ndarray(odd.slice_move(s![1.., 1..4;2])).unwrap();
    assert_ne!(storage_range(&t).unwrap().0, base.cast());
    assert_eq!(t.to_vec2::<i64>().unwrap(), [[6, 8], [11, 13], [16, 18]]);

    let mut rev = Array2::from_shape_fn((2, 2), |(i, j)| (i * 2 + j) as u32);
    rev.invert_axis(ndarray::Axis(0));
    let t = from_ndarray(rev).unwrap();
    assert_eq!(t.to_vec2::<u32>().unwrap(), [[2, 3], [0, 1]]);
}

#[test]
fn ndarray_views_borrow_any_layout() {
    let t = Tensor::arange(0i64, 24, &Device::Cpu).unwrap().reshape((2, 3, 4)).unwrap();
    let (ptr, _) = storage_range(&t).unwrap();
    for v in [
        t.clone(),
        t.permute((2, 0, 1)).unwrap(),
        t.narrow(2, 1, 2).unwrap(),
        t.narrow(0, 1, 1).unwrap().broadcast_as((3, 1, 3, 4)).unwrap(),
    ] {
        let g = borrow(&v).unwrap();
        let view = g.view::<i64>().unwrap();
        assert_eq!(view.shape(), v.dims());
        let flat: Vec<i64> = view.iter().copied().collect();
        assert_eq!(flat, v.flatten_all().unwrap().to_vec1::<i64>().unwrap());
        let first = view.as_ptr();
        assert_eq!(first as usize, ptr as usize + v.layout().start_offset() * 8, "borrowed, not copied");
    }
    let g = borrow(&t).unwrap();
    let err = g.view::<f32>().unwrap_err();
    assert!(matches!(err, Error::DTypeMismatch { .. }));
    assert!(err.to_string().contains("to_dtype"), "{err}");
}

#[test]
fn to_ndarray_copies_with_the_right_shape() {
    let t = Tensor::arange(0f32, 6., &Device::Cpu).unwrap().reshape((2, 3)).unwrap().t().unwrap();
    let a = to_ndarray::<f32>(&t).unwrap();
    assert_eq!(a.shape(), &[3, 2]);
    assert_eq!(a[[2, 1]], 5.0);
    assert!(a.is_standard_layout());
    assert!(matches!(to_ndarray::<f64>(&t), Err(Error::DTypeMismatch { .. })));
}

#[test]
fn explicit_casts_follow_astype() {
    let a = ArrayRef::from_vec(vec![-1.7f64, 0.5, 300.9, f64::NAN], &[4]).unwrap();
    let t = to_tensor(&a, Sharing::Copy, &opts().dtype(DType::U8)).unwrap();
    assert_eq!(t.to_vec1::<u8>().unwrap(), [0, 0, 255, 0]);
    let t = to_tensor(&a, Sharing::Copy, &opts().dtype(DType::I32)).unwrap();
    assert_eq!(t.to_vec1::<i32>().unwrap(), [-1, 0, 300, 0]);
    let t = to_tensor(&a, Sharing::Copy, &opts().dtype(DType::F16)).unwrap();
    let v: Vec<f32> = t.to_dtype(DType::F32).unwrap().to_vec1().unwrap();
    assert_eq!(v[..3], [-1.7001953, 0.5, 301.0]);
    assert!(v[3].is_nan());
}

#[test]
fn scalars_have_rank_zero() {
    let a = ArrayRef::from_vec(vec![42i32], &[]).unwrap();
    let t = to_tensor(&a, Sharing::Copy, &opts()).unwrap();
    assert_eq!(t.rank(), 0);
    assert_eq!(t.to_scalar::<i32>().unwrap(), 42);
    let (_, e) = exported(&[1]);
    let s = to_tensor(&e.permuted(&[0]).unwrap(), Sharing::Share, &opts()).unwrap();
    assert_eq!(s.to_vec1::<f32>().unwrap(), [0.0]);
}

#[test]
fn strides_that_are_not_whole_elements_copy_but_do_not_share() {
    // a field of a packed record array: records of 12 bytes, an f64 at byte offset 4
    let mut bytes = vec![0u8; 12 * 5];
    for i in 0..5 {
        bytes[12 * i + 4..12 * i + 12].copy_from_slice(&(i as f64 * 1.5).to_ne_bytes());
    }
    let field = ArrayRef::from_bytes(bytes, 4, NpDType::Float64, ByteOrder::NATIVE, &[5], &[12]).unwrap();
    let t = to_tensor(&field, Sharing::Copy, &opts()).unwrap();
    assert_eq!(t.to_vec1::<f64>().unwrap(), [0.0, 1.5, 3.0, 4.5, 6.0]);
    // SAFETY: nothing is shared (the call is refused for the stride).
    let err = to_tensor(&field, Sharing::Share, &unsafe { opts().allow_readonly(true) }).unwrap_err();
    assert!(matches!(err, Error::StrideNotMultiple { axis: 0, stride: 12, itemsize: 8, .. }), "{err:?}");
    assert!(err.to_string().contains("not a multiple of the 8-byte item size"), "{err}");
}
