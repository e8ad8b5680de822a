"""The GPU kit's runner (scripts/gpu-kit/run.sh, gpu_checks.py) rehearsed without a GPU.

The kit itself (a CUDA wheel and test binaries, scripts/gpu-kit.sh build) takes far too long to
build in CI, and its real run needs a GPU. What can rot unseen is the runner: these tests
assemble a kit from the runner's sources, the candle_numpy installed here and small stand-in
test binaries (shell scripts that print what a libtest binary prints), and check that

* without a GPU every section says so and the run exits 0;
* `--self-check` runs every Python check and the speed section at toy sizes on the CPU;
* with a GPU reported (a stand-in nvidia-smi) but a CPU-only package, CUDA variants that fail
  and checks that cannot reach the device are failures, and the run exits 1.
"""

import importlib.util
import json
import lzma
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
RUNNER = ROOT / "scripts" / "gpu-kit"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or sys.platform != "linux",
                                reason="the runner is a Linux bash script")

# what `TEST --list` and `TEST --nocapture` of a device_tests! binary print
FAKE_TEST = """#!/bin/sh
if [ "$1" = "--list" ]; then
    printf 'cpu::copies: test\\ncuda::copies: test\\nplain: test\\n\\n3 tests, 0 benchmarks\\n'
    exit 0
fi
echo "running 3 tests"
echo "test cpu::copies ... ok"
case " $* " in
*" --include-ignored "*)
    # the CUDA variants run, and fail where no device can be opened
    echo "test cuda::copies ... FAILED"
    echo "test plain ... ok"
    echo ""
    echo "test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s"
    exit 101 ;;
esac
# a runner that forgets --include-ignored would see the CUDA variant ignored and pass
echo "test cuda::copies ... ignored, needs a CUDA GPU: run with --include-ignored on a GPU machine"
echo "test plain ... ok"
echo ""
echo "test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s"
"""


def make_kit(tmp_path, with_tests=True):
    kit = tmp_path / "kit"
    kit.mkdir()
    for name in ("run.sh", "gpu_checks.py"):
        shutil.copy(RUNNER / name, kit / name)
    (kit / "run.sh").chmod(0o755)
    if with_tests:
        (kit / "tests").mkdir()
        with lzma.open(kit / "tests" / "devices.xz", "wb") as f:
            f.write(FAKE_TEST.encode())
    return kit


def run(kit, tmp_path, *args, extra_path=None, env=None):
    logs = tmp_path / "logs"
    e = dict(os.environ, PYTHON=sys.executable, GPU_KIT_LOG=str(logs), GPU_KIT_BUDGET="240", **(env or {}))
    if extra_path:
        e["PATH"] = f"{extra_path}:{e['PATH']}"
    p = subprocess.run([str(kit / "run.sh"), *args], capture_output=True, text=True, env=e, timeout=240)
    rows = [json.loads(line) for line in (logs / "results.jsonl").read_text().splitlines()]
    return p, rows


def by_name(rows):
    return {(r["section"], r["name"]): r for r in rows}


def test_without_a_gpu_every_section_says_so_and_the_run_exits_0(tmp_path):
    kit = make_kit(tmp_path)
    p, rows = run(kit, tmp_path, env={"GPU_KIT_NO_GPU": "1"})
    assert p.returncode == 0, p.stdout + p.stderr
    assert [(r["section"], r["status"]) for r in rows] == [
        ("rust", "skip"), ("python", "skip"), ("speed", "skip"), ("total", "ok")]
    assert all("no GPU here" in r["detail"] for r in rows[:3])
    # one table, with its summary line
    assert "section  check" in p.stdout and "summary: 1 ok, 0 FAIL, 3 skip, 0 n/a" in p.stdout


def test_self_check_runs_every_check_on_the_cpu(tmp_path):
    gpu_checks = load_gpu_checks()
    kit = make_kit(tmp_path)
    p, rows = run(kit, tmp_path, "--self-check")
    assert p.returncode == 0, p.stdout + p.stderr
    got = by_name(rows)
    # the stand-in binary was unpacked, started and listed, CUDA variants counted
    assert got[("rust", "devices")]["status"] == "ok"
    assert "3 tests listed (1 CUDA variants" in got[("rust", "devices")]["detail"]
    expected = [("python", n) for n, _ in gpu_checks.PY_CHECKS] + [("speed", n) for n, _ in gpu_checks.SPEED_CHECKS]
    for key in expected:
        assert key in got, f"{key} did not run: {p.stdout}"
        row = got[key]
        # only torch's own checks may be skipped, and only where torch is missing
        if row["status"] == "skip":
            assert row["detail"] == "torch is not installed" and importlib.util.find_spec("torch") is None, row
        else:
            assert row["status"] == "ok", row
    assert got[("python", "copies host<->device, every dtype")]["detail"] == f"{len(gpu_checks.DTYPES)} dtypes round-trip equal"
    for n, _ in gpu_checks.SPEED_CHECKS:
        if n.startswith("MLP"):
            assert "cn keras" in got[("speed", n)]["detail"] and "cn.torch" in got[("speed", n)]["detail"]
    assert got[("total", "whole run")]["status"] == "ok"


def test_with_a_gpu_skipped_cuda_variants_and_a_cpu_only_package_fail(tmp_path):
    kit = make_kit(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\n[ \"$1\" = -L ] && echo 'GPU 0: Stand-in GPU (UUID: GPU-0)'\nexit 0\n")
    smi.chmod(0o755)
    p, rows = run(kit, tmp_path, extra_path=bin_dir)
    assert p.returncode == 1, p.stdout + p.stderr
    got = by_name(rows)
    assert got[("python", "install wheel")]["status"] == "FAIL"  # the kit has no wheel
    # the runner includes the ignored CUDA variants, which fail without a device
    assert got[("rust", "devices")]["status"] == "FAIL"
    assert "cuda::copies" in got[("rust", "devices")]["detail"], got[("rust", "devices")]
    import candle_numpy as cn

    if not cn.cuda.is_available():
        assert got[("python", "cn.cuda.is_available()")]["status"] == "FAIL"
        # the device checks themselves fail (DeviceError), they are not skipped
        copies = got.get(("python", "copies host<->device, every dtype")) or got[("python", "(section)")]
        assert copies["status"] == "FAIL", copies
    assert "FAIL" in p.stdout and "summary:" in p.stdout


def load_gpu_checks():
    spec = importlib.util.spec_from_file_location("gpu_checks", RUNNER / "gpu_checks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_table_exits_1_on_any_failure_and_counts_every_status(tmp_path, capsys):
    gc = load_gpu_checks()
    results = tmp_path / "r.jsonl"
    gc.record(results, "python", "a", "ok", "fine", 0.5)
    gc.record(results, "speed", "b", "n/a", "not offered")
    assert gc.print_table(results) == 0
    gc.record(results, "rust", "c", "FAIL", "broken", 1.0)
    assert gc.print_table(results) == 1
    out = capsys.readouterr().out
    assert "summary: 1 ok, 1 FAIL, 0 skip, 1 n/a" in out
    # a check that raises becomes a FAIL row with the exception, NotAvailable an n/a row
    def boom(ctx):
        raise ValueError("kaput")

    def missing(ctx):
        raise gc.NotAvailable("later")

    gc.run_checks(results, "python", [("boom", boom), ("missing", missing)], ctx=None)
    rows = [json.loads(line) for line in results.read_text().splitlines()][-2:]
    assert [(r["name"], r["status"], r["detail"]) for r in rows] == [
        ("boom", "FAIL", "ValueError: kaput"), ("missing", "n/a", "later")]


def test_self_check_puts_the_link_stubs_after_real_cuda_libraries(tmp_path):
    # a stub ahead of the real library it stands for (torch's nvidia-* wheels) makes ld.so
    # abort on the symbol-version check when both load: the stubs must come last
    kit = make_kit(tmp_path)
    (kit / "link-stubs").mkdir()
    (kit / "link-stubs" / "libcuda.so.1").write_bytes(b"")
    pkgs = tmp_path / "pkgs"
    real = pkgs / "nvidia" / "cu13" / "lib"
    real.mkdir(parents=True)
    p, _ = run(kit, tmp_path, "--self-check", env={"PYTHONPATH": str(pkgs)})
    line = next(x for x in p.stdout.splitlines() if x.startswith("gpu kit: LD_LIBRARY_PATH="))
    dirs = line.split("=", 1)[1].split(":")
    assert str(real) in dirs and str(kit / "link-stubs") in dirs, line
    assert dirs.index(str(real)) < dirs.index(str(kit / "link-stubs")), line
