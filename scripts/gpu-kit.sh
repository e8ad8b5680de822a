#!/usr/bin/env bash
# The GPU kit: everything a bare GPU machine needs to prove candle-numpy's CUDA paths, built here.
#
#   scripts/gpu-kit.sh build    build the kit into target/gpu-kit/ (see below); prints its size
#                               and the build time. Cold: compiles candle's CUDA kernels.
#   scripts/gpu-kit.sh size     the kit's files and total size (must stay under 48 MiB, so it
#                               fits the 64 MiB a GPU machine is sent with the working tree).
#
# The kit (target/gpu-kit/):
#   run.sh, gpu_checks.py       the runner (copied from scripts/gpu-kit/); `./run.sh` on the GPU
#                               machine, `./run.sh --self-check` anywhere (see run.sh)
#   wheel/*.whl                 the abi3 wheel, release, `--features cuda`
#   tests/*.xz                  the release, stripped Rust test binaries devices, keras,
#                               distance and dlpack with `--features cuda` (xz: the embedded PTX
#                               compresses about tenfold)
#   BUILD-INFO                  what was built, from which commit, with which compiler
#
# The target GPU machine: driver for CUDA 13.0, so the kernels are built with the CUDA 13.0
# compiler from PyPI (`cuda-toolkit[nvcc,cccl]==13.0.3.0`, whose extras pin nvcc/crt/nvvm
# 13.0.88, cudart 13.0.96, cccl 13.0.85): a 13.0 driver cannot load PTX made by a newer nvcc.
# Nothing here needs a GPU or a driver: the binaries link against link-only stubs
# (scripts/cuda/gen_link_stubs.py) carrying the real sonames, and load the machine's real
# libraries there (run.sh sets LD_LIBRARY_PATH). The wheel is built with `--auditwheel skip`,
# so no stub (or any CUDA library) is ever copied into it.
#
# Environment (all optional):
#   CUDA_COMPUTE_CAP     default 90 (H100/H200); 80 for Ampere
#   CUDARC_CUDA_VERSION  default 13000 (the driver API the binaries bind: CUDA 13.0)
#   GPU_KIT_TOOLKIT      default cuda-toolkit[nvcc,cccl]==13.0.3.0
#   CUDAFORGE_THREADS    parallel nvcc jobs (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KIT="$ROOT/target/gpu-kit"
KIT_LIMIT_MIB=48
TESTS=(devices keras distance dlpack)

kit_size() {
    (cd "$KIT" && find . -type f -printf '%10s  %p\n' | sort -k2)
    local bytes
    bytes=$(du -sb --apparent-size "$KIT" | cut -f1)
    echo "gpu kit: $((bytes / 1024 / 1024)) MiB ($bytes bytes) in $KIT (limit $KIT_LIMIT_MIB MiB)"
    if ((bytes > KIT_LIMIT_MIB * 1024 * 1024)); then
        echo "gpu kit: over the $KIT_LIMIT_MIB MiB limit" >&2
        return 1
    fi
}

cudarc_src() {
    local manifest
    manifest=$(cargo metadata --format-version 1 --locked --features candle-numpy/cuda 2>/dev/null |
        python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="cudarc"))')
    dirname "$manifest"
}

case "${1:-}" in
build)
    start=$(date +%s)
    export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
    export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}
    toolkit_pin=${GPU_KIT_TOOLKIT:-"cuda-toolkit[nvcc,cccl]==13.0.3.0"}
    export CARGO_TARGET_DIR="$ROOT/target/gpu-kit-build"
    mkdir -p "$CARGO_TARGET_DIR"
    # One toolchain for every crate: some dependencies (macro_rules_attribute) carry a
    # rust-toolchain.toml of their own, which the rustup proxy would otherwise obey.
    if command -v rustup >/dev/null; then
        export RUSTUP_TOOLCHAIN=${RUSTUP_TOOLCHAIN:-$(rustup show active-toolchain | cut -d' ' -f1)}
    fi

    # 1. the CUDA 13.0 compiler, in a venv of its own (kept between builds)
    venv="$CARGO_TARGET_DIR/toolkit-venv"
    stamp="$venv/toolkit-installed"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$toolkit_pin" ]]; then
        echo "gpu kit: installing $toolkit_pin into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "$toolkit_pin"
        echo "$toolkit_pin" >"$stamp"
    fi
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    export CUDA_HOME="$site/nvidia/cu13" CUDA_PATH="$site/nvidia/cu13"
    export PATH="$CUDA_HOME/bin:$PATH"
    unset NVCC
    export CUDAFORGE_THREADS=${CUDAFORGE_THREADS:-$(nproc)}
    nvcc_version=$(nvcc --version | sed -n 's/^Cuda compilation tools, //p')
    echo "gpu kit: nvcc $nvcc_version, sm_$CUDA_COMPUTE_CAP, cudarc API $CUDARC_CUDA_VERSION"

    # 2. link-only stubs of the driver and the CUDA libraries (real sonames, never shipped)
    stubs="$CARGO_TARGET_DIR/link-stubs"
    python3 scripts/cuda/gen_link_stubs.py "$(cudarc_src)/src" "$stubs"
    ln -sf "$CUDA_HOME/lib/libcudart.so.13" "$stubs/libcudart.so"
    # the same RUSTFLAGS for the wheel and the tests, so candle's kernels are compiled once
    export RUSTFLAGS="${RUSTFLAGS:-} -L native=$stubs -L native=$CUDA_HOME/lib"
    export LD_LIBRARY_PATH="$stubs:$CUDA_HOME/lib:${LD_LIBRARY_PATH:-}"

    rm -rf "$KIT"
    mkdir -p "$KIT/wheel" "$KIT/tests"

    # 3. the abi3 wheel with --features cuda (release, stripped, no auditwheel repair)
    maturin build --release --locked --strip --auditwheel skip --features cuda \
        -m bindings/python/Cargo.toml -o "$KIT/wheel"

    # 4. the Rust test binaries (release), found from cargo's own report, stripped, xz'd
    test_args=()
    for t in "${TESTS[@]}"; do test_args+=(--test "$t"); done
    cargo test --release --locked -p candle-numpy --features cuda "${test_args[@]}" --no-run \
        --message-format=json-render-diagnostics >"$CARGO_TARGET_DIR/gpu-kit-tests.json"
    python3 - "$CARGO_TARGET_DIR/gpu-kit-tests.json" "$KIT/tests" "${TESTS[@]}" <<'PY'
import json, shutil, subprocess, sys
report, out, wanted = sys.argv[1], sys.argv[2], set(sys.argv[3:])
found = {}
for line in open(report):
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["profile"]["test"]:
        if msg["target"]["name"] in wanted and "test" in msg["target"]["kind"]:
            found[msg["target"]["name"]] = msg["executable"]
missing = wanted - set(found)
if missing:
    sys.exit(f"gpu kit: cargo built no test binary for {sorted(missing)}")
for name, exe in sorted(found.items()):
    dest = f"{out}/{name}"
    shutil.copy(exe, dest)
    subprocess.run(["strip", dest], check=True)
    subprocess.run(["xz", "-9", "-T1", dest], check=True)
PY

    # 5. the runner, and what was built
    install -m 755 scripts/gpu-kit/run.sh "$KIT/run.sh"
    install -m 644 scripts/gpu-kit/gpu_checks.py "$KIT/gpu_checks.py"
    # the link stubs (a few hundred KiB) and the toolkit's cudart: only `run.sh --self-check`
    # puts them on the library path, so the kit's own binaries can be rehearsed on a machine
    # without a GPU; on a GPU machine the real libraries are used
    mkdir -p "$KIT/link-stubs"
    cp -L "$stubs"/*.so.* "$CUDA_HOME/lib/libcudart.so.13" "$KIT/link-stubs/"
    {
        echo "commit: $(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!target' || echo ' (with uncommitted changes)')"
        echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m)"
        echo "nvcc: $nvcc_version ($toolkit_pin)"
        echo "compute capability: $CUDA_COMPUTE_CAP"
        echo "cudarc CUDA API: $CUDARC_CUDA_VERSION"
        echo "wheel: $(cd "$KIT/wheel" && ls ./*.whl)"
        echo "tests: ${TESTS[*]}"
        echo "build seconds: $(($(date +%s) - start))"
    } >"$KIT/BUILD-INFO"
    cat "$KIT/BUILD-INFO"
    kit_size
    echo "gpu kit: built in $(($(date +%s) - start)) s. On the GPU machine (repo root): target/gpu-kit/run.sh"
    ;;
size)
    kit_size
    ;;
*)
    echo "usage: $0 build|size" >&2
    exit 2
    ;;
esac
