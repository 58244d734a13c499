"""Continuing a run from its checkpoints: ``last.pt`` bit for bit, or ``best.pt``
when ``last.pt`` cannot be read (with a warning that the run is then not
bit-identical to an uninterrupted one)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from metal_pipeline.training.checkpoint import describe_mismatch, load_training_checkpoint, restore_rng_state
from metal_pipeline.training.errors import CheckpointCorruptError, CheckpointMismatchError

log = logging.getLogger(__name__)


@dataclass
class RunState:
    """Everything that evolves during a run and goes into ``last.pt``."""

    epoch: int = 0
    best_epoch: int = 0
    best_val_loss: float = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    stopped_early: bool = False
    history: list[dict[str, float]] = field(default_factory=list)


def resume_from_best(unreadable: CheckpointCorruptError, last_path: Path, best_path: Path, fp: str,
                      model: torch.nn.Module) -> RunState:
    """``last.pt`` cannot be read: continue from ``best.pt`` of the same run, or say what to delete."""
    corrupt = [last_path]
    problem = None
    try:
        best = load_training_checkpoint(best_path)
    except FileNotFoundError:
        problem = f"there is no {best_path.name} to fall back to"
    except CheckpointCorruptError as also:
        problem = f"{best_path} cannot be read either ({also.reason})"
        corrupt.append(best_path)
    else:
        if best.get("fingerprint") != fp:
            problem = (f"{best_path} belongs to a different run (move it elsewhere first if you need it: "
                       "starting over replaces it)")
    if problem is not None:
        files = " and ".join(str(p) for p in corrupt)
        raise CheckpointCorruptError(
            f"Cannot resume the run in {last_path.parent}: {last_path} is truncated or corrupt ({unreadable.reason}) "
            f"and {problem}. Nothing was trained. Fix: delete {files} (only "
            f"{'these files' if len(corrupt) > 1 else 'this file'}; restore {'them' if len(corrupt) > 1 else 'it'} "
            "from a backup instead if you have one) and run the same command again, which trains this run from "
            "the start.",
            tuple(corrupt), unreadable.reason,
        ) from unreadable
    model.load_state_dict(best["model"])
    epoch = int(best["epoch"])
    history = [dict(h) for h in best.get("history", [])]
    log.warning(
        "Cannot read %s (%s). Resuming from %s instead (epoch %d, val loss %.6g): the optimiser state and "
        "epochs %d and later are lost and trained again, so this run is not bit-identical to an uninterrupted "
        "one. %s is replaced by a checkpoint at epoch %d.", last_path, unreadable.reason, best_path, epoch,
        float(best["val_loss"]), epoch + 1, last_path.name, epoch)
    device = next(model.parameters()).device
    return RunState(
        epoch=epoch,
        best_epoch=epoch,
        best_val_loss=float(best["val_loss"]),
        best_state={k: v.detach().clone().to(device) for k, v in best["model"].items()},
        stopped_early=False,
        history=history,
    )


def resume_run(last_path: Path, fp: str, fp_parts: dict[str, Any], model: torch.nn.Module,
            optimizer: torch.optim.Optimizer, generator: torch.Generator) -> RunState:
    payload = load_training_checkpoint(last_path)
    if payload.get("fingerprint") != fp:
        raise CheckpointMismatchError(last_path, describe_mismatch(payload.get("fingerprint_parts", {}), fp_parts))
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    restore_rng_state(payload["rng"], generator)
    device = next(model.parameters()).device
    return RunState(
        epoch=int(payload["epoch"]),
        best_epoch=int(payload["best_epoch"]),
        best_val_loss=float(payload["best_val_loss"]),
        best_state={k: v.to(device) for k, v in payload["best_model"].items()},
        stopped_early=bool(payload["stopped_early"]),
        history=list(payload["history"]),
    )
