#!/usr/bin/env python3
"""Summarise the last `cargo bench --bench copy` run: medians and the ratios that matter.

Reads criterion's estimates under target/criterion (no third-party packages needed).
Ratios > 1 mean ours is faster than the reference in the same run.
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")


def median_ns(group, bench, param=None):
    path = root / group / bench
    if param:
        path = path / param
    f = path / "new" / "estimates.json"
    if not f.exists():
        return None
    return json.loads(f.read_text())["median"]["point_estimate"]


def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:8.2f} {unit}"
    return f"{ns:8.1f} ns"


def line(label, ours, ref, ref_label):
    if ours is None or ref is None:
        return
    print(f"{label:44s} {fmt(ours)}  vs {ref_label} {fmt(ref)}  ratio {ref / ours:5.2f}x")


print("contiguous f32 copy (ratio = reference time / our time)")
for size in ("4KiB", "4096KiB", "262144KiB"):
    g = "contiguous_f32"
    warm = median_ns(g, "memcpy_warm", size)
    fresh = median_ns(g, "memcpy_fresh", size)
    line(f"  {size} ours warm, threads", median_ns(g, "ours_warm", size), warm, "memcpy warm")
    line(f"  {size} ours warm, 1 thread", median_ns(g, "ours_warm_1thread", size), warm, "memcpy warm")
    line(f"  {size} ours fresh (to_tensor), threads", median_ns(g, "ours_fresh", size), fresh, "memcpy fresh")
    line(f"  {size} ours fresh, 1 thread", median_ns(g, "ours_fresh_1thread", size), fresh, "memcpy fresh")
    line(f"  {size} ours fresh (to_tensor), threads", median_ns(g, "ours_fresh", size), warm, "memcpy warm")

print("strided 16 MiB (f32, 2048x2048), vs contiguous fresh copy of 16 MiB is not measured; absolute:")
for b in ("transposed", "reversed_rows", "byte_swapped", "every_other_column"):
    v = median_ns("strided_f32_16MiB", b)
    if v:
        print(f"  {b:42s} {fmt(v)}")
print("casting, 8M elements")
for b in ("f64_to_f32", "f64_to_f32_1thread", "f32_to_f16", "f32_to_bf16", "i8_widen_i16"):
    v = median_ns("cast_8M_elements", b)
    if v:
        print(f"  {b:42s} {fmt(v)}")
print("exports (O(1): 4 KiB vs 256 MiB)")
for b in ("array_ref_from_tensor", "ndarray_view", "share_back"):
    small, big = median_ns("export", b, "4KiB"), median_ns("export", b, "262144KiB")
    if small and big:
        print(f"  {b:42s} {fmt(small)} at 4 KiB, {fmt(big)} at 256 MiB")
