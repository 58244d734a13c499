"""Thin node: gather the grid's per-run metric tables into the paper's Table 3 (mean ± std over seeds)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from metal_pipeline.reporting.table3 import table3_tables


def ablation_tables(**inputs: Any) -> tuple[pd.DataFrame, pd.DataFrame, str, Figure]:
    """Table 3 from every run's metrics and training summary
    (:func:`metal_pipeline.reporting.table3.table3_tables`)."""
    return table3_tables(inputs)
