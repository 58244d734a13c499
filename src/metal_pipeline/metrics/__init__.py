"""Anomaly-localisation metrics (no Kedro imports). Definitions: docs/METRICS.md.

* :func:`partial_auroc` — pAUROC up to ``max_fpr``, MVTec AD normalisation (random 0.15 at 0.3).
* :func:`mcclish_partial_auroc` — sklearn's McClish-standardised pAUROC (random 0.5).
* :func:`auroc` — full AUROC.
* :func:`au_pro` — area under the per-region-overlap curve (official MVTec algorithm).
* :func:`f1_max` — best F1 and its threshold.
* :func:`evaluate_localization`, :func:`report_to_frame` — per-class report and tidy table.
"""

from metal_pipeline.metrics.aupro import au_pro, pro_curve
from metal_pipeline.metrics.auroc import auroc
from metal_pipeline.metrics.curve import area_up_to, normalized_partial_area, pooled_roc_curve
from metal_pipeline.metrics.f1 import f1_max
from metal_pipeline.metrics.pauroc import (
    mcclish_from_normalized,
    mcclish_partial_auroc,
    normalized_from_mcclish,
    partial_auroc,
)
from metal_pipeline.metrics.report import evaluate_localization, metric_names, report_to_frame

__all__ = [
    "area_up_to",
    "au_pro",
    "auroc",
    "evaluate_localization",
    "f1_max",
    "mcclish_from_normalized",
    "mcclish_partial_auroc",
    "metric_names",
    "normalized_from_mcclish",
    "normalized_partial_area",
    "partial_auroc",
    "pooled_roc_curve",
    "pro_curve",
    "report_to_frame",
]
