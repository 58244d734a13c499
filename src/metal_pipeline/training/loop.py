"""The training loop: Adam, early stopping, atomic checkpoints, bitwise resume, NaN guard.

Plain torch, no Kedro and no MLflow: per-epoch metrics leave through the
``on_epoch_end`` callback (and the restored history of a resumed run through
``on_resume``). SIGINT/SIGTERM stop the run at the end of the current epoch,
after writing ``last.pt``. A ``last.pt`` that cannot be read falls back to
``best.pt``. See docs/TRAINING.md for the protocol. Resuming lives in ``training.resume``,
thread settings and signal handling in ``training.runtime``, per-epoch reports in
``training.history``.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np
import torch
from tqdm import tqdm

from metal_pipeline.data.errors import DataError
from metal_pipeline.training.checkpoint import (
    BEST_CHECKPOINT,
    CHECKPOINT_FORMAT,
    LAST_CHECKPOINT,
    capture_rng_state,
    fingerprint_hash,
    fingerprint_parts,
    load_training_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from metal_pipeline.training.config import TrainConfig
from metal_pipeline.training.history import EpochStats, epoch_stats_from_history
from metal_pipeline.training.precision import autocast, check_amp, explain_compile_failures, maybe_compile
from metal_pipeline.training.resume import RunState, resume_from_best, resume_run
from metal_pipeline.training.runtime import StopOnSignal, format_seconds, torch_settings
from metal_pipeline.training.errors import (
    CheckpointCorruptError,
    TrainingDivergedError,
    TrainingInterrupted,
)

log = logging.getLogger(__name__)

#: ``loss_fn(recon, target)`` returns ``(scalar loss, {part name: scalar tensor})``
#: (a bare scalar tensor is accepted too and means "no parts").
LossFn = Callable[[torch.Tensor, torch.Tensor], Union[tuple[torch.Tensor, Mapping[str, Any]], torch.Tensor]]
Resume = Union[bool, Literal["auto"]]


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    Attributes:
        model: the model passed in, with the best (lowest validation loss)
            weights loaded, on the training device, in eval mode.
        best_epoch: epoch those weights come from.
        best_val_loss: their validation loss.
        stopped_epoch: last epoch trained.
        stopped_early: True if early stopping ended the run, False if it hit max_epochs.
        history: one dict per epoch (all epochs, including those of earlier,
            resumed attempts): ``epoch``, ``train_loss``, ``val_loss``,
            ``train_<part>``, ``val_<part>``, ``seconds``.
        wall_seconds: wall time of this call.
        resumed_from_epoch: epoch of the ``last.pt`` this call continued from, or None.
        resumed_from_best: True if ``last.pt`` could not be read and the run continued
            from ``best.pt`` instead (not bit-identical to an uninterrupted run).
        already_finished: True if ``last.pt`` said the run was over and nothing was trained.
        checkpoint_dir: folder holding ``best.pt`` and ``last.pt``.
        device: device trained on, e.g. ``"cpu"`` or ``"cuda"``.
    """

    model: torch.nn.Module
    best_epoch: int
    best_val_loss: float
    stopped_epoch: int
    stopped_early: bool
    history: list[dict[str, float]]
    wall_seconds: float
    resumed_from_epoch: int | None
    already_finished: bool
    checkpoint_dir: Path
    device: str
    resumed_from_best: bool = False

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoint_dir / BEST_CHECKPOINT

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoint_dir / LAST_CHECKPOINT


# -- public entry point --------------------------------------------------
def train(
    model: torch.nn.Module,
    loss_fn: LossFn,
    train_images: np.ndarray,
    val_images: np.ndarray,
    config: TrainConfig | Mapping[str, Any] | None,
    checkpoint_dir: str | os.PathLike,
    resume: Resume = "auto",
    on_epoch_end: Callable[[EpochStats], None] | None = None,
    fingerprint_extra: Mapping[str, Any] | None = None,
    augment: Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]] | None = None,
    on_resume: Callable[[list[EpochStats]], None] | None = None,
    stop_on_signals: bool = True,
) -> TrainResult:
    """Train ``model`` to reconstruct ``train_images``; keep the weights with the best validation loss.

    Args:
        model: any ``nn.Module`` mapping float images ``(B, C, H, W)`` in [0, 1]
            to a reconstruction of the same shape. It is moved to the device and
            trained in place; seed torch before building it for a reproducible init.
        loss_fn: ``loss_fn(recon, target) -> (loss, parts)``, ``loss`` a scalar
            tensor to minimise, ``parts`` a dict of scalar tensors to report.
        train_images: uint8 ``(n, C, H, W)``; converted to float32 / 255 per batch.
        val_images: uint8 ``(m, C, H, W)``, same ``C, H, W``; evaluated every epoch.
        config: a :class:`TrainConfig` or a plain dict for ``TrainConfig.from_dict``.
        checkpoint_dir: folder for ``best.pt`` and ``last.pt`` (created if needed).
        resume: ``"auto"`` continues from ``checkpoint_dir/last.pt`` if it exists
            (and starts fresh otherwise); ``True`` requires it; ``False`` deletes
            any old ``best.pt``/``last.pt`` there and starts fresh. If ``last.pt``
            cannot be read, the run continues from an intact ``best.pt`` of the
            same run, with a warning (and rewrites ``last.pt`` from there).
        on_epoch_end: called with an :class:`EpochStats` after every epoch,
            once that epoch's checkpoint (if due) is written. An exception raised
            here stops the run; re-running resumes from ``last.pt``.
        fingerprint_extra: JSON-able facts that also define the run (e.g. model
            config, loss weights); resuming with different values is refused.
        augment: ``augment(x, generator) -> (input, target)`` applied to every
            training batch (validation batches are never augmented); it must
            draw its randomness from ``generator`` so resume stays bit-identical.
            Describe it in ``fingerprint_extra``.
        on_resume: when a run continues from a checkpoint (or is already finished),
            called once, before any epoch, with the :class:`EpochStats` of every
            epoch the checkpoint's history holds, so a logger can fill in what it
            has not got.
        stop_on_signals: while epochs run (in the main thread), SIGINT and SIGTERM
            finish the current epoch, write ``last.pt`` and raise
            :class:`TrainingInterrupted`; a second signal stops at once as usual.

    Returns:
        A :class:`TrainResult`.

    Raises:
        DataError: images empty, not uint8 4-D, or train/validation shapes differ.
        ValueError: bad config or ``resume`` value.
        CheckpointMismatchError: ``last.pt`` belongs to another config/model/data.
        CheckpointCorruptError: ``last.pt`` cannot be read and there is no intact
            ``best.pt`` of the same run to fall back to.
        FileNotFoundError: ``resume=True`` and no ``last.pt``.
        TrainingDivergedError: a training or validation loss became NaN/inf.
        TrainingInterrupted: SIGINT/SIGTERM; ``last.pt`` holds the epoch it names.
    """
    started = time.perf_counter()
    if not isinstance(config, TrainConfig):
        config = TrainConfig.from_dict(config)
    if resume not in (True, False, "auto") or (resume != "auto" and not isinstance(resume, bool)):
        raise ValueError(f"resume must be True, False or 'auto', got {resume!r}")
    _check_images(train_images, val_images)
    device = config.resolved_device()
    checkpoint_dir = Path(checkpoint_dir)
    last_path = checkpoint_dir / LAST_CHECKPOINT
    best_path = checkpoint_dir / BEST_CHECKPOINT

    check_amp(config.amp, device)
    with torch_settings(config, device):
        model.to(device)
        fp_parts = fingerprint_parts(config, model, train_images, val_images, fingerprint_extra)
        fp = fingerprint_hash(fp_parts)

        random.seed(config.seed)
        np.random.seed(config.seed)
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"{type(model).__name__} has no trainable parameters.")
        optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)

        state = RunState()
        resumed_from: int | None = None
        from_best = False
        if resume is not False and last_path.exists():
            try:
                state = resume_run(last_path, fp, fp_parts, model, optimizer, generator)
            except CheckpointCorruptError as unreadable:
                state = resume_from_best(unreadable, last_path, best_path, fp, model)
                from_best = True
            resumed_from = state.epoch
        elif resume is True:
            raise FileNotFoundError(
                f"resume=True but {last_path} does not exist; use resume='auto' to start a fresh run."
            )
        elif resume is False:
            for stale in (last_path, best_path):
                if stale.exists():
                    log.warning("resume=False: deleting old checkpoint %s", stale)
                    stale.unlink()

        run = _Run(model, loss_fn, optimizer, generator, train_images, val_images, config, device,
                   fp, fp_parts, checkpoint_dir, state, on_epoch_end, augment)
        if from_best:
            run.best_written = state.best_epoch
            run._write_last()  # a readable last.pt again: a second resume continues from here exactly
        if resumed_from is not None and on_resume is not None and state.history:
            rng = capture_rng_state(generator)  # like on_epoch_end: the callback cannot change the run
            on_resume(epoch_stats_from_history(state.history, config.min_delta))
            restore_rng_state(rng, generator)
        already_finished = False
        if resumed_from is not None and run.is_finished():
            already_finished = True
            run.finish_without_training()
            log.info("Run in %s already finished at epoch %d (best epoch %d, val loss %.6g); nothing to train.",
                     checkpoint_dir, state.epoch, state.best_epoch, state.best_val_loss)
        else:
            if resumed_from is not None:
                log.info("Resuming %s from epoch %d (best epoch %d, val loss %.6g).",
                         checkpoint_dir, state.epoch, state.best_epoch, state.best_val_loss)
            with StopOnSignal(enabled=stop_on_signals) as stop, explain_compile_failures(config.compile):
                run.stop = stop
                run.run_epochs()
            if stop.signal_name is not None:  # arrived after the last epoch's check: the final last.pt is on disk
                raise TrainingInterrupted(stop.signal_name, state.epoch, last_path)

        assert state.best_state is not None
        model.load_state_dict(state.best_state)
        model.eval()

    return TrainResult(
        model=model,
        best_epoch=state.best_epoch,
        best_val_loss=state.best_val_loss,
        stopped_epoch=state.epoch,
        stopped_early=state.stopped_early,
        history=[dict(h) for h in state.history],
        wall_seconds=time.perf_counter() - started,
        resumed_from_epoch=resumed_from,
        already_finished=already_finished,
        checkpoint_dir=checkpoint_dir,
        device=str(device),
        resumed_from_best=from_best,
    )


# -- the run -------------------------------------------------------------
class _Run:
    def __init__(self, model, loss_fn, optimizer, generator, train_images, val_images, config, device,
                 fp, fp_parts, checkpoint_dir, state, on_epoch_end, augment=None):
        self.augment = augment
        self.model = model
        self.loss_fn = loss_fn
        # training.compile: compiled wrappers; the module itself (checkpoints, the returned model) stays as it is
        self.forward = maybe_compile(model, config.compile)
        self.compiled_loss = maybe_compile(loss_fn, config.compile)
        self.optimizer = optimizer
        self.generator = generator
        self.train_images = train_images
        self.val_images = val_images
        self.config: TrainConfig = config
        self.device: torch.device = device
        self.fp = fp
        self.fp_parts = fp_parts
        self.last_path = checkpoint_dir / LAST_CHECKPOINT
        self.best_path = checkpoint_dir / BEST_CHECKPOINT
        self.state: RunState = state
        self.on_epoch_end = on_epoch_end
        # Epoch of the weights in best.pt as written by this call; None forces a
        # rewrite at the next checkpoint (best.pt may be ahead of a resumed last.pt).
        self.best_written: int | None = None
        self.last_good: Path | None = self.last_path if self.last_path.exists() else None
        self.stop: StopOnSignal | None = None

    # stopping rule ------------------------------------------------------
    def should_stop_early(self) -> bool:
        s, c = self.state, self.config
        return s.epoch >= c.min_epochs and s.epoch - s.best_epoch >= c.patience

    def is_finished(self) -> bool:
        return self.state.stopped_early or self.state.epoch >= self.config.max_epochs or self.should_stop_early()

    def finish_without_training(self) -> None:
        """A resumed run with nothing left to do: settle the stop reason and make best.pt agree."""
        s = self.state
        changed = False
        if not s.stopped_early and s.epoch < self.config.max_epochs and self.should_stop_early():
            s.stopped_early = True  # the stopping rule was loosened/tightened since last.pt
            changed = True
        try:
            best_ok = int(load_training_checkpoint(self.best_path)["epoch"]) == s.best_epoch
        except (FileNotFoundError, CheckpointCorruptError, KeyError):
            best_ok = False
        if not best_ok:
            self._write_best()
        if changed:
            self._write_last()

    # epochs -------------------------------------------------------------
    def run_epochs(self) -> None:
        c = self.config
        start_epoch = self.state.epoch
        session_seconds: list[float] = []
        with tqdm(total=c.max_epochs, initial=start_epoch, disable=not c.progress, unit="epoch",
                  desc="training", dynamic_ncols=True) as bar:
            for epoch in range(start_epoch + 1, c.max_epochs + 1):
                t0 = time.perf_counter()
                train_loss, train_parts = self._train_epoch(epoch)
                val_loss, val_parts = self._validate(epoch)
                seconds = time.perf_counter() - t0
                session_seconds.append(seconds)

                s = self.state
                s.epoch = epoch
                if val_loss < s.best_val_loss - c.min_delta:
                    s.best_val_loss = val_loss
                    s.best_epoch = epoch
                    s.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                s.stopped_early = self.should_stop_early()
                finished = s.stopped_early or epoch >= c.max_epochs

                parts = {**_prefixed("train", train_parts), **_prefixed("val", val_parts)}
                s.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                                  **parts, "seconds": seconds})
                stopping = self.stop is not None and self.stop.signal_name is not None
                written = finished or stopping or epoch % c.checkpoint_every == 0
                if written:
                    self._write_best()
                    self._write_last()

                stats = EpochStats(epoch=epoch, train_loss=train_loss, val_loss=val_loss, parts=parts,
                                   best_epoch=s.best_epoch, best_val_loss=s.best_val_loss, seconds=seconds)
                bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}",
                                best=f"{s.best_val_loss:.4g}@{s.best_epoch}",
                                eta=self._eta(epoch, session_seconds), refresh=False)
                bar.update(1)
                log.debug("epoch %d: train %.6g, val %.6g, best %.6g @ %d (%.2fs)",
                          epoch, train_loss, val_loss, s.best_val_loss, s.best_epoch, seconds)
                if self.on_epoch_end is not None:
                    # The callback must not change the trajectory (logging on/off, or a
                    # callback that samples for a figure): shield the RNGs from it.
                    rng = capture_rng_state(self.generator)
                    self.on_epoch_end(stats)
                    restore_rng_state(rng, self.generator)
                if self.stop is not None and self.stop.signal_name is not None:
                    if not written:  # the signal came during the callback
                        self._write_best()
                        self._write_last()
                    raise TrainingInterrupted(self.stop.signal_name, epoch, self.last_path)
                if finished:
                    break
        s = self.state
        if s.stopped_early:
            log.info("Early stop at epoch %d: no val-loss improvement for %d epochs; best epoch %d (val loss %.6g).",
                     s.epoch, s.epoch - s.best_epoch, s.best_epoch, s.best_val_loss)
        else:
            log.info("Reached max_epochs=%d; best epoch %d (val loss %.6g).", c.max_epochs, s.best_epoch,
                     s.best_val_loss)

    def _eta(self, epoch: int, session_seconds: list[float]) -> str:
        """Remaining time: until the earliest possible early stop - until max_epochs."""
        c, s = self.config, self.state
        per_epoch = sum(session_seconds) / len(session_seconds)
        earliest = min(c.max_epochs, max(c.min_epochs, s.best_epoch + c.patience))
        low = max(0, earliest - epoch) * per_epoch
        high = max(0, c.max_epochs - epoch) * per_epoch
        return f"{format_seconds(low)}-{format_seconds(high)}"

    def _train_epoch(self, epoch: int) -> tuple[float, dict[str, float]]:
        self.model.train()
        lr = self.config.lr_at(epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        n = len(self.train_images)
        order = torch.randperm(n, generator=self.generator).numpy()
        total, parts_total = 0.0, {}
        for batch, lo in enumerate(range(0, n, self.config.batch_size), start=1):
            idx = order[lo:lo + self.config.batch_size]
            x = _to_device(self.train_images[idx], self.device)
            self.optimizer.zero_grad(set_to_none=True)
            if self.augment is not None:
                x, target = self.augment(x, self.generator)
                loss, parts = self._loss(x, target)
            else:
                loss, parts = self._loss(x)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingDivergedError(epoch, batch, "train", value, self.last_good, self.config.lr)
            loss.backward()
            self.optimizer.step()
            total += value * len(idx)
            for k, v in parts.items():
                parts_total[k] = parts_total.get(k, 0.0) + v * len(idx)
        return total / n, {k: v / n for k, v in parts_total.items()}

    @torch.no_grad()
    def _validate(self, epoch: int) -> tuple[float, dict[str, float]]:
        self.model.eval()
        n = len(self.val_images)
        total, parts_total = 0.0, {}
        for batch, lo in enumerate(range(0, n, self.config.batch_size), start=1):
            x = _to_device(self.val_images[lo:lo + self.config.batch_size], self.device)
            loss, parts = self._loss(x)
            value = float(loss)
            if not math.isfinite(value):
                raise TrainingDivergedError(epoch, batch, "validation", value, self.last_good, self.config.lr)
            total += value * len(x)
            for k, v in parts.items():
                parts_total[k] = parts_total.get(k, 0.0) + v * len(x)
        return total / n, {k: v / n for k, v in parts_total.items()}

    def _loss(self, x: torch.Tensor, target: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        target = x if target is None else target
        with autocast(self.config.amp, self.device):  # training.amp: the network in bf16, the loss below in fp32
            recon = self.forward(x)
        if not isinstance(recon, torch.Tensor) or recon.shape != x.shape:
            got = tuple(recon.shape) if isinstance(recon, torch.Tensor) else type(recon).__name__
            raise ValueError(
                f"{type(self.model).__name__} must return a reconstruction tensor shaped like its input "
                f"{tuple(x.shape)}, got {got}."
            )
        if self.config.amp != "off":
            recon = recon.float()
        out = self.compiled_loss(recon, target)
        if isinstance(out, torch.Tensor):
            loss, raw_parts = out, {}
        elif isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], torch.Tensor):
            loss, raw_parts = out
        else:
            raise TypeError("loss_fn(recon, target) must return (loss_tensor, dict_of_parts) or a loss tensor, "
                            f"got {type(out).__name__}.")
        if loss.numel() != 1:
            raise ValueError(f"loss_fn must return a scalar loss, got shape {tuple(loss.shape)}.")
        parts = {str(k): float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
                 for k, v in dict(raw_parts).items()}
        return loss.reshape(()), parts

    # checkpoints --------------------------------------------------------
    def _write_best(self) -> None:
        s = self.state
        if self.best_written == s.best_epoch and self.best_path.exists():
            return
        save_checkpoint({"format": CHECKPOINT_FORMAT, "model": s.best_state, "epoch": s.best_epoch,
                         "val_loss": s.best_val_loss, "fingerprint": self.fp,
                         # small, and lets a fallback from an unreadable last.pt keep the history
                         "history": [h for h in s.history if h["epoch"] <= s.best_epoch]}, self.best_path)
        self.best_written = s.best_epoch

    def _write_last(self) -> None:
        s, c = self.state, self.config
        finished = s.stopped_early or s.epoch >= c.max_epochs
        save_checkpoint({
            "format": CHECKPOINT_FORMAT,
            "fingerprint": self.fp,
            "fingerprint_parts": self.fp_parts,
            "config": c.to_dict(),
            "epoch": s.epoch,
            "finished": finished,
            "stopped_early": s.stopped_early,
            "model": self.model.state_dict(),
            "best_model": s.best_state,
            "best_epoch": s.best_epoch,
            "best_val_loss": s.best_val_loss,
            "optimizer": self.optimizer.state_dict(),
            "rng": capture_rng_state(self.generator),
            "history": s.history,
        }, self.last_path)
        self.last_good = self.last_path


# -- helpers -------------------------------------------------------------
def _check_images(train_images: Any, val_images: Any) -> None:
    for what, images in (("training", train_images), ("validation", val_images)):
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
            got = (f"{images.dtype} array of shape {images.shape}" if isinstance(images, np.ndarray)
                   else type(images).__name__)
            raise DataError(
                f"The {what} images must be a uint8 numpy array shaped (n, C, H, W) "
                f"(ImageSet.images), got {got}."
            )
    if len(train_images) == 0:
        raise DataError("The training set is empty: there are no normal images to train on. "
                        "Check the training image folder and the ingestion step.")
    if len(val_images) == 0:
        raise DataError("The validation set is empty, so early stopping and best-model selection "
                        "are impossible: raise val_fraction or add more training images.")
    if train_images.shape[1:] != val_images.shape[1:]:
        raise DataError(f"Training images are (C, H, W) = {train_images.shape[1:]} but validation images are "
                        f"{val_images.shape[1:]}; both must come from the same ingestion run.")


def _to_device(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).float().div_(255.0)


def _prefixed(prefix: str, parts: Mapping[str, float]) -> dict[str, float]:
    # "loss" would collide with the total (train_loss / val_loss), which is already reported.
    return {f"{prefix}_{k}": v for k, v in parts.items() if k != "loss"}


