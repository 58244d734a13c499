"""Training loop for reconstruction models (no Kedro, no MLflow imports).

``train(model, loss_fn, train_images, val_images, config, checkpoint_dir, ...)``
runs Adam with early stopping on the validation loss, writes atomic
checkpoints (``best.pt``, ``last.pt``), resumes a killed run bit for bit on
CPU (falling back to ``best.pt`` if ``last.pt`` is unreadable), saves and stops
with ``TrainingInterrupted`` on SIGINT/SIGTERM, and stops with
``TrainingDivergedError`` on a NaN/inf loss.
See docs/TRAINING.md.
"""

from metal_pipeline.training.checkpoint import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    load_best_checkpoint,
    load_training_checkpoint,
)
from metal_pipeline.training.config import TrainConfig
from metal_pipeline.training.errors import (
    CheckpointCorruptError,
    CheckpointMismatchError,
    TrainingDivergedError,
    TrainingInterrupted,
)
from metal_pipeline.training.history import EpochStats, epoch_stats_from_history
from metal_pipeline.training.loop import LossFn, TrainResult, train

__all__ = [
    "BEST_CHECKPOINT",
    "LAST_CHECKPOINT",
    "CheckpointCorruptError",
    "CheckpointMismatchError",
    "EpochStats",
    "LossFn",
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "load_best_checkpoint",
    "load_training_checkpoint",
    "epoch_stats_from_history",
    "train",
]
