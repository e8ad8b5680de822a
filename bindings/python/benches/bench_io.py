"""File loading benchmark: a 1 GiB float32 `.npy` and `.safetensors`, memory-mapped (O(1), shared)
and copied (GB/s), against `np.load` (and `np.load(mmap_mode="r")`) and the `safetensors`
package's `load_file` (NumPy), in one run.

    python bindings/python/benches/bench_io.py [--size-mib 1024] [--rounds 5]

The files are written to /tmp and deleted at the end. Each file is read once before timing so
every contender reads from the page cache (this measures loading, not the disk). Contenders run
interleaved round by round and the median of each is reported; ratios compare medians from this
one run. Memory-mapped loads touch no data: the first access to each page pays a (minor) page
fault, as with `np.load(mmap_mode="r")`.
"""

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time

import numpy as np

import candle_numpy as cn

try:
    import safetensors
    from safetensors.numpy import load_file as st_load_file
except ImportError:
    safetensors = None
try:
    import torch
    from safetensors.torch import load_file as st_torch_load_file
except ImportError:
    torch = None


def timed(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        result = fn()
        del result
    return (time.perf_counter() - start) / number


def interleaved(cases, rounds):
    """cases: {name: (fn, calls per sample)}. Returns {name: median seconds per call}."""
    samples = {k: [] for k in cases}
    for _ in range(rounds):
        for name, (fn, number) in cases.items():
            gc.collect()
            samples[name].append(timed(fn, number))
    return {k: statistics.median(v) for k, v in samples.items()}


def fmt_time(s):
    if s >= 1e-3:
        return f"{s * 1e3:9.2f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:9.2f} us"
    return f"{s * 1e9:9.1f} ns"


def warm(path):
    """Read the whole file once so it sits in the page cache."""
    with open(path, "rb") as f:
        while f.read(64 << 20):
            pass


def report(title, results, nbytes, reference):
    print(title)
    ref = results[reference]
    for name, s in results.items():
        rate = f"{nbytes / s / 1e9:7.2f} GB/s" if s > 1e-3 else "   (O(1))   "
        print(f"  {name:<44} {fmt_time(s)} {rate}   {ref / s:6.2f}x {reference}")
    print()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    nbytes = args.size_mib << 20
    n = nbytes // 4
    print(f"numpy {np.__version__}, safetensors {safetensors.__version__ if safetensors else 'not installed'}, "
          f"torch {torch.__version__ if torch else 'not installed'}, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs")
    print(f"one float32 array of {args.size_mib} MiB ({n} elements); {args.rounds} interleaved rounds, "
          "medians; files read once before timing (page cache warm)\n")

    tmp = tempfile.mkdtemp(prefix="cn_bench_io_", dir="/tmp")
    npy = os.path.join(tmp, "a.npy")
    sft = os.path.join(tmp, "a.safetensors")
    try:
        a = np.arange(n, dtype=np.float32)
        t0 = time.perf_counter()
        np.save(npy, a)
        t_npsave = time.perf_counter() - t0
        t0 = time.perf_counter()
        cn.save_safetensors(sft, {"a": a})
        t_cnsave = time.perf_counter() - t0
        print(f"write once (not the benchmark): np.save {t_npsave:.2f} s, cn.save_safetensors {t_cnsave:.2f} s\n")
        del a
        gc.collect()
        for p in (npy, sft):
            warm(p)

        # sanity: every contender sees the same data
        check = cn.load_safetensors(sft)["a"]
        assert check.is_readonly and check.shape == (n,) and check.numpy()[-1] == n - 1
        del check

        load_npy = getattr(cn, "load_npy", None)
        mm = {
            'np.load(mmap_mode="r")': (lambda: np.load(npy, mmap_mode="r"), 50),
            'cn.as_tensor(np.load(mmap_mode="r")) share': (lambda: cn.as_tensor(np.load(npy, mmap_mode="r")), 50),
            "cn.load_safetensors(mmap=True) share": (lambda: cn.load_safetensors(sft), 50),
        }
        if load_npy is not None:
            try:
                load_npy(npy, mmap=True)
                mm["cn.load_npy(mmap=True)"] = (lambda: load_npy(npy, mmap=True), 50)
            except TypeError:
                pass
        mm_results = interleaved(mm, args.rounds)
        report("memory-mapped loads (per call; no data touched)", mm_results, nbytes, 'np.load(mmap_mode="r")')

        copies = {
            "np.load (copy)": (lambda: np.load(npy), 1),
            'cn.tensor(np.load(mmap_mode="r")) copy': (lambda: cn.tensor(np.load(npy, mmap_mode="r")), 1),
            "cn.load_safetensors(mmap=False) copy": (lambda: cn.load_safetensors(sft, mmap=False), 1),
        }
        if load_npy is not None:
            copies["cn.load_npy (copy)"] = (lambda: load_npy(npy), 1)
        if safetensors is not None:
            copies["safetensors.numpy.load_file (copy)"] = (lambda: st_load_file(sft), 1)
        if torch is not None:
            copies["safetensors.torch.load_file"] = (lambda: st_torch_load_file(sft), 1)
        copy_results = interleaved(copies, args.rounds)
        report("copying loads (whole file into fresh memory)", copy_results, nbytes, "np.load (copy)")
        if safetensors is not None:
            ours = copy_results["cn.load_safetensors(mmap=False) copy"]
            theirs = copy_results["safetensors.numpy.load_file (copy)"]
            print(f"cn.load_safetensors(mmap=False) vs safetensors.numpy.load_file: {theirs / ours:.2f}x")
            ratio = copy_results["safetensors.numpy.load_file (copy)"] / mm_results["cn.load_safetensors(mmap=True) share"]
            print(f"cn.load_safetensors(mmap=True) vs safetensors.numpy.load_file: {ratio:,.0f}x")
    finally:
        for p in (npy, sft):
            if os.path.exists(p):
                os.remove(p)
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
