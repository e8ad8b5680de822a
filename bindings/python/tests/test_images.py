"""Images as OpenCV and PIL hand them to NumPy: (H, W, C) uint8, into a network's CHW float."""

import numpy as np

import candle_numpy as cn


def hwc_image():
    h, w = 4, 6
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 40, y * 60, np.full_like(x, 255)], axis=-1).astype(np.uint8)


def test_hwc_uint8_to_chw_float_shares_then_converts():
    img = hwc_image()
    t = cn.from_numpy(img)
    assert cn.shares_memory(img, t)
    chw = t.permute(2, 0, 1)
    assert chw.shape == (3, 4, 6) and chw.dtype == "uint8"
    assert cn.shares_memory(img, chw)  # a view: the permute copies nothing
    f = chw.float()
    assert f.dtype == "float32" and f.shape == (3, 4, 6)
    np.testing.assert_array_equal(f.numpy(), img.transpose(2, 0, 1).astype(np.float32))
    assert f.numpy()[0, 3, 5] == 200.0 and f.numpy()[1, 3, 5] == 180.0 and f.numpy()[2, 0, 0] == 255.0
    unit = f / 255.0
    np.testing.assert_allclose(unit.numpy(), img.transpose(2, 0, 1) / 255.0, rtol=1e-6)


def test_a_batch_of_images_to_nchw():
    imgs = np.stack([hwc_image(), 255 - hwc_image()])  # (N, H, W, C)
    x = cn.from_numpy(imgs).permute(0, 3, 1, 2).float()
    assert x.shape == (2, 3, 4, 6)
    np.testing.assert_array_equal(x.numpy()[1], (255 - hwc_image()).transpose(2, 0, 1).astype(np.float32))
