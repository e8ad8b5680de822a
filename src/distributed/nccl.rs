//! [`NcclStrategy`]: gradients averaged by NCCL (feature `nccl`), one process per GPU.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use candle_core::backend::BackendStorage;
use candle_core::{CudaStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};
use cudarc::nccl::safe::{Comm, Id, ReduceOp};

use crate::error::{Error, Result};

use super::env::Ranks;

/// How long non-root ranks wait for rank 0's id file.
const ID_FILE_TIMEOUT: Duration = Duration::from_secs(120);

/// A communicator that may move between threads; its calls are serialised by the mutex.
struct SharedComm(Mutex<Comm>);

// SAFETY: an NCCL communicator may be used from any thread as long as no two threads call it
// at once (NCCL's thread-safety rules); every use below holds the mutex. The stream it holds
// (`Arc<CudaStream>`) is itself `Send + Sync`.
unsafe impl Send for SharedComm {}
// SAFETY: as above: `&SharedComm` only reaches the communicator through the mutex.
unsafe impl Sync for SharedComm {}

impl std::fmt::Debug for SharedComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NcclComm")
    }
}

/// Data-parallel processes on CUDA GPUs, combined by NCCL (`ncclAllReduce`, `ncclBroadcast`)
/// through cudarc's bindings, on the stream candle's device uses, so the collectives are
/// ordered with the training kernels without host synchronisation.
///
/// One process per GPU: started by `torchrun --nproc-per-node=N ./train` (it sets `RANK`,
/// `WORLD_SIZE`, `LOCAL_RANK`) or `mpirun -np N ./train`. The processes agree on an NCCL
/// id through a file ([`from_env`](Self::from_env)) or any channel of yours
/// ([`unique_id`](Self::unique_id) on rank 0, then [`new`](Self::new) everywhere).
#[derive(Debug, Clone)]
pub struct NcclStrategy {
    comm: Arc<SharedComm>,
    device: Device,
    ranks: Ranks,
}

impl NcclStrategy {
    /// A new NCCL id (on rank 0), to hand to every process: 128 bytes.
    pub fn unique_id() -> Result<[u8; 128]> {
        let id = Id::new().map_err(|e| nccl_error("NcclStrategy::unique_id", e))?;
        Ok(id.internal().map(|c| c as u8))
    }

    /// Join the NCCL communicator `id` as `ranks.rank` of `ranks.world_size`, on `device`
    /// (a CUDA device, usually `cuda:LOCAL_RANK`). Blocks until every rank has joined.
    pub fn new(device: &Device, ranks: Ranks, id: [u8; 128]) -> Result<Self> {
        let Device::Cuda(cuda) = device else {
            return Err(Error::Distributed {
                operation: "NcclStrategy::new",
                detail: format!(
                    "NCCL runs on CUDA devices, not {device:?}; pass Device::new_cuda(local_rank), or \
                     use MpiStrategy (feature mpi) on CPUs"
                ),
            });
        };
        let id = Id::uninit(id.map(|b| b as std::ffi::c_char));
        let comm = Comm::from_rank(cuda.cuda_stream(), ranks.rank, ranks.world_size, id)
            .map_err(|e| nccl_error("NcclStrategy::new", e))?;
        Ok(NcclStrategy { comm: Arc::new(SharedComm(Mutex::new(comm))), device: device.clone(), ranks })
    }

    /// Join the job the launcher describes ([`Ranks::from_env`]) on `cuda:LOCAL_RANK`. Rank 0
    /// writes a fresh NCCL id to `id_file` and the others wait for it (up to two minutes), so
    /// `id_file` must be a path every process sees (one machine, or a shared file system) and
    /// new for each run (for example `/tmp/nccl-$MASTER_PORT.id`); rank 0 removes it once every
    /// rank has joined.
    pub fn from_env(id_file: impl AsRef<Path>) -> Result<Self> {
        let ranks = Ranks::from_env()?;
        let device = Device::new_cuda(ranks.local_rank)?;
        let path = id_file.as_ref();
        let io = |operation, source| Error::Io { operation, path: path.into(), source };
        let id = if ranks.is_root() {
            let id = Self::unique_id()?;
            // written whole under another name, then renamed: readers never see half an id
            let tmp = path.with_extension("partial");
            std::fs::write(&tmp, id).map_err(|e| io("write", e))?;
            std::fs::rename(&tmp, path).map_err(|e| io("rename", e))?;
            id
        } else {
            let start = Instant::now();
            loop {
                match std::fs::read(path) {
                    Ok(bytes) if bytes.len() == 128 => {
                        break <[u8; 128]>::try_from(bytes).unwrap_or([0; 128])
                    }
                    _ if start.elapsed() > ID_FILE_TIMEOUT => {
                        return Err(Error::Distributed {
                            operation: "NcclStrategy::from_env",
                            detail: format!(
                                "rank {} waited {}s for rank 0's NCCL id in {}; start rank 0 with the \
                                 same id_file, on a path every process can read",
                                ranks.rank,
                                ID_FILE_TIMEOUT.as_secs(),
                                path.display()
                            ),
                        })
                    }
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        };
        let strategy = Self::new(&device, ranks, id)?;
        if ranks.is_root() {
            // every rank has joined (communicator creation is collective): the id is used up
            let _ = std::fs::remove_file(path);
        }
        Ok(strategy)
    }

    /// This process's rank and the world size.
    pub fn ranks(&self) -> Ranks {
        self.ranks
    }

    /// The CUDA device the communicator runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn on_device(&self, t: &Tensor) -> Result<Tensor> {
        Ok(t.to_device(&self.device)?.contiguous()?)
    }

    /// `ncclAllReduce(sum)` of a 1-D f32 / f64 tensor (result on the tensor's device).
    pub(crate) fn all_reduce_sum(&self, t: &Tensor) -> Result<Tensor> {
        let out =
            self.on_device(t)?.apply_op1_no_bwd(&Collective { comm: &self.comm, kind: Kind::AllReduce })?;
        Ok(out.to_device(t.device())?)
    }

    /// `ncclBroadcast` from rank 0 of a 1-D f32 / f64 tensor.
    pub(crate) fn broadcast(&self, t: &Tensor) -> Result<Tensor> {
        let out =
            self.on_device(t)?.apply_op1_no_bwd(&Collective { comm: &self.comm, kind: Kind::Broadcast })?;
        Ok(out.to_device(t.device())?)
    }
}

fn nccl_error(operation: &'static str, e: cudarc::nccl::result::NcclError) -> Error {
    Error::Distributed { operation, detail: format!("NCCL failed: {e:?}; check NCCL_DEBUG=INFO output") }
}

#[derive(Clone, Copy)]
enum Kind {
    AllReduce,
    Broadcast,
}

/// One collective as a candle op, so that it runs on candle's CUDA storage and stream.
struct Collective<'a> {
    comm: &'a SharedComm,
    kind: Kind,
}

impl Collective<'_> {
    fn run<T>(&self, storage: &CudaStorage, layout: &Layout) -> candle_core::Result<CudaStorage>
    where
        T: candle_core::cuda_backend::CudaDType
            + cudarc::nccl::NcclType
            + cudarc::driver::DeviceRepr
            + cudarc::driver::ValidAsZeroBits,
    {
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("NCCL collectives take contiguous tensors")
        };
        let src = storage.as_cuda_slice::<T>()?.slice(start..end);
        let dev = storage.device().clone();
        let mut dst = dev.alloc_zeros::<T>(end - start)?;
        let comm = self.comm.0.lock().unwrap_or_else(|e| e.into_inner());
        let result = match self.kind {
            Kind::AllReduce => comm.all_reduce(&src, &mut dst, &ReduceOp::Sum),
            Kind::Broadcast => comm.broadcast(Some(&src), &mut dst, 0),
        };
        result.map_err(|e| candle_core::Error::Msg(format!("NCCL failed: {e:?}")))?;
        Ok(CudaStorage::wrap_cuda_slice(dst, dev))
    }
}

impl CustomOp1 for Collective<'_> {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::AllReduce => "nccl-all-reduce",
            Kind::Broadcast => "nccl-broadcast",
        }
    }

    fn cpu_fwd(
        &self,
        _: &candle_core::CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, Shape)> {
        candle_core::bail!("NCCL collectives run on CUDA tensors; move the tensor to the strategy's device")
    }

    fn cuda_fwd(&self, storage: &CudaStorage, layout: &Layout) -> candle_core::Result<(CudaStorage, Shape)> {
        let out = match storage.dtype() {
            DType::F32 => self.run::<f32>(storage, layout)?,
            DType::F64 => self.run::<f64>(storage, layout)?,
            other => candle_core::bail!("NCCL collectives here take f32 or f64, not {other:?}"),
        };
        Ok((out, layout.shape().clone()))
    }
}
