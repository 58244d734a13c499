"""Image anomaly scores reduced from pixel anomaly maps."""

from __future__ import annotations

from typing import Literal

import numpy as np

Reduction = Literal["max", "mean", "p99", "top1"]
REDUCTIONS: tuple[str, ...] = ("max", "mean", "p99", "top1")


def image_scores(maps: np.ndarray | list[np.ndarray], reduction: Reduction = "max",
                 regions: np.ndarray | None = None) -> np.ndarray:
    """One score per image from its anomaly map.

    Args:
        maps: ``(n, H, W)`` array or list of 2-D maps.
        reduction: ``"max"`` (the usual choice for localisation models; best
            on small defects), ``"mean"``, or ``"p99"`` (99th percentile,
            linear interpolation: a max that ignores the top 1 % of pixels),
            or ``"top1"`` (mean of the top 1 % of pixels, at least one: steadier
            than the max for diffuse anomalies such as a haemorrhage).
        regions: optional bool ``(n, H, W)``: reduce over these pixels only
            (see :mod:`metal_pipeline.scoring.foreground`); an empty region
            counts as the whole map.

    Returns:
        float64 ``(n,)``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"image_scores: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if isinstance(maps, np.ndarray) and maps.ndim != 3:
        raise ValueError(f"image_scores: maps must be (n, H, W), got {maps.shape}")
    if regions is not None and (len(regions) != len(maps) or any(
            np.shape(r) != np.shape(m) for r, m in zip(regions, maps))):
        raise ValueError(f"image_scores: regions must match the maps one to one, got {np.shape(regions)}")
    out = np.empty(len(maps), dtype=np.float64)
    for i, m in enumerate(maps):
        m = np.asarray(m, dtype=np.float64)
        if regions is not None and regions[i].any():
            m = m[np.asarray(regions[i], dtype=bool)]
        if reduction == "max":
            out[i] = m.max()
        elif reduction == "mean":
            out[i] = m.mean()
        elif reduction == "p99":
            out[i] = np.percentile(m, 99.0)
        else:
            flat = m.ravel()
            k = max(1, int(np.ceil(0.01 * flat.size)))
            out[i] = np.partition(flat, flat.size - k)[flat.size - k:].mean()
    return out
