"""The Table 4-style comparison: MeTAL's recipes and the autoencoder baselines, mean ± std over seeds,
with the paper's values beside them (no Kedro)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from metal_pipeline.baselines.methods import LABELS, METHODS
from metal_pipeline.reporting import summary
from metal_pipeline.reporting.ablation import ablation_figure
from metal_pipeline.reporting.paper_values import published_metrics, published_rows

logger = logging.getLogger(__name__)

KEYS = ["class", "method", "label", "recipe", "configuration", "masking"]


def table4_tables(class_name: str, inputs: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, str, Figure]:
    """The comparison from its runs.

    Args:
        class_name: the class compared (selects the paper's values).
        inputs: ``<method>__s<seed>__metrics`` (a run's tidy metrics table) and
            ``<method>__s<seed>__summary`` (its training summary) for every run.

    Returns:
        ``runs``: one row per method x seed (run name, reused, epochs, wall seconds, metrics);
        ``table``: one row per method in table order (default, paper, l2_ae, ssim_ae): ``n_seeds``,
        ``seeds``, ``<metric>`` (mean over seeds) and ``<metric>_std`` (sample std, empty for one seed);
        the Markdown table (our rows ``mean ± std``, then the paper's values in the column of their
        convention) and a bar figure (std as error bars; the paper's values as their own groups).
    """
    runs = runs_frame(inputs)
    table = summary.summarise(runs, KEYS)
    markdown = to_markdown(table, class_name)
    logger.info("Table 4-style comparison (%d runs):\n%s", len(runs), markdown)
    return runs, table, markdown, figure(table, class_name)


def runs_frame(inputs: Mapping[str, Any]) -> pd.DataFrame:
    """One row per run: class, method, label, recipe, configuration, masking, seed, run fields, metrics."""
    return summary.runs_frame(inputs, KEYS, in_table_order,
                              lambda method: {"method": method, "label": LABELS.get(method, method)})


def in_table_order(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs in the table's order: method (as :data:`METHODS` lists them), then seed."""
    return summary.in_table_order(runs, "method", METHODS)


def _shown(table: pd.DataFrame, class_name: str) -> dict[str, str]:
    """Markdown columns with a value in our rows or in the paper's."""
    published = published_metrics(class_name)
    return {m: label for m, label in summary.MARKDOWN_COLUMNS.items()
            if (m in table.columns and table[m].notna().any()) or m in published}


def to_markdown(table: pd.DataFrame, class_name: str) -> str:
    """Our rows (``mean ± std``) and then the paper's values, each in the column of its convention.

    Pixel columns without any value (Head CT has no pixel labels) are left out: the layout of the
    paper's Table 5 (image AUROC, mean ± std).
    """
    shown = _shown(table, class_name)
    header = ["method", "configuration", "masking", "seeds", *shown.values()]
    rows = [[str(row["label"]), str(row["configuration"]), str(row["masking"]), str(row["seeds"]).replace(" ", ", "),
             *(summary.cell(row.get(m, math.nan), row.get(f"{m}_std")) for m in shown)]
            for row in table.to_dict("records")]
    published, notes = published_rows(class_name, list(shown), lambda _v, label: [label, "—", "—", "—"], summary.cell)
    title = (f"Class {class_name}: MeTAL's default and paper recipes and the autoencoders of Bergmann et al. "
             f"2019, trained on one split and scored by the same code; {summary.spread_label(table['n_seeds'])}. ")
    text = title + summary.metrics_note(shown) + "\n\n" + summary.markdown_table(header, rows + published) + "\n"
    return text + ("\n" + " ".join(notes) + "\n" if notes else "")


def figure(table: pd.DataFrame, class_name: str) -> Figure:
    """Grouped bars of our rows, then one group per published value (its one column)."""
    shown = list(_shown(table, class_name))
    labels = [str(r["label"]).replace(" (", "\n(") for r in table.to_dict("records")]
    frame, labels = summary.with_published_groups(table, labels, class_name)
    title = (f"Class {class_name}: MeTAL recipes vs autoencoder baselines "
             f"({summary.spread_label(table['n_seeds'])})")
    return ablation_figure(frame, shown, labels=summary.MARKDOWN_COLUMNS, group_labels=labels, title=title)
