"""Shared by tests/inference and tests/pipelines/predict: a tiny detector and broken files."""

from __future__ import annotations

from pathlib import Path

import torch

from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.model import MeTAL, MeTALConfig


def tiny_detector(channels: int = 3, img_size: int = 32, threshold: float | None = None, seed: int = 0,
                  sigma: float = 1.0) -> AnomalyDetector:
    """A freshly initialised 32 px MeTAL (squares_rows, paper masking) wrapped as a detector."""
    torch.manual_seed(seed)
    net = MeTAL(MeTALConfig(img_size=img_size, patch_size=8, channels=channels, embed_dim=16, num_heads=2, depth=1,
                            decoder_hidden=32, decoder_layers=1, configuration="squares_rows", masking="paper"))
    return AnomalyDetector(net, sigma=sigma, reduction="max", threshold=threshold,
                           metadata={"class": "widget", "configuration": "squares_rows", "masking": "paper",
                                     "seed": seed})


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to ``keep`` of its bytes (a truncated download)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
