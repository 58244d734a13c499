"""Tiny model, loss and images for the training-loop tests (no dependency on metal_pipeline.model)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from metal_pipeline.training import TrainConfig


class TinyAE(nn.Module):
    """Conv autoencoder with dropout, so resuming must restore the global torch RNG too."""

    def __init__(self, channels: int = 1, hidden: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.enc = nn.Conv2d(channels, hidden, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.dec = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.dec(self.drop(torch.relu(self.enc(x)))))


class ConstantModel(nn.Module):
    """Ignores its input: outputs sigmoid(bias) everywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.bias).expand_as(x)


def l1_loss(recon: torch.Tensor, target: torch.Tensor):
    l1 = (recon - target).abs().mean()
    return l1, {"l1": l1, "mean_recon": recon.mean()}


def make_model(seed: int = 0, **kwargs) -> TinyAE:
    torch.manual_seed(seed)
    return TinyAE(**kwargs)


def make_images(n: int, seed: int, size: int = 16, channels: int = 1) -> np.ndarray:
    """Smooth random blobs, uint8 (n, C, size, size)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    out = np.empty((n, channels, size, size), dtype=np.uint8)
    for i in range(n):
        for c in range(channels):
            cy, cx = rng.uniform(2, size - 2, 2)
            r = rng.uniform(2, size / 3)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
            out[i, c] = np.clip(40 + 180 * blob + rng.normal(0, 4, (size, size)), 0, 255).astype(np.uint8)
    return out


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def strip_seconds(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def with_(config: TrainConfig, **changes) -> TrainConfig:
    return dataclasses.replace(config, **changes)
