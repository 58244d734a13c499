"""A small discriminative head on top of a trained MeTAL: it reads the image, its
reconstruction and the two hand-made residual maps, and outputs a per-pixel
anomaly logit.

Why: a reconstruction residual also lights up where a normal image is merely
hard to repaint (edges, texture, pose); DRAEM (Zavrtanik et al., ICCV 2021)
showed that a segmentation network trained on synthetic anomalies learns
which residuals matter, and that is where its gain over reconstruction-only
methods comes from (bottle pixel AUROC 99.1). Here the reconstruction network
stays frozen; the head is a U-Net small enough to train on a CPU in minutes.

Input channels: image (C), reconstruction (C), the L2 map and the MSGMS map
(one each), so ``2 * C + 2``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from metal_pipeline.scoring.maps import l2_map, msgms_map


@dataclass(frozen=True)
class SegHeadConfig:
    """Shape of a :class:`SegHead`.

    Attributes:
        channels: image channels (1 or 3).
        width: channels of the first level; each lower level doubles them.
        levels: number of 2x downsamplings (the input size must divide by 2**levels).
    """

    channels: int = 3
    width: int = 16  # as the default recipe (conf/base/parameters_training.yml, scoring.seg_head)
    levels: int = 3

    def __post_init__(self) -> None:
        for name in ("channels", "width", "levels"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"seg_head.{name} must be an integer >= 1, got {v!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"seg_head.channels must be 1 or 3, got {self.channels}")

    def to_dict(self) -> dict:
        return asdict(self)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


def head_inputs(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """``(B, 2C + 2, H, W)``: image, reconstruction, L2 map, MSGMS map (unsmoothed)."""
    recon = recon.to(x.dtype)
    return torch.cat((x, recon, l2_map(x, recon).unsqueeze(1), msgms_map(x, recon).unsqueeze(1)), dim=1)


class SegHead(nn.Module):
    """U-Net: ``(image, reconstruction) -> (B, H, W)`` anomaly logits."""

    def __init__(self, config: SegHeadConfig | dict | None = None) -> None:
        super().__init__()
        if not isinstance(config, SegHeadConfig):
            config = SegHeadConfig(**dict(config or {}))
        self.config = config
        w = config.width
        widths = [w * 2 ** i for i in range(config.levels + 1)]
        self.down = nn.ModuleList()
        cin = 2 * config.channels + 2
        for cout in widths:
            self.down.append(_block(cin, cout))
            cin = cout
        self.up = nn.ModuleList(_block(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(config.levels)))
        self.out = nn.Conv2d(widths[0], 1, 1)
        # channels-last convolutions run about 1.45x faster on CPU (same fp32 arithmetic, another order)
        self.to(memory_format=torch.channels_last)

    @classmethod
    def from_state(cls, config: dict, state_dict: dict) -> SegHead:
        """A saved head (``config`` as :meth:`SegHeadConfig.to_dict`) in eval mode. Its throwaway
        initialisation does not advance the global RNG, so loading a head never changes later draws."""
        with torch.random.fork_rng(devices=[]):
            head = cls(SegHeadConfig(**dict(config)))
        head.load_state_dict(state_dict, strict=True)
        return head.eval()

    def forward(self, x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        size = 2 ** self.config.levels
        if x.shape[-1] % size or x.shape[-2] % size:
            raise ValueError(f"SegHead: image size {tuple(x.shape[-2:])} must divide by {size} (2**levels)")
        h = head_inputs(x, recon).contiguous(memory_format=torch.channels_last)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h if i == 0 else F.max_pool2d(h, 2))
            skips.append(h)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = block(torch.cat((h, skip), dim=1))
        return self.out(h)[:, 0].contiguous()
