#!/usr/bin/env python3
"""Check with NumPy that `.npy` / `.npz` files written by candle-numpy read back exactly.

`tests/npy_files.rs` writes its crate-written files, each with a `<name>.json` sidecar of the
values they must hold, into the directory named by `CANDLE_NUMPY_NPY_OUT`:

    CANDLE_NUMPY_NPY_OUT=/tmp/npy-out cargo test --test npy_files
    .venv/bin/python scripts/check_npy_roundtrip.py /tmp/npy-out

(the directory may also be given by the same environment variable instead of an argument).
Every file is loaded with `np.load` (ml_dtypes imported, so the `'bfloat16'` /
`'float8_e4m3fn'` descrs the crate writes resolve), and its descr, `fortran_order`, shape,
dtype and every value are compared exactly: integers as Python ints, floats bit for bit (so
-0.0 is not 0.0), any NaN matching any NaN. Exits non-zero on the first kind of mismatch it
finds in each file, after checking all of them.
"""

import ast
import json
import os
import struct
import sys

import numpy as np
import ml_dtypes  # noqa: F401  (registers bfloat16 / float8_e4m3fn with NumPy)


def read_header(path):
    """(descr, fortran_order, shape) exactly as written in the file's header dict."""
    with open(path, "rb") as f:
        magic = f.read(8)
        if magic[:6] != b"\x93NUMPY":
            raise ValueError(f"bad magic {magic[:6]!r}")
        if magic[6] == 1:
            (n,) = struct.unpack("<H", f.read(2))
        else:
            (n,) = struct.unpack("<I", f.read(4))
        text = f.read(n).decode("latin1")
    if not text.endswith("\n"):
        raise ValueError("header does not end with a newline")
    if (len(text) + (10 if magic[6] == 1 else 12)) % 64 != 0:
        raise ValueError("data is not 64-byte aligned")
    d = ast.literal_eval(text)
    return d["descr"], d["fortran_order"], tuple(d["shape"])


def compare_values(arr, expected, what):
    """Exact comparison of an array's C-order values with JSON values."""
    flat = np.ascontiguousarray(arr).reshape(-1)
    if len(flat) != len(expected):
        return [f"{what}: {len(flat)} elements, expected {len(expected)}"]
    errors = []
    if flat.dtype == np.bool_ or flat.dtype.kind in "iu":
        got = [int(x) for x in flat.tolist()]
        for i, (g, e) in enumerate(zip(got, expected)):
            if g != int(e):
                errors.append(f"{what}: flat index {i}: got {g}, expected {e}")
    else:
        got = flat.astype(np.float64)
        want = np.array([float(e) for e in expected], dtype=np.float64)
        same = (got.view(np.uint64) == want.view(np.uint64)) | (np.isnan(got) & np.isnan(want))
        for i in np.flatnonzero(~same)[:5]:
            errors.append(f"{what}: flat index {i}: got {got[i]!r}, expected {want[i]!r}")
    return errors


def check_array(arr, meta, what):
    errors = []
    if arr.dtype.name != meta["dtype"]:
        errors.append(f"{what}: dtype {arr.dtype.name}, expected {meta['dtype']}")
    if list(arr.shape) != meta["shape"]:
        errors.append(f"{what}: shape {arr.shape}, expected {meta['shape']}")
    if not errors:
        errors += compare_values(arr, meta["values_c_order"], what)
    return errors


def check_npy(path, meta):
    name = os.path.basename(path)
    descr, fortran, shape = read_header(path)
    errors = []
    if descr != meta["descr"]:
        errors.append(f"{name}: descr {descr!r}, expected {meta['descr']!r}")
    if fortran != meta["fortran"]:
        errors.append(f"{name}: fortran_order {fortran}, expected {meta['fortran']}")
    if list(shape) != meta["shape"]:
        errors.append(f"{name}: header shape {shape}, expected {meta['shape']}")
    arr = np.load(path, allow_pickle=False)
    if meta["fortran"] and arr.ndim > 1 and arr.size > 1 and not arr.flags.f_contiguous:
        errors.append(f"{name}: np.load did not give a Fortran-ordered array")
    errors += check_array(arr, meta, name)
    return errors


def check_npz(path, meta):
    name = os.path.basename(path)
    errors = []
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.keys())
        want = [m["name"] for m in meta["members"]]
        if keys != want:
            return [f"{name}: members {keys}, expected {want}"]
        for m in meta["members"]:
            errors += check_array(z[m["name"]], m, f"{name}/{m['name']}")
    return errors


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CANDLE_NUMPY_NPY_OUT")
    if not out:
        sys.exit("usage: check_npy_roundtrip.py DIR  (or set CANDLE_NUMPY_NPY_OUT)")
    sidecars = sorted(f for f in os.listdir(out) if f.endswith(".json"))
    if not sidecars:
        sys.exit(f"no .json sidecars in {out}: run the Rust test with CANDLE_NUMPY_NPY_OUT={out} first")
    errors = []
    counts = {"npy": 0, "npz": 0}
    for side in sidecars:
        with open(os.path.join(out, side)) as f:
            meta = json.load(f)
        stem = side[: -len(".json")]
        kind = meta["kind"]
        path = os.path.join(out, stem + "." + kind)
        if not os.path.exists(path):
            errors.append(f"{stem}: {path} missing")
            continue
        try:
            errors += check_npy(path, meta) if kind == "npy" else check_npz(path, meta)
        except Exception as e:  # a file NumPy cannot read at all is a failure, not a crash
            errors.append(f"{stem}: {type(e).__name__}: {e}")
        counts[kind] += 1
    print(
        f"checked {counts['npy']} .npy and {counts['npz']} .npz files written by candle-numpy "
        f"with numpy {np.__version__}, ml_dtypes {ml_dtypes.__version__}: "
        f"{'OK' if not errors else f'{len(errors)} problems'}"
    )
    for e in errors:
        print("  " + e)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
