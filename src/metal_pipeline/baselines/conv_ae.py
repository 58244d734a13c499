"""The convolutional autoencoder of Bergmann et al. 2019, the l2-AE and SSIM-AE baselines (no Kedro).

Bergmann, Löwe, Fauser, Sattlegger, Steger, "Improving Unsupervised Defect
Segmentation by Applying Structural Similarity to Autoencoders", VISAPP 2019,
Table 1, for a 128 x 128 input:

=========  =======  ======  ========  ==========
layer      kernel   stride  channels  output
=========  =======  ======  ========  ==========
Conv1      4 x 4    2       32        64 x 64
Conv2      4 x 4    2       32        32 x 32
Conv3      3 x 3    1       32        32 x 32
Conv4      4 x 4    2       64        16 x 16
Conv5      3 x 3    1       64        16 x 16
Conv6      4 x 4    2       128       8 x 8
Conv7      3 x 3    1       64        8 x 8
Conv8      3 x 3    1       32        8 x 8
Conv9      8 x 8    1       d         1 x 1 (no padding: the latent code)
=========  =======  ======  ========  ==========

and a decoder that mirrors it with transposed convolutions where the encoder
strides (and at the latent layer). Every layer but the last is followed by a
LeakyReLU of slope 0.2; the output layer has a sigmoid, so a reconstruction
lies in the images' [0, 1] range like MeTAL's (the paper does not name the
output activation). The latent size ``d`` is 100 by default.

Other image sizes: the four stride-2 layers divide the side by 16, so the
latent layer's kernel is ``img_size / 16`` (8 at 128 px, 2 at the tests' 32 px);
``img_size`` must be a multiple of 16.

The two baselines share this network and differ in the loss they train with
and the residual map they score with
(:data:`metal_pipeline.baselines.methods.BASELINES`): the l2-AE trains on
the per-pixel squared error and scores with the squared error summed over
channels (map kind ``l2``); the SSIM-AE trains on ``1 - SSIM`` and scores with
``1 - SSIM`` map (kind ``ssim``), both with the 11 x 11 window of the paper
(:mod:`metal_pipeline.model.ssim`: Gaussian, sigma 1.5, radius 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from metal_pipeline.params.validate import reject_unknown_keys

#: (out channels, kernel, stride, padding) of the encoder below the latent layer (Table 1 of the paper).
ENCODER = ((32, 4, 2, 1), (32, 4, 2, 1), (32, 3, 1, 1), (64, 4, 2, 1), (64, 3, 1, 1), (128, 4, 2, 1),
           (64, 3, 1, 1), (32, 3, 1, 1))
DOWNSAMPLING = 16  # four stride-2 layers
LEAKY_SLOPE = 0.2


@dataclass(frozen=True)
class ConvAEConfig:
    """Hyper-parameters of :class:`ConvAE` (plain values, stored with checkpoints and in MLflow).

    Attributes:
        img_size: side of the square input, a multiple of 16 (128 in the paper).
        channels: 1 (gray) or 3 (RGB).
        latent_dim: d, the size of the 1 x 1 latent code (100 in the paper).
    """

    img_size: int = 128
    channels: int = 3
    latent_dim: int = 100

    def __post_init__(self) -> None:
        for name in ("img_size", "channels", "latent_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ConvAEConfig.{name} must be an integer >= 1, got {value!r}")
        if self.img_size % DOWNSAMPLING:
            raise ValueError(f"ConvAEConfig.img_size must be a multiple of {DOWNSAMPLING} (four stride-2 "
                             f"layers), got {self.img_size}; use ingestion.img_size=128 as in the paper")
        if self.channels not in (1, 3):
            raise ValueError(f"ConvAEConfig.channels must be 1 or 3, got {self.channels}")

    @property
    def latent_kernel(self) -> int:
        """Kernel of the latent layer: the side of the last feature map (8 at 128 px)."""
        return self.img_size // DOWNSAMPLING

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConvAEConfig:
        reject_unknown_keys(data, {f.name for f in fields(cls)}, "unknown ConvAEConfig key(s)")
        return cls(**dict(data))


def _act() -> nn.Module:
    return nn.LeakyReLU(LEAKY_SLOPE)


class ConvAE(nn.Module):
    """Image ``(B, C, N, N)`` in [0, 1] -> latent ``(B, d, 1, 1)`` -> reconstruction ``(B, C, N, N)``."""

    def __init__(self, config: ConvAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or ConvAEConfig()
        c, k = self.config.channels, self.config.latent_kernel
        encoder: list[nn.Module] = []
        width = c
        for out, kernel, stride, pad in ENCODER:
            encoder += [nn.Conv2d(width, out, kernel, stride, pad), _act()]
            width = out
        encoder += [nn.Conv2d(width, self.config.latent_dim, k, 1, 0), _act()]
        self.encoder = nn.Sequential(*encoder)

        # The mirror image: layer i of the decoder undoes encoder layer n - i.
        decoder: list[nn.Module] = [nn.ConvTranspose2d(self.config.latent_dim, width, k, 1, 0), _act()]
        mirrored = list(reversed(ENCODER))
        for i, (_, kernel, stride, pad) in enumerate(mirrored):
            out = mirrored[i + 1][0] if i + 1 < len(mirrored) else c
            layer = (nn.ConvTranspose2d(width, out, kernel, stride, pad) if stride > 1
                     else nn.Conv2d(width, out, kernel, stride, pad))
            decoder += [layer, _act() if i + 1 < len(mirrored) else nn.Sigmoid()]
            width = out
        self.decoder = nn.Sequential(*decoder)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))

    def _check(self, x: torch.Tensor) -> None:
        n, c = self.config.img_size, self.config.channels
        if x.dim() != 4 or tuple(x.shape[1:]) != (c, n, n):
            raise ValueError(f"ConvAE expected input (B, {c}, {n}, {n}), got {tuple(x.shape)}")


__all__ = ["ConvAE", "ConvAEConfig"]
