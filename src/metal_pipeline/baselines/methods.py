"""The Table 4-style comparison's runs: methods x seeds, their parameters and names (no Kedro).

A **method** is one row of the table:

* ``default`` and ``paper``: MeTAL trained with that recipe (:mod:`metal_pipeline.recipes`);
* ``l2_ae`` and ``ssim_ae``: the convolutional autoencoders of Bergmann et al. 2019
  (:mod:`metal_pipeline.baselines.conv_ae`).

Two parameters choose the runs (``conf/base/parameters_baselines.yml``): ``methods`` (``null`` or
``all``: the four, in that order; else names joined by ``+``) and ``seeds`` (as for the ablation,
:func:`metal_pipeline.grid.seed_list`). Every run trains on the split of ``seed`` (or
``ingestion.split_seed``), like a grid run of the ablation.

Each run is the Kedro namespace ``table4.<method>.s<seed>``. Its parameters
(:func:`method_params`) are the command's, with:

* for a MeTAL method, every value a recipe sets (``config``, ``masking``, ``training.lr``, ...,
  the keys of :data:`metal_pipeline.recipes.RECIPES`) taken from that method's recipe, **unless**
  the command's value differs from what the command's own recipe gives, i.e. it was set on the
  command line or in ``conf/local``: then it applies to both MeTAL rows
  (``training.max_epochs=20`` shortens both). A run is therefore named exactly like the
  ``train_eval`` or ablation run of that recipe, and a finished one is reused.
* for an autoencoder, ``model`` = ``conv_ae.model``; ``training`` = ``conv_ae.training`` plus the
  operational keys of ``training`` (device, threads, checkpoints, progress, ...); ``scoring`` =
  ``conv_ae.scoring`` with the method's map kind (``l2`` or ``ssim``). Its run name is
  :func:`metal_pipeline.run_identity.baseline_run_name`.

The namespaces' parameters come from the ``table4_grid`` config resolver
(:func:`resolve_table4_grid`), the pipeline's namespaces from :func:`method_runs` over the same
parameters, so the two always agree.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metal_pipeline import grid
from metal_pipeline.params.validate import get_path

#: Each autoencoder baseline: the loss it trains with (:mod:`metal_pipeline.baselines.loss`) and the
#: anomaly-map kind it scores with (:mod:`metal_pipeline.scoring.maps`).
BASELINES: Mapping[str, Mapping[str, str]] = {
    "l2_ae": {"loss": "l2", "map_kind": "l2"},
    "ssim_ae": {"loss": "ssim", "map_kind": "ssim"},
}
NAMESPACE_ROOT = "table4"
#: MeTAL recipes compared, in table order (names of :data:`metal_pipeline.recipes.RECIPES`).
METAL_METHODS = ("default", "paper")
#: Every method in table order.
METHODS = METAL_METHODS + tuple(BASELINES)
LABELS = {"default": "MeTAL, default recipe", "paper": "MeTAL, paper recipe",
          "l2_ae": "l2-AE (Bergmann et al. 2019)", "ssim_ae": "SSIM-AE (Bergmann et al. 2019)"}
#: Keys of ``training`` an autoencoder run shares with the command (they never change the weights),
#: plus ``deterministic``.
SHARED_TRAINING = frozenset({"progress", "log_every", "checkpoint_every", "device", "num_threads", "resume",
                             "checkpoint_root", "deterministic"})


def is_metal(method: str) -> bool:
    return method in METAL_METHODS


def check_baseline(name: str) -> str:
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    return name


def method_list(methods: Any) -> list[str]:
    """The methods of a comparison, in table order. ``None``/``"all"`` -> all four."""
    return grid.selection(methods, METHODS, "methods", "method")


@dataclass(frozen=True)
class MethodRun:
    """One run of the comparison: a method and a seed."""

    method: str
    seed: int

    @property
    def namespace(self) -> str:
        return f"{NAMESPACE_ROOT}.{self.method}.s{self.seed}"


def make_runs(methods: Any, seeds: Any, seed: Any) -> list[MethodRun]:
    """Methods x seeds, method-major (all seeds of the first method first)."""
    return [MethodRun(m, s) for m in method_list(methods) for s in grid.seed_list(seeds, seed)]


def method_runs(params: Mapping[str, Any]) -> list[MethodRun]:
    return make_runs(params.get("methods"), params.get("seeds"), params.get("seed"))


# -- parameters of one run ------------------------------------------------------------------
def _set(params: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = params
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def recipe_params(params: Mapping[str, Any], recipe: str) -> dict[str, Any]:
    """``params`` as recipe ``recipe`` gives them: each recipe-controlled value that the command's own
    recipe set is replaced by ``recipe``'s; a value set explicitly (it differs from what the command's
    recipe gives) is kept."""
    from metal_pipeline.recipes import RECIPES, resolved_recipe_value

    out = copy.deepcopy(grid._plain(dict(params)))
    current, class_name = str(params.get("recipe")), params.get("class")
    for key in RECIPES[recipe]:
        present, value = get_path(out, key)
        if not present or grid._plain(value) == resolved_recipe_value(key, current, class_name, params):
            _set(out, key, resolved_recipe_value(key, recipe, class_name, params))
    out["recipe"] = recipe
    return out


def method_params(params: Mapping[str, Any], run: MethodRun) -> dict[str, Any]:
    """The parameters of one run, as ``train_eval`` would see them (its split fixed to the shared one)."""
    params = grid._plain(dict(params))
    ingestion = grid.fixed_split(params.get("ingestion"), params.get("seed"))
    if is_metal(run.method):
        out = recipe_params(params, run.method)
        config = str(out["config"])
        return {**out, "config": config, "masking": grid.masking_of(config, out["masking"]), "seed": run.seed,
                "ingestion": ingestion, "method": run.method}
    conv = dict(params.get("conv_ae") or {})
    training = {k: v for k, v in dict(params.get("training") or {}).items() if k in SHARED_TRAINING}
    training.update(dict(conv.get("training") or {}))
    scoring = {**dict(conv.get("scoring") or {}), "map_kinds": [BASELINES[run.method]["map_kind"]]}
    return {**params, "method": run.method, "recipe": run.method, "config": run.method, "masking": "none",
            "seed": run.seed, "ingestion": ingestion, "model": dict(conv.get("model") or {}),
            "training": training, "scoring": scoring}


def run_name(params: Mapping[str, Any], run: MethodRun) -> str:
    """The run's name: its checkpoint folder under ``training.checkpoint_root`` and its MLflow run."""
    from metal_pipeline import run_identity

    own = method_params(params, run)
    return run_identity.run_name(own) if is_metal(run.method) else run_identity.baseline_run_name(own)


#: What a namespace needs besides the shared parameters (class, heatmaps, evaluation, tracking_prefix).
NAMESPACE_KEYS = ("method", "recipe", "config", "masking", "seed", "model", "training", "scoring")


def resolve_table4_grid(methods: Any, seeds: Any, seed: Any, recipe: Any, class_name: Any, config: Any,
                        masking: Any, model: Any, training: Any, scoring: Any, conv_ae: Any) -> dict[str, Any]:
    """``${table4_grid:${methods},${seeds},${seed},${recipe},${class},${config},${masking},${model},
    ${training},${scoring},${conv_ae}}``: the namespaces' parameters, ``{<method>: {s<seed>: {method,
    recipe, config, masking, seed, model, training, scoring}}}``. A bad value gives an empty grid here;
    the parameter check then reports it in one paragraph (a resolver's error would be a traceback)."""
    params = {"methods": methods, "seeds": seeds, "seed": seed, "recipe": recipe, "class": class_name,
              "config": config, "masking": masking, "model": model, "training": training, "scoring": scoring,
              "conv_ae": conv_ae}
    params = {k: grid._plain(v) for k, v in params.items()}
    out: dict[str, Any] = {}
    try:
        for run in method_runs(params):
            own = method_params(params, run)
            out.setdefault(run.method, {})[f"s{run.seed}"] = {k: own.get(k) for k in NAMESPACE_KEYS}
    except (ValueError, TypeError, KeyError):
        return {}
    return out
