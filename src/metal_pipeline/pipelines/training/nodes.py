"""Thin nodes over ``metal_pipeline.model``, ``metal_pipeline.training`` and ``metal_pipeline.tracking``."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from metal_pipeline import run_identity
from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.errors import SplitMismatchError
from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.inference.threshold import choose_threshold
from metal_pipeline.model import MeTAL, MeTALConfig, ReconstructionLoss, default_depth
from metal_pipeline.tracking.git_info import git_commit
from metal_pipeline.tracking.killed_runs import log_restored_history
from metal_pipeline.tracking.registry import find_registered_version, log_and_register, registered_model_name
from metal_pipeline.pipelines.training.tracked_training import summarise_training, train_tracked
from metal_pipeline.training import TrainConfig
from metal_pipeline.training.augment import AugmentConfig, Augmenter
from metal_pipeline.training.seg_head import cached_seg_head

logger = logging.getLogger(__name__)


def check_split(train_set: ImageSet, val_set: ImageSet, split_manifest: dict[str, Any]) -> None:
    """The training and validation sets are the ones ``split_manifest`` describes."""
    digests = split_manifest.get("digests", {})
    for what, image_set in (("train", train_set), ("val", val_set)):
        if digests.get(what) != run_identity.image_set_digest(image_set):
            raise SplitMismatchError(
                f"The {what} set loaded for split {split_manifest.get('split')} is not the one its split.json "
                f"describes (digest {run_identity.image_set_digest(image_set)}, expected {digests.get(what)}): "
                "the files of data/05_model_input/" f"{split_manifest.get('split')}/ were changed or mixed by "
                "hand. Nothing was trained. Fix: run the ingestion pipeline again with the same parameters "
                "(kedro run --pipelines=ingestion --params ...), which rewrites that split folder consistently."
            )


def model_config(train_set: ImageSet, class_name: str, configuration: str, masking: str,
                 model_params: dict[str, Any]) -> MeTALConfig:
    """MeTALConfig from parameters; image size and channels come from the data."""
    params = dict(model_params)
    if params.get("depth", "auto") == "auto":
        params["depth"] = default_depth(class_name)
    return MeTALConfig(img_size=train_set.size, channels=train_set.channels,
                       configuration=configuration, masking=masking, **params)


class EpochReporter:
    """Train/val loss per epoch as MLflow metric history, and a log line every few epochs
    (readable in a log file, where a progress bar is not).

    ``restore`` (the loop's ``on_resume``) logs the epochs a resumed checkpoint
    holds that the active MLflow run has not got, so a resumed run's history is
    complete from epoch 1 (issue 11 case 5).
    """

    def __init__(self, prefix: str = "", log_every: int = 0) -> None:
        self.prefix = prefix
        self.log_every = log_every

    def __call__(self, stats) -> None:
        if self.log_every and stats.epoch % self.log_every == 0:
            logger.info("epoch %d: train %.5f, val %.5f (best %.5f at epoch %d), %.2f s/epoch", stats.epoch,
                        stats.train_loss, stats.val_loss, stats.best_val_loss, stats.best_epoch, stats.seconds)
        if mlflow.active_run() is None:
            return
        mlflow.log_metrics({f"{self.prefix}{k}": float(v) for k, v in stats.as_metrics().items()},
                           step=stats.epoch)

    def restore(self, history) -> None:
        if mlflow.active_run() is None or not history:
            return
        mlflow.set_tag(f"{self.prefix}metal.resumed_from_epoch", history[-1].epoch)
        logged = log_restored_history(((s.epoch, s.as_metrics()) for s in history), self.prefix)
        if logged:
            logger.info("Logged epochs %d-%d from the checkpoint to MLflow run %s (%d epochs it had not got).",
                        logged[0], logged[-1], mlflow.active_run().info.run_id, len(logged))


def train_model(
    train_set: ImageSet,
    val_set: ImageSet,
    split_manifest: dict[str, Any],
    class_name: str,
    recipe: str,
    configuration: str,
    masking: str,
    seed: int,
    ingestion_params: dict[str, Any],
    model_params: dict[str, Any],
    training_params: dict[str, Any],
    tracking_prefix: str = "",
) -> tuple[MeTAL, pd.DataFrame, dict[str, Any]]:
    """Train (or resume, or reuse a finished) run in ``<checkpoint_root>/<run name>/checkpoints``.

    The run name comes from ``run_identity.run_name`` over the same parameters
    the catalog's ``${run:name}`` was computed from, so both name one folder.
    """
    commit = git_commit()  # the code that trains, not the code at registration time
    check_split(train_set, val_set, split_manifest)
    name = run_identity.run_name({"class": class_name, "recipe": recipe, "config": configuration,
                                  "masking": masking, "seed": seed, "ingestion": ingestion_params,
                                  "model": model_params, "training": training_params})
    cfg = model_config(train_set, class_name, configuration, masking, model_params)
    params = dict(training_params)
    loss_params = params.pop("loss", {})
    checkpoint_root = params.pop("checkpoint_root")
    resume = params.pop("resume", "auto")
    log_every = params.pop("log_every", 0)
    augment = AugmentConfig.from_dict(params.pop("augment", None) or {})
    train_cfg = TrainConfig.from_dict({**params, "seed": seed})

    import torch

    torch.manual_seed(seed)  # model initialisation is part of the seeded run
    model = MeTAL(cfg)
    checkpoint_dir = run_identity.run_dir(checkpoint_root, name) / "checkpoints"
    logger.info("Training %s: %d train, %d validation images (split %s), %s parameters, checkpoints in %s",
                name, len(train_set), len(val_set), split_manifest.get("split"),
                f"{sum(p.numel() for p in model.parameters()):,}", checkpoint_dir)
    reporter = EpochReporter(tracking_prefix, log_every)
    result = train_tracked(
        name, model, ReconstructionLoss(**loss_params), train_set.images, val_set.images, train_cfg,
        checkpoint_dir, resume=resume, reporter=reporter, tracking_prefix=tracking_prefix,
        augment=Augmenter(augment) if augment.active else None,
        fingerprint_extra={"model": cfg.to_dict(), "loss": dict(loss_params), "augment": augment.to_dict(),
                           "split": {"name": split_manifest.get("split"), **split_manifest.get("digests", {})}},
    )
    summary = summarise_training(result, name, split_manifest, checkpoint_dir, {
        "class": class_name, "recipe": recipe, "configuration": configuration, "masking": cfg.masking,
        "seed": seed, "git_commit": commit, "model_config": cfg.to_dict(),
        # operational: the discriminative head trains with the same thread count (identical results
        # under every runner, whose workers may default to fewer threads)
        "num_threads": train_cfg.num_threads}, tracking_prefix)
    return result.model.cpu(), pd.DataFrame(result.history), summary


def build_detector(
    net: MeTAL,
    train_set: ImageSet,
    val_set: ImageSet,
    scoring_params: dict[str, Any],
    training_summary: dict[str, Any],
) -> tuple[AnomalyDetector, dict[str, Any]]:
    """Wrap the network with its scoring rule and a threshold from validation normals (and, for map
    kind ``seg``, a discriminative head trained on ``train_set`` with the network frozen)."""
    map_kinds = scoring_params.get("map_kinds", ["l2"])
    image_kinds = scoring_params.get("image_kinds")
    uses_head = "seg" in list(map_kinds) + list(image_kinds or [])
    head, head_info = None, None
    if uses_head:
        head, head_info = _seg_head(net, train_set, scoring_params.get("seg_head") or {}, training_summary)
    detector = AnomalyDetector(net, sigma=scoring_params["sigma"], reduction=scoring_params["reduction"],
                               map_kinds=map_kinds,
                               offsets=scoring_params.get("offsets", [[0, 0]]),
                               normalise=scoring_params.get("normalise", "none"),
                               region=scoring_params.get("region", "all"),
                               region_erode=scoring_params.get("region_erode", 0),
                               seg_head=head, image_kinds=image_kinds, amp=scoring_params.get("amp", "off"))
    normals = val_set.subset([i for i, label in enumerate(val_set.labels) if label == 0])
    # Map statistics and the threshold both come from validation normals (never the test set).
    scores = detector.fit_normaliser(normals.images, batch_size=scoring_params["batch_size"])
    card = choose_threshold(scores, scoring_params["threshold_target_fpr"])
    detector.threshold = card["threshold"]
    detector.metadata = {k: training_summary.get(k) for k in ("run_name", "recipe", "class", "configuration",
                                                              "masking", "seed", "split")}
    # What makes this detector: the trained run plus the scoring rule (registry de-duplication key).
    detector.metadata["detector_key"] = run_identity.short_hash(
        {"run": training_summary.get("run_name"), "threshold": card["threshold"],
         "scoring": run_identity.scoring_rule_fields(scoring_params)}, length=16)
    if head_info is not None:
        card["seg_head"] = {k: head_info[k] for k in ("steps", "final_loss", "seconds", "reused")}
    logger.info("Decision threshold %.6g (%s)", card["threshold"], card["rule"])
    return detector, card


def _seg_head(net: MeTAL, train_set: ImageSet, params: dict[str, Any], training_summary: dict[str, Any]):
    """The run's discriminative head, cached beside its checkpoints (``<run>/seg_heads/<key>.pt``) under a
    key of the trained weights, the training images and the head's parameters."""
    checkpoint_dir = training_summary.get("checkpoint_dir")
    cache_dir = None if not checkpoint_dir else Path(checkpoint_dir).parent / "seg_heads"
    weights = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        weights.update(name.encode())
        weights.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    key = run_identity.short_hash({"weights": weights.hexdigest(), "train": run_identity.image_set_digest(train_set),
                                   "seg_head": params}, length=12)
    head, info = cached_seg_head(net, train_set.images, params, seed=int(training_summary.get("seed") or 0),
                                 cache_dir=cache_dir, cache_key=key, num_threads=training_summary.get("num_threads"))
    logger.info("Discriminative head: %s (%d steps, final loss %.4g, %.0f s)",
                "reused " + str(info["path"]) if info["reused"] else "trained", info["steps"], info["final_loss"],
                info["seconds"])
    return head, info


def register_detector(
    detector: AnomalyDetector,
    threshold_card: dict[str, Any],
    training_summary: dict[str, Any],
) -> dict[str, Any]:
    """Log the detector as the pyfunc model (``inference.pyfunc_model``) and register a new version of
    ``metal-<class>-<recipe>-<configuration>-<masking>``; a reused run whose detector (``detector_key``)
    is registered already registers nothing."""
    name = registered_model_name(training_summary["class"], training_summary["recipe"],
                                 training_summary["configuration"], training_summary["masking"])
    tags = {
        "class": training_summary["class"],
        "configuration": training_summary["configuration"],
        "masking": training_summary["masking"],
        "seed": training_summary["seed"],
        "git_commit": training_summary.get("git_commit", "unknown"),
        "threshold": threshold_card["threshold"],
        "sigma": detector.sigma,
        "reduction": detector.reduction,
        "map_kinds": ",".join(detector.map_kinds),
        "image_kinds": ",".join(detector.image_kinds or detector.map_kinds),
        "normalise": detector.normalise,
        "region": f"{detector.region}-{detector.region_erode}",
        "offsets": str([list(o) for o in detector.offsets]),
        "img_size": detector.img_size,
        "channels": detector.channels,
    }
    tags.update({"run_name": training_summary.get("run_name"), "recipe": training_summary.get("recipe"),
                 "split": (training_summary.get("split") or {}).get("name"),
                 "detector_key": detector.metadata.get("detector_key")})
    if mlflow.active_run() is None:
        logger.warning("No active MLflow run (tracking disabled?): %s is not registered", name)
        return {"registered_model_name": name, "version": None, "model_uri": None, "run_id": None, "tags": tags}
    if training_summary.get("reused"):
        existing = find_registered_version(name, {"detector_key": tags["detector_key"]})
        if existing is not None:
            logger.info("Run %s was reused and its detector is already registered as %s version %s; "
                        "no new model version registered.", training_summary.get("run_name"), name,
                        existing["version"])
            return existing
    mlflow.log_dict(threshold_card, "threshold.json")
    mlflow.log_dict(training_summary, "training_summary.json")
    return log_and_register(detector, name, tags)
