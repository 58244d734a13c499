"""The MeTAL network: per-shape encoders, fusion, per-patch decoder.

Fusion. Let ``p = N / K``. Each stripe's output embedding (size D) is cut into
p consecutive segments of size ``D / p``; segment k of row r goes to square
``(r, k)`` and segment k of column c goes to square ``(k, c)``. Square
``(r, c)`` is decoded from the concatenation, in this order, of

* its own square embedding (D), if the configuration has squares,
* segment c of row r (D/p), if it has rows,
* segment r of column c (D/p), if it has columns.

For ``rows_cols`` (no square encoder) a square is therefore represented by the
concatenation of its row segment and its column segment only (2D/p values).

Decoder. One MLP shared by all patches:
``[Linear(fused, hidden) -> GELU] * decoder_layers -> Linear(., K*K*C) -> sigmoid``.
The sigmoid keeps the reconstruction in (0, 1) like the input images, so the
L1 and SSIM terms of the loss (SSIM with ``data_range = 1``) are well defined.
Patches are put back in place to form the ``(B, C, N, N)`` reconstruction.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import MeTALConfig
from .encoder import ShapeEncoder, hole_mask
from .tokens import TOKENIZERS, from_squares


def _init_encoder_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class PatchDecoder(nn.Module):
    """Per-patch MLP from the fused embedding to the K*K*C pixels of the patch."""

    def __init__(self, in_dim: int, hidden: int, layers: int, out_dim: int) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        d = in_dim
        for _ in range(layers):
            mods += [nn.Linear(d, hidden), nn.GELU()]
            d = hidden
        mods += [nn.Linear(d, out_dim), nn.Sigmoid()]
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MeTAL(nn.Module):
    """Masked Transformer for image Anomaly Localization.

    ``MeTAL(cfg)(x)`` maps images ``(B, C, N, N)`` in [0, 1] to their
    reconstruction of the same shape in (0, 1).
    """

    def __init__(self, config: MeTALConfig) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = MeTALConfig.from_dict(config)
        if not isinstance(config, MeTALConfig):
            raise TypeError(f"config must be a MeTALConfig, got {type(config).__name__}")
        self.config = config
        c, n, k, p = config.channels, config.img_size, config.patch_size, config.grid
        token_dims = {"squares": c * k * k, "rows": c * k * n, "cols": c * n * k}
        num_tokens = {"squares": p * p, "rows": p, "cols": p}
        self.encoders = nn.ModuleDict(
            {
                shape: ShapeEncoder(num_tokens[shape], token_dims[shape], config.embed_dim,
                                    config.num_heads, config.depth, config.mlp_ratio,
                                    config.masking,
                                    hole_mask(p, shape == "squares", config.hole)
                                    if config.masking != "none" else None)
                for shape in config.shapes
            }
        )
        self.encoders.apply(_init_encoder_weights)
        for enc in self.encoders.values():
            nn.init.trunc_normal_(enc.pos, std=0.02)
        self.decoder = PatchDecoder(config.fused_dim, config.decoder_hidden,
                                    config.decoder_layers, c * k * k)

    def fused_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Per-square decoder input ``(B, p*p, fused_dim)``, row-major squares."""
        cfg = self.config
        if x.dim() != 4 or tuple(x.shape[1:]) != (cfg.channels, cfg.img_size, cfg.img_size):
            raise ValueError(
                f"expected input (B, {cfg.channels}, {cfg.img_size}, {cfg.img_size}), "
                f"got {tuple(x.shape)}"
            )
        b, p, s = x.shape[0], cfg.grid, cfg.segment_dim
        parts = []
        for shape, encoder in self.encoders.items():
            out = encoder(TOKENIZERS[shape](x, cfg.patch_size))  # (B, T, D)
            if shape == "rows":
                # out[b, r, k*s:(k+1)*s] -> square (r, k)
                out = out.reshape(b, p, p, s).reshape(b, p * p, s)
            elif shape == "cols":
                # out[b, c, k*s:(k+1)*s] -> square (k, c)
                out = out.reshape(b, p, p, s).transpose(1, 2).reshape(b, p * p, s)
            parts.append(out)
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        patches = self.decoder(self.fused_tokens(x))
        return from_squares(patches, cfg.patch_size, cfg.channels)

    def extra_repr(self) -> str:
        cfg = self.config
        return f"configuration={cfg.configuration}, masking={cfg.masking}"
