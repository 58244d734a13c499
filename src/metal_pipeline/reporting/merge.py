"""One table from the per-run rows of several commands, by the code that makes the pipelines' tables.

A grid's runs need not come from one ``kedro run``: seeds trained in another session, on another
machine or by per-configuration commands each leave their per-run rows (``ablation_runs.csv`` of
Table 3/5, ``table4_runs.csv`` of the Table 4-style comparison). Merging those rows gives the table
one command over all the runs would have written: the same grouping, mean ± sample std and published
rows (:mod:`metal_pipeline.reporting.table3`, :mod:`metal_pipeline.reporting.table4`).

A run found in several files (the same ``run_name``: a finished run that a later command reused)
counts once, and only if its metrics agree; two different runs with the same keys and seed are
refused, since one table cell would then average two trainings of one seed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from metal_pipeline.reporting import summary, table3, table4

#: Metric values of one run read from two files may differ by CSV rounding only.
SAME_RUN_TOLERANCE = 1e-9


class MergeError(ValueError):
    """Rows that cannot make one table; the message names the files and the fix."""


def kind_of(runs: pd.DataFrame) -> str:
    """``table4`` for rows of the Table 4-style comparison (they have a ``method``), else ``table3``."""
    return "table4" if "method" in runs.columns else "table3"


def read_runs(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """The rows of every file, each run once, in table order (configuration or method, then seed)."""
    if not paths:
        raise MergeError("merge: name at least one per-run CSV (ablation_runs.csv or table4_runs.csv)")
    frames, kinds = [], []
    for path in map(Path, paths):
        if not path.is_file():
            raise MergeError(f"merge: {path} does not exist; name the per-run CSV a table command wrote "
                             "(data/08_reporting/<table>/ablation_runs.csv or table4_runs.csv)")
        frame = pd.read_csv(path)
        kind = kind_of(frame)
        missing = [c for c in [*_table(kind).KEYS, "seed", "run_name"] if c not in frame.columns]
        if missing:
            raise MergeError(f"merge: {path} has no column(s) {missing}; it is not the per-run CSV of a table "
                             "(the summary table has one row per configuration, not per run)")
        frames.append(frame.assign(_file=str(path)))
        kinds.append(kind)
    if len(set(kinds)) > 1:
        raise MergeError("merge: the files mix Table 3/5 rows (ablation_runs.csv) and Table 4-style rows "
                         "(table4_runs.csv); merge each kind on its own: "
                         + ", ".join(f"{f['_file'].iloc[0]} ({k})" for f, k in zip(frames, kinds)))
    kind = kinds[0]
    runs = pd.concat(frames, ignore_index=True)
    classes = sorted(runs["class"].astype(str).unique())
    if len(classes) > 1:
        raise MergeError(f"merge: the files hold several classes {classes}; a table is one class's")
    if kind == "table3" and runs["recipe"].nunique(dropna=False) > 1:
        raise MergeError(f"merge: the files hold several recipes {sorted(runs['recipe'].astype(str).unique())}; "
                         "a Table 3/5 is one recipe's: merge each recipe's files on their own")
    runs = _one_row_per_run(runs, [*_table(kind).KEYS, "seed"])
    return _table(kind).in_table_order(runs).drop(columns="_file")


def _table(kind: str):
    """The module that makes this kind of table: its keys and row order are the merge's."""
    return table4 if kind == "table4" else table3


def _one_row_per_run(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    metrics = [m for m in summary.TABLE_METRICS if m in runs.columns]
    for name, rows in runs.groupby("run_name", sort=False):
        values = rows[metrics].astype(float).to_numpy()
        same = all(math.isclose(a, b, rel_tol=0, abs_tol=SAME_RUN_TOLERANCE) or (math.isnan(a) and math.isnan(b))
                   for row in values[1:] for a, b in zip(values[0], row))
        if not same:
            raise MergeError(f"merge: run {name} has different metrics in {sorted(set(rows['_file']))}; "
                             "keep the file of the run you mean")
    runs = runs.drop_duplicates("run_name", keep="first")
    clash = runs[runs.duplicated(keys, keep=False)]
    if len(clash):
        first = clash.iloc[0]
        same_cell = clash[(clash[keys] == first[keys]).all(axis=1)]
        raise MergeError(f"merge: {len(same_cell)} different runs for one cell and seed "
                         f"({', '.join(f'{k}={first[k]}' for k in keys)}): "
                         + "; ".join(f"{r['run_name']} in {r['_file']}" for _, r in same_cell.iterrows())
                         + ". They differ in a setting outside the table's keys; merge only one of them")
    return runs


def merged_tables(runs: pd.DataFrame) -> tuple[pd.DataFrame, str, Figure]:
    """The summary table, its Markdown and figure, as the table's own pipeline node makes them."""
    class_name = str(runs["class"].iloc[0])
    if kind_of(runs) == "table4":
        table = summary.summarise(runs, table4.KEYS)
        return table, table4.to_markdown(table, class_name), table4.figure(table, class_name)
    table = summary.summarise(runs, table3.KEYS)
    return table, table3.to_markdown(table), table3.figure(table)
