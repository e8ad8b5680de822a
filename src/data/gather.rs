//! Turning items into tensors: one gather per field per batch (an `index_select` for tensors,
//! positioned reads for files; no per-sample loop), and a view per tensor field for an
//! unbatched sample.

use std::cell::OnceCell;

use candle_core::{Device, Tensor};

use super::fields::Fields;
use super::source::Source;
use super::stream::Item;
use crate::error::Result;

/// The data of one item: a per-sample view, or a batch gathered along the sample axis.
pub fn gather(source: &Source, item: &Item) -> Result<Fields> {
    match item {
        Item::Sample(i) => source.fields().try_map(|c| c.sample(*i)),
        Item::Group(ids) => {
            let index = OnceCell::new();
            let make = || -> Result<Tensor> {
                if let Some(t) = index.get() {
                    return Ok(Tensor::clone(t));
                }
                let t = index_tensor(ids, source.len())?;
                Ok(index.get_or_init(|| t).clone())
            };
            source.fields().try_map(|c| c.gather(ids, &make))
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
