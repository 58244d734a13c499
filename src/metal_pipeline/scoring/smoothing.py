"""Gaussian smoothing of anomaly maps."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

#: Recommended sigma in pixels *at model resolution* (128 px). Our choice, not
#: the paper's (we could not confirm a value from the MeTAL paper): PaDiM / PatchCore
#: style post-processing uses sigma = 4 px on 224-256 px maps; residual maps
#: of a patch-masked reconstruction are noisy at the pixel level and smoothing
#: suppresses isolated high-residual pixels. Tune it on the validation split,
#: never on the test split.
DEFAULT_SIGMA = 4.0
#: Filter radius in sigmas (scipy's default).
DEFAULT_TRUNCATE = 4.0
#: Border handling (scipy's default): the map is mirrored about the edge
#: including the edge pixel ("reflect", a.k.a. half-sample symmetric).
DEFAULT_MODE = "reflect"


def smooth_maps(
    maps: np.ndarray,
    sigma: float = DEFAULT_SIGMA,
    *,
    mode: str = DEFAULT_MODE,
    truncate: float = DEFAULT_TRUNCATE,
) -> np.ndarray:
    """Gaussian-filter each ``(H, W)`` map separately (never across images).

    ``scipy.ndimage.gaussian_filter(map, sigma, mode=mode, truncate=truncate)``
    per image, computed in float32; the kernel radius is
    ``int(truncate * sigma + 0.5)`` pixels.

    Args:
        maps: ``(n, H, W)`` anomaly maps.
        sigma: standard deviation in pixels; ``0`` returns an unchanged float32 copy.
        mode: border mode passed to scipy.
        truncate: kernel radius in standard deviations.

    Returns:
        float32 ``(n, H, W)``.
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"smooth_maps: maps must be (n, H, W), got {maps.shape}")
    if sigma < 0:
        raise ValueError(f"smooth_maps: sigma must be >= 0, got {sigma}")
    src = maps.astype(np.float32, copy=False)
    if sigma == 0:
        return src.copy()
    out = np.empty(src.shape, dtype=np.float32)
    for i in range(len(src)):
        gaussian_filter(src[i], sigma=float(sigma), mode=mode, truncate=truncate, output=out[i])
    return out
