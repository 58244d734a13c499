"""Project pipelines: one package per concern, plus the chains users run.

An explicit registry rather than ``find_pipelines``: Kedro 1.7's discovery
loads only the pipeline folders named on the command line, and ``train_eval``
is a chain of four of them, not a folder.

**The ablation grid and ``--params``.** The ablation's namespaces (one per
configuration x seed, :mod:`metal_pipeline.grid`) depend on the ``configs``
and ``seeds`` parameters, but Kedro calls :func:`register_pipelines` without
any parameters. The project hook therefore hands this module the session's
config loader (:func:`use_config_loader`) as soon as Kedro has built the
context, which is before anything reads the registry in ``kedro run``
(Kedro's first read is the parameter validation that the hook itself
triggers); :func:`register_pipelines` then reads ``configs``, ``seeds``,
``seed`` and ``masking`` from it, ``--params`` included. Without a session
(``kedro registry``, a notebook that imports this module) or with a bad
value (which the parameter check then reports), the grid is the default:
all six configurations, seed 0. ``kedro viz`` creates a session, so it draws
the configured grid.

**Seeds of the main command.** The same parameters decide ``train_eval``:
without ``seeds`` it is the chain of the four pipelines (one run, as always);
with ``seeds`` it is ingestion plus the ablation's grid template over
``config`` x those seeds, and the ablation's table node
(:func:`metal_pipeline.grid.seed_grid`). Which pipeline a command runs is
needed only to *name* its grid (``train_eval`` with seeds is named like
``ablation --params configs=<config>``); the project hook reads it from
:func:`requested_pipelines`.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.pipeline import Pipeline

from metal_pipeline import grid
from metal_pipeline.baselines import methods
from metal_pipeline.pipelines import ablation, baselines, evaluation, heatmaps, ingestion, predict, stages, training

logger = logging.getLogger(__name__)

_SESSION: dict[str, Any] = {}   # "loader": the running session's config loader
_BUILT: dict[str, Any] = {}     # "runs": the grid the registry was last built with


def _grids() -> tuple[list[grid.GridRun], list[grid.GridRun]]:
    """The ablation's grid and the seed grid of ``train_eval`` (empty: one run) of the session's parameters."""
    loader = _SESSION.get("loader")
    default = grid.make_grid(None, None, 0, "strict"), []
    if loader is None:
        return default
    try:
        params = dict(loader["parameters"])
        return grid.grid_runs(params), grid.seed_grid(params)
    except Exception:  # noqa: BLE001 - a bad value is reported by the parameter check, with its fix
        logger.debug("Grids from the default parameters (the configured ones do not parse)", exc_info=True)
        return default


def _table4_runs() -> list[methods.MethodRun]:
    """The Table 4-style comparison's runs (``methods`` x ``seeds``) of the session's parameters."""
    loader = _SESSION.get("loader")
    default = methods.make_runs(None, None, 0)
    if loader is None:
        return default
    try:
        return methods.method_runs(dict(loader["parameters"]))
    except Exception:  # noqa: BLE001 - a bad value is reported by the parameter check, with its fix
        logger.debug("Comparison runs from the default parameters (the configured ones do not parse)",
                     exc_info=True)
        return default


def requested_pipelines() -> list[str] | None:
    """The pipelines ``kedro run`` was asked for (``None``: the default pipeline, or unknown).

    Kedro stores them before it builds the context (``KedroSession.run``); read where the project
    hook names the run, before the catalog is built.
    """
    try:
        from kedro.framework.project import pipelines

        requested = getattr(pipelines, "_requested_pipelines", None)
    except Exception:  # noqa: BLE001 - another Kedro version: the default pipeline
        return None
    return list(requested) if requested else None


def use_config_loader(loader) -> None:
    """Build the ablation grid from ``loader``'s parameters (``--params`` included) from now on.

    Called by the project hook when Kedro has built a context. If the registry was already built
    for another grid in this process (a second session in a notebook), Kedro's cached registry is
    dropped so that the next read builds it again.
    """
    _SESSION["loader"] = loader
    if "runs" not in _BUILT or (_BUILT["runs"] == _grids() and _BUILT.get("table4") == _table4_runs()):
        return
    try:
        from kedro.framework.project import pipelines

        module = getattr(pipelines, "_pipelines_module", None)
        requested = getattr(pipelines, "_requested_pipelines", None)
        if module is not None:
            pipelines.configure(module)
            pipelines.set_requested(requested)
    except Exception:  # noqa: BLE001 - private attributes of another Kedro version: keep the cache
        logger.debug("Could not reset Kedro's pipeline registry", exc_info=True)


def register_pipelines() -> dict[str, Pipeline]:
    """``train_eval`` = ingestion -> training -> heatmaps -> evaluation (the main command); with
    ``seeds``, ingestion -> one training -> heatmaps -> evaluation per seed -> the table.

    The four stages (and ``train_eval`` without ``seeds``) put each stage's nodes in the stage's
    namespace (``heatmaps.score_test_set``), so kedro viz draws them as groups; the grids keep their
    own namespaces, one per run (:mod:`metal_pipeline.pipelines.stages`).

    ``ablation`` and ``baselines`` (the Table 4-style comparison, :mod:`metal_pipeline.baselines.methods`)
    bring their own ingestion; ``predict`` needs only a trained model and a folder of images.
    """
    runs, seed_runs = _grids()
    _BUILT["runs"] = runs, seed_runs
    split = ingestion.create_pipeline()  # a grid's runs share it outside any namespace (stages.py)
    plain = {"ingestion": split, "training": training.create_pipeline(), "heatmaps": heatmaps.create_pipeline(),
             "evaluation": evaluation.create_pipeline()}
    # each stage its own namespace: a group in kedro viz, no dataset renamed
    pipelines = {name: stages.as_stage(name, plain[name]) for name in stages.STAGES}
    if seed_runs:
        pipelines["train_eval"] = split + ablation.create_pipeline(seed_runs)
    else:
        pipelines["train_eval"] = sum(pipelines.values(), Pipeline([]))
    pipelines["ablation"] = split + ablation.create_pipeline(runs)
    _BUILT["table4"] = table4_runs = _table4_runs()
    pipelines["baselines"] = split + baselines.create_pipeline(table4_runs)
    pipelines["predict"] = predict.create_pipeline()
    pipelines["__default__"] = pipelines["train_eval"]
    return pipelines
