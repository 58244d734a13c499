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
from metal_pipeline.reporting.paper_values import published_metrics, published_rows

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
    return runs, table, markdown, figure(table)


def _class_of(table: pd.DataFrame) -> str:
    return str(table["class"].iloc[0]) if len(table) and "class" in table.columns else "?"


def figure(table: pd.DataFrame) -> Figure:
    """Grouped bars per configuration (std as error bars), then one group per published value."""
    columns = summary.MARKDOWN_COLUMNS
    labels = [f"{c}\n({m})" for c, m in zip(table["configuration"], table["masking"])]
    frame, labels = summary.with_published_groups(table, labels, _class_of(table))
    return ablation_figure(frame, [m for m in columns if m in frame.columns], labels=columns, group_labels=labels)


def runs_frame(inputs: Mapping[str, Any]) -> pd.DataFrame:
    """One row per run: class, recipe, configuration, masking, seed, run fields, the overall metrics."""
    return summary.runs_frame(inputs, KEYS, in_table_order)


def in_table_order(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs in the table's order: configuration (as :func:`configurations` lists them), then seed."""
    return summary.in_table_order(runs, "configuration", configurations())


def to_markdown(table: pd.DataFrame) -> str:
    """Table 3 as Markdown: configuration, masking, seeds and the four metric columns as ``mean ± std``,
    then the paper's published values for the class, each in the column of its convention.

    Pixel columns without values (Head CT has no pixel labels) are left out, which gives the layout of
    the paper's Table 5 (image AUROC, mean ± std over seeds).
    """
    class_name = _class_of(table)
    published = published_metrics(class_name)
    shown = {m: label for m, label in summary.MARKDOWN_COLUMNS.items()
             if (m in table.columns and table[m].notna().any()) or m in published}
    header = ["configuration", "masking", "seeds", *shown.values()]
    rows = [[str(row["configuration"]), str(row["masking"]), str(row["seeds"]).replace(" ", ", "),
             *(summary.cell(row.get(m), row.get(f"{m}_std")) for m in shown)] for row in table.to_dict("records")]
    paper, notes = published_rows(class_name, list(shown),
                                  lambda v, label: [f"{v.configuration}: {label}", v.masking, "—"], summary.cell)
    first = table.iloc[0] if len(table) else {}
    title = (f"Class {class_name}, recipe {first.get('recipe', '?')}: "
             f"{summary.spread_label(table['n_seeds'])}. ")
    text = title + summary.metrics_note(shown) + "\n\n" + summary.markdown_table(header, rows + paper) + "\n"
    return text + ("\n" + " ".join(notes) + "\n" if notes else "")
