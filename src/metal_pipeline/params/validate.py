"""Check every run parameter before any work is done (plain Python, no Kedro).

:func:`validate_params` is called by the project hook right after Kedro has
built its context: before ingestion writes anything and before kedro-mlflow
starts an MLflow run. It raises one :class:`~metal_pipeline.errors.ParameterError`
whose message is one paragraph naming every bad parameter and its fix.

Two kinds of checks:

* **values**: :data:`SCHEMA` maps a dotted parameter name to a check. Adding a
  parameter with its check is one line there. Parameters without an entry are
  accepted as they are (their own code still checks them).
* **names**: every key given on the command line (``--params``) must exist in
  the project's configuration (``conf/base`` + ``conf/<env>``), so a typo such as
  ``channels=2`` or ``trainig.lr=1`` is refused with a did-you-mean instead of
  being silently ignored. The known names are read from the loaded defaults,
  not from a list here, so keys added to ``conf/`` are known at once. Mappings
  whose keys are user-chosen (:data:`OPEN_MAPPINGS`) accept any key.
"""

from __future__ import annotations

import difflib
import importlib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from metal_pipeline.errors import ParameterError

Check = Callable[[Any], str | None]
"""A check returns None when the value is fine, else what is wrong ("must be ...")."""

#: Mappings whose keys the user chooses (e.g. ``ingestion.class_paths.<class>``).
OPEN_MAPPINGS = ("ingestion.class_paths", "ingestion.class_channels", "training.augment")

_CLASS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


# -- building blocks ---------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _as_number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def integer(low: int | None = None, optional: bool = False) -> Check:
    def check(v: Any) -> str | None:
        if v is None and optional:
            return None
        if not _is_int(v) or (low is not None and v < low):
            bound = f" >= {low}" if low is not None else ""
            return f"must be an integer{bound}{' or null' if optional else ''}"
        return None
    return check


def number(low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False, optional: bool = False) -> Check:
    def check(v: Any) -> str | None:
        if v is None and optional:
            return None
        x = _as_number(v)
        bad = x is None or not math.isfinite(x)
        if not bad and low is not None:
            bad = x <= low if low_open else x < low
        if not bad and high is not None:
            bad = x >= high if high_open else x > high
        if bad:
            lo = "" if low is None else (f" > {low:g}" if low_open else f" >= {low:g}")
            hi = "" if high is None else (f" < {high:g}" if high_open else f" <= {high:g}")
            both = " and" if lo and hi else ""
            return f"must be a number{lo}{both}{hi}"
        return None
    return check


def one_of(*choices: Any) -> Check:
    def check(v: Any) -> str | None:
        if v not in choices:
            return "must be one of " + ", ".join(str(c) for c in choices)
        return None
    return check


def project_choices(module: str, name: str) -> Check:
    """``one_of`` over a tuple that the owning module defines (imported on first use,
    so that checking parameters does not import torch at start-up)."""
    def check(v: Any) -> str | None:
        return one_of(*getattr(importlib.import_module(module), name))(v)
    return check


def project_check(module: str, name: str, what: str) -> Check:
    """The owning module's own checker (it raises ``ValueError``), imported on first use."""
    def check(v: Any) -> str | None:
        try:
            getattr(importlib.import_module(module), name)(v)
        except (TypeError, ValueError):
            return what
        return None
    return check


def boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def text(v: Any) -> str | None:
    return None if isinstance(v, str) else "must be a string"


def device(v: Any) -> str | None:
    return None if isinstance(v, str) and _DEVICE.match(v) else "must be auto, cpu, cuda or cuda:N"


def class_name(v: Any) -> str | None:
    if isinstance(v, str) and _CLASS_NAME.match(v):
        return None
    return ("must be a plain folder name (letters, digits, '_', '-', '.', '+'); a folder with another "
            "name can be used through ingestion.class_paths.<name>=<folder>")


def _configurations() -> tuple[str, ...]:
    from metal_pipeline.model.config import CONFIGURATIONS

    return tuple(CONFIGURATIONS)


def _recipes() -> tuple[str, ...]:
    from metal_pipeline.recipes import RECIPE_NAMES

    return tuple(RECIPE_NAMES)


def configuration(v: Any) -> str | None:
    return one_of(*_configurations())(v)


def masking(v: Any) -> str | None:
    from metal_pipeline.model.config import MASKING_MODES

    return one_of(*MASKING_MODES)(v)


def recipe(v: Any) -> str | None:
    return one_of(*_recipes())(v)


def _grid_check(function: str, what: str) -> Check:
    """A check by :mod:`metal_pipeline.grid` (``seeds``, ``configs`` of the ablation grid)."""
    def check(v: Any) -> str | None:
        from metal_pipeline import grid

        try:
            getattr(grid, function)(v)
        except (ValueError, TypeError) as exc:
            return f"{what} ({exc})"
        return None
    return check


#: Dotted parameter name -> check. One line per parameter.
SCHEMA: dict[str, Check] = {
    "class": class_name,
    "recipe": recipe,
    "config": configuration,
    "masking": masking,
    "seed": integer(0),
    "tracking_prefix": text,
    "seeds": _grid_check("seed_list", "must be a count (2 = seed and seed+1), a list of seeds or seeds joined by "
                                      "+ (0+3)"),
    "configs": _grid_check("config_list", "must be all, a list of configurations or configurations joined by + "
                                          "(squares+squares_rows)"),
    "methods": lambda v: _methods(v),
    "conv_ae.model.latent_dim": integer(1),
    "conv_ae.training.lr": number(0, low_open=True),
    "conv_ae.training.weight_decay": number(0),
    "conv_ae.training.batch_size": integer(1),
    "conv_ae.training.max_epochs": integer(1),
    "conv_ae.training.min_epochs": integer(0),
    "conv_ae.training.patience": integer(1),
    "ingestion.data_root": text,
    "ingestion.img_size": integer(8),
    "ingestion.channels": one_of("auto", 1, 3),
    "ingestion.split_seed": integer(0, optional=True),
    "ingestion.val_fraction": number(0, 1, low_open=True, high_open=True),
    "ingestion.head_ct.n_train_normal": integer(1),
    "ingestion.head_ct.n_test_normal": integer(1, optional=True),
    "ingestion.head_ct.n_test_anomalous": integer(1, optional=True),
    "model.patch_size": integer(1),
    "model.embed_dim": integer(1),
    "model.num_heads": integer(1),
    "model.depth": lambda v: None if v == "auto" else integer(1)(v) and "must be auto or an integer >= 1",
    "model.mlp_ratio": number(0, low_open=True),
    "model.decoder_hidden": integer(1),
    "model.decoder_layers": integer(1),
    "training.lr": number(0, low_open=True),
    "training.batch_size": integer(1),
    "training.weight_decay": number(0),
    "training.max_epochs": integer(1),
    "training.min_epochs": integer(0),
    "training.patience": integer(1),
    "training.min_delta": number(0),
    "training.device": device,
    "training.num_threads": integer(1, optional=True),
    "training.checkpoint_every": integer(1),
    "training.deterministic": boolean,
    "training.progress": boolean,
    "training.amp": project_check("metal_pipeline.training.precision", "amp_mode", "must be off or bf16"),
    "scoring.amp": project_check("metal_pipeline.training.precision", "amp_mode", "must be off or bf16"),
    "training.compile": boolean,
    "training.log_every": integer(0),
    "training.resume": one_of("auto", True, False),
    "training.checkpoint_root": text,
    "training.loss.l1_weight": number(0),
    "training.loss.ssim_weight": number(0),
    "scoring.sigma": number(0),
    "scoring.reduction": project_choices("metal_pipeline.scoring.image_score", "REDUCTIONS"),
    "scoring.map_kinds": project_check("metal_pipeline.scoring.maps", "check_kinds",
                                       "must be a non-empty list of l2, msgms, ssim, seg (e.g. [l2,msgms])"),
    "scoring.normalise": project_choices("metal_pipeline.inference.detector", "NORMALISE_MODES"),
    "scoring.offsets": project_check("metal_pipeline.inference.detector", "check_offsets",
                                     "must be a non-empty list of distinct [dy, dx] pixel shifts, e.g. [[0,0],[8,8]]"),
    "model.hole": integer(0),
    "training.lr_schedule": project_choices("metal_pipeline.training.config", "LR_SCHEDULES"),
    "training.warmup_epochs": integer(0),
    "training.augment": lambda v: _augment(v),
    "scoring.seg_head": lambda v: _seg_head(v),
    "scoring.image_kinds": lambda v: None if v is None else project_check(
        "metal_pipeline.scoring.maps", "check_kinds", "must be null or a non-empty list of l2, msgms, ssim, seg")(v),
    "scoring.region": project_choices("metal_pipeline.scoring.foreground", "REGIONS"),
    "scoring.region_erode": integer(0),
    "scoring.threshold_target_fpr": number(0, 1, low_open=True, high_open=True),
    "scoring.batch_size": integer(1),
    "heatmaps.batch_size": integer(1),
    "heatmaps.device": device,
    "heatmaps.output_root": text,
    "heatmaps.export_resolution": one_of("original", "model"),
    "evaluation.max_fpr": number(0, 1, low_open=True),
    "evaluation.resolution": one_of("original", "model"),
    "evaluation.panel_rows": integer(1),
    "predict.batch_size": integer(1),
    "predict.threshold": number(optional=True),
    "predict.device": device,
}

def _methods(v: Any) -> str | None:
    """``methods`` of the Table 4-style comparison (:mod:`metal_pipeline.baselines.methods`)."""
    from metal_pipeline.baselines.methods import method_list

    try:
        method_list(v)
    except (ValueError, TypeError) as exc:
        return f"must be all, a list of methods or methods joined by + (default+l2_ae) ({exc})"
    return None


def _augment(v: Any) -> str | None:
    from metal_pipeline.training.augment import AugmentConfig

    if v is None:
        return None
    if not isinstance(v, Mapping):
        return "must be a mapping such as {synthetic_prob: 0.5}"
    try:
        AugmentConfig.from_dict(v)
    except ValueError as exc:
        return f"is invalid: {exc}"
    return None


def _seg_head(v: Any) -> str | None:
    from metal_pipeline.training.seg_head import seg_head_configs

    if not isinstance(v, Mapping):
        return "must be a mapping such as {steps: 1500, width: 8}"
    try:
        seg_head_configs(v, channels=3, seed=0)
    except ValueError as exc:
        return f"is invalid: {exc}"
    return None


#: Fixes shown for a parameter (else: "pass e.g. --params <name>=<default>").
HINTS: dict[str, str] = {
    "ingestion.img_size": "the image size must be a multiple of model.patch_size and hold at least 2 patches "
                          "per side, e.g. ingestion.img_size=128 with model.patch_size=16",
}


# -- cross-parameter rules -----------------------------------------------------
def _cross_checks(params: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    model = params.get("model") or {}
    ingestion = params.get("ingestion") or {}
    patch, size = model.get("patch_size"), ingestion.get("img_size")
    if _is_int(patch) and _is_int(size) and patch >= 1 and size >= 8:
        if size % patch or size // patch < 2:
            yield ("ingestion.img_size",
                   f"is {size}, which must be a multiple of model.patch_size ({patch}) and at least "
                   f"{2 * patch} (2 patches per side)")
    embed, heads = model.get("embed_dim"), model.get("num_heads")
    if _is_int(embed) and _is_int(heads) and heads >= 1 and embed % heads:
        yield "model.num_heads", f"is {heads}, which must divide model.embed_dim ({embed})"
    config, mode = params.get("config"), params.get("masking")
    try:
        from metal_pipeline.model.config import CONFIGURATIONS

        allowed = CONFIGURATIONS[config].masking_modes if config in CONFIGURATIONS else None
    except ImportError:  # pragma: no cover
        allowed = None
    if allowed is not None and mode in ("none", "paper", "strict") and mode not in allowed:
        yield "masking", f"is {mode}, but configuration {config} only runs with masking " + " or ".join(allowed)


# -- public API ----------------------------------------------------------------
def get_path(params: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _unknown(given: Iterable[str], known: Iterable[str]) -> list[str]:
    """The one unknown-key check: the keys of ``given`` not in ``known``, sorted."""
    return sorted(set(given) - set(known))


def reject_unknown_keys(given: Mapping[str, Any], known: Iterable[str], subject: str) -> None:
    """``ValueError("<subject> ['typo']; known keys are [...]")`` when ``given`` has a key outside
    ``known``: the check of the configuration dataclasses' ``from_dict`` (model, training, augmentation,
    autoencoder), whose callers may be plain Python rather than the command line."""
    unknown = _unknown(given, known)
    if unknown:
        raise ValueError(f"{subject} {unknown}; known keys are {sorted(known)}")


def unknown_section_keys(section: Mapping[str, Any], known: set[str] | frozenset[str], where: str,
                         conf_file: str) -> str | None:
    """The sentence refusing keys of one parameter section that its code does not know (None if all are
    known), for library entry points called without the project hook's :func:`validate_params`."""
    unknown = _unknown(section, known)
    if not unknown:
        return None
    return (f"Unknown parameter(s) {', '.join(f'{where}.{k}' for k in unknown)}; known: "
            f"{', '.join(sorted(known))}. Fix the spelling in {conf_file} or on the --params command line.")


def flatten(params: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in params.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flatten(value, f"{dotted}.")
        else:
            yield dotted


def unknown_keys(given: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """``(dotted key, close matches)`` for each key in ``given`` that ``defaults`` does not have."""
    found = []
    for dotted in flatten(given):
        parts = dotted.split(".")
        node: Any = defaults
        for depth, part in enumerate(parts):
            here = ".".join(parts[: depth + 1])
            parent = ".".join(parts[:depth])
            if parent in OPEN_MAPPINGS:
                break
            if not isinstance(node, Mapping):
                found.append((here, []))
                break
            if part not in node:
                siblings = [f"{parent}.{k}" if parent else str(k) for k in node]
                everywhere = list(flatten(defaults))
                matches = difflib.get_close_matches(here, siblings, n=3, cutoff=0.6)
                # A top-level key that lives in a section (channels -> ingestion.channels).
                matches += [k for k in everywhere if k.endswith("." + here) and k not in matches][:3]
                if not matches:
                    matches = difflib.get_close_matches(dotted, everywhere, n=3, cutoff=0.75)
                found.append((dotted if depth == len(parts) - 1 else here, matches))
                break
            node = node[part]
    return found


def problems(params: Mapping[str, Any], given: Mapping[str, Any] | None = None,
             defaults: Mapping[str, Any] | None = None) -> list[str]:
    """Every problem, one sentence each (empty when all is well)."""
    out: list[str] = []
    if given is not None and defaults is not None:
        for key, matches in unknown_keys(given, defaults):
            hint = f" Did you mean {' or '.join(matches)}?" if matches else ""
            out.append(f"'{key}' is not a parameter of this project.{hint}")
    for name, check in SCHEMA.items():
        present, value = get_path(params, name)
        if not present:
            continue
        message = check(value)
        if message:
            hint = HINTS.get(name)
            present_default, default = get_path(defaults or {}, name)
            if not hint and present_default and default != value:
                hint = f"the configured value is {default!r}"
            out.append(f"{name}={value!r} {message}" + (f" ({hint})." if hint else "."))
    bad = {sentence.split("=", 1)[0] for sentence in out}
    for name, message in _cross_checks(params):
        if name not in bad:
            hint = HINTS.get(name)
            out.append(f"{name} {message}" + (f" ({hint})." if hint and name != "ingestion.img_size" else "."))
    return out


def validate_params(params: Mapping[str, Any], given: Mapping[str, Any] | None = None,
                    defaults: Mapping[str, Any] | None = None) -> None:
    """Raise one :class:`ParameterError` listing every problem, before anything runs.

    Args:
        params: the run's parameters (configuration merged with ``--params``).
        given: the ``--params`` given on the command line (checked for unknown names).
        defaults: the parameters of the configuration alone (the known names).
    """
    found = problems(params, given, defaults)
    if found:
        raise ParameterError(
            "Bad parameter" + ("s" if len(found) > 1 else "") + ": " + " ".join(found)
            + " Nothing was run and nothing was written. Fix it on the --params command line or in "
            "conf/base/parameters*.yml (README.md lists the run selectors, conf/base/parameters_*.yml "
            "every other parameter)."
        )
