#!/usr/bin/env bash
# The GPU kit's runner (built by scripts/gpu-kit.sh build into target/gpu-kit/).
#
#   ./run.sh                on the GPU machine: Rust device tests, Python checks, speed next to
#                           torch, one table; exit 1 if anything failed or the whole run took
#                           longer than 8 minutes. On a machine without a GPU every section says
#                           so and it exits 0.
#   ./run.sh --self-check   anywhere, without a GPU: the same steps on the CPU at toy sizes (the
#                           kit's wheel, or the installed candle_numpy when the kit has none; the
#                           test binaries start against the kit's link stubs), so the runner's own
#                           code is proven. The rehearsal CI runs (test_gpu_kit.py).
#
# Environment: PYTHON (default python3), GPU_KIT_NO_GPU=1 (take the no-GPU path even with a
# GPU), GPU_KIT_BUDGET (seconds for the whole run, default 450), GPU_KIT_LOG (folder for the
# logs; default a temporary one, printed at the end).
set -euo pipefail
KIT=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
BUDGET=${GPU_KIT_BUDGET:-450}
LIMIT_TOTAL=480
mode=gpu
case "${1:-}" in
"") ;;
--self-check) mode=self-check ;;
*)
    echo "usage: $0 [--self-check]" >&2
    exit 2
    ;;
esac

START=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-kit.XXXXXX")
LOG=${GPU_KIT_LOG:-$WORK/logs}
mkdir -p "$LOG"
RESULTS="$LOG/results.jsonl"
# the installed wheel and the unpacked binaries go; the logs stay
trap 'rm -rf "$WORK/site" "$WORK/bin"; [[ "$LOG" == "$WORK"/* ]] || rm -rf "$WORK"' EXIT
: >"$RESULTS"
CHECKS="$KIT/gpu_checks.py"

row() { # SECTION NAME STATUS DETAIL [SECONDS]
    "$PY" - "$RESULTS" "$@" <<'PY'
import json, sys
path, section, name, status, detail = sys.argv[1:6]
secs = float(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[6] else None
with open(path, "a") as f:
    f.write(json.dumps({"section": section, "name": name, "status": status, "detail": detail, "seconds": secs}) + "\n")
print(f"[{section}] {name}: {status} {detail}", flush=True)
PY
}

left() { # seconds of the budget still left, at most $1
    local rest=$((BUDGET - ($(date +%s) - START)))
    ((rest < 1)) && rest=1
    ((rest < $1)) && echo "$rest" || echo "$1"
}

finish() {
    local total=$(($(date +%s) - START))
    if ((total < LIMIT_TOTAL)); then
        row total "whole run" ok "${total} s (limit ${LIMIT_TOTAL} s)" "$total"
    else
        row total "whole run" FAIL "${total} s, over the ${LIMIT_TOTAL} s limit" "$total"
    fi
    local rc=0
    "$PY" "$CHECKS" table "$RESULTS" || rc=1
    echo "logs: $LOG"
    [[ -f "$KIT/BUILD-INFO" ]] && sed 's/^/kit: /' "$KIT/BUILD-INFO"
    exit "$rc"
}

# --- is there a GPU? -------------------------------------------------------------------------
gpu=""
if [[ "$mode" == gpu && "${GPU_KIT_NO_GPU:-0}" != 1 ]] && command -v nvidia-smi >/dev/null; then
    gpu=$(nvidia-smi -L 2>/dev/null | grep -m1 '^GPU ' || true)
fi
if [[ "$mode" == gpu && -z "$gpu" ]]; then
    why="no GPU here (nvidia-smi lists none); run on a GPU machine, or ./run.sh --self-check"
    for s in rust python speed; do row "$s" "(section)" skip "$why"; done
    finish
fi
[[ -n "$gpu" ]] && echo "gpu kit: $gpu" && nvidia-smi --query-gpu=driver_version,memory.total --format=csv,noheader || true

# --- libraries: the CUDA libraries of the machine's Python packages (nvidia-*), ---------------
# after the driver's own directories (left to the loader); in the self-check, the kit's stubs
libdirs=()
while IFS= read -r d; do libdirs+=("$d"); done < <("$PY" - <<'PY'
import glob, site, sys
roots = list(dict.fromkeys(site.getsitepackages() + [site.getusersitepackages()] + sys.path))
for root in roots:
    for d in sorted(glob.glob(f"{root}/nvidia/*/lib")):
        print(d)
PY
)
if [[ "$mode" == self-check && -d "$KIT/link-stubs" ]]; then
    # last: a real library of the Python packages (torch's nvidia-* wheels) wins over a stub,
    # which only stands in for what is missing (mixing a stub with the real library it stands
    # for in one process trips ld.so's symbol-version check)
    libdirs=("${libdirs[@]}" "$KIT/link-stubs")
fi
if ((${#libdirs[@]})); then
    LD_LIBRARY_PATH="$(IFS=:; echo "${libdirs[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
fi
echo "gpu kit: LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"

# --- the wheel, installed for this run only ----------------------------------------------------
shopt -s nullglob
wheels=("$KIT"/wheel/*.whl)
if ((${#wheels[@]})); then
    "$PY" -m pip install --quiet --no-index --no-deps --disable-pip-version-check --target "$WORK/site" "${wheels[@]}" \
        >"$LOG/pip.log" 2>&1 || { row python "install wheel" FAIL "pip install failed (see $LOG/pip.log)"; }
    export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
elif [[ "$mode" == gpu ]]; then
    row python "install wheel" FAIL "the kit has no wheel (scripts/gpu-kit.sh build)"
fi
if ! import_msg=$("$PY" -c 'import candle_numpy as cn, sys; print(cn.__file__, "cuda:", cn.cuda.is_available())' 2>&1); then
    row python "import candle_numpy" FAIL "$(tail -1 <<<"$import_msg")"
    [[ "$mode" == gpu ]] && finish
fi
echo "gpu kit: candle_numpy $import_msg"
if [[ "$mode" == gpu && "$import_msg" != *"cuda: True" ]]; then
    row python "cn.cuda.is_available()" FAIL "False with a GPU present: the wheel cannot open it"
fi

# --- 1. the Rust test binaries -----------------------------------------------------------------
tests=("$KIT"/tests/*.xz)
((${#tests[@]})) || row rust "(section)" "$([[ $mode == gpu ]] && echo FAIL || echo skip)" "the kit has no test binaries"
mkdir -p "$WORK/bin"
for xzf in "${tests[@]}"; do
    name=$(basename "$xzf" .xz)
    bin="$WORK/bin/$name"
    "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$xzf" "$bin"
    chmod +x "$bin"
    t0=$(date +%s)
    if [[ "$mode" == self-check ]]; then
        # the binaries must start (stub driver) and list their tests; CUDA variants are run on a GPU
        if out=$(timeout "$(left 60)" "$bin" --list 2>"$LOG/rust-$name.err"); then
            n=$(grep -c ': test$' <<<"$out" || true)
            nc=$(grep -c '^cuda::.*: test$' <<<"$out" || true)
            row rust "$name" ok "starts; $n tests listed ($nc CUDA variants, not run without a GPU)" "$(($(date +%s) - t0))"
        else
            row rust "$name" skip "cannot start here: $(head -c 200 "$LOG/rust-$name.err")" "$(($(date +%s) - t0))"
        fi
        continue
    fi
    limit=$(left 120)
    rc=0
    # the CUDA variants are #[ignore]d (no GPU on CI): here they run, and fail without a device
    timeout "$limit" "$bin" --include-ignored --nocapture >"$LOG/rust-$name.log" 2>&1 || rc=$?
    secs=$(($(date +%s) - t0))
    summary=$(grep -E '^test result:' "$LOG/rust-$name.log" | tail -1 | sed 's/^test result: //; s/; finished in.*//')
    cuda_run=$(grep -cE '^test cuda::.* \.\.\. ok$' "$LOG/rust-$name.log" || true)
    if ((rc == 124)); then
        row rust "$name" FAIL "timed out after ${limit} s (log: $LOG/rust-$name.log)" "$secs"
    elif ((rc != 0)); then
        row rust "$name" FAIL "exit $rc: ${summary:-no summary} $(grep -m3 -E '^test .* FAILED$' "$LOG/rust-$name.log" | tr '\n' ' ')" "$secs"
    else
        row rust "$name" ok "$summary; $cuda_run CUDA variants ran" "$secs"
    fi
done

# --- 2. and 3. the Python checks ----------------------------------------------------------------
py_args=()
[[ "$mode" == self-check ]] && py_args=(--device cpu --quick)
for section in python speed; do
    limit=$(left "$([[ $section == python ]] && echo 120 || echo 300)")
    t0=$(date +%s)
    rc=0
    PYTHONUNBUFFERED=1 timeout "$limit" "$PY" "$CHECKS" "$section" "$RESULTS" "${py_args[@]}" \
        >"$LOG/$section.log" 2>&1 || rc=$?
    if ((rc == 124)); then
        row "$section" "(section)" FAIL "timed out after ${limit} s (log: $LOG/$section.log)" "$(($(date +%s) - t0))"
    elif ((rc != 0)); then
        row "$section" "(section)" FAIL "exit $rc: $(tail -1 "$LOG/$section.log")" "$(($(date +%s) - t0))"
    fi
done
finish
