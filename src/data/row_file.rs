//! [`RowFile`]: an array stored in a file (a `.npy` file, or raw bytes at an offset as
//! `np.memmap` describes them), read row by row with positioned reads, so a dataset can be
//! larger than memory.
//!
//! Why positioned reads and not a memory map: pages of a map that a gather touches count in the
//! process's resident set until the kernel reclaims them, so a shuffled epoch over a map grows
//! RSS to the size of the file (measured on a 2 GiB file: +2 GiB VmHWM, see the README). A
//! `pread` copies the rows into the batch and leaves the page cache outside the process: the
//! resident memory of an epoch is the batches in flight, whatever the file size.
//!
//! A batch sorts its row indices and reads each run of nearby rows with one `pread` (rows less
//! than [`MAX_GAP_BYTES`] apart are read through), straight into the batch when the run is also
//! consecutive in the batch (a sequential pass reads a whole batch in one call), else through a
//! scratch buffer of at most [`MAX_READ_BYTES`].

use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::array::{c_strides, ArrayRef};
use crate::convert::{to_tensor, Options, Sharing};
use crate::dtype::{ByteOrder, NpDType};
use crate::error::{Error, Result};
use crate::npy::{filled_vec, read_header};

/// Rows less than this many bytes apart are read in one call (reading through the gap is
/// cheaper than another system call).
pub const MAX_GAP_BYTES: usize = 16 << 10;
/// The largest single read, which bounds the scratch buffer of a batch.
pub const MAX_READ_BYTES: usize = 16 << 20;

/// A C-order array in a file, read by rows (first-axis slices) on demand; nothing of the data is
/// held in memory.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("x.npy");
/// use candle_core::{Device, Tensor};
/// use candle_numpy::data::RowFile;
/// let x = Tensor::arange(0f32, 12., &Device::Cpu)?.reshape((4, 3))?;
/// candle_numpy::npy::save(&path, &x)?;
/// let rows = RowFile::open_npy(&path)?;
/// assert_eq!(rows.shape(), &[4, 3]);
/// let batch = rows.gather(&[3, 0])?;
/// assert_eq!(batch.to_vec2::<f32>()?, [[9., 10., 11.], [0., 1., 2.]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RowFile {
    file: File,
    path: PathBuf,
    dtype: NpDType,
    byte_order: ByteOrder,
    shape: Vec<usize>,
    data_offset: u64,
    row_bytes: usize,
    target: DType,
}

impl RowFile {
    /// Open a `.npy` file (C order, any dtype of the table, either byte order).
    ///
    /// Fortran-order files are refused ([`Error::RowsNotContiguous`]): their rows are not
    /// contiguous in the file.
    pub fn open_npy(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut file = open(path)?;
        let (h, offset) = {
            let mut r = std::io::BufReader::with_capacity(4096, &mut file);
            read_header(&mut r).map_err(|e| e.in_file(path))?
        };
        if h.fortran_order && h.shape.len() > 1 {
            return Err(Error::RowsNotContiguous { path: path.into(), shape: h.shape });
        }
        Self::new(file, path, offset as u64, h.dtype, h.byte_order, h.shape)
    }

    /// An array of `shape` and `dtype` stored C-contiguously at byte `offset` of a file (what
    /// `np.memmap(path, dtype, mode, offset, shape)` describes).
    pub fn open_raw(
        path: impl AsRef<Path>,
        offset: u64,
        dtype: NpDType,
        byte_order: ByteOrder,
        shape: &[usize],
    ) -> Result<Self> {
        let path = path.as_ref();
        Self::new(open(path)?, path, offset, dtype, byte_order, shape.to_vec())
    }

    fn new(
        file: File,
        path: &Path,
        data_offset: u64,
        dtype: NpDType,
        byte_order: ByteOrder,
        shape: Vec<usize>,
    ) -> Result<Self> {
        let row_elems: usize = shape.iter().skip(1).product();
        let row_bytes = row_elems
            .checked_mul(dtype.itemsize())
            .ok_or_else(|| Error::npy(format!("shape {shape:?} is too large to address")).in_file(path))?;
        let need = shape.first().map_or(row_bytes, |&n| n.saturating_mul(row_bytes)) as u64;
        let size = file
            .metadata()
            .map_err(|source| Error::Io { operation: "stat", path: path.into(), source })?
            .len();
        if data_offset.saturating_add(need) > size {
            return Err(Error::npy(format!(
                "truncated: shape {shape:?} of {} needs {need} bytes after offset {data_offset}, the file \
                 has {size} bytes",
                dtype.name()
            ))
            .in_file(path));
        }
        let target = crate::copy::default_target(dtype);
        Ok(RowFile { file, path: path.into(), dtype, byte_order, shape, data_offset, row_bytes, target })
    }

    /// The stored array's shape (rows first).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The stored NumPy dtype.
    pub fn np_dtype(&self) -> NpDType {
        self.dtype
    }

    /// The candle dtype of the tensors this file yields (the table's default for its dtype).
    pub fn dtype(&self) -> DType {
        self.target
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of rows (0 for a scalar file).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// Bytes of one stored row.
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// Row `i` as a tensor of the row shape.
    pub fn row(&self, i: u64) -> Result<Tensor> {
        self.read(&[i], &self.shape[1..])
    }

    /// Rows `ids` (any order, repeats allowed) as one tensor `[ids.len(), ...row shape]`.
    pub fn gather(&self, ids: &[u64]) -> Result<Tensor> {
        let mut shape = Vec::with_capacity(self.shape.len());
        shape.push(ids.len());
        shape.extend_from_slice(&self.shape[1..]);
        self.read(ids, &shape)
    }

    fn read(&self, ids: &[u64], shape: &[usize]) -> Result<Tensor> {
        if let Some(&bad) = ids.iter().find(|&&i| i >= self.rows() as u64) {
            return Err(Error::InvalidArgument {
                operation: "reading rows of a file",
                argument: "row",
                value: format!("{bad} of {} ({} rows)", self.path.display(), self.rows()),
                fix: "use row indices in 0..rows",
            });
        }
        let n: usize = shape.iter().product();
        let fill = |out: &mut [u8]| self.read_rows(ids, out);
        if self.byte_order == ByteOrder::NATIVE && self.dtype.exact_candle() == Some(self.target) {
            use half::{bf16, f16};
            let cpu = &Device::Cpu;
            let t = match self.target {
                DType::U8 => Tensor::from_vec(filled_vec::<u8>(n, fill)?, shape, cpu),
                DType::U32 => Tensor::from_vec(filled_vec::<u32>(n, fill)?, shape, cpu),
                DType::I16 => Tensor::from_vec(filled_vec::<i16>(n, fill)?, shape, cpu),
                DType::I32 => Tensor::from_vec(filled_vec::<i32>(n, fill)?, shape, cpu),
                DType::I64 => Tensor::from_vec(filled_vec::<i64>(n, fill)?, shape, cpu),
                DType::F16 => Tensor::from_vec(filled_vec::<f16>(n, fill)?, shape, cpu),
                DType::BF16 => Tensor::from_vec(filled_vec::<bf16>(n, fill)?, shape, cpu),
                DType::F32 => Tensor::from_vec(filled_vec::<f32>(n, fill)?, shape, cpu),
                DType::F64 => Tensor::from_vec(filled_vec::<f64>(n, fill)?, shape, cpu),
                DType::F8E4M3 => Tensor::from_vec(filled_vec::<float8::F8E4M3>(n, fill)?, shape, cpu),
                other => unreachable!("{other:?} is not the exact twin of a table dtype"),
            };
            return Ok(t?);
        }
        // byte-swapped or widened: raw bytes, then the copy kernel
        let mut bytes = vec![0u8; n * self.dtype.itemsize()];
        fill(&mut bytes)?;
        let a = ArrayRef::from_bytes(
            bytes,
            0,
            self.dtype,
            self.byte_order,
            shape,
            &c_strides(shape, self.dtype.itemsize()),
        )?;
        to_tensor(&a, Sharing::Copy, &Options::default())
    }

    /// Read rows `ids` into `out` (`ids.len() * row_bytes` bytes), row `k` of `out` being row
    /// `ids[k]` of the file; runs of nearby rows are read with one call each.
    fn read_rows(&self, ids: &[u64], out: &mut [u8]) -> Result<()> {
        let rb = self.row_bytes;
        if rb == 0 || ids.is_empty() {
            return Ok(());
        }
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_unstable_by_key(|&k| ids[k]);
        let max_gap = (MAX_GAP_BYTES / rb) as u64;
        let max_rows = (MAX_READ_BYTES / rb).max(1) as u64;
        let mut scratch = Vec::new();
        let mut s = 0;
        while s < order.len() {
            let first = ids[order[s]];
            let (mut last, mut direct, mut e) = (first, true, s + 1);
            while e < order.len() {
                let id = ids[order[e]];
                if id - last > max_gap + 1 || id - first >= max_rows {
                    break;
                }
                direct &= id == last + 1 && order[e] == order[e - 1] + 1;
                last = id;
                e += 1;
            }
            let span = (last - first + 1) as usize * rb;
            let at = self.data_offset + first * rb as u64;
            if direct {
                let start = order[s] * rb;
                self.read_at(&mut out[start..start + span], at)?;
            } else {
                scratch.resize(span, 0);
                self.read_at(&mut scratch, at)?;
                for &k in &order[s..e] {
                    let from = (ids[k] - first) as usize * rb;
                    out[k * rb..(k + 1) * rb].copy_from_slice(&scratch[from..from + rb]);
                }
            }
            s = e;
        }
        Ok(())
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        read_exact_at(&self.file, buf, offset).map_err(|source| Error::Io {
            operation: "read",
            path: self.path.clone(),
            source,
        })
    }
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|source| Error::Io { operation: "open", path: path.into(), source })
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_of(values: &[f32], shape: &[usize]) -> (tempfile::TempDir, RowFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let t = Tensor::from_slice(values, shape, &Device::Cpu).unwrap();
        crate::npy::save(&path, &t).unwrap();
        let rows = RowFile::open_npy(&path).unwrap();
        (dir, rows)
    }

    #[test]
    fn gathers_any_order_with_repeats_and_gaps() {
        // 64-byte rows: gaps of up to 256 rows are read through, larger ones split the read
        let n = 2000usize;
        let values: Vec<f32> = (0..n * 16).map(|i| i as f32).collect();
        let (_dir, rows) = file_of(&values, &[n, 16]);
        let ids = [1999u64, 0, 1, 2, 700, 5, 5, 1998, 3, 4];
        let got = rows.gather(&ids).unwrap().to_vec2::<f32>().unwrap();
        for (k, &i) in ids.iter().enumerate() {
            assert_eq!(got[k], values[i as usize * 16..(i as usize + 1) * 16], "row {k} = file row {i}");
        }
        let seq: Vec<u64> = (100..356).collect();
        let got = rows.gather(&seq).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(got, values[100 * 16..356 * 16]);
        assert_eq!(rows.row(7).unwrap().to_vec1::<f32>().unwrap(), values[7 * 16..8 * 16]);
    }

    #[test]
    fn out_of_range_row_names_the_file() {
        let (_dir, rows) = file_of(&[1.0, 2.0], &[2]);
        let err = rows.gather(&[0, 2]).unwrap_err().to_string();
        assert!(err.contains("2 of") && err.contains("x.npy") && err.contains("2 rows"), "{err}");
    }

    #[test]
    fn big_endian_and_widened_files_convert() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.npy");
        let a = ArrayRef::from_vec((0..6i16).map(|i| i * 300).collect::<Vec<_>>(), &[3, 2]).unwrap();
        let opts = crate::npy::WriteOptions { byte_order: ByteOrder::Big, ..Default::default() };
        crate::npy::save_array(&path, &a, &opts).unwrap();
        let rows = RowFile::open_npy(&path).unwrap();
        assert_eq!(rows.gather(&[2, 0]).unwrap().to_vec2::<i16>().unwrap(), [[1200, 1500], [0, 300]]);
        let path = dir.path().join("i8.npy");
        let a = ArrayRef::from_vec(vec![-1i8, 2, -3], &[3]).unwrap();
        crate::npy::save_array(&path, &a, &Default::default()).unwrap();
        let rows = RowFile::open_npy(&path).unwrap();
        assert_eq!(rows.dtype(), DType::I16);
        assert_eq!(rows.gather(&[2, 1]).unwrap().to_vec1::<i16>().unwrap(), [-3, 2]);
    }

    #[test]
    fn fortran_and_truncated_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.npy");
        let a = ArrayRef::from_vec(vec![1f32; 6], &[2, 3]).unwrap();
        let opts = crate::npy::WriteOptions { fortran_order: true, ..Default::default() };
        crate::npy::save_array(&path, &a, &opts).unwrap();
        let err = RowFile::open_npy(&path).unwrap_err();
        assert!(matches!(err, Error::RowsNotContiguous { .. }), "{err}");
        assert!(err.to_string().contains("Fortran"), "{err}");
        let err = RowFile::open_raw(&path, 0, NpDType::Float32, ByteOrder::NATIVE, &[1000, 3]).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
