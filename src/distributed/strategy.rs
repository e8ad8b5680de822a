//! [`Strategy`]: where the gradients of a data-parallel step are averaged.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};

use crate::error::{Error, Result};

use super::env::Ranks;

/// How the processes of a data-parallel run combine their work.
///
/// Every process holds a full copy of the model and trains on its own shard of each global
/// batch ([`Ranks::shard`]); before each optimizer step the gradients are averaged across
/// processes by an existing engine, so every process applies the same update and the weights
/// stay identical (they start identical through [`broadcast`](Self::broadcast) from rank 0).
///
/// | variant | engine | devices | feature |
/// | --- | --- | --- | --- |
/// | [`Single`](Strategy::Single) | none: one process | any | always |
/// | `Mpi(MpiStrategy)` | MPI (the system's Open MPI / MPICH, via the `mpi` crate) | CPU | `mpi` |
/// | `Nccl(NcclStrategy)` | NCCL (cudarc's bindings) | CUDA | `nccl` |
///
/// Cloning is cheap (the engine handle is shared).
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use candle_numpy::distributed::Strategy;
/// let w = Var::new(&[1f32, 2.], &Device::Cpu)?;
/// let mut grads = (w.as_tensor() * 3.)?.sum_all()?.backward()?;
/// let s = Strategy::Single;
/// assert_eq!((s.rank(), s.world_size()), (0, 1));
/// s.all_reduce_mean(&[w.clone()], &mut grads)?; // one process: the mean is its own gradient
/// assert_eq!(grads.get(&w).unwrap().to_vec1::<f32>()?, [3., 3.]);
/// # Ok::<(), candle_numpy::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// One process: nothing to combine.
    #[default]
    Single,
    /// MPI processes on CPUs (launched by `mpirun -np N`).
    #[cfg(feature = "mpi")]
    Mpi(super::MpiStrategy),
    /// One process per GPU, combined by NCCL (launched by torchrun or mpirun).
    #[cfg(feature = "nccl")]
    Nccl(super::NcclStrategy),
}

impl Strategy {
    /// The strategy the launcher asks for: MPI when this process was started by `mpirun`
    /// (Open MPI's or Hydra's variables) with more than one process and the crate has the
    /// `mpi` feature; [`Single`](Strategy::Single) when no launcher variable says more than
    /// one process. A multi-process launch without an engine compiled in is an error (rather
    /// than N processes silently training N different models). NCCL needs a device and an
    /// id exchange: build it with `NcclStrategy`'s constructors (feature `nccl`).
    pub fn from_env() -> Result<Self> {
        let ranks = Ranks::from_env()?;
        if ranks.world_size == 1 {
            return Ok(Strategy::Single);
        }
        #[cfg(feature = "mpi")]
        if std::env::var_os("OMPI_COMM_WORLD_SIZE").is_some() || std::env::var_os("PMI_SIZE").is_some() {
            return Ok(Strategy::Mpi(super::MpiStrategy::new()?));
        }
        Err(Error::Distributed {
            operation: "Strategy::from_env",
            detail: format!(
                "this process is rank {} of {} but no engine for it is compiled in or launched; \
                 on CPUs build with `--features mpi` and start with `mpirun -np {}`, on GPUs build \
                 with `--features nccl` and create an NcclStrategy",
                ranks.rank, ranks.world_size, ranks.world_size
            ),
        })
    }

    /// This process's rank and the world size.
    pub fn ranks(&self) -> Ranks {
        match self {
            Strategy::Single => Ranks::SINGLE,
            #[cfg(feature = "mpi")]
            Strategy::Mpi(m) => m.ranks(),
            #[cfg(feature = "nccl")]
            Strategy::Nccl(n) => n.ranks(),
        }
    }

    /// This process, in `0..world_size()`.
    pub fn rank(&self) -> usize {
        self.ranks().rank
    }

    /// Number of processes.
    pub fn world_size(&self) -> usize {
        self.ranks().world_size
    }

    /// Whether this is rank 0.
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// The sum over processes of a 1-D tensor (every process gets it).
    pub(crate) fn all_reduce_sum(&self, t: &Tensor) -> Result<Tensor> {
        match self {
            Strategy::Single => Ok(t.clone()),
            #[cfg(feature = "mpi")]
            Strategy::Mpi(m) => m.all_reduce_sum(t),
            #[cfg(feature = "nccl")]
            Strategy::Nccl(n) => n.all_reduce_sum(t),
        }
    }

    /// Rank 0's value of a 1-D tensor (every process passes one of the same length).
    pub(crate) fn broadcast_tensor(&self, t: &Tensor) -> Result<Tensor> {
        match self {
            Strategy::Single => Ok(t.clone()),
            #[cfg(feature = "mpi")]
            Strategy::Mpi(m) => m.broadcast(t),
            #[cfg(feature = "nccl")]
            Strategy::Nccl(n) => n.broadcast(t),
        }
    }

    /// Sum `values` across processes, in place (loss and metric totals, sample counts).
    pub fn all_reduce_sum_f64(&self, values: &mut [f64], device: &Device) -> Result<()> {
        if matches!(self, Strategy::Single) || values.is_empty() {
            return Ok(());
        }
        let t = Tensor::from_slice(values, values.len(), device)?;
        values.copy_from_slice(&self.all_reduce_sum(&t)?.to_vec1::<f64>()?);
        Ok(())
    }

    /// Rank 0's `value` (seeds that every process must agree on). Exact for any `u64`.
    pub fn broadcast_u64(&self, value: u64, device: &Device) -> Result<u64> {
        if matches!(self, Strategy::Single) {
            return Ok(value);
        }
        // two exact 32-bit halves (u32 values are exact in f64; candle has no u64 dtype)
        let halves = [(value >> 32) as f64, (value & 0xffff_ffff) as f64];
        let got = self.broadcast_tensor(&Tensor::from_slice(&halves, 2, device)?)?.to_vec1::<f64>()?;
        Ok(((got[0] as u64) << 32) | got[1] as u64)
    }

    /// Replace every process's gradients by their mean across processes (each process
    /// weighs the same, as PyTorch's `DistributedDataParallel`): exactly the gradient of the
    /// mean loss over the global batch when every process's batch has the same size. Use
    /// [`all_reduce_weighted_mean`](Self::all_reduce_weighted_mean) for unequal batches.
    ///
    /// `vars` must be the same variables, in the same order, on every process. A variable
    /// with a gradient on no process keeps having none (so optimizers skip it as they would
    /// in one process).
    pub fn all_reduce_mean(&self, vars: &[Var], grads: &mut GradStore) -> Result<()> {
        self.all_reduce_weighted_mean(vars, grads, 1.0).map(|_| ())
    }

    /// The gradients' mean across processes weighted by `weight` (this process's sample
    /// count): `sum_r w_r g_r / sum_r w_r`, the gradient of the mean loss over the union of
    /// the processes' batches whatever their sizes. A process without a batch this step
    /// takes part with weight 0 and no gradients. Returns the total weight; when it is 0 (no
    /// process had a batch) the gradients are left as they are and no step should be taken.
    ///
    /// One collective call per step: the gradients, a has-gradient count per variable and
    /// the weight travel in one flat buffer (f32, or f64 when a variable is f64).
    pub fn all_reduce_weighted_mean(&self, vars: &[Var], grads: &mut GradStore, weight: f64) -> Result<f64> {
        if matches!(self, Strategy::Single) {
            return Ok(weight);
        }
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(Error::InvalidArgument {
                operation: "all_reduce_weighted_mean",
                argument: "weight",
                value: weight.to_string(),
                fix: "use this process's sample count (>= 0)",
            });
        }
        let Some(device) = vars.first().map(|v| v.device().clone()) else { return Ok(weight) };
        let dtype = buffer_dtype(vars);
        let mut parts = Vec::with_capacity(vars.len() + 1);
        let mut present = Vec::with_capacity(vars.len() + 1);
        for v in vars {
            match grads.get(v) {
                Some(g) => {
                    parts.push(g.flatten_all()?.to_dtype(dtype)?.affine(weight, 0.0)?);
                    present.push(1.0);
                }
                None => {
                    parts.push(Tensor::zeros(v.elem_count(), dtype, &device)?);
                    present.push(0.0);
                }
            }
        }
        present.push(weight);
        parts.push(Tensor::from_vec(present, vars.len() + 1, &device)?.to_dtype(dtype)?);
        let total_len: usize = parts.iter().map(|p| p.elem_count()).sum();
        let flat = self.all_reduce_sum(&Tensor::cat(&parts, 0)?)?;
        let counts = flat
            .narrow(0, total_len - vars.len() - 1, vars.len() + 1)?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?;
        let total = counts[vars.len()];
        if total <= 0.0 {
            return Ok(0.0);
        }
        let mut offset = 0;
        for (v, &count) in vars.iter().zip(&counts) {
            let n = v.elem_count();
            if count > 0.0 {
                let g = flat.narrow(0, offset, n)?.reshape(v.shape())?.affine(1.0 / total, 0.0)?;
                grads.insert(v, g.to_dtype(v.dtype())?);
            } else {
                grads.remove(v);
            }
            offset += n;
        }
        Ok(total)
    }

    /// Overwrite `vars` on every process with rank 0's values (at the start of training, so
    /// that all processes start from the same weights). Errors on every process when the
    /// processes hold different numbers of parameters.
    pub fn broadcast(&self, vars: &[Var]) -> Result<()> {
        if matches!(self, Strategy::Single) || vars.is_empty() {
            return Ok(());
        }
        let device = vars[0].device().clone();
        let count: usize = vars.iter().map(|v| v.elem_count()).sum();
        let root_count = self.broadcast_u64(count as u64, &device)?;
        // every process learns whether any disagrees, so all fail together instead of hanging
        let mut mismatches = [f64::from(u8::from(root_count != count as u64))];
        self.all_reduce_sum_f64(&mut mismatches, &device)?;
        if mismatches[0] > 0.0 {
            return Err(Error::Distributed {
                operation: "broadcast",
                detail: format!(
                    "rank {} has {count} parameters in {} variables but rank 0 has {root_count}; \
                     build the same model on every process",
                    self.rank(),
                    vars.len()
                ),
            });
        }
        let dtype = buffer_dtype(vars);
        let parts: Vec<Tensor> =
            vars.iter().map(|v| Ok(v.as_tensor().flatten_all()?.to_dtype(dtype)?)).collect::<Result<_>>()?;
        let flat = self.broadcast_tensor(&Tensor::cat(&parts, 0)?)?;
        if self.is_root() {
            return Ok(());
        }
        let mut offset = 0;
        for v in vars {
            let n = v.elem_count();
            v.set(&flat.narrow(0, offset, n)?.reshape(v.shape())?.to_dtype(v.dtype())?)?;
            offset += n;
        }
        Ok(())
    }
}

/// The dtype gradients travel in: f64 when a variable is f64 (no precision lost), else f32
/// (f16 / bf16 gradients are summed in f32).
fn buffer_dtype(vars: &[Var]) -> DType {
    if vars.iter().any(|v| v.dtype() == DType::F64) {
        DType::F64
    } else {
        DType::F32
    }
}
