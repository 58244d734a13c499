"""Gather the per-configuration metric tables into the ablation table."""

from __future__ import annotations

import logging

import pandas as pd

from metal_pipeline.model import CONFIGURATIONS

logger = logging.getLogger(__name__)

TABLE_METRICS = ("pauroc_0.3", "pauroc_0.3_mcclish", "pixel_auroc", "au_pro_0.3", "pixel_f1_max", "image_auroc")


def ablation_table(*metrics_tables: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """One row per configuration (paper Table 3 order), one column per metric, class-level values."""
    tidy = pd.concat(metrics_tables, ignore_index=True)
    overall = tidy[tidy["defect"] == "all"]
    table = overall.pivot_table(index=["class", "configuration", "masking"], columns="metric", values="value")
    columns = [m for m in TABLE_METRICS if m in table.columns]
    table = table[columns].reset_index()
    order = {name: i for i, name in enumerate(CONFIGURATIONS)}
    table = table.sort_values("configuration", key=lambda s: s.map(order)).reset_index(drop=True)
    markdown = _markdown(table)
    logger.info("Ablation (paper Table 3 layout):\n%s", markdown)
    return table, markdown


def _markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    rows = [
        "| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in table.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows]) + "\n"
