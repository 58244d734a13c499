"""Run grids: every configuration x seed of an ablation as its own run (issue 12). No Kedro imports.

Two parameters choose the grid (``conf/base/parameters_ablation.yml``):

* ``configs``: the configurations, in the paper's Table 3 order whatever order
  they are given in. ``null`` or ``all`` is all six; else a list
  (``[squares, squares_rows]`` in YAML) or one string separated by ``+`` or
  spaces (``--params configs=squares+squares_rows``; Kedro splits
  ``--params`` at commas, so ``[a,b]`` cannot be typed there).
* ``seeds``: ``null`` is the one seed ``seed``; a count ``n`` is
  ``seed, seed+1, ..., seed+n-1`` (``seeds=2`` with the default ``seed=0``
  is seeds 0 and 1); a list (``[0, 3]``) or a ``+``/space separated string
  (``seeds=0+3``) names the seeds.

Every run of a grid trains on the **same split**: the one of ``seed`` (or of
``ingestion.split_seed`` when that is set). A grid seed varies the
initialisation and the training order only, so the spread over seeds is the
model's, not the split's. :func:`run_params` therefore fixes
``ingestion.split_seed`` in each run's parameters, and the run's name
(:func:`metal_pipeline.run_identity.run_name`) records that split.

**Seeds of the main command.** ``train_eval`` (and the default pipeline) with
``seeds`` given is the grid of its one configuration ``config`` over those
seeds: the same namespaces, catalogued outputs, nested MLflow runs and table as
``ablation --params configs=<config>,seeds=...`` (:func:`command_params`).
Without ``seeds`` it is one run, as before.

Each run is the Kedro namespace ``ablation.<config>.s<seed>``
(:attr:`GridRun.namespace`). The parameters of those namespaces come from the
``ablation_grid`` config resolver (:func:`resolve_ablation_grid`), the
pipeline's namespaces from :func:`grid_runs` over the same parameters, so the
two always agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NAMESPACE_ROOT = "ablation"
_NAMESPACE = re.compile(rf"^{NAMESPACE_ROOT}\.(?P<config>[A-Za-z0-9_]+)\.s(?P<seed>\d+)$")
_SEPARATORS = re.compile(r"[+\s;,]+")


def configurations() -> tuple[str, ...]:
    """The six configurations in the paper's Table 3 order."""
    from metal_pipeline.model.config import CONFIGURATIONS

    return tuple(CONFIGURATIONS)


def _items(value: Any) -> list[Any]:
    """A list from a list, a tuple or a ``+``/space separated string."""
    if isinstance(value, str):
        return [v for v in _SEPARATORS.split(value.strip().strip("[]")) if v]
    if isinstance(value, Sequence):
        return list(value)
    return [value]


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer >= 0, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ValueError(f"{what} must be an integer >= 0, got {value!r}")
    if number < 0:
        raise ValueError(f"{what} must be an integer >= 0, got {value!r}")
    return number


def seed_list(seeds: Any, seed: Any = 0) -> list[int]:
    """The seeds of a grid: ``None`` -> ``[seed]``; a count ``n`` -> ``seed .. seed+n-1``;
    a list or ``"0+3"`` -> those seeds. Raises ``ValueError`` for anything else."""
    base = _as_int(0 if seed is None else seed, "seed")
    if seeds is None or (isinstance(seeds, str) and seeds.strip().lower() in ("", "null", "none")):
        return [base]
    if isinstance(seeds, (int, float)) and not isinstance(seeds, bool) or (
            isinstance(seeds, str) and seeds.strip().isdigit()):
        count = _as_int(seeds, "seeds (a count)")
        if count < 1:
            raise ValueError("seeds (a count) must be at least 1")
        return list(range(base, base + count))
    values = [_as_int(v, "each seed") for v in _items(seeds)]
    if not values:
        raise ValueError("seeds must name at least one seed")
    if len(set(values)) != len(values):
        raise ValueError(f"seeds {values} repeats a seed")
    return values


def selection(value: Any, known: Sequence[str], parameter: str, noun: str) -> list[str]:
    """The items of ``known`` that parameter ``value`` names (``a+b``, a list), in ``known``'s order;
    ``None``/``"all"`` -> all of them. An unknown or empty choice is a ``ValueError`` naming ``noun``."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "all", "null", "none")):
        return list(known)
    wanted = [str(v) for v in _items(value)]
    unknown = [v for v in wanted if v not in known]
    if unknown:
        raise ValueError(f"unknown {noun}(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if not wanted:
        raise ValueError(f"{parameter} must name at least one {noun}")
    return [k for k in known if k in wanted]


def config_list(configs: Any) -> list[str]:
    """The configurations of a grid, in the paper's order. ``None``/``"all"`` -> all six."""
    return selection(configs, configurations(), "configs", "configuration")


def seeds_label(seeds: Sequence[int]) -> str:
    """``s0`` for one seed, ``s0..4`` for a range, ``s0+3`` otherwise (part of the ablation's folder name)."""
    seeds = list(seeds)
    if len(seeds) == 1:
        return f"s{seeds[0]}"
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"s{seeds[0]}..{seeds[-1]}"
    return "s" + "+".join(str(s) for s in seeds)


@dataclass(frozen=True)
class GridRun:
    """One run of a grid: a configuration, the masking it actually runs with, a seed."""

    config: str
    masking: str
    seed: int

    @property
    def namespace(self) -> str:
        return f"{NAMESPACE_ROOT}.{self.config}.s{self.seed}"


def parse_namespace(namespace: str | None) -> tuple[str, int] | None:
    """``("squares", 1)`` for ``"ablation.squares.s1"``; ``None`` for anything else."""
    match = _NAMESPACE.match(namespace or "")
    return (match["config"], int(match["seed"])) if match else None


def masking_of(configuration: str, masking: Any) -> str:
    from metal_pipeline.run_identity import masking_of as _masking_of

    return _masking_of(configuration, str(masking))


def make_grid(configs: Any, seeds: Any, seed: Any, masking: Any) -> list[GridRun]:
    """Configurations x seeds, configuration-major (all seeds of the first configuration first)."""
    return [GridRun(c, masking_of(c, masking), s) for c in config_list(configs) for s in seed_list(seeds, seed)]


def grid_runs(params: Mapping[str, Any]) -> list[GridRun]:
    """The runs of the grid that ``params`` (a run's parameters) choose."""
    return make_grid(params.get("configs"), params.get("seeds"), params.get("seed"), params.get("masking"))


#: Pipelines that become the grid of their one configuration over ``seeds`` when ``seeds`` is given.
SEEDED_PIPELINES = frozenset({"train_eval", "__default__"})
GRID_PIPELINE = "ablation"


def has_seeds(params: Mapping[str, Any]) -> bool:
    """Whether ``seeds`` is given (``null``, ``none`` or an empty string is not)."""
    seeds = params.get("seeds")
    return not (seeds is None or (isinstance(seeds, str) and seeds.strip().lower() in ("", "null", "none")))


def is_grid_command(params: Mapping[str, Any], pipeline_names: Sequence[str] | None) -> bool:
    """Whether a ``kedro run`` of ``pipeline_names`` (``None``: the default pipeline) runs a grid."""
    names = set(pipeline_names or ["__default__"])
    return GRID_PIPELINE in names or bool(names & SEEDED_PIPELINES and has_seeds(params))


def command_params(params: Mapping[str, Any], pipeline_names: Sequence[str] | None) -> dict[str, Any]:
    """The parameters a command's grid is built and named from.

    ``train_eval`` with ``seeds`` runs its one configuration: ``configs`` is set to ``config``, so
    the grid, its folder (:func:`metal_pipeline.run_identity.ablation_name`) and its MLflow parent
    run are those of ``ablation --params configs=<config>`` with the same seeds. Any other command's
    parameters are returned unchanged.
    """
    names = set(pipeline_names or ["__default__"])
    if GRID_PIPELINE not in names and names & SEEDED_PIPELINES and has_seeds(params):
        return {**dict(params), "configs": params.get("config")}
    return dict(params)


def seed_grid(params: Mapping[str, Any]) -> list[GridRun]:
    """The runs of ``train_eval`` with ``seeds``: ``config`` over the seeds (empty without ``seeds``)."""
    if not has_seeds(params):
        return []
    return make_grid(params.get("config"), params.get("seeds"), params.get("seed"), params.get("masking"))


def split_seed(ingestion: Mapping[str, Any] | None, seed: Any) -> int:
    """The seed of the split every run of a grid trains on."""
    fixed = (ingestion or {}).get("split_seed")
    return _as_int(seed if fixed is None else fixed, "split seed")


def fixed_split(ingestion: Mapping[str, Any] | None, seed: Any) -> dict[str, Any]:
    """``ingestion`` with ``split_seed`` set to the split the grid shares."""
    return {**dict(ingestion or {}), "split_seed": split_seed(ingestion, seed)}


def run_params(params: Mapping[str, Any], run: GridRun) -> dict[str, Any]:
    """The parameters of one run of the grid, as ``train_eval`` would see them (for its run name)."""
    return {**dict(params), "config": run.config, "masking": run.masking, "seed": run.seed,
            "ingestion": fixed_split(params.get("ingestion"), params.get("seed"))}


def run_name(params: Mapping[str, Any], run: GridRun) -> str:
    from metal_pipeline.run_identity import run_name as _run_name

    return _run_name(run_params(params, run))


# -- config resolvers (settings.py) ------------------------------------------------
def _plain(value: Any) -> Any:
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(value):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return value


def resolve_ablation_grid(configs: Any = None, seeds: Any = None, seed: Any = 0, masking: Any = "strict",
                          config: Any = None) -> dict[str, Any]:
    """``${ablation_grid:${configs},${seeds},${seed},${masking},${config}}``: the namespaces' parameters,
    ``{<config>: {s<seed>: {config, masking, seed}}}``, for the ablation's ``configs`` and for
    ``config`` (the grid of ``train_eval`` with seeds). A bad value gives an empty grid here; the
    parameter check then reports it in one paragraph (a resolver's error would be a traceback)."""
    try:
        runs = make_grid(_plain(configs), _plain(seeds), _plain(seed), _plain(masking))
        if config is not None:
            runs += make_grid(_plain(config), _plain(seeds), _plain(seed), _plain(masking))
    except (ValueError, TypeError):
        return {}
    grid: dict[str, Any] = {}
    for run in runs:
        grid.setdefault(run.config, {})[f"s{run.seed}"] = {"config": run.config, "masking": run.masking,
                                                           "seed": run.seed}
    return grid


def resolve_fixed_split(ingestion: Any = None, seed: Any = 0) -> dict[str, Any]:
    """``${fixed_split:${ingestion},${seed}}``: the ingestion parameters every grid run is named with."""
    ingestion = _plain(ingestion) or {}
    try:
        return fixed_split(ingestion, _plain(seed))
    except (ValueError, TypeError):
        return dict(ingestion)
