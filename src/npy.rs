//! `.npy` and `.npz` files: read, write and memory-map every dtype of the table, C and Fortran
//! order, both byte orders.
//!
//! candle-core has an `npy` module of its own; this one exists because the adapter needs what
//! that one does not give: every NumPy dtype of the table (int8, uint16, bool, uint64 widen on
//! load), big-endian data, Fortran order without a transposing copy, memory maps handed out as
//! [`ArrayRef`]s, and malformed headers reported as errors naming the problem rather than
//! panics.
//!
//! | function | result | copies? |
//! | --- | --- | --- |
//! | [`load`] / [`read`] | a `Tensor` | reads once into the tensor's storage for native, exact dtypes; other dtypes go through the copy kernel |
//! | [`mmap`] | a read-only [`ArrayRef`] over the mapped file | no |
//! | [`save`] / [`write_array`] | a `.npy` file | writes the bytes, swapping or reordering if asked |
//! | [`load_npz`] / [`save_npz`] / [`save_npz_arrays`] | named tensors (arrays) in a zip | as above, per member |
//!
//! bfloat16 and float8_e4m3fn are written with the descr `'bfloat16'` / `'float8_e4m3fn'`,
//! which `np.load` reads once `ml_dtypes` is imported.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Tensor};

use crate::array::{c_strides, f_strides, ArrayRef, Buffer, Element};
use crate::convert::{to_tensor, Options, Sharing};
use crate::dtype::{ByteOrder, NpDType};
use crate::error::{Error, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy aligns the start of the data to this many bytes.
const ALIGN: usize = 64;

/// The parsed header of a `.npy` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Element type.
    pub dtype: NpDType,
    /// Byte order of the stored elements.
    pub byte_order: ByteOrder,
    /// Whether the data is stored column-major.
    pub fortran_order: bool,
    /// Shape.
    pub shape: Vec<usize>,
}

impl Header {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes of data after the header.
    pub fn data_len(&self) -> usize {
        self.len() * self.dtype.itemsize()
    }
    /// Byte strides of the stored layout.
    pub fn strides(&self) -> Vec<isize> {
        if self.fortran_order {
            f_strides(&self.shape, self.dtype.itemsize())
        } else {
            c_strides(&self.shape, self.dtype.itemsize())
        }
    }

    /// The header as bytes (magic, version, length, dict, padding), version 1.0 when it fits.
    pub fn to_bytes(&self) -> Vec<u8> {
        let shape = match self.shape.len() {
            1 => format!("({},)", self.shape[0]),
            _ => format!("({})", self.shape.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")),
        };
        let dict = format!(
            "{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}",
            self.dtype.typestr(self.byte_order),
            if self.fortran_order { "True" } else { "False" },
            shape
        );
        let (version, len_bytes) = if dict.len() + 1 + 10 <= u16::MAX as usize { (1u8, 2) } else { (2u8, 4) };
        let unpadded = MAGIC.len() + 2 + len_bytes + dict.len() + 1;
        let total = unpadded.div_ceil(ALIGN) * ALIGN;
        let header_len = total - MAGIC.len() - 2 - len_bytes;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[version, 0]);
        if len_bytes == 2 {
            out.extend_from_slice(&(header_len as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header_len as u32).to_le_bytes());
        }
        out.extend_from_slice(dict.as_bytes());
        out.resize(total - 1, b' ');
        out.push(b'\n');
        out
    }
}

/// Parse a header from the start of `bytes`; returns it and the offset of the data.
pub fn parse_header(bytes: &[u8]) -> Result<(Header, usize)> {
    let mut cursor = bytes;
    read_header(&mut cursor)
}

/// Read a header from `r`, leaving it at the first byte of data; returns the header and the
/// data offset from the start of the file.
pub fn read_header<R: Read>(r: &mut R) -> Result<(Header, usize)> {
    read_header_hinted(r, None)
}

/// [`read_header`], reading a void descr (`'<V2'`, `'<V1'`: what `np.save` writes for
/// ml_dtypes arrays) as `hint` when that is `BF16` / `F8E4M3` of the same width.
fn read_header_hinted<R: Read>(r: &mut R, hint: Option<candle_core::DType>) -> Result<(Header, usize)> {
    let mut prefix = [0u8; 8];
    read_full(r, &mut prefix, "the 8-byte magic and version")?;
    if &prefix[..6] != MAGIC {
        return Err(Error::npy(format!(
            "bad magic {:?}: not a .npy file (expected b\"\\x93NUMPY\")",
            String::from_utf8_lossy(&prefix[..6])
        )));
    }
    let (major, minor) = (prefix[6], prefix[7]);
    let header_len = match major {
        1 => {
            let mut b = [0u8; 2];
            read_full(r, &mut b, "the header length")?;
            u16::from_le_bytes(b) as usize
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            read_full(r, &mut b, "the header length")?;
            u32::from_le_bytes(b) as usize
        }
        _ => {
            return Err(Error::npy(format!(
                "unsupported format version {major}.{minor} (1.0, 2.0 and 3.0 are known)"
            )))
        }
    };
    const MAX_HEADER: usize = 1 << 20;
    if header_len > MAX_HEADER {
        return Err(Error::npy(format!("header length {header_len} is implausibly large")));
    }
    let mut text = vec![0u8; header_len];
    read_full(r, &mut text, "the header")?;
    let text = std::str::from_utf8(&text).map_err(|_| Error::npy("header is not valid text"))?;
    let header = parse_dict(text, hint)?;
    let offset = 8 + if major == 1 { 2 } else { 4 } + header_len;
    Ok((header, offset))
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8], what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::npy(format!("truncated: the file ends inside {what}")),
        _ => Error::npy(format!("reading {what}: {e}")),
    })
}

/// A value of the tiny Python-literal language `.npy` headers use.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Bool(bool),
    Int(u64),
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> Error {
        let text = String::from_utf8_lossy(self.s);
        Error::npy(format!("bad header dict at byte {}: {what} in {:?}", self.pos, text.trim_end()))
    }
    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn value(&mut self, depth: usize) -> Result<Lit> {
        if depth > 32 {
            return Err(self.err("nesting too deep"));
        }
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                self.pos += 1;
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos] != q {
                    self.pos += 1;
                }
                if self.pos >= self.s.len() {
                    return Err(self.err("unterminated string"));
                }
                let v = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                self.pos += 1;
                Ok(Lit::Str(v))
            }
            Some(b'(') => {
                self.pos += 1;
                Ok(Lit::Tuple(self.items(b')', depth)?))
            }
            Some(b'[') => {
                self.pos += 1;
                Ok(Lit::List(self.items(b']', depth)?))
            }
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                loop {
                    if self.eat(b'}') {
                        break;
                    }
                    let k = self.value(depth + 1)?;
                    if !self.eat(b':') {
                        return Err(self.err("expected ':'"));
                    }
                    let v = self.value(depth + 1)?;
                    entries.push((k, v));
                    if !self.eat(b',') {
                        if self.eat(b'}') {
                            break;
                        }
                        return Err(self.err("expected ',' or '}'"));
                    }
                }
                Ok(Lit::Dict(entries))
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
                let n = text.parse::<u64>().map_err(|_| self.err("integer too large"))?;
                // Python 2 long suffix, written by very old NumPy
                if self.pos < self.s.len() && self.s[self.pos] == b'L' {
                    self.pos += 1;
                }
                Ok(Lit::Int(n))
            }
            Some(b'T') if self.s[self.pos..].starts_with(b"True") => {
                self.pos += 4;
                Ok(Lit::Bool(true))
            }
            Some(b'F') if self.s[self.pos..].starts_with(b"False") => {
                self.pos += 5;
                Ok(Lit::Bool(false))
            }
            Some(b'-') => Err(self.err("negative number")),
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end")),
        }
    }
    fn items(&mut self, close: u8, depth: usize) -> Result<Vec<Lit>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
            if !self.eat(b',') {
                if self.eat(close) {
                    return Ok(items);
                }
                return Err(self.err("expected ',' or a closing bracket"));
            }
        }
    }
}

fn parse_dict(text: &str, hint: Option<candle_core::DType>) -> Result<Header> {
    let mut p = Parser { s: text.as_bytes(), pos: 0 };
    let lit = p.value(0)?;
    if p.peek().is_some() {
        return Err(p.err("trailing characters after the dict"));
    }
    let Lit::Dict(entries) = lit else {
        return Err(Error::npy(format!("header is not a dict: {:?}", text.trim_end())));
    };
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (k, v) in entries {
        match k {
            Lit::Str(k) if k == "descr" => descr = Some(v),
            Lit::Str(k) if k == "fortran_order" => fortran = Some(v),
            Lit::Str(k) if k == "shape" => shape = Some(v),
            other => {
                return Err(Error::npy(format!(
                    "unexpected key {other:?} in header (expected descr, fortran_order, shape)"
                )))
            }
        }
    }
    let missing = |k: &str| Error::npy(format!("header has no '{k}' key: {:?}", text.trim_end()));
    let (dtype, byte_order) = match descr.ok_or_else(|| missing("descr"))? {
        Lit::Str(s) => match (s.as_str(), hint) {
            ("<V2" | "|V2" | ">V2", Some(candle_core::DType::BF16)) => (NpDType::BFloat16, ByteOrder::NATIVE),
            ("<V1" | "|V1" | ">V1", Some(candle_core::DType::F8E4M3)) => {
                (NpDType::Float8E4M3FN, ByteOrder::NATIVE)
            }
            _ => NpDType::from_typestr(&s)?,
        },
        Lit::List(_) => {
            return Err(Error::UnsupportedDType {
                dtype: "structured".into(),
                reason: "structured .npy files hold records, not one numeric type; load the fields \
                         with NumPy and convert them one by one",
                supported: crate::dtype::SUPPORTED,
            })
        }
        other => return Err(Error::npy(format!("'descr' must be a string, found {other:?}"))),
    };
    let fortran_order = match fortran.ok_or_else(|| missing("fortran_order"))? {
        Lit::Bool(b) => b,
        other => return Err(Error::npy(format!("'fortran_order' must be True or False, found {other:?}"))),
    };
    let shape = match shape.ok_or_else(|| missing("shape"))? {
        Lit::Tuple(items) => items
            .into_iter()
            .map(|d| match d {
                Lit::Int(n) => usize::try_from(n).map_err(|_| Error::npy(format!("dimension {n} too large"))),
                other => Err(Error::npy(format!("shape entries must be integers, found {other:?}"))),
            })
            .collect::<Result<Vec<usize>>>()?,
        other => return Err(Error::npy(format!("'shape' must be a tuple, found {other:?}"))),
    };
    let count = shape.iter().try_fold(1usize, |a, &n| a.checked_mul(n));
    if count.and_then(|c| c.checked_mul(dtype.itemsize())).is_none_or(|b| b > isize::MAX as usize) {
        return Err(Error::npy(format!("shape {shape:?} is too large to address")));
    }
    Ok(Header { dtype, byte_order, fortran_order, shape })
}

/// Read a whole `.npy` stream into an owned, read-only [`ArrayRef`] (the raw bytes, any dtype
/// of the table, as stored).
pub fn read_array<R: Read>(r: &mut R) -> Result<ArrayRef> {
    let (h, offset) = read_header(r)?;
    let bytes = read_data(r, h.data_len())?;
    ArrayRef::from_bytes(bytes, 0, h.dtype, h.byte_order, &h.shape, &h.strides()).map_err(|e| match e {
        Error::OutOfBounds { .. } => {
            Error::npy(format!("data at offset {offset} does not match shape {:?}", h.shape))
        }
        other => other,
    })
}

/// Read exactly `len` bytes, then insist the stream ends there.
fn read_data<R: Read>(r: &mut R, len: usize) -> Result<Vec<u8>> {
    // read in bounded steps so a lying header cannot make us allocate its claim up front
    let mut bytes = Vec::new();
    let first = len.min(UNTRUSTED_PREALLOC);
    bytes.try_reserve_exact(first).map_err(|_| Error::allocation::<u8>("reading .npy data", first))?;
    // read_to_end grows fallibly, reporting a failure as ErrorKind::OutOfMemory
    let got = r.take(len as u64).read_to_end(&mut bytes).map_err(|e| match e.kind() {
        std::io::ErrorKind::OutOfMemory => Error::allocation::<u8>("reading .npy data", len),
        _ => Error::npy(format!("reading data: {e}")),
    })?;
    if got < len {
        return Err(Error::npy(format!(
            "truncated: the header promises {len} bytes of data, the file has {got}"
        )));
    }
    check_no_trailing(r, len)?;
    Ok(bytes)
}

fn check_no_trailing<R: Read>(r: &mut R, len: usize) -> Result<()> {
    let mut extra = [0u8; 1];
    match r.read(&mut extra) {
        Ok(0) => Ok(()),
        Ok(_) => {
            Err(Error::npy(format!("size mismatch: more data follows the {len} bytes the shape describes")))
        }
        Err(e) => Err(Error::npy(format!("reading data: {e}"))),
    }
}

/// Read a `.npy` stream into a CPU tensor (dtype by the table, or `opts.dtype`).
///
/// Native-order data of a dtype candle holds exactly is read straight into the tensor's
/// storage; Fortran-order data becomes a permuted view of it. Everything else (byte swapping,
/// widening, casting) goes through the copy kernel.
///
/// `np.save` writes ml_dtypes arrays with a void descr (`'<V2'` for bfloat16, `'<V1'` for
/// float8_e4m3fn), losing the type; pass `opts.dtype` `BF16` / `F8E4M3` to read such a file as
/// that type. Files this crate writes name the type (`'bfloat16'`) and need no hint.
pub fn read<R: Read>(r: &mut R, opts: &Options) -> Result<Tensor> {
    read_sized(r, opts, None)
}

/// [`read`] of a stream that holds `available` bytes from the start of the header (a file of
/// that size) when known: a header promising more data is refused before anything is
/// allocated, and the tensor is allocated whole up front. Streams of unknown length get at
/// most [`UNTRUSTED_PREALLOC`] bytes up front, more as their data arrives, so a lying header
/// cannot make us allocate what the stream does not hold.
fn read_sized<R: Read>(r: &mut R, opts: &Options, available: Option<u64>) -> Result<Tensor> {
    let (h, offset) = read_header_hinted(r, opts.dtype)?;
    if let Some(total) = available {
        let have = total.saturating_sub(offset as u64);
        if h.data_len() as u64 > have {
            return Err(Error::npy(format!(
                "truncated: the header promises {} bytes of data, the file has {have}",
                h.data_len()
            )));
        }
    }
    let exact = h.dtype.exact_candle();
    if exact.is_some()
        && h.byte_order == ByteOrder::NATIVE
        && opts.dtype.is_none_or(|d| Some(d) == exact)
        && !h.is_empty()
    {
        let prealloc = if available.is_some() { usize::MAX } else { UNTRUSTED_PREALLOC };
        let t = read_exact_typed(r, &h, prealloc)?;
        check_no_trailing(r, h.data_len())?;
        return if opts.device.is_cpu() { Ok(t) } else { Ok(t.to_device(&opts.device)?) };
    }
    let bytes = read_data(r, h.data_len())?;
    let a = ArrayRef::from_bytes(bytes, 0, h.dtype, h.byte_order, &h.shape, &h.strides())?;
    to_tensor(&a, Sharing::Copy, opts)
}

/// Bytes allocated up front for the data of a stream whose length is unknown.
pub(crate) const UNTRUSTED_PREALLOC: usize = 64 << 20;

/// Read the data of `h` (a native-order dtype candle holds exactly, non-empty) straight into a
/// tensor's storage. At most `prealloc` bytes are allocated before data arrives; the storage
/// grows (doubling) toward the header's size as long as the stream keeps delivering, so only
/// a stream whose length was checked should pass `usize::MAX`.
pub(crate) fn read_exact_typed<R: Read>(r: &mut R, h: &Header, prealloc: usize) -> Result<Tensor> {
    fn go<T: candle_core::WithDType + Element, R: Read>(
        r: &mut R,
        h: &Header,
        prealloc: usize,
    ) -> Result<Tensor> {
        let n = h.len();
        let size = std::mem::size_of::<T>();
        let mut v: Vec<T> = zeroed_vec(n.min((prealloc / size).max(1)))?;
        let mut got = 0;
        loop {
            let bytes = as_bytes_mut(&mut v);
            while got < bytes.len() {
                match r.read(&mut bytes[got..]) {
                    Ok(0) => break,
                    Ok(k) => got += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::npy(format!("reading data: {e}"))),
                }
            }
            if got < bytes.len() || v.len() == n {
                break;
            }
            // the stream has delivered all we allocated: grow toward n
            let want = n.min(v.len().saturating_mul(2));
            grow(&mut v, want)?;
        }
        let len = n * size;
        if got < len {
            return Err(Error::npy(format!(
                "truncated: the header promises {len} bytes of data, the file has {got}"
            )));
        }
        let t = if h.fortran_order {
            let rev: Vec<usize> = h.shape.iter().rev().copied().collect();
            let axes: Vec<usize> = (0..rev.len()).rev().collect();
            Tensor::from_vec(v, rev, &Device::Cpu)?.permute(axes)?
        } else {
            Tensor::from_vec(v, h.shape.as_slice(), &Device::Cpu)?
        };
        Ok(t)
    }
    use half::{bf16, f16};
    match h.dtype {
        NpDType::UInt8 => go::<u8, R>(r, h, prealloc),
        NpDType::UInt32 => go::<u32, R>(r, h, prealloc),
        NpDType::Int16 => go::<i16, R>(r, h, prealloc),
        NpDType::Int32 => go::<i32, R>(r, h, prealloc),
        NpDType::Int64 => go::<i64, R>(r, h, prealloc),
        NpDType::Float16 => go::<f16, R>(r, h, prealloc),
        NpDType::BFloat16 => go::<bf16, R>(r, h, prealloc),
        NpDType::Float32 => go::<f32, R>(r, h, prealloc),
        NpDType::Float64 => go::<f64, R>(r, h, prealloc),
        NpDType::Float8E4M3FN => go::<float8::F8E4M3, R>(r, h, prealloc),
        other => unreachable!("{} has no exact candle dtype", other.name()),
    }
}

/// A `Vec<T>` of `n` elements whose bytes `fill` writes (they start zeroed): how readers put
/// file bytes straight into a tensor's storage without an intermediate buffer.
pub(crate) fn filled_vec<T: Element>(n: usize, fill: impl FnOnce(&mut [u8]) -> Result<()>) -> Result<Vec<T>> {
    let mut v: Vec<T> = zeroed_vec(n)?;
    fill(as_bytes_mut(&mut v))?;
    Ok(v)
}

/// The elements of `v` as bytes, to be overwritten with file or network data.
pub(crate) fn as_bytes_mut<T: Element>(v: &mut [T]) -> &mut [u8] {
    // SAFETY: T is a plain-bits number type (every byte pattern valid, no padding, see
    // `Element`), so its initialised elements may be viewed and overwritten as bytes; the view
    // borrows `v` mutably, so nothing else uses the elements meanwhile.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// Grow the non-empty `v` to `len` elements, fallibly (an allocation failure is
/// [`Error::AllocationFailed`]); the new elements hold copies of `v[0]` until overwritten.
pub(crate) fn grow<T: Element>(v: &mut Vec<T>, len: usize) -> Result<()> {
    let more = len.saturating_sub(v.len());
    v.try_reserve_exact(more).map_err(|_| Error::allocation::<T>("reading tensor data", len))?;
    let filler = v[0];
    v.resize(len, filler);
    Ok(())
}

/// A Vec of `n` all-zero-bits elements, from zeroed pages (no writing pass for large sizes).
/// Allocated fallibly: a failure (or a size past the address space) is
/// [`Error::AllocationFailed`] naming the size, never an abort.
pub(crate) fn zeroed_vec<T: Element>(n: usize) -> Result<Vec<T>> {
    if n == 0 || std::mem::size_of::<T>() == 0 {
        return Ok(Vec::new());
    }
    let failed = || Error::allocation::<T>("allocating tensor storage", n);
    let layout = std::alloc::Layout::array::<T>(n).map_err(|_| failed())?;
    // SAFETY: the layout has non-zero size and is allocated with the global allocator.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(failed());
    }
    // SAFETY: a non-null block of exactly `layout` (n elements of T) from the global allocator;
    // all-zero bits are a valid value of every Element type (integers, IEEE floats, bool
    // false), so all n elements are initialised.
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

/// Load a `.npy` file as a CPU tensor (dtype by the table).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("a.npy");
/// use candle_core::{Device, Tensor};
/// let t = Tensor::arange(0f32, 6., &Device::Cpu)?.reshape((2, 3))?;
/// candle_numpy::npy::save(&path, &t)?;
/// let back = candle_numpy::npy::load(&path)?;
/// assert_eq!(back.to_vec2::<f32>()?, t.to_vec2::<f32>()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load(path: impl AsRef<Path>) -> Result<Tensor> {
    load_with(path, &Options::default())
}

/// Load a `.npy` file with a dtype / device request.
pub fn load_with(path: impl AsRef<Path>, opts: &Options) -> Result<Tensor> {
    let path = path.as_ref();
    let file =
        File::open(path).map_err(|source| Error::Io { operation: "open", path: path.into(), source })?;
    let len =
        file.metadata().map_err(|source| Error::Io { operation: "stat", path: path.into(), source })?.len();
    let mut r = std::io::BufReader::with_capacity(1 << 16, file);
    read_sized(&mut r, opts, Some(len)).map_err(|e| e.in_file(path))
}

/// Memory-map a `.npy` file and describe its data as a read-only [`ArrayRef`] (no copy).
///
/// The map stays alive as long as the array (or anything shared from it) does. It is a
/// private copy-on-write map ([`ArrayRef::is_copy_on_write`]): this crate refuses writes
/// through it, as `np.load(mmap_mode="r")` does, and a write that bypasses that check (candle's
/// own `Tensor::slice_set` or `Var::set` on a shared tensor) changes a private copy of the page,
/// never the file. Tensors are made from it with [`to_tensor`]: `Sharing::Copy` always works;
/// `Sharing::Share` needs the adopting allocator (and no read-only opt-in).
///
/// Cost of copy-on-write: none until a page is written; the map counts toward the kernel's
/// commit charge, which matters only under strict overcommit (`vm.overcommit_memory=2`).
pub fn mmap(path: impl AsRef<Path>) -> Result<ArrayRef> {
    let path = path.as_ref();
    let file =
        File::open(path).map_err(|source| Error::Io { operation: "open", path: path.into(), source })?;
    // SAFETY: a private copy-on-write map: writes through it (candle's own safe writers can
    // write any tensor's storage) land in this process's copies of the pages, never in the file,
    // so no write can fault or change the file. As with np.memmap, another process truncating
    // the file while it is mapped is outside what we can guard against (reads would fault).
    let map = unsafe { memmap2::MmapOptions::new().map_copy(&file) }.map_err(|source| Error::Io {
        operation: "map",
        path: path.into(),
        source,
    })?;
    let (h, offset) = parse_header(&map).map_err(|e| e.in_file(path))?;
    let need = offset + h.data_len();
    if map.len() != need {
        let what = if map.len() < need { "truncated" } else { "size mismatch" };
        return Err(Error::npy(format!(
            "{what}: header and shape {:?} need {need} bytes, the file has {}",
            h.shape,
            map.len()
        ))
        .in_file(path));
    }
    let buffer = Buffer { ptr: map.as_ptr().wrapping_add(offset), len: h.data_len() };
    let strides = h.strides();
    // SAFETY: the buffer lies inside the copy-on-write map (readable and writable), which the
    // owner (the Arc'd map) keeps alive; the array is marked read-only (this crate refuses
    // writes, as np.load(mmap_mode="r")); bounds are checked again by from_raw_parts.
    let a = unsafe {
        ArrayRef::from_raw_parts(
            buffer.ptr,
            h.dtype,
            h.byte_order,
            h.shape,
            strides,
            true,
            buffer,
            Arc::new(map),
        )
    }?;
    Ok(a.into_copy_on_write())
}

/// How to lay out a written `.npy` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Store column-major (`fortran_order: True`).
    pub fortran_order: bool,
    /// Byte order of the stored elements.
    pub byte_order: ByteOrder,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions { fortran_order: false, byte_order: ByteOrder::NATIVE }
    }
}

/// Write any array of the table as `.npy` to `w`.
pub fn write_array<W: Write>(w: &mut W, a: &ArrayRef, opts: &WriteOptions) -> Result<()> {
    let header = Header {
        dtype: a.dtype(),
        // ml_dtypes types are written by name, which carries no byte order: always native
        byte_order: if a.dtype().has_byte_order() && a.dtype().row().kind != 'V' {
            opts.byte_order
        } else {
            ByteOrder::NATIVE
        },
        fortran_order: opts.fortran_order && a.ndim() > 1,
        shape: a.shape().to_vec(),
    };
    let io = |e: std::io::Error| Error::npy(format!("writing: {e}"));
    w.write_all(&header.to_bytes()).map_err(io)?;
    // Fortran order is the C order of the transposed array
    let src = if header.fortran_order { a.transposed() } else { a.clone() };
    let bytes = crate::copy::to_bytes(&src, header.byte_order)?;
    w.write_all(bytes.as_bytes()).map_err(io)?;
    Ok(())
}

/// Save a tensor (copied to the CPU if needed) as `.npy`, C order, native byte order.
pub fn save(path: impl AsRef<Path>, t: &Tensor) -> Result<()> {
    save_with(path, t, &WriteOptions::default())
}

/// Save a tensor as `.npy` with a layout / byte-order choice.
pub fn save_with(path: impl AsRef<Path>, t: &Tensor, opts: &WriteOptions) -> Result<()> {
    let t = if t.device().is_cpu() { t.clone() } else { t.to_device(&Device::Cpu)? };
    save_array(path, &ArrayRef::from_tensor(&t)?, opts)
}

/// Save any array of the table (e.g. `int8`, `bool`, big-endian data) as `.npy`.
///
/// The file is written next to `path` and renamed over it at the end (as [`save_npz`] and
/// `safetensors::save` do), so a file that is memory-mapped (tensors from `load_mmap`) is
/// never rewritten or truncated under its readers: they keep the old contents.
pub fn save_array(path: impl AsRef<Path>, a: &ArrayRef, opts: &WriteOptions) -> Result<()> {
    let path = path.as_ref();
    write_replacing(path, |w| write_array(w, a, opts).map_err(|e| e.in_file(path)))
}

/// Write a file through `body` into a temporary file in `path`'s directory, then rename it
/// over `path` (atomic on POSIX file systems). The temporary file is removed on failure.
fn write_replacing(path: &Path, body: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let io = |operation| move |source| Error::Io { operation, path: path.into(), source };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let written = (|| {
        let file = File::create(&tmp).map_err(io("create"))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        body(&mut w)?;
        w.flush().map_err(io("write"))?;
        drop(w);
        std::fs::rename(&tmp, path).map_err(io("rename a temporary file over"))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Load every array of a `.npz` archive (stored or deflated), in archive order, with the
/// `.npy` suffix removed from the names.
pub fn load_npz(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    load_npz_with(path, &Options::default())
}

/// [`load_npz`] with a dtype / device request applied to every member.
pub fn load_npz_with(path: impl AsRef<Path>, opts: &Options) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    let zip_err = |source| Error::Zip { path: path.into(), source };
    let file =
        File::open(path).map_err(|source| Error::Io { operation: "open", path: path.into(), source })?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(zip_err)?;
    let mut out = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(zip_err)?;
        let name = member.name().map_err(zip_err)?.to_string();
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        let t = read(&mut member, opts).map_err(|e| e.in_file(&path.join(&name)))?;
        out.push((key, t));
    }
    Ok(out)
}

/// Save named tensors as a `.npz` archive (`np.savez`; `compress` gives `np.savez_compressed`).
pub fn save_npz<S: AsRef<str>>(
    path: impl AsRef<Path>,
    tensors: &[(S, &Tensor)],
    compress: bool,
) -> Result<()> {
    let arrays = tensors
        .iter()
        .map(|(name, t)| {
            let t = if t.device().is_cpu() { (*t).clone() } else { t.to_device(&Device::Cpu)? };
            Ok((name.as_ref(), ArrayRef::from_tensor(&t)?))
        })
        .collect::<Result<Vec<_>>>()?;
    save_npz_arrays(path, &arrays, compress)
}

/// Save named arrays of any dtype of the table (e.g. `int8`, `bool`) as a `.npz` archive.
pub fn save_npz_arrays<S: AsRef<str>>(
    path: impl AsRef<Path>,
    arrays: &[(S, ArrayRef)],
    compress: bool,
) -> Result<()> {
    let path = path.as_ref();
    let zip_err = |source| Error::Zip { path: path.into(), source };
    write_replacing(path, |w| {
        let mut zw = zip::ZipWriter::new(w);
        for (name, a) in arrays {
            let method =
                if compress { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(method)
                .large_file(a.nbytes() >= u32::MAX as usize / 2);
            zw.start_file(format!("{}.npy", name.as_ref()), options).map_err(zip_err)?;
            write_array(&mut zw, a, &WriteOptions::default())?;
        }
        zw.finish().map_err(zip_err)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_allocations_are_errors_not_aborts() {
        let err = zeroed_vec::<f32>(usize::MAX / 2).unwrap_err();
        assert!(matches!(err, Error::AllocationFailed { .. }), "{err}");
        let err = zeroed_vec::<u8>(1 << 60).unwrap_err();
        assert!(err.to_string().contains(&format!("{} bytes", 1u64 << 60)), "{err}");
        let mut v = vec![1u32];
        let err = grow(&mut v, 1 << 60).unwrap_err();
        assert!(matches!(err, Error::AllocationFailed { .. }), "{err}");
        grow(&mut v, 3).unwrap();
        assert_eq!(v, [1, 1, 1]);
    }

    #[test]
    fn header_round_trip_and_alignment() {
        for (shape, fortran) in
            [(vec![], false), (vec![3], false), (vec![2, 3, 4], true), (vec![0, 5], false)]
        {
            let h =
                Header { dtype: NpDType::Float32, byte_order: ByteOrder::Big, fortran_order: fortran, shape };
            let bytes = h.to_bytes();
            assert_eq!(bytes.len() % 64, 0);
            assert_eq!(*bytes.last().unwrap(), b'\n');
            let (back, offset) = parse_header(&bytes).unwrap();
            assert_eq!(back, h);
            assert_eq!(offset, bytes.len());
        }
    }

    #[test]
    fn numpy_written_headers_parse() {
        let (h, _) =
            parse_header(&raw("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }")).unwrap();
        assert_eq!(h.shape, vec![2, 3]);
        assert_eq!(h.dtype, NpDType::Int64);
        let (h, _) = parse_header(&raw("{'descr': '|b1', 'fortran_order': True, 'shape': (5,)}")).unwrap();
        assert!(h.fortran_order && h.shape == vec![5] && h.dtype == NpDType::Bool);
        let (h, _) =
            parse_header(&raw("{\"shape\": (), \"descr\": \">f8\", \"fortran_order\": False}")).unwrap();
        assert_eq!(h.byte_order, ByteOrder::Big);
        assert!(h.shape.is_empty());
        // Python 2 longs
        let (h, _) =
            parse_header(&raw("{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }")).unwrap();
        assert_eq!(h.shape, vec![3, 4]);
    }

    fn raw(dict: &str) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&[1, 0]);
        v.extend_from_slice(&((dict.len() + 1) as u16).to_le_bytes());
        v.extend_from_slice(dict.as_bytes());
        v.push(b'\n');
        v
    }

    #[test]
    fn malformed_dicts_are_errors_naming_the_problem() {
        let cases = [
            ("{'descr': '<f4', 'fortran_order': False}", "no 'shape'"),
            ("{'descr': '<f4', 'shape': (2,)}", "no 'fortran_order'"),
            ("{'fortran_order': False, 'shape': (2,)}", "no 'descr'"),
            ("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", "True or False"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", "tuple"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", "negative"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': ('a',)}", "integers"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", "unexpected key"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", "expected ','"),
            ("{'descr': '<f4", "unterminated"),
            ("[1, 2]", "not a dict"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", "trailing"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999)}", "too large"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}", "too large"),
            ("{'descr': 7, 'fortran_order': False, 'shape': (2,)}", "must be a string"),
        ];
        for (dict, needle) in cases {
            let err = parse_header(&raw(dict)).unwrap_err();
            assert!(matches!(err, Error::NpyFormat { .. }), "{dict}: {err:?}");
            assert!(err.to_string().contains(needle), "{dict}: {err}");
        }
        let err = parse_header(&raw("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,)}"))
            .unwrap_err();
        assert!(err.to_string().contains("structured"), "{err}");
        let err = parse_header(&raw("{'descr': '<c16', 'fortran_order': False, 'shape': (2,)}")).unwrap_err();
        assert!(matches!(err, Error::UnsupportedDType { .. }), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let dict = format!("{{'descr': {}1{}}}", "(".repeat(10000), ")".repeat(10000));
        let err = parse_header(&raw(&dict)).unwrap_err();
        assert!(err.to_string().contains("too deep"), "{err}");
    }

    #[test]
    fn a_header_promising_more_than_the_stream_holds_is_an_error_not_an_allocation() {
        // (found by fuzzing: the data was allocated whole from the header's shape, so a tiny
        // stream claiming 4 TiB aborted the process)
        let mut bytes = Header {
            dtype: NpDType::Float32,
            byte_order: ByteOrder::NATIVE,
            fortran_order: false,
            shape: vec![1 << 40],
        }
        .to_bytes();
        bytes.extend_from_slice(&[0; 8]);
        let err = read(&mut &bytes[..], &Options::default()).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("liar.npy");
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.to_string().contains("the file has 8"), "{err}");
    }

    #[test]
    fn streams_of_unknown_length_grow_the_storage_as_data_arrives() {
        let h = Header {
            dtype: NpDType::Int32,
            byte_order: ByteOrder::NATIVE,
            fortran_order: true,
            shape: vec![3, 7],
        };
        let data: Vec<u8> = (0..21i32).flat_map(|v| v.to_ne_bytes()).collect();
        for prealloc in [1, 4, 8, 60, usize::MAX] {
            let t = read_exact_typed(&mut &data[..], &h, prealloc).unwrap();
            assert_eq!(t.dims(), &[3, 7]);
            assert_eq!(t.to_vec2::<i32>().unwrap()[2], (0..7).map(|c| 2 + 3 * c).collect::<Vec<_>>());
            let err = read_exact_typed(&mut &data[..50], &h, prealloc).unwrap_err();
            assert!(err.to_string().contains("promises 84 bytes of data, the file has 50"), "{err}");
        }
    }
}
