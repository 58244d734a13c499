"""The detector file (``detector.pt``): a plain payload that loads with ``torch.load(weights_only=True)``.

The training pipeline writes the scored detector to
``data/06_models/<run>/<scoring>/detector.pt`` and logs the same file as the
``detector`` artifact of the registered pyfunc model. The file holds only
tensors and plain Python values, never a pickled Python object::

    {"format": "metal-detector", "version": 1,
     "model_config": MeTALConfig.to_dict(),       # str / int / float values
     "state_dict": {name: tensor},                # the network's weights
     "scoring": {"sigma", "reduction", "map_kinds", "image_kinds" (version 2), "offsets",
                 "normalise", "region", "region_erode", "threshold", "amp" (version 3)},
     "norm_stats": {map kind: {"mean": tensor, "std": tensor}},
     "seg_head": None | {"config": SegHeadConfig.to_dict(), "state_dict": {name: tensor}},  # version 2
     "metadata": {...}}                          # JSON values (class, run name, split, ...)

Version 2 added ``seg_head`` (the discriminative head behind map kind
``seg``) and ``scoring.image_kinds``; version-1 files have neither and load
as before. Version 3 added ``scoring.amp`` (``off`` | ``bf16``: the network's
arithmetic when scoring); older files load with ``off``, as they were scored.

so reading it runs no code stored in it: :func:`load_detector` uses
``torch.load(..., weights_only=True)`` and rebuilds the ``AnomalyDetector``
with :func:`from_payload`. Scores of the rebuilt detector equal the saved
one's bit for bit.

Older files (before this format) are a whole pickled ``AnomalyDetector``.
Unpickling runs code stored in the file, so they are refused by default with
one paragraph naming the file and the fix. Two explicit ways load them, for
files you produced yourself:

* convert them once, in place, keeping the original as ``<file>.pickled``::

      python -m metal_pipeline.inference.detector_file convert data/06_models/*/scoring-*/detector.pt

* or allow pickle for one command or call: ``METAL_ALLOW_PICKLE=1`` in the
  environment, or ``allow_pickle=True`` in Python. Each such load logs a
  warning that it runs pickle code from that file.

Either way only a file whose first pickled object is one of this project's
classes is unpickled (a file that starts with, say, ``os.system`` is refused
even then); that catches mistakes, it is not a security boundary: a crafted
file can start with a project class. Unpickle only files you produced.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metal_pipeline.data.errors import DataError
from metal_pipeline.utils.atomic import atomic_path

logger = logging.getLogger(__name__)

FORMAT = "metal-detector"
VERSION = 3
ALLOW_PICKLE_ENV = "METAL_ALLOW_PICKLE"
PICKLED_SUFFIX = ".pickled"
CONVERT_COMMAND = "python -m metal_pipeline.inference.detector_file convert"
_TRUE = {"1", "true", "yes", "on"}
_CONVERTING = "you asked to convert it"


class DetectorFileError(DataError):
    """A detector file cannot be loaded: missing, corrupt, not a detector, or pickled and not allowed.

    Attributes:
        pickled_global: for a pickled file that was refused, the first global
            ``weights_only=True`` refused (e.g. ``metal_pipeline.inference.detector.AnomalyDetector``).
    """

    def __init__(self, message: str, pickled_global: str | None = None) -> None:
        super().__init__(message)
        self.pickled_global = pickled_global


# -- payload ---------------------------------------------------------------
def to_payload(detector) -> dict[str, Any]:
    """The detector as tensors and plain values (the file's content; see the module docstring)."""
    from metal_pipeline.model import MeTAL

    net = detector.net
    if not isinstance(net, MeTAL):
        raise TypeError(f"only a detector of a MeTAL network can be saved, got a {type(net).__name__}")
    settings = detector.scoring_settings()  # older pickled detectors get their defaults here
    scoring = {
        "sigma": float(settings["sigma"]),
        "reduction": str(settings["reduction"]),
        "map_kinds": [str(k) for k in settings["map_kinds"]],
        "image_kinds": None if settings.get("image_kinds") is None else [str(k) for k in settings["image_kinds"]],
        "offsets": [[int(dy), int(dx)] for dy, dx in settings["offsets"]],
        "normalise": str(settings["normalise"]),
        "region": str(settings["region"]),
        "region_erode": int(settings["region_erode"]),
        "threshold": None if detector.threshold is None else float(detector.threshold),
        "amp": str(settings.get("amp", "off")),
    }
    stats = getattr(detector, "norm_stats", {}) or {}
    head = getattr(detector, "seg_head", None)
    return {
        "format": FORMAT,
        "version": VERSION,
        "model_config": net.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "scoring": scoring,
        "norm_stats": {str(k): {"mean": _tensor(mean), "std": _tensor(std)} for k, (mean, std) in stats.items()},
        "seg_head": None if head is None else {
            "config": head.config.to_dict(),
            "state_dict": {k: v.detach().cpu().clone() for k, v in head.state_dict().items()}},
        "metadata": _json_values(dict(getattr(detector, "metadata", {}) or {})),
    }


def from_payload(payload: Mapping[str, Any], source: str = "the detector file"):
    """An ``AnomalyDetector`` (in eval mode, on the CPU) from :func:`to_payload`'s dict."""
    from metal_pipeline.inference.detector import AnomalyDetector
    from metal_pipeline.model import MeTAL, MeTALConfig

    _check_payload(payload, source)
    try:
        config = MeTALConfig.from_dict(payload["model_config"])
        with torch.random.fork_rng(devices=[]):  # building the net draws initial weights: leave the RNG as it was
            net = MeTAL(config)
        net.load_state_dict(payload["state_dict"], strict=True)
        head = None
        if payload.get("seg_head") is not None:
            from metal_pipeline.model.seg_head import SegHead

            head = SegHead.from_state(payload["seg_head"]["config"], payload["seg_head"]["state_dict"])
        scoring = dict(payload["scoring"])
        detector = AnomalyDetector(
            net, sigma=scoring["sigma"], reduction=scoring["reduction"], threshold=scoring["threshold"],
            metadata=dict(payload.get("metadata") or {}), map_kinds=scoring["map_kinds"],
            offsets=scoring["offsets"], normalise=scoring["normalise"], region=scoring["region"],
            region_erode=scoring["region_erode"], seg_head=head, image_kinds=scoring.get("image_kinds"),
            amp=scoring.get("amp", "off"))
        detector.norm_stats = {k: (v["mean"].numpy().copy(), v["std"].numpy().copy())
                               for k, v in dict(payload.get("norm_stats") or {}).items()}
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise DetectorFileError(
            f"{_capital(source)} is a {FORMAT} file of version {payload.get('version')} but its content is "
            f"inconsistent ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}). Fix: write it again with "
            "the training pipeline (kedro run --pipelines=train_eval ...) of this project.") from exc
    return detector.eval()


def _check_payload(payload: Any, source: str) -> None:
    if not isinstance(payload, Mapping) or payload.get("format") != FORMAT:
        keys = sorted(map(str, payload))[:8] if isinstance(payload, Mapping) else []
        hint = (" It looks like a training checkpoint (best.pt / last.pt: weights and optimiser state, no "
                "scoring rule or threshold)." if {"model", "epoch"} <= set(keys) else "")
        what = f"a dict with keys {keys}" if keys else f"a {type(payload).__name__}"
        raise DetectorFileError(
            f"{_capital(source)} is not a MeTAL detector file (format '{FORMAT}'): it holds {what}.{hint} Fix: use "
            "the detector.pt written by the training pipeline (data/06_models/<run>/<scoring>/detector.pt) or a "
            "model it registered (metal-<class>-<recipe>-<config>-<masking>).")
    version = payload.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise DetectorFileError(
            f"{_capital(source)} is a {FORMAT} file of version {version!r}; this code reads versions 1 to "
            f"{VERSION}. Fix: load it with the version of metal_pipeline that wrote it, or update this one.")


# -- files -----------------------------------------------------------------
def save_detector(detector, path: str | os.PathLike) -> None:
    """Write ``detector`` to ``path`` atomically (the previous file stays until the new one is whole)."""
    payload = to_payload(detector)
    with atomic_path(Path(path)) as tmp:
        torch.save(payload, tmp)


def pickle_allowed(allow_pickle: bool | None = None) -> bool:
    """``allow_pickle`` if given, else whether ``METAL_ALLOW_PICKLE`` is set to 1 / true / yes / on."""
    if allow_pickle is not None:
        return bool(allow_pickle)
    return os.environ.get(ALLOW_PICKLE_ENV, "").strip().lower() in _TRUE


def load_detector(path: str | os.PathLike, device: str = "cpu", *, allow_pickle: bool | None = None,
                  source: str | None = None, pickle_fix: str | None = None):
    """The ``AnomalyDetector`` in ``path``, read with ``torch.load(weights_only=True)``.

    Args:
        path: a detector file (:func:`save_detector`).
        device: where the network's weights go (``cpu``, ``cuda``, ...).
        allow_pickle: load an older, pickled file with ``weights_only=False``
            (runs code stored in the file; logs a warning). ``None``: only when
            the environment sets ``METAL_ALLOW_PICKLE=1``.
        source: how messages name the file (default ``Detector file '<path>'``).
        pickle_fix: the fix a refused pickled file's message gives (default:
            convert it, or ``METAL_ALLOW_PICKLE=1``, if you wrote it yourself).

    Raises:
        FileNotFoundError: no such file.
        DetectorFileError: unreadable, truncated or corrupt, not a detector file,
            or pickled while pickle is not allowed; one paragraph naming the
            file and the fix.
    """
    import pickle

    path = Path(path)
    source = source or f"Detector file '{path}'"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except PermissionError as exc:
        raise DetectorFileError(f"{_capital(source)} cannot be read: permission denied ({exc.strerror}). Fix: give "
                                "this user read permission on it (chmod a+r), or copy it somewhere readable.") from exc
    except pickle.UnpicklingError as exc:
        found = _refused_global(exc)
        if found is None:
            raise DetectorFileError(
                f"{_capital(source)} cannot be loaded: it is not a torch file, or it is corrupt "
                f"({_unpickling_reason(exc)}). Fix: use the detector.pt written by the training pipeline "
                "(data/06_models/<run>/<scoring>/detector.pt), or write it again.") from exc
        if pickle_allowed(allow_pickle) and found.startswith("metal_pipeline."):
            why = f"{ALLOW_PICKLE_ENV} is set" if allow_pickle is None else "allow_pickle=True was passed"
            detector = _load_pickled(path, source, found, why)
        else:
            raise DetectorFileError(_refusal(path, source, found, pickle_fix), pickled_global=found) from None
    except Exception as exc:  # noqa: BLE001 - truncated zip, bad header, ...: one paragraph naming the file
        raise DetectorFileError(
            f"{_capital(source)} cannot be loaded: it is truncated or corrupt ({_first_line(exc)}). Fix: write "
            "it again (the training pipeline writes data/06_models/<run>/<scoring>/detector.pt), or copy it again "
            "if it was copied from elsewhere.") from exc
    else:
        detector = from_payload(payload, source)
    if device != "cpu":
        detector.to(device)  # the network and, when there is one, the discriminative head
    return detector


def _load_pickled(path: Path, source: str, found: str, why: str):
    """The old format: ``torch.load(weights_only=False)``, allowed by the caller (``why``); checks the type."""
    from metal_pipeline.inference.detector import AnomalyDetector

    converting = why == _CONVERTING
    logger.warning(
        "%s holds pickled Python objects (%s): loading it with torch.load(weights_only=False) because %s. "
        "This runs code stored in the file; do it only for files you produced yourself.%s", _capital(source),
        found, why, "" if converting else f" Convert it once ({CONVERT_COMMAND} {path}) to load it safely from now on.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise DetectorFileError(f"{_capital(source)} cannot be unpickled ({_first_line(exc)}). Fix: write it "
                                "again with the training pipeline of this project.") from exc
    if not isinstance(obj, AnomalyDetector):
        raise DetectorFileError(
            f"{_capital(source)} holds a {type(obj).__module__}.{type(obj).__name__}, not an AnomalyDetector "
            "(network + scoring rule + threshold). Fix: use the detector.pt written by the training pipeline, "
            "or a model it registered (metal-<class>-<recipe>-<config>-<masking>).")
    return obj.eval()


def _refusal(path: Path, source: str, found: str, pickle_fix: str | None) -> str:
    ours = found.startswith("metal_pipeline.")
    what = (f"It is most likely a detector file of the older, pickled format (a whole {found.rsplit('.', 1)[-1]}). "
            if ours else f"A detector file never holds a {found}. ")
    fix = pickle_fix or (
        f"if you wrote this file yourself (this project's training pipeline on your machine), convert it once: "
        f"{CONVERT_COMMAND} {path} (the original is kept as {path.name}{PICKLED_SUFFIX}), or allow pickle for "
        f"one command with {ALLOW_PICKLE_ENV}=1. Never do either for a file from someone else: train the model "
        "yourself (kedro run --pipelines=train_eval ...) or ask for a file in the current format"
        if ours else
        "use the detector.pt written by the training pipeline (data/06_models/<run>/<scoring>/detector.pt); "
        "do not load this file with pickle unless you know who made it and what it contains")
    return (f"{_capital(source)} was not loaded: it holds pickled Python objects ({found}), and this project reads "
            f"detector files with torch.load(weights_only=True), which refuses to run the code that unpickling "
            f"them would run. {what}Fix: {fix}.")


def _refused_global(exc: BaseException) -> str | None:
    """The global that ``weights_only=True`` refused (``pkg.mod.Name``), or None for other unpickling errors."""
    match = re.search(r"GLOBAL ([\w.]+)", str(exc))
    return match.group(1) if match else None


# -- conversion ------------------------------------------------------------
def convert(path: str | os.PathLike) -> Path | None:
    """Rewrite an older, pickled detector file in the current format, in place.

    Unpickles ``path`` (``weights_only=False``: runs code stored in it; only for
    files you produced), writes the payload atomically to ``path``, and keeps
    the original bytes as ``<path>.pickled``. Returns that backup, or None when
    ``path`` already is in the current format (nothing is written).

    Raises:
        DetectorFileError: ``<path>.pickled`` exists already (nothing is
            overwritten), or ``path`` is not a detector.
    """
    path = Path(path)
    if not path.is_file():
        raise DetectorFileError(f"Detector file '{path}' does not exist. Fix: correct the path.")
    try:
        load_detector(path, allow_pickle=False)
        return None
    except DetectorFileError as exc:
        found = exc.pickled_global
        if found is None:
            raise
    if not found.startswith("metal_pipeline."):
        raise DetectorFileError(
            f"Cannot convert '{path}': it holds a pickled {found}, which no detector file of this project "
            "contains, so it was not unpickled. Nothing was written. Fix: use a detector.pt written by the "
            "training pipeline of this project.", pickled_global=found)
    backup = path.with_name(path.name + PICKLED_SUFFIX)
    if backup.exists():
        raise DetectorFileError(
            f"Cannot convert '{path}': '{backup}', where its original would be kept, exists already. Nothing was "
            f"written. Fix: move '{backup}' elsewhere (it may be the original of an earlier conversion), then run "
            "the command again.")
    detector = _load_pickled(path, f"Detector file '{path}'", found, _CONVERTING)
    payload = to_payload(detector)
    from_payload(payload, f"the converted '{path}'")  # what will be written must load
    shutil.copy2(path, backup)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return backup


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m metal_pipeline.inference.detector_file",
        description="Convert detector files of the older, pickled format to the current one "
                    "(loads with torch.load(weights_only=True)). Converting unpickles each file, which runs "
                    "code stored in it: convert only files you produced yourself.")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="rewrite pickled detector.pt files in place (originals kept as *.pickled)")
    conv.add_argument("paths", nargs="+", help="detector.pt files, e.g. data/06_models/*/scoring-*/detector.pt")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    failed = 0
    for name in args.paths:
        try:
            backup = convert(name)
        except DetectorFileError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: already in the current format, unchanged" if backup is None
              else f"{name}: converted (original kept as {backup})")
    return 1 if failed else 0


# -- helpers ---------------------------------------------------------------
def _tensor(array: Any) -> torch.Tensor:
    """A copy of a numpy array (any shape, 0-d too) as a tensor of the same dtype and bits."""
    return torch.from_numpy(np.array(array, copy=True))


def _unpickling_reason(exc: BaseException) -> str:
    match = re.search(r"Unsupported operand [^\s.]+|invalid load key[^\n.]*", str(exc))
    return match.group(0) if match else _first_line(exc)


def _json_values(value: Any) -> Any:
    """``value`` as JSON values (numpy scalars become numbers); anything else is a TypeError."""
    def default(obj: Any) -> Any:
        if isinstance(obj, np.generic):
            return obj.item()
        raise TypeError(f"detector metadata must be JSON values; got a {type(obj).__name__}: {obj!r}")

    return json.loads(json.dumps(value, default=default))


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


if __name__ == "__main__":
    raise SystemExit(main())
