"""The ablation's Table 3: one row per configuration, mean ± std over seeds (no Kedro)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from metal_pipeline.grid import configurations
from metal_pipeline.reporting import summary
from metal_pipeline.reporting.ablation import ablation_figure

logger = logging.getLogger(__name__)

KEYS = ["class", "recipe", "configuration", "masking"]


def table3_tables(inputs: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, str, Figure]:
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
    table = summary.summarise(runs, KEYS)
    markdown = to_markdown(table)
    logger.info("Ablation table (%d runs):\n%s", len(runs), markdown)
    columns = summary.MARKDOWN_COLUMNS
    return runs, table, markdown, ablation_figure(table, [m for m in columns if m in table.columns], labels=columns)


def runs_frame(inputs: Mapping[str, Any]) -> pd.DataFrame:
    """One row per run: class, recipe, configuration, masking, seed, run fields, the overall metrics."""
    return summary.runs_frame(inputs, KEYS, "configuration", configurations())


def to_markdown(table: pd.DataFrame) -> str:
    """Table 3 as Markdown: configuration, masking, seeds and the four metric columns as ``mean ± std``.

    Pixel columns without values (Head CT has no pixel labels) are left out, which gives the layout of
    the paper's Table 5 (image AUROC, mean ± std over seeds).
    """
    shown = {m: label for m, label in summary.MARKDOWN_COLUMNS.items()
             if m in table.columns and table[m].notna().any()}
    header = ["configuration", "masking", "seeds", *shown.values()]
    rows = [[str(row["configuration"]), str(row["masking"]), str(row["seeds"]).replace(" ", ", "),
             *(summary.cell(row[m], row.get(f"{m}_std")) for m in shown)] for row in table.to_dict("records")]
    first = table.iloc[0] if len(table) else {}
    title = (f"Class {first.get('class', '?')}, recipe {first.get('recipe', '?')}: "
             f"{summary.spread_label(table['n_seeds'])}. ")
    return title + summary.metrics_note(shown) + "\n\n" + summary.markdown_table(header, rows) + "\n"
