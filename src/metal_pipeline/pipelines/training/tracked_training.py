"""One training run as the pipelines run it, whatever the network (MeTAL or a
baseline autoencoder): ``training.train`` plus what a tracked run adds around
it (runs a SIGKILL left RUNNING marked KILLED, a checkpoint mismatch fixed by
moving the other run aside, interruption and resume tags, the reuse line) and
the training summary every run writes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mlflow
import torch

from metal_pipeline.tracking.killed_runs import mark_killed_runs
from metal_pipeline.training import CheckpointMismatchError, TrainResult, TrainingInterrupted, train

logger = logging.getLogger(__name__)


def train_tracked(name: str, model: torch.nn.Module, loss_fn: Any, train_images: Any, val_images: Any,
                  train_cfg: Any, checkpoint_dir: Path, *, resume: Any, reporter: Any,
                  fingerprint_extra: dict[str, Any], tracking_prefix: str = "", augment: Any = None) -> TrainResult:
    """``train`` in ``checkpoint_dir`` with the pipeline's handling of killed, mismatched, interrupted,
    resumed and already finished runs."""
    if mlflow.active_run() is not None:
        mark_killed_runs()  # earlier attempts of this MLflow run name that a SIGKILL left RUNNING
    try:
        result = train(model, loss_fn, train_images, val_images, train_cfg, checkpoint_dir=checkpoint_dir,
                       resume=resume, on_epoch_end=reporter, on_resume=reporter.restore, augment=augment,
                       fingerprint_extra=fingerprint_extra)
    except CheckpointMismatchError as mismatch:
        raise CheckpointMismatchError(mismatch.checkpoint, mismatch.differences,
                                      fix=move_run_aside(checkpoint_dir.parent, name)) from None
    except TrainingInterrupted as stop:
        if mlflow.active_run() is not None:  # kedro-mlflow ends the run as FAILED; say why
            mlflow.set_tags({f"{tracking_prefix}metal.interrupted": f"{stop.signal_name} after epoch {stop.epoch}"})
        raise
    if result.resumed_from_epoch is not None and mlflow.active_run() is not None:
        mlflow.set_tag(f"{tracking_prefix}metal.resumed_from",
                       "best.pt (last.pt was unreadable)" if result.resumed_from_best else "last.pt")
    if result.already_finished:
        logger.info("Reusing the finished run %s (trained to epoch %d, best epoch %d): identical parameters "
                    "and split, nothing trained.", name, result.stopped_epoch, result.best_epoch)
    return result


def summarise_training(result: TrainResult, name: str, split_manifest: dict[str, Any], checkpoint_dir: Path,
                     identity: dict[str, Any], tracking_prefix: str = "") -> dict[str, Any]:
    """The run's ``training_summary.json`` (``identity``: class, recipe, configuration, masking, seed,
    git commit, model config and whatever else names the run), and its end-of-training MLflow metrics."""
    summary = {
        "run_name": name,
        "split": {"name": split_manifest.get("split"), "digests": dict(split_manifest.get("digests", {}))},
        "reused": bool(result.already_finished),
        **identity,
        "n_parameters": int(sum(p.numel() for p in result.model.parameters())),
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "stopped_epoch": result.stopped_epoch,
        "stopped_early": result.stopped_early,
        "resumed_from_epoch": result.resumed_from_epoch,
        "wall_seconds": result.wall_seconds,
        "checkpoint_dir": str(checkpoint_dir),
    }
    if mlflow.active_run() is not None:
        mlflow.log_metrics({f"{tracking_prefix}{k}": float(v) for k, v in {
            "best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss,
            "stopped_epoch": result.stopped_epoch, "train_wall_seconds": result.wall_seconds}.items()})
    return summary


def move_run_aside(run_folder, name: str) -> str:
    """The fix of a checkpoint mismatch in the pipeline: move the other run's folders aside, delete nothing.

    The run name covers every parameter that changes the weights, so a mismatch under one name means the
    code or the data changed; a new checkpoint folder alone would let this run overwrite the other's
    detector and reports, so the fix moves all of that run's folders aside together: the run folder and
    the folder of that name in each other data layer beside it (``<data>/<layer>/<run name>``; the layers
    are spelled in conf/base/globals.yml only, and a run name is unique to its parameters).
    """
    run_folder = Path(run_folder)
    layer_root = run_folder.parent
    others = sorted(layer / name for layer in layer_root.parent.iterdir()
                    if layer.is_dir() and layer != layer_root and (layer / name).exists())
    folders = [run_folder, *others]
    moves = "; ".join(f"mv {p} {p}.other-run" for p in folders)
    return (f"the parameters are the same, so the code or the data changed since that run was trained. To keep "
            f"that run and train this one from the start, move the run's folders aside ({moves}; every file in "
            "them stays intact) and run the same command again")
