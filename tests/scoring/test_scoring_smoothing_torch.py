"""smooth_maps_torch (what the detector uses) and smooth_maps (its numpy face) against scipy.ndimage.gaussian_filter, the reference.

Stated tolerance: max abs difference <= 1e-5 on maps in [0, 1] (float32
rounding of the two products; seen: <= 4e-7).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from metal_pipeline.scoring import smooth_maps, smooth_maps_torch
from metal_pipeline.scoring.smoothing import TORCH_MODES, gaussian_smoothing_matrix

TOL = 1e-5
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("mode", TORCH_MODES)
@pytest.mark.parametrize("shape", [(2, 1, 1), (2, 1, 7), (3, 5, 7), (2, 9, 4), (1, 16, 16), (2, 33, 20)])
@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 3.3, 4.0, 10.0])
def test_equals_scipy_for_every_border_mode_and_radii_beyond_the_map(mode, shape, sigma):
    maps = np.random.default_rng(zlib.crc32(repr((mode, shape, sigma)).encode())).random(shape).astype(np.float32)
    expected = np.stack([gaussian_filter(m, sigma, mode=mode, truncate=4.0) for m in maps])
    got = smooth_maps_torch(torch.from_numpy(maps), sigma, mode=mode).numpy()
    assert got.dtype == np.float32 and got.shape == maps.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("sigma", [2.0, 4.0])
def test_equals_scipy_at_model_size_and_other_truncate_numpy_and_torch(sigma):
    maps = (np.random.default_rng(1).random((4, 128, 128)) * 3).astype(np.float32)  # l2 maps reach 3
    for truncate in (4.0, 2.5):
        expected = np.stack([gaussian_filter(m, sigma, truncate=truncate) for m in maps])
        np.testing.assert_allclose(smooth_maps_torch(torch.from_numpy(maps), sigma, truncate=truncate).numpy(),
                                   expected, rtol=TOL, atol=TOL)
        np.testing.assert_allclose(smooth_maps(maps, sigma, truncate=truncate), expected, rtol=TOL, atol=TOL)


def test_sigma_zero_is_an_identity_copy_and_float64_becomes_float32():
    maps = torch.rand(2, 8, 8, dtype=torch.float64)
    out = smooth_maps_torch(maps, 0)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, maps.float(), rtol=0, atol=0)
    same = torch.rand(2, 8, 8)
    assert smooth_maps_torch(same, 0).data_ptr() != same.data_ptr()


def test_a_map_does_not_depend_on_the_batch_it_is_smoothed_in():
    maps = torch.rand(7, 128, 128)
    together = smooth_maps_torch(maps, 4.0)
    for i in range(len(maps)):
        assert torch.equal(smooth_maps_torch(maps[i:i + 1], 4.0)[0], together[i])


def test_rows_of_the_matrix_sum_to_one_except_for_constant_borders():
    g = gaussian_smoothing_matrix(20, 3.0, dtype=torch.float64)
    torch.testing.assert_close(g.sum(dim=1), torch.ones(20, dtype=torch.float64))
    assert float(gaussian_smoothing_matrix(20, 3.0, mode="constant", dtype=torch.float64).sum(dim=1)[0]) < 1


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="n, H, W"):
        smooth_maps_torch(torch.zeros(4, 4), 1.0)
    with pytest.raises(ValueError, match="sigma"):
        smooth_maps_torch(torch.zeros(1, 4, 4), -1.0)
    with pytest.raises(ValueError, match="mode"):
        smooth_maps_torch(torch.zeros(1, 4, 4), 1.0, mode="interp")


@needs_cuda
def test_cuda_equals_cpu():
    maps = torch.rand(5, 128, 128)
    torch.testing.assert_close(smooth_maps_torch(maps.cuda(), 4.0).cpu(), smooth_maps_torch(maps, 4.0),
                               rtol=TOL, atol=TOL)
