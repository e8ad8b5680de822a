//! [`MpiStrategy`]: gradients averaged by MPI (feature `mpi`), for CPU processes started by
//! `mpirun`.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::{self, ThreadId};

use candle_core::{DType, Tensor};
use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::Threading;

use crate::error::{Error, Result};

use super::env::Ranks;

/// The live MPI session of this process, shared by every [`MpiStrategy`] handle.
static LIVE: Mutex<Weak<Session>> = Mutex::new(Weak::new());

struct Session {
    /// Owned when we initialised MPI: dropping it (with the last handle) finalises MPI.
    /// `None` when the program initialised MPI itself.
    universe: Option<Universe>,
    /// Serialises MPI calls (MPI is initialised with `MPI_THREAD_SERIALIZED`).
    calls: Mutex<()>,
    /// Set when the MPI library gave less than `MPI_THREAD_SERIALIZED`: only this thread may
    /// call it.
    only_thread: Option<ThreadId>,
    ranks: Ranks,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiSession")
            .field("owns_mpi", &self.universe.is_some())
            .field("ranks", &self.ranks)
            .finish_non_exhaustive()
    }
}

/// Data-parallel processes on CPUs, combined by MPI (`MPI_Allreduce`, `MPI_Bcast` on
/// `MPI_COMM_WORLD`) through the `mpi` crate over the system's MPI library.
///
/// Launch with `mpirun -np 2 ./train` (as root in a container add `--allow-run-as-root`; on
/// one machine `--mca btl self,vader,tcp` or just the default transports). The first
/// [`new`](Self::new) initialises MPI; MPI is finalised when the last handle (clones included)
/// is dropped, after which it cannot be initialised again in this process (an MPI rule), so
/// keep one for the whole program.
#[derive(Debug, Clone)]
pub struct MpiStrategy {
    session: Arc<Session>,
}

impl MpiStrategy {
    /// Join the processes of this MPI job (initialising MPI on first use, with
    /// `MPI_THREAD_SERIALIZED` so that training may run on any thread). Without `mpirun`
    /// this is a world of one process.
    pub fn new() -> Result<Self> {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = live.upgrade() {
            return Ok(MpiStrategy { session });
        }
        let (universe, only_thread) = match mpi::initialize_with_threading(Threading::Serialized) {
            Some((universe, provided)) => {
                let serialized = matches!(provided, Threading::Serialized | Threading::Multiple);
                (Some(universe), (!serialized).then(|| thread::current().id()))
            }
            None if mpi::environment::is_finalized() => {
                return Err(Error::Distributed {
                    operation: "MpiStrategy::new",
                    detail: "MPI was already finalized in this process (when the last MpiStrategy \
                             was dropped) and cannot start again; keep one MpiStrategy alive for the \
                             whole program"
                        .into(),
                })
            }
            // the program initialised MPI itself: use its world, leave finalising to it
            None => (None, None),
        };
        let world = SimpleCommunicator::world();
        let ranks = Ranks::new(world.rank() as usize, world.size() as usize)?;
        let local_rank = std::env::var("OMPI_COMM_WORLD_LOCAL_RANK")
            .or_else(|_| std::env::var("MPI_LOCALRANKID"))
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(ranks.rank);
        let session = Arc::new(Session {
            universe,
            calls: Mutex::new(()),
            only_thread,
            ranks: Ranks { local_rank, ..ranks },
        });
        *live = Arc::downgrade(&session);
        Ok(MpiStrategy { session })
    }

    /// This process's rank and the world size (from `MPI_COMM_WORLD`).
    pub fn ranks(&self) -> Ranks {
        self.session.ranks
    }

    /// Whether this handle initialised MPI (and so finalises it when the last clone drops).
    pub fn owns_mpi(&self) -> bool {
        self.session.universe.is_some()
    }

    fn world(&self, operation: &'static str) -> Result<(MutexGuard<'_, ()>, SimpleCommunicator)> {
        if let Some(only) = self.session.only_thread {
            if thread::current().id() != only {
                return Err(Error::Distributed {
                    operation,
                    detail: "this MPI library gives no MPI_THREAD_SERIALIZED support, so MPI can only \
                             be called from the thread that created the first MpiStrategy; train on \
                             that thread"
                        .into(),
                });
            }
        }
        let guard = self.session.calls.lock().unwrap_or_else(|e| e.into_inner());
        let world = match &self.session.universe {
            Some(u) => u.world(),
            None => SimpleCommunicator::world(),
        };
        Ok((guard, world))
    }

    /// `MPI_Allreduce(SUM)` of a 1-D f32 / f64 tensor (through host memory).
    pub(crate) fn all_reduce_sum(&self, t: &Tensor) -> Result<Tensor> {
        let (_guard, world) = self.world("all_reduce")?;
        let out = match t.dtype() {
            DType::F32 => {
                let send = t.to_vec1::<f32>()?;
                let mut recv = vec![0f32; send.len()];
                world.all_reduce_into(&send[..], &mut recv[..], SystemOperation::sum());
                Tensor::from_vec(recv, t.elem_count(), t.device())?
            }
            DType::F64 => {
                let send = t.to_vec1::<f64>()?;
                let mut recv = vec![0f64; send.len()];
                world.all_reduce_into(&send[..], &mut recv[..], SystemOperation::sum());
                Tensor::from_vec(recv, t.elem_count(), t.device())?
            }
            other => return Err(unsupported(other)),
        };
        Ok(out)
    }

    /// `MPI_Bcast` from rank 0 of a 1-D f32 / f64 tensor.
    pub(crate) fn broadcast(&self, t: &Tensor) -> Result<Tensor> {
        let (_guard, world) = self.world("broadcast")?;
        let root = world.process_at_rank(0);
        let out = match t.dtype() {
            DType::F32 => {
                let mut buf = t.to_vec1::<f32>()?;
                root.broadcast_into(&mut buf[..]);
                Tensor::from_vec(buf, t.elem_count(), t.device())?
            }
            DType::F64 => {
                let mut buf = t.to_vec1::<f64>()?;
                root.broadcast_into(&mut buf[..]);
                Tensor::from_vec(buf, t.elem_count(), t.device())?
            }
            other => return Err(unsupported(other)),
        };
        Ok(out)
    }
}

fn unsupported(dtype: DType) -> Error {
    Error::Distributed {
        operation: "MpiStrategy",
        detail: format!("collectives take f32 or f64 buffers, not {dtype:?}; cast first"),
    }
}
