"""Pixel anomaly maps from an image and its reconstruction, one function per kind.

* ``l2``: squared error summed over channels (the paper's map).
* ``msgms``: 1 - multi-scale gradient-magnitude similarity (RIAD, Zavrtanik et
  al. 2021; InTra, Pirnay & Chai 2022). Gradient magnitudes of the channel-mean
  image (Prewitt / 3, edge-replicated border) are compared as
  ``GMS = (2 g_x g_r + c) / (g_x^2 + g_r^2 + c)``, ``c = 0.0026``, at scales
  1, 1/2, 1/4, 1/8 (2x2 average pooling); each GMS map is upsampled back
  (bilinear, half-pixel centres) and the map is ``1 - mean over scales``.
  Structural differences count, a global brightness offset does not.
* ``ssim``: 1 - SSIM map (Gaussian window sigma 1.5, channel mean, edge-
  replicated border so the map keeps the image size).

* ``seg``: the probability from the detector's discriminative head
  (:mod:`metal_pipeline.model.seg_head`). It needs a trained head, so
  :func:`anomaly_maps` does not compute it; the detector does.

All functions take float tensors ``(B, C, H, W)`` in [0, 1] and return
``(B, H, W)``; they work on any device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from metal_pipeline.model.ssim import gaussian_radius, ssim_map

#: Kinds computed from an image and its reconstruction alone.
ARRAY_KINDS = ("l2", "msgms", "ssim")
#: Kinds that need the detector's trained discriminative head.
HEAD_KINDS = ("seg",)
MAP_KINDS = ARRAY_KINDS + HEAD_KINDS
GMS_C = 0.0026
MSGMS_SCALES = 4


def l2_map(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    return (x - recon).square().sum(dim=1)


def gradient_magnitude(gray: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` -> ``(B, 1, H, W)`` Prewitt gradient magnitude (kernels / 3, edge-replicated border).

    The 3x3 Prewitt correlation (kernel ``[[1, 0, -1]] * 3 / 3`` and its
    transpose) written as a difference of shifted slices and a sum of three
    rows (columns): the arithmetic of ``conv2d`` in another order (equal within
    float rounding), and several times faster on CPU, where a one-channel
    ``conv2d`` is slow.
    """
    p = F.pad(gray, (1, 1, 1, 1), mode="replicate")                # (B, 1, H + 2, W + 2)
    dx = p[..., :, :-2] - p[..., :, 2:]                             # left - right, (B, 1, H + 2, W)
    dy = p[..., :-2, :] - p[..., 2:, :]                             # top - bottom, (B, 1, H, W + 2)
    gx = (dx[..., :-2, :] + dx[..., 1:-1, :] + dx[..., 2:, :]) / 3.0
    gy = (dy[..., :, :-2] + dy[..., :, 1:-1] + dy[..., :, 2:]) / 3.0
    return torch.sqrt(gx.square() + gy.square() + 1e-12)


def _gms_of_stacked(gray: torch.Tensor, c: float) -> torch.Tensor:
    """GMS of ``gray = cat(image grays, reconstruction grays)`` ``(2B, 1, h, w)`` -> ``(B, 1, h, w)``."""
    g = gradient_magnitude(gray)
    gx, gr = g.chunk(2)
    return (2 * gx * gr + c) / (gx.square() + gr.square() + c)


def gms_map(x: torch.Tensor, recon: torch.Tensor, c: float = GMS_C) -> torch.Tensor:
    """Gradient-magnitude similarity ``(B, 1, H, W)`` of the channel-mean images."""
    return _gms_of_stacked(torch.cat((x.mean(dim=1, keepdim=True), recon.mean(dim=1, keepdim=True))), c)


def msgms_map(x: torch.Tensor, recon: torch.Tensor, scales: int = MSGMS_SCALES) -> torch.Tensor:
    """``1 - mean over scales of GMS``. The channel means are taken once and pooled (pooling and the
    channel mean commute up to rounding); image and reconstruction go through each op together."""
    h, w = x.shape[-2:]
    gray = torch.cat((x.mean(dim=1, keepdim=True), recon.mean(dim=1, keepdim=True)))  # (2B, 1, H, W)
    total = None
    for s in range(scales):
        if s:
            gray = F.avg_pool2d(gray, 2)
        g = _gms_of_stacked(gray, GMS_C)
        if s == 0:
            total = g.clone()
        else:
            total += F.interpolate(g, size=(h, w), mode="bilinear", align_corners=False)
    return 1.0 - total[:, 0] / scales


def ssim_dissimilarity_map(x: torch.Tensor, recon: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    r = gaussian_radius(sigma)
    pad = (r, r, r, r)
    s = ssim_map(F.pad(x, pad, mode="replicate"), F.pad(recon, pad, mode="replicate"), 1.0, sigma)
    return 1.0 - s.mean(dim=1)


_FUNCTIONS = {"l2": l2_map, "msgms": msgms_map, "ssim": ssim_dissimilarity_map}


def check_kinds(kinds) -> tuple[str, ...]:
    if isinstance(kinds, str):
        kinds = (kinds,)
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in MAP_KINDS]
    if not kinds or bad:
        raise ValueError(f"anomaly map kinds must be a non-empty list of {list(MAP_KINDS)}, got {list(kinds)}")
    return kinds


def anomaly_maps(x: torch.Tensor, recon: torch.Tensor, kinds) -> dict[str, torch.Tensor]:
    """``{kind: (B, H, W) map}`` for each requested kind (array kinds only, see :data:`HEAD_KINDS`)."""
    if x.shape != recon.shape or x.dim() != 4:
        raise ValueError(f"anomaly_maps: need two equal (B, C, H, W) tensors, got {tuple(x.shape)}, {tuple(recon.shape)}")
    kinds = check_kinds(kinds)
    head = [k for k in kinds if k in HEAD_KINDS]
    if head:
        raise ValueError(f"anomaly_maps: map kind(s) {head} need a trained discriminative head; "
                         "score through AnomalyDetector, which holds one")
    return {k: _FUNCTIONS[k](x, recon.to(x.dtype)) for k in kinds}
