"""reconstruct: batching, eval mode, no_grad, scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from metal_pipeline.inference.reconstruct import reconstruct


class Recorder(nn.Module):
    """Returns 1 - x and records what it saw."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.batches: list[int] = []
        self.modes: list[bool] = []
        self.grad: list[bool] = []
        self.dtypes: list[torch.dtype] = []

    def forward(self, x):
        self.batches.append(x.shape[0])
        self.modes.append(self.training)
        self.grad.append(torch.is_grad_enabled())
        self.dtypes.append(x.dtype)
        return self.scale * (1.0 - x)


def _images(n=7, c=3, size=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, c, size, size), dtype=np.uint8)


def test_output_values_batches_and_modes():
    images = _images()
    model = Recorder().train()
    out = reconstruct(model, images, batch_size=3)
    assert out.dtype == np.float32 and out.shape == images.shape
    np.testing.assert_allclose(out, 1.0 - images.astype(np.float32) / 255.0, atol=1e-6)
    assert model.batches == [3, 3, 1]
    assert model.modes == [False, False, False]  # ran in eval mode
    assert model.grad == [False, False, False]  # under no_grad
    assert model.dtypes == [torch.float32] * 3
    assert model.training is True  # previous mode restored


def test_input_is_scaled_to_unit_range():
    images = np.array([[[[0, 255], [51, 102]]]], dtype=np.uint8)
    out = reconstruct(nn.Identity(), images)
    np.testing.assert_allclose(out[0, 0], [[0.0, 1.0], [0.2, 0.4]], atol=1e-7)


def test_mode_restored_on_error_and_shape_check():
    class Bad(nn.Module):
        def forward(self, x):
            return x[:, :1]

    model = Bad().train()
    with pytest.raises(ValueError, match="model returned"):
        reconstruct(model, _images(c=3))
    assert model.training is True


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 4, 4), np.float32), np.zeros((3, 4, 4), np.uint8)])
def test_rejects_non_uint8_or_wrong_rank(bad):
    with pytest.raises(ValueError, match="uint8"):
        reconstruct(nn.Identity(), bad)
