//! Arrays straight from S3-compatible object storage (feature `s3`): `.npy`, `.npz` and
//! `.safetensors` objects behind `s3://bucket/key` URLs.
//!
//! The client is `object_store`'s `AmazonS3`, configured from the usual environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` /
//! `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` for MinIO / Ceph / a local server, and
//! `AWS_ALLOW_HTTP=true` for an `http://` endpoint). Each call runs on a small current-thread
//! tokio runtime created inside it, so callers need no async runtime of their own.
//!
//! | object | requests | copies |
//! | --- | --- | --- |
//! | `.npy` | a range request for the header, then one for the data | the body's chunks land straight in the tensor's storage (native byte order, a dtype candle holds exactly); other dtypes go through the copy kernel |
//! | `.safetensors` | the 8-byte length, the JSON header, then one range per tensor | each tensor's bytes land straight in its own storage |
//! | `.npz` | the whole object (a zip needs its central directory, at the end) | parsed from memory like [`npy::load_npz`] |
//!
//! Sizes are checked against the object's length before the data is fetched: an object
//! shorter than its header promises is [`Error::RemoteTruncated`] without downloading the body.
//! The loaders are generic over [`ObjectStore`], so they also read from any other store
//! (`object_store::memory::InMemory` in the tests).
//!
//! ```no_run
//! use candle_numpy::remote::{self, Loaded};
//! // AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL) set
//! match remote::load("s3://my-bucket/features/x.npy")? {
//!     Loaded::Tensor(t) => println!("{:?}", t.shape()),
//!     Loaded::Named(tensors) => println!("{} tensors", tensors.len()),
//! }
//! let weights = remote::load("s3://my-bucket/model.safetensors")?.into_named();
//! # Ok::<(), candle_numpy::Error>(())
//! ```

use std::fmt;
use std::io::Cursor;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use candle_core::{Device, Tensor};
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};

use crate::array::{ArrayRef, Element};
use crate::convert::{to_tensor, Options, Sharing};
use crate::dtype::{ByteOrder, NpDType};
use crate::error::{Error, Result};
use crate::npy::{self, Header};

/// Bytes fetched for a `.npy` header: enough for every header NumPy writes for arrays of up to
/// a few hundred dimensions; a longer header costs a second request.
const NPY_PROBE: u64 = 4096;
/// A safetensors JSON header larger than this is refused (as the `safetensors` crate does).
const MAX_SAFETENSORS_HEADER: u64 = 100 << 20;

/// An `s3://bucket/key` URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    bucket: String,
    key: String,
}

impl S3Url {
    /// Parse `s3://bucket/key` (`s3a://` is accepted as a synonym).
    ///
    /// ```
    /// let u = candle_numpy::remote::S3Url::parse("s3://data/train/x.npy")?;
    /// assert_eq!((u.bucket(), u.key()), ("data", "train/x.npy"));
    /// # Ok::<(), candle_numpy::Error>(())
    /// ```
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |reason| Error::RemoteUrl { url: url.to_string(), reason };
        let rest = url
            .strip_prefix("s3://")
            .or_else(|| url.strip_prefix("s3a://"))
            .ok_or_else(|| bad("only s3:// URLs are supported (s3://bucket/key)"))?;
        let (bucket, key) =
            rest.split_once('/').ok_or_else(|| bad("the URL has no key; write s3://bucket/key"))?;
        if bucket.is_empty() {
            return Err(bad("the URL has no bucket; write s3://bucket/key"));
        }
        if key.is_empty() || key.ends_with('/') {
            return Err(bad("the key names a folder, not an object; write s3://bucket/key"));
        }
        // the key is used as is (object_store percent-encodes it once, for the request); keys
        // it cannot address are refused here rather than silently turned into another key
        if key.starts_with('/') || ObjectPath::parse(key).is_err() {
            return Err(bad(
                "the key has an empty segment (`//` or a leading `/`), a `.` or `..` segment, or \
                 a control character, which the object-store client cannot address; copy the \
                 object to a key without them",
            ));
        }
        Ok(S3Url { bucket: bucket.to_string(), key: key.to_string() })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key inside the bucket.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The file type, from the key's extension.
    pub fn format(&self) -> Result<Format> {
        let key = self.key.to_ascii_lowercase();
        if key.ends_with(".npy") {
            Ok(Format::Npy)
        } else if key.ends_with(".npz") {
            Ok(Format::Npz)
        } else if key.ends_with(".safetensors") {
            Ok(Format::Safetensors)
        } else {
            Err(Error::RemoteUrl {
                url: self.to_string(),
                reason: "unknown file type; the key must end in .npy, .npz or .safetensors",
            })
        }
    }

    /// The key as an object path, verbatim: `ObjectPath::from` would percent-encode `%`, `~`,
    /// `?`, `#`, `*`, ... once more, naming another object.
    fn path(&self) -> ObjectPath {
        // parse checked the key when the URL was made
        ObjectPath::parse(&self.key).unwrap_or_else(|_| ObjectPath::from(self.key.as_str()))
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// The file types [`load`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One array (`np.save`).
    Npy,
    /// Named arrays in a zip (`np.savez`, `np.savez_compressed`).
    Npz,
    /// Named tensors (`safetensors.save_file`).
    Safetensors,
}

/// What [`load`] returns: one tensor for `.npy`, named tensors (in file order) otherwise.
#[derive(Debug, Clone)]
pub enum Loaded {
    /// The array of a `.npy` object.
    Tensor(Tensor),
    /// The arrays of a `.npz` or `.safetensors` object, with their names.
    Named(Vec<(String, Tensor)>),
}

impl Loaded {
    /// The named tensors; a single `.npy` tensor is named `"arr_0"` (as `np.savez` would).
    pub fn into_named(self) -> Vec<(String, Tensor)> {
        match self {
            Loaded::Tensor(t) => vec![("arr_0".to_string(), t)],
            Loaded::Named(v) => v,
        }
    }
}

/// Load `s3://bucket/key` (`.npy`, `.npz` or `.safetensors`) with the S3 client configured from
/// the environment (see the module docs).
pub fn load(url: &str) -> Result<Loaded> {
    let url = S3Url::parse(url)?;
    url.format()?;
    let store = s3_store(&url)?;
    load_from(&store, &url)
}

/// The S3 client for `url`'s bucket, configured from the `AWS_*` environment variables.
///
/// Retries are bounded (3 attempts within 30 s) so a wrong endpoint fails in seconds rather
/// than minutes.
pub fn s3_store(url: &S3Url) -> Result<object_store::aws::AmazonS3> {
    let retry = object_store::RetryConfig {
        backoff: object_store::BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    };
    object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(&url.bucket)
        .with_retry(retry)
        .build()
        .map_err(|e| Error::RemoteStore {
            operation: "configure the S3 client for",
            url: url.to_string(),
            reason: e.to_string(),
        })
}

/// Load `url`'s object from `store` (which must already point at `url`'s bucket), the format
/// chosen by the key's extension. Runs on a current-thread runtime created for the call.
///
/// ```
/// use object_store::{memory::InMemory, path::Path, ObjectStoreExt};
/// use candle_numpy::remote::{load_from, S3Url};
///
/// let t = candle_core::Tensor::new(&[1f32, 2., 3.], &candle_core::Device::Cpu)?;
/// let mut npy = Vec::new();
/// candle_numpy::npy::write_array(&mut npy, &candle_numpy::ArrayRef::from_tensor(&t)?, &Default::default())?;
/// let store = InMemory::new();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(store.put(&Path::from("x.npy"), npy.into())).unwrap();
///
/// let back = load_from(&store, &S3Url::parse("s3://any/x.npy")?)?.into_named();
/// assert_eq!(back[0].1.to_vec1::<f32>()?, [1., 2., 3.]);
/// # Ok::<(), candle_numpy::Error>(())
/// ```
pub fn load_from<S: ObjectStore + ?Sized>(store: &S, url: &S3Url) -> Result<Loaded> {
    let format = url.format()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
        Error::RemoteStore {
            operation: "start the I/O runtime for",
            url: url.to_string(),
            reason: e.to_string(),
        }
    })?;
    rt.block_on(async {
        Ok(match format {
            Format::Npy => Loaded::Tensor(fetch_npy(store, url).await?),
            Format::Npz => Loaded::Named(fetch_npz(store, url).await?),
            Format::Safetensors => Loaded::Named(fetch_safetensors(store, url).await?),
        })
    })
}

/// An `object_store` error as ours, naming the URL.
fn store_error(url: &S3Url, e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { .. } => {
            Error::RemoteNotFound { bucket: url.bucket.clone(), key: url.key.clone() }
        }
        object_store::Error::PermissionDenied { source, .. }
        | object_store::Error::Unauthenticated { source, .. } => {
            Error::RemoteAccess { url: url.to_string(), reason: source.to_string() }
        }
        other => Error::RemoteStore { operation: "read", url: url.to_string(), reason: other.to_string() },
    }
}

/// Bytes `range` of the object, and the object's total size.
async fn get_range<S: ObjectStore + ?Sized>(
    store: &S,
    url: &S3Url,
    range: Range<u64>,
) -> Result<(Vec<u8>, u64)> {
    let opts = GetOptions { range: Some(GetRange::Bounded(range)), ..Default::default() };
    let result = store.get_opts(&url.path(), opts).await.map_err(|e| store_error(url, e))?;
    let size = result.meta.size;
    let bytes = result.bytes().await.map_err(|e| store_error(url, e))?;
    Ok((bytes.to_vec(), size))
}

/// The object's size (a HEAD request).
async fn object_size<S: ObjectStore + ?Sized>(store: &S, url: &S3Url) -> Result<u64> {
    Ok(store.head(&url.path()).await.map_err(|e| store_error(url, e))?.size)
}

async fn fetch_npy<S: ObjectStore + ?Sized>(store: &S, url: &S3Url) -> Result<Tensor> {
    let size = object_size(store, url).await?;
    let name = || PathBuf::from(url.to_string());
    if size < 10 {
        return Err(Error::npy(format!("truncated: the object is {size} bytes, shorter than a .npy header"))
            .in_file(&name()));
    }
    let (mut head, _) = get_range(store, url, 0..NPY_PROBE.min(size)).await?;
    let needed = npy_header_len(&head).map_err(|e| e.in_file(&name()))?;
    if needed > head.len() as u64 && needed <= size {
        head = get_range(store, url, 0..needed).await?.0;
    }
    let (header, offset) = npy::parse_header(&head).map_err(|e| e.in_file(&name()))?;
    fetch_array(store, url, offset as u64..size, header).await.map_err(|e| e.in_file(&name()))
}

/// Total header length (magic to data) that the first bytes of a `.npy` file declare.
fn npy_header_len(bytes: &[u8]) -> Result<u64> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        // parse_header names the exact problem
        npy::parse_header(bytes)?;
    }
    Ok(match bytes[6] {
        1 => 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as u64,
        _ if bytes.len() >= 12 => 12 + u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as u64,
        _ => 12,
    })
}

/// Fetch the array `header` describes from bytes `data` of the object, checking first that the
/// object holds exactly that many bytes.
async fn fetch_array<S: ObjectStore + ?Sized>(
    store: &S,
    url: &S3Url,
    data: Range<u64>,
    header: Header,
) -> Result<Tensor> {
    let expected = header.data_len() as u64;
    let got = data.end - data.start;
    if got < expected {
        return Err(Error::RemoteTruncated { url: url.to_string(), expected, got });
    }
    if got > expected {
        return Err(Error::npy(format!(
            "size mismatch: {got} bytes follow the header, the shape {:?} describes {expected}",
            header.shape
        )));
    }
    let exact = header.dtype.exact_candle();
    if exact.is_some() && header.byte_order == ByteOrder::NATIVE && !header.is_empty() {
        use half::{bf16, f16};
        return match header.dtype {
            NpDType::UInt8 => stream_typed::<u8, S>(store, url, data, &header).await,
            NpDType::UInt32 => stream_typed::<u32, S>(store, url, data, &header).await,
            NpDType::Int16 => stream_typed::<i16, S>(store, url, data, &header).await,
            NpDType::Int32 => stream_typed::<i32, S>(store, url, data, &header).await,
            NpDType::Int64 => stream_typed::<i64, S>(store, url, data, &header).await,
            NpDType::Float16 => stream_typed::<f16, S>(store, url, data, &header).await,
            NpDType::BFloat16 => stream_typed::<bf16, S>(store, url, data, &header).await,
            NpDType::Float32 => stream_typed::<f32, S>(store, url, data, &header).await,
            NpDType::Float64 => stream_typed::<f64, S>(store, url, data, &header).await,
            NpDType::Float8E4M3FN => stream_typed::<float8::F8E4M3, S>(store, url, data, &header).await,
            other => unreachable!("{} has no exact candle dtype", other.name()),
        };
    }
    // byte-swapped, widened (int8, uint16, bool, uint64) or empty: the bytes, then the copy kernel
    let mut bytes: Vec<u8> = Vec::new();
    if expected > 0 {
        let mut chunks = body(store, url, data).await?.into_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| store_error(url, e))?;
            // grow as bytes arrive (never to the size the header claims up front), fallibly
            let want = bytes.len().saturating_add(chunk.len());
            if want > bytes.capacity() {
                let target =
                    want.max(bytes.capacity().saturating_mul(2)).min(expected.max(want as u64) as usize);
                bytes
                    .try_reserve_exact(target - bytes.len())
                    .map_err(|_| Error::allocation::<u8>("reading an object", target))?;
            }
            bytes.extend_from_slice(&chunk);
        }
    }
    if (bytes.len() as u64) < expected {
        return Err(Error::RemoteTruncated { url: url.to_string(), expected, got: bytes.len() as u64 });
    }
    let a =
        ArrayRef::from_bytes(bytes, 0, header.dtype, header.byte_order, &header.shape, &header.strides())?;
    to_tensor(&a, Sharing::Copy, &Options::default())
}

/// The body of bytes `data` of the object, as a stream of chunks.
async fn body<S: ObjectStore + ?Sized>(
    store: &S,
    url: &S3Url,
    data: Range<u64>,
) -> Result<object_store::GetResult> {
    let opts = GetOptions { range: Some(GetRange::Bounded(data)), ..Default::default() };
    store.get_opts(&url.path(), opts).await.map_err(|e| store_error(url, e))
}

/// Stream the body's chunks straight into a fresh tensor's storage.
async fn stream_typed<T, S>(store: &S, url: &S3Url, data: Range<u64>, header: &Header) -> Result<Tensor>
where
    T: candle_core::WithDType + Element,
    S: ObjectStore + ?Sized,
{
    // The header's size is a claim: allocate a bounded first block and grow (fallibly) only
    // as the object actually delivers bytes, so a lying header or object size cannot make us
    // allocate (or abort on) more than arrives.
    let n = header.len();
    let size = std::mem::size_of::<T>();
    let len = n.saturating_mul(size);
    let mut v: Vec<T> = npy::zeroed_vec(n.min((npy::UNTRUSTED_PREALLOC / size).max(1)))?;
    let mut got = 0usize;
    let mut chunks = body(store, url, data).await?.into_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| store_error(url, e))?;
        let end = got + chunk.len();
        if end > len {
            return Err(Error::npy(format!(
                "size mismatch: the object sent more than the {len} bytes expected"
            )));
        }
        if end > v.len() * size {
            let want = end.div_ceil(size).max(v.len().saturating_mul(2)).min(n);
            npy::grow(&mut v, want)?;
        }
        npy::as_bytes_mut(&mut v)[got..end].copy_from_slice(&chunk);
        got = end;
    }
    if got < len {
        return Err(Error::RemoteTruncated { url: url.to_string(), expected: len as u64, got: got as u64 });
    }
    let t = if header.fortran_order {
        let rev: Vec<usize> = header.shape.iter().rev().copied().collect();
        let axes: Vec<usize> = (0..rev.len()).rev().collect();
        Tensor::from_vec(v, rev, &Device::Cpu)?.permute(axes)?
    } else {
        Tensor::from_vec(v, header.shape.as_slice(), &Device::Cpu)?
    };
    Ok(t)
}

async fn fetch_npz<S: ObjectStore + ?Sized>(store: &S, url: &S3Url) -> Result<Vec<(String, Tensor)>> {
    // a zip's directory is at its end: download the whole object, then read it from memory
    let result = store.get(&url.path()).await.map_err(|e| store_error(url, e))?;
    let bytes = result.bytes().await.map_err(|e| store_error(url, e))?;
    let path = PathBuf::from(url.to_string());
    let zip_err = |source| Error::Zip { path: path.clone(), source };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(zip_err)?;
    let mut out = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(zip_err)?;
        let name = member.name().map_err(zip_err)?.to_string();
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        let t = npy::read(&mut member, &Options::default()).map_err(|e| e.in_file(&path.join(&name)))?;
        out.push((key, t));
    }
    Ok(out)
}

async fn fetch_safetensors<S: ObjectStore + ?Sized>(store: &S, url: &S3Url) -> Result<Vec<(String, Tensor)>> {
    let path = PathBuf::from(url.to_string());
    let bad = |reason: String| Error::SafetensorsFormat { source_name: Some(path.clone()), reason };
    let size = object_size(store, url).await?;
    if size < 8 {
        return Err(bad(format!("the object is {size} bytes, shorter than the 8-byte header length")));
    }
    let (len_bytes, _) = get_range(store, url, 0..8).await?;
    let mut len = [0u8; 8];
    len.copy_from_slice(&len_bytes[..8]);
    let header_len = u64::from_le_bytes(len);
    if header_len > MAX_SAFETENSORS_HEADER {
        return Err(bad(format!("header length {header_len} is implausibly large")));
    }
    if 8 + header_len > size {
        return Err(Error::RemoteTruncated { url: url.to_string(), expected: header_len, got: size - 8 });
    }
    let (json, _) = get_range(store, url, 8..8 + header_len).await?;
    let data_start = 8 + header_len;
    // the validator local files use: names, dtypes, shapes against ranges, overlaps, gaps
    let header = crate::safetensors::parse_json(&json, data_start as usize).map_err(|e| e.in_file(&path))?;
    let available = size - data_start;
    let end = header.data_len() as u64;
    if end > available {
        return Err(Error::RemoteTruncated { url: url.to_string(), expected: end, got: available });
    }
    if end < available {
        return Err(bad(format!(
            "size mismatch: {} bytes follow the last tensor and belong to no tensor",
            available - end
        )));
    }
    let mut out = Vec::with_capacity(header.tensors.len());
    for e in header.tensors {
        let header =
            Header { dtype: e.dtype, byte_order: ByteOrder::Little, fortran_order: false, shape: e.shape };
        let (begin, stop) = e.data_offsets;
        let range = data_start + begin as u64..data_start + stop as u64;
        let t = fetch_array(store, url, range, header).await.map_err(|err| match err {
            Error::NpyFormat { reason, .. } => bad(format!("tensor {:?}: {reason}", e.name)),
            other => other,
        })?;
        out.push((e.name, t));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn put(store: &InMemory, key: &str, bytes: Vec<u8>) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(store.put(&ObjectPath::parse(key).unwrap(), bytes.into())).unwrap();
    }

    fn url(key: &str) -> S3Url {
        S3Url::parse(&format!("s3://bucket/{key}")).unwrap()
    }

    fn npy_bytes(a: &ArrayRef, opts: &npy::WriteOptions) -> Vec<u8> {
        let mut out = Vec::new();
        npy::write_array(&mut out, a, opts).unwrap();
        out
    }

    fn tensor(loaded: Loaded) -> Tensor {
        match loaded {
            Loaded::Tensor(t) => t,
            other => panic!("expected one tensor, got {other:?}"),
        }
    }

    /// An in-memory store that reports every object as `claim` bytes long.
    #[derive(Debug)]
    struct LyingSize {
        inner: InMemory,
        claim: u64,
    }

    impl fmt::Display for LyingSize {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "LyingSize({})", self.claim)
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for LyingSize {
        async fn put_opts(
            &self,
            location: &ObjectPath,
            payload: object_store::PutPayload,
            opts: object_store::PutOptions,
        ) -> object_store::Result<object_store::PutResult> {
            self.inner.put_opts(location, payload, opts).await
        }
        async fn put_multipart_opts(
            &self,
            location: &ObjectPath,
            opts: object_store::PutMultipartOptions,
        ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
            self.inner.put_multipart_opts(location, opts).await
        }
        async fn get_opts(
            &self,
            location: &ObjectPath,
            options: GetOptions,
        ) -> object_store::Result<object_store::GetResult> {
            let mut r = self.inner.get_opts(location, options).await?;
            r.meta.size = self.claim;
            Ok(r)
        }
        fn delete_stream(
            &self,
            locations: futures_util::stream::BoxStream<'static, object_store::Result<ObjectPath>>,
        ) -> futures_util::stream::BoxStream<'static, object_store::Result<ObjectPath>> {
            self.inner.delete_stream(locations)
        }
        fn list(
            &self,
            prefix: Option<&ObjectPath>,
        ) -> futures_util::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>>
        {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(
            &self,
            prefix: Option<&ObjectPath>,
        ) -> object_store::Result<object_store::ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy_opts(
            &self,
            from: &ObjectPath,
            to: &ObjectPath,
            options: object_store::CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    /// An object whose size and header both claim 10 TB: the load reads what arrives (a
    /// truncation error), it never allocates the claim up front (which aborts the process).
    #[test]
    fn size_claims_are_not_trusted_for_allocation() {
        let n: usize = 10 << 40;
        for (descr, itemsize) in [("<f4", 4usize), ("<i1", 1)] {
            let header =
                format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({},), }}", n / itemsize);
            let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
            let pad = 64 - (10 + header.len() + 1) % 64;
            let text = format!("{header}{}\n", " ".repeat(pad % 64));
            bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
            bytes.extend_from_slice(text.as_bytes());
            let claim = (bytes.len() + n) as u64;
            bytes.extend(std::iter::repeat_n(0u8, 4096));
            let store = LyingSize { inner: InMemory::new(), claim };
            let key = format!("huge{itemsize}.npy");
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(store.put(&ObjectPath::from(key.as_str()), bytes.into())).unwrap();
            let err = load_from(&store, &url(&key)).unwrap_err();
            assert!(matches!(err, Error::RemoteTruncated { .. }), "{descr}: {err}");
        }
    }

    #[test]
    fn keys_with_reserved_characters_name_the_object_verbatim() {
        let store = InMemory::new();
        let bytes = npy_bytes(&ArrayRef::from_vec(vec![1f32, 2.0], &[2]).unwrap(), &Default::default());
        for key in
            ["data-ü.npy", "€/x.npy", "a~b.npy", "100%.npy", "q?x=1.npy", "h#1.npy", "s*.npy", "sp ace.npy"]
        {
            put(&store, key, bytes.clone());
            let u = url(key);
            assert_eq!(u.key(), key);
            assert_eq!(u.path().as_ref(), key);
            let t = tensor(load_from(&store, &u).unwrap());
            assert_eq!(t.to_vec1::<f32>().unwrap(), [1.0, 2.0], "{key}");
        }
    }

    #[test]
    fn urls_parse_or_name_the_problem() {
        let u = S3Url::parse("s3://b/dir/x.NPY").unwrap();
        assert_eq!((u.bucket(), u.key(), u.format().unwrap()), ("b", "dir/x.NPY", Format::Npy));
        assert_eq!(u.to_string(), "s3://b/dir/x.NPY");
        assert_eq!(S3Url::parse("s3a://b/w.safetensors").unwrap().format().unwrap(), Format::Safetensors);
        for (bad, needle) in [
            ("https://b/x.npy", "only s3://"),
            ("/tmp/x.npy", "only s3://"),
            ("s3://bucket", "no key"),
            ("s3:///x.npy", "no bucket"),
            ("s3://b/dir/", "folder"),
            ("s3://b/a//x.npy", "empty segment"),
            ("s3://b//x.npy", "leading `/`"),
            ("s3://b/../x.npy", "`..` segment"),
            ("s3://b/./x.npy", "`..` segment"),
            ("s3://b/a\u{7}.npy", "control character"),
        ] {
            let err = S3Url::parse(bad).unwrap_err();
            assert!(
                matches!(err, Error::RemoteUrl { .. }) && err.to_string().contains(needle),
                "{bad}: {err}"
            );
        }
        let err = load("s3://b/x.csv").unwrap_err();
        assert!(err.to_string().contains(".npy, .npz or .safetensors"), "{err}");
    }

    #[test]
    fn npy_of_every_layout_and_dtype_path() {
        let store = InMemory::new();
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
        let a = ArrayRef::from_vec(data.clone(), &[2, 3, 4]).unwrap();
        put(&store, "c.npy", npy_bytes(&a, &Default::default()));
        let fortran = npy::WriteOptions { fortran_order: true, ..Default::default() };
        put(&store, "f.npy", npy_bytes(&a, &fortran));
        let big = npy::WriteOptions { byte_order: ByteOrder::Big, ..Default::default() };
        put(&store, "be.npy", npy_bytes(&a, &big));
        let expected = Tensor::from_vec(data, (2, 3, 4), &Device::Cpu).unwrap().to_vec3::<f32>().unwrap();
        for key in ["c.npy", "f.npy", "be.npy"] {
            let t = tensor(load_from(&store, &url(key)).unwrap());
            assert_eq!(t.dtype(), candle_core::DType::F32, "{key}");
            assert_eq!(t.to_vec3::<f32>().unwrap(), expected, "{key}");
        }
        // widened on the copy path
        put(
            &store,
            "i8.npy",
            npy_bytes(&ArrayRef::from_vec(vec![-3i8, 0, 7], &[3]).unwrap(), &Default::default()),
        );
        let t = tensor(load_from(&store, &url("i8.npy")).unwrap());
        assert_eq!(t.to_vec1::<i16>().unwrap(), [-3, 0, 7]);
        // empty and scalar
        put(
            &store,
            "e.npy",
            npy_bytes(&ArrayRef::from_vec(Vec::<i64>::new(), &[0, 5]).unwrap(), &Default::default()),
        );
        assert_eq!(tensor(load_from(&store, &url("e.npy")).unwrap()).dims(), &[0, 5]);
        put(&store, "s.npy", npy_bytes(&ArrayRef::from_vec(vec![2.5f64], &[]).unwrap(), &Default::default()));
        assert_eq!(tensor(load_from(&store, &url("s.npy")).unwrap()).to_scalar::<f64>().unwrap(), 2.5);
    }

    #[test]
    fn npy_header_longer_than_the_probe_costs_a_second_request() {
        // a rank-1000 shape of ones makes a header of ~3 KiB; pad the dict further by hand
        let store = InMemory::new();
        let shape = vec![1usize; 1500];
        let a = ArrayRef::from_vec(vec![42u8], &shape).unwrap();
        let bytes = npy_bytes(&a, &Default::default());
        assert!(bytes.len() > NPY_PROBE as usize, "{}", bytes.len());
        put(&store, "long.npy", bytes);
        let t = tensor(load_from(&store, &url("long.npy")).unwrap());
        assert_eq!(t.rank(), 1500);
        assert_eq!(t.flatten_all().unwrap().to_vec1::<u8>().unwrap(), [42]);
    }

    #[test]
    fn missing_truncated_and_oversized_objects() {
        let store = InMemory::new();
        let err = load_from(&store, &url("nope/x.npy")).unwrap_err();
        assert!(
            matches!(&err, Error::RemoteNotFound { bucket, key } if bucket == "bucket" && key == "nope/x.npy")
        );
        assert!(err.to_string().contains("bucket \"bucket\" has no key \"nope/x.npy\""), "{err}");

        let a = ArrayRef::from_vec((0..100).map(|i| i as f64).collect::<Vec<_>>(), &[10, 10]).unwrap();
        let full = npy_bytes(&a, &Default::default());
        let header = full.len() - 800;
        put(&store, "t.npy", full[..full.len() - 8].to_vec());
        let err = load_from(&store, &url("t.npy")).unwrap_err();
        assert!(matches!(err, Error::RemoteTruncated { expected: 800, got: 792, .. }), "{err:?}");
        assert!(err.to_string().contains("header says 800 bytes of data, the object holds 792"), "{err}");
        put(&store, "h.npy", full[..header - 5].to_vec());
        let err = load_from(&store, &url("h.npy")).unwrap_err();
        assert!(matches!(err, Error::NpyFormat { .. }) && err.to_string().contains("truncated"), "{err}");
        assert!(err.to_string().contains("s3://bucket/h.npy"), "{err}");
        put(&store, "tiny.npy", b"\x93NUM".to_vec());
        assert!(matches!(load_from(&store, &url("tiny.npy")).unwrap_err(), Error::NpyFormat { .. }));
        let mut long = full.clone();
        long.extend_from_slice(&[0; 8]);
        put(&store, "l.npy", long);
        let err = load_from(&store, &url("l.npy")).unwrap_err();
        assert!(err.to_string().contains("size mismatch"), "{err}");
        put(&store, "bad.npy", b"PK\x03\x04 this is no npy file at all".to_vec());
        let err = load_from(&store, &url("bad.npy")).unwrap_err();
        assert!(err.to_string().contains("bad magic"), "{err}");
    }

    #[test]
    fn npz_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npz");
        let x = Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu).unwrap();
        let y = Tensor::new(&[7i64, 8, 9], &Device::Cpu).unwrap();
        npy::save_npz(&path, &[("x", &x), ("y", &y)], true).unwrap();
        let store = InMemory::new();
        let bytes = std::fs::read(&path).unwrap();
        put(&store, "a.npz", bytes.clone());
        let named = load_from(&store, &url("a.npz")).unwrap().into_named();
        assert_eq!(named.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(named[0].1.to_vec2::<f32>().unwrap(), [[1., 2.], [3., 4.]]);
        assert_eq!(named[1].1.to_vec1::<i64>().unwrap(), [7, 8, 9]);
        put(&store, "cut.npz", bytes[..bytes.len() / 2].to_vec());
        let err = load_from(&store, &url("cut.npz")).unwrap_err();
        assert!(matches!(err, Error::Zip { .. }) && err.to_string().contains("s3://bucket/cut.npz"), "{err}");
    }

    /// A safetensors file: `(name, dtype, shape, little-endian bytes)` in order.
    fn safetensors_bytes(tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
        let mut data = Vec::new();
        for (name, dtype, shape, bytes) in tensors {
            let start = data.len();
            data.extend_from_slice(bytes);
            header.insert(
                name.to_string(),
                serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, data.len()]}),
            );
        }
        let json = serde_json::to_vec(&header).unwrap();
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&json);
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn safetensors_each_tensor_into_its_own_buffer() {
        let w: Vec<u8> = [1.5f32, -2.0, 3.25, 0.0, 8.0, 9.5].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b: Vec<u8> = [10i64, -20].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mask = vec![1u8, 0, 1];
        let bytes =
            safetensors_bytes(&[("w", "F32", &[2, 3], w), ("b", "I64", &[2], b), ("m", "BOOL", &[3], mask)]);
        let store = InMemory::new();
        put(&store, "m.safetensors", bytes.clone());
        let named = load_from(&store, &url("m.safetensors")).unwrap().into_named();
        assert_eq!(named.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["w", "b", "m"]);
        assert_eq!(named[0].1.to_vec2::<f32>().unwrap(), [[1.5, -2.0, 3.25], [0.0, 8.0, 9.5]]);
        assert_eq!(named[1].1.to_vec1::<i64>().unwrap(), [10, -20]);
        assert_eq!(named[2].1.to_vec1::<u8>().unwrap(), [1, 0, 1]);

        put(&store, "t.safetensors", bytes[..bytes.len() - 4].to_vec());
        let err = load_from(&store, &url("t.safetensors")).unwrap_err();
        assert!(matches!(err, Error::RemoteTruncated { expected: 43, got: 39, .. }), "{err:?}");
        put(&store, "h.safetensors", bytes[..20].to_vec());
        let err = load_from(&store, &url("h.safetensors")).unwrap_err();
        assert!(matches!(err, Error::RemoteTruncated { .. }), "{err:?}");
    }

    #[test]
    fn safetensors_headers_that_lie_are_errors_as_for_local_files() {
        let f32s = |name: &str, begin: usize, end: usize| {
            format!(
                "\"{name}\": {{\"dtype\": \"F32\", \"shape\": [{}], \"data_offsets\": [{begin}, {end}]}}",
                (end - begin) / 4
            )
        };
        let cases: Vec<(String, usize, &str)> = vec![
            ("[1, 2]".into(), 0, "not a JSON object"),
            ("{\"a\": {\"dtype\": \"C64\", \"shape\": [1], \"data_offsets\": [0, 8]}}".into(), 8, "C64"),
            ("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}".into(), 8, "needs 12"),
            ("{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}".into(), 4, "data_offsets"),
            (format!("{{{}, {}}}", f32s("a", 0, 8), f32s("b", 4, 12)), 12, "overlaps"),
            (format!("{{{}, {}}}", f32s("a", 0, 4), f32s("a", 4, 8)), 8, "twice"),
            (format!("{{{}, {}}}", f32s("a", 0, 4), f32s("b", 8, 12)), 12, "belong to no tensor"),
            (format!("{{{}}}", f32s("a", 0, 4)), 8, "belong to no tensor"),
            (format!("{{\"__metadata__\": {{\"k\": 1}}, {}}}", f32s("a", 0, 4)), 4, "string values"),
        ];
        let store = InMemory::new();
        for (i, (json, data, needle)) in cases.into_iter().enumerate() {
            let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(json.as_bytes());
            bytes.extend(std::iter::repeat_n(0u8, data));
            let local = crate::safetensors::parse_header(&bytes).unwrap_err();
            let key = format!("lie{i}.safetensors");
            put(&store, &key, bytes);
            let err = load_from(&store, &url(&key)).unwrap_err();
            assert!(err.to_string().contains(needle), "{json}: {err}");
            assert!(local.to_string().contains(needle), "{json}: local {local}");
            // format errors name the object (a dtype error names the dtype and the tensor)
            assert!(needle == "C64" || err.to_string().contains(&key), "{err}");
        }
    }

    #[test]
    fn store_errors_map_to_named_variants() {
        let u = url("k.npy");
        let boxed = || -> Box<dyn std::error::Error + Send + Sync> { "403 Forbidden".into() };
        let e =
            store_error(&u, object_store::Error::PermissionDenied { path: "k.npy".into(), source: boxed() });
        assert!(
            matches!(&e, Error::RemoteAccess { .. }) && e.to_string().contains("AWS_ACCESS_KEY_ID"),
            "{e}"
        );
        let e =
            store_error(&u, object_store::Error::Unauthenticated { path: "k.npy".into(), source: boxed() });
        assert!(matches!(e, Error::RemoteAccess { .. }));
        let e = store_error(&u, object_store::Error::Generic { store: "S3", source: boxed() });
        assert!(matches!(&e, Error::RemoteStore { .. }) && e.to_string().contains("AWS_ENDPOINT_URL"), "{e}");
    }
}
