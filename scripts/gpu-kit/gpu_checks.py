"""The Python checks of the GPU kit (run by run.sh; see scripts/gpu-kit.sh).

    python3 gpu_checks.py python  RESULTS [--device cuda|cpu] [--quick]
    python3 gpu_checks.py speed   RESULTS [--device cuda|cpu] [--quick]
    python3 gpu_checks.py table   RESULTS
    python3 gpu_checks.py skip    RESULTS SECTION REASON

Each check appends one JSON line to RESULTS: {"section", "name", "status", "detail", "seconds"}
with status "ok", "FAIL", "skip" or "n/a" (a capability the package does not offer yet, which
is reported, not failed). `table` prints them as one table and exits 1 if any row FAILed.
`--device cpu --quick` is the runner's self-check: the same code at toy sizes on the CPU, so a
CPU-only machine (and CI) proves the checks themselves still run; torch is used where present.
"""

import argparse
import json
import sys
import time
import traceback

SECTIONS = ("rust", "python", "speed")


def record(path, section, name, status, detail="", seconds=None):
    row = {"section": section, "name": name, "status": status, "detail": detail, "seconds": seconds}
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(f"[{section}] {name}: {status} {detail}".rstrip(), flush=True)


class NotAvailable(Exception):
    """The package does not offer this (yet): reported as n/a, not as a failure."""


class Skip(Exception):
    """Not runnable here (e.g. torch missing): reported as skip."""


def run_checks(path, section, checks, ctx):
    for name, fn in checks:
        start = time.perf_counter()
        try:
            detail = fn(ctx) or ""
            status = "ok"
        except NotAvailable as e:
            status, detail = "n/a", str(e)
        except Skip as e:
            status, detail = "skip", str(e)
        except Exception as e:  # noqa: BLE001 - every failure becomes a row
            traceback.print_exc()
            status, detail = "FAIL", f"{type(e).__name__}: {e}"[:300]
        record(path, section, name, status, detail, round(time.perf_counter() - start, 3))


class Ctx:
    def __init__(self, device, quick):
        import numpy as np

        import candle_numpy as cn

        self.np, self.cn, self.device, self.quick = np, cn, device, quick
        self.cuda = device.startswith("cuda")
        try:
            import torch
        except ImportError:
            torch = None
        self.torch = torch
        if torch is not None and self.cuda and not torch.cuda.is_available():
            raise SystemExit("gpu_checks: torch sees no CUDA device although one was asked for")

    def need_torch(self):
        if self.torch is None:
            raise Skip("torch is not installed")
        return self.torch

    def sync(self):
        if self.torch is not None and self.cuda:
            self.torch.cuda.synchronize()


# ---------------------------------------------------------------------------------------------
# section 2: correctness on the device

DTYPES = ["uint8", "int16", "int32", "int64", "uint32", "float16", "bfloat16", "float32", "float64",
          "float8_e4m3fn"]
NUMPY_NATIVE = {"uint8", "int16", "int32", "int64", "uint32", "float16", "float32", "float64"}


def check_copies(ctx):
    np = ctx.np
    src = (np.arange(-60, 60, dtype=np.float64).reshape(8, 15) / 4.0)
    failed = []
    for d in DTYPES:
        try:
            _copy_one(ctx, d, np.abs(src) if d.startswith("uint") else src)
        except Exception as e:  # noqa: BLE001 - every dtype is tried, the failures listed
            failed.append(f"{d}: {type(e).__name__}: {str(e)[:60]}")
    if failed:
        raise AssertionError(f"{len(failed)} of {len(DTYPES)} dtypes failed: " + "; ".join(failed))
    return f"{len(DTYPES)} dtypes round-trip equal"


def _copy_one(ctx, d, data):
    np, cn = ctx.np, ctx.cn
    host = cn.tensor(data.astype(np.float32), dtype=d)
    on_dev = host.to(ctx.device)
    assert on_dev.device == cn.device(ctx.device), (d, on_dev.device)
    assert on_dev.dtype == d, (d, on_dev.dtype)
    back = on_dev.to("cpu")
    np.testing.assert_array_equal(back.to("float64").numpy(), host.to("float64").numpy(), err_msg=d)
    if d in NUMPY_NATIVE:
        a = data.astype(d)
        t = cn.tensor(a, device=ctx.device)  # host -> device straight from NumPy
        got = t.numpy(force=True)  # device -> host
        assert got.dtype == a.dtype and got.shape == a.shape, (d, got.dtype, got.shape)
        np.testing.assert_array_equal(got, a, err_msg=d)
        # a non-contiguous view is copied with its values, not its memory layout
        np.testing.assert_array_equal(cn.tensor(a[:, ::2], device=ctx.device).numpy(force=True), a[:, ::2])


def check_numpy_view_refused(ctx):
    np, cn = ctx.np, ctx.cn
    t = cn.tensor(np.ones((2, 3), np.float32), device=ctx.device)
    if not ctx.cuda:
        assert ctx.np.shares_memory(t.numpy(), t.numpy())
        return "cpu: numpy() is a view"
    try:
        t.numpy()
    except Exception as e:  # noqa: BLE001 - the exact type is reported
        return f"numpy() without force refused: {type(e).__name__}"
    raise AssertionError("t.numpy() of a CUDA tensor returned without force=True")


def check_share_refused(ctx):
    np, cn = ctx.np, ctx.cn
    a = np.arange(12, dtype=np.float32)
    if not ctx.cuda:
        t = cn.to_tensor(a, mode="share", device=ctx.device)
        assert cn.shares_memory(a, t)
        return "cpu: share shares"
    try:
        cn.to_tensor(a, mode="share", device=ctx.device)
    except cn.ShareError as e:
        return f"ShareError: {str(e)[:80]}"
    raise AssertionError("sharing host memory with a CUDA tensor was not refused")


def check_dataloader(ctx):
    np, cn = ctx.np, ctx.cn
    from candle_numpy.torch.utils.data import DataLoader, TensorDataset

    n = 1000
    x = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
    y = np.arange(n, dtype=np.int64)
    ds = TensorDataset(cn.tensor(x), cn.tensor(y))
    seen = []
    batches = 0
    for xb, yb in DataLoader(ds, batch_size=128, shuffle=True, seed=1, device=ctx.device):
        assert xb.device == cn.device(ctx.device) and yb.device == cn.device(ctx.device), (xb.device, yb.device)
        xs, ys = xb.numpy(force=True), yb.numpy(force=True)
        np.testing.assert_array_equal(xs[:, 0], ys * 4)
        seen.extend(ys.tolist())
        batches += 1
    assert sorted(seen) == list(range(n))
    return f"{batches} batches on {cn.device(ctx.device)}"


def check_dlpack_cn_to_torch(ctx):
    torch, np, cn = ctx.need_torch(), ctx.np, ctx.cn
    t = cn.tensor(np.arange(16, dtype=np.float32).reshape(4, 4), device=ctx.device)
    tt = torch.from_dlpack(t)
    assert tt.device.type == ("cuda" if ctx.cuda else "cpu"), tt.device
    np.testing.assert_array_equal(tt.cpu().numpy(), np.arange(16, dtype=np.float32).reshape(4, 4))
    # zero-copy: torch writes, candle reads the same memory
    tt[0, 0] = 100.0
    ctx.sync()
    assert t.numpy(force=True)[0, 0] == 100.0, "a write through torch is not visible in the cn tensor"
    # the same memory again: a second export points at the first one's data
    assert torch.from_dlpack(t).data_ptr() == tt.data_ptr()
    detail = "same data_ptr, writes visible"
    if ctx.cuda:
        # the consumer-stream handshake: torch hands its (non-default) stream to __dlpack__;
        # candle's pending work must be ordered before anything torch queues on it
        s = torch.cuda.Stream()
        big = cn.tensor(np.ones((2048, 2048), np.float32), device=ctx.device)
        prod = big.matmul(big)  # queued on candle's stream
        with torch.cuda.stream(s):
            tp = torch.from_dlpack(prod)
            total = tp.sum()
        s.synchronize()
        assert total.item() == 2048.0 * 2048 * 2048, total.item()
        detail += "; stream handshake on a non-default torch stream"
    return detail


def check_dlpack_torch_to_cn(ctx):
    torch, np, cn = ctx.need_torch(), ctx.np, ctx.cn
    dev = "cuda" if ctx.cuda else "cpu"
    tt = torch.arange(12, dtype=torch.float32, device=dev).reshape(3, 4)
    t = cn.from_dlpack(tt)
    assert t.device == cn.device(ctx.device), t.device
    np.testing.assert_array_equal(t.numpy(force=True), tt.cpu().numpy())
    # does candle's tensor alias torch's memory? export it back and compare the pointers
    back = torch.from_dlpack(t)
    same = back.data_ptr() == tt.data_ptr()
    tt[0, 0] = -5.0
    ctx.sync()
    seen = t.numpy(force=True)[0, 0] == -5.0
    if same != seen:
        raise AssertionError(f"data_ptr equal={same} but write visible={seen}")
    if ctx.cuda and not same:
        # the README documents cn.from_dlpack of a CUDA array as a device-to-device copy
        return "device-to-device copy (documented), values equal"
    return "zero-copy: same data_ptr, writes visible" if same else "copy, values equal"


PY_CHECKS = [
    ("copies host<->device, every dtype", check_copies),
    ("t.numpy() refused / force=True copies", check_numpy_view_refused),
    ("share to the device refused (ShareError)", check_share_refused),
    ("DataLoader(device=) batches on device", check_dataloader),
    ("DLPack cn -> torch (zero-copy, stream)", check_dlpack_cn_to_torch),
    ("DLPack torch -> cn", check_dlpack_torch_to_cn),
]


# ---------------------------------------------------------------------------------------------
# section 3: speed next to torch

def timed(fn, sync, repeat=3):
    fn()  # warm-up: kernels loaded, allocator primed
    sync()
    best = float("inf")
    out = None
    for _ in range(repeat):
        s = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - s)
    return best, out


def cdist_check(shape):
    def check(ctx):
        np, cn = ctx.np, ctx.cn
        n, d = shape
        if ctx.quick:
            n, d = min(n, 64), min(d, 8)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, d), dtype=np.float32)
        y = x[: min(n, 4096)]  # (n, min(n, 4096)): the largest output stays at 800 MB of f32
        xd, yd = cn.tensor(x, device=ctx.device), cn.tensor(y, device=ctx.device)
        t_cn, out = timed(lambda: cn.cdist(xd, yd), ctx.sync)
        got = out.numpy(force=True).astype(np.float64)
        # float64 reference on a sample of rows (exact, on the host)
        rows = rng.choice(n, size=min(n, 256), replace=False)
        xs, ys = x[rows].astype(np.float64), y.astype(np.float64)
        sq = (xs**2).sum(1)[:, None] + (ys**2).sum(1)[None, :] - 2.0 * xs @ ys.T
        ref = np.sqrt(np.maximum(sq, 0.0))
        err_cn = float(np.abs(got[rows] - ref).max())
        detail = f"({n},{d})x({len(y)},{d}) cn {t_cn * 1e3:.2f} ms err {err_cn:.1e}"
        assert err_cn < 1e-2 * max(1.0, float(ref.max())), detail
        if ctx.torch is not None:
            torch = ctx.torch
            dev = "cuda" if ctx.cuda else "cpu"
            xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
            t_t, out_t = timed(lambda: torch.cdist(xt, yt), ctx.sync)
            err_t = float(np.abs(out_t.cpu().numpy().astype(np.float64)[rows] - ref).max())
            detail += f" | torch {t_t * 1e3:.2f} ms err {err_t:.1e} | torch/cn {t_t / t_cn:.2f}x"
        return detail
    return check


def mlp_data(ctx, n):
    np = ctx.np
    rng = np.random.default_rng(0)
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n).astype(np.int64)
    return x, y


def mlp_check(batch, policy):
    def check(ctx):
        n = 512 if ctx.quick else 60000  # one MNIST-sized epoch
        x, y = mlp_data(ctx, n)
        loops = [_cn_keras, _cn_torch_loop] + ([_torch_loop] if ctx.torch is not None else [])
        parts = []
        for loop in loops:
            loop(ctx, x[: 2 * batch], y[: 2 * batch], batch, policy)  # warm-up: kernels, handles
            parts.append(loop(ctx, x, y, batch, policy))
        return " | ".join(parts)
    return check


def _cn_keras(ctx, x, y, batch, policy):
    cn = ctx.cn
    keras = cn.tf.keras
    if ctx.cuda:
        # The Python Sequential has no device argument yet (the Rust model has with_device; the
        # CUDA keras tests of section 1 cover it): its fit runs on the CPU, so timing it next to
        # GPU loops would mislead.
        import inspect

        if "device" not in inspect.signature(keras.Sequential).parameters:
            return "cn keras: n/a (Sequential has no device= from Python)"
    model = keras.Sequential([keras.layers.Dense(256, activation="relu", input_shape=(784,)),
                              keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")],
                             seed=0, dtype_policy=None if policy == "float32" else policy)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    s = time.perf_counter()
    hist = model.fit(x, y, epochs=1, batch_size=batch, verbose=0)
    dt = time.perf_counter() - s
    loss = _last_loss(hist)
    return f"cn keras {dt:.2f} s loss {loss:.3f}"


def _last_loss(hist):
    h = hist.history if hasattr(hist, "history") else hist[0]
    return float(h["loss"][-1])


def _cn_torch_loop(ctx, x, y, batch, policy):
    """The MLP as cn tensors on the device (cn.torch has no Module.to yet): the weights are
    leaf tensors created there, the loop is cn.torch's autograd, Adam and DataLoader."""
    np, cn = ctx.np, ctx.cn
    F = cn.torch.nn.functional
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in ((784, 256), (256, 256), (256, 10)):
        bound = 1.0 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        b = rng.uniform(-bound, bound, fan_out).astype(np.float32)
        params += [cn.tensor(w, device=ctx.device, requires_grad=True),
                   cn.tensor(b, device=ctx.device, requires_grad=True)]
    opt = cn.torch.optim.Adam(params, lr=1e-3)
    from candle_numpy.torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(cn.tensor(x), cn.tensor(y)), batch_size=batch, shuffle=True, seed=0,
                        device=ctx.device)
    low = None if policy == "float32" else "bfloat16"

    def forward(xb):
        h = xb
        for i in range(0, 6, 2):
            w, b = params[i], params[i + 1]
            if low:
                h = F.linear(h.to(low), w.to(low), b.to(low)).to("float32")
            else:
                h = F.linear(h, w, b)
            if i < 4:
                h = F.relu(h)
        return h

    s = time.perf_counter()
    loss = None
    for xb, yb in loader:
        loss = F.cross_entropy(forward(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = float(loss.to("cpu").item())
    dt = time.perf_counter() - s
    return f"cn.torch {dt:.2f} s loss {last:.3f}"


def _torch_loop(ctx, x, y, batch, policy):
    torch = ctx.torch
    dev = "cuda" if ctx.cuda else "cpu"
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    lossf = nn.CrossEntropyLoss()
    autocast = policy != "float32"
    ctx.sync()
    s = time.perf_counter()
    perm = torch.randperm(len(xt), device=dev)
    loss = None
    for i in range(0, len(xt), batch):
        idx = perm[i:i + batch]
        with torch.autocast(device_type=dev, dtype=torch.bfloat16, enabled=autocast):
            loss = lossf(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = float(loss.item())
    ctx.sync()
    dt = time.perf_counter() - s
    return f"torch {dt:.2f} s loss {last:.3f}"


SPEED_CHECKS = [
    ("cdist (4096, 128)", cdist_check((4096, 128))),
    ("cdist (10000, 64)", cdist_check((10000, 64))),
    ("cdist (50000, 128)", cdist_check((50000, 128))),
] + [
    (f"MLP epoch batch {b} {p}", mlp_check(b, p))
    for p in ("float32", "mixed_bfloat16") for b in (128, 1024)
]


# ---------------------------------------------------------------------------------------------

def print_table(path):
    rows = []
    try:
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        pass
    w_name = max([len(r["name"]) for r in rows] + [10])
    print()
    print(f"{'section':8s} {'check':{w_name}s} {'status':6s} {'secs':>7s}  detail")
    print(f"{'-' * 8} {'-' * w_name} {'-' * 6} {'-' * 7}  {'-' * 40}")
    for r in rows:
        secs = "" if r.get("seconds") is None else f"{r['seconds']:.1f}"
        detail = r["detail"] if len(r["detail"]) <= 200 else r["detail"][:197] + "..."
        print(f"{r['section']:8s} {r['name']:{w_name}s} {r['status']:6s} {secs:>7s}  {detail}")
    failed = [r for r in rows if r["status"] == "FAIL"]
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "FAIL", "skip", "n/a")}
    print("summary: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 1 if failed else 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["python", "speed", "table", "skip"])
    p.add_argument("results")
    p.add_argument("rest", nargs="*")
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    if a.what == "table":
        return print_table(a.results)
    if a.what == "skip":
        if len(a.rest) != 2 or a.rest[0] not in SECTIONS + ("total",):
            p.error("skip needs SECTION REASON")
        record(a.results, a.rest[0], "(section)", "skip", a.rest[1])
        return 0
    ctx = Ctx(a.device, a.quick)
    run_checks(a.results, a.what, PY_CHECKS if a.what == "python" else SPEED_CHECKS, ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
