"""Thin nodes over ``metal_pipeline.metrics`` and ``metal_pipeline.reporting``."""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.metrics.decisions import decision_metrics
from metal_pipeline.metrics.report import evaluate_localization, report_to_frame
from metal_pipeline.reporting import per_defect_bars, reconstruction_panel, roc_figure
from metal_pipeline.scoring.ground_truth import masks_and_maps

logger = logging.getLogger(__name__)


def evaluate(
    test_scores: dict[str, np.ndarray],
    test_set: ImageSet,
    params: dict[str, Any],
    class_name: str,
    configuration: str,
    masking: str,
    tracking_prefix: str = "",
    raw_masks: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics of the test scores; at ``evaluation.resolution: original`` against ``raw_masks``
    (the catalog's original-resolution masks), at ``model`` against the split's masks."""
    masks, maps = masks_and_maps(test_set, test_scores["maps"], params["resolution"], raw_masks or {})
    report = evaluate_localization(masks, maps, test_set.labels, test_set.defects, test_scores["scores"],
                                   max_fpr=params["max_fpr"])
    report["overall"].update(decision_metrics(test_set.labels, test_scores["scores"],
                                              float(test_scores.get("threshold", np.nan))))
    report.update({"class": class_name, "configuration": configuration, "masking": masking,
                   "resolution": params["resolution"]})
    frame = report_to_frame(report, class_name, configuration)
    frame.insert(2, "masking", masking)
    if mlflow.active_run() is not None:
        mlflow.log_metrics({f"{tracking_prefix}{k}": float(v) for k, v in report["overall"].items()})
    _log_summary(report)
    return report, frame


def _log_summary(report: dict[str, Any]) -> None:
    rows = {"all": report["overall"], **report["per_defect"]}
    metrics = [m for m in report["overall"] if not m.startswith("n_") and "threshold" not in m]
    width = max(len(r) for r in rows)
    lines = [f"{'defect':<{width}}  " + "  ".join(f"{m:>18}" for m in metrics)]
    for name, values in rows.items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{values[m]:>18.4f}" for m in metrics))
    logger.info("%s / %s-%s (%s resolution):\n%s", report["class"], report["configuration"], report["masking"],
                report["resolution"], "\n".join(lines))


def make_figures(
    test_scores: dict[str, np.ndarray],
    test_set: ImageSet,
    metrics_table: pd.DataFrame,
    params: dict[str, Any],
) -> tuple[Figure, Figure | None, Figure]:
    """The paper's Fig. 9-style panel, the pixel ROC with the FPR cut shaded, per-defect bars."""
    panel = reconstruction_panel(test_set.as_float(), test_scores["reconstructions"], test_scores["maps"],
                                 test_set.masks, test_set.names, max_rows=params["panel_rows"],
                                 defects=test_set.defects)
    if test_set.masks is not None:
        roc = roc_figure(test_set.masks, test_scores["maps"], max_fpr=params["max_fpr"])
    else:
        roc = roc_figure(test_set.labels, test_scores["scores"], max_fpr=params["max_fpr"])
    bars = per_defect_bars(metrics_table)
    return panel, roc, bars
