"""Gaussian smoothing of anomaly maps.

One implementation, :func:`smooth_maps_torch` (torch in, torch out, on the
maps' device: what ``AnomalyDetector`` uses, so maps stay on torch until the
end), and :func:`smooth_maps`, the same for numpy arrays. It applies
``scipy.ndimage.gaussian_filter``'s separable kernel (scipy's weights, radius
``int(truncate * sigma + 0.5)``) with the same border rule, folded into one
``(n, n)`` matrix per axis, as two matrix products ``G_h @ X @ G_w^T``; it
equals scipy within float32 rounding (``tests/scoring/test_scoring_smoothing_torch.py``:
max abs difference <= 1e-5 on maps of magnitude <= 1, 1e-5 relative in general).
"""

from __future__ import annotations

import math

import numpy as np
import torch

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
    """Gaussian-filter each ``(H, W)`` map separately (never across images): :func:`smooth_maps_torch`
    on numpy arrays, equal to ``scipy.ndimage.gaussian_filter(map, sigma, mode=mode, truncate=truncate)``
    per image within float32 rounding; the kernel radius is ``int(truncate * sigma + 0.5)`` pixels.

    Args:
        maps: ``(n, H, W)`` anomaly maps.
        sigma: standard deviation in pixels; ``0`` returns an unchanged float32 copy.
        mode: border mode, as scipy.ndimage names it (one of ``TORCH_MODES``).
        truncate: kernel radius in standard deviations.

    Returns:
        float32 ``(n, H, W)``.
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"smooth_maps: maps must be (n, H, W), got {maps.shape}")
    if sigma < 0:
        raise ValueError(f"smooth_maps: sigma must be >= 0, got {sigma}")
    src = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))
    return smooth_maps_torch(src, float(sigma), mode=mode, truncate=truncate).numpy()


#: Border modes :func:`smooth_maps_torch` implements, with scipy.ndimage's meaning
#: (``constant`` pads with 0).
TORCH_MODES = ("reflect", "mirror", "nearest", "wrap", "constant")
_MATRIX_CACHE: dict[tuple, torch.Tensor] = {}


def gaussian_weights(sigma: float, truncate: float = DEFAULT_TRUNCATE) -> np.ndarray:
    """scipy.ndimage's 1-D Gaussian kernel (float64, radius ``int(truncate * sigma + 0.5)``, sums to 1)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 / (float(sigma) ** 2) * x ** 2)
    return w / w.sum()


def _border_index(i: int, n: int, mode: str) -> int | None:
    """Index in ``[0, n)`` that scipy.ndimage reads for position ``i`` (None: outside, weight dropped)."""
    if 0 <= i < n:
        return i
    if mode == "constant":
        return None
    if n == 1 or mode == "nearest":
        return min(max(i, 0), n - 1)
    if mode == "wrap":
        return i % n
    if mode == "reflect":  # d c b a | a b c d | d c b a  (period 2n)
        i %= 2 * n
        return i if i < n else 2 * n - 1 - i
    if mode == "mirror":  # d c b | a b c d | c b a  (period 2n - 2)
        i %= 2 * n - 2
        return i if i < n else 2 * n - 2 - i
    raise ValueError(f"smooth_maps_torch: mode must be one of {TORCH_MODES}, got {mode!r}")


def gaussian_smoothing_matrix(n: int, sigma: float, *, mode: str = DEFAULT_MODE, truncate: float = DEFAULT_TRUNCATE,
                              device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(n, n)`` matrix ``G`` with ``G @ v`` = scipy's 1-D Gaussian filter of ``v`` (length n) under ``mode``.

    Taps that fall outside ``[0, n)`` are added onto the index the border rule
    reads, so the border costs nothing at filtering time. Built in float64, cast
    to ``dtype``; cached per (n, sigma, mode, truncate, device, dtype).
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    key = (int(n), float(sigma), mode, float(truncate), device, dtype)
    g = _MATRIX_CACHE.get(key)
    if g is None:
        if mode not in TORCH_MODES:
            raise ValueError(f"smooth_maps_torch: mode must be one of {TORCH_MODES}, got {mode!r}")
        w = gaussian_weights(sigma, truncate)
        r = len(w) // 2
        m = np.zeros((n, n), dtype=np.float64)
        for i in range(n):
            for k in range(-r, r + 1):
                j = _border_index(i + k, n, mode)
                if j is not None:
                    m[i, j] += w[k + r]  # symmetric kernel: correlation = convolution
        g = torch.from_numpy(m).to(device=device, dtype=dtype)
        _MATRIX_CACHE[key] = g
    return g


def smooth_maps_torch(
    maps: torch.Tensor,
    sigma: float = DEFAULT_SIGMA,
    *,
    mode: str = DEFAULT_MODE,
    truncate: float = DEFAULT_TRUNCATE,
) -> torch.Tensor:
    """:func:`smooth_maps` in torch, on ``maps``' device: ``(n, H, W)`` -> float32 ``(n, H, W)``.

    Each map separately (never across images), as ``G_h @ X @ G_w^T`` with the
    matrices of :func:`gaussian_smoothing_matrix`, two batched products of
    fixed per-map shapes: a map's result does not depend on how many maps share
    the call (bit for bit). ``sigma == 0`` returns an unchanged float32 copy.
    Equal to ``scipy.ndimage.gaussian_filter`` within float32 rounding.
    """
    if not isinstance(maps, torch.Tensor) or maps.dim() != 3:
        raise ValueError(f"smooth_maps_torch: maps must be a (n, H, W) tensor, got "
                         f"{tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__}")
    if not (sigma >= 0 and math.isfinite(sigma)):
        raise ValueError(f"smooth_maps_torch: sigma must be >= 0, got {sigma}")
    x = maps.to(torch.float32)
    if sigma == 0:
        return x.clone()
    n, h, w = x.shape
    if n == 0:
        return x.clone()
    gh = gaussian_smoothing_matrix(h, sigma, mode=mode, truncate=truncate, device=x.device)
    gw = gh if w == h else gaussian_smoothing_matrix(w, sigma, mode=mode, truncate=truncate, device=x.device)
    # Explicit bmm: torch.matmul would fold the batch into the rows of one 2-D
    # product, whose blocking (and so rounding) may depend on the row count.
    t = torch.bmm(gh.expand(n, h, h), x)          # (n, H, W): filter along H
    return torch.bmm(t, gw.T.expand(n, w, w))     # along W
