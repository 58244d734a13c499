"""Training the discriminative head (:mod:`metal_pipeline.model.seg_head`) on a frozen
reconstruction network.

Each step takes a batch of training normals, pastes synthetic anomalies on
some of them (:func:`metal_pipeline.training.augment.synthetic_anomalies`, the
training family, never the validation one), reconstructs the corrupted images
with the frozen network and fits the head to the pasted masks with a focal
loss (as DRAEM does; most pixels are normal). The target keeps only pixels
the corruption visibly changed, so a blob that happens to repeat the original
content is not labelled anomalous. Every draw comes from one seeded
``torch.Generator``: the same inputs give the same head.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from metal_pipeline.model.seg_head import SegHead, SegHeadConfig
from metal_pipeline.training.augment import synthetic_anomalies
from metal_pipeline.training.precision import amp_mode, autocast, check_amp

#: A pixel counts as corrupted when some channel moved by more than this (in [0, 1] units).
VISIBLE_CHANGE = 0.02


@dataclass(frozen=True)
class SegHeadTrainConfig:
    """How the head is trained.

    Attributes:
        steps: optimiser steps.
        batch_size: images per step.
        lr: peak Adam learning rate (cosine decay to 0 over ``steps``).
        anomaly_prob: share of each batch that gets synthetic anomalies.
        max_blobs: up to this many blobs per corrupted image.
        focal_gamma: focal-loss focusing parameter (0 = plain BCE).
        amp: ``"off"`` (fp32) or ``"bf16"``: the head's forward pass under bf16 autocast while
            training (the loss stays fp32). On a CPU with native bf16 (AVX512-BF16 or AMX) a
            width-16 head trains about 1.7x faster; scoring always runs the head in fp32.
        seed: seeds the generator of batches and corruptions, and the init.
    """

    steps: int = 1500
    batch_size: int = 16
    lr: float = 1e-3
    anomaly_prob: float = 0.5
    max_blobs: int = 3
    focal_gamma: float = 2.0
    amp: str = "off"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "max_blobs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"seg_head.{name} must be an integer >= 1, got {v!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"seg_head.lr must be a number > 0, got {self.lr!r}")
        if not (isinstance(self.anomaly_prob, (int, float)) and 0 < self.anomaly_prob <= 1):
            raise ValueError(f"seg_head.anomaly_prob must be a number in (0, 1], got {self.anomaly_prob!r}")
        if not (isinstance(self.focal_gamma, (int, float)) and self.focal_gamma >= 0):
            raise ValueError(f"seg_head.focal_gamma must be a number >= 0, got {self.focal_gamma!r}")
        try:
            object.__setattr__(self, "amp", amp_mode(self.amp))
        except ValueError as err:
            raise ValueError(f"seg_head.{err}") from None

    def to_dict(self) -> dict:
        return asdict(self)


#: Keys of the ``scoring.seg_head`` parameter section, by the config they go to.
HEAD_KEYS = ("width", "levels")
TRAIN_KEYS = ("steps", "batch_size", "lr", "anomaly_prob", "max_blobs", "focal_gamma", "amp")


def seg_head_configs(params, channels: int, seed: int) -> tuple[SegHeadTrainConfig, SegHeadConfig]:
    """The ``scoring.seg_head`` parameters as the two configs (the run's ``seed`` seeds the head).

    Raises:
        ValueError: an unknown key or a bad value, naming it.
    """
    params = dict(params or {})
    unknown = sorted(set(params) - set(HEAD_KEYS) - set(TRAIN_KEYS))
    if unknown:
        raise ValueError(f"unknown seg_head parameter(s) {unknown}; known: {sorted(HEAD_KEYS + TRAIN_KEYS)}")
    train = SegHeadTrainConfig(seed=int(seed), **{k: params[k] for k in TRAIN_KEYS if k in params})
    head = SegHeadConfig(channels=int(channels), **{k: params[k] for k in HEAD_KEYS if k in params})
    return train, head


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float) -> torch.Tensor:
    """Mean binary focal loss (Lin et al. 2017) from logits; ``gamma = 0`` is BCE."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if gamma == 0:
        return bce.mean()
    pt = torch.exp(-bce)
    return ((1 - pt) ** gamma * bce).mean()


def corrupted_batch(x: torch.Tensor, generator: torch.Generator, prob: float,
                    max_blobs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(corrupted, target)``: training-family anomalies and the visibly changed pixels."""
    corrupted, masks = synthetic_anomalies(x, generator, prob, max_blobs)
    visible = ((corrupted - x).abs().amax(dim=1, keepdim=True) > VISIBLE_CHANGE).float()
    return corrupted, (masks * visible)[:, 0]


def train_seg_head(
    net: nn.Module,
    images: np.ndarray,
    config: SegHeadTrainConfig,
    head_config: SegHeadConfig,
    device: str = "cpu",
    on_step: Callable[[int, float], None] | None = None,
    time_limit_s: float | None = None,
) -> tuple[SegHead, list[float]]:
    """Train a head on uint8 ``images`` (n, C, H, W) with ``net`` frozen.

    Returns the head (in eval mode) and the loss of each step. ``time_limit_s``
    stops early (for screening), and the cosine schedule still runs over
    ``config.steps``.
    """
    if images.ndim != 4 or images.dtype != np.uint8 or images.shape[1] != head_config.channels:
        raise ValueError(f"train_seg_head: need uint8 (n, {head_config.channels}, H, W) images, "
                         f"got {images.dtype} {images.shape}")
    check_amp(config.amp, torch.device(device), name="scoring.seg_head.amp")
    torch.manual_seed(config.seed)
    head = SegHead(head_config).to(device)
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.Adam(head.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, config.steps) / config.steps)))
    was_training = net.training
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    data = torch.from_numpy(images)
    losses: list[float] = []
    start = time.perf_counter()
    try:
        head.train()
        for step in range(config.steps):
            idx = torch.randint(0, len(data), (config.batch_size,), generator=gen)
            x = data[idx].float().div_(255.0)
            corrupted, target = corrupted_batch(x, gen, config.anomaly_prob, config.max_blobs)
            corrupted, target = corrupted.to(device), target.to(device)
            with torch.no_grad():
                recon = net(corrupted)
            with autocast(config.amp, torch.device(device)):
                logits = head(corrupted, recon)
            loss = focal_loss(logits.float(), target, config.focal_gamma)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            if on_step is not None:
                on_step(step, losses[-1])
            if time_limit_s is not None and time.perf_counter() - start > time_limit_s:
                break
    finally:
        for p in net.parameters():
            p.requires_grad_(True)
        net.train(was_training)
    head.eval()
    return head, losses


@torch.inference_mode()
def head_logits(head: SegHead, x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)`` logits of a batch, head in eval mode."""
    was = head.training
    head.eval()
    try:
        return head(x, recon.to(x.dtype))
    finally:
        head.train(was)


def cached_seg_head(
    net: nn.Module,
    images: np.ndarray,
    params,
    seed: int,
    cache_dir: str | Path | None,
    cache_key: str,
    device: str = "cpu",
    num_threads: int | None = None,
) -> tuple[SegHead, dict]:
    """A head for ``net``: loaded from ``<cache_dir>/<cache_key>.pt`` when it exists, else trained
    (:func:`train_seg_head`) and written there atomically. The caller makes ``cache_key`` cover
    everything that changes the head (network, training images, ``params``, ``seed``).

    ``num_threads``: torch threads while training (restored afterwards; None: as they are), so a head
    trained under any runner is the same.

    Returns the head and a summary (``steps``, ``final_loss``, ``seconds``, ``reused``, ``path``).
    """
    from metal_pipeline.utils.atomic import atomic_path

    train_cfg, head_cfg = seg_head_configs(params, channels=int(images.shape[1]), seed=seed)
    path = None if cache_dir is None else Path(cache_dir) / f"{cache_key}.pt"
    if path is not None and path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        head = SegHead.from_state(saved["config"], saved["state_dict"])
        return head, {**saved["summary"], "reused": True, "path": str(path)}
    start = time.perf_counter()
    threads = torch.get_num_threads()
    try:
        if num_threads is not None:
            torch.set_num_threads(int(num_threads))
        head, losses = train_seg_head(net, images, train_cfg, head_cfg, device=device)
    finally:
        torch.set_num_threads(threads)
    head = head.cpu().eval()
    summary = {"steps": len(losses), "final_loss": float(np.mean(losses[-50:])), "seconds": time.perf_counter() - start,
               "train_config": train_cfg.to_dict()}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save({"config": head_cfg.to_dict(), "summary": summary,
                        "state_dict": {k: v.detach().clone() for k, v in head.state_dict().items()}}, tmp)
    return head, {**summary, "reused": False, "path": None if path is None else str(path)}
