//! The one error type of the crate.
//!
//! Every variant is a noun with fields, and every message names the operation, the offending
//! value and the fix, so that a user who reads only the message knows what to change. Refusals
//! of [`Sharing::Share`](crate::Sharing::Share) all mention the copy that would have worked.
//!
//! The variants are grouped by the layer that raises them (core, formats, data engine,
//! training, distributed, and the optional `s3`, `csv` and `image` modules, whose variants
//! exist only with their feature). A fix that names an API is a [`Fix`], rendered in the
//! caller's language: [`Error::render`]`(Language::Python)` says `cn.tensor(a)` where the Rust
//! message says `Sharing::Copy`.
//!
//! Each variant has one Python exception class ([`Error::python_class`], an exhaustive match
//! without a wildcard, so a new variant does not compile until it is given one). The table is
//! the documented contract, checked by a test against the enum and the mapping:
//!
//! | variant | Python class |
//! | --- | --- |
//! | NegativeStride | ShareError |
//! | StrideNotMultiple | ShareError |
//! | Misaligned | ShareError |
//! | ByteOrder | ShareError |
//! | Widening | ShareDTypeError |
//! | ShareCast | ShareDTypeError |
//! | EmptyShare | ShareError |
//! | NonCpuShare | DeviceError |
//! | ReadOnly | ShareError |
//! | LayoutNotExpressible | ShareError |
//! | SharingUnavailable | ShareError |
//! | Adoption | ShareError |
//! | UnsupportedDType | DTypeError |
//! | OutOfBounds | ShapeError |
//! | ShapeMismatch | ShapeError |
//! | ValueOutOfRange | ShapeError |
//! | DTypeMismatch | DTypeError |
//! | OutputTooLarge | ShapeError |
//! | AllocationFailed | MemoryError |
//! | Interrupted | KeyboardInterrupt |
//! | Candle | ShapeError (DTypeError for candle's dtype errors, DeviceError for its device errors) |
//! | NotOnCpu | DeviceError |
//! | DeviceSpec | ShapeError |
//! | CudaNotCompiled | DeviceError |
//! | CudaUnavailable | DeviceError |
//! | DLPack | DLPackError |
//! | NpyFormat | FileFormatError |
//! | SafetensorsFormat | FileFormatError |
//! | RowsNotContiguous | FileFormatError |
//! | Io | OSError (FileNotFoundError when the file is missing) |
//! | Zip | FileFormatError |
//! | InvalidArgument | ShapeError |
//! | SampleCountMismatch | ShapeError |
//! | NestedBatch | ShapeError |
//! | UnboundedLength | ShapeError |
//! | PrefetchFailed | RuntimeError |
//! | UnknownName | ShapeError |
//! | NotBuilt | ShapeError |
//! | NotCompiled | RuntimeError |
//! | WeightsMismatch | ShapeError |
//! | DistributedEnv | ShapeError |
//! | Distributed | DeviceError |
//! | RemoteUrl | ShapeError |
//! | RemoteNotFound | FileNotFoundError |
//! | RemoteTruncated | FileFormatError |
//! | RemoteAccess | PermissionError |
//! | RemoteStore | OSError |
//! | CsvColumnMissing | ShapeError |
//! | CsvCell | FileFormatError |
//! | CsvFormat | FileFormatError |
//! | ImageFormat | FileFormatError |
//!
//! The package's own classes (`ShareError`, `DTypeError`, ...) derive from `CandleNumpyError`
//! and from the built-in class users already catch (see `python::errors`).

use std::cell::Cell;
use std::fmt;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when moving data between NumPy layouts and candle tensors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- core: sharing refused (a copy would work; `Sharing::Auto` copies on exactly these) ----
    /// Share refused: an axis runs backwards through memory (`a[::-1]`).
    #[error(
        "negative stride {stride} on axis {axis} cannot be shared (candle strides are unsigned); \
         {copy}, or np.ascontiguousarray first",
        copy = Fix::CopyOrAuto
    )]
    NegativeStride {
        /// Axis index.
        axis: usize,
        /// Stride in bytes.
        stride: isize,
    },

    /// A stride is not a whole number of elements (e.g. a field of a structured array).
    #[error(
        "stride {stride} bytes on axis {axis} is not a multiple of the {itemsize}-byte item size \
         of {dtype}; candle cannot address such memory, copy the array first \
         (np.ascontiguousarray)"
    )]
    StrideNotMultiple {
        /// Axis index.
        axis: usize,
        /// Stride in bytes.
        stride: isize,
        /// Item size in bytes.
        itemsize: usize,
        /// NumPy dtype name.
        dtype: &'static str,
    },

    /// Share refused: the data pointer is not aligned for the element type.
    #[error(
        "misaligned data: address {address:#x} is not a multiple of the {align}-byte alignment of \
         {dtype}, so it cannot be shared; {copy}, or np.require(a, requirements='A')",
        copy = Fix::CopyOrAuto
    )]
    Misaligned {
        /// The offending address (data pointer or buffer start).
        address: usize,
        /// Required alignment in bytes.
        align: usize,
        /// NumPy dtype name.
        dtype: &'static str,
    },

    /// Share refused: the bytes are not in this machine's byte order.
    #[error(
        "non-native byte order ({order}-endian {dtype}) cannot be shared; use {copy} \
         (which byte-swaps), or a.astype(a.dtype.newbyteorder('='))",
        copy = Fix::Copy
    )]
    ByteOrder {
        /// NumPy dtype name.
        dtype: &'static str,
        /// "big" or "little".
        order: &'static str,
    },

    /// Share refused: the dtype only converts by widening, which needs a copy.
    #[error(
        "{from} cannot be shared: candle has no {from} type, a copy widens it to {to}; {copy}, \
         or a.astype({to_numpy}) first",
        copy = Fix::CopyOrAuto
    )]
    Widening {
        /// NumPy dtype name.
        from: &'static str,
        /// candle dtype it widens to.
        to: &'static str,
        /// NumPy name of that dtype.
        to_numpy: &'static str,
    },

    /// Share refused: a dtype conversion was requested, which needs a copy.
    #[error(
        "sharing cannot convert {from} to {to}: a cast writes new memory; {copy}, or \
         drop the dtype request",
        copy = Fix::CopyOrAuto
    )]
    ShareCast {
        /// NumPy dtype name of the source.
        from: &'static str,
        /// Requested candle dtype.
        to: &'static str,
    },

    /// No view plan for an array without elements ([`crate::share::share_plan`]); sharing it
    /// (`share`, `to_tensor`) gives an empty tensor instead.
    #[error(
        "empty array of shape {shape:?} has no memory to plan a view of; share it (an empty \
         tensor) or copy it"
    )]
    EmptyShare {
        /// Shape of the array.
        shape: Vec<usize>,
    },

    /// Share refused: the target device is not the CPU.
    #[error(
        "cannot share host memory with device {device}: sharing is CPU-only; {copy} to \
         copy to {device}",
        copy = Fix::CopyOrAuto
    )]
    NonCpuShare {
        /// The requested device.
        device: String,
    },

    /// A read-only array was asked to become something writable.
    #[error(
        "{operation}: the array is read-only (e.g. a read-only memory map or np.frombuffer); \
         {fix}"
    )]
    ReadOnly {
        /// What was attempted.
        operation: &'static str,
        /// How to get what was wanted.
        fix: Fix,
    },

    /// Share refused: the strides describe a layout candle views cannot express.
    #[error(
        "layout with shape {shape:?} and byte strides {strides:?} cannot be expressed as a \
         candle view ({reason}); {copy}, or np.ascontiguousarray first",
        copy = Fix::CopyOrAuto
    )]
    LayoutNotExpressible {
        /// Shape of the array.
        shape: Vec<usize>,
        /// Byte strides of the array.
        strides: Vec<isize>,
        /// What made it impossible.
        reason: &'static str,
    },

    /// Share refused: foreign memory can only be adopted with the adopting allocator.
    #[error(
        "zero-copy import of foreign memory needs candle_numpy's adopting allocator installed \
         as #[global_allocator] in the final binary (the Python extension does this); {copy} \
         here",
        copy = Fix::CopyOrAuto
    )]
    SharingUnavailable,

    /// The adopting allocator refused a block (already shared for another owner, or full).
    #[error("cannot share: {0}; {copy}", copy = Fix::CopyOrAuto)]
    Adoption(crate::adopt::AdoptError),

    // ---- core: values, dtypes, shapes, memory ----
    /// The dtype has no candle counterpart at all.
    #[error("unsupported dtype {dtype}: {reason}; supported: {supported}")]
    UnsupportedDType {
        /// The dtype as the user would spell it.
        dtype: String,
        /// Why, and what to do instead.
        reason: &'static str,
        /// The dtypes that do convert.
        supported: &'static str,
    },

    /// The described array reaches outside the memory its owner keeps alive.
    #[error(
        "array of shape {shape:?} with byte strides {strides:?} reaches bytes {lo}..{hi} of a \
         {len}-byte buffer; the description is inconsistent, fix the shape, strides or offset"
    )]
    OutOfBounds {
        /// Shape.
        shape: Vec<usize>,
        /// Byte strides.
        strides: Vec<isize>,
        /// Lowest byte offset touched (relative to the buffer start; may be negative).
        lo: isize,
        /// One past the highest byte offset touched.
        hi: isize,
        /// Buffer length.
        len: usize,
    },

    /// A shape and strides (or data length) that do not agree.
    #[error("shape mismatch in {operation}: {detail}")]
    ShapeMismatch {
        /// What was attempted.
        operation: &'static str,
        /// The numbers that disagree, and what to do.
        detail: String,
    },

    /// A value does not fit the target dtype (`uint64` above `i64::MAX`).
    #[error(
        "{dtype} value {value} at flat index {index} does not fit {target}; convert with \
         dtype=F64 (exact up to 2^53) or reduce the values first"
    )]
    ValueOutOfRange {
        /// Source dtype name.
        dtype: &'static str,
        /// The offending value, printed.
        value: String,
        /// Flat (C-order) index of the first offending element.
        index: usize,
        /// Target candle dtype.
        target: &'static str,
    },

    /// The tensor's dtype differs from the element type the caller asked for.
    #[error(
        "{operation}: tensor has dtype {actual:?} but {expected:?} was requested; use {to} first",
        to = Fix::ToDType
    )]
    DTypeMismatch {
        /// What was attempted.
        operation: &'static str,
        /// dtype of the tensor.
        actual: candle_core::DType,
        /// dtype asked for.
        expected: candle_core::DType,
    },

    /// An output that would not fit: refused before any work.
    #[error(
        "{operation}: the output of shape {shape:?} would take {bytes} bytes ({gib:.2} GiB), more than \
         the {limit} bytes allowed (the memory available, unless a limit was set); compute it in \
         blocks of rows, or raise the limit (max_output_bytes)",
        gib = *bytes as f64 / (1u64 << 30) as f64
    )]
    OutputTooLarge {
        /// The operation.
        operation: &'static str,
        /// The output shape.
        shape: Vec<usize>,
        /// Its size in bytes.
        bytes: usize,
        /// The limit.
        limit: usize,
    },

    /// A buffer could not be allocated (the process is out of memory or address space, e.g.
    /// under `RLIMIT_AS`). Large buffers are allocated fallibly so this is an error, not an
    /// abort of the process.
    #[error(
        "out of memory: {operation} needs a buffer of {bytes} bytes ({gib:.2} GiB) that could not be \
         allocated; free memory, or work on smaller pieces",
        gib = *bytes as f64 / (1u64 << 30) as f64
    )]
    AllocationFailed {
        /// The operation.
        operation: &'static str,
        /// The size asked for, in bytes.
        bytes: usize,
    },

    /// The caller asked a long computation to stop (Ctrl-C in Python).
    #[error("{operation} was interrupted")]
    Interrupted {
        /// The operation.
        operation: &'static str,
    },

    /// An error raised by candle itself.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    // ---- core: devices and DLPack ----
    /// The operation needs the tensor on the CPU.
    #[error(
        "{operation} needs a CPU tensor, this one is on {device}; {to_cpu} first",
        to_cpu = Fix::ToCpu
    )]
    NotOnCpu {
        /// What was attempted.
        operation: &'static str,
        /// Where the tensor lives.
        device: String,
    },

    /// A device string that does not parse.
    #[error("unknown device {spec:?}: expected \"cpu\", \"cuda\" or \"cuda:N\"")]
    DeviceSpec {
        /// What the user wrote.
        spec: String,
    },

    /// CUDA was requested but the crate was built without it.
    #[error(
        "device {spec} requested but candle-numpy was built without CUDA; rebuild with \
         `--features cuda` on a machine with the CUDA toolkit, or use \"cpu\""
    )]
    CudaNotCompiled {
        /// The requested device.
        spec: String,
    },

    /// CUDA is compiled in, but the device cannot be opened (no GPU, no driver, a driver too
    /// old for the CUDA 13 API, an ordinal past the last GPU).
    #[error(
        "cannot open CUDA device {spec}: {reason}; this needs an NVIDIA GPU with a CUDA 13 driver \
         (check nvidia-smi and the ordinal), or use \"cpu\""
    )]
    CudaUnavailable {
        /// The requested device ("cuda:0").
        spec: String,
        /// What the CUDA driver said.
        reason: String,
    },

    /// A DLPack exchange that cannot be done (device memory, an element type outside the table,
    /// another ABI version, a consumed capsule, a protocol argument that cannot be honoured).
    #[error("{operation} refused: {reason}")]
    DLPack {
        /// "DLPack import" or "DLPack export".
        operation: &'static str,
        /// What is wrong, with the offending value, and what to do instead.
        reason: String,
    },

    // ---- formats: `.npy` / `.npz` / `.safetensors` files and I/O ----
    /// A malformed `.npy` / `.npz` file.
    #[error("malformed .npy data{}: {reason}", source_name.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    NpyFormat {
        /// File (or archive member) when known.
        source_name: Option<PathBuf>,
        /// What is wrong, with the offending bytes or text.
        reason: String,
    },

    /// A malformed `.safetensors` file (header length, JSON, byte ranges, truncation).
    #[error("malformed .safetensors data{}: {reason}", source_name.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    SafetensorsFormat {
        /// File when known.
        source_name: Option<PathBuf>,
        /// What is wrong, with the offending tensor, offsets or bytes.
        reason: String,
    },

    /// A file whose rows are not contiguous (Fortran order) cannot be read row by row.
    #[error(
        "{} stores shape {shape:?} in Fortran order, so its rows are not contiguous in the file and \
         cannot be read one batch at a time; rewrite it in C order \
         (np.save(path, np.ascontiguousarray(np.load(path, mmap_mode='r'))))",
        path.display()
    )]
    RowsNotContiguous {
        /// The file.
        path: PathBuf,
        /// Its shape.
        shape: Vec<usize>,
    },

    /// An I/O failure, with the file it concerns.
    #[error("{operation} {}: {source}", path.display())]
    Io {
        /// What was attempted ("open", "read", "write", "map").
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A `.npz` (zip) container problem.
    #[error("npz archive {}: {source}", path.display())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: zip::result::ZipError,
    },

    // ---- data engine ----
    /// A data-pipeline argument out of range (batch size 0, shard index >= num_shards, ...).
    #[error("{operation}: {argument} {value} is invalid; {fix}")]
    InvalidArgument {
        /// The step or constructor ("batch", "shard", "DataLoader", ...).
        operation: &'static str,
        /// The argument's name.
        argument: &'static str,
        /// The value given.
        value: String,
        /// What to pass instead.
        fix: &'static str,
    },

    /// Dataset fields whose first (sample) dimensions disagree.
    #[error(
        "dataset fields disagree on the number of samples: field {first} has {first_len} \
         samples but field {field} has {len}; every field's first dimension is the sample axis, \
         so slice them to the same length"
    )]
    SampleCountMismatch {
        /// The first field (index or dict key).
        first: String,
        /// Its number of samples.
        first_len: usize,
        /// The field that disagrees.
        field: String,
        /// Its number of samples.
        len: usize,
    },

    /// `batch` applied to an already batched dataset.
    #[error(
        "batch({size}) after batch: nested batches are not supported; batch once with the \
         product of the sizes, or reshape the batches"
    )]
    NestedBatch {
        /// The second batch size.
        size: u64,
    },

    /// `len()` of a dataset whose length is infinite or unknown.
    #[error(
        "len() of a dataset with {cardinality} cardinality; use cardinality(), or take(n) to \
         bound it"
    )]
    UnboundedLength {
        /// "infinite" or "unknown".
        cardinality: &'static str,
    },

    /// The background prefetch thread could not start or failed.
    #[error("prefetch thread failed: {reason}; iterate without prefetch to see the error in place")]
    PrefetchFailed {
        /// What happened.
        reason: String,
    },

    // ---- training (optimizers, losses, models) ----
    /// A name (loss, optimizer, activation, metric, dtype policy) that is not one of the
    /// accepted spellings.
    #[error("unknown {what} {given:?}; valid choices: {}", valid.join(", "))]
    UnknownName {
        /// What was being named ("loss", "optimizer", ...).
        what: &'static str,
        /// The name given.
        given: String,
        /// Every accepted name.
        valid: &'static [&'static str],
    },

    /// A Keras model used before its input width is known.
    #[error(
        "{operation} needs a built model, but the input shape is unknown; give the first layer \
         an input_shape (e.g. {dense}), call {build}, or fit / predict once so the shape is \
         read from x",
        dense = Fix::DenseInputShape,
        build = Fix::Build
    )]
    NotBuilt {
        /// What was attempted ("summary", "save_weights", ...).
        operation: &'static str,
    },

    /// A Keras model trained or evaluated before `compile`.
    #[error("{operation} needs a compiled model; call compile(optimizer, loss, metrics) first")]
    NotCompiled {
        /// What was attempted ("fit", "evaluate").
        operation: &'static str,
    },

    /// A weights file that does not fit the model's architecture.
    #[error(
        "load_weights {}: {reason}; the file was saved from a different architecture, build \
         the same layers (units, input_shape) before loading",
        path.display()
    )]
    WeightsMismatch {
        /// The file.
        path: PathBuf,
        /// The names or shapes that disagree.
        reason: String,
    },

    // ---- distributed ----
    /// A rank / world-size environment variable (`RANK`, `WORLD_SIZE`,
    /// `OMPI_COMM_WORLD_RANK`, ...) that is not a valid number, or a rank outside the world.
    #[error("distributed setup: {variable}={value:?} is invalid; {fix}")]
    DistributedEnv {
        /// The variable (or argument) name.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What to set instead.
        fix: &'static str,
    },

    /// A collective operation of a data-parallel strategy failed, or the ranks disagree
    /// (different parameter counts, MPI already finalized, an NCCL error).
    #[error("{operation}: {detail}")]
    Distributed {
        /// The operation ("all_reduce_mean", "broadcast", "MpiStrategy::new", ...).
        operation: &'static str,
        /// What went wrong and how to fix it.
        detail: String,
    },

    // ---- remote storage (feature `s3`) ----
    /// A URL `remote::load` cannot fetch (scheme, bucket, key or file type).
    #[cfg(feature = "s3")]
    #[error("cannot load {url:?}: {reason}")]
    RemoteUrl {
        /// The URL as given.
        url: String,
        /// What is wrong and what to write instead.
        reason: &'static str,
    },

    /// The bucket has no object under that key (or the bucket does not exist).
    #[cfg(feature = "s3")]
    #[error(
        "object not found: bucket {bucket:?} has no key {key:?} (or there is no such bucket); \
         check the URL (keys are case sensitive) and AWS_ENDPOINT_URL / AWS_REGION"
    )]
    RemoteNotFound {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },

    /// The object is shorter than its own header says.
    #[cfg(feature = "s3")]
    #[error(
        "truncated object {url}: its header says {expected} bytes of data, the object holds {got}; \
         upload the complete file again"
    )]
    RemoteTruncated {
        /// `s3://bucket/key`.
        url: String,
        /// Bytes of data the header promises.
        expected: u64,
        /// Bytes the object actually holds after the header.
        got: u64,
    },

    /// The store refused the credentials (missing, wrong, or without read permission).
    #[cfg(feature = "s3")]
    #[error(
        "access to {url} denied: {reason}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and \
         AWS_SESSION_TOKEN for temporary credentials) to a key allowed to read it"
    )]
    RemoteAccess {
        /// `s3://bucket/key`.
        url: String,
        /// The store's words.
        reason: String,
    },

    /// The store could not be configured or reached (endpoint, network, server error).
    #[cfg(feature = "s3")]
    #[error(
        "{operation} {url}: {reason}; check AWS_ENDPOINT_URL and AWS_REGION (AWS_DEFAULT_REGION), \
         and set AWS_ALLOW_HTTP=true for an http:// endpoint"
    )]
    RemoteStore {
        /// What was attempted ("configure S3 client for", "read").
        operation: &'static str,
        /// `s3://bucket/key`.
        url: String,
        /// The underlying error's words.
        reason: String,
    },

    // ---- CSV (feature `csv`) ----
    /// A CSV column asked for by name that the header does not have, or an index past the
    /// last column.
    #[cfg(feature = "csv")]
    #[error("csv {}: no column {column}; available columns: {}", path.display(), available.join(", "))]
    CsvColumnMissing {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// The column asked for (a quoted name or an index).
        column: String,
        /// The columns the file has.
        available: Vec<String>,
    },

    /// A CSV cell that does not parse as the requested number type.
    #[cfg(feature = "csv")]
    #[error(
        "csv {}: line {line} (data row {row}), column {column:?}: cannot parse {text:?} as \
         {expected}; fix or drop that row",
        path.display()
    )]
    CsvCell {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// 1-based line in the file.
        line: u64,
        /// 1-based data row (the header, if any, is not counted).
        row: u64,
        /// The column's name (or index when there is no header).
        column: String,
        /// The cell as written.
        text: String,
        /// The number type asked for.
        expected: &'static str,
    },

    /// A CSV file the reader cannot split into records (ragged rows, bad quoting, not UTF-8).
    #[cfg(feature = "csv")]
    #[error("csv {}: {reason}", path.display())]
    CsvFormat {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// What is wrong, where.
        reason: String,
    },

    // ---- images (feature `image`) ----
    /// An image file that does not decode.
    #[cfg(feature = "image")]
    #[error("image {}: {reason}", path.display())]
    ImageFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what formats are read.
        reason: String,
    },
}

/// A fix that names an API, spelled in the language of whoever reads the message (see
/// [`Error::render`]). Written as data so that the Python message is not the Rust one with
/// names replaced in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fix {
    /// Copy instead of sharing.
    Copy,
    /// Copy instead of sharing, or let `Auto` decide.
    CopyOrAuto,
    /// Share a read-only array anyway (Rust: the `unsafe` opt-in), or copy it.
    ShareReadOnly,
    /// Write into a copy of a read-only tensor.
    WriteIntoCopy,
    /// Convert the tensor's dtype.
    ToDType,
    /// Move the tensor to the CPU.
    ToCpu,
    /// Give a Keras model's first layer its input shape.
    DenseInputShape,
    /// Build a Keras model for an input shape.
    Build,
}

/// Whose spelling a message uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// The Rust API (`Sharing::Copy`, `tensor.to_device(&Device::Cpu)`): `Display`.
    #[default]
    Rust,
    /// The Python package (`cn.tensor(a)`, `t.cpu()`).
    Python,
}

thread_local! {
    /// The language [`Fix`] renders in while [`Error::render`] formats a message on this
    /// thread. A thread-local rather than a parameter because the messages are `thiserror`
    /// format strings, which only know `Display`.
    static LANGUAGE: Cell<Language> = const { Cell::new(Language::Rust) };
}

impl Fix {
    /// The fix as the given language spells it.
    pub fn spelled(self, language: Language) -> &'static str {
        use Language::{Python, Rust};
        match (self, language) {
            (Fix::Copy, Rust) => "Sharing::Copy",
            (Fix::Copy, Python) => "cn.tensor(a)",
            (Fix::CopyOrAuto, Rust) => "use Sharing::Copy (or Auto)",
            (Fix::CopyOrAuto, Python) => {
                "copy with cn.tensor(a) (or cn.as_tensor(a), which copies only when it must)"
            }
            (Fix::ShareReadOnly, Rust) => {
                "opt in with the unsafe Options::allow_readonly(true) (a promise that nothing \
                 writes the tensor), or use Sharing::Copy"
            }
            (Fix::ShareReadOnly, Python) => "copy with cn.tensor(a)",
            (Fix::WriteIntoCopy, Rust) => {
                "this tensor shares read-only memory (a read-only array, a memory map or a \
                 broadcast); write into a copy (t.copy()) instead"
            }
            (Fix::WriteIntoCopy, Python) => {
                "this tensor shares read-only memory (a read-only array, a memory map or a \
                 broadcast); write into a copy (t.clone()) instead"
            }
            (Fix::ToDType, Rust) => "tensor.to_dtype",
            (Fix::ToDType, Python) => "t.to(dtype)",
            (Fix::ToCpu, Rust) => "call tensor.to_device(&Device::Cpu)",
            (Fix::ToCpu, Python) => "call t.cpu()",
            (Fix::DenseInputShape, Rust) => "Dense::new(16).input_shape(&[10])",
            (Fix::DenseInputShape, Python) => "Dense(16, input_shape=(10,))",
            (Fix::Build, Rust) => "build(&[10])",
            (Fix::Build, Python) => "model.build((None, 10))",
        }
    }
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spelled(LANGUAGE.with(Cell::get)))
    }
}

/// The exception class a Python caller gets for an error ([`Error::python_class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PythonClass {
    /// `DTypeError(CandleNumpyError, TypeError)`.
    DTypeError,
    /// `ShapeError(CandleNumpyError, ValueError)`.
    ShapeError,
    /// `ShareError(CandleNumpyError, ValueError)`.
    ShareError,
    /// `ShareDTypeError(ShareError, TypeError)`.
    ShareDTypeError,
    /// `DeviceError(CandleNumpyError, RuntimeError)`.
    DeviceError,
    /// `DLPackError(CandleNumpyError, BufferError)`.
    DLPackError,
    /// `FileFormatError(CandleNumpyError, ValueError)`.
    FileFormatError,
    /// The built-in `MemoryError`.
    MemoryError,
    /// The built-in `KeyboardInterrupt`.
    KeyboardInterrupt,
    /// The built-in `RuntimeError`.
    RuntimeError,
    /// The built-in `OSError`.
    OSError,
    /// The built-in `FileNotFoundError`.
    FileNotFoundError,
    /// The built-in `PermissionError`.
    PermissionError,
}

impl PythonClass {
    /// The class name as Python spells it.
    pub fn name(self) -> &'static str {
        match self {
            PythonClass::DTypeError => "DTypeError",
            PythonClass::ShapeError => "ShapeError",
            PythonClass::ShareError => "ShareError",
            PythonClass::ShareDTypeError => "ShareDTypeError",
            PythonClass::DeviceError => "DeviceError",
            PythonClass::DLPackError => "DLPackError",
            PythonClass::FileFormatError => "FileFormatError",
            PythonClass::MemoryError => "MemoryError",
            PythonClass::KeyboardInterrupt => "KeyboardInterrupt",
            PythonClass::RuntimeError => "RuntimeError",
            PythonClass::OSError => "OSError",
            PythonClass::FileNotFoundError => "FileNotFoundError",
            PythonClass::PermissionError => "PermissionError",
        }
    }
}

/// The class of one of candle's own errors, by its kind.
fn candle_class(e: &candle_core::Error) -> PythonClass {
    use candle_core::Error as E;
    match e {
        E::WithBacktrace { inner, .. } | E::Context { inner, .. } => candle_class(inner),
        E::UnsupportedDTypeForOp(..) | E::DTypeMismatchBinaryOp { .. } | E::UnexpectedDType { .. } => {
            PythonClass::DTypeError
        }
        E::DeviceMismatchBinaryOp { .. } | E::NotCompiledWithCudaSupport | E::Cuda(_) => {
            PythonClass::DeviceError
        }
        // candle's error enum is open (and not ours): its other kinds are shapes and arguments
        _ => PythonClass::ShapeError,
    }
}

impl From<crate::adopt::AdoptError> for Error {
    fn from(e: crate::adopt::AdoptError) -> Self {
        match e {
            crate::adopt::AdoptError::NotInstalled => Error::SharingUnavailable,
            other => Error::Adoption(other),
        }
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl Error {
    /// Whether this is `Sharing::Share` declining (a copy would work), as opposed to a failure
    /// that a copy would hit too. `Sharing::Auto` copies exactly on these.
    pub fn is_share_refusal(&self) -> bool {
        matches!(
            self,
            Error::NegativeStride { .. }
                | Error::StrideNotMultiple { .. }
                | Error::Misaligned { .. }
                | Error::ByteOrder { .. }
                | Error::Widening { .. }
                | Error::ShareCast { .. }
                | Error::EmptyShare { .. }
                | Error::NonCpuShare { .. }
                | Error::ReadOnly { .. }
                | Error::LayoutNotExpressible { .. }
                | Error::SharingUnavailable
                | Error::Adoption(_)
        )
    }

    /// The message in `language`'s spelling: `Display` is [`Language::Rust`]; the Python
    /// package renders [`Language::Python`], so its messages name `cn.tensor(a)` and `t.cpu()`
    /// where Rust's name `Sharing::Copy` and `tensor.to_device(&Device::Cpu)`.
    pub fn render(&self, language: Language) -> String {
        struct Restore(Language);
        impl Drop for Restore {
            fn drop(&mut self) {
                LANGUAGE.with(|l| l.set(self.0));
            }
        }
        let _restore = Restore(LANGUAGE.with(|l| l.replace(language)));
        match self {
            // candle's message without its backtrace
            Error::Candle(inner) => candle_message(inner),
            other => other.to_string(),
        }
    }

    /// The Python exception class of this error (the table in the [module docs](self)).
    pub fn python_class(&self) -> PythonClass {
        use PythonClass as P;
        match self {
            Error::NegativeStride { .. }
            | Error::StrideNotMultiple { .. }
            | Error::Misaligned { .. }
            | Error::ByteOrder { .. }
            | Error::EmptyShare { .. }
            | Error::ReadOnly { .. }
            | Error::LayoutNotExpressible { .. }
            | Error::SharingUnavailable
            | Error::Adoption(_) => P::ShareError,
            Error::Widening { .. } | Error::ShareCast { .. } => P::ShareDTypeError,
            Error::UnsupportedDType { .. } | Error::DTypeMismatch { .. } => P::DTypeError,
            Error::OutOfBounds { .. }
            | Error::ShapeMismatch { .. }
            | Error::ValueOutOfRange { .. }
            | Error::OutputTooLarge { .. }
            | Error::DeviceSpec { .. }
            | Error::InvalidArgument { .. }
            | Error::SampleCountMismatch { .. }
            | Error::NestedBatch { .. }
            | Error::UnboundedLength { .. }
            | Error::UnknownName { .. }
            | Error::NotBuilt { .. }
            | Error::WeightsMismatch { .. }
            | Error::DistributedEnv { .. } => P::ShapeError,
            Error::AllocationFailed { .. } => P::MemoryError,
            Error::Interrupted { .. } => P::KeyboardInterrupt,
            Error::Candle(inner) => candle_class(inner),
            Error::NonCpuShare { .. }
            | Error::NotOnCpu { .. }
            | Error::CudaNotCompiled { .. }
            | Error::CudaUnavailable { .. }
            | Error::Distributed { .. } => P::DeviceError,
            Error::DLPack { .. } => P::DLPackError,
            Error::NpyFormat { .. }
            | Error::SafetensorsFormat { .. }
            | Error::RowsNotContiguous { .. }
            | Error::Zip { .. } => P::FileFormatError,
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => P::FileNotFoundError,
            Error::Io { .. } => P::OSError,
            // a worker thread died: Keras and torch raise RuntimeError for that
            Error::PrefetchFailed { .. } => P::RuntimeError,
            // Keras raises RuntimeError for a model used before compile()
            Error::NotCompiled { .. } => P::RuntimeError,
            #[cfg(feature = "s3")]
            Error::RemoteUrl { .. } => P::ShapeError,
            #[cfg(feature = "s3")]
            Error::RemoteNotFound { .. } => P::FileNotFoundError,
            #[cfg(feature = "s3")]
            Error::RemoteTruncated { .. } => P::FileFormatError,
            #[cfg(feature = "s3")]
            Error::RemoteAccess { .. } => P::PermissionError,
            #[cfg(feature = "s3")]
            Error::RemoteStore { .. } => P::OSError,
            #[cfg(feature = "csv")]
            Error::CsvColumnMissing { .. } => P::ShapeError,
            #[cfg(feature = "csv")]
            Error::CsvCell { .. } | Error::CsvFormat { .. } => P::FileFormatError,
            #[cfg(feature = "image")]
            Error::ImageFormat { .. } => P::FileFormatError,
        }
    }

    /// An allocation failure of `count` elements of `T` during `operation`.
    pub(crate) fn allocation<T>(operation: &'static str, count: usize) -> Self {
        Error::AllocationFailed { operation, bytes: count.saturating_mul(std::mem::size_of::<T>()) }
    }

    pub(crate) fn npy(reason: impl Into<String>) -> Self {
        Error::NpyFormat { source_name: None, reason: reason.into() }
    }

    /// Attach a file name to `.npy` / `.safetensors` format errors that lack one.
    pub(crate) fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            Error::NpyFormat { source_name: None, reason } => {
                Error::NpyFormat { source_name: Some(path.to_path_buf()), reason }
            }
            Error::SafetensorsFormat { source_name: None, reason } => {
                Error::SafetensorsFormat { source_name: Some(path.to_path_buf()), reason }
            }
            other => other,
        }
    }
}

/// The message of a candle error without its backtrace.
pub fn candle_message(e: &candle_core::Error) -> String {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => candle_message(inner),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One value of every variant (those of the optional modules with their feature).
    fn samples() -> Vec<Error> {
        use candle_core::DType;
        let io = |kind| std::io::Error::new(kind, "boom");
        #[allow(unused_mut)]
        let mut v = vec![
            Error::NegativeStride { axis: 0, stride: -4 },
            Error::StrideNotMultiple { axis: 0, stride: 6, itemsize: 4, dtype: "float32" },
            Error::Misaligned { address: 3, align: 4, dtype: "float32" },
            Error::ByteOrder { dtype: "float32", order: "big" },
            Error::Widening { from: "bool", to: "U8", to_numpy: "np.uint8" },
            Error::ShareCast { from: "float64", to: "F32" },
            Error::EmptyShare { shape: vec![0] },
            Error::NonCpuShare { device: "cuda:0".into() },
            Error::ReadOnly { operation: "sharing as a writable tensor", fix: Fix::ShareReadOnly },
            Error::LayoutNotExpressible { shape: vec![2], strides: vec![4], reason: "r" },
            Error::SharingUnavailable,
            Error::Adoption(crate::adopt::AdoptError::Full { limit: 1 }),
            Error::UnsupportedDType { dtype: "complex64".into(), reason: "r", supported: "s" },
            Error::OutOfBounds { shape: vec![2], strides: vec![4], lo: 0, hi: 8, len: 4 },
            Error::ShapeMismatch { operation: "op", detail: "d".into() },
            Error::ValueOutOfRange { dtype: "uint64", value: "1".into(), index: 0, target: "I64" },
            Error::DTypeMismatch { operation: "op", actual: DType::F32, expected: DType::F64 },
            Error::OutputTooLarge { operation: "cdist", shape: vec![2], bytes: 8, limit: 4 },
            Error::AllocationFailed { operation: "copy", bytes: 8 },
            Error::Interrupted { operation: "cdist" },
            Error::Candle(candle_core::Error::Msg("m".into())),
            Error::NotOnCpu { operation: "op", device: "cuda:0".into() },
            Error::DeviceSpec { spec: "tpu".into() },
            Error::CudaNotCompiled { spec: "cuda:0".into() },
            Error::CudaUnavailable { spec: "cuda:0".into(), reason: "r".into() },
            Error::DLPack { operation: "DLPack import", reason: "r".into() },
            Error::NpyFormat { source_name: None, reason: "r".into() },
            Error::SafetensorsFormat { source_name: None, reason: "r".into() },
            Error::RowsNotContiguous { path: "a.npy".into(), shape: vec![2, 2] },
            Error::Io {
                operation: "open",
                path: "a.npy".into(),
                source: io(std::io::ErrorKind::PermissionDenied),
            },
            Error::Zip { path: "a.npz".into(), source: zip::result::ZipError::FileNotFound },
            Error::InvalidArgument { operation: "batch", argument: "size", value: "0".into(), fix: "f" },
            Error::SampleCountMismatch { first: "0".into(), first_len: 1, field: "1".into(), len: 2 },
            Error::NestedBatch { size: 2 },
            Error::UnboundedLength { cardinality: "infinite" },
            Error::PrefetchFailed { reason: "r".into() },
            Error::UnknownName { what: "loss", given: "x".into(), valid: &["mse"] },
            Error::NotBuilt { operation: "summary" },
            Error::NotCompiled { operation: "fit" },
            Error::WeightsMismatch { path: "w.safetensors".into(), reason: "r".into() },
            Error::DistributedEnv { variable: "RANK", value: "x".into(), fix: "f" },
            Error::Distributed { operation: "all_reduce_mean", detail: "d".into() },
        ];
        #[cfg(feature = "s3")]
        v.extend([
            Error::RemoteUrl { url: "s3://b".into(), reason: "r" },
            Error::RemoteNotFound { bucket: "b".into(), key: "k".into() },
            Error::RemoteTruncated { url: "s3://b/k".into(), expected: 2, got: 1 },
            Error::RemoteAccess { url: "s3://b/k".into(), reason: "r".into() },
            Error::RemoteStore { operation: "read", url: "s3://b/k".into(), reason: "r".into() },
        ]);
        #[cfg(feature = "csv")]
        v.extend([
            Error::CsvColumnMissing { path: "a.csv".into(), column: "y".into(), available: vec!["x".into()] },
            Error::CsvCell {
                path: "a.csv".into(),
                line: 2,
                row: 1,
                column: "x".into(),
                text: "?".into(),
                expected: "f32",
            },
            Error::CsvFormat { path: "a.csv".into(), reason: "r".into() },
        ]);
        #[cfg(feature = "image")]
        v.push(Error::ImageFormat { path: "a.png".into(), reason: "r".into() });
        v
    }

    fn variant_name(e: &Error) -> String {
        format!("{e:?}").chars().take_while(|c| c.is_ascii_alphanumeric()).collect()
    }

    /// The variants declared in this file's `enum Error`, in order.
    #[cfg(all(feature = "s3", feature = "csv", feature = "image"))]
    fn declared_variants() -> Vec<String> {
        let src = include_str!("error.rs");
        let body = &src[src.find("pub enum Error {").unwrap()..];
        let body = &body[..body.find("\n}\n").unwrap()];
        body.lines()
            .filter_map(|l| l.strip_prefix("    "))
            .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
            .map(|l| l.chars().take_while(|c| c.is_ascii_alphanumeric()).collect())
            .collect()
    }

    /// The module docs' table: variant -> the first word of its class cell.
    fn documented_classes() -> Vec<(String, String)> {
        include_str!("error.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! | "))
            .filter(|l| !l.starts_with("variant") && !l.starts_with("---"))
            .map(|l| {
                let mut cells = l.split(" | ");
                let variant = cells.next().unwrap().trim().to_string();
                let class = cells.next().unwrap().split_whitespace().next().unwrap().to_string();
                (variant, class)
            })
            .collect()
    }

    #[test]
    #[cfg(all(feature = "s3", feature = "csv", feature = "image"))]
    fn every_variant_has_a_sample_and_a_documented_class() {
        let mut sampled: Vec<String> = samples().iter().map(variant_name).collect();
        let mut declared = declared_variants();
        let mut documented: Vec<String> = documented_classes().into_iter().map(|(v, _)| v).collect();
        sampled.sort();
        declared.sort();
        documented.sort();
        assert_eq!(sampled, declared, "a variant without a sample (add it to samples())");
        assert_eq!(documented, declared, "the module docs' table must list every variant once");
    }

    #[test]
    fn every_variant_maps_to_its_documented_class() {
        let table = documented_classes();
        for e in samples() {
            let name = variant_name(&e);
            let (_, documented) = table.iter().find(|(v, _)| *v == name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(e.python_class().name(), documented, "{name}");
        }
        // the documented exceptions to the first word
        let missing = Error::Io {
            operation: "open",
            path: "a.npy".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(missing.python_class(), PythonClass::FileNotFoundError);
        let dtype = Error::Candle(candle_core::Error::UnsupportedDTypeForOp(candle_core::DType::U8, "exp"));
        assert_eq!(dtype.python_class(), PythonClass::DTypeError);
        let device = Error::Candle(candle_core::Error::NotCompiledWithCudaSupport);
        assert_eq!(device.python_class(), PythonClass::DeviceError);
    }

    #[test]
    fn python_messages_name_python_calls_and_rust_messages_rust_calls() {
        for e in samples() {
            let (rust, python) = (e.to_string(), e.render(Language::Python));
            for rust_only in ["Sharing::", "Options::", "&Device", "&[", "::new(", "DType::F32)"] {
                assert!(!python.contains(rust_only), "{}: {python}", variant_name(&e));
            }
            // rendering restores the thread's language
            assert_eq!(e.to_string(), rust);
        }
        let e = Error::NegativeStride { axis: 0, stride: -4 };
        assert!(e.to_string().contains("use Sharing::Copy (or Auto)"), "{e}");
        assert!(e.render(Language::Python).contains("copy with cn.tensor(a)"));
        let e = Error::NotOnCpu { operation: "numpy", device: "cuda:0".into() };
        assert!(e.render(Language::Python).contains("call t.cpu() first"), "{e}");
        assert!(e.to_string().contains("call tensor.to_device(&Device::Cpu) first"), "{e}");
    }
}
