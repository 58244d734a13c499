"""Kedro runners of this project.

``DaskRunner`` (``kedro run --runner=metal_pipeline.runners.DaskRunner``) needs the ``dask`` extra
(``pip install -e ".[dask]"``, part of ``dev``); it is imported only when asked for, so the
project runs without Dask installed.
"""

from __future__ import annotations

__all__ = ["DaskRunner"]


def __getattr__(name: str):
    if name == "DaskRunner":
        try:
            from .dask_runner import DaskRunner
        except ModuleNotFoundError as missing:
            if missing.name not in ("distributed", "dask"):
                raise
            raise ModuleNotFoundError(
                "DaskRunner needs Dask's distributed scheduler, which is not installed: "
                'pip install -e ".[dask]"', name=missing.name) from None
        return DaskRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
