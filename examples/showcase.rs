//! The candle-numpy showcase: convert, share, copy, and say what happened.
//!
//! `cargo run --release --example showcase`

use candle_core::{DType, Device, Tensor};
use candle_numpy::export::{borrow, storage_range};
use candle_numpy::{
    from_ndarray, npy, shares_memory, to_tensor, ArrayRef, ByteOrder, NpDType, Options, Sharing,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("== candle-numpy showcase ==\n");

    // 1. A tensor exported as a NumPy-layout array, and shared back: one buffer, no copies.
    let t = Tensor::arange(0f32, 12., &Device::Cpu)?.reshape((3, 4))?;
    let a = ArrayRef::from_tensor(&t)?;
    println!(
        "1. export: tensor {:?} -> array shape {:?}, byte strides {:?} (no copy)",
        t.dims(),
        a.shape(),
        a.strides()
    );
    let col_slice = a.sliced(1, 1, 2, 2)?; // a[:, 1::2]
    let view = to_tensor(&col_slice, Sharing::Share, &Options::default())?;
    println!(
        "   a[:, 1::2] shared back: {:?}, same storage: {}, shares_memory: {}",
        view.to_vec2::<f32>()?,
        storage_range(&view)?.0 == storage_range(&t)?.0,
        shares_memory(&view, &a)
    );
    t.slice_set(&Tensor::full(-1f32, (1, 4), &Device::Cpu)?, 0, 0)?;
    println!(
        "   after writing -1 into row 0 of the original, the view reads {:?}\n",
        view.to_vec2::<f32>()?[0]
    );

    // 2. Share refuses precisely; Copy handles everything; Auto picks.
    let reversed = a.sliced(0, 2, 3, -1)?; // a[::-1]
    println!(
        "2. Share of a[::-1]: {}",
        to_tensor(&reversed, Sharing::Share, &Options::default()).unwrap_err()
    );
    let copied = to_tensor(&reversed, Sharing::Copy, &Options::default())?;
    println!("   Copy of a[::-1]: {:?} (shares: {})", copied.to_vec2::<f32>()?, shares_memory(&copied, &a));
    let auto = to_tensor(&a.transposed(), Sharing::Auto, &Options::default())?;
    println!(
        "   Auto of a.T: shares: {} (a permuted view, strides {:?})\n",
        shares_memory(&auto, &a),
        auto.stride()
    );

    // 3. dtypes: the table decides; casts are explicit.
    let i8s = ArrayRef::from_vec(vec![-3i8, 0, 7], &[3])?;
    println!("3. int8 Share: {}", to_tensor(&i8s, Sharing::Share, &Options::default()).unwrap_err());
    let widened = to_tensor(&i8s, Sharing::Copy, &Options::default())?;
    println!("   int8 Copy widens to {:?}: {:?}", widened.dtype(), widened.to_vec1::<i16>()?);
    let f64s = ArrayRef::from_vec(vec![0.1f64, 1.0 / 3.0, 1e10], &[3])?;
    let halves = to_tensor(&f64s, Sharing::Copy, &Options::default().dtype(DType::BF16))?;
    println!("   float64 -> bf16 cast: {:?}", halves.to_dtype(DType::F32)?.to_vec1::<f32>()?);
    let big_endian = ArrayRef::from_vec(vec![1u32, 256], &[2])?
        .with_byte_order(if cfg!(target_endian = "little") { ByteOrder::Big } else { ByteOrder::Little });
    println!(
        "   bytes of [1, 256] read as the other byte order, copied (swapped): {:?}",
        to_tensor(&big_endian, Sharing::Copy, &Options::default())?.to_vec1::<u32>()?
    );
    let u64s = ArrayRef::from_vec(vec![1u64, u64::MAX], &[2])?;
    println!(
        "   uint64 with a value past i64::MAX: {}\n",
        to_tensor(&u64s, Sharing::Copy, &Options::default()).unwrap_err()
    );

    // 4. Foreign memory needs the adopting allocator (installed by the Python extension).
    let foreign = ArrayRef::from_vec(vec![1.5f32; 4], &[2, 2])?;
    println!(
        "4. Share of foreign memory here: {}",
        to_tensor(&foreign, Sharing::Share, &Options::default()).unwrap_err()
    );
    println!(
        "   Auto falls back to a copy: {:?}\n",
        to_tensor(&foreign, Sharing::Auto, &Options::default())?.to_vec2::<f32>()?
    );

    // 5. ndarray: owned arrays move in, tensors are borrowed out.
    let nd = ndarray::Array2::from_shape_fn((2, 3), |(i, j)| (10 * i + j) as f64);
    let nd_ptr = nd.as_ptr();
    let moved = from_ndarray(nd)?;
    println!(
        "5. ndarray moved in without a copy: {} ({:?})",
        storage_range(&moved)?.0 == nd_ptr.cast(),
        moved.to_vec2::<f64>()?
    );
    let guard = borrow(&moved)?;
    let v = guard.view::<f64>()?;
    println!("   borrowed back as an ndarray view: shape {:?}, v[[1, 2]] = {}\n", v.shape(), v[[1, 2]]);
    drop(guard);

    // 6. .npy: write, read, memory-map.
    let dir = std::env::temp_dir().join(format!("candle-numpy-showcase-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("x.npy");
    let x = Tensor::arange(0f64, 6., &Device::Cpu)?.reshape((2, 3))?;
    npy::save_with(&path, &x, &npy::WriteOptions { fortran_order: true, byte_order: ByteOrder::Big })?;
    let back = npy::load(&path)?;
    println!(
        "6. .npy written Fortran-order big-endian, loaded back: {:?} {:?}",
        back.dtype(),
        back.to_vec2::<f64>()?
    );
    let mapped = npy::mmap(&path)?;
    println!(
        "   memory-mapped: dtype {}, shape {:?}, strides {:?}, read-only {}",
        mapped.dtype().name(),
        mapped.shape(),
        mapped.strides(),
        mapped.is_readonly()
    );
    let bools = ArrayRef::from_vec(vec![true, false, true], &[3])?;
    npy::save_array(dir.join("b.npy"), &bools, &npy::WriteOptions::default())?;
    println!(
        "   a bool .npy loads as {:?}: {:?}",
        NpDType::Bool.mapping(),
        npy::load(dir.join("b.npy"))?.to_vec1::<u8>()?
    );
    std::fs::remove_dir_all(&dir)?;

    println!("\nDone.");
    Ok(())
}
