"""Heatmap overlays: an anomaly map drawn in colour over the image it belongs to.

Colour scale: a map value ``v`` is shown as ``clip(v / scale, 0, 1)`` on a
matplotlib colour map (``jet`` by default). ``scale`` is the decision
threshold when there is one, so a pixel at or above the threshold is drawn in
the colour map's top colour (dark red for ``jet``); with the ``max`` image
score an image is called anomalous exactly when its model-resolution map has a
pixel above the threshold. Without a threshold each image is scaled by its own
maximum (then colours compare pixels within one image only).

Blending: the colour is mixed in with a weight proportional to the heat,
``out = (1 - a) * image + a * colour`` with ``a = alpha * clip(v / scale, 0, 1)``,
so cold regions show the image unchanged and hot regions are tinted.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

DEFAULT_COLORMAP = "jet"
DEFAULT_ALPHA = 0.6


@lru_cache(maxsize=8)
def colour_table(name: str = DEFAULT_COLORMAP) -> np.ndarray:
    """256-entry uint8 RGB lookup table of a matplotlib colour map (``ValueError`` for unknown names)."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError as exc:
        raise ValueError(f"unknown colour map {name!r}; use a matplotlib name such as jet, turbo, inferno") from exc
    table = np.rint(cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).astype(np.uint8)
    table.setflags(write=False)
    return table


def overlay_scale(heatmap: np.ndarray, threshold: float | None) -> float:
    """The map value drawn at full colour: the threshold if positive, else the map's own maximum (1 if <= 0)."""
    if threshold is not None and np.isfinite(threshold) and threshold > 0:
        return float(threshold)
    peak = float(np.nanmax(heatmap)) if np.size(heatmap) else 0.0
    return peak if np.isfinite(peak) and peak > 0 else 1.0


def overlay_heatmap(
    image_rgb: np.ndarray,
    heatmap: np.ndarray,
    scale: float,
    colormap: str = DEFAULT_COLORMAP,
    alpha: float = DEFAULT_ALPHA,
) -> np.ndarray:
    """Blend ``heatmap`` (float ``(H, W)``) in colour over ``image_rgb`` (uint8 ``(H, W, 3)``).

    Returns uint8 ``(H, W, 3)``. ``scale`` > 0 is the map value shown at full
    colour (see :func:`overlay_scale`); ``alpha`` in [0, 1] the colour's weight there.
    """
    image_rgb = np.asarray(image_rgb)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"overlay_heatmap: image must be uint8 (H, W, 3), got {image_rgb.dtype} {image_rgb.shape}")
    if heatmap.shape != image_rgb.shape[:2]:
        raise ValueError(f"overlay_heatmap: heatmap {heatmap.shape} does not match image {image_rgb.shape[:2]}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"overlay_heatmap: scale must be a positive number, got {scale!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay_heatmap: alpha must be in [0, 1], got {alpha!r}")
    heat = np.clip(np.nan_to_num(heatmap / np.float32(scale), nan=0.0), 0.0, 1.0)
    colour = colour_table(colormap)[np.rint(heat * 255.0).astype(np.uint8)].astype(np.float32)
    weight = (np.float32(alpha) * heat)[:, :, None]
    out = image_rgb.astype(np.float32) * (1.0 - weight) + colour * weight
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
