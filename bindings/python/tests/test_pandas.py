"""pandas DataFrames and Series go straight into every constructor."""

import numpy as np
import pytest

import candle_numpy as cn

pd = pytest.importorskip("pandas")


def frame():
    return pd.DataFrame(np.arange(12, dtype=np.float32).reshape(4, 3), columns=["a", "b", "c"])


def test_one_block_frame_is_shared():
    df = frame()
    t = cn.from_numpy(df)
    assert t.shape == (4, 3) and t.dtype == "float32"
    values = df.to_numpy(copy=False)
    assert cn.shares_memory(values, t)
    np.testing.assert_array_equal(t.numpy(), values)
    if not t.is_readonly:  # copy-on-write pandas hands out read-only values
        t.add_(1)
        assert df.iloc[0, 0] == 1.0


def test_series_converts_and_shares():
    s = pd.Series(np.arange(5, dtype=np.int64), name="n")
    t = cn.from_numpy(s)
    assert t.shape == (5,) and t.dtype == "int64"
    assert cn.shares_memory(s.to_numpy(copy=False), t)
    with pytest.raises(TypeError, match=r"Series 'w'.*object"):
        cn.tensor(pd.Series(["a", "b"], name="w"))
    with pytest.raises(TypeError, match=r"extension dtype.*na_value"):
        cn.tensor(pd.Series([1, None], dtype="Int64", name="k"))


def test_multi_block_frame_copies_or_says_why_it_cannot_share():
    df = frame()
    df["d"] = np.float32(1.0)  # a new column lives in its own block
    with pytest.raises(cn.ShareError, match=r"2 separate blocks.*df.copy\(\)"):
        cn.from_numpy(df)
    t = cn.as_tensor(df)
    np.testing.assert_array_equal(t.numpy()[:, 3], np.ones(4, np.float32))
    assert cn.from_numpy(df.copy()).shape == (4, 4)  # consolidated


def test_mixed_dtype_frames_list_the_columns():
    df = frame()
    df["n"] = np.arange(4)
    with pytest.raises(cn.DTypeError, match=r"'a' \(float32\).*'n' \(int64\).*astype\(\"float32\"\)"):
        cn.tensor(df)
    df["s"] = ["w", "x", "y", "z"]
    with pytest.raises(TypeError, match=r"columns 's' \(object\) are not numeric.*select_dtypes"):
        cn.as_tensor(df)
    assert cn.tensor(df[["a", "b"]]).shape == (4, 2)
    assert cn.tensor(df.select_dtypes("number").astype("float32")).shape == (4, 4)


def test_every_constructor_takes_frames():
    df = frame()
    expect = df.to_numpy()
    for t in [
        cn.tensor(df),
        cn.as_tensor(df),
        cn.to_tensor(df, mode="copy"),
        cn.torch.tensor(df),
        cn.torch.as_tensor(df),
        cn.torch.from_numpy(df),
        cn.tf.convert_to_tensor(df),
        cn.tf.constant(df),
    ]:
        np.testing.assert_array_equal(np.asarray(t), expect)
    t = cn.tensor(df, dtype="float64")
    assert t.dtype == "float64"
    ds = cn.tf.data.Dataset.from_tensor_slices((df, df["a"])).batch(4)
    x, y = next(iter(ds))
    np.testing.assert_array_equal(x.numpy(), expect)
    np.testing.assert_array_equal(y.numpy(), expect[:, 0])
    ds = cn.tf.data.Dataset.from_tensor_slices({"x": df})
    assert next(iter(ds))["x"].shape == (3,)
    td = cn.torch.utils.data.TensorDataset(df, df["c"])
    assert len(td) == 4
    np.testing.assert_array_equal(td[2][1].numpy(), expect[2, 2])
