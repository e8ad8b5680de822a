"""cn.load_url against a real S3-compatible server on loopback (moto's server mode).

The server runs in a thread of this process, so these tests also show that load_url releases
the GIL: the server could not answer otherwise.
"""

import io
import json
import os
import socket
import struct
import time

import numpy as np
import pytest

import candle_numpy as cn

moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed (S3 tests need it)")
boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (comes with moto[server])")

BUCKET = "cn-test"
ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
       "AWS_ALLOW_HTTP", "AWS_SESSION_TOKEN")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on 127.0.0.1, the AWS_* variables pointing at it, and a bucket."""
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = {k: os.environ.get(k) for k in ENV}
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
        AWS_ALLOW_HTTP="true",
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)
    try:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def put(client, key, data: bytes):
    client.put_object(Bucket=BUCKET, Key=key, Body=data)
    return f"s3://{BUCKET}/{key}"


def npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_npy_is_a_tensor_with_the_values_shape_and_dtype(s3):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
    t = cn.load_url(put(s3, "arrays/a.npy", npy_bytes(a)))
    assert isinstance(t, cn.Tensor)
    assert t.shape == (2, 3, 4) and t.dtype == "float32"
    np.testing.assert_array_equal(t.numpy(), a)


def test_npy_fortran_big_endian_and_widened(s3):
    f = np.asfortranarray(np.arange(12, dtype=np.int64).reshape(3, 4))
    np.testing.assert_array_equal(cn.load_url(put(s3, "f.npy", npy_bytes(f))).numpy(), f)
    be = np.arange(5, dtype=">f8") * 1.5
    t = cn.load_url(put(s3, "be.npy", npy_bytes(be)))
    assert t.dtype == "float64"
    np.testing.assert_array_equal(t.numpy(), be.astype("<f8"))
    i8 = np.array([-128, 0, 127], dtype=np.int8)
    t = cn.load_url(put(s3, "i8.npy", npy_bytes(i8)))
    assert t.dtype == "int16"
    assert t.tolist() == [-128, 0, 127]


def test_a_large_npy_streams_in(s3):
    a = np.random.default_rng(0).standard_normal((512, 1024)).astype(np.float32)  # 2 MiB, many chunks
    t = cn.load_url(put(s3, "big.npy", npy_bytes(a)))
    np.testing.assert_array_equal(t.numpy(), a)


def test_npz_is_a_dict_in_archive_order(s3):
    buf = io.BytesIO()
    np.savez_compressed(buf, x=np.ones((2, 2), np.float32), y=np.array([3, 1, 2], np.int32))
    d = cn.load_url(put(s3, "data.npz", buf.getvalue()))
    assert list(d) == ["x", "y"]
    np.testing.assert_array_equal(d["x"].numpy(), np.ones((2, 2), np.float32))
    assert d["y"].dtype == "int32" and d["y"].tolist() == [3, 1, 2]


def safetensors_bytes(tensors):
    """A safetensors file written by hand: {name: array} in order."""
    codes = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64", np.dtype(np.float16): "F16"}
    header, data = {"__metadata__": {"format": "np"}}, b""
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": codes[a.dtype], "shape": list(a.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    js = json.dumps(header).encode()
    return struct.pack("<Q", len(js)) + js + data


def test_safetensors_is_a_dict_of_tensors(s3):
    w = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    b = np.array([7, -8], dtype=np.int64)
    h = np.array([0.5, 1.0], dtype=np.float16)
    d = cn.load_url(put(s3, "model.safetensors", safetensors_bytes({"w": w, "b": b, "h": h})))
    assert list(d) == ["w", "b", "h"]
    np.testing.assert_array_equal(d["w"].numpy(), w)
    assert d["b"].dtype == "int64" and d["b"].tolist() == [7, -8]
    assert d["h"].dtype == "float16" and d["h"].tolist() == [0.5, 1.0]


def test_safetensors_written_by_the_safetensors_package(s3):
    st = pytest.importorskip("safetensors.numpy", reason="the safetensors package is not installed")
    tensors = {"emb": np.arange(12, dtype=np.float32).reshape(4, 3), "ids": np.array([1, 2], np.int64)}
    d = cn.load_url(put(s3, "pkg.safetensors", st.save(tensors)))
    assert sorted(d) == ["emb", "ids"]
    np.testing.assert_array_equal(d["emb"].numpy(), tensors["emb"])


def test_missing_object_is_file_not_found_naming_bucket_and_key(s3):
    with pytest.raises(FileNotFoundError, match=r'bucket "cn-test" has no key "nowhere/x\.npy"'):
        cn.load_url(f"s3://{BUCKET}/nowhere/x.npy")


def test_truncated_objects_are_file_format_errors_with_both_sizes(s3):
    full = npy_bytes(np.arange(100, dtype=np.float64))
    url = put(s3, "cut.npy", full[:-16])
    with pytest.raises(cn.FileFormatError, match=r"header says 800 bytes of data, the object holds 784"):
        cn.load_url(url)
    st = safetensors_bytes({"w": np.zeros(10, np.float32)})
    with pytest.raises(cn.FileFormatError, match=r"truncated object s3://cn-test/cut\.safetensors: its header says 40"):
        cn.load_url(put(s3, "cut.safetensors", st[:-4]))
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros(100))
    with pytest.raises(cn.FileFormatError, match=r"s3://cn-test/cut\.npz"):
        cn.load_url(put(s3, "cut.npz", buf.getvalue()[:300]))


def test_bad_urls_are_value_errors(s3):
    with pytest.raises(ValueError, match=r"only s3:// URLs"):
        cn.load_url("https://example.invalid/x.npy")
    with pytest.raises(ValueError, match=r"must end in \.npy, \.npz or \.safetensors"):
        cn.load_url(f"s3://{BUCKET}/x.parquet")


def test_an_unreachable_endpoint_is_an_oserror_that_names_the_settings(s3, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    start = time.monotonic()
    with pytest.raises(OSError, match=r"AWS_ENDPOINT_URL") as info:
        cn.load_url(f"s3://{BUCKET}/arrays/a.npy")
    assert not isinstance(info.value, FileNotFoundError)
    assert time.monotonic() - start < 30  # bounded retries, not minutes


def test_http_endpoint_without_allow_http_is_refused(s3, monkeypatch):
    monkeypatch.delenv("AWS_ALLOW_HTTP")
    with pytest.raises(OSError, match=r"AWS_ALLOW_HTTP=true"):
        cn.load_url(put(s3, "h.npy", npy_bytes(np.zeros(3))))


@pytest.mark.parametrize("key", ["data-ü.npy", "€uro/x.npy", "a~b.npy", "100%.npy", "q?x=1.npy", "h#1.npy",
                                 "star*.npy", "sp ace.npy", "plus+amp&.npy"])
def test_keys_with_reserved_characters_load_the_object_they_name(s3, key):
    a = np.arange(3.0) + len(key)
    url = put(s3, key, npy_bytes(a))
    np.testing.assert_array_equal(cn.load_url(url).numpy(), a)


@pytest.mark.parametrize("key", ["a//x.npy", "../x.npy", "d/./x.npy", "/lead.npy"])
def test_keys_the_client_cannot_address_are_value_errors_naming_why(s3, key):
    with pytest.raises(ValueError, match="cannot address"):
        cn.load_url(f"s3://{BUCKET}/{key}")


def _safetensors(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def _f32(begin, end):
    return {"dtype": "F32", "shape": [(end - begin) // 4], "data_offsets": [begin, end]}


@pytest.mark.parametrize("raw, needle", [
    (_safetensors({"a": _f32(0, 8), "b": _f32(4, 12)}, bytes(12)), "overlaps"),
    (_safetensors({"a": _f32(0, 4), "b": _f32(8, 12)}, bytes(12)), "belong to no tensor"),
    (_safetensors({"a": _f32(0, 4)}, bytes(8)), "belong to no tensor"),
    (_safetensors({"__metadata__": {"k": 1}, "a": _f32(0, 4)}, bytes(4)), "string values"),
    # duplicate names: json.dumps cannot write them, so splice the text
    (lambda: None, "twice"),
])
def test_remote_safetensors_are_validated_as_local_files(s3, tmp_path, raw, needle):
    if callable(raw):
        text = b'{"a": ' + json.dumps(_f32(0, 4)).encode() + b', "a": ' + json.dumps(_f32(4, 8)).encode() + b"}"
        raw = struct.pack("<Q", len(text)) + text + bytes(8)
    path = tmp_path / "x.safetensors"
    path.write_bytes(raw)
    with pytest.raises(cn.FileFormatError, match=needle):
        cn.load_safetensors(str(path))
    with pytest.raises(cn.FileFormatError, match=needle):
        cn.load_url(put(s3, f"lie-{needle.replace(' ', '-')}.safetensors", raw))
