"""Differentiable SSIM in torch, matching scikit-image.

Reproduces ``skimage.metrics.structural_similarity(a, b, gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=..., channel_axis=...)``:

* Gaussian window with ``truncate = 3.5``: radius ``int(3.5 * sigma + 0.5)``
  (5 for sigma 1.5, an 11-tap window), weights ``exp(-x^2 / (2 sigma^2))``
  normalised to sum 1 (as ``scipy.ndimage.gaussian_filter``);
* ``C1 = (0.01 R)^2``, ``C2 = (0.03 R)^2``, population (not sample) covariances;
* scikit-image filters with reflect padding and then crops ``(win - 1) // 2``
  pixels on every side before taking the mean, so a *valid* filter gives the
  same numbers;
* multichannel: mean over channels of the per-channel mean SSIM.

Speed: the separable Gaussian filter is two matrix products with a
precomputed ``(H - 2r) x H`` band matrix (``G @ X @ G^T``), which runs as two
large GEMMs instead of a grouped convolution. Band matrices are cached per
(size, sigma, device, dtype).
"""

from __future__ import annotations

import math

import torch

_BAND_CACHE: dict[tuple, torch.Tensor] = {}
_TRUNCATE = 3.5


def gaussian_radius(sigma: float) -> int:
    return int(_TRUNCATE * sigma + 0.5)


def gaussian_band_matrix(size: int, sigma: float = 1.5, *, device=None,
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(size - 2r, size)`` matrix whose row i holds the Gaussian window at
    columns ``i .. i + 2r``: ``G @ v`` is the valid 1-D Gaussian filter of v."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    key = (size, float(sigma), device, dtype)
    band = _BAND_CACHE.get(key)
    if band is None:
        r = gaussian_radius(sigma)
        if size <= 2 * r:
            raise ValueError(f"images must be larger than {2 * r} pixels for sigma={sigma}")
        x = torch.arange(-r, r + 1, dtype=torch.float64)
        w = torch.exp(-0.5 * (x / sigma) ** 2)
        w = w / w.sum()
        out = size - 2 * r
        band64 = torch.zeros(out, size, dtype=torch.float64)
        rows = torch.arange(out).unsqueeze(1)
        cols = rows + torch.arange(2 * r + 1).unsqueeze(0)
        band64[rows, cols] = w.expand(out, -1)
        band = band64.to(device=device, dtype=dtype)
        _BAND_CACHE[key] = band
    return band


def _filter(maps: torch.Tensor, gh: torch.Tensor, gw: torch.Tensor) -> torch.Tensor:
    """Valid separable Gaussian filter of ``(..., H, W)`` maps as two GEMMs:
    ``G_h @ X`` (batched, no transposes) then ``(.) @ G_w^T`` as one big 2-D GEMM."""
    *lead, h, w = maps.shape
    t = torch.matmul(gh, maps.reshape(-1, h, w))        # (n, H', W)
    t = t.reshape(-1, w) @ gw.T                         # (n*H', W')
    return t.reshape(*lead, gh.shape[0], gw.shape[0])


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0,
             sigma: float = 1.5) -> torch.Tensor:
    """SSIM map over the valid region, ``(B, C, H - 2r, W - 2r)``."""
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch {tuple(x.shape)} vs {tuple(y.shape)}")
    if x.dim() != 4:
        raise ValueError(f"expected (B, C, H, W) tensors, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError("ssim expects floating point images")
    y = y.to(x.dtype)
    h, w = x.shape[-2:]
    gh = gaussian_band_matrix(h, sigma, device=x.device, dtype=x.dtype)
    gw = gh if w == h else gaussian_band_matrix(w, sigma, device=x.device, dtype=x.dtype)
    # Filtering is linear and only vx + vy enters the formula, so x^2 and y^2
    # are filtered together: 4 filtered maps instead of 5.
    maps = torch.stack((x, y, x * y, x * x + y * y))    # (4, B, C, H, W)
    mx, my, mxy, mss = _filter(maps, gh, gw).unbind(0)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mxmy = mx * my
    m2 = mx * mx + my * my
    num = (2 * mxmy + c1) * (2 * (mxy - mxmy) + c2)   # (2 ux uy + C1)(2 cov_xy + C2)
    den = (m2 + c1) * (mss - m2 + c2)                 # (ux^2 + uy^2 + C1)(vx + vy + C2)
    return num / den


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0,
         sigma: float = 1.5) -> torch.Tensor:
    """Per-image mean SSIM ``(B,)`` of ``(B, C, H, W)`` images (channel mean)."""
    if not math.isfinite(data_range) or data_range <= 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    return ssim_map(x, y, data_range, sigma).mean(dim=(1, 2, 3))
