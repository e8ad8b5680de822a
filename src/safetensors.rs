//! `.safetensors` files: save, load (a copy), and memory-map with sharing.
//!
//! A safetensors file is an 8-byte little-endian header length, a JSON header naming each
//! tensor's dtype, shape and byte range, and then the tensors' bytes (little-endian, C order).
//! Writing goes through the `safetensors` crate (the copy candle-core already builds); reading
//! parses the header here, because the loader must name the tensor and the byte range that is
//! wrong in a malformed file (and never panic or allocate what the file does not hold), and must
//! hand out memory-mapped tensors as [`ArrayRef`]s that candle can share.
//!
//! | function | result | copies? |
//! | --- | --- | --- |
//! | [`load`] / [`load_buffer`] / [`read`] | named CPU (or `device`) tensors, in file order | yes: each tensor's bytes copied once into its storage |
//! | [`mmap`] -> [`MappedFile`] | read-only [`ArrayRef`]s over the mapped file, and tensors from them | no ([`MappedFile::tensors`] with `Sharing::Auto` shares what it can) |
//! | [`load_mmap`] | `mmap(path)?.tensors(Sharing::Auto, device)` | no, with the adopting allocator installed; a copy otherwise |
//! | [`save`] / [`serialize`] | a `.safetensors` file / its bytes | writes each tensor's bytes once (C-contiguous little-endian data straight from memory) |
//! | [`read_metadata`] | the `__metadata__` strings | reads the header only |
//!
//! Memory-mapped tensors share the file's pages. The map is private copy-on-write: the tensors
//! are read-only to this crate (its in-place writes refuse, and the Python package's too), and
//! a write that bypasses that check (candle's own `slice_set`, `Var::set`) changes a private
//! copy of the page, never the file, and cannot fault. A tensor whose bytes are not
//! aligned for its dtype, of a dtype candle only holds after widening (`BOOL`, `I8`, `U16`,
//! `U64`), empty, or asked for on another device, is copied by `Sharing::Auto`.
//!
//! | safetensors | NumPy (table row) | candle |
//! | --- | --- | --- |
//! | `U8`, `I16`, `I32`, `I64`, `U32`, `F16`, `BF16`, `F32`, `F64`, `F8_E4M3` | same | same bits (shareable) |
//! | `BOOL`, `I8`, `U16` | `bool`, `int8`, `uint16` | widened on load (`U8`, `I16`, `U32`) |
//! | `U64` | `uint64` | `I64` when every value fits, else an error |
//! | `F8_E5M2`, `F8_E8M0`, `F8_*FNUZ`, `F4`, `F6_*`, `C64` | - | [`Error::UnsupportedDType`] naming the tensor |
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("model.safetensors");
//! use std::collections::HashMap;
//! use candle_core::{Device, Tensor};
//! use candle_numpy::safetensors;
//!
//! let w = Tensor::arange(0f32, 6., &Device::Cpu)?.reshape((2, 3))?;
//! let b = Tensor::new(&[1i64, 2], &Device::Cpu)?;
//! let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
//! safetensors::save(&path, [("w", &w), ("b", &b)], Some(meta.clone()))?;
//!
//! let loaded = safetensors::load(&path, &Device::Cpu)?; // file order: b (I64) before w (F32)
//! assert_eq!(loaded[1].0, "w");
//! assert_eq!(loaded[1].1.to_vec2::<f32>()?, w.to_vec2::<f32>()?);
//! assert_eq!(safetensors::read_metadata(&path)?, meta);
//!
//! let mapped = safetensors::mmap(&path)?;
//! let (name, a) = &mapped.arrays()?[1];
//! assert!(name == "w" && a.is_readonly() && a.shape() == [2, 3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::safetensors::tensor::{Dtype, TensorInfo, View};
use candle_core::{Device, Tensor};

use crate::array::{c_strides, ArrayRef, Buffer, Owner};
use crate::convert::{to_tensor, Options, Sharing};
use crate::dtype::{ByteOrder, NpDType};
use crate::error::{Error, Result};

/// The largest header the format allows (as the `safetensors` crate): 100 MB.
const MAX_HEADER: u64 = 100_000_000;

/// The safetensors dtypes this module reads and writes, for error messages.
pub const SUPPORTED: &str = "BOOL, U8, I8, U16, I16, U32, I32, U64, I64, F16, BF16, F32, F64, F8_E4M3";

/// The safetensors dtype of a NumPy dtype of the table (every row has one).
pub fn to_safetensors_dtype(dtype: NpDType) -> Dtype {
    match dtype {
        NpDType::Bool => Dtype::BOOL,
        NpDType::Int8 => Dtype::I8,
        NpDType::Int16 => Dtype::I16,
        NpDType::Int32 => Dtype::I32,
        NpDType::Int64 => Dtype::I64,
        NpDType::UInt8 => Dtype::U8,
        NpDType::UInt16 => Dtype::U16,
        NpDType::UInt32 => Dtype::U32,
        NpDType::UInt64 => Dtype::U64,
        NpDType::Float16 => Dtype::F16,
        NpDType::Float32 => Dtype::F32,
        NpDType::Float64 => Dtype::F64,
        NpDType::BFloat16 => Dtype::BF16,
        NpDType::Float8E4M3FN => Dtype::F8_E4M3,
    }
}

/// The table row of a safetensors dtype, `None` for the types without one (`F8_E5M2`, `F4`,
/// `C64`, ...).
pub fn from_safetensors_dtype(dtype: Dtype) -> Option<NpDType> {
    Some(match dtype {
        Dtype::BOOL => NpDType::Bool,
        Dtype::I8 => NpDType::Int8,
        Dtype::I16 => NpDType::Int16,
        Dtype::I32 => NpDType::Int32,
        Dtype::I64 => NpDType::Int64,
        Dtype::U8 => NpDType::UInt8,
        Dtype::U16 => NpDType::UInt16,
        Dtype::U32 => NpDType::UInt32,
        Dtype::U64 => NpDType::UInt64,
        Dtype::F16 => NpDType::Float16,
        Dtype::F32 => NpDType::Float32,
        Dtype::F64 => NpDType::Float64,
        Dtype::BF16 => NpDType::BFloat16,
        Dtype::F8_E4M3 => NpDType::Float8E4M3FN,
        _ => return None,
    })
}

/// One tensor of a file's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    /// Its name.
    pub name: String,
    /// Its element type (a row of the dtype table).
    pub dtype: NpDType,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its bytes, `[begin, end)`, relative to the start of the data section.
    pub data_offsets: (usize, usize),
}

/// A parsed and validated header: the tensors cover the data section exactly, in order, without
/// gaps or overlaps, and each range holds exactly its shape's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The tensors, in file (offset) order.
    pub tensors: Vec<TensorEntry>,
    /// The `__metadata__` strings (empty when the file has none).
    pub metadata: HashMap<String, String>,
    /// Offset of the data section from the start of the file (8 + the header length).
    pub data_start: usize,
}

impl Header {
    /// Length of the data section in bytes.
    pub fn data_len(&self) -> usize {
        self.tensors.last().map_or(0, |t| t.data_offsets.1)
    }
}

fn malformed(reason: impl Into<String>) -> Error {
    Error::SafetensorsFormat { source_name: None, reason: reason.into() }
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8], what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => malformed(format!("truncated: the file ends inside {what}")),
        _ => malformed(format!("reading {what}: {e}")),
    })
}

/// Read and validate the header of a safetensors stream of `file_len` bytes, leaving `r` at the
/// first byte of data.
///
/// Every inconsistency is an [`Error::SafetensorsFormat`] naming it: a header length past the
/// end of the file or above the format's 100 MB, a header that is not a JSON object, an entry
/// without `dtype` / `shape` / `data_offsets`, a byte range that does not hold its shape, ranges
/// that overlap or leave gaps, tensors that need more bytes than the file has, or bytes after
/// the last tensor. A dtype without a table row is an [`Error::UnsupportedDType`].
pub fn read_header<R: Read>(r: &mut R, file_len: u64) -> Result<Header> {
    if file_len < 8 {
        return Err(malformed(format!(
            "truncated: the file has {file_len} bytes, fewer than the 8-byte header length (is it a \
             safetensors file?)"
        )));
    }
    let mut len = [0u8; 8];
    read_full(r, &mut len, "the 8-byte header length")?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER {
        return Err(malformed(format!(
            "header length {n} is larger than the 100 MB the format allows (is it a safetensors file?)"
        )));
    }
    if n > file_len - 8 {
        return Err(malformed(format!(
            "truncated: the header length says {n} bytes but only {} follow it",
            file_len - 8
        )));
    }
    let mut text = vec![0u8; n as usize];
    read_full(r, &mut text, "the JSON header")?;
    let header = parse_json(&text, 8 + n as usize)?;
    let need = (8 + n).saturating_add(header.data_len() as u64);
    if file_len < need {
        return Err(malformed(format!(
            "truncated: the tensors need {} bytes of data after the header, the file has {}",
            header.data_len(),
            file_len - 8 - n
        )));
    }
    if file_len > need {
        return Err(malformed(format!(
            "size mismatch: {} bytes follow the last tensor and belong to no tensor",
            file_len - need
        )));
    }
    Ok(header)
}

/// [`read_header`] of a whole file's bytes.
pub fn parse_header(bytes: &[u8]) -> Result<Header> {
    read_header(&mut &bytes[..], bytes.len() as u64)
}

/// A JSON object's members in file order, duplicates kept (a map would keep one silently).
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
                    out.push(member);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Parse and validate a safetensors JSON header whose data section starts at `data_start`:
/// the one validator local files, buffers and remote objects all go through. It checks every
/// entry and the ranges against each other; the caller checks them against the data it has
/// (`Header::data_len` bytes, no more and no less).
pub(crate) fn parse_json(text: &[u8], data_start: usize) -> Result<Header> {
    let Members(object) = serde_json::from_slice(text)
        .map_err(|e| malformed(format!("the header is not a JSON object: {e}")))?;
    let mut seen = std::collections::HashSet::with_capacity(object.len());
    for (name, _) in &object {
        if !seen.insert(name.as_str()) {
            return Err(malformed(format!(
                "the header names {name:?} twice; each tensor (and \"__metadata__\") appears once"
            )));
        }
    }
    let mut metadata = HashMap::new();
    let mut tensors = Vec::with_capacity(object.len());
    for (name, value) in object {
        if name == "__metadata__" {
            metadata = serde_json::from_value(value).map_err(|e| {
                malformed(format!("\"__metadata__\" must be an object of string values: {e}"))
            })?;
            continue;
        }
        let info: TensorInfo = serde_json::from_value(value).map_err(|e| {
            malformed(format!(
                "tensor {name:?}: {e}; each entry needs \"dtype\", \"shape\" and \"data_offsets\": \
                 [begin, end]"
            ))
        })?;
        let dtype = from_safetensors_dtype(info.dtype).ok_or_else(|| Error::UnsupportedDType {
            dtype: format!("{} (tensor {name:?})", info.dtype),
            reason: "this safetensors type has no counterpart in candle-numpy's dtype table; \
                     convert it (e.g. to F32) where the file is written",
            supported: SUPPORTED,
        })?;
        tensors.push(TensorEntry { name, dtype, shape: info.shape, data_offsets: info.data_offsets });
    }
    tensors.sort_by(|a, b| a.data_offsets.cmp(&b.data_offsets).then_with(|| a.name.cmp(&b.name)));
    let mut end = 0usize;
    let mut previous: Option<&str> = None;
    for t in &tensors {
        let (begin, stop) = t.data_offsets;
        let name = &t.name;
        if stop < begin {
            return Err(malformed(format!(
                "tensor {name:?}: data_offsets [{begin}, {stop}] end before they begin"
            )));
        }
        let size = t
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .and_then(|count| count.checked_mul(t.dtype.itemsize()))
            .filter(|&bytes| bytes <= isize::MAX as usize)
            .ok_or_else(|| {
                malformed(format!("tensor {name:?}: shape {:?} is too large to address", t.shape))
            })?;
        if stop - begin != size {
            return Err(malformed(format!(
                "tensor {name:?}: data_offsets [{begin}, {stop}] hold {} bytes but shape {:?} of {} \
                 needs {size}",
                stop - begin,
                t.shape,
                to_safetensors_dtype(t.dtype)
            )));
        }
        if begin < end {
            return Err(malformed(format!(
                "tensor {name:?} (bytes {begin}..{stop}) overlaps tensor {:?}, which ends at byte {end}",
                previous.unwrap_or_default()
            )));
        }
        if begin > end {
            return Err(malformed(format!(
                "bytes {end}..{begin} of the data section belong to no tensor (the gap before tensor \
                 {name:?})"
            )));
        }
        end = stop;
        previous = Some(name);
    }
    Ok(Header { tensors, metadata, data_start })
}

/// Read the next tensor of `entry` from `r` as a CPU tensor (the table's candle dtype).
fn read_tensor<R: Read>(r: &mut R, entry: &TensorEntry) -> Result<Tensor> {
    let nbytes = entry.data_offsets.1 - entry.data_offsets.0;
    if entry.dtype.exact_candle().is_some() && ByteOrder::NATIVE == ByteOrder::Little && nbytes > 0 {
        // straight into the tensor's storage: one pass over the bytes (allocated whole: the
        // header was checked against the stream's length)
        let h = crate::npy::Header {
            dtype: entry.dtype,
            byte_order: ByteOrder::Little,
            fortran_order: false,
            shape: entry.shape.clone(),
        };
        return crate::npy::read_exact_typed(r, &h, usize::MAX).map_err(|e| match e {
            Error::NpyFormat { reason, .. } => malformed(format!("tensor {:?}: {reason}", entry.name)),
            other => other,
        });
    }
    // widening dtypes (and big-endian hosts): the bytes, then the copy kernel
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(nbytes)
        .map_err(|_| Error::allocation::<u8>("reading safetensors data", nbytes))?;
    let got = r
        .take(nbytes as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| malformed(format!("tensor {:?}: reading data: {e}", entry.name)))?;
    if got < nbytes {
        return Err(malformed(format!(
            "tensor {:?}: truncated: the header promises {nbytes} bytes, the file has {got}",
            entry.name
        )));
    }
    let strides = c_strides(&entry.shape, entry.dtype.itemsize());
    let a = ArrayRef::from_bytes(bytes, 0, entry.dtype, ByteOrder::Little, &entry.shape, &strides)?;
    to_tensor(&a, Sharing::Copy, &Options::default())
}

/// Read a whole safetensors stream of `file_len` bytes: its header and every tensor (copied),
/// in file order, on `device`.
pub fn read<R: Read>(r: &mut R, file_len: u64, device: &Device) -> Result<(Header, Vec<(String, Tensor)>)> {
    let header = read_header(r, file_len)?;
    let mut out = Vec::with_capacity(header.tensors.len());
    for entry in &header.tensors {
        let t = read_tensor(r, entry)?;
        let t = if device.is_cpu() { t } else { t.to_device(device)? };
        out.push((entry.name.clone(), t));
    }
    Ok((header, out))
}

/// Load every tensor of a `.safetensors` file (copied into tensors of their own), in file
/// order, on `device`.
///
/// The file is mapped and each tensor copied out by the parallel copy kernel: ~3.5 GB/s for a
/// 1 GiB file against ~0.9 GB/s reading it through `read` (bindings/python/benches/bench_io.py);
/// the map is dropped when the function returns.
pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Vec<(String, Tensor)>> {
    mmap(path)?.tensors(Sharing::Copy, device)
}

/// Load every tensor of a safetensors file held in memory (copied), in file order.
pub fn load_buffer(bytes: &[u8], device: &Device) -> Result<Vec<(String, Tensor)>> {
    read(&mut &bytes[..], bytes.len() as u64, device).map(|(_, tensors)| tensors)
}

/// The `__metadata__` strings of a `.safetensors` file (empty when it has none); reads the
/// header only.
pub fn read_metadata(path: impl AsRef<Path>) -> Result<HashMap<String, String>> {
    let path = path.as_ref();
    let (file, len) = open(path)?;
    let mut r = std::io::BufReader::new(file);
    read_header(&mut r, len).map(|h| h.metadata).map_err(|e| e.in_file(path))
}

fn open(path: &Path) -> Result<(File, u64)> {
    let file =
        File::open(path).map_err(|source| Error::Io { operation: "open", path: path.into(), source })?;
    let len =
        file.metadata().map_err(|source| Error::Io { operation: "stat", path: path.into(), source })?.len();
    Ok((file, len))
}

/// A `.safetensors` file mapped into memory (private copy-on-write), its header validated.
///
/// Arrays and tensors made from it keep the map alive; dropping the `MappedFile` does not
/// invalidate them. As with `np.memmap`, another process truncating the file while it is
/// mapped is outside what can be guarded against (reads would fault).
pub struct MappedFile {
    path: PathBuf,
    header: Header,
    map: Arc<memmap2::MmapMut>,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("tensors", &self.header.tensors.len())
            .field("bytes", &self.map.len())
            .finish()
    }
}

/// Map a `.safetensors` file (no tensor bytes are read); see [`MappedFile`].
pub fn mmap(path: impl AsRef<Path>) -> Result<MappedFile> {
    let path = path.as_ref();
    let (file, _) = open(path)?;
    // SAFETY: a private copy-on-write map: writes through it (candle's own safe writers can
    // write any tensor's storage) land in this process's copies of the pages, never in the file,
    // so no write can fault or change the file. As with np.memmap, another process truncating
    // the file while it is mapped is outside what we can guard against (reads would fault).
    let map = unsafe { memmap2::MmapOptions::new().map_copy(&file) }.map_err(|source| Error::Io {
        operation: "map",
        path: path.into(),
        source,
    })?;
    let header = parse_header(&map).map_err(|e| e.in_file(path))?;
    Ok(MappedFile { path: path.to_path_buf(), header, map: Arc::new(map) })
}

/// Map a `.safetensors` file and make its tensors with `Sharing::Auto`: read-only views of
/// the map where candle can share them (the adopting allocator is installed, the data is
/// aligned, the dtype is exact, `device` is the CPU), copies otherwise.
pub fn load_mmap(path: impl AsRef<Path>, device: &Device) -> Result<Vec<(String, Tensor)>> {
    mmap(path)?.tensors(Sharing::Auto, device)
}

impl MappedFile {
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The validated header (tensors in file order, metadata).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The `__metadata__` strings.
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.header.metadata
    }

    /// A read-only array over one tensor's bytes in the map (no copy).
    pub fn array(&self, name: &str) -> Option<Result<ArrayRef>> {
        self.header.tensors.iter().find(|t| t.name == name).map(|t| self.array_of(t))
    }

    /// Every tensor as a read-only array over the map (no copy), in file order.
    pub fn arrays(&self) -> Result<Vec<(String, ArrayRef)>> {
        self.header.tensors.iter().map(|t| Ok((t.name.clone(), self.array_of(t)?))).collect()
    }

    /// Every tensor, in file order, made from its array with `mode` (read-only sharing
    /// allowed): `Share` fails on the first tensor that cannot be shared, `Auto` copies those,
    /// `Copy` copies all.
    pub fn tensors(&self, mode: Sharing, device: &Device) -> Result<Vec<(String, Tensor)>> {
        // no read-only opt-in: the arrays are over a private copy-on-write map
        let opts = Options::default().device(device.clone());
        self.arrays()?
            .into_iter()
            .map(|(name, a)| {
                let t = to_tensor(&a, mode, &opts).map_err(|e| e.in_file(&self.path))?;
                Ok((name, t))
            })
            .collect()
    }

    fn array_of(&self, t: &TensorEntry) -> Result<ArrayRef> {
        let (begin, end) = t.data_offsets;
        let ptr = self.map.as_ptr().wrapping_add(self.header.data_start + begin);
        let buffer = Buffer { ptr, len: end - begin };
        let owner: Owner = self.map.clone();
        let strides = c_strides(&t.shape, t.dtype.itemsize());
        // SAFETY: parse_header checked that the data section (data_start + data_len) is exactly
        // the rest of the map, and that [begin, end) lies inside it and holds the shape's bytes;
        // the copy-on-write map is kept alive by the owner (an Arc of it); the array is marked
        // read-only; from_raw_parts checks the bounds again.
        let a = unsafe {
            ArrayRef::from_raw_parts(
                ptr,
                t.dtype,
                ByteOrder::Little,
                t.shape.clone(),
                strides,
                true,
                buffer,
                owner,
            )
        }?;
        Ok(a.into_copy_on_write())
    }
}

/// What [`save`] accepts as a tensor: a candle [`Tensor`] (copied to the CPU first when it lives
/// elsewhere) or an [`ArrayRef`] (any dtype of the table, any layout and byte order).
pub trait AsArrayRef {
    /// Describe the data as an array (a view; a device copy for non-CPU tensors).
    fn as_array_ref(&self) -> Result<ArrayRef>;
}

impl AsArrayRef for Tensor {
    fn as_array_ref(&self) -> Result<ArrayRef> {
        if self.device().is_cpu() {
            ArrayRef::from_tensor(self)
        } else {
            ArrayRef::from_tensor(&self.to_device(&Device::Cpu)?)
        }
    }
}

impl AsArrayRef for ArrayRef {
    fn as_array_ref(&self) -> Result<ArrayRef> {
        Ok(self.clone())
    }
}

impl<T: AsArrayRef + ?Sized> AsArrayRef for &T {
    fn as_array_ref(&self) -> Result<ArrayRef> {
        (**self).as_array_ref()
    }
}

/// One tensor being written: safetensors asks it for its bytes once, when it writes them.
struct Entry {
    array: ArrayRef,
    dtype: Dtype,
}

impl View for Entry {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        self.array.shape()
    }
    fn data(&self) -> Cow<'_, [u8]> {
        let a = &self.array;
        if a.is_empty() {
            return Cow::Borrowed(&[]);
        }
        if a.is_c_contiguous() && (a.byte_order() == ByteOrder::Little || a.dtype().itemsize() == 1) {
            // SAFETY: a C-contiguous array's bytes are exactly data_ptr .. data_ptr + nbytes,
            // which from_raw_parts checked lie inside the buffer its owner keeps alive; the
            // owner lives as long as `self` (which the slice borrows); the bytes are only read
            // and every byte pattern is a valid u8. (Concurrent writers are the caller's
            // hazard, as for every shared array; see crate::adopt.)
            return Cow::Borrowed(unsafe { std::slice::from_raw_parts(a.data_ptr(), a.nbytes()) });
        }
        // `View::data` cannot fail: an allocation failure here (a strided or big-endian tensor
        // being saved) is reported the way an infallible allocation would be
        match crate::copy::to_bytes(a, ByteOrder::Little) {
            Ok(bytes) => Cow::Owned(bytes.as_bytes().to_vec()),
            Err(_) => std::alloc::handle_alloc_error(
                std::alloc::Layout::array::<u8>(a.nbytes()).unwrap_or(std::alloc::Layout::new::<u8>()),
            ),
        }
    }
    fn data_len(&self) -> usize {
        self.array.nbytes()
    }
}

fn entries<K, V, I>(tensors: I) -> Result<Vec<(String, Entry)>>
where
    K: AsRef<str>,
    V: AsArrayRef,
    I: IntoIterator<Item = (K, V)>,
{
    let mut out: Vec<(String, Entry)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (name, value) in tensors {
        let name = name.as_ref();
        if name == "__metadata__" {
            return Err(Error::InvalidArgument {
                operation: "safetensors::save",
                argument: "tensor name",
                value: name.to_string(),
                fix: "\"__metadata__\" is the header's metadata key; rename the tensor",
            });
        }
        if !seen.insert(name.to_string()) {
            return Err(Error::InvalidArgument {
                operation: "safetensors::save",
                argument: "tensor name",
                value: format!("{name:?} (given twice)"),
                fix: "give every tensor a distinct name",
            });
        }
        let array = value.as_array_ref()?;
        let dtype = to_safetensors_dtype(array.dtype());
        out.push((name.to_string(), Entry { array, dtype }));
    }
    Ok(out)
}

/// Save named tensors (or arrays) as a `.safetensors` file, with optional `__metadata__`.
///
/// The path comes first, as in [`npy::save`](crate::npy::save) and `np.save` (until 0.1 the
/// tensors came first, as in the `safetensors` crate's `serialize_to_file`).
///
/// The file is written next to `path` and renamed over it at the end, so a file that is
/// memory-mapped (tensors from [`load_mmap`]) is never truncated under its readers. Tensors are
/// laid out as the `safetensors` crate does (by dtype alignment, then name), so every tensor of
/// the file is aligned for its type. Names must be distinct and not `__metadata__`.
pub fn save<K, V, I>(
    path: impl AsRef<Path>,
    tensors: I,
    metadata: Option<HashMap<String, String>>,
) -> Result<()>
where
    K: AsRef<str>,
    V: AsArrayRef,
    I: IntoIterator<Item = (K, V)>,
{
    let path = path.as_ref();
    let entries = entries(tensors)?;
    ::safetensors::serialize_to_file(entries, metadata, path).map_err(|e| match e {
        ::safetensors::SafeTensorError::IoError(source) => {
            Error::Io { operation: "write", path: path.into(), source }
        }
        other => Error::SafetensorsFormat {
            source_name: Some(path.into()),
            reason: format!("cannot write the header: {other}"),
        },
    })
}

/// The bytes of a safetensors file holding `tensors` (see [`save`]).
pub fn serialize<K, V, I>(tensors: I, metadata: Option<HashMap<String, String>>) -> Result<Vec<u8>>
where
    K: AsRef<str>,
    V: AsArrayRef,
    I: IntoIterator<Item = (K, V)>,
{
    ::safetensors::serialize(entries(tensors)?, metadata)
        .map_err(|e| malformed(format!("cannot write the header: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file from a literal JSON header and `data_len` bytes of data.
    fn raw(header: &str, data_len: usize) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend((0..data_len).map(|i| i as u8));
        v
    }

    #[test]
    fn dtype_mapping_round_trips_every_table_row() {
        for d in NpDType::all() {
            assert_eq!(from_safetensors_dtype(to_safetensors_dtype(d)), Some(d), "{d:?}");
        }
        for d in [Dtype::F8_E5M2, Dtype::F8_E8M0, Dtype::F4, Dtype::F6_E2M3, Dtype::C64] {
            assert_eq!(from_safetensors_dtype(d), None, "{d:?}");
        }
    }

    #[test]
    fn header_parses_in_offset_order_with_metadata() {
        let bytes = raw(
            r#"{"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},
                "a":{"dtype":"U8","shape":[2,2],"data_offsets":[0,4]},
                "__metadata__":{"k":"v"}}"#,
            12,
        );
        let h = parse_header(&bytes).unwrap();
        let names: Vec<_> = h.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(h.tensors[1].dtype, NpDType::Float32);
        assert_eq!(h.metadata["k"], "v");
        assert_eq!(h.data_len(), 12);
        assert_eq!(h.data_start, bytes.len() - 12);
    }

    #[test]
    fn malformed_files_are_errors_naming_the_problem() {
        let ok = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![1, 2, 3], "fewer than the 8-byte"),
            (raw(ok, 8)[..20].to_vec(), "only 12 follow"),
            ((u64::MAX).to_le_bytes().to_vec(), "100 MB"),
            (raw("not json", 0), "not a JSON object"),
            (raw("[1, 2]", 0), "not a JSON object"),
            (raw(r#"{"a":{"dtype":"F32","shape":[2]}}"#, 0), "data_offsets"),
            (raw(r#"{"a":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}"#, 8), "tensor \"a\""),
            (raw(r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8), "needs 12"),
            (raw(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, 8), "end before"),
            (raw(ok, 4), "truncated: the tensors need 8"),
            (raw(ok, 9), "1 bytes follow the last tensor"),
            (
                raw(
                    r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                        "b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                    8,
                ),
                "overlaps tensor \"a\"",
            ),
            (raw(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8), "bytes 0..4"),
            (
                raw(r#"{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#, 0),
                "too large",
            ),
            (raw(r#"{"__metadata__":{"k":1}}"#, 0), "string values"),
            (raw(r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4), "tensor \"a\""),
        ];
        for (bytes, needle) in cases {
            let err = load_buffer(&bytes, &Device::Cpu).unwrap_err();
            assert!(matches!(err, Error::SafetensorsFormat { .. }), "{needle}: {err:?}");
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
        let err = load_buffer(
            &raw(r#"{"w":{"dtype":"F8_E5M2","shape":[2],"data_offsets":[0,2]}}"#, 2),
            &Device::Cpu,
        )
        .unwrap_err();
        assert!(matches!(err, Error::UnsupportedDType { .. }), "{err:?}");
        assert!(err.to_string().contains("F8_E5M2 (tensor \"w\")"), "{err}");
    }

    #[test]
    fn offsets_that_overflow_are_refused_without_panicking() {
        // eight ranges of 2^61 - 1 bytes: the data section alone nearly fills a u64, so the
        // header length plus the data would overflow if added unchecked
        let d = (1usize << 61) - 1;
        let entries: Vec<String> = (0..8)
            .map(|i| {
                format!(r#""t{i}":{{"dtype":"U8","shape":[{d}],"data_offsets":[{},{}]}}"#, i * d, (i + 1) * d)
            })
            .collect();
        let bytes = raw(&format!("{{{}}}", entries.join(",")), 0);
        let err = load_buffer(&bytes, &Device::Cpu).unwrap_err();
        assert!(matches!(err, Error::SafetensorsFormat { .. }), "{err:?}");
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn save_borrows_contiguous_views_and_gathers_strided_ones() {
        // a (3, 4) f32 array; the middle two columns of rows 1..3 (offset view, strided)
        let base = ArrayRef::from_vec((0..12).map(|i| i as f32).collect::<Vec<_>>(), &[3, 4]).unwrap();
        let rows = base.sliced(0, 1, 2, 1).unwrap();
        let cols = rows.sliced(1, 1, 2, 1).unwrap();
        let big = base.with_byte_order(ByteOrder::Big);
        let bytes = serialize([("rows", &rows), ("cols", &cols)], None).unwrap();
        let back: HashMap<_, _> = load_buffer(&bytes, &Device::Cpu).unwrap().into_iter().collect();
        assert_eq!(back["rows"].to_vec2::<f32>().unwrap(), [[4., 5., 6., 7.], [8., 9., 10., 11.]]);
        assert_eq!(back["cols"].to_vec2::<f32>().unwrap(), [[5., 6.], [9., 10.]]);
        // big-endian bytes are written little-endian: the values of the swapped reading
        let bytes = serialize([("big", &big)], None).unwrap();
        let back = load_buffer(&bytes, &Device::Cpu).unwrap();
        let want: Vec<f32> = (0..12).map(|i| f32::from_bits((i as f32).to_bits().swap_bytes())).collect();
        assert_eq!(back[0].1.flatten_all().unwrap().to_vec1::<f32>().unwrap(), want);
    }

    #[test]
    fn save_refuses_duplicate_and_reserved_names() {
        let t = Tensor::new(&[1f32], &Device::Cpu).unwrap();
        let err = serialize([("a", &t), ("a", &t)], None).unwrap_err();
        assert!(err.to_string().contains("given twice"), "{err}");
        let err = serialize([("__metadata__", &t)], None).unwrap_err();
        assert!(err.to_string().contains("rename"), "{err}");
    }

    #[test]
    fn without_the_adopting_allocator_auto_copies_and_share_says_why() {
        // (this unit-test binary does not install the allocator; tests/safetensors.rs does)
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let w = Tensor::arange(0f32, 8., &Device::Cpu).unwrap();
        save(&path, [("w", &w)], None).unwrap();
        let mapped = mmap(&path).unwrap();
        let view = mapped.array("w").unwrap().unwrap();
        let t = load_mmap(&path, &Device::Cpu).unwrap().remove(0).1;
        assert!(!crate::shares_memory(&t, &view));
        assert_eq!(t.to_vec1::<f32>().unwrap(), w.to_vec1::<f32>().unwrap());
        let err = mapped.tensors(Sharing::Share, &Device::Cpu).unwrap_err();
        assert!(matches!(err, Error::SharingUnavailable), "{err:?}");
    }
}
