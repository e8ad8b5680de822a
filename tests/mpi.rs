//! Data parallelism over MPI, for real: `mpirun -np 2` runs the `data_parallel` example (two
//! processes on loopback) and both ranks must end with bit-identical weights, equal within
//! float tolerance to one process training on the same global batches, in the Keras-style
//! `fit` and in the PyTorch-style loop. Needs `--features mpi` and the system's `mpirun`.
#![cfg(feature = "mpi")]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// `target/<profile>/examples/data_parallel`, built by `cargo build --features mpi --example
/// data_parallel` beside this test's binary (as `make mpi-test` does).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let bin = profile_dir.join("examples").join(format!("data_parallel{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --features mpi --example data_parallel` first (make mpi-test \
         does both)",
        bin.display()
    );
    bin
}

/// `key=value` fields of the line of `rank` starting with `what`.
fn fields(out: &str, rank: usize, what: &str) -> BTreeMap<String, String> {
    let prefix = format!("rank {rank}/2 {what}:");
    let line = out
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{out}"));
    line[prefix.len()..]
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn two_ranks_match_one_process() {
    let start = Instant::now();
    let out = Command::new("mpirun")
        .args(["-np", "2", "--oversubscribe", "--allow-run-as-root"])
        // loopback only: shared memory between the two processes, TCP on lo for the rest
        .args(["--mca", "btl", "self,vader,tcp", "--mca", "btl_tcp_if_include", "lo"])
        .args(["--mca", "oob_tcp_if_include", "lo"])
        .arg(example_binary())
        .arg("--check")
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .expect("mpirun runs (Debian: apt-get install openmpi-bin libopenmpi-dev)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mpirun failed ({}):\n{stdout}\n{stderr}", out.status);
    eprintln!("mpirun -np 2 data_parallel --check: {:.1} s\n{stdout}", start.elapsed().as_secs_f64());

    for what in ["keras", "torch"] {
        let (r0, r1) = (fields(&stdout, 0, what), fields(&stdout, 1, what));
        // both ranks end with bit-identical weights
        assert_eq!(r0["digest"], r1["digest"], "{what}: the ranks' weights differ:\n{stdout}");
    }
    // the epoch's loss is over both ranks' samples: the same number on both
    assert_eq!(fields(&stdout, 0, "keras")["loss"], fields(&stdout, 1, "keras")["loss"]);
    for rank in 0..2 {
        let check = fields(&stdout, rank, "check");
        assert_eq!(check["params"], "193", "the seed model has 10*16+16+16+1 weights");
        for key in ["keras_max_abs_diff", "torch_max_abs_diff"] {
            let diff: f64 = check[key].parse().unwrap();
            // float summation order differs (two half-batch gradients, then their mean)
            assert!(diff < 1e-4, "rank {rank}: {key}={diff} vs one process:\n{stdout}");
        }
    }
}
