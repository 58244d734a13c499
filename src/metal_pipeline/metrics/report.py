"""Per-class evaluation report: overall and per-defect-type metrics, and a tidy table.

Conventions (see docs/METRICS.md):

* **Pooling**: pixel metrics pool every pixel of every image of the evaluated
  set into one population (MVTec AD convention), good images included.
* **Per defect type**: a defect type ``d`` is evaluated on the images of type
  ``d`` **plus all good images** of the class (so every per-defect number has
  normal images and normal pixels to produce false positives on).
* **Image-level only**: when ``masks`` is ``None`` (e.g. Head CT) only
  ``image_auroc`` and the counts are reported; pixel metrics are absent.
* An undefined metric (e.g. no good image, no anomalous pixel) raises
  ``ValueError`` naming the subset, instead of silently reporting NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from metal_pipeline.metrics._pool import ArrayOrList, check_max_fpr
from metal_pipeline.metrics.auroc import auroc
from metal_pipeline.metrics.curve import normalized_partial_area
from metal_pipeline.metrics.pauroc import mcclish_from_normalized
from metal_pipeline.metrics.sorted_pixels import SortedPixels

GOOD = "good"
#: ``defect`` value of the overall rows in :func:`report_to_frame`.
ALL_DEFECTS = "all"
FRAME_COLUMNS = ["class", "configuration", "defect", "metric", "value"]


def metric_names(max_fpr: float = 0.3) -> dict[str, str]:
    """Report keys of the ``max_fpr``-dependent metrics, e.g. ``{"pauroc": "pauroc_0.3", ...}``."""
    tag = f"{check_max_fpr(max_fpr):g}"
    return {
        "pauroc": f"pauroc_{tag}",
        "pauroc_mcclish": f"pauroc_{tag}_mcclish",
        "au_pro": f"au_pro_{tag}",
    }


def _pixel_metrics(pixels: SortedPixels, index: np.ndarray | None, max_fpr: float) -> dict[str, float]:
    """The pixel metrics of the images ``index`` (None: all) from the once-sorted pool."""
    names = metric_names(max_fpr)
    curves = pixels.curves(index)
    fpr, tpr = curves.roc()
    pauroc = normalized_partial_area(fpr, tpr, max_fpr)
    f1, threshold = curves.f1_max()
    pro_fpr, pro = curves.pro()
    return {
        names["pauroc"]: pauroc,
        names["pauroc_mcclish"]: mcclish_from_normalized(pauroc, max_fpr),
        "pixel_auroc": float(np.trapezoid(tpr, fpr)),
        names["au_pro"]: normalized_partial_area(pro_fpr, pro, max_fpr),
        "pixel_f1_max": f1,
        "pixel_f1_threshold": threshold,
    }


def _evaluate_subset(
    index: np.ndarray,
    pixels: SortedPixels | None,
    labels: np.ndarray,
    image_scores: np.ndarray,
    max_fpr: float,
    subset: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        if pixels is not None:
            out.update(_pixel_metrics(pixels, None if index.size == labels.size else index, max_fpr))
        out["image_auroc"] = auroc(labels[index], image_scores[index])
    except ValueError as exc:
        raise ValueError(f"evaluate_localization [{subset}]: {exc}") from exc
    out["n_images"] = int(index.size)
    out["n_anomalous"] = int(np.count_nonzero(labels[index]))
    return out


def evaluate_localization(
    masks: ArrayOrList | None,
    maps: ArrayOrList | None,
    labels: Sequence[int] | np.ndarray,
    defects: Sequence[str],
    image_scores: Sequence[float] | np.ndarray,
    max_fpr: float = 0.3,
) -> dict[str, Any]:
    """Overall and per-defect-type metrics of one class.

    Args:
        masks: ground-truth masks ``(n, H, W)`` or a list of ``n`` 2-D masks
            (e.g. at each image's original resolution), ``> 0`` anomalous;
            ``None`` for image-level-only datasets (Head CT).
        maps: anomaly maps matching ``masks`` image by image (same shapes);
            ignored (may be ``None``) when ``masks`` is ``None``.
        labels: ``(n,)`` image labels, 0 normal / 1 anomalous.
        defects: ``(n,)`` defect type per image, ``"good"`` exactly where the label is 0.
        image_scores: ``(n,)`` image anomaly scores (higher = more anomalous).
        max_fpr: FPR limit of pAUROC and AU-PRO.

    Returns:
        ``{"max_fpr": float, "pixel_level": bool, "overall": {metric: value},
        "per_defect": {defect: {metric: value}}}`` where, with pixel labels,
        the metrics are ``pauroc_0.3`` (MVTec-normalised), ``pauroc_0.3_mcclish``,
        ``pixel_auroc``, ``au_pro_0.3``, ``pixel_f1_max``, ``pixel_f1_threshold``,
        ``image_auroc``, ``n_images``, ``n_anomalous`` (the ``0.3`` follows
        ``max_fpr``, see :func:`metric_names`); without pixel labels only
        ``image_auroc``, ``n_images``, ``n_anomalous``. Per defect ``d`` the
        subset is the images of type ``d`` plus all good images. Defects are
        sorted by name.

    Raises:
        ValueError: inconsistent lengths or labels/defects, or an undefined
            metric (no good image, no anomalous image or pixel in a subset).
    """
    max_fpr = check_max_fpr(max_fpr)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    image_scores = np.asarray(image_scores, dtype=np.float64).reshape(-1)
    defects = [str(d) for d in defects]
    n = labels.size
    if len(defects) != n or image_scores.size != n:
        raise ValueError(
            f"evaluate_localization: {n} labels, {len(defects)} defects, {image_scores.size} image scores"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("evaluate_localization: labels must be 0 or 1")
    is_good = np.array([d == GOOD for d in defects], dtype=bool)
    if not np.array_equal(is_good, labels == 0):
        bad = int(np.flatnonzero(is_good != (labels == 0))[0])
        raise ValueError(
            f"evaluate_localization: image {bad} has defect {defects[bad]!r} but label {labels[bad]}; "
            f"'{GOOD}' must be exactly the label-0 images"
        )
    if masks is not None:
        if maps is None:
            raise ValueError("evaluate_localization: masks given but maps is None")
        if len(masks) != n or len(maps) != n:
            raise ValueError(f"evaluate_localization: {len(masks)} masks and {len(maps)} maps for {n} images")
        for i in range(n):
            if np.shape(masks[i]) != np.shape(maps[i]):
                raise ValueError(
                    f"evaluate_localization: image {i}: mask {np.shape(masks[i])} vs map {np.shape(maps[i])}"
                )

    good_index = np.flatnonzero(is_good)
    # One sort of every pixel serves every subset's ROC, precision-recall and PRO curves.
    try:
        pixels = None if masks is None else SortedPixels(masks, maps)
    except ValueError as exc:
        raise ValueError(f"evaluate_localization: {exc}") from exc
    report: dict[str, Any] = {
        "max_fpr": max_fpr,
        "pixel_level": masks is not None,
        "overall": _evaluate_subset(np.arange(n), pixels, labels, image_scores, max_fpr, "all images"),
        "per_defect": {},
    }
    for defect in sorted(set(defects) - {GOOD}):
        own = np.flatnonzero(np.array([d == defect for d in defects]))
        index = np.concatenate([own, good_index])
        report["per_defect"][defect] = _evaluate_subset(
            index, pixels, labels, image_scores, max_fpr, f"defect {defect!r} + good images"
        )
    return report


def report_to_frame(report: dict[str, Any], class_name: str, configuration: str) -> pd.DataFrame:
    """Tidy table of a report: one row per (defect, metric).

    Columns ``class, configuration, defect, metric, value`` (value float64);
    the overall rows have ``defect == "all"`` and come first, then defects in
    report order, metrics in report order.
    """
    rows: list[tuple[str, str, str, str, float]] = []
    for metric, value in report["overall"].items():
        rows.append((class_name, configuration, ALL_DEFECTS, metric, float(value)))
    for defect, metrics in report["per_defect"].items():
        for metric, value in metrics.items():
            rows.append((class_name, configuration, defect, metric, float(value)))
    frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    frame["value"] = frame["value"].astype(np.float64)
    return frame
