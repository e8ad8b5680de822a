//! Which process this is: rank and world size from the launcher's environment variables.

use crate::data::{Op, Shard};
use crate::error::{Error, Result};

/// Launchers and the variables they set: `(rank, world size, local rank)`, in the order they
/// are tried. torchrun (and most PyTorch launchers) set the first; Open MPI's `mpirun` the
/// second; MPICH / Intel MPI (Hydra) the third.
const LAUNCHERS: [(&str, &str, &str); 3] = [
    ("RANK", "WORLD_SIZE", "LOCAL_RANK"),
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),
];

/// This process's place among the data-parallel processes.
///
/// ```
/// use candle_numpy::distributed::Ranks;
/// // as torchrun sets them for the second of two processes
/// let vars = [("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "1")];
/// let r = Ranks::from_vars(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))?;
/// assert_eq!((r.rank, r.world_size, r.local_rank), (1, 2, 1));
/// // no launcher: one process
/// assert_eq!(Ranks::from_vars(|_| None)?, Ranks::SINGLE);
/// # Ok::<(), candle_numpy::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranks {
    /// This process, in `0..world_size`.
    pub rank: usize,
    /// Number of processes.
    pub world_size: usize,
    /// This process among those on its machine (the GPU it should use).
    pub local_rank: usize,
}

impl Ranks {
    /// One process.
    pub const SINGLE: Ranks = Ranks { rank: 0, world_size: 1, local_rank: 0 };

    /// Explicit ranks (`local_rank` = `rank`, as on one machine); `rank` must be below
    /// `world_size`.
    pub fn new(rank: usize, world_size: usize) -> Result<Self> {
        if world_size == 0 {
            return Err(Error::DistributedEnv {
                variable: "world_size",
                value: "0".into(),
                fix: "use at least 1 process",
            });
        }
        if rank >= world_size {
            return Err(Error::DistributedEnv {
                variable: "rank",
                value: format!("{rank} with world_size={world_size}"),
                fix: "the rank must be in 0..world_size",
            });
        }
        Ok(Ranks { rank, world_size, local_rank: rank })
    }

    /// The ranks the launcher set in this process's environment: torchrun's `RANK` /
    /// `WORLD_SIZE` / `LOCAL_RANK`, else Open MPI's `OMPI_COMM_WORLD_*`, else Hydra's
    /// `PMI_RANK` / `PMI_SIZE`; [`Ranks::SINGLE`] when none is set.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) over any variable lookup (for tests and embedders).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        for (rank_var, size_var, local_var) in LAUNCHERS {
            let (rank, size) = match (get(rank_var), get(size_var)) {
                (None, None) => continue,
                (Some(r), Some(s)) => (r, s),
                (Some(r), None) => {
                    return Err(Error::DistributedEnv {
                        variable: rank_var,
                        value: r,
                        fix: "set the world size too (RANK comes with WORLD_SIZE, OMPI_COMM_WORLD_RANK \
                              with OMPI_COMM_WORLD_SIZE)",
                    })
                }
                (None, Some(s)) => {
                    return Err(Error::DistributedEnv {
                        variable: size_var,
                        value: s,
                        fix: "set the rank too (WORLD_SIZE comes with RANK, OMPI_COMM_WORLD_SIZE with \
                              OMPI_COMM_WORLD_RANK)",
                    })
                }
            };
            let number = |variable: &'static str, value: String| {
                value.trim().parse::<usize>().map_err(|_| Error::DistributedEnv {
                    variable,
                    value,
                    fix: "use a non-negative integer",
                })
            };
            let mut ranks = Ranks::new(number(rank_var, rank)?, number(size_var, size)?)?;
            if let Some(local) = get(local_var) {
                ranks.local_rank = number(local_var, local)?;
            }
            return Ok(ranks);
        }
        Ok(Ranks::SINGLE)
    }

    /// Whether this is rank 0 (the one that logs, saves and broadcasts its weights).
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// `loader` (the engine's [`Loader`](crate::data::Loader), torch's `DataLoader`, a
    /// `tf.data` `Dataset`: anything that can [`Shard`]) restricted to this rank: every rank
    /// sees the same per-epoch permutation and takes positions `rank, rank + world_size, ...` of
    /// it, so batch `k` of every rank together are the samples of global batch `k` of the same
    /// loader with `batch_size * world_size`.
    pub fn shard<L: Shard>(&self, loader: &L) -> Result<L> {
        loader.shard(self.world_size, self.rank)
    }

    /// This rank's part of a pipeline as an engine op (`Op::Shard`), for pipelines built by
    /// hand.
    pub fn shard_op(&self) -> Op {
        Op::Shard { num_shards: self.world_size as u64, index: self.rank as u64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn launchers_in_order() -> Result<()> {
        let mpirun = [("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_SIZE", "4")];
        assert_eq!(Ranks::from_vars(vars(&mpirun))?, Ranks { rank: 3, world_size: 4, local_rank: 3 });
        // torchrun's variables win over mpirun's
        let both = [
            ("RANK", "0"),
            ("WORLD_SIZE", "2"),
            ("OMPI_COMM_WORLD_RANK", "1"),
            ("OMPI_COMM_WORLD_SIZE", "2"),
        ];
        assert_eq!(Ranks::from_vars(vars(&both))?.rank, 0);
        let hydra = [("PMI_RANK", "1"), ("PMI_SIZE", "2"), ("MPI_LOCALRANKID", "0")];
        assert_eq!(Ranks::from_vars(vars(&hydra))?, Ranks { rank: 1, world_size: 2, local_rank: 0 });
        Ok(())
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases: [&[(&str, &str)]; 4] = [
            &[("RANK", "x"), ("WORLD_SIZE", "2")],
            &[("RANK", "2"), ("WORLD_SIZE", "2")],
            &[("RANK", "0")],
            &[("OMPI_COMM_WORLD_SIZE", "2")],
        ];
        let expect = ["RANK=\"x\"", "rank=\"2 with world_size=2\"", "RANK=\"0\"", "OMPI_COMM_WORLD_SIZE"];
        for (case, want) in cases.iter().zip(expect) {
            let e = Ranks::from_vars(vars(case)).unwrap_err();
            assert!(matches!(e, Error::DistributedEnv { .. }), "{e}");
            assert!(e.to_string().contains(want), "{e}");
        }
        assert!(Ranks::new(0, 0).unwrap_err().to_string().contains("at least 1 process"));
    }
}
