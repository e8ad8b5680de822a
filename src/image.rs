//! Images as tensors (feature `image`, on by default): PNG and JPEG files decoded into
//! `(H, W, C)` `u8` tensors, the layout OpenCV and PIL give NumPy, and the few steps between
//! that and a convolutional network's `(N, C, H, W)` float input.
//!
//! | function | result | copies? |
//! | --- | --- | --- |
//! | [`load`] / [`decode`] | `(H, W, 3)` RGB, or `(H, W, 1)` for grayscale, `u8` | the decoder's buffer becomes the storage (no copy) |
//! | [`to_f32_unit`] | `f32` in `[0, 1]` (`x / 255`, as NumPy rounds it) | one pass |
//! | [`hwc_to_chw`] / [`chw_to_hwc`] | the same storage, permuted (also `NHWC` <-> `NCHW`) | no: a view |
//! | [`batch`] | `(N, C, H, W)`, contiguous | one pass gathering every image |
//!
//! Alpha channels are dropped; 16-bit images are reduced to 8 bits. Only PNG and JPEG are
//! compiled in (the other decoders would double the build time); other formats are an error
//! naming the format.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use candle_numpy::image;
//! // a 2x3 RGB image as a decoder would give it
//! let hwc = Tensor::arange(0u8, 18, &Device::Cpu)?.reshape((2, 3, 3))?;
//! let chw = image::hwc_to_chw(&hwc)?; // a view
//! assert_eq!(chw.dims(), &[3, 2, 3]);
//! let x = image::batch(&[hwc.clone(), hwc])?; // (2, 3, 2, 3) u8
//! let x = image::to_f32_unit(&x)?;
//! assert_eq!(x.dims(), &[2, 3, 2, 3]);
//! # Ok::<(), candle_numpy::Error>(())
//! ```

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// Decode a PNG or JPEG file into an `(H, W, C)` `u8` tensor: `C = 3` (RGB) for colour
/// images, `C = 1` for grayscale.
pub fn load(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let bytes =
        std::fs::read(path).map_err(|source| Error::Io { operation: "read", path: path.into(), source })?;
    decode_named(&bytes, path)
}

/// [`load`] from the bytes of an encoded image (a download, an archive member).
pub fn decode(bytes: &[u8]) -> Result<Tensor> {
    decode_named(bytes, Path::new("<memory>"))
}

fn decode_named(bytes: &[u8], path: &Path) -> Result<Tensor> {
    let bad = |reason: String| Error::ImageFormat { path: path.into(), reason };
    let format = ::image::guess_format(bytes).map_err(|_| {
        bad("not a recognised image (the first bytes match no known format); PNG and JPEG are read".into())
    })?;
    if !matches!(format, ::image::ImageFormat::Png | ::image::ImageFormat::Jpeg) {
        return Err(bad(format!(
            "{format:?} images are not read by this build; PNG and JPEG are (convert the file first)"
        )));
    }
    let img = ::image::load_from_memory_with_format(bytes, format).map_err(|e| bad(format!("{e}")))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let t = if img.color().has_color() {
        Tensor::from_vec(img.into_rgb8().into_raw(), (h, w, 3), &Device::Cpu)?
    } else {
        Tensor::from_vec(img.into_luma8().into_raw(), (h, w, 1), &Device::Cpu)?
    };
    Ok(t)
}

/// `u8` pixels as `f32` in `[0, 1]` (divided by 255), any shape.
pub fn to_f32_unit(t: &Tensor) -> Result<Tensor> {
    if t.dtype() != DType::U8 {
        return Err(Error::DTypeMismatch {
            operation: "image::to_f32_unit",
            actual: t.dtype(),
            expected: DType::U8,
        });
    }
    // a true division (not a multiplication by 1/255), so 102 -> 0.4 exactly as NumPy's x / 255
    let scale = Tensor::new(255f32, t.device())?;
    Ok(t.to_dtype(DType::F32)?.broadcast_div(&scale)?)
}

/// `(H, W, C)` -> `(C, H, W)`, or `(N, H, W, C)` -> `(N, C, H, W)`: a permuted view of the
/// same storage (no copy).
pub fn hwc_to_chw(t: &Tensor) -> Result<Tensor> {
    match t.rank() {
        3 => Ok(t.permute((2, 0, 1))?),
        4 => Ok(t.permute((0, 3, 1, 2))?),
        _ => Err(rank_error("image::hwc_to_chw", t, "(H, W, C) or (N, H, W, C)")),
    }
}

/// `(C, H, W)` -> `(H, W, C)`, or `(N, C, H, W)` -> `(N, H, W, C)`: a permuted view of the
/// same storage (no copy).
pub fn chw_to_hwc(t: &Tensor) -> Result<Tensor> {
    match t.rank() {
        3 => Ok(t.permute((1, 2, 0))?),
        4 => Ok(t.permute((0, 2, 3, 1))?),
        _ => Err(rank_error("image::chw_to_hwc", t, "(C, H, W) or (N, C, H, W)")),
    }
}

fn rank_error(operation: &'static str, t: &Tensor, expected: &str) -> Error {
    Error::ShapeMismatch {
        operation,
        detail: format!("expected {expected}, got shape {:?}; add or remove the batch axis first", t.dims()),
    }
}

/// Stack `(H, W, C)` images of one size and dtype into a contiguous `(N, C, H, W)` tensor
/// (one gathering pass).
pub fn batch(images: &[Tensor]) -> Result<Tensor> {
    let first = images.first().ok_or(Error::InvalidArgument {
        operation: "image::batch",
        argument: "images",
        value: "[]".into(),
        fix: "pass at least one image",
    })?;
    for (i, img) in images.iter().enumerate() {
        if img.rank() != 3 {
            return Err(Error::ShapeMismatch {
                operation: "image::batch",
                detail: format!(
                    "image {i} has shape {:?}, expected (H, W, C); give grayscale images a channel axis \
                     (unsqueeze(2))",
                    img.dims()
                ),
            });
        }
        if img.dims() != first.dims() {
            let [h, w, c] = img.dims() else { unreachable!("rank checked") };
            let [h0, w0, c0] = first.dims() else { unreachable!("rank checked") };
            return Err(Error::ShapeMismatch {
                operation: "image::batch",
                detail: format!(
                    "image {i} is {h}x{w}x{c} (HxWxC) but image 0 is {h0}x{w0}x{c0}; resize or crop \
                     them to one size (and one channel count) first"
                ),
            });
        }
        if img.dtype() != first.dtype() {
            return Err(Error::DTypeMismatch {
                operation: "image::batch",
                actual: img.dtype(),
                expected: first.dtype(),
            });
        }
    }
    let views = images.iter().map(hwc_to_chw).collect::<Result<Vec<_>>>()?;
    Ok(Tensor::stack(&views, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::image::{GrayImage, ImageFormat, RgbImage, RgbaImage};

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| ::image::Rgb([(x * 40) as u8, (y * 60) as u8, 200]))
    }

    #[test]
    fn png_rgb_round_trips_exactly_as_hwc() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        gradient(5, 3).save_with_format(&path, ImageFormat::Png).unwrap();
        let t = load(&path).unwrap();
        assert_eq!((t.dims(), t.dtype()), (&[3usize, 5, 3][..], DType::U8));
        let v = t.to_vec3::<u8>().unwrap();
        assert_eq!(v[2][4], [160, 120, 200]);
        assert_eq!(v[1][0], [0, 60, 200]);
    }

    #[test]
    fn grayscale_png_has_one_channel_and_alpha_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let gray = dir.path().join("l.png");
        GrayImage::from_fn(4, 2, |x, y| ::image::Luma([(x + 10 * y) as u8])).save(&gray).unwrap();
        let t = load(&gray).unwrap();
        assert_eq!(t.dims(), &[2, 4, 1]);
        assert_eq!(t.flatten_all().unwrap().to_vec1::<u8>().unwrap(), [0, 1, 2, 3, 10, 11, 12, 13]);

        let rgba = dir.path().join("a.png");
        RgbaImage::from_pixel(2, 2, ::image::Rgba([1, 2, 3, 4])).save(&rgba).unwrap();
        let t = load(&rgba).unwrap();
        assert_eq!(t.dims(), &[2, 2, 3]);
        assert_eq!(t.to_vec3::<u8>().unwrap()[1][1], [1, 2, 3]);
    }

    #[test]
    fn jpeg_decodes_approximately() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jpg");
        RgbImage::from_pixel(16, 8, ::image::Rgb([200, 100, 50]))
            .save_with_format(&path, ImageFormat::Jpeg)
            .unwrap();
        let t = load(&path).unwrap();
        assert_eq!(t.dims(), &[8, 16, 3]);
        for px in t.reshape((128, 3)).unwrap().to_vec2::<u8>().unwrap() {
            for (got, want) in px.iter().zip([200u8, 100, 50]) {
                assert!(got.abs_diff(want) <= 4, "{px:?}");
            }
        }
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        std::fs::write(&path, b"hello, not an image").unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, Error::ImageFormat { .. }), "{err:?}");
        assert!(err.to_string().contains("x.png") && err.to_string().contains("PNG and JPEG"), "{err}");
        // a truncated PNG
        let mut png = Vec::new();
        gradient(8, 8).write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png).unwrap();
        let err = decode(&png[..png.len() / 2]).unwrap_err();
        assert!(matches!(err, Error::ImageFormat { .. }), "{err:?}");
        // a format that is recognised but not compiled in
        let err = decode(b"GIF89a\x01\x00\x01\x00").unwrap_err();
        assert!(err.to_string().contains("Gif images are not read"), "{err}");
        assert!(matches!(load(dir.path().join("none.png")).unwrap_err(), Error::Io { .. }));
    }

    #[test]
    fn unit_floats_and_layout_views() {
        let hwc = Tensor::new(&[[[0u8, 51, 255], [102, 153, 204]]], &Device::Cpu).unwrap(); // (1, 2, 3)
        let f = to_f32_unit(&hwc).unwrap();
        assert_eq!(f.to_vec3::<f32>().unwrap()[0][1], [0.4, 0.6, 0.8]);
        assert!(matches!(to_f32_unit(&f).unwrap_err(), Error::DTypeMismatch { .. }));

        let chw = hwc_to_chw(&hwc).unwrap();
        assert_eq!(chw.dims(), &[3, 1, 2]);
        assert_eq!(chw.to_vec3::<u8>().unwrap()[2], [[255, 204]]);
        // a view: same storage, not contiguous
        let ptr = |t: &Tensor| {
            let (s, l) = t.storage_and_layout();
            let candle_core::Storage::Cpu(cpu) = &*s else { unreachable!() };
            (cpu.as_slice::<u8>().unwrap().as_ptr() as usize, l.start_offset())
        };
        assert_eq!(ptr(&chw), ptr(&hwc));
        assert!(!chw.is_contiguous());
        let back = chw_to_hwc(&chw).unwrap();
        assert_eq!(back.to_vec3::<u8>().unwrap(), hwc.to_vec3::<u8>().unwrap());
        let nchw = hwc_to_chw(&hwc.unsqueeze(0).unwrap()).unwrap();
        assert_eq!(nchw.dims(), &[1, 3, 1, 2]);
        assert_eq!(chw_to_hwc(&nchw).unwrap().dims(), &[1, 1, 2, 3]);
        assert!(matches!(hwc_to_chw(&f.flatten_all().unwrap()).unwrap_err(), Error::ShapeMismatch { .. }));
    }

    #[test]
    fn batch_stacks_to_contiguous_nchw_and_checks_sizes() {
        let a = Tensor::arange(0u8, 12, &Device::Cpu).unwrap().reshape((2, 2, 3)).unwrap();
        let b = (a.to_dtype(DType::F32).unwrap() + 100.0).unwrap().to_dtype(DType::U8).unwrap();
        let x = batch(&[a.clone(), b]).unwrap();
        assert_eq!(x.dims(), &[2, 3, 2, 2]);
        assert!(x.is_contiguous());
        // channel 1 of image 1: pixels 1, 4, 7, 10 plus 100
        assert_eq!(x.get(1).unwrap().get(1).unwrap().to_vec2::<u8>().unwrap(), [[101, 104], [107, 110]]);

        let other = Tensor::zeros((2, 3, 3), DType::U8, &Device::Cpu).unwrap();
        let err = batch(&[a.clone(), other]).unwrap_err();
        assert!(err.to_string().contains("image 1 is 2x3x3 (HxWxC) but image 0 is 2x2x3"), "{err}");
        assert!(matches!(batch(&[]).unwrap_err(), Error::InvalidArgument { .. }));
        let err = batch(&[a.clone(), a.to_dtype(DType::F32).unwrap()]).unwrap_err();
        assert!(matches!(err, Error::DTypeMismatch { .. }), "{err:?}");
        let err = batch(&[a.flatten_all().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("expected (H, W, C)"), "{err}");
    }
}
