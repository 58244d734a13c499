"""Qualitative panel: input, ground truth, reconstruction, heatmap overlay (cf. MeTAL paper Fig. 9)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from metal_pipeline.reporting._figure import new_figure

GOOD = "good"


def defect_of(name: str) -> str:
    """Defect type from an image id: ``"broken_large/000"`` -> ``"broken_large"`` (``"good"`` if no folder)."""
    parts = name.replace("\\", "/").split("/")
    return parts[-2] if len(parts) >= 2 else GOOD


def select_panel_rows(names: Sequence[str], defects: Sequence[str] | None = None, max_rows: int = 6) -> list[int]:
    """Deterministic pick of up to ``max_rows`` image indices for a panel.

    The first good image, then one image per anomalous defect type in
    round-robin over the types sorted by name (images of a type taken in input
    order), until ``max_rows`` or every anomalous image is used; remaining
    rows are filled with further good images.
    """
    if max_rows < 1:
        raise ValueError(f"select_panel_rows: max_rows must be >= 1, got {max_rows}")
    if defects is None:
        defects = [defect_of(n) for n in names]
    if len(defects) != len(names):
        raise ValueError(f"select_panel_rows: {len(names)} names for {len(defects)} defects")
    queues: dict[str, list[int]] = {}
    for i, d in enumerate(defects):
        queues.setdefault(d, []).append(i)
    goods = queues.pop(GOOD, [])
    chosen: list[int] = goods[:1]
    goods = goods[1:]
    order = sorted(queues)
    depth = 0
    while len(chosen) < max_rows and any(depth < len(queues[d]) for d in order):
        for d in order:
            if depth < len(queues[d]) and len(chosen) < max_rows:
                chosen.append(queues[d][depth])
        depth += 1
    chosen.extend(goods[: max_rows - len(chosen)])
    return chosen[:max_rows]


def _to_display(img: np.ndarray) -> tuple[np.ndarray, str | None]:
    img = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    if img.shape[0] == 1:
        return img[0], "gray"
    return np.transpose(img, (1, 2, 0)), None


def reconstruction_panel(
    images_float: np.ndarray,
    recon: np.ndarray,
    maps: np.ndarray,
    masks: np.ndarray | None,
    names: Sequence[str],
    max_rows: int = 6,
    defects: Sequence[str] | None = None,
) -> Figure:
    """Grid of test images: input | ground truth | reconstruction | heatmap overlay.

    Rows are chosen by :func:`select_panel_rows` (a good image first, then a
    round-robin over defect types). The heatmap column overlays the anomaly map
    (``jet``, alpha 0.5) on the input, with the ground-truth outline in white;
    all rows share one colour scale from 0 to the largest shown map value, so
    rows are comparable (a good image should look cold). Without masks the
    ground-truth column is left out.

    Args:
        images_float: ``(n, C, H, W)`` inputs in [0, 1], C in {1, 3}.
        recon: ``(n, C, H, W)`` reconstructions (clipped to [0, 1] for display).
        maps: ``(n, H, W)`` anomaly maps.
        masks: ``(n, H, W)`` binary masks or ``None``.
        names: image ids, e.g. ``"broken_large/000"`` (row labels, defect types).
        max_rows: most rows shown.
        defects: defect type per image; derived from ``names`` when ``None``.

    Returns:
        A ``matplotlib.figure.Figure`` (dpi 100), not registered with pyplot.
    """
    images_float = np.asarray(images_float)
    recon = np.asarray(recon)
    maps = np.asarray(maps)
    n = len(names)
    if images_float.ndim != 4 or images_float.shape != recon.shape or len(images_float) != n:
        raise ValueError(
            f"reconstruction_panel: images {images_float.shape}, recon {recon.shape}, {n} names"
        )
    if maps.shape != (n, *images_float.shape[2:]):
        raise ValueError(f"reconstruction_panel: maps {maps.shape} do not match images {images_float.shape}")
    if masks is not None and np.shape(masks) != maps.shape:
        raise ValueError(f"reconstruction_panel: masks {np.shape(masks)} do not match maps {maps.shape}")
    rows = select_panel_rows(names, defects, max_rows)
    columns = ["input"] + (["ground truth"] if masks is not None else []) + ["reconstruction", "anomaly map"]
    fig = new_figure(2.0 * len(columns) + 0.6, 2.0 * len(rows) + 0.3)
    axes = np.asarray(fig.subplots(len(rows), len(columns), squeeze=False))
    vmax = float(max(maps[rows].max(), np.finfo(np.float32).tiny))
    heat = None
    for r, i in enumerate(rows):
        img, cmap = _to_display(images_float[i])
        rec, _ = _to_display(recon[i])
        cells = [("input", img, cmap)]
        if masks is not None:
            cells.append(("ground truth", np.asarray(masks[i], dtype=np.float32), "gray"))
        cells.append(("reconstruction", rec, cmap))
        for c, (_, data, cm) in enumerate(cells):
            axes[r, c].imshow(data, cmap=cm, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax = axes[r, len(cells)]
        ax.imshow(img, cmap=cmap, vmin=0.0, vmax=1.0)
        heat = ax.imshow(maps[i], cmap="jet", alpha=0.5, vmin=0.0, vmax=vmax)
        if masks is not None and np.any(masks[i]):
            ax.contour(np.asarray(masks[i], dtype=np.float32), levels=[0.5], colors="white", linewidths=0.8)
        axes[r, 0].set_ylabel(names[i], fontsize=8)
    for c, title in enumerate(columns):
        axes[0, c].set_title(title, fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if heat is not None:
        fig.colorbar(heat, ax=list(axes[:, -1]), shrink=0.8, label="anomaly score")
    return fig
