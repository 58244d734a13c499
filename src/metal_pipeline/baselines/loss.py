"""Training losses of the autoencoder baselines: squared error (l2-AE) and ``1 - SSIM`` (SSIM-AE).

Both return ``(loss, parts)`` as :func:`metal_pipeline.training.train` expects. The SSIM is the
project's (:mod:`metal_pipeline.model.ssim`): an 11 x 11 Gaussian window (sigma 1.5), the window
size of Bergmann et al. 2019, mean over the valid region and the channels.
"""

from __future__ import annotations

import torch
from torch import nn

from metal_pipeline.model.ssim import ssim

LOSSES = ("l2", "ssim")


class AutoencoderLoss(nn.Module):
    """``l2``: mean per-pixel squared error; ``ssim``: ``1 - mean SSIM``. Parts: ``l2`` and ``ssim``."""

    def __init__(self, kind: str, sigma: float = 1.5) -> None:
        super().__init__()
        if kind not in LOSSES:
            raise ValueError(f"unknown autoencoder loss {kind!r}; known: {', '.join(LOSSES)}")
        self.kind = kind
        self.sigma = float(sigma)

    def forward(self, recon: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if recon.shape != target.shape:
            raise ValueError(f"shape mismatch {tuple(recon.shape)} vs {tuple(target.shape)}")
        l2 = (recon - target).square().mean()
        s = ssim(recon, target, data_range=1.0, sigma=self.sigma).mean()
        loss = l2 if self.kind == "l2" else 1.0 - s
        return loss, {"l2": l2.detach(), "ssim": s.detach()}

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"
