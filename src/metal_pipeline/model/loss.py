"""Reconstruction loss of MeTAL: ``l1_weight * L1 - ssim_weight * SSIM``."""

from __future__ import annotations

import torch
from torch import nn

from .ssim import ssim


class ReconstructionLoss(nn.Module):
    """``loss = l1_weight * mean|recon - target| - ssim_weight * mean SSIM(recon, target)``.

    Returns ``(loss, parts)`` with ``parts = {"l1": ..., "ssim": ...}`` as
    detached 0-d float tensors (batch means of the unweighted terms).
    SSIM uses a Gaussian window (sigma 1.5) and ``data_range`` (1 for images
    in [0, 1]), see :func:`metal_pipeline.model.ssim`.
    """

    def __init__(self, l1_weight: float = 1.0, ssim_weight: float = 1.0,
                 data_range: float = 1.0, sigma: float = 1.5) -> None:
        super().__init__()
        if l1_weight < 0 or ssim_weight < 0:
            raise ValueError("loss weights must be >= 0")
        self.l1_weight = float(l1_weight)
        self.ssim_weight = float(ssim_weight)
        self.data_range = float(data_range)
        self.sigma = float(sigma)

    def forward(self, recon: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if recon.shape != target.shape:
            raise ValueError(f"shape mismatch {tuple(recon.shape)} vs {tuple(target.shape)}")
        l1 = (recon - target).abs().mean()
        s = ssim(recon, target, data_range=self.data_range, sigma=self.sigma).mean()
        loss = self.l1_weight * l1 - self.ssim_weight * s
        return loss, {"l1": l1.detach(), "ssim": s.detach()}

    def extra_repr(self) -> str:
        return f"l1_weight={self.l1_weight}, ssim_weight={self.ssim_weight}"
