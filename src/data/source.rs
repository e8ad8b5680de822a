//! [`Source`]: validated dataset fields, kept exactly as given (no copy of the data).

use super::column::Column;
use super::fields::Fields;
use crate::error::{Error, Result};

/// The tensors a dataset draws samples from, checked once: at least one field, all on the CPU,
/// each with a sample axis in front, all with the same number of samples, distinct dict names.
///
/// The tensors are held as given (clones of candle tensors share storage), so a dataset over
/// NumPy memory shared with [`Sharing::Share`](crate::Sharing::Share) copies nothing until a
/// batch is gathered. A field may also be a file read by rows ([`Column::File`], see
/// [`Source::from_columns`]), for datasets larger than memory.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candle_numpy::data::{Fields, Source};
/// let x = Tensor::zeros((5, 3), candle_core::DType::F32, &Device::Cpu)?;
/// let y = Tensor::zeros(4, candle_core::DType::I64, &Device::Cpu)?;
/// let err = Source::new(Fields::Tuple(vec![x, y])).unwrap_err();
/// assert!(err.to_string().contains("5 samples"));
/// # Ok::<(), candle_numpy::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Source {
    fields: Fields<Column>,
    len: u64,
}

impl Source {
    /// Validate `fields` as a dataset source.
    ///
    /// A tensor that is not C-contiguous (a Fortran-order array, a pandas frame's values) is
    /// made contiguous here, once: batches are gathered with `index_select`, which needs it.
    pub fn new(fields: impl Into<Fields>) -> Result<Self> {
        Self::from_columns(fields.into().try_map(|t| Ok(Column::Tensor(t.clone())))?)
    }

    /// Validate columns (tensors and files by rows, mixed freely) as a dataset source; tensors
    /// are made contiguous as in [`Source::new`].
    pub fn from_columns(fields: Fields<Column>) -> Result<Self> {
        let fields = fields.try_map(|c| match c {
            Column::Tensor(t) if !t.is_contiguous() => Ok(Column::Tensor(t.contiguous()?)),
            other => Ok(other.clone()),
        })?;
        let names: Vec<String> = match &fields {
            Fields::Single(_) => vec!["0".into()],
            Fields::Tuple(ts) => (0..ts.len()).map(|i| i.to_string()).collect(),
            Fields::Dict(kv) => kv.iter().map(|(k, _)| format!("{k:?}")).collect(),
        };
        if fields.is_empty() {
            return Err(Error::InvalidArgument {
                operation: "dataset from tensor slices",
                argument: "tensors",
                value: "no tensors".into(),
                fix: "pass at least one tensor whose first dimension is the sample axis",
            });
        }
        if let Fields::Dict(kv) = &fields {
            for (i, (k, _)) in kv.iter().enumerate() {
                if kv[..i].iter().any(|(other, _)| other == k) {
                    return Err(Error::InvalidArgument {
                        operation: "dataset from tensor slices",
                        argument: "dict key",
                        value: format!("{k:?} (given twice)"),
                        fix: "use distinct field names",
                    });
                }
            }
        }
        let mut len = None;
        for (name, t) in names.iter().zip(fields.tensors()) {
            if let Some(t) = t.as_tensor().filter(|t| !t.device().is_cpu()) {
                return Err(Error::NotOnCpu {
                    operation: "a dataset source",
                    device: format!("{:?}", t.device().location()),
                });
            }
            let Some(&n) = t.dims().first() else {
                return Err(Error::InvalidArgument {
                    operation: "dataset from tensor slices",
                    argument: "tensor rank",
                    value: format!("field {name} is a scalar (shape [])"),
                    fix: "every field needs a sample axis in front: reshape it to [1] or [n, ...]",
                });
            };
            match len {
                None => len = Some((name.clone(), n)),
                Some((ref first, m)) if m != n => {
                    return Err(Error::SampleCountMismatch {
                        first: first.clone(),
                        first_len: m,
                        field: name.clone(),
                        len: n,
                    })
                }
                Some(_) => {}
            }
        }
        let len = len.map(|(_, n)| n as u64).unwrap_or(0);
        Ok(Source { fields, len })
    }

    /// Number of samples (the shared first dimension).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The fields, as given.
    pub fn fields(&self) -> &Fields<Column> {
        &self.fields
    }

    /// The fields as tensors, when every field is one (`None` when a field is a file).
    pub fn tensors(&self) -> Option<Fields> {
        let t = |c: &Column| c.as_tensor().cloned();
        Some(match &self.fields {
            Fields::Single(c) => Fields::Single(t(c)?),
            Fields::Tuple(cs) => Fields::Tuple(cs.iter().map(t).collect::<Option<_>>()?),
            Fields::Dict(kv) => {
                Fields::Dict(kv.iter().map(|(k, c)| Some((k.clone(), t(c)?))).collect::<Option<_>>()?)
            }
        })
    }

    /// Whether any field is read from a file.
    pub fn reads_files(&self) -> bool {
        self.fields.tensors().iter().any(|c| matches!(c, Column::File(_)))
    }
}
