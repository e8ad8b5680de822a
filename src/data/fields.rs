//! [`Fields`]: the structure of a dataset element (one tensor, a tuple, or a named dict) and of
//! the batches that come back (the same structure, each tensor with a batch axis in front).

use candle_core::Tensor;

/// One tensor, a tuple of tensors, or an ordered dict of named tensors.
///
/// Used both for what a dataset is built from (each tensor's first dimension is the sample
/// axis) and for what iteration yields (the same structure, per sample or per batch).
///
/// Generic over what each field holds: tensors by default, [`Column`](super::Column)s in a
/// [`Source`](super::Source) (where a field may also be a `.npy` file read by rows).
#[derive(Debug, Clone)]
pub enum Fields<T = Tensor> {
    /// A single tensor (`from_tensor_slices(x)`).
    Single(T),
    /// A tuple (`from_tensor_slices((x, y))`, `TensorDataset(x, y)`).
    Tuple(Vec<T>),
    /// Named tensors in the order given (`from_tensor_slices({"x": x, "y": y})`).
    Dict(Vec<(String, T)>),
}

/// What iteration yields: an element of the (possibly batched) dataset.
pub type Batch = Fields;

impl<T> Fields<T> {
    /// The tensors in field order.
    pub fn tensors(&self) -> Vec<&T> {
        match self {
            Fields::Single(t) => vec![t],
            Fields::Tuple(ts) => ts.iter().collect(),
            Fields::Dict(kv) => kv.iter().map(|(_, t)| t).collect(),
        }
    }

    /// The tensors in field order, by value.
    pub fn into_tensors(self) -> Vec<T> {
        match self {
            Fields::Single(t) => vec![t],
            Fields::Tuple(ts) => ts,
            Fields::Dict(kv) => kv.into_iter().map(|(_, t)| t).collect(),
        }
    }

    /// The field names of a dict (`None` for a single tensor or a tuple).
    pub fn names(&self) -> Option<Vec<&str>> {
        match self {
            Fields::Dict(kv) => Some(kv.iter().map(|(k, _)| k.as_str()).collect()),
            _ => None,
        }
    }

    /// The tensor named `name` in a dict.
    pub fn get(&self, name: &str) -> Option<&T> {
        match self {
            Fields::Dict(kv) => kv.iter().find(|(k, _)| k == name).map(|(_, t)| t),
            _ => None,
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            Fields::Single(_) => 1,
            Fields::Tuple(ts) => ts.len(),
            Fields::Dict(kv) => kv.len(),
        }
    }

    /// Whether there are no fields (never true for a validated source).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same structure with every tensor replaced by `f(tensor)`.
    pub fn try_map<U>(&self, mut f: impl FnMut(&T) -> crate::Result<U>) -> crate::Result<Fields<U>> {
        Ok(match self {
            Fields::Single(t) => Fields::Single(f(t)?),
            Fields::Tuple(ts) => Fields::Tuple(ts.iter().map(f).collect::<crate::Result<_>>()?),
            Fields::Dict(kv) => {
                Fields::Dict(kv.iter().map(|(k, t)| Ok((k.clone(), f(t)?))).collect::<crate::Result<_>>()?)
            }
        })
    }
}

impl From<Tensor> for Fields {
    fn from(t: Tensor) -> Self {
        Fields::Single(t)
    }
}

impl From<Vec<Tensor>> for Fields {
    fn from(ts: Vec<Tensor>) -> Self {
        Fields::Tuple(ts)
    }
}

impl From<(Tensor, Tensor)> for Fields {
    fn from((a, b): (Tensor, Tensor)) -> Self {
        Fields::Tuple(vec![a, b])
    }
}

impl From<Vec<(String, Tensor)>> for Fields {
    fn from(kv: Vec<(String, Tensor)>) -> Self {
        Fields::Dict(kv)
    }
}

impl From<Vec<(&str, Tensor)>> for Fields {
    fn from(kv: Vec<(&str, Tensor)>) -> Self {
        Fields::Dict(kv.into_iter().map(|(k, t)| (k.to_string(), t)).collect())
    }
}
