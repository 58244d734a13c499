"""Mean ± std over seeds, and the metric columns every results table shows (Table 3, Table 4).

No Kedro: the ablation's and the baselines' table nodes both build on these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

#: Metrics of the tables (CSV), in column order. Absent ones (pixel metrics of Head CT) are left out.
TABLE_METRICS = ("pauroc_0.3", "pauroc_0.3_mcclish", "pixel_auroc", "au_pro_0.3", "pixel_f1_max", "image_auroc")
#: The Markdown tables' columns: the three pixel columns (docs/METRICS.md) and image AUROC.
MARKDOWN_COLUMNS = {
    "pauroc_0.3": "pAUROC@0.3 MVTec",
    "pauroc_0.3_mcclish": "pAUROC@0.3 McClish",
    "pixel_auroc": "pixel AUROC",
    "image_auroc": "image AUROC",
}
PIXEL_METRICS = {"pauroc_0.3", "pauroc_0.3_mcclish", "pixel_auroc"}
#: What each run contributes from its training summary.
RUN_FIELDS = ("run_name", "reused", "best_epoch", "stopped_epoch", "wall_seconds")
#: How the Markdown tables explain the two pAUROC columns.
PAUROC_NOTE = ("pAUROC@0.3 MVTec = area up to FPR 0.3 divided by 0.3 (random 0.15); McClish = sklearn's "
               "roc_auc_score(max_fpr=0.3) (random 0.5); the paper's own MeTAL values compare with the "
               "McClish and pixel AUROC columns (docs/METRICS.md).")


def summarise(runs: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Mean and sample std (ddof=1) of each metric over the seeds of each group of ``keys``, groups in
    order of appearance: ``keys``, ``n_seeds``, ``seeds``, then ``<metric>`` and ``<metric>_std``."""
    keys = list(keys)
    metrics = [m for m in TABLE_METRICS if m in runs.columns]
    rows = []
    for values, group in runs.groupby(keys, sort=False, dropna=False):
        row = dict(zip(keys, values))
        row["n_seeds"] = len(group)
        row["seeds"] = " ".join(str(int(s)) for s in group["seed"])
        for metric in metrics:
            column = group[metric].astype(float)
            row[metric] = column.mean()
            row[f"{metric}_std"] = column.std(ddof=1) if len(column) > 1 else math.nan
        rows.append(row)
    columns = keys + ["n_seeds", "seeds"] + [c for m in metrics for c in (m, f"{m}_std")]
    return pd.DataFrame(rows, columns=columns)


def cell(mean: Any, std: Any) -> str:
    """``0.912 ± 0.013``, ``0.912`` (no std) or ``—`` (no value)."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {std:.3f}"


def spread_label(n_seeds: Sequence[int]) -> str:
    """``mean ± sample standard deviation over 3 seeds`` or ``one seed``."""
    n = sorted({int(v) for v in n_seeds}) or [0]
    return "mean ± sample standard deviation over " + "/".join(map(str, n)) + " seeds" if max(n) > 1 else "one seed"
