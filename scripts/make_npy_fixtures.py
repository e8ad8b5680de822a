#!/usr/bin/env python3
"""Write the `.npy` / `.npz` fixtures read by `tests/npy_files.rs`.

Usage (from the repository root):

    python3 -m venv .venv && .venv/bin/pip install numpy==2.2.6 ml_dtypes==0.5.1
    .venv/bin/python scripts/make_npy_fixtures.py

Everything lands in `tests/data/npy/`:

* `<name>.npy` written by NumPy's own `np.save`, next to `<name>.json` holding what the
  Rust test expects without NumPy:

      {"kind": "ok" | "out_of_range" | "void_descr" | "named_descr",
       "dtype": "int8", "descr": "|i1", "shape": [2, 3, 4], "fortran": false,
       "values_c_order": [...]}           # ints exact, floats as shortest repr,
                                          # NaN / Infinity / -Infinity as Python's json writes them
* `<name>.npz` written by `np.savez` / `np.savez_compressed`, with a `<name>.json` listing
  the members in archive order.
* `malformed/<name>.npy` written byte by byte (or by `np.save` for dtypes the crate refuses),
  with `malformed/<name>.json` = {"error_contains": "<word the error message must name>"}.

The output is deterministic: running the script twice gives identical bytes (np.savez stamps
zip members with the fixed date 1980-01-01; nothing here depends on time or randomness).
"""

import io
import json
import os
import shutil
import struct
import sys

import numpy as np
import ml_dtypes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "npy")
BAD = os.path.join(OUT, "malformed")

SHAPE = (2, 3, 4)
N = 2 * 3 * 4


def c_values(dtype_name):
    """The logical (C-order) values of the (2, 3, 4) fixture of a dtype: distinct, deterministic,
    with the extremes of integer types and special values of float types."""
    i = np.arange(N, dtype=np.int64)
    if dtype_name == "bool":
        return ((i % 3 == 0) ^ (i % 5 == 1)).astype(np.bool_)
    if dtype_name == "int8":
        v = i * 11 - 128
        v[-1] = 127
        return v.astype(np.int8)
    if dtype_name == "int16":
        v = i * 1000 - 12000
        v[0], v[-1] = -(2**15), 2**15 - 1
        return v.astype(np.int16)
    if dtype_name == "int32":
        v = i * 100_000 - 1_200_000
        v[0], v[-1] = -(2**31), 2**31 - 1
        return v.astype(np.int32)
    if dtype_name == "int64":
        v = i * 10**12 - 12 * 10**12
        v[0], v[-1] = -(2**63), 2**63 - 1
        # above 2**53: would be rounded by a detour through f64
        v[1] = 2**53 + 1
        return v.astype(np.int64)
    if dtype_name == "uint8":
        v = i * 11
        v[-1] = 255
        return v.astype(np.uint8)
    if dtype_name == "uint16":
        v = i * 2000
        v[-1] = 2**16 - 1
        return v.astype(np.uint16)
    if dtype_name == "uint32":
        v = i * 10**8
        v[-1] = 2**32 - 1
        return v.astype(np.uint32)
    if dtype_name == "uint64":
        v = (i * 10**15).astype(np.uint64)
        v[-1] = 2**63 - 1  # the largest value that still fits int64
        v[1] = 2**53 + 1
        return v
    if dtype_name == "uint64_big":
        v = (i * 10**15).astype(np.uint64)
        # C index 14 = [1, 0, 2] is the first value > i64::MAX in C order; in Fortran memory
        # order C index 20 = [1, 2, 0] comes first (F position 5 < 13).
        v[14] = 2**64 - 1
        v[20] = 2**63
        return v
    if dtype_name == "float16":
        v = ((i - 12) * 0.375).astype(np.float16)
        v[1], v[2], v[3], v[4] = -0.0, np.inf, -np.inf, np.nan
        v[5], v[6] = 65504.0, 2.0**-24  # largest finite, smallest subnormal
        return v
    if dtype_name == "float32":
        v = ((i - 12) / 3).astype(np.float32)
        v[1], v[2], v[3], v[4] = -0.0, np.inf, -np.inf, np.nan
        v[5], v[6] = np.finfo(np.float32).max, np.float32(1e-45)
        return v
    if dtype_name == "float64":
        v = ((i - 12) / 7).astype(np.float64)
        v[1], v[2], v[3], v[4] = -0.0, np.inf, -np.inf, np.nan
        v[5], v[6], v[7] = np.finfo(np.float64).max, 5e-324, 0.1
        return v
    if dtype_name == "bfloat16":
        return ((i - 12) * 0.25).astype(ml_dtypes.bfloat16)
    if dtype_name == "float8_e4m3fn":
        return ((i - 12) * 0.25).astype(ml_dtypes.float8_e4m3fn)
    raise ValueError(dtype_name)


def json_values(a):
    """Flat C-order values as JSON-ready Python numbers (ints exact, floats exact as repr)."""
    flat = np.ascontiguousarray(a).reshape(-1)
    if flat.dtype == np.bool_:
        return [int(x) for x in flat]
    if flat.dtype.kind in "iu":
        return [int(x) for x in flat]
    return [float(x) for x in flat.astype(np.float64)]


def header_of(path):
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)  # 2.0 and 3.0
    return shape, fortran, dtype


def raw_descr(path):
    """The 'descr' string exactly as written in the file's header."""
    with open(path, "rb") as f:
        data = f.read(512)
    text = data[10 : 10 + struct.unpack("<H", data[8:10])[0]].decode("latin1")
    import ast

    return ast.literal_eval(text)["descr"]


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=None, separators=(",", ":"))
        f.write("\n")


def save_fixture(name, a, dtype_name, kind="ok", **extra):
    path = os.path.join(OUT, name + ".npy")
    np.save(path, a)
    shape, fortran, _ = header_of(path)
    assert tuple(shape) == a.shape
    back = np.load(path)
    assert back.shape == a.shape, name
    if kind == "void_descr":
        # np.load gives back plain void ('|V2', though the header says '<V2'): the ml_dtypes
        # type is lost, only the bits stay
        assert back.dtype.kind == "V" and back.dtype != a.dtype, name
    else:
        assert back.dtype == a.dtype and back.dtype.str == a.dtype.str, name
    assert back.tobytes() == a.tobytes(), name
    meta = {
        "kind": kind,
        "dtype": dtype_name,
        "descr": raw_descr(path),
        "shape": list(a.shape),
        "fortran": bool(fortran),
        "values_c_order": json_values(a),
    }
    meta.update(extra)
    write_json(os.path.join(OUT, name + ".json"), meta)
    return meta


def npy_header(dict_text, version=(1, 0), pad=True):
    """A hand-built .npy header (magic, version, length, dict, padding to 64 bytes, newline)."""
    body = dict_text.encode("latin1")
    lenbytes = 2 if version[0] == 1 else 4
    if pad:
        total = 6 + 2 + lenbytes + len(body) + 1
        body += b" " * ((-total) % 64)
    body += b"\n"
    fmt = "<H" if lenbytes == 2 else "<I"
    return b"\x93NUMPY" + bytes(version) + struct.pack(fmt, len(body)) + body


def write_bad(name, data, word):
    with open(os.path.join(BAD, name + ".npy"), "wb") as f:
        f.write(data)
    write_json(os.path.join(BAD, name + ".json"), {"error_contains": word})


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(BAD)

    # --- every dtype of the table, C and Fortran order, both byte orders -------------------
    plain = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
             "float16", "float32", "float64"]
    for name in plain + ["uint64_big"]:
        dtype_name = "uint64" if name == "uint64_big" else name
        base = c_values(name).reshape(SHAPE)
        kind = "out_of_range" if name == "uint64_big" else "ok"
        extra = {"error_index": 14} if name == "uint64_big" else {}
        orders = ["le", "be"] if base.dtype.itemsize > 1 else [None]
        for bo in orders:
            a = base
            if bo == "be":
                a = base.astype(base.dtype.newbyteorder(">"))
            elif bo == "le":
                a = base.astype(base.dtype.newbyteorder("<"))
            for layout in ("c", "f"):
                arr = np.ascontiguousarray(a) if layout == "c" else np.asfortranarray(a)
                suffix = f"_{layout}" + (f"_{bo}" if bo else "")
                meta = save_fixture(name + suffix, arr, dtype_name, kind, **extra)
                assert meta["fortran"] == (layout == "f"), name + suffix

    # --- ml_dtypes: np.save writes a bare void descr ('<V2' / '<V1') -----------------------
    for name in ("bfloat16", "float8_e4m3fn"):
        a = c_values(name).reshape(SHAPE)
        for layout in ("c", "f"):
            arr = np.ascontiguousarray(a) if layout == "c" else np.asfortranarray(a)
            meta = save_fixture(f"{name}_{layout}", arr, name, "void_descr")
            print(f"np.save({name}) writes descr {meta['descr']!r}", file=sys.stderr)
        # the same data with the descr this crate writes ('bfloat16'), which np.load reads once
        # ml_dtypes is imported; built by hand (np.save cannot write it)
        for layout in ("c", "f"):
            arr = np.ascontiguousarray(a) if layout == "c" else np.asfortranarray(a)
            fortran = layout == "f"
            head = npy_header(
                "{'descr': '%s', 'fortran_order': %s, 'shape': (2, 3, 4), }" % (name, fortran)
            )
            path = os.path.join(OUT, f"{name}_{layout}_named_descr.npy")
            with open(path, "wb") as f:
                f.write(head)
                f.write(arr.tobytes(order="F" if fortran else "C"))
            back = np.load(path)
            assert back.dtype == a.dtype and np.array_equal(
                back.astype(np.float64), a.astype(np.float64)
            ), path
            write_json(os.path.join(OUT, f"{name}_{layout}_named_descr.json"), {
                "kind": "ok",
                "dtype": name,
                "descr": name,
                "shape": list(SHAPE),
                "fortran": fortran,
                "values_c_order": json_values(a),
            })

    # --- 0-d, empty and 1-d arrays ----------------------------------------------------------
    save_fixture("scalar_float64", np.array(-2.5), "float64")
    save_fixture("scalar_int8", np.array(-7, dtype=np.int8), "int8")
    save_fixture("scalar_int32_be", np.array(-123456, dtype=">i4"), "int32")
    save_fixture("empty_float32_0x3", np.zeros((0, 3), dtype=np.float32), "float32")
    save_fixture("empty_int16_be_0x3", np.zeros((0, 3), dtype=">i2"), "int16")
    save_fixture("empty_int8_0x3", np.zeros((0, 3), dtype=np.int8), "int8")
    save_fixture("vector_uint16_be", np.array([0, 1, 256, 4660, 65535], dtype=">u2"), "uint16")
    # bool bytes other than 0/1 (np.frombuffer can make them; np.save keeps the raw bytes):
    # NumPy reads every non-zero byte as True
    odd_bool = np.frombuffer(bytes([0, 1, 2, 255, 0, 128]), dtype=np.bool_)
    save_fixture("bool_nonzero_bytes", odd_bool, "bool")
    with open(os.path.join(OUT, "bool_nonzero_bytes.npy"), "rb") as f:
        assert f.read()[-6:] == bytes([0, 1, 2, 255, 0, 128])

    # format versions 2.0 and 3.0 (4-byte header length), written by NumPy's own writer
    for version in ((2, 0), (3, 0)):
        name = f"version{version[0]}_float32_f"
        a = np.asfortranarray((np.arange(6, dtype="<f4").reshape(2, 3) - 2) / 4)
        path = os.path.join(OUT, name + ".npy")
        with open(path, "wb") as f:
            np.lib.format.write_array(f, a, version=version)
        with open(path, "rb") as f:
            assert f.read(8)[6:] == bytes(version)
        assert np.array_equal(np.load(path), a)
        write_json(os.path.join(OUT, name + ".json"), {
            "kind": "ok",
            "dtype": "float32",
            "descr": "<f4",
            "shape": [2, 3],
            "fortran": True,
            "values_c_order": json_values(a),
            "version": list(version),
        })

    # --- npz: stored and compressed, two members each, not in alphabetical order --------------
    weight = (np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5)
    bias = np.array([-(2**40), 0, 2**40 + 3], dtype=np.int64)
    np.savez(os.path.join(OUT, "pair.npz"), weight=weight, bias=bias)
    x = np.asfortranarray((np.arange(12, dtype=">f8").reshape(3, 4) - 6) / 4)
    mask = np.array([[True, False, True], [False, False, True]])
    np.savez_compressed(os.path.join(OUT, "pair_compressed.npz"), x_big_endian=x, mask=mask)
    for fname, members in (
        ("pair", [("weight", weight, "float32"), ("bias", bias, "int64")]),
        ("pair_compressed", [("x_big_endian", x, "float64"), ("mask", mask, "bool")]),
    ):
        with np.load(os.path.join(OUT, fname + ".npz")) as z:
            assert list(z.keys()) == [m[0] for m in members], (fname, list(z.keys()))
        write_json(os.path.join(OUT, fname + ".json"), {
            "kind": "npz",
            "compressed": fname.endswith("compressed"),
            "members": [
                {"name": n, "dtype": d, "shape": list(a.shape), "values_c_order": json_values(a)}
                for n, a, d in members
            ],
        })

    # --- malformed files -------------------------------------------------------------------
    good = io.BytesIO()
    np.save(good, np.arange(6, dtype="<f4").reshape(2, 3))
    good = good.getvalue()
    good_be = io.BytesIO()
    np.save(good_be, np.arange(6, dtype=">f4").reshape(2, 3))
    good_be = good_be.getvalue()
    good_i8 = io.BytesIO()
    np.save(good_i8, np.arange(6, dtype="i1").reshape(2, 3))
    good_i8 = good_i8.getvalue()
    hlen = len(good) - 24

    write_bad("truncated_data", good[:-4], "truncated")
    write_bad("truncated_data_big_endian", good_be[:-5], "truncated")
    write_bad("truncated_data_int8", good_i8[:-1], "truncated")
    write_bad("truncated_data_no_data", good[:hlen], "truncated")
    write_bad("truncated_header", good[:40], "truncated")
    write_bad("truncated_magic", good[:5], "truncated")
    write_bad("empty_file", b"", "truncated")
    write_bad("bad_magic", b"\x93NUMPX" + good[6:], "magic")
    write_bad("bad_magic_text", b"PK\x03\x04" + good[4:], "magic")
    write_bad("bad_version", good[:6] + b"\x09\x00" + good[8:], "version")
    write_bad("header_not_dict", npy_header("[('descr', '<f4'), ('shape', (2, 3))]")
              + bytes(24), "dict")
    write_bad("header_missing_shape", npy_header("{'descr': '<f4', 'fortran_order': False, }")
              + bytes(24), "shape")
    write_bad("header_missing_descr", npy_header("{'fortran_order': False, 'shape': (2, 3), }")
              + bytes(24), "descr")
    write_bad("header_negative_shape",
              npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }")
              + bytes(24), "negative")
    write_bad("header_shape_not_tuple",
              npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }")
              + bytes(24), "tuple")
    write_bad("header_fortran_not_bool",
              npy_header("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }")
              + bytes(24), "fortran_order")
    write_bad("header_bad_syntax",
              npy_header("{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3), }")
              + bytes(24), "bad header dict")
    write_bad("size_mismatch", good + bytes(4), "mismatch")
    write_bad("size_mismatch_big_endian", good_be + bytes(8), "mismatch")
    write_bad("unknown_descr",
              npy_header("{'descr': '<f3', 'fortran_order': False, 'shape': (2,), }")
              + bytes(6), "float width")

    # dtypes the crate refuses, written by np.save itself
    for name, arr, word in (
        ("structured", np.zeros(3, dtype=[("x", "<f4"), ("y", "<i4")]), "structured"),
        ("complex", np.array([1 + 2j, -3.5j], dtype="<c16"), "complex"),
        ("object", np.array([1, "a", None], dtype=object), "object"),
        ("unicode", np.array(["ab", "c"]), "strings"),
        ("datetime", np.array(["2020-01-01"], dtype="datetime64[D]"), "datetimes"),
    ):
        path = os.path.join(BAD, name + ".npy")
        np.save(path, arr, allow_pickle=True)
        write_json(os.path.join(BAD, name + ".json"), {"error_contains": word})

    # npz that is not a zip archive
    with open(os.path.join(BAD, "truncated.npz"), "wb") as f:
        with open(os.path.join(OUT, "pair.npz"), "rb") as g:
            f.write(g.read()[:100])

    total = sum(
        os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs
    )
    count = sum(len(fs) for _, _, fs in os.walk(OUT))
    print(f"wrote {count} files, {total} bytes, to {OUT}", file=sys.stderr)
    assert total < 200 * 1024


if __name__ == "__main__":
    main()
