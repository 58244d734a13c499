"""Figures and tables for evaluation reports (matplotlib, no Kedro imports).

Every function returns a ``matplotlib.figure.Figure`` built without pyplot, so
kedro-datasets' ``MatplotlibDataset`` can save it and nothing needs closing.
"""

from metal_pipeline.reporting.bars import per_defect_bars
from metal_pipeline.reporting.panel import reconstruction_panel, select_panel_rows
from metal_pipeline.reporting.roc import roc_figure

__all__ = ["per_defect_bars", "reconstruction_panel", "roc_figure", "select_panel_rows"]
