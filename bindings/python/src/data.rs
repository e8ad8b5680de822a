//! Python classes over the one data engine: torch's `TensorDataset` / `DataLoader` and
//! tf.data's `Dataset`. Sources are shared, not copied (NumPy arrays convert with Auto);
//! iteration releases the GIL while a batch is gathered.

use candle_numpy::data::{Cardinality, Column, Fields, RowFile};
use candle_numpy::python::detach;
use candle_numpy::tf::data::Dataset;
use candle_numpy::torch::data::{DataLoader, DataLoaderIter, TensorDataset};
use candle_numpy::Sharing;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::convert::convert;
use crate::tensor::PyTensor;

/// A source field: our tensor, or anything `as_tensor` accepts (NumPy arrays are shared).
fn field(obj: &Bound<'_, PyAny>) -> PyResult<candle_core::Tensor> {
    Ok(convert(obj, Sharing::Auto, None, None)?.inner.clone())
}

/// A file field: a `.npy` path (`str` or `os.PathLike`) opened for reads by rows.
fn npy_column(obj: &Bound<'_, PyAny>) -> PyResult<Column> {
    let path: std::path::PathBuf = obj.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "from_npy takes .npy paths (str or os.PathLike), a tuple/list of them or a dict of them; got {}",
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })?;
    Ok(Column::from(RowFile::open_npy(path)?))
}

fn wrap(py: Python<'_>, t: candle_core::Tensor) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyTensor::new(t, false))?.into_any())
}

/// A batch (or element) back in the structure it was built from.
fn fields_to_py(py: Python<'_>, fields: Fields) -> PyResult<Py<PyAny>> {
    Ok(match fields {
        Fields::Single(t) => wrap(py, t)?,
        Fields::Tuple(ts) => {
            let items = ts.into_iter().map(|t| wrap(py, t)).collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, items)?.into_any().unbind()
        }
        Fields::Dict(named) => {
            let d = PyDict::new(py);
            for (k, t) in named {
                d.set_item(k, wrap(py, t)?)?;
            }
            d.into_any().unbind()
        }
    })
}

/// `TensorDataset(*tensors)`: samples along the first dimension of each tensor.
#[pyclass(module = "candle_numpy.torch.utils.data", name = "TensorDataset", frozen)]
pub struct PyTensorDataset {
    inner: TensorDataset,
}

#[pymethods]
impl PyTensorDataset {
    #[new]
    #[pyo3(signature = (*tensors))]
    fn new(tensors: &Bound<'_, PyTuple>) -> PyResult<Self> {
        let ts = tensors.iter().map(|t| field(&t)).collect::<PyResult<Vec<_>>>()?;
        Ok(PyTensorDataset { inner: TensorDataset::new(ts)? })
    }

    /// A dataset over `.npy` files read by rows (one tensor per file), for data larger than
    /// memory: batches are read from the files, nothing else of them is resident.
    #[staticmethod]
    #[pyo3(signature = (*paths))]
    fn from_npy(paths: &Bound<'_, PyTuple>) -> PyResult<Self> {
        let columns = paths.iter().map(|p| npy_column(&p)).collect::<PyResult<Vec<_>>>()?;
        Ok(PyTensorDataset { inner: TensorDataset::from_columns(columns)? })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// One sample: a tuple with one tensor per field (views, no copy).
    fn __getitem__(&self, py: Python<'_>, index: isize) -> PyResult<Py<PyAny>> {
        let n = self.inner.len() as isize;
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "index {index} is out of range for a dataset of {n} samples"
            )));
        }
        let sample = self.inner.get(i as usize)?;
        fields_to_py(py, Fields::Tuple(sample))
    }
}

/// `DataLoader(dataset, batch_size=1, shuffle=False, drop_last=False, seed=None)`.
///
/// Every `iter()` is a new epoch (a new order when shuffling); batches are tuples of tensors,
/// gathered with one vectorised copy per field, with the GIL released.
#[pyclass(module = "candle_numpy.torch.utils.data", name = "DataLoader", frozen)]
pub struct PyDataLoader {
    inner: DataLoader,
}

#[pymethods]
impl PyDataLoader {
    /// `device=` (not in torch's DataLoader: there the loop calls `batch.to(device)`) delivers
    /// every batch on that device ("cpu", "cuda", "cuda:N"); with `prefetch` the copy runs on
    /// the background thread. A CUDA device that cannot be opened raises `DeviceError`.
    #[new]
    #[pyo3(signature = (dataset, batch_size=None, shuffle=false, drop_last=false, seed=None, device=None))]
    fn new(
        dataset: &Bound<'_, PyAny>,
        batch_size: Option<&Bound<'_, PyAny>>,
        shuffle: bool,
        drop_last: bool,
        seed: Option<u64>,
        device: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        // None (torch's "no batching") is batches of one sample here; sizes past the data are
        // one short batch
        let batch_size = batch_size.map(|b| count("batch_size", b)).transpose()?.unwrap_or(1);
        let batch_size = usize::try_from(batch_size).unwrap_or(usize::MAX);
        let ds = dataset.cast::<PyTensorDataset>().map_err(|_| {
            PyTypeError::new_err("DataLoader takes a candle_numpy.torch.utils.data.TensorDataset")
        })?;
        let mut inner = DataLoader::new(ds.get().inner.clone(), batch_size, shuffle, drop_last, seed)?;
        if device.is_some_and(|d| !d.is_none()) {
            inner = inner.to_device(&crate::convert::parse_device(device)?);
        }
        Ok(PyDataLoader { inner })
    }

    /// Number of batches per epoch.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __iter__(&self) -> PyBatchIter {
        PyBatchIter { inner: std::sync::Mutex::new(Iter::Loader(self.inner.iter())) }
    }

    #[getter]
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }
}

enum Iter {
    Loader(DataLoaderIter),
    Dataset(candle_numpy::data::Batches),
}

/// The iterator of a DataLoader or Dataset epoch.
#[pyclass(module = "candle_numpy", name = "_BatchIterator", frozen)]
pub struct PyBatchIter {
    inner: std::sync::Mutex<Iter>,
}

#[pymethods]
impl PyBatchIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let next = detach(py, || {
            let mut it = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            match &mut *it {
                Iter::Loader(l) => l.next().map(|r| r.map(Fields::Tuple)),
                Iter::Dataset(d) => d.next(),
            }
        });
        match next {
            None => Ok(None),
            Some(Ok(fields)) => Ok(Some(fields_to_py(py, fields)?)),
            Some(Err(e)) => Err(e.into()),
        }
    }
}

/// tf.data's `Dataset`, built with `Dataset.from_tensor_slices(x | (x, y) | {"k": x})`.
#[pyclass(module = "candle_numpy.tf.data", name = "Dataset", frozen)]
pub struct PyDataset {
    inner: Dataset,
}

fn wrap_ds(r: candle_numpy::Result<Dataset>) -> PyResult<PyDataset> {
    Ok(PyDataset { inner: r? })
}

/// A size or count argument: any Python int in `0..2**64` (sizes past the data are fine: a
/// batch larger than the data is one short batch); a ValueError naming `name` otherwise.
fn count(name: &str, n: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(v) = n.extract::<u64>() {
        return Ok(v);
    }
    if n.is_instance_of::<pyo3::types::PyInt>() {
        return Err(PyValueError::new_err(format!("{name} must be >= 0 (and below 2**64), got {n}")));
    }
    Err(PyTypeError::new_err(format!("{name} must be an int, got {}", n.get_type().name()?)))
}

/// `count`, where -1 means "all" (`take(-1)`, `skip(-1)`, `repeat(-1)`).
fn count_or_all(name: &str, n: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
    if n.extract::<i64>().is_ok_and(|v| v == -1) {
        return Ok(None);
    }
    count(name, n).map(Some)
}

impl PyDataset {
    /// The Rust dataset (for `cn.tf.keras` fit).
    pub fn dataset(&self) -> &Dataset {
        &self.inner
    }
}

#[pymethods]
impl PyDataset {
    /// Slices along the first dimension of `x`, of each element of a tuple, or of each value of
    /// a dict (the structure comes back in every element and batch).
    #[staticmethod]
    fn from_tensor_slices(tensors: &Bound<'_, PyAny>) -> PyResult<PyDataset> {
        let fields = if let Ok(d) = tensors.cast::<PyDict>() {
            let named = d
                .iter()
                .map(|(k, v)| Ok((k.str()?.to_string(), field(&v)?)))
                .collect::<PyResult<Vec<_>>>()?;
            Fields::Dict(named)
        } else if tensors.is_instance_of::<PyTuple>() {
            Fields::Tuple(tensors.try_iter()?.map(|t| field(&t?)).collect::<PyResult<Vec<_>>>()?)
        } else {
            // as in TF, a list is one tensor, not a tuple of fields
            Fields::Single(field(tensors)?)
        };
        wrap_ds(Dataset::from_tensor_slices(fields))
    }

    /// Rows of `.npy` files read on demand (datasets larger than memory): a path gives tensor
    /// elements, a tuple/list of paths tuples, a dict of paths dicts.
    #[staticmethod]
    fn from_npy(paths: &Bound<'_, PyAny>) -> PyResult<PyDataset> {
        let fields = if let Ok(d) = paths.cast::<PyDict>() {
            Fields::Dict(
                d.iter()
                    .map(|(k, v)| Ok((k.str()?.to_string(), npy_column(&v)?)))
                    .collect::<PyResult<Vec<_>>>()?,
            )
        } else if paths.is_instance_of::<PyTuple>() || paths.is_instance_of::<pyo3::types::PyList>() {
            Fields::Tuple(paths.try_iter()?.map(|p| npy_column(&p?)).collect::<PyResult<Vec<_>>>()?)
        } else {
            Fields::Single(npy_column(paths)?)
        };
        wrap_ds(Dataset::from_columns(fields))
    }

    #[pyo3(signature = (buffer_size, seed=None, reshuffle_each_iteration=true))]
    fn shuffle(
        &self,
        buffer_size: &Bound<'_, PyAny>,
        seed: Option<u64>,
        reshuffle_each_iteration: bool,
    ) -> PyResult<PyDataset> {
        wrap_ds(self.inner.shuffle(count("buffer_size", buffer_size)?, seed, reshuffle_each_iteration))
    }

    #[pyo3(signature = (batch_size, drop_remainder=false))]
    fn batch(&self, batch_size: &Bound<'_, PyAny>, drop_remainder: bool) -> PyResult<PyDataset> {
        wrap_ds(self.inner.batch(count("batch_size", batch_size)?, drop_remainder))
    }

    /// `prefetch(n)`; `n = AUTOTUNE` (-1) picks the depth.
    fn prefetch(&self, buffer_size: &Bound<'_, PyAny>) -> PyResult<PyDataset> {
        // the queue is capped by what the pipeline yields, so any depth past i64 is the same
        let depth = match count_or_all("buffer_size", buffer_size)? {
            None => candle_numpy::tf::data::AUTOTUNE,
            Some(n) => i64::try_from(n).unwrap_or(i64::MAX),
        };
        wrap_ds(self.inner.prefetch(depth))
    }

    /// `tf.data.experimental.prefetch_to_device(device, buffer_size)` as a method: prefetch on
    /// a background thread that also moves each element to `device` ("cpu", "cuda",
    /// "cuda:N"); `buffer_size=None` or AUTOTUNE picks the depth.
    #[pyo3(signature = (device, buffer_size=None))]
    fn prefetch_to_device(&self, device: &Bound<'_, PyAny>, buffer_size: Option<i64>) -> PyResult<PyDataset> {
        let device = crate::convert::parse_device(Some(device))?;
        wrap_ds(self.inner.prefetch_to_device(&device, buffer_size))
    }

    /// `repeat(count=None)`: None (or -1) repeats forever.
    #[pyo3(signature = (count=None))]
    fn repeat(&self, count: Option<&Bound<'_, PyAny>>) -> PyResult<PyDataset> {
        let c = match count {
            None => None,
            Some(n) => count_or_all("count", n)?,
        };
        wrap_ds(self.inner.repeat(c))
    }

    /// `take(n)`; -1 takes everything.
    fn take(&self, count: &Bound<'_, PyAny>) -> PyResult<PyDataset> {
        wrap_ds(self.inner.take(count_or_all("count", count)?.unwrap_or(u64::MAX)))
    }

    /// `skip(n)`; -1 skips everything.
    fn skip(&self, count: &Bound<'_, PyAny>) -> PyResult<PyDataset> {
        wrap_ds(self.inner.skip(count_or_all("count", count)?.unwrap_or(u64::MAX)))
    }

    fn shard(&self, num_shards: &Bound<'_, PyAny>, index: &Bound<'_, PyAny>) -> PyResult<PyDataset> {
        wrap_ds(self.inner.shard(count("num_shards", num_shards)?, count("index", index)?))
    }

    /// The number of elements, or -1 (INFINITE) / -2 (UNKNOWN), as `tf.data`.
    fn cardinality(&self) -> i64 {
        self.inner.cardinality().as_i64()
    }

    fn __len__(&self) -> PyResult<usize> {
        match self.inner.cardinality() {
            Cardinality::Finite(n) => Ok(n as usize),
            Cardinality::Infinite => {
                Err(PyTypeError::new_err("the dataset is infinite (repeat() without a count)"))
            }
            Cardinality::Unknown => Err(PyTypeError::new_err("the length of this dataset is unknown")),
        }
    }

    fn __iter__(&self) -> PyBatchIter {
        PyBatchIter { inner: std::sync::Mutex::new(Iter::Dataset(self.inner.iter())) }
    }
}
