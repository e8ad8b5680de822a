//! [`Column`]: what one field of a dataset source holds: a tensor (in memory, or sharing NumPy
//! or mapped memory), or a file read by rows ([`RowFile`]).

use std::sync::Arc;

use candle_core::{DType, Tensor};

use super::row_file::RowFile;
use crate::error::Result;

/// One field of a [`Source`](super::Source).
///
/// | column | a sample | a batch |
/// | --- | --- | --- |
/// | `Tensor` | a view (no copy) | one `index_select` |
/// | `File` | one positioned read | positioned reads of the batch's rows, nothing else resident |
#[derive(Debug, Clone)]
pub enum Column {
    /// A tensor whose first dimension is the sample axis.
    Tensor(Tensor),
    /// An array in a file, read by rows on demand.
    File(Arc<RowFile>),
}

impl Column {
    /// The full shape (samples first).
    pub fn dims(&self) -> &[usize] {
        match self {
            Column::Tensor(t) => t.dims(),
            Column::File(f) => f.shape(),
        }
    }

    /// The candle dtype of what the column yields.
    pub fn dtype(&self) -> DType {
        match self {
            Column::Tensor(t) => t.dtype(),
            Column::File(f) => f.dtype(),
        }
    }

    /// Whether the data is reachable from the CPU (files always are).
    pub fn is_cpu(&self) -> bool {
        match self {
            Column::Tensor(t) => t.device().is_cpu(),
            Column::File(_) => true,
        }
    }

    /// Bytes of one sample as yielded.
    pub fn sample_bytes(&self) -> usize {
        let per: usize = self.dims().iter().skip(1).product();
        per * self.dtype().size_in_bytes()
    }

    /// Sample `i` (a view for tensors, a read for files).
    pub fn sample(&self, i: u64) -> Result<Tensor> {
        match self {
            Column::Tensor(t) => Ok(t.get(i as usize)?),
            Column::File(f) => f.row(i),
        }
    }

    /// Samples `ids` stacked along a new first axis; `index` is `ids` as an index tensor
    /// (built once per batch and shared by the tensor columns).
    pub fn gather(&self, ids: &[u64], index: &dyn Fn() -> Result<Tensor>) -> Result<Tensor> {
        match self {
            Column::Tensor(t) => Ok(t.index_select(&index()?, 0)?),
            Column::File(f) => f.gather(ids),
        }
    }

    /// The tensor, for a tensor column.
    pub fn as_tensor(&self) -> Option<&Tensor> {
        match self {
            Column::Tensor(t) => Some(t),
            Column::File(_) => None,
        }
    }
}

impl From<Tensor> for Column {
    fn from(t: Tensor) -> Self {
        Column::Tensor(t)
    }
}

impl From<RowFile> for Column {
    fn from(f: RowFile) -> Self {
        Column::File(Arc::new(f))
    }
}
