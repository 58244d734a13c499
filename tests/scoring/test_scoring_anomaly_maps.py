"""Anomaly map kinds checked against independent references (numpy, scipy, scikit-image)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import prewitt
from skimage.metrics import structural_similarity
from skimage.transform import resize

from metal_pipeline.scoring.maps import GMS_C, anomaly_maps, check_kinds, gms_map, msgms_map


def _pair(seed: int = 0, c: int = 3, n: int = 32):
    rng = np.random.default_rng(seed)
    x = rng.random((2, c, n, n))
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    return x, y


def _ref_gms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Prewitt/3 magnitudes of the channel means with edge-replicated borders (scipy 'nearest')."""
    def mag(img):
        g = img.mean(axis=0)
        return np.hypot(prewitt(g, axis=1, mode="nearest") / 3.0, prewitt(g, axis=0, mode="nearest") / 3.0)
    ga, gb = mag(a), mag(b)
    return (2 * ga * gb + GMS_C) / (ga ** 2 + gb ** 2 + GMS_C)


def test_l2_map_is_channel_sum_of_squares() -> None:
    x, y = _pair()
    got = anomaly_maps(torch.from_numpy(x), torch.from_numpy(y), ["l2"])["l2"].numpy()
    np.testing.assert_allclose(got, ((x - y) ** 2).sum(axis=1), rtol=1e-12)


def test_gms_matches_scipy_prewitt() -> None:
    x, y = _pair(1)
    got = gms_map(torch.from_numpy(x), torch.from_numpy(y)).numpy()[:, 0]
    for i in range(len(x)):
        # prewitt's sign convention differs; magnitudes do not care
        np.testing.assert_allclose(got[i], _ref_gms(x[i], y[i]), rtol=1e-6, atol=1e-9)


def test_msgms_matches_block_mean_and_skimage_resize() -> None:
    x, y = _pair(2, n=64)
    got = msgms_map(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    for i in range(len(x)):
        total = np.zeros((64, 64))
        a, b = x[i], y[i]
        for s in range(4):
            if s:
                c, h, w = a.shape
                a = a.reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
                b = b.reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
            g = _ref_gms(a, b)
            total += g if s == 0 else resize(g, (64, 64), order=1, mode="edge", anti_aliasing=False)
        np.testing.assert_allclose(got[i], 1 - total / 4, rtol=1e-5, atol=1e-7)


def test_identical_images_give_zero_maps() -> None:
    x, _ = _pair(3)
    t = torch.from_numpy(x)
    maps = anomaly_maps(t, t.clone(), ["l2", "msgms", "ssim"])
    for kind, m in maps.items():
        assert m.shape == (2, 32, 32)
        assert float(m.abs().max()) < 1e-6, kind


def test_ssim_map_matches_skimage_in_the_interior() -> None:
    x, y = _pair(4, c=1, n=40)
    got = anomaly_maps(torch.from_numpy(x), torch.from_numpy(y), "ssim")["ssim"].numpy()
    for i in range(len(x)):
        _, full = structural_similarity(x[i, 0], y[i, 0], data_range=1.0, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, full=True)
        r = 6  # the window radius: borders are padded differently
        np.testing.assert_allclose(got[i, r:-r, r:-r], 1 - full[r:-r, r:-r], atol=1e-6)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="msgms"):
        check_kinds(["l1"])
