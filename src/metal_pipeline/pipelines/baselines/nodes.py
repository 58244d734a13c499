"""Thin nodes: train an autoencoder baseline with the project's training loop; gather Table 4."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import torch
from matplotlib.figure import Figure

from metal_pipeline import run_identity
from metal_pipeline.baselines.conv_ae import ConvAE, ConvAEConfig
from metal_pipeline.baselines.loss import AutoencoderLoss
from metal_pipeline.baselines.methods import BASELINES, check_baseline
from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.pipelines.training.nodes import EpochReporter, check_split
from metal_pipeline.pipelines.training.tracked_training import summarise_training, train_tracked
from metal_pipeline.reporting.table4 import table4_tables as _tables
from metal_pipeline.tracking.git_info import git_commit
from metal_pipeline.training import TrainConfig

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
    reporter = EpochReporter("", log_every)
    result = train_tracked(name, model, AutoencoderLoss(loss), train_set.images, val_set.images, train_cfg,
                           checkpoint_dir, resume=resume, reporter=reporter,
                           fingerprint_extra={"model": cfg.to_dict(), "method": method, "loss": loss,
                                              "split": {"name": split_manifest.get("split"),
                                                        **split_manifest.get("digests", {})}})
    summary = summarise_training(result, name, split_manifest, checkpoint_dir, {
        "class": class_name, "recipe": method, "method": method, "configuration": method, "masking": "none",
        "seed": seed, "git_commit": commit, "model_config": cfg.to_dict(), "loss": loss})
    return result.model.cpu(), pd.DataFrame(result.history), summary


def table4_tables(class_name: str, **inputs: Any) -> tuple[pd.DataFrame, pd.DataFrame, str, Figure]:
    """The comparison table from every run's metrics and training summary
    (:func:`metal_pipeline.reporting.table4.table4_tables`)."""
    return _tables(class_name, inputs)
