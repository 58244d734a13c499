"""Errors raised by the training loop, each with the fix in its message."""

from __future__ import annotations

from pathlib import Path

from metal_pipeline.errors import MetalError


class TrainingDivergedError(MetalError, RuntimeError):
    """A training or validation loss became NaN or infinite.

    Attributes:
        epoch: 1-based epoch in which it happened.
        batch: 1-based batch index within that epoch's phase.
        phase: ``"train"`` or ``"validation"``.
        value: the offending loss value.
        checkpoint: the last good ``last.pt`` (untouched), or ``None`` if none was written yet.
    """

    def __init__(self, epoch: int, batch: int, phase: str, value: float, checkpoint: Path | None,
                 lr: float) -> None:
        self.epoch = epoch
        self.batch = batch
        self.phase = phase
        self.value = value
        self.checkpoint = checkpoint
        if checkpoint is not None:
            where = f"The last good checkpoint is {checkpoint} (left intact)."
        else:
            where = "No checkpoint had been written yet."
        super().__init__(
            f"Training diverged: the {phase} loss is {value} at epoch {epoch}, batch {batch}. {where} "
            f"Try a lower learning rate (lr is {lr:g}; e.g. {lr / 10:g}). A run with a different lr is "
            "a different run: in the Kedro pipeline, --params training.lr=<value> trains it in a folder of its "
            "own and leaves this one intact; when calling train() yourself, give it a new checkpoint_dir."
        )


class CheckpointMismatchError(MetalError, RuntimeError):
    """``last.pt`` in the checkpoint folder belongs to a different run (config, model or data).

    The fix never deletes or overwrites a file: the other run's folder is moved
    aside (kept whole), or this run gets a folder of its own.

    Attributes:
        checkpoint: the ``last.pt`` that was not resumed (untouched).
        differences: one line per fingerprint entry that differs.
    """

    def __init__(self, checkpoint: Path, differences: list[str] | tuple[str, ...], fix: str | None = None) -> None:
        self.checkpoint = Path(checkpoint)
        self.differences = list(differences) or ["fingerprint differs"]
        folder = self.checkpoint.parent
        if fix is None:
            fix = (f"move {folder} aside, e.g. mv {folder} {folder}.other-run (its files stay intact), and run the "
                   "same command again, which trains this run from the start; or give this run a checkpoint_dir "
                   "of its own")
        super().__init__(
            f"{self.checkpoint} belongs to a different run, so it cannot be resumed:\n  - "
            + "\n  - ".join(self.differences)
            + f"\nNothing was trained and no file was changed. Fix (keeps every file): {fix}."
        )


class CheckpointCorruptError(MetalError, RuntimeError):
    """A checkpoint file cannot be read (truncated, corrupt, or not written by this loop).

    Attributes:
        paths: the unreadable file(s); the message's fix deletes only these.
        reason: what reading them gave, in a few words (e.g. ``"EOFError"``).
    """

    def __init__(self, message: str, paths: tuple[Path, ...] = (), reason: str = "") -> None:
        super().__init__(message)
        self.paths = tuple(paths)
        self.reason = reason


class TrainingInterrupted(MetalError, RuntimeError):
    """SIGINT or SIGTERM stopped the run at the end of an epoch, after writing ``last.pt``.

    Attributes:
        signal_name: ``"SIGINT"`` or ``"SIGTERM"``.
        epoch: the last epoch trained (and saved).
        checkpoint: the ``last.pt`` written for it.
    """

    def __init__(self, signal_name: str, epoch: int, checkpoint: Path) -> None:
        self.signal_name = signal_name
        self.epoch = epoch
        self.checkpoint = checkpoint
        super().__init__(
            f"Training stopped by {signal_name} at the end of epoch {epoch}; its state is saved in {checkpoint}. "
            "Nothing is lost: run the same command again to resume from that epoch (the resumed run ends "
            "bit-identical to an uninterrupted one on CPU)."
        )
