"""Batched reconstruction of uint8 images by a trained model."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def reconstruct(
    model: nn.Module,
    images_uint8: np.ndarray,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Run ``model`` over ``images_uint8`` in batches and return the reconstructions.

    The model input is ``images_uint8 / 255`` as float32 (the convention of
    ``ImageSet.as_float``). The model is run in ``eval()`` mode under
    ``torch.no_grad()``; its previous train/eval mode is restored afterwards.
    The model must already be on ``device``.

    Args:
        model: any ``nn.Module`` mapping ``(B, C, H, W) -> (B, C, H, W)``.
        images_uint8: ``(n, C, H, W)`` uint8 array.
        batch_size: images per forward pass (>= 1).
        device: where the batches are sent.

    Returns:
        float32 ``(n, C, H, W)`` numpy array on the CPU.

    Raises:
        ValueError: bad input dtype/shape or a model output of another shape.
    """
    if not isinstance(images_uint8, np.ndarray) or images_uint8.dtype != np.uint8 or images_uint8.ndim != 4:
        raise ValueError(
            f"reconstruct: images must be a uint8 (n, C, H, W) array, got "
            f"{getattr(images_uint8, 'dtype', type(images_uint8))} {getattr(images_uint8, 'shape', '')}"
        )
    if batch_size < 1:
        raise ValueError(f"reconstruct: batch_size must be >= 1, got {batch_size}")
    out = np.empty(images_uint8.shape, dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(images_uint8), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(images_uint8[start : start + batch_size]))
                x = batch.to(device=device, dtype=torch.float32).div_(255.0)
                y = model(x)
                if tuple(y.shape) != tuple(x.shape):
                    raise ValueError(f"reconstruct: model returned {tuple(y.shape)} for input {tuple(x.shape)}")
                out[start : start + len(batch)] = y.detach().to("cpu", torch.float32).numpy()
    finally:
        model.train(was_training)
    return out
