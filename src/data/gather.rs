//! Turning items into tensors: one `index_select` per field per batch (no per-sample loop), and
//! a view (no copy) per field for an unbatched sample.

use candle_core::{Device, Tensor};

use super::fields::Fields;
use super::source::Source;
use super::stream::Item;
use crate::error::Result;

/// The data of one item: a per-sample view, or a batch gathered along the sample axis.
pub fn gather(source: &Source, item: &Item) -> Result<Fields> {
    match item {
        Item::Sample(i) => source.fields().try_map(|t| Ok(t.get(*i as usize)?)),
        Item::Group(ids) => {
            let index = index_tensor(ids, source.len())?;
            source.fields().try_map(|t| Ok(t.index_select(&index, 0)?))
        }
    }
}

/// The batch's indices as a tensor: `u32` when every index fits (always, below 2^32 samples),
/// else `i64`.
fn index_tensor(ids: &[u64], n: u64) -> Result<Tensor> {
    let t = if n <= 1 << 32 {
        Tensor::from_vec(ids.iter().map(|&i| i as u32).collect::<Vec<_>>(), ids.len(), &Device::Cpu)
    } else {
        Tensor::from_vec(ids.iter().map(|&i| i as i64).collect::<Vec<_>>(), ids.len(), &Device::Cpu)
    };
    Ok(t?)
}
