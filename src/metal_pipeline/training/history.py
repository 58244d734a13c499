"""What a training run reports per epoch, live (``on_epoch_end``) and when a
resumed run replays the history stored in its checkpoint (``on_resume``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EpochStats:
    """What ``on_epoch_end`` receives after each epoch (its checkpoint, if due, is already on disk).

    Attributes:
        epoch: 1-based epoch just finished.
        train_loss: mean training loss over the epoch (weighted by batch size).
        val_loss: mean validation loss.
        parts: loss parts from ``loss_fn``, averaged the same way, as
            ``"train_<name>"`` and ``"val_<name>"``.
        best_epoch: epoch of the lowest validation loss so far.
        best_val_loss: that loss.
        seconds: wall time of the epoch (training + validation).
    """

    epoch: int
    train_loss: float
    val_loss: float
    parts: dict[str, float]
    best_epoch: int
    best_val_loss: float
    seconds: float

    def as_metrics(self) -> dict[str, float]:
        """Flat ``name -> value`` dict, ready for ``mlflow.log_metrics(..., step=epoch)``."""
        return {
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            **self.parts,
            "best_val_loss": self.best_val_loss,
            "best_epoch": float(self.best_epoch),
            "epoch_seconds": self.seconds,
        }


def epoch_stats_from_history(history: list[Mapping[str, Any]], min_delta: float = 0.0) -> list[EpochStats]:
    """The :class:`EpochStats` of each entry of a run's ``history`` (as stored in ``last.pt``).

    ``best_epoch`` / ``best_val_loss`` are recomputed as the running best under
    ``min_delta``, the rule the loop applies; ``seconds`` is the stored epoch time.
    """
    out, best, best_epoch = [], math.inf, 0
    for h in history:
        epoch, val_loss = int(h["epoch"]), float(h["val_loss"])
        if val_loss < best - min_delta:
            best, best_epoch = val_loss, epoch
        parts = {k: float(v) for k, v in h.items() if k not in ("epoch", "train_loss", "val_loss", "seconds")}
        out.append(EpochStats(epoch=epoch, train_loss=float(h["train_loss"]), val_loss=val_loss, parts=parts,
                              best_epoch=best_epoch, best_val_loss=best, seconds=float(h.get("seconds", math.nan))))
    return out
