"""A grid of runs as one Kedro pipeline, as in modular-spaceflights: one template per run in its own
namespace, sharing the data split and the parameters named, plus a table node that gathers every
run's metrics table and training summary. The ablation (configurations x seeds) and the Table 4-style
comparison (methods x seeds) are both built this way.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from kedro.pipeline import Node, Pipeline

#: The data every run of a grid shares (one split and the class's masks, outside the namespaces).
SHARED_INPUTS = {"train_set", "val_set", "test_set", "split_manifest", "raw_masks"}
#: What the table node receives from each run, keyed ``<label>__s<seed>__<what>``.
TABLE_INPUTS = (("metrics", "metrics_table"), ("summary", "training_summary"))


def namespaced_runs(runs: Iterable[Any], template: Callable[[Any], Pipeline],
                    shared_parameters: Sequence[str]) -> Pipeline:
    """``template(run)`` in the namespace ``run.namespace`` for every run; ``params:<name>`` of
    ``shared_parameters`` stay outside it, and every run is named with the split the grid shares
    (``params:ablation_ingestion``: ``ingestion.split_seed`` fixed, :mod:`metal_pipeline.grid`)."""
    parameters = {f"params:{p}": f"params:{p}" for p in shared_parameters}
    parameters["params:ingestion"] = "params:ablation_ingestion"
    return sum((Pipeline(template(run), namespace=run.namespace, inputs=SHARED_INPUTS, parameters=parameters)
                for run in runs), Pipeline([]))


def table_node(runs: Iterable[Any], label: Callable[[Any], str], func: Callable[..., Any],
               outputs: list[str], name: str, inputs: dict[str, str] | None = None) -> Pipeline:
    """One node ``func(**inputs, <label>__s<seed>__metrics=..., <label>__s<seed>__summary=...)`` over
    every run's ``metrics_table`` and ``training_summary``."""
    local = {f"{label(run)}__s{run.seed}__{what}": f"{run.namespace}.{dataset}"
             for run in runs for what, dataset in TABLE_INPUTS}
    with warnings.catch_warnings():
        # Mapping onto the namespaced names ("<root>.<label>.s<seed>.metrics_table") is the documented way
        # to consume namespace outputs; Kedro still warns about the dots.
        warnings.filterwarnings("ignore", message=".*dataset names contain '.' characters.*")
        return Pipeline([Node(func, inputs={**(inputs or {}), **{key: key for key in local}}, outputs=outputs,
                              name=name)], inputs=local)
