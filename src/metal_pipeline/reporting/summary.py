"""The runs of a grid as a frame, mean ± std over seeds, and the metric columns every results table
shows (Table 3, Table 4).

No Kedro: the ablation's and the baselines' table nodes both build on these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from metal_pipeline.reporting.paper_values import paper_values

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


def runs_frame(inputs: Mapping[str, Any], keys: Sequence[str], ordered: Callable[[pd.DataFrame], pd.DataFrame],
               label_fields: Callable[[str], dict[str, Any]] | None = None) -> pd.DataFrame:
    """One row per run of a table node's ``inputs`` (``<label>__s<seed>__metrics``, a run's tidy metrics
    table, and ``<label>__s<seed>__summary``, its training summary): class, recipe, configuration and
    masking, ``label_fields(<label>)``, the seed, :data:`RUN_FIELDS` and the overall metrics. Rows
    in the table's order (``ordered``, e.g. :func:`table3.in_table_order`); columns ``keys``, ``seed``,
    run fields, metrics."""
    rows = []
    for key in sorted(k for k in inputs if k.endswith("__metrics")):
        stem = key[: -len("__metrics")]
        label, seed = stem.rsplit("__s", 1)
        metrics, summary = inputs[key], dict(inputs.get(f"{stem}__summary") or {})
        overall = metrics[metrics["defect"] == "all"]
        first = overall.iloc[0]
        row: dict[str, Any] = {"class": first["class"], "recipe": summary.get("recipe"),
                               "configuration": first["configuration"], "masking": first["masking"],
                               **(label_fields(label) if label_fields else {}), "seed": int(summary.get("seed", seed))}
        row.update({field: summary.get(field) for field in RUN_FIELDS})
        row.update(dict(zip(overall["metric"], overall["value"].astype(float))))
        rows.append(row)
    frame = ordered(pd.DataFrame(rows))
    return frame[list(keys) + ["seed", *RUN_FIELDS, *(m for m in TABLE_METRICS if m in frame.columns)]]


def in_table_order(frame: pd.DataFrame, by: str, order: Sequence[str]) -> pd.DataFrame:
    """Rows sorted by column ``by`` in the table's ``order`` (a configuration or method list), then
    seed; stable, so a table built from one command and one merged from several list runs alike."""
    rank = {name: i for i, name in enumerate(order)}
    return frame.sort_values([by, "seed"], key=lambda s: s.map(rank) if s.name == by else s,
                             kind="stable").reset_index(drop=True)


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


def metrics_note(shown: Iterable[str]) -> str:
    """What a Markdown table's metric columns mean: the two pAUROC conventions, or, without pixel
    columns (Head CT has no pixel labels), that it has the layout of the paper's Table 5."""
    if set(shown) & PIXEL_METRICS:
        return PAUROC_NOTE
    return "No pixel labels: image AUROC only, the layout of the paper's Table 5."


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """``| a | b |`` lines: the header, the rule, one line per row of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows])


def with_published_groups(table: pd.DataFrame, labels: list[str], class_name: str) -> tuple[pd.DataFrame, list[str]]:
    """``table`` (one row a bar group) with one more group per published value (its one column) and
    the groups' labels: the figures draw the paper's values beside ours."""
    rows, labels = table.to_dict("records"), list(labels)
    for value in paper_values(class_name):
        rows.append({value.metric: value.value, f"{value.metric}_std": value.std if value.std else math.nan,
                     "n_seeds": 1})
        labels.append(f"{value.method}\n(published)")
    extra = [c for v in paper_values(class_name) for c in (v.metric, f"{v.metric}_std") if c not in table.columns]
    return pd.DataFrame(rows, columns=list(table.columns) + extra), labels
