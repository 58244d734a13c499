"""Upsampling anomaly maps back to each image's original resolution."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage.transform import resize


def resize_maps(maps: np.ndarray | Sequence[np.ndarray], sizes: np.ndarray | Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Resize each map to its ``(height, width)`` for evaluation against original masks.

    ``skimage.transform.resize(map, size, order=1, mode="edge",
    anti_aliasing=False, preserve_range=True)`` (bilinear, no smoothing, the
    score range preserved, borders extended by the edge value). A map already
    at its size is returned as a float32 copy.

    Args:
        maps: ``(n, H, W)`` or a list of ``n`` 2-D maps.
        sizes: ``(n, 2)`` target ``(height, width)``, e.g. ``ImageSet.original_sizes``.

    Returns:
        List of ``n`` float32 2-D arrays.
    """
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    if len(maps) != len(sizes):
        raise ValueError(f"resize_maps: {len(maps)} maps for {len(sizes)} sizes")
    out: list[np.ndarray] = []
    for m, (h, w) in zip(maps, sizes):
        m = np.asarray(m, dtype=np.float32)
        if m.ndim != 2:
            raise ValueError(f"resize_maps: every map must be 2-D, got {m.shape}")
        if h < 1 or w < 1:
            raise ValueError(f"resize_maps: bad target size {(h, w)}")
        if m.shape == (h, w):
            out.append(m.copy())
            continue
        r = resize(m, (int(h), int(w)), order=1, mode="edge", anti_aliasing=False, preserve_range=True)
        out.append(r.astype(np.float32, copy=False))
    return out
