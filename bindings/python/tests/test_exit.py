"""How a process that uses candle_numpy ends: exit status and no panic, in every state.

Each case runs in a child interpreter: a framework imported first (nothing, torch or
TensorFlow, as users do), then a state alive at exit (a shared tensor, views, DLPack exchanges,
memory maps, a prefetching loader stopped mid-epoch, threads), then the end of the script. The
child must exit with the expected status and print nothing that looks like a Rust panic or a
CPython fatal error.

The frameworks are installed only in the interop lane (`make interop-test`); here the torch and
TensorFlow columns are skipped when the framework is missing, and the "none" column always runs.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

FRAMEWORKS = {
    "none": "",
    "torch": "import torch",
    "tensorflow": "import tensorflow as tf",
}

COMMON = """
import gc, sys, threading, time
import numpy as np
import candle_numpy as cn
a = np.arange(1 << 12, dtype=np.float32)
"""

# name -> (script, expected exit status, frameworks it needs or None for any)
CASES = {
    "shared_tensor": ("t = cn.from_numpy(a)\nprint('ok')", 0, None),
    "numpy_view": ("t = cn.from_numpy(a)\nv = t.numpy()\nw = cn.tensor(a).numpy()\nprint('ok')", 0, None),
    "np_from_dlpack": ("t = cn.from_numpy(a)\nx = np.from_dlpack(t)\ndel t\nprint('ok')", 0, None),
    "cn_from_dlpack_numpy": ("t = cn.from_dlpack(a)\nprint('ok')", 0, None),
    "framework_from_dlpack": (
        {
            "torch": "t = cn.from_numpy(a)\nx = torch.from_dlpack(t)\ny = torch.from_dlpack(cn.tensor(a))\n"
            "del t\nprint('ok')",
            "tensorflow": "t = cn.from_numpy(a)\nx = tf.experimental.dlpack.from_dlpack(t.__dlpack__())\n"
            "print('ok')",
        },
        0,
        ("torch", "tensorflow"),
    ),
    "cn_from_framework_dlpack": (
        {
            "torch": "pt = torch.arange(16, dtype=torch.float32)\nt = cn.from_dlpack(pt)\ndel pt\n"
            "u = cn.from_dlpack(torch.from_numpy(a))\nprint('ok')",
            "tensorflow": "tt = tf.range(16, dtype=tf.float32)\nt = cn.from_dlpack(tf.experimental.dlpack.to_dlpack(tt))\n"
            "del tt\nprint('ok')",
        },
        0,
        ("torch", "tensorflow"),
    ),
    "safetensors_mmap": (
        "import tempfile, os\n"
        "d = tempfile.mkdtemp()\np = os.path.join(d, 'w.safetensors')\n"
        "cn.save_safetensors(p, {'w': a.reshape(64, 64), 'b': a[:64]})\n"
        "ts = cn.load_safetensors(p, mmap=True)\nw = ts['w'][1:]\nv = ts['b'].numpy()\nprint('ok')",
        0,
        None,
    ),
    "npy_mmap": (
        "import tempfile, os\n"
        "p = os.path.join(tempfile.mkdtemp(), 'a.npy')\nnp.save(p, a)\n"
        "t = cn.load_npy(p, mmap=True)\nv = t[3:].numpy()\nprint('ok')",
        0,
        None,
    ),
    "dataloader_stopped_mid_epoch": (
        "X = np.random.rand(4096, 8).astype(np.float32)\ny = np.arange(4096)\n"
        "ds = cn.torch.utils.data.TensorDataset(cn.from_numpy(X), cn.from_numpy(y))\n"
        "it = iter(cn.torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True))\n"
        "xb, yb = next(it)\ndel ds\nprint('ok')",
        0,
        None,
    ),
    "tf_dataset_prefetch_stopped": (
        "X = np.random.rand(4096, 8).astype(np.float32)\n"
        "ds = cn.tf.data.Dataset.from_tensor_slices(X).shuffle(512).batch(16).prefetch(8)\n"
        "it = iter(ds)\nxb = next(it)\ndel X\nprint('ok')",
        0,
        None,
    ),
    "daemon_thread_holding_a_shared_tensor": (
        "def hold():\n"
        "    t = cn.from_numpy(a)\n"
        "    while True:\n"
        "        time.sleep(0.001)\n"
        "threading.Thread(target=hold, daemon=True).start()\ntime.sleep(0.05)\nprint('ok')",
        0,
        None,
    ),
    "daemon_thread_busy_in_native_code": (
        "big = np.random.rand(1 << 20).astype(np.float32)\n"
        "def work():\n"
        "    while True:\n"
        "        t = cn.tensor(big)\n"
        "        s = cn.from_numpy(big)\n"
        "        del t, s\n"
        "for _ in range(2):\n"
        "    threading.Thread(target=work, daemon=True).start()\n"
        "time.sleep(0.1)\nprint('ok')",
        0,
        None,
    ),
    "tensors_freed_on_a_native_thread_at_shutdown": (
        # the prefetch worker holds the last reference to a tensor sharing `a`; it drops it
        # while modules are being cleared (a non-Python thread, no GIL)
        "src = np.random.rand(8192, 4).astype(np.float32)\n"
        "ds = cn.tf.data.Dataset.from_tensor_slices(cn.from_numpy(src)).batch(4).prefetch(64)\n"
        "it = iter(ds)\nnext(it)\ndel ds, src\nprint('ok')",
        0,
        None,
    ),
    "python_finalizer_after_a_shared_tensor": (
        # The reproducer without a framework. `__main__` defines no function here, so nothing
        # keeps its globals alive: at shutdown, once the runtime is marked uninitialised, they
        # are freed first (the tensor with them, which schedules the owner's release), and
        # another module's object then runs Python code in `__del__` (what torch's and
        # TensorFlow's module teardown does), which runs pending calls.
        "import types\n"
        "fin = types.ModuleType('fin_mod')\nsys.modules['fin_mod'] = fin\n"
        "exec('class Finalizer:\\n    def __del__(self):\\n        sum(i * i for i in range(20000))\\n"
        "obj = Finalizer()\\n', fin.__dict__)\n"
        "t = cn.from_numpy(a)\nv = cn.from_numpy(a[1:]).numpy()\nx = np.from_dlpack(cn.from_numpy(a))\nprint('ok')",
        0,
        None,
    ),
    "sys_exit_inside_no_grad": (
        "t = cn.from_numpy(a)\nwith cn.torch.no_grad():\n    u = t * 2\n    print('ok')\n    sys.exit(0)",
        0,
        None,
    ),
    "exception_escaping_to_the_top": (
        "t = cn.from_numpy(a)\nv = t.numpy()\nprint('ok')\nraise RuntimeError('boom at top level')",
        1,
        None,
    ),
}

PANIC_MARKERS = ("panicked", "PanicException", "Fatal Python error", "Aborted", "core dumped", "SIGSEGV")


def available(framework: str) -> bool:
    module = {"none": None, "torch": "torch", "tensorflow": "tensorflow"}[framework]
    return module is None or importlib.util.find_spec(module) is not None


def run_child(framework: str, body: str) -> subprocess.CompletedProcess:
    script = FRAMEWORKS[framework] + "\n" + COMMON + "\n" + body + "\n"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONFAULTHANDLER="1")
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_process_exits_cleanly(framework, case):
    if not available(framework):
        # in the interop lane every column must run: a missing framework is a failure there
        assert not os.environ.get("CANDLE_NUMPY_INTEROP_LANE"), f"{framework} missing in the interop lane"
        pytest.skip(f"{framework} is not installed here (the interop lane has it)")
    body, expected, needs = CASES[case]
    if needs is not None and framework not in needs:
        pytest.skip(f"{case} needs one of {needs}")
    if isinstance(body, dict):
        body = body[framework]
    done = run_child(framework, body)
    report = f"status {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr[-4000:]}"
    assert done.returncode == expected, report
    assert done.stdout.splitlines()[-1:] == ["ok"], report
    for marker in PANIC_MARKERS:
        assert marker not in done.stderr, report
    if expected == 1:
        assert "RuntimeError: boom at top level" in done.stderr, report


def test_many_tensors_freed_between_finalizers_at_shutdown():
    """Hundreds of owners released during teardown, Python code running in between."""
    body = textwrap.dedent(
        """
        import types
        mods = []
        for i in range(50):
            m = types.ModuleType(f"fin_mod_{i}")
            sys.modules[m.__name__] = m
            exec("class F:\\n    def __del__(self):\\n        sum(range(5000))\\nobj = F()\\n", m.__dict__)
            m.t = cn.from_numpy(np.arange(i + 1, dtype=np.float64))
        keep = [cn.from_numpy(np.arange(i + 1, dtype=np.float32)) for i in range(200)]
        print('ok')
        """
    )
    done = run_child("none", body)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.splitlines()[-1:] == ["ok"]
    assert "panicked" not in done.stderr
