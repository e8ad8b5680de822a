//! `.safetensors` files: every dtype of the table round-trips, metadata round-trips, memory-mapped
//! tensors share the file's pages (with the adopting allocator installed here, as in the Python
//! extension), and malformed files are named errors.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_numpy::adopt::{self, AdoptingAllocator};
use candle_numpy::safetensors::{self as st, AsArrayRef};
use candle_numpy::{shares_memory, to_tensor, ArrayRef, Error, NpDType, Options, Sharing};

#[global_allocator]
static ALLOC: AdoptingAllocator = AdoptingAllocator::system();

/// One small array of every dtype of the table, with awkward values (negative, large, bf16 /
/// f8 representable).
fn every_dtype() -> Vec<(String, ArrayRef)> {
    use half::{bf16, f16};
    let shape = [2, 3];
    vec![
        ArrayRef::from_vec(vec![true, false, true, true, false, false], &shape),
        ArrayRef::from_vec(vec![-128i8, -1, 0, 1, 2, 127], &shape),
        ArrayRef::from_vec(vec![-32768i16, -1, 0, 1, 2, 32767], &shape),
        ArrayRef::from_vec(vec![i32::MIN, -1, 0, 1, 2, i32::MAX], &shape),
        ArrayRef::from_vec(vec![i64::MIN, -1, 0, 1, 2, i64::MAX], &shape),
        ArrayRef::from_vec(vec![0u8, 1, 2, 3, 254, 255], &shape),
        ArrayRef::from_vec(vec![0u16, 1, 2, 3, 65534, 65535], &shape),
        ArrayRef::from_vec(vec![0u32, 1, 2, 3, 7, u32::MAX], &shape),
        ArrayRef::from_vec(vec![0u64, 1, 2, 3, 7, i64::MAX as u64], &shape),
        ArrayRef::from_vec([-2.5f32, -0.0, 0.0, 1.0, 65504.0, 0.25].map(f16::from_f32).to_vec(), &shape),
        ArrayRef::from_vec(vec![-2.5f32, -0.0, 0.0, 1e-30, 3e38, f32::INFINITY], &shape),
        ArrayRef::from_vec(vec![-2.5f64, -0.0, 0.0, 1e-300, 1e300, f64::NEG_INFINITY], &shape),
        ArrayRef::from_vec([-2.5f32, -0.0, 0.0, 1.0, 3e38, 0.25].map(bf16::from_f32).to_vec(), &shape),
        ArrayRef::from_vec(
            [-2.5f32, -0.0, 0.0, 1.0, 448.0, 0.25].map(float8::F8E4M3::from_f32).to_vec(),
            &shape,
        ),
    ]
    .into_iter()
    .map(|a| {
        let a = a.unwrap();
        (a.dtype().name().to_string(), a)
    })
    .collect()
}

fn copied(a: &ArrayRef) -> Tensor {
    to_tensor(a, Sharing::Copy, &Options::default()).unwrap()
}

/// Same dtype, shape and bits.
fn assert_same(name: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.dtype(), want.dtype(), "{name}");
    assert_eq!(got.dims(), want.dims(), "{name}");
    let bits = |t: &Tensor| -> Vec<u8> {
        let a = ArrayRef::from_tensor(&t.contiguous().unwrap()).unwrap();
        candle_numpy::copy::to_bytes(&a, candle_numpy::ByteOrder::Little).unwrap().as_bytes().to_vec()
    };
    assert_eq!(bits(got), bits(want), "{name}");
}

#[test]
fn every_dtype_round_trips_copied_and_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.safetensors");
    let arrays = every_dtype();
    assert_eq!(arrays.len(), NpDType::all().count());
    st::save(&path, arrays.iter().map(|(n, a)| (n, a)), None).unwrap();

    let loaded: HashMap<String, Tensor> = st::load(&path, &Device::Cpu).unwrap().into_iter().collect();
    let mapped = st::mmap(&path).unwrap();
    let views: HashMap<String, ArrayRef> = mapped.arrays().unwrap().into_iter().collect();
    let auto: HashMap<String, Tensor> =
        mapped.tensors(Sharing::Auto, &Device::Cpu).unwrap().into_iter().collect();
    assert_eq!(loaded.len(), arrays.len());
    for (name, a) in &arrays {
        let want = copied(a);
        assert_same(name, &loaded[name], &want);
        assert_same(name, &auto[name], &want);
        let view = &views[name];
        assert!(view.is_readonly(), "{name}");
        assert_eq!(view.dtype(), a.dtype(), "{name}");
        // exact dtypes are shared with the map, the widening ones are copies
        let exact = a.dtype().exact_candle().is_some();
        assert_eq!(shares_memory(&auto[name], view), exact, "{name}");
        assert!(!shares_memory(&loaded[name], view), "{name}");
    }
    // Share refuses the widening dtypes by name, as for any array
    let err = mapped.tensors(Sharing::Share, &Device::Cpu).unwrap_err();
    assert!(matches!(err, Error::Widening { .. }), "{err:?}");
}

#[test]
fn files_written_here_align_every_tensor_for_sharing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aligned.safetensors");
    // odd sizes of narrow types would misalign wider ones if laid out by name
    let a = Tensor::new(&[1u8, 2, 3], &Device::Cpu).unwrap();
    let b = Tensor::new(&[1f64, 2.0], &Device::Cpu).unwrap();
    let c = Tensor::new(&[1i16], &Device::Cpu).unwrap();
    let d = Tensor::new(&[1f32, 2.0, 3.0], &Device::Cpu).unwrap();
    st::save(&path, [("a", &a), ("b", &b), ("c", &c), ("d", &d)], None).unwrap();
    let mapped = st::mmap(&path).unwrap();
    assert_eq!(mapped.header().data_start % 8, 0);
    for (name, view) in mapped.arrays().unwrap() {
        assert!(view.is_aligned(), "{name}");
        // a copy-on-write map: no read-only opt-in needed
        assert!(view.is_readonly() && view.is_copy_on_write());
        let t = to_tensor(&view, Sharing::Share, &Options::default()).unwrap();
        assert!(shares_memory(&t, &view), "{name}");
    }
}

#[test]
fn metadata_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.safetensors");
    let t = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
    let meta = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("note".to_string(), "ünïcode, \"quotes\" and\nnewlines".to_string()),
    ]);
    st::save(&path, [("t", &t)], Some(meta.clone())).unwrap();
    assert_eq!(st::read_metadata(&path).unwrap(), meta);
    assert_eq!(st::mmap(&path).unwrap().metadata(), &meta);
    st::save(&path, [("t", &t)], None).unwrap();
    assert!(st::read_metadata(&path).unwrap().is_empty());
}

#[test]
fn mapped_tensors_share_the_file_and_keep_the_map_alive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let w = Tensor::arange(0f32, 1024., &Device::Cpu).unwrap().reshape((32, 32)).unwrap();
    st::save(&path, [("w", &w)], None).unwrap();
    let mapped = st::mmap(&path).unwrap();
    let view = mapped.array("w").unwrap().unwrap();
    let (ptr, len) = (view.data_ptr(), view.nbytes());
    let t = st::load_mmap(&path, &Device::Cpu).unwrap().remove(0).1;
    assert_eq!(adopt::adoption_count(ptr, len), 0, "another map of the file, not this one");
    let shared = mapped.tensors(Sharing::Share, &Device::Cpu).unwrap().remove(0).1;
    assert!(shares_memory(&shared, &view));
    assert_eq!(adopt::adoption_count(ptr, len), 1);
    drop((mapped, view));
    // the map lives on inside the tensor; saving over the file replaces it without touching
    // the mapped pages
    st::save(&path, [("w", &(&w * 2.0).unwrap())], None).unwrap();
    assert_eq!(shared.to_vec2::<f32>().unwrap(), w.to_vec2::<f32>().unwrap());
    assert_eq!(t.to_vec2::<f32>().unwrap(), w.to_vec2::<f32>().unwrap());
    drop(shared);
    assert_eq!(adopt::adoption_count(ptr, len), 0, "released with the last tensor");
    assert_eq!(st::load(&path, &Device::Cpu).unwrap()[0].1.to_vec2::<f32>().unwrap()[1][0], 64.0);
}

/// A file with a hand-made header of `header_len` bytes (padded with spaces) and `data`.
fn handmade(header: &str, header_len: usize, data: &[u8]) -> Vec<u8> {
    let mut text = header.to_string();
    text.extend(std::iter::repeat_n(' ', header_len - header.len()));
    let mut v = (header_len as u64).to_le_bytes().to_vec();
    v.extend_from_slice(text.as_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn misaligned_data_is_copied_by_auto_and_refused_by_share() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.safetensors");
    let header = r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    // an odd header length (older writers did not pad): the floats start at an odd address
    let len = header.len() | 1;
    let data: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&path, handmade(header, len, &data)).unwrap();
    let mapped = st::mmap(&path).unwrap();
    let view = mapped.array("x").unwrap().unwrap();
    assert!(!view.is_aligned());
    let err = mapped.tensors(Sharing::Share, &Device::Cpu).unwrap_err();
    assert!(matches!(err, Error::Misaligned { .. }), "{err:?}");
    let t = mapped.tensors(Sharing::Auto, &Device::Cpu).unwrap().remove(0).1;
    assert!(!shares_memory(&t, &view));
    assert_eq!(t.to_vec1::<f32>().unwrap(), [1.5, -2.0]);
    assert_eq!(st::load(&path, &Device::Cpu).unwrap()[0].1.to_vec1::<f32>().unwrap(), [1.5, -2.0]);
}

#[test]
fn empty_and_scalar_tensors_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shapes.safetensors");
    let empty = Tensor::zeros((0, 3), DType::F32, &Device::Cpu).unwrap();
    let scalar = Tensor::new(7i64, &Device::Cpu).unwrap();
    st::save(&path, [("empty", &empty), ("scalar", &scalar)], None).unwrap();
    for loaded in [st::load(&path, &Device::Cpu).unwrap(), st::load_mmap(&path, &Device::Cpu).unwrap()] {
        let m: HashMap<_, _> = loaded.into_iter().collect();
        assert_eq!(m["empty"].dims(), &[0, 3]);
        assert_eq!(m["scalar"].dims(), &[] as &[usize]);
        assert_eq!(m["scalar"].to_scalar::<i64>().unwrap(), 7);
    }
}

#[test]
fn candle_reads_our_files_and_we_read_candles() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.safetensors");
    let theirs = dir.path().join("theirs.safetensors");
    let a = Tensor::arange(0f32, 12., &Device::Cpu).unwrap().reshape((3, 4)).unwrap();
    // a transposed (non-contiguous) tensor is written in its logical C order
    let at = a.t().unwrap();
    let b = Tensor::new(&[[1i64, -2], [3, 4]], &Device::Cpu).unwrap().to_dtype(DType::BF16).unwrap();
    st::save(&ours, [("at", &at), ("b", &b)], None).unwrap();
    let by_candle = candle_core::safetensors::load(&ours, &Device::Cpu).unwrap();
    assert_eq!(by_candle["at"].to_vec2::<f32>().unwrap(), at.to_vec2::<f32>().unwrap());
    assert_eq!(by_candle["b"].dtype(), DType::BF16);
    candle_core::safetensors::save(&HashMap::from([("a".to_string(), a.clone())]), &theirs).unwrap();
    let back = st::load_mmap(&theirs, &Device::Cpu).unwrap();
    assert_eq!(back[0].1.to_vec2::<f32>().unwrap(), a.to_vec2::<f32>().unwrap());
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.safetensors");
    for err in [
        st::load(&missing, &Device::Cpu).unwrap_err(),
        st::mmap(&missing).map(|_| ()).unwrap_err(),
        st::read_metadata(&missing).map(|_| ()).unwrap_err(),
    ] {
        assert!(matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound));
        assert!(err.to_string().contains("missing.safetensors"), "{err}");
    }
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": broken}   ").unwrap();
    for err in [st::load(&bad, &Device::Cpu).unwrap_err(), st::mmap(&bad).map(|_| ()).unwrap_err()] {
        assert!(matches!(err, Error::SafetensorsFormat { .. }), "{err:?}");
        assert!(err.to_string().contains("bad.safetensors") && err.to_string().contains("JSON"), "{err}");
    }
    // a directory that does not exist is an I/O error naming the path
    let nowhere = dir.path().join("no/such/dir/x.safetensors");
    let t = Tensor::new(&[1f32], &Device::Cpu).unwrap();
    let err = st::save(&nowhere, [("t", &t)], None).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("x.safetensors"), "{err}");
}

#[test]
fn tensors_and_arrays_mix_in_one_save() {
    let t = Tensor::new(&[1f32, 2.0], &Device::Cpu).unwrap();
    let a = ArrayRef::from_vec(vec![3i8, -4], &[2]).unwrap();
    let items: Vec<(&str, &dyn AsArrayRef)> = vec![("t", &t), ("a", &a)];
    let bytes = st::serialize(items, None).unwrap();
    let m: HashMap<_, _> = st::load_buffer(&bytes, &Device::Cpu).unwrap().into_iter().collect();
    assert_eq!(m["t"].to_vec1::<f32>().unwrap(), [1.0, 2.0]);
    assert_eq!(m["a"].to_vec1::<i16>().unwrap(), [3, -4]);
}
