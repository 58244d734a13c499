"""Training loop for reconstruction models (no Kedro, no MLflow imports).

``train(model, loss_fn, train_images, val_images, config, checkpoint_dir, ...)``
runs Adam with early stopping on the validation loss, writes atomic
checkpoints (``best.pt``, ``last.pt``), resumes a killed run bit for bit on
CPU, and stops with ``TrainingDivergedError`` on a NaN/inf loss.
See docs/TRAINING.md.
"""

from metal_pipeline.training.checkpoint import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    load_best_checkpoint,
    load_checkpoint,
)
from metal_pipeline.training.config import TrainConfig
from metal_pipeline.training.errors import CheckpointMismatchError, TrainingDivergedError
from metal_pipeline.training.loop import EpochStats, LossFn, TrainResult, train

__all__ = [
    "BEST_CHECKPOINT",
    "LAST_CHECKPOINT",
    "CheckpointMismatchError",
    "EpochStats",
    "LossFn",
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "load_best_checkpoint",
    "load_checkpoint",
    "train",
]
