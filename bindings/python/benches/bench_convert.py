"""Conversion benchmark: candle_numpy against NumPy's own copy floor and torch, in one run.

    make py-bench        (or: python bindings/python/benches/bench_convert.py [--quick])

Measurements are interleaved round by round (ours, then the peers, then ours again ...) and
the median of each is reported, so a noisy neighbour slows every contender alike. Ratios
compare medians from this one run; absolute times drift on a shared machine.
"""

import argparse
import statistics
import sys
import time

import numpy as np

import candle_numpy as cn

try:
    import torch
except ImportError:  # torch is optional
    torch = None


def timed(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def interleaved(cases, rounds, number):
    """cases: {name: fn}. Returns {name: median seconds per call}."""
    samples = {k: [] for k in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name].append(timed(fn, number))
    return {k: statistics.median(v) for k, v in samples.items()}


def fmt_time(s):
    if s >= 1e-3:
        return f"{s * 1e3:8.2f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:8.2f} us"
    return f"{s * 1e9:8.1f} ns"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller sizes")
    parser.add_argument("--goals", action="store_true",
                        help="only the table of rows with a goal (issue 16), 256 MiB inputs")
    args = parser.parse_args()
    if args.goals:
        goal_table(rounds=7)
        return
    rounds = 3 if args.quick else 7
    sizes = [4 << 10, 1 << 20, 64 << 20] + ([] if args.quick else [256 << 20])

    print(f"numpy {np.__version__}, torch {torch.__version__ if torch else 'not installed'}, "
          f"python {sys.version.split()[0]}\n")

    print("share per call (O(1) expected: flat across sizes)")
    print(f"{'size':>10} {'cn.from_numpy':>14} {'t.numpy()':>12} {'torch.from_numpy':>17} {'torch .numpy()':>15}")
    for size in sizes:
        a = np.ones(size // 4, dtype=np.float32)
        t = cn.from_numpy(a)
        cases = {"share": lambda: cn.from_numpy(a), "export": lambda: t.numpy()}
        if torch is not None:
            tt = torch.from_numpy(a)
            cases["torch_share"] = lambda: torch.from_numpy(a)
            cases["torch_export"] = lambda: tt.numpy()
        r = interleaved(cases, rounds, 2000)
        row = f"{size >> 10:>8}Ki {fmt_time(r['share']):>14} {fmt_time(r['export']):>12}"
        if torch is not None:
            row += f" {fmt_time(r['torch_share']):>17} {fmt_time(r['torch_export']):>15}"
        print(row)

    print("\ncopy (GB/s; ratio = ours / np.copyto into a warm buffer)")
    for size in sizes[1:]:
        a = np.random.default_rng(0).random(size // 4, dtype=np.float32)
        dst = np.empty_like(a)
        cases = {
            "cn.tensor": lambda: cn.tensor(a),
            "np.copyto": lambda: np.copyto(dst, a),
            "a.copy": lambda: a.copy(),
        }
        if torch is not None:
            cases["torch.tensor"] = lambda: torch.tensor(a)
        number = max(1, (64 << 20) // size)
        r = interleaved(cases, rounds, number)
        gbs = {k: size / v / 1e9 for k, v in r.items()}
        line = f"{size >> 20:>6} MiB  " + "  ".join(f"{k} {v:6.2f}" for k, v in gbs.items())
        print(line + f"   ratio vs np.copyto {gbs['cn.tensor'] / gbs['np.copyto']:.2f}x, vs a.copy {gbs['cn.tensor'] / gbs['a.copy']:.2f}x")

    print("\ncast float64 -> float32 (ms; ratio = peer time / ours; astype and ours fill fresh memory,")
    print("copyto a warm buffer)")
    n = (sizes[-1] // 8)
    a64 = np.random.default_rng(1).random(n)
    dst32 = np.empty(n, dtype=np.float32)
    cases = {"cn.tensor(dtype=f32)": lambda: cn.tensor(a64, dtype="float32"),
             "a64.astype(float32)": lambda: a64.astype(np.float32),
             "np.copyto(dst32, a64)": lambda: np.copyto(dst32, a64, casting="same_kind")}
    if torch is not None:
        cases["torch.tensor(dtype=f32)"] = lambda: torch.tensor(a64, dtype=torch.float32)
    r = interleaved(cases, rounds, 1)
    ours = r["cn.tensor(dtype=f32)"]
    for k, v in r.items():
        print(f"  {k:26s} {fmt_time(v)}   ratio {v / ours:5.2f}x")

    print("\ntransposed copy (Fortran order -> C order), float32")
    side = 2048 if args.quick else 4096
    f = np.asfortranarray(np.random.default_rng(2).random((side, side), dtype=np.float32))
    dstc = np.empty((side, side), dtype=np.float32)
    r = interleaved({"cn.tensor(F array)": lambda: cn.tensor(f), "np.copyto(C, F)": lambda: np.copyto(dstc, f),
                     "np.ascontiguousarray": lambda: np.ascontiguousarray(f)}, rounds, 1)
    ours = r["cn.tensor(F array)"]
    for k, v in r.items():
        print(f"  {k:26s} {fmt_time(v)}   ratio {v / ours:5.2f}x")

    print()
    goal_table(rounds)


# Each row: (work, {contender: fn}, ours, peer, goal for ours/peer time). 256 MiB inputs.
def goal_rows():
    mib = 1 << 20
    rng = np.random.default_rng(3)
    a = rng.random(256 * mib // 4, dtype=np.float32)
    a2 = a.reshape(8192, -1)  # (8192, 8192): a[:, ::2] is a strided 128 MiB view
    a64 = rng.random(256 * mib // 8)
    dst = np.empty_like(a)
    rows = [
        ("cn.from_numpy(a) vs torch.from_numpy(a)", {
            "ours": lambda: cn.from_numpy(a),
            "peer": (lambda: torch.from_numpy(a)) if torch else None}, 1.0, 2000),
        ("cn.tensor(a) 256 MiB f32 vs np.copyto(warm dst, a)", {
            "ours": lambda: cn.tensor(a), "peer": lambda: np.copyto(dst, a)}, 1.11, 1),
        ("cn.tensor(a) 256 MiB f32 vs torch.tensor(a)", {
            "ours": lambda: cn.tensor(a), "peer": (lambda: torch.tensor(a)) if torch else None}, 1.0, 1),
        ("cn.tensor(a) 256 MiB f32 vs a.copy()", {
            "ours": lambda: cn.tensor(a), "peer": lambda: a.copy()}, 1.0, 1),
        ("cn.tensor(a64, dtype=f32) vs torch.from_numpy(a64).float()", {
            "ours": lambda: cn.tensor(a64, dtype="float32"),
            "peer": (lambda: torch.from_numpy(a64).float()) if torch else None}, 0.5, 1),
        ("cn.from_numpy(a64).float() vs torch.from_numpy(a64).float()", {
            "ours": lambda: cn.from_numpy(a64).float(),
            "peer": (lambda: torch.from_numpy(a64).float()) if torch else None}, 0.5, 1),
        ("cn.tensor(a64, dtype=f32) vs a64.astype(f32)", {
            "ours": lambda: cn.tensor(a64, dtype="float32"), "peer": lambda: a64.astype(np.float32)}, 1.0, 1),
        ("cn.tensor(a[::-1]) vs a[::-1].copy()", {
            "ours": lambda: cn.tensor(a[::-1]), "peer": lambda: a[::-1].copy()}, 1.0, 1),
        ("cn.tensor(a[:, ::2]) vs np.ascontiguousarray(a[:, ::2])", {
            "ours": lambda: cn.tensor(a2[:, ::2]), "peer": lambda: np.ascontiguousarray(a2[:, ::2])}, 1.0, 1),
    ]
    # Without the block cache every call writes fresh memory, as the peers' do: no goal, the
    # page-fault cost of this machine shown beside theirs.
    fresh = [
        ("  cache off: cn.tensor(a) vs a.copy()", {"ours": lambda: cn.tensor(a), "peer": lambda: a.copy()}, None, 1),
        ("  cache off: cn.tensor(a) vs torch.tensor(a)", {
            "ours": lambda: cn.tensor(a), "peer": (lambda: torch.tensor(a)) if torch else None}, None, 1),
        ("  cache off: cn.tensor(a64, dtype=f32) vs a64.astype(f32)", {
            "ours": lambda: cn.tensor(a64, dtype="float32"), "peer": lambda: a64.astype(np.float32)}, None, 1),
    ]
    return rows, fresh


def goal_table(rounds):
    """The rows with a goal, each pair interleaved; ratio = ours / peer (time), lower is better."""
    print("rows with a goal (256 MiB inputs; ratio = ours / peer time; medians of interleaved rounds)")
    print(f"{'work':62s} {'peer':>11} {'ours':>11} {'ratio':>6} {'goal':>6}")
    rows, fresh = goal_rows()

    def show(work, fns, goal, number):
        if fns["peer"] is None:
            print(f"{work:62s} {'(no torch)':>11}")
            return
        r = interleaved(fns, rounds, number)
        ratio = r["ours"] / r["peer"]
        verdict = "" if goal is None else f"{goal:6.2f} " + ("met" if ratio <= goal else "NOT met")
        print(f"{work:62s} {fmt_time(r['peer']):>11} {fmt_time(r['ours']):>11} {ratio:6.2f} {verdict}")

    for row in rows:
        show(*row)
    if not hasattr(cn, "set_cache_limit"):  # a release before the block cache
        return
    limit = cn.cache_info()["limit"]
    cn.set_cache_limit(0)
    try:
        for row in fresh:
            show(*row)
    finally:
        cn.set_cache_limit(limit)


if __name__ == "__main__":
    main()
