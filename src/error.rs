//! The one error type of the crate.
//!
//! Every variant is a noun with fields, and every message names the operation, the offending
//! value and the fix, so that a user who reads only the message knows what to change. Refusals
//! of [`Sharing::Share`](crate::Sharing::Share) all mention the copy that would have worked.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when moving data between NumPy layouts and candle tensors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Share refused: an axis runs backwards through memory (`a[::-1]`).
    #[error(
        "negative stride {stride} on axis {axis} cannot be shared (candle strides are unsigned); \
         use Sharing::Copy (or Auto), or np.ascontiguousarray first"
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
         {dtype}, so it cannot be shared; use Sharing::Copy (or Auto), or np.require(a, \
         requirements='A')"
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
        "non-native byte order ({order}-endian {dtype}) cannot be shared; use Sharing::Copy \
         (which byte-swaps), or a.astype(a.dtype.newbyteorder('='))"
    )]
    ByteOrder {
        /// NumPy dtype name.
        dtype: &'static str,
        /// "big" or "little".
        order: &'static str,
    },

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

    /// Share refused: the dtype only converts by widening, which needs a copy.
    #[error(
        "{from} cannot be shared: candle has no {from} type, a copy widens it to {to}; use \
         Sharing::Copy (or Auto), or a.astype({to_numpy}) first"
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
        "sharing cannot convert {from} to {to}: a cast writes new memory; use Sharing::Copy \
         (or Auto), or drop the dtype request"
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
        "cannot share host memory with device {device}: sharing is CPU-only; use Sharing::Copy \
         (or Auto) to copy to {device}"
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
        fix: &'static str,
    },

    /// Share refused: the strides describe a layout candle views cannot express.
    #[error(
        "layout with shape {shape:?} and byte strides {strides:?} cannot be expressed as a \
         candle view ({reason}); use Sharing::Copy (or Auto), or np.ascontiguousarray first"
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
         as #[global_allocator] in the final binary (the Python extension does this); use \
         Sharing::Copy (or Auto) here"
    )]
    SharingUnavailable,

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
        "{operation}: tensor has dtype {actual:?} but {expected:?} was requested; use tensor.to_dtype first"
    )]
    DTypeMismatch {
        /// What was attempted.
        operation: &'static str,
        /// dtype of the tensor.
        actual: candle_core::DType,
        /// dtype asked for.
        expected: candle_core::DType,
    },

    /// The operation needs the tensor on the CPU.
    #[error(
        "{operation} needs a CPU tensor, this one is on {device}; call tensor.to_device(&Device::Cpu) first"
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

    /// The adopting allocator refused a block (already shared for another owner, or full).
    #[error("cannot share: {0}; use Sharing::Copy (or Auto)")]
    Adoption(crate::adopt::AdoptError),

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
         an input_shape (e.g. Dense::new(16).input_shape(&[10])), call build(&[10]), or fit / \
         predict once so the shape is read from x"
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

    /// A URL `remote::load` cannot fetch (scheme, bucket, key or file type).
    #[error("cannot load {url:?}: {reason}")]
    RemoteUrl {
        /// The URL as given.
        url: String,
        /// What is wrong and what to write instead.
        reason: &'static str,
    },

    /// The bucket has no object under that key (or the bucket does not exist).
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

    /// A CSV column asked for by name that the header does not have, or an index past the
    /// last column.
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
    #[error("csv {}: {reason}", path.display())]
    CsvFormat {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// What is wrong, where.
        reason: String,
    },

    /// An image file that does not decode.
    #[error("image {}: {reason}", path.display())]
    ImageFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what formats are read.
        reason: String,
    },

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

    /// An error raised by candle itself.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
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
