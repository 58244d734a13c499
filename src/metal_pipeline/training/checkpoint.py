"""Checkpoint files of a training run: atomic writes, run fingerprint, RNG states.

A checkpoint folder holds two files:

* ``best.pt``: ``{"format": ..., "model": state_dict, "epoch": int, "val_loss": float,
  "fingerprint": str, "history": [...]}``, the weights with the lowest validation loss
  so far and the loss history up to their epoch. It is also the fallback when
  ``last.pt`` cannot be read.
* ``last.pt``: everything needed to continue the run bit for bit: current
  and best model weights, optimiser state, every RNG state (python, numpy,
  torch CPU/CUDA and the batch-shuffling generator), early-stopping state,
  loss history, whether the run finished, and the run fingerprint.

Both are written with ``torch.save`` to a temporary file in the same folder
and moved into place with ``os.replace``, so a crash never leaves a truncated
file. Both only hold tensors and plain Python values and load with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metal_pipeline.training.config import TRAJECTORY_FIELDS, TrainConfig
from metal_pipeline.training.errors import CheckpointCorruptError
from metal_pipeline.utils.atomic import atomic_path

BEST_CHECKPOINT = "best.pt"
LAST_CHECKPOINT = "last.pt"
CHECKPOINT_FORMAT = 1


# -- writing and reading -------------------------------------------------
def save_checkpoint(payload: Mapping[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace``."""
    with atomic_path(path) as tmp:
        torch.save(dict(payload), tmp)


def load_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a ``best.pt`` or ``last.pt`` onto the CPU (``weights_only=True``).

    Raises:
        FileNotFoundError: no such file.
        CheckpointCorruptError: the file is truncated, corrupt or not a checkpoint of
            this loop; the message names only that file.
    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised with the fix
        reason = _reason(exc)
        raise CheckpointCorruptError(
            f"Cannot read checkpoint {path}: it is truncated or corrupt ({reason}). "
            f"Delete this file only ({path}) and train again; other files in {path.parent} are not affected.",
            (path,), reason,
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointCorruptError(
            f"{path} is not a checkpoint of this training loop (format {CHECKPOINT_FORMAT}). "
            f"Move or delete this file only ({path}) and train again.",
            (path,), "not a checkpoint of this loop",
        )
    return payload


def _reason(exc: BaseException) -> str:
    """The first line of an exception, shortened: enough to tell truncation from garbage."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text.split(". ")[0].rstrip(".")
    text = text if len(text) <= 120 else text[:117] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_best_checkpoint(checkpoint_dir: str | Path) -> dict[str, Any]:
    """``best.pt`` of a run: ``{"model": state_dict, "epoch": int, "val_loss": float, ...}``."""
    return load_training_checkpoint(Path(checkpoint_dir) / BEST_CHECKPOINT)


# -- run fingerprint -----------------------------------------------------
def _array_digest(images: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(images)).cast("B")).hexdigest()[:16]


def fingerprint_parts(
    config: TrainConfig,
    model: torch.nn.Module,
    train_images: np.ndarray,
    val_images: np.ndarray,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What identifies a run: the config fields that shape the trajectory, the model
    class and its tensor shapes, the data (shape + content hash) and ``extra``.

    Values are plain JSON types so a mismatch can be shown field by field.
    """
    cls = type(model)
    parts: dict[str, Any] = {f"config.{name}": getattr(config, name) for name in TRAJECTORY_FIELDS}
    if config.lr_schedule != "constant":
        parts["config.max_epochs"] = config.max_epochs  # the schedule's length
    if config.amp != "off":  # absent when off, so fp32 checkpoints from before the option still resume
        parts["config.amp"] = config.amp
    parts["model.class"] = f"{cls.__module__}.{cls.__qualname__}"
    parts["model.tensors"] = [
        [name, list(t.shape), str(t.dtype).removeprefix("torch.")] for name, t in model.state_dict().items()
    ]
    parts["data.train"] = [list(train_images.shape), _array_digest(train_images)]
    parts["data.validation"] = [list(val_images.shape), _array_digest(val_images)]
    for key, value in (extra or {}).items():
        parts[f"extra.{key}"] = json.loads(json.dumps(value, sort_keys=True, default=str))
    return parts


def fingerprint_hash(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def describe_mismatch(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """One line per fingerprint entry that differs (``key: checkpoint X, now Y``)."""
    lines = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key, "<absent>"), current.get(key, "<absent>")
        if old != new:
            if key == "model.tensors":
                old_shapes = {n: f"{d}{s}" for n, s, d in old} if isinstance(old, list) else {}
                new_shapes = {n: f"{d}{s}" for n, s, d in new} if isinstance(new, list) else {}
                diff = [n for n in sorted(set(old_shapes) | set(new_shapes)) if old_shapes.get(n) != new_shapes.get(n)]
                shown = ", ".join(
                    f"{n} {old_shapes.get(n, '<absent>')} -> {new_shapes.get(n, '<absent>')}" for n in diff[:5]
                )
                more = f" (+{len(diff) - 5} more)" if len(diff) > 5 else ""
                lines.append(f"model tensors differ: {shown}{more}")
            else:
                lines.append(f"{key}: checkpoint {old!r}, now {new!r}")
    return lines


# -- RNG states ----------------------------------------------------------
def capture_rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Every RNG the loop (or a model) may draw from, as weights_only-loadable values."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                  int(np_state[3]), float(np_state[4])),
        "torch": torch.get_rng_state(),
        "shuffle": generator.get_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: Mapping[str, Any], generator: torch.Generator) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    generator.set_state(state["shuffle"])
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
