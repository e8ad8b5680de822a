//! THE dtype table: NumPy element types and how each one maps to candle.
//!
//! Every conversion path (share, copy, `.npy`, export) asks this module, so the rules live in
//! exactly one place:
//!
//! | NumPy | candle | share? |
//! | --- | --- | --- |
//! | `uint8` | `U8` | yes |
//! | `bool` | `U8` (values 0/1) on copy | no: candle has no bool |
//! | `int16` / `int32` / `int64` | `I16` / `I32` / `I64` | yes |
//! | `uint32` | `U32` | yes |
//! | `float16` / `float32` / `float64` | `F16` / `F32` / `F64` | yes |
//! | `bfloat16` (ml_dtypes) | `BF16` | yes |
//! | `float8_e4m3fn` (ml_dtypes) | `F8E4M3` | yes |
//! | `int8`, `uint16` | widened on copy (`I16`, `U32`) | no |
//! | `uint64` | `I64` if every value fits, else an error | no |
//! | complex, object, str, datetime, structured, ... | error | no |

use candle_core::DType;

use crate::error::{Error, Result};

/// Byte order of multi-byte elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Least significant byte first (x86, most ARM).
    Little,
    /// Most significant byte first.
    Big,
}

impl ByteOrder {
    /// The byte order of this machine.
    pub const NATIVE: ByteOrder =
        if cfg!(target_endian = "little") { ByteOrder::Little } else { ByteOrder::Big };

    /// The character NumPy uses in type strings (`<` or `>`).
    pub fn numpy_char(self) -> char {
        match self {
            ByteOrder::Little => '<',
            ByteOrder::Big => '>',
        }
    }

    /// "little" or "big".
    pub fn name(self) -> &'static str {
        match self {
            ByteOrder::Little => "little",
            ByteOrder::Big => "big",
        }
    }
}

/// A NumPy element type this crate knows how to talk about.
///
/// The variants cover every row of the table; dtypes outside it are reported by
/// [`NpDType::from_typestr`] as [`Error::UnsupportedDType`] with their own spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum NpDType {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float16,
    Float32,
    Float64,
    /// `ml_dtypes.bfloat16`.
    BFloat16,
    /// `ml_dtypes.float8_e4m3fn`.
    Float8E4M3FN,
}

/// How a NumPy dtype reaches candle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// Same bits: can be shared and copied without conversion.
    Exact(DType),
    /// Needs a widening copy to this candle dtype (no loss, never shared).
    Widen(DType),
    /// `uint64`: copied to this dtype when every value fits, else an error.
    RangeChecked(DType),
}

impl Mapping {
    /// The candle dtype a copy produces by default.
    pub fn target(self) -> DType {
        match self {
            Mapping::Exact(d) | Mapping::Widen(d) | Mapping::RangeChecked(d) => d,
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// The NumPy dtype.
    pub dtype: NpDType,
    /// NumPy's name (`np.dtype(x).name`).
    pub name: &'static str,
    /// Kind character of the type string (`b`, `i`, `u`, `f`; `V` for ml_dtypes types).
    pub kind: char,
    /// Item size in bytes.
    pub itemsize: usize,
    /// NumPy's one-character type code (`np.dtype(x).char`); `None` for ml_dtypes types,
    /// whose codes are not stable across ml_dtypes releases.
    pub char: Option<char>,
    /// How it maps to candle.
    pub mapping: Mapping,
}

/// The table itself, one row per NumPy dtype.
pub const TABLE: [Row; 14] = [
    row(NpDType::Bool, "bool", 'b', 1, '?', Mapping::Widen(DType::U8)),
    row(NpDType::Int8, "int8", 'i', 1, 'b', Mapping::Widen(DType::I16)),
    row(NpDType::Int16, "int16", 'i', 2, 'h', Mapping::Exact(DType::I16)),
    row(NpDType::Int32, "int32", 'i', 4, 'i', Mapping::Exact(DType::I32)),
    row(NpDType::Int64, "int64", 'i', 8, 'q', Mapping::Exact(DType::I64)),
    row(NpDType::UInt8, "uint8", 'u', 1, 'B', Mapping::Exact(DType::U8)),
    row(NpDType::UInt16, "uint16", 'u', 2, 'H', Mapping::Widen(DType::U32)),
    row(NpDType::UInt32, "uint32", 'u', 4, 'I', Mapping::Exact(DType::U32)),
    row(NpDType::UInt64, "uint64", 'u', 8, 'Q', Mapping::RangeChecked(DType::I64)),
    row(NpDType::Float16, "float16", 'f', 2, 'e', Mapping::Exact(DType::F16)),
    row(NpDType::Float32, "float32", 'f', 4, 'f', Mapping::Exact(DType::F32)),
    row(NpDType::Float64, "float64", 'f', 8, 'd', Mapping::Exact(DType::F64)),
    // ml_dtypes types have kind 'V' and no standard type code: they are identified by their
    // type object on the Python side and by name in `.npy` headers written here.
    row(NpDType::BFloat16, "bfloat16", 'V', 2, 'E', Mapping::Exact(DType::BF16)),
    row(NpDType::Float8E4M3FN, "float8_e4m3fn", 'V', 1, '4', Mapping::Exact(DType::F8E4M3)),
];

const fn row(
    dtype: NpDType,
    name: &'static str,
    kind: char,
    itemsize: usize,
    char: char,
    mapping: Mapping,
) -> Row {
    let char = if kind == 'V' { None } else { Some(char) };
    Row { dtype, name, kind, itemsize, char, mapping }
}

/// The supported dtypes, for error messages.
pub const SUPPORTED: &str = "bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, \
                             float16, float32, float64, bfloat16, float8_e4m3fn";

impl NpDType {
    /// All dtypes, in table order.
    pub fn all() -> impl Iterator<Item = NpDType> {
        TABLE.iter().map(|r| r.dtype)
    }

    /// This dtype's row of the table.
    pub fn row(self) -> &'static Row {
        // The table is in enum-declaration order; checked by a unit test.
        &TABLE[self as usize]
    }

    /// NumPy's name, e.g. `"float32"`.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// Item size in bytes.
    pub fn itemsize(self) -> usize {
        self.row().itemsize
    }

    /// How this dtype maps to candle.
    pub fn mapping(self) -> Mapping {
        self.row().mapping
    }

    /// The candle dtype holding exactly these bits, if any (the dtypes that can be shared).
    pub fn exact_candle(self) -> Option<DType> {
        match self.mapping() {
            Mapping::Exact(d) => Some(d),
            _ => None,
        }
    }

    /// The NumPy twin of a candle dtype (every candle dtype this crate handles has one).
    pub fn from_candle(dtype: DType) -> Result<NpDType> {
        TABLE.iter().find(|r| r.mapping == Mapping::Exact(dtype)).map(|r| r.dtype).ok_or_else(|| {
            Error::UnsupportedDType {
                dtype: format!("{dtype:?}"),
                reason: "this candle dtype (a packed sub-byte float) has no NumPy twin; \
                         convert with tensor.to_dtype(DType::F32) (t.float() in Python) first",
                supported: "U8, U32, I16, I32, I64, BF16, F16, F32, F64, F8E4M3",
            }
        })
    }

    /// Look a dtype up by NumPy name (`"float32"`), type code (`"f"`) or type string without
    /// byte order (`"f4"`).
    pub fn from_name(name: &str) -> Option<NpDType> {
        TABLE
            .iter()
            .find(|r| {
                r.name == name
                    || (name.len() == 1 && r.char.is_some_and(|c| name.starts_with(c)))
                    || (r.kind != 'V' && format!("{}{}", r.kind, r.itemsize) == name)
            })
            .map(|r| r.dtype)
    }

    /// Whether multi-byte elements of this dtype have a byte order at all.
    pub fn has_byte_order(self) -> bool {
        self.itemsize() > 1
    }

    /// The NumPy type string (`descr`) for this dtype in the given byte order, e.g. `"<f4"`,
    /// `"|u1"`. ml_dtypes types are written by name (`"bfloat16"`), which `np.load` reads
    /// once `ml_dtypes` is imported.
    pub fn typestr(self, order: ByteOrder) -> String {
        let r = self.row();
        if r.kind == 'V' {
            return r.name.to_string();
        }
        let prefix = if self.has_byte_order() { order.numpy_char() } else { '|' };
        format!("{prefix}{}{}", r.kind, r.itemsize)
    }

    /// Parse a NumPy type string (`"<f4"`, `">i8"`, `"|b1"`, `"bfloat16"`) into a dtype and the
    /// byte order of its data. Refused dtypes (complex, object, strings, datetimes, ...) give
    /// [`Error::UnsupportedDType`] naming them.
    pub fn from_typestr(s: &str) -> Result<(NpDType, ByteOrder)> {
        let unsupported =
            |reason| Error::UnsupportedDType { dtype: s.to_string(), reason, supported: SUPPORTED };
        if let Some(d) = TABLE.iter().find(|r| r.kind == 'V' && r.name == s) {
            return Ok((d.dtype, ByteOrder::NATIVE));
        }
        let mut chars = s.chars();
        let (order, rest) = match chars.next() {
            Some('<') => (Some(ByteOrder::Little), chars.as_str()),
            Some('>') => (Some(ByteOrder::Big), chars.as_str()),
            Some('=') => (Some(ByteOrder::NATIVE), chars.as_str()),
            Some('|') => (None, chars.as_str()),
            _ => (None, s),
        };
        let mut rest_chars = rest.chars();
        let kind = rest_chars.next().ok_or_else(|| unsupported("empty type string"))?;
        let size: Option<usize> = rest_chars.as_str().parse().ok();
        let found = size
            .and_then(|size| TABLE.iter().find(|r| r.kind == kind && r.itemsize == size && r.kind != 'V'));
        match (found, kind) {
            (Some(r), _) => {
                let order = order.unwrap_or(ByteOrder::NATIVE);
                Ok((r.dtype, if r.itemsize > 1 { order } else { ByteOrder::NATIVE }))
            }
            (None, 'c') => Err(unsupported("complex numbers have no candle dtype; split into real and imaginary float arrays (a.real, a.imag)")),
            (None, 'O') => Err(unsupported("object arrays hold Python references, not numbers; convert with a.astype(np.float32) (or the numeric type you mean)")),
            (None, 'U' | 'S' | 'a') => Err(unsupported("strings are not numbers; encode them first (e.g. a vocabulary lookup)")),
            (None, 'M' | 'm') => Err(unsupported("datetimes have no candle dtype; convert with a.astype('int64') (or .view('int64'))")),
            (None, 'V') => Err(unsupported("void data has no numeric type of its own: np.save writes ml_dtypes bfloat16 / float8_e4m3fn arrays as '<V2' / '<V1' (load those with dtype BF16 / F8E4M3 to read the bits as that type; this crate writes them as 'bfloat16'); structured data: take its fields (arr['x']) one by one")),
            (None, 'f') => Err(unsupported("this float width has no candle dtype; cast with a.astype(np.float64) or np.float32")),
            (None, _) if size.is_none() => Err(unsupported("not a NumPy type string such as '<f4'")),
            (None, _) => Err(unsupported("no candle dtype matches")),
        }
    }
}

/// NumPy name of a candle dtype (`F32` -> `"float32"`), for messages.
pub fn candle_numpy_name(dtype: DType) -> &'static str {
    NpDType::from_candle(dtype).map(NpDType::name).unwrap_or("unsupported")
}

/// candle's short name of a dtype (`F32` -> `"f32"`), for messages.
pub fn candle_name(dtype: DType) -> &'static str {
    dtype.as_str()
}

/// `t.to_dtype(dtype)` (a clone when the dtype is already `dtype`), with every conversion
/// out of float8 going through f32: candle 0.11's `F8E4M3 -> F64` recurses forever (see the
/// README's known issues); `F8E4M3 -> F32` is exact, so the detour changes no value.
/// Conversions *into* float8 stay direct (each rounds once).
pub fn cast(t: &candle_core::Tensor, dtype: DType) -> candle_core::Result<candle_core::Tensor> {
    let from = t.dtype();
    if from == dtype {
        return Ok(t.clone());
    }
    if from == DType::F8E4M3 && dtype != DType::F32 {
        t.to_dtype(DType::F32)?.to_dtype(dtype)
    } else if t.device().is_cpu()
        && !t.track_op()
        && same_rounding_as_candle(from, dtype)
        && t.elem_count() * dtype.size_in_bytes() >= crate::copy::PARALLEL_THRESHOLD
    {
        parallel_cpu_cast(t, dtype)
    } else {
        t.to_dtype(dtype)
    }
}

/// Float casts where our copy kernel rounds exactly as candle's `to_dtype` does (`as` between
/// f32 and f64, `from_f32`/`to_f32` of `half`), so the faster path changes no bit.
fn same_rounding_as_candle(from: DType, to: DType) -> bool {
    use DType::*;
    matches!((from, to), (F64, F32) | (F32, F64) | (F32, F16) | (F32, BF16) | (F16, F32) | (BF16, F32))
}

/// A large CPU cast through the crate's copy kernel: several threads, huge pages for the fresh
/// buffer, any layout gathered in the same pass. candle's `to_dtype` runs on one thread
/// (`cn.from_numpy(a64).float()` of 256 MiB took 1.6x torch's time). Only for tensors that
/// record no gradient (the result carries no backprop op).
fn parallel_cpu_cast(t: &candle_core::Tensor, dtype: DType) -> candle_core::Result<candle_core::Tensor> {
    let a = crate::ArrayRef::from_tensor(t).map_err(candle_core::Error::wrap)?;
    // hold a read lock on the storage while reading it, as candle's own ops do, so that no
    // in-place write through another handle runs during the copy
    let (guard, _) = t.storage_and_layout();
    let storage = crate::copy::copy_to_storage(&a, Some(dtype)).map_err(candle_core::Error::wrap)?;
    drop(guard);
    Ok(candle_core::Tensor::from_storage(
        candle_core::Storage::Cpu(storage),
        t.shape(),
        candle_core::op::BackpropOp::none(),
        false,
    ))
}

/// `NpDType::try_from(DType::F32)`: the NumPy twin ([`NpDType::from_candle`]).
impl TryFrom<DType> for NpDType {
    type Error = Error;
    fn try_from(dtype: DType) -> Result<NpDType> {
        NpDType::from_candle(dtype)
    }
}

/// `DType::try_from(NpDType::Float32)`: the candle dtype holding exactly these values
/// ([`NpDType::exact_candle`]); dtypes that only widen (`bool`, `int8`, `uint16`, `uint64`) are
/// an error naming the widening a copy does.
impl TryFrom<NpDType> for DType {
    type Error = Error;
    fn try_from(dtype: NpDType) -> Result<DType> {
        match dtype.mapping() {
            Mapping::Exact(d) => Ok(d),
            Mapping::Widen(to) | Mapping::RangeChecked(to) => Err(Error::Widening {
                from: dtype.name(),
                to: candle_name(to),
                to_numpy: candle_numpy_name(to),
            }),
        }
    }
}

/// `"float32".parse::<NpDType>()`: by NumPy name, type code or type string
/// ([`NpDType::from_name`]).
impl std::str::FromStr for NpDType {
    type Err = Error;
    fn from_str(name: &str) -> Result<NpDType> {
        NpDType::from_name(name).ok_or_else(|| Error::UnsupportedDType {
            dtype: name.to_string(),
            reason: "not a NumPy dtype name, type code or type string of the table",
            supported: "bool, int8, uint8, int16, uint16, int32, uint32, int64, uint64, float16, \
                        bfloat16, float32, float64, float8_e4m3fn",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_through_try_from_and_from_str() {
        assert_eq!(NpDType::try_from(DType::BF16).unwrap(), NpDType::BFloat16);
        assert_eq!(DType::try_from(NpDType::Float32).unwrap(), DType::F32);
        let err = DType::try_from(NpDType::Int8).unwrap_err().to_string();
        assert!(err.contains("int8") && err.contains("widens it to i16"), "{err}");
        assert_eq!("f4".parse::<NpDType>().unwrap(), NpDType::Float32);
        assert!("complex64".parse::<NpDType>().unwrap_err().to_string().contains("complex64"));
    }

    #[test]
    fn float8_casts_go_through_f32_and_return() {
        use candle_core::{Device, Tensor};
        let t = Tensor::new(&[0.5f32, -1.5, 448.0], &Device::Cpu).unwrap().to_dtype(DType::F8E4M3).unwrap();
        // candle's own F8E4M3 -> F64 never returns; cast must
        assert_eq!(cast(&t, DType::F64).unwrap().to_vec1::<f64>().unwrap(), [0.5, -1.5, 448.0]);
        assert_eq!(cast(&t, DType::I64).unwrap().to_vec1::<i64>().unwrap(), [0, -1, 448]);
        assert_eq!(cast(&t, DType::I32).unwrap().dtype(), DType::I32);
        assert_eq!(cast(&t, DType::F8E4M3).unwrap().dtype(), DType::F8E4M3);
        let back = cast(&cast(&t, DType::F64).unwrap(), DType::F8E4M3).unwrap();
        assert_eq!(cast(&back, DType::F32).unwrap().to_vec1::<f32>().unwrap(), [0.5, -1.5, 448.0]);
    }

    #[test]
    fn large_float_casts_match_candle_bit_for_bit() {
        use candle_core::{Device, Tensor};
        // every f32 edge case among ordinary values, repeated past the parallel threshold
        let edges = [
            0.0f64,
            -0.0,
            1.0,
            -1.5,
            1.0 / 3.0,
            65504.0,
            65520.0,
            1e-8,
            6.1e-5,
            3.4e38,
            3.5e38,
            1e-46,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            2.0f64.powi(-149),
        ];
        let n = (crate::copy::PARALLEL_THRESHOLD / 2) + 7;
        let v: Vec<f64> =
            (0..n).map(|i| edges[i % edges.len()] * (1.0 + (i / edges.len()) as f64 * 1e-7)).collect();
        let t64 = Tensor::from_vec(v, n, &Device::Cpu).unwrap();
        let t32 = t64.to_dtype(DType::F32).unwrap();
        let bits =
            |t: &Tensor| t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for (src, to) in [
            (&t64, DType::F32),
            (&t32, DType::F64),
            (&t32, DType::F16),
            (&t32, DType::BF16),
            (&t32.to_dtype(DType::F16).unwrap(), DType::F32),
            (&t32.to_dtype(DType::BF16).unwrap(), DType::F32),
        ] {
            assert!(same_rounding_as_candle(src.dtype(), to));
            let ours = cast(src, to).unwrap();
            let theirs = src.to_dtype(to).unwrap();
            assert_eq!(ours.dtype(), to);
            let (a, b) = (bits(&ours), bits(&theirs));
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert!(
                    x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                    "{:?}->{to:?} at {i}: {x} vs {y}",
                    src.dtype()
                );
            }
        }
        // a strided view (every other row of a 2-D tensor, transposed) is gathered in the same pass
        let m = Tensor::arange(0f64, 1_200_000., &Device::Cpu).unwrap().affine(1.0 / 3.0, 0.0).unwrap();
        let rows = m.reshape((600, 2, 1000)).unwrap().narrow(1, 0, 1).unwrap().squeeze(1).unwrap();
        let view = rows.t().unwrap();
        assert!(!view.is_contiguous());
        let ours = cast(&view, DType::F32).unwrap();
        assert_eq!(ours.dims(), &[1000, 600]);
        let (a, b) = (bits(&ours), bits(&view.to_dtype(DType::F32).unwrap()));
        assert_eq!(a.len(), 600_000);
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    #[test]
    fn casts_of_tracked_tensors_keep_their_gradient() {
        use candle_core::{Device, Var};
        let n = crate::copy::PARALLEL_THRESHOLD;
        let x = Var::ones(n, DType::F64, &Device::Cpu).unwrap();
        let y = cast(x.as_tensor(), DType::F32).unwrap().sum_all().unwrap();
        let grads = y.backward().unwrap();
        let g = grads.get(x.as_tensor()).expect("the cast is on the gradient path");
        assert_eq!(g.dims(), &[n]);
        assert_eq!(g.sum_all().unwrap().to_scalar::<f64>().unwrap(), n as f64);
    }

    #[test]
    fn table_is_in_enum_order() {
        for (i, r) in TABLE.iter().enumerate() {
            assert_eq!(r.dtype as usize, i, "{} is out of place", r.name);
            assert_eq!(r.dtype.row().name, r.name);
        }
    }

    #[test]
    fn every_row_maps_as_designed() {
        use Mapping::*;
        let expected = [
            (NpDType::Bool, Widen(DType::U8), "|b1"),
            (NpDType::Int8, Widen(DType::I16), "|i1"),
            (NpDType::Int16, Exact(DType::I16), "<i2"),
            (NpDType::Int32, Exact(DType::I32), "<i4"),
            (NpDType::Int64, Exact(DType::I64), "<i8"),
            (NpDType::UInt8, Exact(DType::U8), "|u1"),
            (NpDType::UInt16, Widen(DType::U32), "<u2"),
            (NpDType::UInt32, Exact(DType::U32), "<u4"),
            (NpDType::UInt64, RangeChecked(DType::I64), "<u8"),
            (NpDType::Float16, Exact(DType::F16), "<f2"),
            (NpDType::Float32, Exact(DType::F32), "<f4"),
            (NpDType::Float64, Exact(DType::F64), "<f8"),
            (NpDType::BFloat16, Exact(DType::BF16), "bfloat16"),
            (NpDType::Float8E4M3FN, Exact(DType::F8E4M3), "float8_e4m3fn"),
        ];
        assert_eq!(expected.len(), TABLE.len());
        for (d, m, ts) in expected {
            assert_eq!(d.mapping(), m, "{}", d.name());
            assert_eq!(d.typestr(ByteOrder::Little), ts);
            // type strings parse back to the same dtype
            let (back, order) = NpDType::from_typestr(ts).unwrap();
            assert_eq!(back, d);
            if d.has_byte_order() && d.row().kind != 'V' {
                assert_eq!(order, ByteOrder::Little);
                let (_, big) = NpDType::from_typestr(&d.typestr(ByteOrder::Big)).unwrap();
                assert_eq!(big, ByteOrder::Big);
            }
            // every exact dtype round-trips through candle, and its item size agrees
            if let Exact(c) = m {
                assert_eq!(NpDType::from_candle(c).unwrap(), d);
                assert_eq!(c.size_in_bytes(), d.itemsize());
            }
            assert_eq!(NpDType::from_name(d.name()), Some(d));
        }
    }

    #[test]
    fn type_codes_match_numpy() {
        let codes = "?bhiqBHIQefd";
        for (c, d) in codes.chars().zip(NpDType::all()) {
            assert_eq!(d.row().char, Some(c));
            assert_eq!(NpDType::from_name(&c.to_string()), Some(d));
        }
        assert_eq!(NpDType::from_name("f4"), Some(NpDType::Float32));
        assert_eq!(NpDType::from_name("u2"), Some(NpDType::UInt16));
        assert_eq!(NpDType::from_name("complex64"), None);
    }

    #[test]
    fn refused_dtypes_name_themselves_and_the_fix() {
        for (ts, needle) in [
            ("<c8", "complex"),
            ("|O", "object"),
            ("<U5", "strings"),
            ("|S3", "strings"),
            ("<M8", "datetimes"),
            ("|V8", "fields"),
            ("<f16", "float width"),
            ("xyz", "not a NumPy type string"),
            ("<i3", "no candle dtype"),
            ("", "empty"),
        ] {
            let err = NpDType::from_typestr(ts).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, Error::UnsupportedDType { .. }), "{ts}: {err:?}");
            assert!(msg.contains(needle), "{ts}: {msg}");
            assert!(msg.contains(&format!("unsupported dtype {ts}")), "{ts}: {msg}");
        }
    }

    #[test]
    fn one_byte_types_have_no_byte_order() {
        let (_, o) = NpDType::from_typestr(">u1").unwrap();
        assert_eq!(o, ByteOrder::NATIVE);
        assert_eq!(NpDType::UInt8.typestr(ByteOrder::Big), "|u1");
    }

    #[test]
    fn packed_candle_types_have_no_numpy_twin() {
        let err = NpDType::from_candle(DType::F4).unwrap_err();
        assert!(err.to_string().contains("to_dtype"));
    }
}
