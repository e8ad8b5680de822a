//! [`Source`]: validated dataset fields, kept exactly as given (no copy of the data).

use super::fields::Fields;
use crate::error::{Error, Result};

/// The tensors a dataset draws samples from, checked once: at least one field, all on the CPU,
/// each with a sample axis in front, all with the same number of samples, distinct dict names.
///
/// The tensors are held as given (clones of candle tensors share storage), so a dataset over
/// NumPy memory shared with [`Sharing::Share`](crate::Sharing::Share) copies nothing until a
/// batch is gathered.
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
    fields: Fields,
    len: u64,
}

impl Source {
    /// Validate `fields` as a dataset source.
    pub fn new(fields: impl Into<Fields>) -> Result<Self> {
        let fields = fields.into();
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
            if !t.device().is_cpu() {
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
    pub fn fields(&self) -> &Fields {
        &self.fields
    }
}
