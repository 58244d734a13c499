"""Pixel anomaly maps from reconstruction residuals."""

from __future__ import annotations

import numpy as np


def residual_maps(images_float: np.ndarray, recon: np.ndarray) -> np.ndarray:
    """Squared reconstruction error summed over channels.

    ``map[i, y, x] = sum_c (images[i, c, y, x] - recon[i, c, y, x]) ** 2``

    Args:
        images_float: ``(n, C, H, W)`` images in [0, 1] (``ImageSet.as_float()``).
        recon: ``(n, C, H, W)`` reconstructions, same scale.

    Returns:
        float32 ``(n, H, W)``; values in ``[0, C]`` for inputs in [0, 1].
    """
    images_float = np.asarray(images_float)
    recon = np.asarray(recon)
    if images_float.ndim != 4 or images_float.shape != recon.shape:
        raise ValueError(f"residual_maps: need two equal (n, C, H, W) arrays, got {images_float.shape} and {recon.shape}")
    diff = images_float.astype(np.float32, copy=False) - recon.astype(np.float32, copy=False)
    np.square(diff, out=diff)
    return diff.sum(axis=1, dtype=np.float32)
