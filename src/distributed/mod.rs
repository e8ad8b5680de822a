//! Data-parallel training on existing engines: MPI on CPUs (feature `mpi`), NCCL on GPUs
//! (feature `nccl`).
//!
//! Every process holds the whole model; each trains on its shard of every global batch and
//! the gradients are averaged across processes before each optimizer step, so the processes
//! apply identical updates and end with identical weights, equal (up to float summation order)
//! to one process training on the global batches. The pieces:
//!
//! | piece | what | where |
//! | --- | --- | --- |
//! | which process | [`Ranks::from_env`]: torchrun's `RANK`/`WORLD_SIZE`, mpirun's `OMPI_COMM_WORLD_*`, Hydra's `PMI_*`; or [`Ranks::new`] | launcher |
//! | its data | [`Ranks::shard`] / `DataLoader::shard(world, rank)` / `Dataset::shard(world, rank)` | data engine |
//! | same start | [`Strategy::broadcast`]: rank 0's weights to all | engine |
//! | same update | [`Strategy::all_reduce_mean`] / [`Strategy::all_reduce_weighted_mean`] | engine |
//! | Keras-style | `FitOptions { strategy, .. }`: `batch_size` is the global batch | [`tf::keras`](crate::tf::keras) |
//! | PyTorch-style | [`DistributedOptimizer`] around a `candle_nn::Optimizer` | your loop |
//!
//! **Why these engines.** MPI's `Allreduce` and NCCL's `ncclAllReduce` are what HPC and
//! PyTorch jobs already run on (ring / tree algorithms, shared memory within a machine,
//! InfiniBand across); a home-made reduction would be slower and untested. Each step moves
//! one flat buffer (all gradients, a has-gradient flag per variable and the sample weight),
//! so the per-step cost is one collective call whatever the number of layers.
//!
//! **Launching.** CPUs: `mpirun -np 2 target/release/examples/data_parallel` (build with
//! `--features mpi`; Debian: `apt-get install libopenmpi-dev openmpi-bin libclang-dev`). GPUs:
//! one process per GPU from `torchrun --nproc-per-node=N` or `mpirun -np N`, each building an
//! `NcclStrategy` on `cuda:LOCAL_RANK` (feature `nccl`).

mod env;
#[cfg(feature = "mpi")]
mod mpi;
#[cfg(feature = "nccl")]
mod nccl;
mod optimizer;
mod strategy;

pub use env::Ranks;
#[cfg(feature = "mpi")]
pub use mpi::MpiStrategy;
#[cfg(feature = "nccl")]
pub use nccl::NcclStrategy;
pub use optimizer::DistributedOptimizer;
pub use strategy::Strategy;
