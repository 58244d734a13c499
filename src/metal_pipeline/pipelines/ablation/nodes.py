"""Gather the grid's per-run metric tables into the paper's Table 3 (mean ± std over seeds)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from metal_pipeline.grid import configurations
from metal_pipeline.reporting.ablation import ablation_figure
from metal_pipeline.reporting.summary import (
    MARKDOWN_COLUMNS,
    PAUROC_NOTE,
    PIXEL_METRICS,
    RUN_FIELDS,
    TABLE_METRICS,
    cell,
    spread_label,
)
from metal_pipeline.reporting.summary import summarise as _summarise

logger = logging.getLogger(__name__)

KEYS = ["class", "recipe", "configuration", "masking"]


def ablation_tables(**inputs: Any) -> tuple[pd.DataFrame, pd.DataFrame, str, Figure]:
    """Table 3 from the grid's runs.

    ``inputs``: ``<config>__s<seed>__metrics`` (a run's tidy metrics table) and
    ``<config>__s<seed>__summary`` (its training summary) for every run.

    Returns:
        ``runs``: one row per configuration x seed (run name, reused, epochs, wall seconds, metrics);
        ``table``: one row per configuration in the paper's order: ``n_seeds``, ``seeds``, then
        ``<metric>`` (the mean over seeds) and ``<metric>_std`` (the sample standard deviation,
        empty for one seed) per metric;
        the Markdown table (``mean ± std``) and a bar figure with the std as error bars.
    """
    runs = runs_frame(inputs)
    table = summarise(runs)
    markdown = to_markdown(table)
    logger.info("Ablation table (%d runs):\n%s", len(runs), markdown)
    return runs, table, markdown, ablation_figure(table, [m for m in MARKDOWN_COLUMNS if m in table.columns],
                                                  labels=MARKDOWN_COLUMNS)


def runs_frame(inputs: Mapping[str, Any]) -> pd.DataFrame:
    """One row per run: class, recipe, configuration, masking, seed, run fields, the overall metrics."""
    rows = []
    for key in sorted(k for k in inputs if k.endswith("__metrics")):
        stem = key[: -len("__metrics")]
        metrics, summary = inputs[key], dict(inputs.get(f"{stem}__summary") or {})
        overall = metrics[metrics["defect"] == "all"]
        first = overall.iloc[0]
        row: dict[str, Any] = {"class": first["class"], "recipe": summary.get("recipe"),
                               "configuration": first["configuration"], "masking": first["masking"],
                               "seed": summary.get("seed", int(stem.rsplit("__s", 1)[1]))}
        row.update({field: summary.get(field) for field in RUN_FIELDS})
        row.update(dict(zip(overall["metric"], overall["value"].astype(float))))
        rows.append(row)
    frame = pd.DataFrame(rows)
    metric_columns = [m for m in TABLE_METRICS if m in frame.columns]
    order = {name: i for i, name in enumerate(configurations())}
    frame = frame.sort_values(["configuration", "seed"], key=lambda s: s.map(order) if s.name == "configuration"
                              else s).reset_index(drop=True)
    return frame[KEYS + ["seed", *RUN_FIELDS, *metric_columns]]


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std (ddof=1) of each metric over the seeds of each configuration."""
    return _summarise(runs, KEYS)


def to_markdown(table: pd.DataFrame) -> str:
    """Table 3 as Markdown: configuration, masking, seeds and the four metric columns as ``mean ± std``.

    Pixel columns without values (Head CT has no pixel labels) are left out, which gives the layout of
    the paper's Table 5 (image AUROC, mean ± std over seeds).
    """
    shown = {m: label for m, label in MARKDOWN_COLUMNS.items() if m in table.columns and table[m].notna().any()}
    header = ["configuration", "masking", "seeds", *shown.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.to_dict("records"):
        cells = [str(row["configuration"]), str(row["masking"]), str(row["seeds"]).replace(" ", ", ")]
        cells += [cell(row[m], row.get(f"{m}_std")) for m in shown]
        lines.append("| " + " | ".join(cells) + " |")
    first = table.iloc[0] if len(table) else {}
    title = f"Class {first.get('class', '?')}, recipe {first.get('recipe', '?')}: {spread_label(table['n_seeds'])}. "
    if set(shown) & PIXEL_METRICS:
        title += PAUROC_NOTE
    else:
        title += "No pixel labels: image AUROC only, the layout of the paper's Table 5."
    return title + "\n\n" + "\n".join(lines) + "\n"
