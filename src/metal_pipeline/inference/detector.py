"""``AnomalyDetector``: a trained reconstruction network plus the rules that turn
its output into a heatmap, an image score and an accept/reject decision.

The evaluation pipeline and the ``predict`` pipeline both score images through
:meth:`AnomalyDetector.score`, so a registered model gives exactly the same
scores in both places. The detector is what gets logged to MLflow: its
``forward`` is the reconstruction, and the scoring settings travel inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from metal_pipeline.scoring import image_scores, reconstruct, residual_maps, smooth_maps


@dataclass
class Scores:
    """What scoring a batch of images yields."""

    reconstructions: np.ndarray  # float32 (n, C, H, W) in model space
    maps: np.ndarray  # float32 (n, H, W) smoothed residual maps
    scores: np.ndarray  # float64 (n,) image scores
    decisions: np.ndarray | None  # bool (n,) True = anomalous; None without a threshold


class AnomalyDetector(nn.Module):
    """A reconstruction network with its scoring rule and decision threshold.

    Args:
        net: maps (B, C, N, N) images in [0, 1] to their reconstruction.
        sigma: Gaussian smoothing of the residual map, in model pixels.
        reduction: how a map becomes an image score ("max", "mean", "p99").
        threshold: image score above which an image is called anomalous.
        metadata: JSON-able facts about training (class, configuration, ...).
    """

    def __init__(
        self,
        net: nn.Module,
        sigma: float,
        reduction: str = "max",
        threshold: float | None = None,
        metadata: dict | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.sigma = float(sigma)
        self.reduction = reduction
        self.threshold = None if threshold is None else float(threshold)
        self.metadata = dict(metadata or {})

    @property
    def img_size(self) -> int:
        return int(self.net.config.img_size)

    @property
    def channels(self) -> int:
        return int(self.net.config.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def score(self, images: np.ndarray, batch_size: int = 32, device: str = "cpu") -> Scores:
        """Score uint8 images ``(n, C, N, N)`` already at the model's size and channels."""
        if images.ndim != 4 or images.shape[1] != self.channels or images.shape[2:] != (self.img_size,) * 2:
            raise ValueError(
                f"images of shape {images.shape} do not match the model, which expects "
                f"(n, {self.channels}, {self.img_size}, {self.img_size})"
            )
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.net.to(device)
        recon = reconstruct(self.net, images, batch_size=batch_size, device=device)
        maps = smooth_maps(residual_maps(images.astype(np.float32) / 255.0, recon), self.sigma)
        scores = image_scores(maps, reduction=self.reduction)
        decisions = None if self.threshold is None else scores > self.threshold
        return Scores(reconstructions=recon, maps=maps, scores=scores, decisions=decisions)
