"""A results table as a figure (Table 3, Table 4): one bar per row and metric, the seed std as error bars."""

from __future__ import annotations

import textwrap

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from metal_pipeline.reporting._figure import new_figure
from metal_pipeline.reporting.bars import _chance_level


def _wrap(label: str, width: int = 18) -> str:
    """A group label broken into lines of at most ``width`` characters (its own line breaks kept)."""
    return "\n".join(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False) or line
                     for line in label.split("\n"))


def ablation_figure(table: pd.DataFrame, metrics: Sequence[str],
                    labels: Mapping[str, str] | None = None, group_labels: Sequence[str] | None = None,
                    title: str | None = None) -> Figure:
    """Grouped bars: a group per configuration (row of ``table``), a bar per metric.

    Args:
        table: one row per configuration with ``configuration``, ``masking``, ``n_seeds`` and, per
            metric, ``<metric>`` (mean) and ``<metric>_std`` (NaN for one seed: no error bar). A
            missing value (NaN) draws no bar.
        metrics: the metric columns to draw; those without any value are skipped.
        labels: legend label per metric (default: the column name).
        group_labels: the label under each group (default: ``<configuration>\n(<masking>)``).
        title: the figure's title (default: the ablation's, from ``class``, ``recipe`` and ``n_seeds``).

    Returns:
        A ``matplotlib.figure.Figure`` not registered with pyplot. A dotted segment on each bar marks a
        random scorer.
    """
    labels = dict(labels or {})
    drawn = [m for m in metrics if m in table.columns and table[m].notna().any()]
    n_groups = max(1, len(table))
    # at least ~1.3 in per group, so the wrapped labels below do not run into each other
    fig = new_figure(max(6.0, 0.35 * n_groups * max(1, len(drawn)) + 2.0, 1.3 * n_groups + 1.0), 4.2)
    ax = fig.add_subplot(1, 1, 1)
    if not drawn:
        ax.text(0.5, 0.5, "no metric to draw", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    x = np.arange(len(table))
    width = 0.8 / len(drawn)
    for i, metric in enumerate(drawn):
        means = table[metric].astype(float).to_numpy()
        stds = table[f"{metric}_std"].astype(float).to_numpy() if f"{metric}_std" in table.columns else None
        offset = (i - (len(drawn) - 1) / 2) * width
        shown = ~np.isnan(means)
        ax.bar((x + offset)[shown], means[shown], width, label=labels.get(metric, metric))
        if stds is not None:  # error bars only where there is a spread (one seed has none: no bar, not a zero one)
            spread = shown & ~np.isnan(stds)
            if spread.any():
                ax.errorbar((x + offset)[spread], means[spread], yerr=stds[spread], fmt="none", ecolor="black",
                            elinewidth=1, capsize=2)
        chance = _chance_level(metric)
        if chance is not None:  # a dotted segment across each bar at a random scorer's value
            ax.hlines(np.full(int(shown.sum()), chance), (x + offset)[shown] - width / 2,
                      (x + offset)[shown] + width / 2, linestyles="dotted", colors="black", linewidth=1)
    if group_labels is None:
        group_labels = [f"{c}\n({m})" for c, m in zip(table["configuration"], table["masking"])]
    group_labels = [_wrap(str(label)) for label in group_labels]
    ax.set_xticks(x, group_labels, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("metric")
    if title is None:
        seeds = sorted({int(n) for n in table["n_seeds"]}) if "n_seeds" in table.columns else [1]
        spread = "mean ± std over " + "/".join(map(str, seeds)) + " seeds" if max(seeds) > 1 else "one seed"
        first = table.iloc[0]
        title = f"Ablation, class {first.get('class', '?')}, recipe {first.get('recipe', '?')} ({spread})"
    ax.set_title(title, fontsize=10)
    lines = max((label.count("\n") + 1 for label in group_labels), default=1)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08 - 0.055 * lines), ncol=len(drawn),
              frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


__all__ = ["ablation_figure"]
