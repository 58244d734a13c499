"""residual_maps, smooth_maps, image_scores, resize_maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metal_pipeline.scoring import DEFAULT_SIGMA, image_scores, resize_maps, residual_maps, smooth_maps


def test_residual_hand_values():
    images = np.zeros((1, 3, 2, 2), np.float32)
    recon = np.zeros_like(images)
    recon[0, 0, 0, 0] = 0.5  # 0.25
    recon[0, 1, 0, 0] = -0.5  # +0.25 -> 0.5 at (0, 0)
    recon[0, 2, 1, 1] = 1.0  # 1.0 at (1, 1)
    out = residual_maps(images, recon)
    assert out.shape == (1, 2, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], [[0.5, 0.0], [0.0, 1.0]], atol=1e-7)


def test_residual_matches_numpy_and_rejects_mismatch():
    rng = np.random.default_rng(0)
    a, b = rng.random((4, 1, 6, 5)), rng.random((4, 1, 6, 5))
    np.testing.assert_allclose(residual_maps(a, b), ((a - b) ** 2)[:, 0], rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError):
        residual_maps(a, b[:, :, :5])


def test_smoothing_sigma_zero_is_identity():
    maps = np.random.default_rng(0).random((2, 8, 8)).astype(np.float32)
    out = smooth_maps(maps, 0)
    np.testing.assert_array_equal(out, maps)
    assert out is not maps


def test_smoothing_impulse_gives_normalised_gaussian_per_image():
    sigma = 2.0
    maps = np.zeros((2, 41, 41), np.float32)
    maps[0, 20, 20] = 1.0
    out = smooth_maps(maps, sigma)
    # separable discrete kernel: g(k) = exp(-k^2 / (2 sigma^2)) / sum, radius int(4*sigma+0.5) = 8
    k = np.arange(-8, 9)
    g = np.exp(-(k**2) / (2 * sigma**2))
    g /= g.sum()
    expected = np.zeros((41, 41))
    expected[12:29, 12:29] = np.outer(g, g)
    np.testing.assert_allclose(out[0], expected, atol=1e-7)
    assert out[0].sum() == pytest.approx(1.0, abs=1e-5)
    assert np.all(out[1] == 0)  # never smooths across images


def test_default_sigma_is_documented_value():
    assert DEFAULT_SIGMA == 4.0


def test_smoothing_rejects_bad_input():
    with pytest.raises(ValueError):
        smooth_maps(np.zeros((4, 4)), 1.0)
    with pytest.raises(ValueError):
        smooth_maps(np.zeros((1, 4, 4)), -1.0)


def test_image_scores_reductions():
    rng = np.random.default_rng(1)
    maps = rng.random((3, 10, 10))
    np.testing.assert_allclose(image_scores(maps), maps.max(axis=(1, 2)))
    np.testing.assert_allclose(image_scores(maps, "mean"), maps.mean(axis=(1, 2)))
    np.testing.assert_allclose(image_scores(maps, "p99"), np.percentile(maps.reshape(3, -1), 99, axis=1))
    ragged = [maps[0], maps[1, :5]]
    np.testing.assert_allclose(image_scores(ragged), [maps[0].max(), maps[1, :5].max()])
    with pytest.raises(ValueError, match="reduction"):
        image_scores(maps, "median")


def test_resize_matches_skimage_bilinear_and_keeps_range():
    from skimage.transform import resize

    maps = np.random.default_rng(2).random((4, 8, 8)).astype(np.float32)
    sizes = [(32, 32), (24, 40), (32, 32), (5, 7)]  # two share a size (one call), one shrinks
    out = resize_maps(maps, sizes)
    assert [o.shape for o in out] == sizes
    assert all(o.dtype == np.float32 for o in out)
    for o, m, size in zip(out, maps, sizes):
        # independent implementation: skimage's bilinear resize, edge mode, no anti-aliasing
        ref = resize(m, size, order=1, mode="edge", anti_aliasing=False, preserve_range=True)
        np.testing.assert_allclose(o, ref, atol=1e-5)
        assert o.min() >= m.min() - 1e-6 and o.max() <= m.max() + 1e-6
    ragged = resize_maps([maps[0], maps[1, :6, :5]], [(16, 16), (16, 16)])  # sources of two sizes
    np.testing.assert_array_equal(ragged[0], resize_maps(maps[:1], [(16, 16)])[0])
    np.testing.assert_allclose(ragged[1], resize(maps[1, :6, :5], (16, 16), order=1, mode="edge",
                                                 anti_aliasing=False, preserve_range=True), atol=1e-5)
    same = resize_maps(maps[:1], [(8, 8)])[0]
    np.testing.assert_array_equal(same, maps[0])
    with pytest.raises(ValueError):
        resize_maps(maps, [(8, 8)])
