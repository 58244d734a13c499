"""Thin nodes: train an autoencoder baseline with the project's training loop; gather Table 4."""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import pandas as pd
import torch
from matplotlib.figure import Figure

from metal_pipeline import run_identity
from metal_pipeline.baselines.conv_ae import ConvAE, ConvAEConfig
from metal_pipeline.baselines.loss import AutoencoderLoss
from metal_pipeline.baselines.methods import BASELINES, check_baseline
from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.pipelines.training.nodes import EpochReporter, _move_run_aside, check_split
from metal_pipeline.reporting.table4 import table4_tables as _tables
from metal_pipeline.tracking.git_info import git_commit
from metal_pipeline.tracking.killed_runs import mark_killed_runs
from metal_pipeline.training import CheckpointMismatchError, TrainConfig, TrainingInterrupted, train

logger = logging.getLogger(__name__)

#: Keys of the training section that configure the node, not :class:`TrainConfig`.
_NODE_KEYS = ("checkpoint_root", "resume", "log_every")


def train_conv_ae(
    train_set: ImageSet,
    val_set: ImageSet,
    split_manifest: dict[str, Any],
    class_name: str,
    method: str,
    seed: int,
    ingestion_params: dict[str, Any],
    model_params: dict[str, Any],
    training_params: dict[str, Any],
) -> tuple[ConvAE, pd.DataFrame, dict[str, Any]]:
    """Train (or resume, or reuse a finished) l2-AE / SSIM-AE in ``<checkpoint_root>/<run name>/checkpoints``
    with :func:`metal_pipeline.training.train`, the loop MeTAL trains with (checkpoints, resume, early
    stopping, NaN guard). Returns the network with its best weights, the loss history and a training
    summary shaped like MeTAL's."""
    commit = git_commit()
    check_baseline(method)
    check_split(train_set, val_set, split_manifest)
    name = run_identity.baseline_run_name({"class": class_name, "method": method, "seed": seed,
                                           "ingestion": ingestion_params, "model": model_params,
                                           "training": training_params})
    params = dict(training_params)
    checkpoint_root, resume, log_every = (params.pop(k, d) for k, d in zip(_NODE_KEYS, (None, "auto", 0)))
    train_cfg = TrainConfig.from_dict({**params, "seed": seed})
    try:
        cfg = ConvAEConfig(img_size=train_set.size, channels=train_set.channels, **dict(model_params))
    except ValueError as exc:
        raise ValueError(f"{exc} (baseline {method}, run {name})") from None
    loss = BASELINES[method]["loss"]
    torch.manual_seed(seed)  # initialisation is part of the seeded run
    model = ConvAE(cfg)
    checkpoint_dir = run_identity.run_dir(checkpoint_root, name) / "checkpoints"
    logger.info("Training %s: %s loss, %d train, %d validation images (split %s), %s parameters, checkpoints in %s",
                name, loss, len(train_set), len(val_set), split_manifest.get("split"),
                f"{sum(p.numel() for p in model.parameters()):,}", checkpoint_dir)
    if mlflow.active_run() is not None:
        mark_killed_runs()
    reporter = EpochReporter("", log_every)
    try:
        result = train(model, AutoencoderLoss(loss), train_set.images, val_set.images, train_cfg,
                       checkpoint_dir=checkpoint_dir, resume=resume, on_epoch_end=reporter,
                       on_resume=reporter.restore,
                       fingerprint_extra={"model": cfg.to_dict(), "method": method, "loss": loss,
                                          "split": {"name": split_manifest.get("split"),
                                                    **split_manifest.get("digests", {})}})
    except CheckpointMismatchError as mismatch:
        raise CheckpointMismatchError(mismatch.checkpoint, mismatch.differences,
                                      fix=_move_run_aside(checkpoint_dir.parent, name)) from None
    except TrainingInterrupted as stop:
        if mlflow.active_run() is not None:
            mlflow.set_tags({"metal.interrupted": f"{stop.signal_name} after epoch {stop.epoch}"})
        raise
    if result.already_finished:
        logger.info("Reusing the finished run %s (trained to epoch %d, best epoch %d): identical parameters "
                    "and split, nothing trained.", name, result.stopped_epoch, result.best_epoch)
    summary = {
        "run_name": name,
        "split": {"name": split_manifest.get("split"), "digests": dict(split_manifest.get("digests", {}))},
        "reused": bool(result.already_finished),
        "class": class_name,
        "recipe": method,
        "method": method,
        "configuration": method,
        "masking": "none",
        "seed": seed,
        "git_commit": commit,
        "model_config": cfg.to_dict(),
        "loss": loss,
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
        mlflow.log_metrics({"best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss,
                            "stopped_epoch": result.stopped_epoch, "train_wall_seconds": result.wall_seconds})
    return result.model.cpu(), pd.DataFrame(result.history), summary


def table4_tables(class_name: str, **inputs: Any) -> tuple[pd.DataFrame, pd.DataFrame, str, Figure]:
    """The comparison table from every run's metrics and training summary
    (:func:`metal_pipeline.reporting.table4.table4_tables`)."""
    return _tables(class_name, inputs)
