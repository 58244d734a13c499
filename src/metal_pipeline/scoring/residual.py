"""The paper's residual map on numpy arrays (the ``l2`` kind of :mod:`metal_pipeline.scoring.maps`)."""

from __future__ import annotations

import numpy as np
import torch

from metal_pipeline.scoring.maps import l2_map


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
    x = torch.from_numpy(np.ascontiguousarray(images_float, dtype=np.float32))
    r = torch.from_numpy(np.ascontiguousarray(recon, dtype=np.float32))
    return l2_map(x, r).numpy()
