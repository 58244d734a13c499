"""``TrainConfig``: every knob of the training loop, with the paper's defaults."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from metal_pipeline.params.validate import reject_unknown_keys
from metal_pipeline.training.precision import amp_mode
from metal_pipeline.utils.device import resolve_device

# Fields that change the trajectory of a run. A checkpoint written under one
# value cannot be resumed under another (see ``checkpoint.fingerprint``).
# The stopping rule (max_epochs, min_epochs, patience, min_delta) and the
# run-time settings (device, num_threads, checkpoint_every, progress) are left
# out on purpose: changing them and re-running continues the same run. So is
# ``compile`` (it reorders floating-point work, as another thread count does);
# ``amp`` enters the fingerprint when it is not "off" (``checkpoint.fingerprint_parts``),
# so checkpoints written before it existed still resume.
TRAJECTORY_FIELDS: tuple[str, ...] = ("lr", "batch_size", "weight_decay", "seed", "deterministic",
                                      "lr_schedule", "warmup_epochs")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters and run settings of :func:`metal_pipeline.training.train`.

    Defaults follow the MeTAL paper: Adam, lr 1e-4, batch 64, up to 3000
    epochs, early stopping active from epoch 500 with patience 50.

    Attributes:
        lr: Adam learning rate.
        batch_size: images per optimisation step (the last batch of an epoch may be smaller).
        weight_decay: Adam weight decay (L2 penalty).
        max_epochs: hard upper bound on the number of epochs.
        min_epochs: early stopping is only checked from this epoch on.
        patience: stop once this many epochs passed since the best validation loss.
        min_delta: a validation loss counts as an improvement only if it is
            lower than the best so far by more than this.
        seed: seeds torch/numpy/python RNGs and the generator that shuffles batches.
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        num_threads: ``torch.set_num_threads`` for the run (restored afterwards);
            ``None`` keeps torch's default.
        checkpoint_every: write ``last.pt`` (and ``best.pt`` if the best epoch
            changed) every this many epochs, always on the final epoch, and on
            SIGINT/SIGTERM. 25 bounds the work a SIGKILL loses to 24 epochs
            (about 30 s on bottle, 2 CPU cores) while writing 1/25 of the bytes
            of saving every epoch (see docs/TRAINING.md).
        deterministic: ``torch.use_deterministic_algorithms(True, warn_only=True)``
            and deterministic cuDNN for the run (restored afterwards).
        progress: show a tqdm progress bar over epochs.
        lr_schedule: ``"constant"`` (the paper) or ``"cosine"`` (decay from lr
            to 0 over ``max_epochs``, which then shapes the trajectory too).
        warmup_epochs: linear warm-up from lr / warmup_epochs over these epochs.
        amp: ``"off"`` (fp32) or ``"bf16"``: the network's forward pass under bf16
            autocast, the loss in fp32 (see :mod:`metal_pipeline.training.precision`).
            Changes the results slightly, so it is part of the run's identity.
        compile: wrap the network and the loss in ``torch.compile`` (the first
            steps compile; same results up to floating-point rounding).
    """

    lr: float = 1e-4
    batch_size: int = 64
    weight_decay: float = 0.0
    max_epochs: int = 3000
    min_epochs: int = 500
    patience: int = 50
    min_delta: float = 0.0
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = None
    checkpoint_every: int = 25
    deterministic: bool = True
    progress: bool = True
    lr_schedule: str = "constant"
    warmup_epochs: int = 0
    amp: str = "off"
    compile: bool = False

    def __post_init__(self) -> None:
        problems = []

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        if not is_num(self.lr) or not self.lr >= 0:
            problems.append(f"lr must be a number >= 0, got {self.lr!r}")
        if not is_num(self.weight_decay) or not self.weight_decay >= 0:
            problems.append(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if not is_num(self.min_delta) or not self.min_delta >= 0:
            problems.append(f"min_delta must be a number >= 0, got {self.min_delta!r}")
        for name, low in (("batch_size", 1), ("max_epochs", 1), ("min_epochs", 0),
                          ("patience", 1), ("checkpoint_every", 1), ("seed", 0)):
            value = getattr(self, name)
            if not is_int(value) or value < low:
                problems.append(f"{name} must be an integer >= {low}, got {value!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"lr_schedule must be one of {list(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if not is_int(self.warmup_epochs) or self.warmup_epochs < 0:
            problems.append(f"warmup_epochs must be an integer >= 0, got {self.warmup_epochs!r}")
        if self.num_threads is not None and (not is_int(self.num_threads) or self.num_threads < 1):
            problems.append(f"num_threads must be None or an integer >= 1, got {self.num_threads!r}")
        try:
            object.__setattr__(self, "amp", amp_mode(self.amp))
        except ValueError as error:
            problems.append(str(error))
        for name in ("deterministic", "progress", "compile"):
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.device, str):
            problems.append(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {self.device!r}")
        elif self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, ValueError):
                problems.append(f"device {self.device!r} is not a torch device; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
        if problems:
            raise ValueError("Invalid training config: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | None) -> TrainConfig:
        """Build from a plain mapping (e.g. Kedro ``params:training``).

        Missing keys take their defaults; an unknown key (usually a typo) is an error
        listing the valid keys.
        """
        params = dict(params or {})
        reject_unknown_keys(params, {f.name for f in dataclasses.fields(cls)}, "Unknown training parameter(s)")
        # YAML reads "1e-4" as a string; accept numeric strings for float fields.
        for name in ("lr", "weight_decay", "min_delta"):
            if isinstance(params.get(name), str):
                try:
                    params[name] = float(params[name])
                except ValueError:
                    raise ValueError(
                        f"Invalid training config: {name} must be a number, got {params[name]!r}"
                    ) from None
        return cls(**params)

    def lr_at(self, epoch: int) -> float:
        """Learning rate of 1-based ``epoch`` (a pure function: nothing to checkpoint)."""
        lr = float(self.lr)
        if self.warmup_epochs and epoch <= self.warmup_epochs:
            return lr * epoch / self.warmup_epochs
        if self.lr_schedule == "cosine":
            span = max(1, self.max_epochs - self.warmup_epochs)
            t = min(1.0, (epoch - 1 - self.warmup_epochs) / span)
            return lr * 0.5 * (1.0 + math.cos(math.pi * t))
        return lr

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolved_device(self) -> torch.device:
        """The torch device this config trains on (``"auto"`` resolved now)."""
        return torch.device(resolve_device(self.device))
