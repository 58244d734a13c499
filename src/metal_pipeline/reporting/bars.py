"""Per-defect-type bar chart from the tidy metrics table."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from metal_pipeline.metrics.report import ALL_DEFECTS, FRAME_COLUMNS
from metal_pipeline.reporting._figure import new_figure

DEFAULT_METRICS: tuple[str, ...] = ("pauroc_0.3", "image_auroc")
_PAUROC = re.compile(r"^pauroc_([0-9.]+)$")


def _chance_level(metric: str) -> float | None:
    """Value of a random scorer: 0.5 for AUROCs, max_fpr/2 for MVTec-normalised pAUROC."""
    m = _PAUROC.match(metric)
    if m:
        return float(m.group(1)) / 2.0
    if metric.endswith("auroc") or metric.endswith("_mcclish"):
        return 0.5
    return None


def per_defect_bars(frame: pd.DataFrame, metrics: Sequence[str] = DEFAULT_METRICS) -> Figure:
    """One bar panel per metric: a bar per defect type (and "all"), grouped by configuration.

    Args:
        frame: tidy table(s) from ``report_to_frame`` (several classes and/or
            configurations may be concatenated); columns
            ``class, configuration, defect, metric, value``.
        metrics: metrics to draw, in panel order; those absent from ``frame``
            are skipped (e.g. pAUROC for image-level-only Head CT).

    Returns:
        A ``matplotlib.figure.Figure`` (dpi 100), not registered with pyplot.
        The dotted line in each panel marks a random scorer.

    Raises:
        ValueError: missing columns or none of ``metrics`` present.
    """
    missing = set(FRAME_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"per_defect_bars: frame lacks columns {sorted(missing)}")
    present = [m for m in metrics if (frame["metric"] == m).any()]
    if not present:
        raise ValueError(f"per_defect_bars: none of {list(metrics)} in frame (has {sorted(frame['metric'].unique())})")
    multi_class = frame["class"].nunique() > 1
    configurations = list(dict.fromkeys(frame["configuration"]))

    def group_key(row: pd.Series) -> str:
        return f"{row['class']}/{row['defect']}" if multi_class else str(row["defect"])

    data = frame[frame["metric"].isin(present)].copy()
    data["group"] = data.apply(group_key, axis=1)
    # Defect types sorted, the overall "all" rows last within each class.
    order_frame = data[["class", "defect", "group"]].drop_duplicates()
    order_frame = order_frame.assign(_is_all=order_frame["defect"] == ALL_DEFECTS)
    groups = list(order_frame.sort_values(["class", "_is_all", "defect"])["group"])

    width_in = max(4.0, 0.45 * len(groups) * max(1, len(configurations)) + 1.5)
    fig = new_figure(width_in, 2.6 * len(present) + 0.4)
    axes = fig.subplots(len(present), 1, squeeze=False)[:, 0]
    bar_w = 0.8 / len(configurations)
    x = np.arange(len(groups))
    for ax, metric in zip(axes, present):
        sub = data[data["metric"] == metric]
        for k, conf in enumerate(configurations):
            values = sub[sub["configuration"] == conf].groupby("group")["value"].mean()
            heights = np.array([values.get(g, np.nan) for g in groups], dtype=np.float64)
            bars = ax.bar(x + (k - (len(configurations) - 1) / 2) * bar_w, heights, bar_w, label=str(conf))
            ax.bar_label(bars, labels=["" if np.isnan(h) else f"{h:.2f}" for h in heights], fontsize=6, padding=1)
        chance = _chance_level(metric)
        if chance is not None:
            ax.axhline(chance, color="0.4", ls=":", lw=0.8)
        ax.set_ylim(0.0, 1.1)
        ax.set_ylabel(metric)
        ax.set_xticks(x, groups, rotation=30, ha="right", fontsize=8)
        if len(configurations) > 1:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="configuration",
                      title_fontsize=7)
    return fig
