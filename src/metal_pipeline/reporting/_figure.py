"""Figure construction without pyplot: no global figure registry, nothing to close.

``matplotlib.figure.Figure`` objects built directly are not tracked by pyplot,
so they are garbage-collected like any object and never trigger the
"more than 20 figures" warning; ``Figure.savefig`` (what kedro-datasets'
``MatplotlibDataset`` calls) renders them with the Agg canvas.
"""

from __future__ import annotations

from matplotlib.figure import Figure

DPI = 100


def new_figure(width_in: float, height_in: float) -> Figure:
    return Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
