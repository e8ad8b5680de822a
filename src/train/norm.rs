//! Normalisation and embedding layers for both facades: batch normalisation (torch's
//! `BatchNorm1d/2d`, Keras's `BatchNormalization`), layer normalisation (`LayerNorm`,
//! `LayerNormalization`) and embedding lookups (`Embedding`).
//!
//! They are written with candle's differentiable ops (means, broadcasts, `index_select`), so
//! their gradients are candle's backprop of those ops; the facades differ only in defaults
//! and in how running statistics are kept, which [`update_running`] takes as arguments:
//!
//! | | torch | Keras |
//! | --- | --- | --- |
//! | running update | `(1 - m) * running + m * batch`, `m = 0.1` | `m * running + (1 - m) * batch`, `m = 0.99` |
//! | running variance | unbiased (`n / (n - 1)`) | biased, as normalised with |
//! | `eps` | `1e-5` | `1e-3` |

use candle_core::{DType, Tensor, Var};

use crate::error::{Error, Result};

/// The axes of `x` other than `axis`, and the shape that broadcasts a per-channel vector
/// along `axis`.
fn reduce_axes(x: &Tensor, axis: usize) -> (Vec<usize>, Vec<usize>) {
    let axes = (0..x.rank()).filter(|&a| a != axis).collect();
    let mut shape = vec![1; x.rank()];
    shape[axis] = x.dims()[axis];
    (axes, shape)
}

fn check_channel_vector(
    t: Option<&Tensor>,
    what: &'static str,
    channels: usize,
    operation: &'static str,
) -> Result<()> {
    match t {
        Some(t) if t.dims() != [channels] => Err(Error::ShapeMismatch {
            operation,
            detail: format!("the {what} must have shape [{channels}] (one per channel), got {:?}", t.dims()),
        }),
        _ => Ok(()),
    }
}

/// What a batch-normalisation pass normalises with.
#[derive(Debug, Clone, Copy)]
pub enum Statistics<'a> {
    /// The batch's own mean and (biased) variance: training.
    Batch,
    /// Given per-channel mean and variance (the running estimates): inference.
    Running {
        /// Per-channel mean.
        mean: &'a Tensor,
        /// Per-channel variance.
        var: &'a Tensor,
    },
}

/// The output of [`batch_norm`], and under [`Statistics::Batch`] the batch's per-channel mean
/// and biased variance (detached, for [`update_running`]) with the number of values per
/// channel.
#[derive(Debug, Clone)]
pub struct BatchNormOutput {
    /// The normalised, scaled and shifted input.
    pub y: Tensor,
    /// `(mean, biased variance, values per channel)` of a training pass.
    pub batch: Option<(Tensor, Tensor, usize)>,
}

/// Batch normalisation of `x` over every axis but `axis` (the channel axis: 1 for torch's
/// `(N, C, ...)`, the last for Keras's channels-last):
/// `(x - mean) / sqrt(var + eps) * gamma + beta`, with `gamma` and `beta` optional `(C,)`
/// tensors. Differentiable in `x`, `gamma` and `beta`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candle_numpy::train::norm::{batch_norm, Statistics};
///
/// let x = Tensor::new(&[[1f32, 10.0], [3.0, 30.0]], &Device::Cpu)?; // (N=2, C=2)
/// let out = batch_norm(&x, 1, None, None, 0.0, Statistics::Batch)?;
/// assert_eq!(out.y.to_vec2::<f32>()?, [[-1.0, -1.0], [1.0, 1.0]]);
/// let (mean, var, count) = out.batch.unwrap();
/// assert_eq!((mean.to_vec1::<f32>()?, var.to_vec1::<f32>()?, count), (vec![2.0, 20.0], vec![1.0, 100.0], 2));
/// # Ok::<(), candle_numpy::Error>(())
/// ```
pub fn batch_norm(
    x: &Tensor,
    axis: usize,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f64,
    stats: Statistics<'_>,
) -> Result<BatchNormOutput> {
    if axis >= x.rank() || x.rank() < 2 {
        return Err(Error::ShapeMismatch {
            operation: "batch_norm",
            detail: format!(
                "the channel axis {axis} is not an axis of the input of shape {:?} (which needs a \
                 batch axis and a channel axis)",
                x.dims()
            ),
        });
    }
    let channels = x.dims()[axis];
    check_channel_vector(gamma, "weight (gamma)", channels, "batch_norm")?;
    check_channel_vector(beta, "bias (beta)", channels, "batch_norm")?;
    let (axes, shape) = reduce_axes(x, axis);
    let count = x.elem_count() / channels.max(1);
    let (xc, var, batch) = match stats {
        Statistics::Batch => {
            if count <= 1 {
                return Err(Error::ShapeMismatch {
                    operation: "batch_norm",
                    detail: format!(
                        "training needs more than one value per channel, got input of shape {:?}; \
                         use a larger batch, or eval() mode",
                        x.dims()
                    ),
                });
            }
            let mean = x.mean_keepdim(axes.clone())?;
            let xc = x.broadcast_sub(&mean)?;
            let var = xc.sqr()?.mean_keepdim(axes)?;
            let batch = (mean.detach().flatten_all()?, var.detach().flatten_all()?, count);
            (xc, var, Some(batch))
        }
        Statistics::Running { mean, var } => {
            check_channel_vector(Some(mean), "running mean", channels, "batch_norm")?;
            check_channel_vector(Some(var), "running variance", channels, "batch_norm")?;
            let cast = |t: &Tensor| -> Result<Tensor> {
                crate::dtype::cast(&t.detach(), x.dtype())?.reshape(shape.clone()).map_err(Into::into)
            };
            (x.broadcast_sub(&cast(mean)?)?, cast(var)?, None)
        }
    };
    let mut y = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    if let Some(g) = gamma {
        y = y.broadcast_mul(&crate::dtype::cast(g, x.dtype())?.reshape(shape.clone())?)?;
    }
    if let Some(b) = beta {
        y = y.broadcast_add(&crate::dtype::cast(b, x.dtype())?.reshape(shape)?)?;
    }
    Ok(BatchNormOutput { y, batch })
}

/// The running estimates after a training batch:
/// `(1 - new_weight) * running + new_weight * batch` for the mean and the variance, the
/// variance made unbiased first (`* n / (n - 1)`) when `unbiased` (torch) or kept biased
/// (Keras). torch's `momentum=0.1` is `new_weight = 0.1`; Keras's `momentum=0.99` is
/// `new_weight = 0.01`. Returns the new `(mean, variance)` in the running tensors' dtype.
pub fn running_statistics(
    running_mean: &Tensor,
    running_var: &Tensor,
    batch: &(Tensor, Tensor, usize),
    new_weight: f64,
    unbiased: bool,
) -> Result<(Tensor, Tensor)> {
    let (mean, var, n) = batch;
    let var = if unbiased && *n > 1 { var.affine(*n as f64 / (*n - 1) as f64, 0.0)? } else { var.clone() };
    let fold = |running: &Tensor, value: &Tensor| -> Result<Tensor> {
        let value = crate::dtype::cast(value, running.dtype())?;
        Ok((running.affine(1.0 - new_weight, 0.0)? + value.affine(new_weight, 0.0)?)?)
    };
    Ok((fold(running_mean, mean)?, fold(running_var, &var)?))
}

/// [`running_statistics`] written into the running variables.
pub fn update_running(
    running_mean: &Var,
    running_var: &Var,
    batch: &(Tensor, Tensor, usize),
    new_weight: f64,
    unbiased: bool,
) -> Result<()> {
    let (mean, var) = running_statistics(running_mean, running_var, batch, new_weight, unbiased)?;
    running_mean.set(&mean)?;
    running_var.set(&var)?;
    Ok(())
}

/// Layer normalisation over the last `normalized` axes of `x`:
/// `(x - mean) / sqrt(var + eps) * gamma + beta`, statistics per sample (biased variance),
/// `gamma` and `beta` of the normalised shape (torch's `LayerNorm(normalized_shape)`,
/// Keras's `LayerNormalization(axis=-1)`). Differentiable in all three.
pub fn layer_norm(
    x: &Tensor,
    normalized: usize,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    if normalized == 0 || normalized > x.rank() {
        return Err(Error::ShapeMismatch {
            operation: "layer_norm",
            detail: format!(
                "cannot normalise over the last {normalized} axes of an input of shape {:?}",
                x.dims()
            ),
        });
    }
    let tail = &x.dims()[x.rank() - normalized..];
    for (t, what) in [(gamma, "weight (gamma)"), (beta, "bias (beta)")] {
        if let Some(t) = t {
            if t.dims() != tail {
                return Err(Error::ShapeMismatch {
                    operation: "layer_norm",
                    detail: format!("the {what} must have the normalised shape {tail:?}, got {:?}", t.dims()),
                });
            }
        }
    }
    let axes: Vec<usize> = (x.rank() - normalized..x.rank()).collect();
    let mean = x.mean_keepdim(axes.clone())?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(axes)?;
    let mut y = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    if let Some(g) = gamma {
        y = y.broadcast_mul(&crate::dtype::cast(g, x.dtype())?)?;
    }
    if let Some(b) = beta {
        y = y.broadcast_add(&crate::dtype::cast(b, x.dtype())?)?;
    }
    Ok(y)
}

/// An embedding lookup: row `ids[...]` of `table` `(num, dim)` for every id, shape
/// `ids.shape + (dim,)`. Differentiable in `table` (the rows' gradients are summed per id);
/// the row `padding_idx`, when given, gets no gradient (torch's `padding_idx`). Ids must be
/// integers in `[0, num)`: others are refused, naming the first bad one.
pub fn embedding(ids: &Tensor, table: &Tensor, padding_idx: Option<usize>) -> Result<Tensor> {
    let &[num, dim] = table.dims() else {
        return Err(Error::ShapeMismatch {
            operation: "embedding",
            detail: format!("the table must be 2-d (num_embeddings, embedding_dim), got {:?}", table.dims()),
        });
    };
    if ids.dtype().is_float() {
        return Err(Error::InvalidArgument {
            operation: "embedding",
            argument: "input",
            value: format!("{:?} ids", ids.dtype()),
            fix: "ids must be integers (int64 or int32 or uint8/uint32): cast with .long() or .astype(int)",
        });
    }
    let flat = ids.flatten_all()?.to_dtype(DType::I64)?;
    let values = flat.to_vec1::<i64>()?;
    if let Some(bad) = values.iter().find(|&&v| v < 0 || v as u64 >= num as u64) {
        return Err(Error::InvalidArgument {
            operation: "embedding",
            argument: "input",
            value: format!("id {bad}"),
            fix: "every id must be in [0, num_embeddings): the table has fewer rows than the id",
        });
    }
    let index = flat.to_dtype(DType::U32)?;
    let rows = table.index_select(&index, 0)?;
    let rows = match padding_idx {
        Some(p) if values.contains(&(p as i64)) => {
            // the padding rows' values, with no gradient to the table
            let frozen = table.detach().index_select(&index, 0)?;
            let is_pad = flat.eq(p as i64)?.unsqueeze(1)?.broadcast_as(rows.shape())?;
            is_pad.where_cond(&frozen, &rows)?
        }
        _ => rows,
    };
    let mut shape = ids.dims().to_vec();
    shape.push(dim);
    Ok(rows.reshape(shape)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol, "[{i}] {x} vs {y}");
        }
    }

    #[test]
    fn batch_norm_training_gradient_matches_the_closed_form() -> Result<()> {
        // (N=4, C=2, L=3), channel axis 1; objective sum(y * r)
        let dev = Device::Cpu;
        let xv: Vec<f64> = (0..24).map(|i| ((i * 7) % 11) as f64 * 0.5 - 2.0).collect();
        let rv: Vec<f64> = (0..24).map(|i| ((i * 5) % 7) as f64 - 3.0).collect();
        let x = Var::from_tensor(&Tensor::from_vec(xv.clone(), (4, 2, 3), &dev)?)?;
        let gamma = Var::from_tensor(&Tensor::new(&[1.5f64, -0.5], &dev)?)?;
        let beta = Var::from_tensor(&Tensor::new(&[0.25f64, 2.0], &dev)?)?;
        let eps = 1e-5;
        let out = batch_norm(&x, 1, Some(&gamma), Some(&beta), eps, Statistics::Batch)?;
        let r = Tensor::from_vec(rv.clone(), (4, 2, 3), &dev)?;
        let grads = (&out.y * &r)?.sum_all()?.backward()?;
        let gx = grads.get(&x).unwrap().flatten_all()?.to_vec1::<f64>()?;
        let y = out.y.flatten_all()?.to_vec1::<f64>()?;
        let (g, b) = ([1.5, -0.5], [0.25, 2.0]);
        let (mut want_y, mut want_gx) = (vec![0.0; 24], vec![0.0; 24]);
        let (mut dgamma, mut dbeta) = ([0.0; 2], [0.0; 2]);
        for c in 0..2 {
            let idx: Vec<usize> = (0..4).flat_map(|n| (0..3).map(move |l| n * 6 + c * 3 + l)).collect();
            let m = idx.len() as f64;
            let mean = idx.iter().map(|&i| xv[i]).sum::<f64>() / m;
            let var = idx.iter().map(|&i| (xv[i] - mean).powi(2)).sum::<f64>() / m;
            let inv = 1.0 / (var + eps).sqrt();
            let xhat: Vec<f64> = idx.iter().map(|&i| (xv[i] - mean) * inv).collect();
            let dxhat: Vec<f64> = idx.iter().map(|&i| rv[i] * g[c]).collect();
            let mean_d = dxhat.iter().sum::<f64>() / m;
            let mean_dx = dxhat.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / m;
            for (k, &i) in idx.iter().enumerate() {
                want_y[i] = xhat[k] * g[c] + b[c];
                want_gx[i] = inv * (dxhat[k] - mean_d - xhat[k] * mean_dx);
                dgamma[c] += rv[i] * xhat[k];
                dbeta[c] += rv[i];
            }
        }
        close(&y, &want_y, 1e-12);
        close(&gx, &want_gx, 1e-10);
        close(&grads.get(&gamma).unwrap().to_vec1::<f64>()?, &dgamma, 1e-10);
        close(&grads.get(&beta).unwrap().to_vec1::<f64>()?, &dbeta, 1e-12);
        // the running estimates, both conventions (12 values per channel)
        let batch = out.batch.unwrap();
        let (mean, var) = (batch.0.to_vec1::<f64>()?, batch.1.to_vec1::<f64>()?);
        let rm = Var::from_tensor(&Tensor::new(&[1.0f64, 1.0], &dev)?)?;
        let rvv = Var::from_tensor(&Tensor::new(&[1.0f64, 1.0], &dev)?)?;
        update_running(&rm, &rvv, &batch, 0.1, true)?;
        close(&rm.to_vec1::<f64>()?, &[0.9 + 0.1 * mean[0], 0.9 + 0.1 * mean[1]], 1e-12);
        close(
            &rvv.to_vec1::<f64>()?,
            &[0.9 + 0.1 * var[0] * 12.0 / 11.0, 0.9 + 0.1 * var[1] * 12.0 / 11.0],
            1e-12,
        );
        let km = Var::from_tensor(&Tensor::new(&[0.0f64, 0.0], &dev)?)?;
        let kv = Var::from_tensor(&Tensor::new(&[1.0f64, 1.0], &dev)?)?;
        update_running(&km, &kv, &batch, 0.01, false)?;
        close(&kv.to_vec1::<f64>()?, &[0.99 + 0.01 * var[0], 0.99 + 0.01 * var[1]], 1e-12);
        // inference with the running statistics: no batch statistics, plain affine map
        let e = batch_norm(
            &x,
            1,
            None,
            None,
            eps,
            Statistics::Running { mean: km.as_tensor(), var: kv.as_tensor() },
        )?;
        assert!(e.batch.is_none());
        let k0 = km.to_vec1::<f64>()?[0];
        let v0 = kv.to_vec1::<f64>()?[0];
        let e0 = e.y.flatten_all()?.to_vec1::<f64>()?[0];
        assert!((e0 - (xv[0] - k0) / (v0 + eps).sqrt()).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn batch_norm_refuses_a_single_value_per_channel() {
        let x = Tensor::zeros((1, 3), DType::F32, &Device::Cpu).unwrap();
        let err = batch_norm(&x, 1, None, None, 1e-5, Statistics::Batch).unwrap_err().to_string();
        assert!(err.contains("more than one value per channel"), "{err}");
    }

    #[test]
    fn layer_norm_per_sample() -> Result<()> {
        let x = Tensor::new(&[[1f64, 2.0, 3.0, 4.0], [0.0, 0.0, 2.0, 2.0]], &Device::Cpu)?;
        let g = Tensor::new(&[1f64, 1.0, 2.0, 2.0], &Device::Cpu)?;
        let y = layer_norm(&x, 1, Some(&g), None, 0.0)?.to_vec2::<f64>()?;
        let s = 1.25f64.sqrt();
        close(&y[0], &[-1.5 / s, -0.5 / s, 2.0 * 0.5 / s, 2.0 * 1.5 / s], 1e-12);
        close(&y[1], &[-1.0, -1.0, 2.0, 2.0], 1e-12);
        let err = layer_norm(&x, 1, Some(&Tensor::new(&[1f64], &Device::Cpu)?), None, 0.0).unwrap_err();
        assert!(err.to_string().contains("normalised shape [4]"), "{err}");
        Ok(())
    }

    #[test]
    fn embedding_lookup_gradients_and_padding() -> Result<()> {
        let dev = Device::Cpu;
        let table = Var::from_tensor(&Tensor::new(&[[0f32, 1.0], [2.0, 3.0], [4.0, 5.0]], &dev)?)?;
        let ids = Tensor::new(&[[2i64, 0], [2, 1]], &dev)?;
        let y = embedding(&ids, &table, Some(0))?;
        assert_eq!(y.dims(), [2, 2, 2]);
        assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [4.0, 5.0, 0.0, 1.0, 4.0, 5.0, 2.0, 3.0]);
        let g = y.sum_all()?.backward()?;
        // row 2 is used twice, row 1 once, row 0 is the padding row: no gradient
        assert_eq!(g.get(&table).unwrap().to_vec2::<f32>()?, [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]);
        let err = embedding(&Tensor::new(&[3u32], &dev)?, &table, None).unwrap_err().to_string();
        assert!(err.contains("id 3") && err.contains("num_embeddings"), "{err}");
        let err = embedding(&Tensor::new(&[-1i64], &dev)?, &table, None).unwrap_err().to_string();
        assert!(err.contains("id -1"), "{err}");
        let err = embedding(&Tensor::new(&[1f32], &dev)?, &table, None).unwrap_err().to_string();
        assert!(err.contains("integers"), "{err}");
        Ok(())
    }
}
