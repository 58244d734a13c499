"""Run identity: what names every derived output. Defined here, once (no Kedro).

Three keys, each a readable prefix plus a short hash of everything that
determines the output:

* **split** (``data/05_model_input/<split>/``): data folder, class, image
  size, channels, seed, validation fraction, extensions and the labelled-folder
  (Head CT) split settings, e.g. ``bottle-128px-s0-5be2a0``.
* **run** (``data/06_models/<run>/``): the split key plus recipe,
  configuration, masking, seed and every ``model`` and ``training`` parameter
  except the purely operational ones in :data:`OPERATIONAL`, e.g.
  ``bottle-default-squares_rows-strict-s0-3f9a1c``. New keys in ``model`` or
  ``training`` change the hash automatically (an exclude list, not an include list),
  unless :data:`IDENTITY_DEFAULTS` names the value that reproduces the runs
  named before the key existed (``training.amp: off``): that value is left out.
* **scoring** (``<run>/<scoring>/`` under 06, 07 and 08): the scoring,
  heatmaps and evaluation parameters (again minus operational ones), e.g.
  ``scoring-8d41f0``. Maps, thresholds, detectors and reports live there.

:func:`identity` computes all of them from a run's parameters (the
dict Kedro builds from ``conf/`` and ``--params``); the project hook publishes
the result to the ``${run:...}`` config resolver used by the catalog and by
``mlflow.yml``, and the nodes call the same functions, so the catalog and the
nodes can never disagree.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Parameters that never change an output, per section: excluded from the hashes.
#: Everything else in these sections is included, including keys added later.
OPERATIONAL: Mapping[str, frozenset[str]] = {
    "training": frozenset({"progress", "log_every", "checkpoint_every", "device", "num_threads", "resume",
                           "checkpoint_root",
                           # torch.compile reorders floating-point work as device and num_threads do; bf16
                           # (training.amp) changes the arithmetic itself and is hashed
                           "compile"}),
    "model": frozenset(),
    "scoring": frozenset({"batch_size"}),
    "heatmaps": frozenset({"batch_size", "device", "output_root"}),
    "evaluation": frozenset(),
}

#: Keys added after runs were named, per section, with the values that reproduce those runs: left out of
#: the hashes while they hold one of them, so existing run names stay valid; any other value is hashed.
#: (``False`` for ``amp``: YAML 1.1 reads an unquoted ``off`` as false.)
IDENTITY_DEFAULTS: Mapping[str, Mapping[str, tuple[Any, ...]]] = {
    "training": {"amp": ("off", False)},
    "scoring": {"image_kinds": (None,), "amp": ("off", False)},
}

#: Sections whose (non-operational) values define the trained weights / the maps and reports.
RUN_SECTIONS = ("model", "training")
SCORING_SECTIONS = ("scoring", "heatmaps", "evaluation")

HASH_LENGTH = 6

def short_hash(value: Any, length: int = HASH_LENGTH) -> str:
    """First ``length`` hex digits of the SHA-256 of ``value``'s canonical JSON."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:length]


def canonical_json(value: Any) -> str:
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), default=str)


def _plain(value: Any) -> Any:
    """Mappings/sequences (OmegaConf or not) as plain dicts/lists; integral floats stay floats."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return value.as_posix()
    return value


def _without(section: Mapping[str, Any] | None, excluded: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in dict(section or {}).items() if k not in excluded}


def _identity_part(params: Mapping[str, Any], section: str) -> dict[str, Any]:
    """A section's values that name its outputs: without the operational keys and without the keys
    that still hold their :data:`IDENTITY_DEFAULTS` value."""
    defaults = IDENTITY_DEFAULTS.get(section, {})
    return {k: v for k, v in _without(params.get(section), OPERATIONAL[section]).items()
            if not (k in defaults and any(type(v) is type(d) and v == d for d in defaults[k]))}


def masking_of(configuration: str, masking: str) -> str:
    """The masking a configuration actually runs with (``squares_nomask`` has none)."""
    return "none" if configuration == "squares_nomask" else str(masking)


# -- the keys --------------------------------------------------------------
def class_folder(params: Mapping[str, Any]) -> str:
    """The class's raw data folder: ``ingestion.class_paths[<class>]``, else ``<ingestion.data_root>/<class>``
    (the catalog's ``raw_class_folder``; ingestion checks that it exists and has a known layout)."""
    ingestion = dict(params.get("ingestion") or {})
    class_name = str(params["class"])
    folder = dict(ingestion.get("class_paths") or {}).get(class_name)
    return os.path.normpath(str(folder or os.path.join(str(ingestion.get("data_root", "")), class_name)))


def split_fields(params: Mapping[str, Any]) -> dict[str, Any]:
    """What determines the ingested train/val/test split."""
    ingestion = dict(params.get("ingestion") or {})
    class_name = str(params["class"])
    channels = dict(ingestion.get("class_channels") or {}).get(class_name, ingestion.get("channels"))
    return {
        "class": class_name,
        "folder": class_folder(params),
        "img_size": ingestion.get("img_size"),
        # "auto" decides by pixel content since gray images stored as RGB count as gray
        "channels": "auto:content" if str(channels).lower() == "auto" else channels,
        "val_fraction": ingestion.get("val_fraction"),
        "extensions": ingestion.get("extensions"),
        "head_ct": ingestion.get("head_ct"),
        # the split's own seed when fixed (ingestion.split_seed), else the run seed
        "seed": params.get("seed") if ingestion.get("split_seed") is None else ingestion.get("split_seed"),
    }


def split_name(params: Mapping[str, Any]) -> str:
    fields = split_fields(params)
    return f"{fields['class']}-{fields['img_size']}px-s{fields['seed']}-{short_hash(fields)}"


def run_fields(params: Mapping[str, Any], configuration: str | None = None,
               masking: str | None = None) -> dict[str, Any]:
    """What determines the trained weights: the split plus recipe, configuration,
    masking, seed and the non-operational ``model`` and ``training`` parameters."""
    configuration = str(configuration if configuration is not None else params["config"])
    masking = masking_of(configuration, masking if masking is not None else params["masking"])
    fields: dict[str, Any] = {
        "split": split_fields(params),
        "recipe": params.get("recipe"),
        "config": configuration,
        "masking": masking,
        "seed": params.get("seed"),
    }
    for section in RUN_SECTIONS:
        fields[section] = _identity_part(params, section)
    return fields


def run_name(params: Mapping[str, Any], configuration: str | None = None, masking: str | None = None) -> str:
    """``<class>-<recipe>-<config>-<masking>-s<seed>-<hash>``: the folder under
    ``data/06_models`` and the MLflow run name."""
    fields = run_fields(params, configuration, masking)
    return "-".join([fields["split"]["class"], str(fields["recipe"]), fields["config"], fields["masking"],
                     f"s{fields['seed']}", short_hash(fields)])


def scoring_rule_fields(scoring: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``scoring`` section's values that change a detector: without operational keys and
    :data:`IDENTITY_DEFAULTS`, and without the discriminative head's settings unless a map kind uses
    the head. Both the scoring folder's name and the registry's ``detector_key`` use it."""
    fields = _identity_part({"scoring": scoring}, "scoring")
    used = list(fields.get("map_kinds") or []) + list(fields.get("image_kinds") or [])
    if "seg" not in used:
        fields.pop("seg_head", None)
    return fields


def scoring_fields(params: Mapping[str, Any]) -> dict[str, Any]:
    return {section: scoring_rule_fields(params.get(section)) if section == "scoring" else
            _identity_part(params, section) for section in SCORING_SECTIONS}


def scoring_name(params: Mapping[str, Any]) -> str:
    """``scoring-<hash>``: the sub-folder of a run for its maps, detector and reports."""
    return f"scoring-{short_hash(scoring_fields(params))}"


def ablation_name(params: Mapping[str, Any]) -> str:
    """``<class>-<recipe>-ablation-<masking>-<seeds>-<hash>``: the ablation's folder (its tables and
    each run's reports). The hash covers everything the runs share (split, model, training, scoring)
    and, when they are not the defaults, the grid's seeds and configurations (``seeds``, ``configs``,
    see :mod:`metal_pipeline.grid`). ``<seeds>`` is ``s0`` for one seed, ``s0..4`` for a range."""
    from metal_pipeline import grid

    fields = {k: v for k, v in run_fields(params).items() if k not in ("config", "masking")}
    fields["masking"] = str(params["masking"])
    fields["scoring"] = scoring_fields(params)
    try:
        seeds = grid.seed_list(params.get("seeds"), params.get("seed"))
        configs = grid.config_list(params.get("configs"))
    except (ValueError, TypeError):  # the parameter check reports it; the name only needs to be stable
        seeds, configs = [params.get("seed")], None
    if seeds != [params.get("seed")]:
        fields["seeds"] = seeds
    if configs is not None and configs != list(grid.configurations()):
        fields["configs"] = configs
    return "-".join([str(params["class"]), str(params.get("recipe")), "ablation", str(params["masking"]),
                     grid.seeds_label(seeds), short_hash(fields)])


def baseline_run_fields(params: Mapping[str, Any]) -> dict[str, Any]:
    """What determines a baseline's trained weights (:mod:`metal_pipeline.baselines`): the split, the
    method (``l2_ae``, ``ssim_ae``), the seed and the non-operational ``model`` and ``training`` values."""
    return {"split": split_fields(params), "method": str(params["method"]), "seed": params.get("seed"),
            **{section: _identity_part(params, section) for section in RUN_SECTIONS}}


def baseline_run_name(params: Mapping[str, Any]) -> str:
    """``<class>-<method>-s<seed>-<hash>`` (``bottle-ssim_ae-s0-1c9e4b``): a baseline's checkpoint folder
    under ``data/06_models`` and its MLflow run name. ``params`` are the run's own
    (:func:`metal_pipeline.baselines.methods.method_params`)."""
    fields = baseline_run_fields(params)
    return "-".join([fields["split"]["class"], fields["method"], f"s{fields['seed']}", short_hash(fields)])


def table4_name(params: Mapping[str, Any]) -> str:
    """``<class>-table4-<seeds>-<hash>``: the folder of the Table 4-style comparison (its table and each
    run's outputs). The hash covers every run's name and scoring key (so the methods, the seeds, the split
    and every parameter of every run) and the shared heatmaps and evaluation parameters."""
    from metal_pipeline import grid
    from metal_pipeline.baselines import methods

    try:
        runs = methods.method_runs(params)
        seeds = list(dict.fromkeys(run.seed for run in runs))
        fields: Any = [[run.method, run.seed, methods.run_name(params, run),
                        scoring_name(methods.method_params(params, run))] for run in runs]
    except (ValueError, TypeError, KeyError):  # the parameter check reports it; the name only needs to be stable
        seeds, fields = [params.get("seed")], None
    return "-".join([str(params["class"]), "table4", grid.seeds_label(seeds), short_hash(fields)])


# -- everything at once ----------------------------------------------------
@dataclass(frozen=True)
class RunIdentity:
    """The names of one run's outputs (published to the ``${run:<field>}`` resolver)."""

    split: str
    name: str
    scoring: str
    ablation: str
    table4: str
    class_folder: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def identity(params: Mapping[str, Any]) -> RunIdentity:
    return RunIdentity(split=split_name(params), name=run_name(params), scoring=scoring_name(params),
                       ablation=ablation_name(params), table4=table4_name(params),
                       class_folder=class_folder(params))


def run_dir(checkpoint_root: str | os.PathLike, name: str) -> Path:
    """Where one run keeps ``checkpoints/`` and ``training_summary.json``."""
    return Path(checkpoint_root) / name


def legacy_run_dirs(project: str | os.PathLike, class_name: str, layers: Mapping[str, str]) -> list[Path]:
    """Outputs of the old ``<class>/<config>-<masking>`` layout (and ``<model_input>/<class>/``).

    ``layers``: the data layers' folders relative to ``project`` (``layers`` in conf/base/globals.yml)."""
    project = Path(project)
    found: list[Path] = []
    split = project / layers["model_input"] / class_name
    if split.is_dir() and any(split.glob("*.npz")):
        found.append(split)
    for layer in ("models", "model_output", "reporting"):
        folder = project / layers[layer] / class_name
        if folder.is_dir():
            found.extend(sorted(p for p in folder.iterdir() if p.is_dir() and "-" in p.name))
    return found


# -- data digests (the split fingerprint recorded with a model) -------------
def array_digest(*arrays: Any) -> str:
    """16 hex digits of the SHA-256 over the arrays' shapes, dtypes and bytes."""
    import numpy as np

    h = hashlib.sha256()
    for array in arrays:
        a = np.ascontiguousarray(array)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:16]


def image_set_digest(image_set: Any) -> str:
    """Digest of an ``ImageSet``: its images and their names (what a split hands on)."""
    import numpy as np

    return array_digest(image_set.images, np.asarray(list(image_set.names), dtype=str))


def split_manifest(params: Mapping[str, Any], train: Any, val: Any, test: Any) -> dict[str, Any]:
    """What a split is: its name, the parameters that made it and a digest of each set."""
    return {
        "split": split_name(params),
        "fields": _plain(split_fields(params)),
        "digests": {"train": image_set_digest(train), "val": image_set_digest(val),
                    "test": image_set_digest(test)},
        "sizes": {"train": len(train), "val": len(val), "test": len(test)},
    }
