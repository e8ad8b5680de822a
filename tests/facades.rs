//! The constructors of the torch and tf facades keep the share-vs-copy contract of the README's
//! semantics table (`from_numpy` shares or refuses, `as_tensor` shares when it can, `tensor` copies).

use candle_core::{DType, Device};
use candle_numpy::{shares_memory, tf, torch, ArrayRef, Error, Result};

fn array() -> Result<ArrayRef> {
    ArrayRef::from_vec((0..6).map(|i| i as f32).collect::<Vec<_>>(), &[2, 3])
}

#[test]
fn torch_tensor_copies_with_dtype_and_device() -> Result<()> {
    let a = array()?;
    let t = torch::tensor(&a, None, None)?;
    assert!(!shares_memory(&t, &a));
    assert_eq!(t.to_vec2::<f32>()?, [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]);
    let d = torch::tensor(&a, Some(DType::F64), Some(&Device::Cpu))?;
    assert_eq!(d.dtype(), DType::F64);
    Ok(())
}

#[test]
fn torch_from_numpy_shares_or_refuses_and_as_tensor_falls_back() -> Result<()> {
    // A Vec-owned ArrayRef is foreign memory: sharing it needs the adopting allocator, which
    // this test binary does not install, so Share refuses and Auto copies.
    let a = array()?;
    let err = torch::from_numpy(&a).unwrap_err();
    assert!(matches!(err, candle_numpy::Error::SharingUnavailable), "{err}");
    assert!(err.is_share_refusal() && err.to_string().contains("use Sharing::Copy (or Auto)"), "{err}");
    let t = torch::as_tensor(&a, None, None)?;
    assert_eq!(t.dims(), &[2, 3]);
    // a tensor's own memory always shares
    let own = ArrayRef::from_tensor(&t)?;
    let back = torch::from_numpy(&own)?;
    assert!(shares_memory(&back, &own));
    let cast = torch::as_tensor(&own, Some(DType::F64), None)?;
    assert!(!shares_memory(&cast, &own));
    Ok(())
}

#[test]
fn tf_constructors_always_copy() -> Result<()> {
    let t = torch::tensor(&array()?, None, None)?;
    let own = ArrayRef::from_tensor(&t)?;
    let c = tf::convert_to_tensor(&own, None, Some(DType::F64))?;
    assert!(!shares_memory(&c, &own));
    assert_eq!(c.dtype(), DType::F32, "dtype_hint does not override an array's dtype");
    let k = tf::constant(&own, Some(DType::I64), None)?;
    assert!(!shares_memory(&k, &own));
    assert_eq!(k.to_vec2::<i64>()?, [[0, 1, 2], [3, 4, 5]]);
    Ok(())
}

#[test]
fn tf_constant_shape_reshapes_or_fills() -> Result<()> {
    let a = array()?;
    assert_eq!(tf::constant(&a, None, Some(&[3, 2]))?.dims(), &[3, 2]);
    let one = ArrayRef::from_vec(vec![2.5f64], &[1])?;
    let filled = tf::constant(&one, Some(DType::F32), Some(&[2, 2]))?;
    assert_eq!(filled.to_vec2::<f32>()?, [[2.5, 2.5], [2.5, 2.5]]);
    let err = tf::constant(&a, None, Some(&[4])).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { operation: "tf.constant", .. }));
    assert!(err.to_string().contains("6 elements"), "{err}");
    Ok(())
}

#[test]
fn tf_variable_is_an_independent_var() -> Result<()> {
    let t = torch::tensor(&array()?, None, None)?;
    let own = ArrayRef::from_tensor(&t)?;
    let v = tf::Variable::new(&own, false, None)?;
    assert!(!v.trainable());
    assert!(!shares_memory(v.as_tensor(), &own));
    v.assign(&v.as_tensor().affine(2.0, 0.0)?)?;
    assert_eq!(v.as_tensor().to_vec2::<f32>()?[1], [6.0, 8.0, 10.0]);
    assert_eq!(t.to_vec2::<f32>()?[1], [3.0, 4.0, 5.0], "the source is untouched");
    let v64 = tf::Variable::new(&own, true, Some(DType::F64))?;
    assert_eq!(v64.into_var().dtype(), DType::F64);
    Ok(())
}
