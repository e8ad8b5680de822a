#!/usr/bin/env bash
# CUDA lanes of candle-numpy. No GPU is needed for either; a user with a GPU runs the same.
#
#   scripts/cuda-lane.sh check   type-check (clippy -D warnings) every target of the workspace
#                                with `--features cuda,nccl`, using a stand-in nvcc
#                                (scripts/cuda/nvcc-standin). About a minute warm; see below.
#   scripts/cuda-lane.sh build   build and run the Rust tests with `--features cuda,nccl` using
#                                the real nvcc from PyPI's cuda-toolkit (13.4.x) and link-only
#                                stub libraries (scripts/cuda/gen_link_stubs.py) in place of the
#                                driver and CUDA libraries: CPU tests run, CUDA tests report
#                                "no CUDA device" and skip. Cold: compiles candle's kernels.
#   scripts/cuda-lane.sh gpu     on a machine with a GPU, a CUDA 13 driver and toolkit: the
#                                Rust tests with `--features cuda,nccl` for real.
#
# Each lane has its own target dir (target/cuda-check, target/cuda-build) so the CPU build's
# artifacts are never invalidated. Environment (all optional):
#   CUDA_COMPUTE_CAP     GPU architecture the kernels are compiled for (default 80; 90 for Hopper);
#                        with it set nothing calls nvidia-smi.
#   CUDARC_CUDA_VERSION  the CUDA API cudarc binds (default 13040 = 13.4 in check/build), so cudarc
#                        never asks nvcc; the gpu lane leaves it to the installed toolkit.
#   CUDAFORGE_THREADS    parallel nvcc jobs in the build lane (default: all cores).
#   CUDA_LANE_ARGS       extra arguments for the build lane's `cargo test` (e.g. `--test convert`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
lane=${1:-}
FEATURES="candle-numpy/cuda,candle-numpy/nccl"
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-80}
# The toolkit pinned for the build lane: 13.4 is a release cudarc 0.19 knows (the CUDA 12 nvcc
# wheels ship no nvcc binary). The 13.4.3 metapackage pins its extras to ==13.4.92.* (nvcc,
# crt, nvvm, cuda-runtime with libcudart, which candle-kernels links; cccl 13.3.4.3.1.*), so
# nothing drifts to 13.5.
CUDA_TOOLKIT_PIN="cuda-toolkit[nvcc,cccl]==13.4.3"

cudarc_src() {
    local dir
    dir=$(cargo metadata --format-version 1 --locked 2>/dev/null |
        python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="cudarc"))')
    dirname "$dir"
}

case "$lane" in
check)
    export CARGO_TARGET_DIR="$ROOT/target/cuda-check"
    bin="$CARGO_TARGET_DIR/nvcc-standin-bin"
    mkdir -p "$bin"
    ln -sf "$ROOT/scripts/cuda/nvcc-standin" "$bin/nvcc"
    export PATH="$bin:$PATH"
    unset NVCC
    export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13040}
    start=$(date +%s)
    # clippy = cargo check + lints: also catches warnings in code only compiled with CUDA
    cargo clippy --locked --workspace --all-targets --features "$FEATURES" -- -D warnings
    echo "cuda check lane: ok in $(($(date +%s) - start)) s (cuda,nccl; stand-in nvcc; sm_$CUDA_COMPUTE_CAP)"
    ;;
build)
    export CARGO_TARGET_DIR="$ROOT/target/cuda-build"
    venv="$CARGO_TARGET_DIR/toolkit-venv"
    if [[ ! -x "$venv/bin/nvcc-ok" ]]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$CUDA_TOOLKIT_PIN"
        touch "$venv/bin/nvcc-ok" && chmod +x "$venv/bin/nvcc-ok"
    fi
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    export CUDA_HOME="$site/nvidia/cu13" CUDA_PATH="$site/nvidia/cu13"
    export PATH="$CUDA_HOME/bin:$PATH"
    unset NVCC
    export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13040}
    export CUDAFORGE_THREADS=${CUDAFORGE_THREADS:-$(nproc)}
    stubs="$CARGO_TARGET_DIR/link-stubs"
    python3 scripts/cuda/gen_link_stubs.py "$(cudarc_src)/src" "$stubs" --nccl
    # the runtime wheel ships libcudart.so.13 only; `-lcudart` (candle-kernels) needs the dev name
    ln -sf "$CUDA_HOME/lib/libcudart.so.13" "$stubs/libcudart.so"
    # cudarc searches $CUDA_HOME/lib*, candle-kernels links cudart (from the toolkit wheels)
    export RUSTFLAGS="${RUSTFLAGS:-} -L native=$stubs -L native=$CUDA_HOME/lib"
    export LD_LIBRARY_PATH="$stubs:$CUDA_HOME/lib:${LD_LIBRARY_PATH:-}"
    nvcc --version | sed -n 4p
    start=$(date +%s)
    # shellcheck disable=SC2086
    cargo test --locked --features "$FEATURES" ${CUDA_LANE_ARGS:---tests}
    echo "cuda build lane: ok in $(($(date +%s) - start)) s (real nvcc, stub driver: CUDA tests ignored)"
    ;;
gpu)
    export CARGO_TARGET_DIR="$ROOT/target/cuda-gpu"
    # the CUDA variants of device_tests! are #[ignore]d for GPU-less runs: include them here
    # shellcheck disable=SC2086
    cargo test --locked --features "$FEATURES" ${CUDA_LANE_ARGS:---tests} -- --include-ignored
    ;;
*)
    echo "usage: $0 check|build|gpu" >&2
    exit 2
    ;;
esac
