"""Device requests: where no CUDA device can be used (no GPU here, or a build without the
`cuda` feature), every way of asking for one is a DeviceError (a RuntimeError) that names the
device and the cause, never a crash; the CPU spelling of the same calls works."""

import numpy as np
import pytest

import candle_numpy as cn
from candle_numpy.tf.data import Dataset
from candle_numpy.torch.utils.data import DataLoader, TensorDataset

no_gpu = pytest.mark.skipif(cn.cuda.is_available(), reason="a CUDA device is present")

# the two causes: a build without CUDA, or CUDA compiled in and no device that opens
CAUSE = r"built without CUDA.*--features cuda|cannot open CUDA device .*CUDA 13 driver"


def _requests():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = cn.tensor(a)
    ds = TensorDataset(cn.tensor(np.arange(4)))
    return {
        "tensor": lambda: cn.tensor(a, device="cuda"),
        "as_tensor": lambda: cn.as_tensor(a, device="cuda:1"),
        "to_tensor copy": lambda: cn.to_tensor(a, mode="copy", device="cuda:0"),
        "Tensor.to": lambda: t.to("cuda"),
        "Tensor.cuda": lambda: t.cuda(),
        "DataLoader(device=)": lambda: DataLoader(ds, batch_size=2, device="cuda"),
        "Dataset.prefetch_to_device": lambda: Dataset.from_tensor_slices(a).prefetch_to_device("cuda"),
    }


@no_gpu
@pytest.mark.parametrize("name", list(_requests()))
def test_every_cuda_request_without_a_device_is_a_device_error(name):
    with pytest.raises(cn.DeviceError, match=CAUSE) as e:
        _requests()[name]()
    assert isinstance(e.value, RuntimeError)
    assert "cuda" in str(e.value) and 'use "cpu"' in str(e.value)


@no_gpu
def test_a_cuda_dlpack_producer_without_a_device_is_refused_before_it_exports():
    class FakeCuda:
        def __dlpack_device__(self):
            return (2, 0)

        def __dlpack__(self, **kwargs):
            raise AssertionError("must not be asked for a capsule")

    # a build without CUDA refuses the memory (BufferError); a CUDA build without a GPU cannot
    # open cuda:0 (RuntimeError); both name the device
    with pytest.raises((cn.DLPackError, cn.DeviceError), match="cuda:0"):
        cn.from_dlpack(FakeCuda())


def test_dataloader_device_cpu_delivers_the_same_batches():
    ds = TensorDataset(cn.tensor(np.arange(10)), cn.tensor(np.arange(10) * 0.5))
    plain = [[b.numpy().tolist() for b in batch] for batch in DataLoader(ds, batch_size=4, shuffle=True, seed=3)]
    on_cpu = DataLoader(ds, batch_size=4, shuffle=True, seed=3, device="cpu")
    got = []
    for batch in on_cpu:
        assert all(b.device == "cpu" for b in batch)
        got.append([b.numpy().tolist() for b in batch])
    assert got == plain
    with pytest.raises(ValueError, match="unknown device"):
        DataLoader(ds, device="tpu")


def test_prefetch_to_device_cpu_keeps_every_element_in_order():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    ds = Dataset.from_tensor_slices(x).batch(4).prefetch_to_device("cpu")
    batches = [b.numpy() for b in ds]
    assert [b.shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    np.testing.assert_array_equal(np.concatenate(batches), x)
    with pytest.raises(ValueError, match="buffer_size"):
        Dataset.from_tensor_slices(x).prefetch_to_device("cpu", buffer_size=-3)
