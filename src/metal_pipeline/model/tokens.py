"""Cutting an image into MeTAL tokens and putting square patches back.

For an image ``(B, C, N, N)`` with squares of side K and ``p = N / K``:

* squares: ``(B, p*p, C*K*K)``, row-major over the grid, token ``r*p + c`` is
  the square at grid row r, grid column c;
* rows:    ``(B, p, C*K*N)``, token r is the horizontal stripe of height K
  holding squares ``(r, 0..p-1)``;
* cols:    ``(B, p, C*N*K)``, token c is the vertical stripe of width K holding
  squares ``(0..p-1, c)``.

Within a token values are ordered channel first (C, then pixel rows, then
pixel columns); the order only fixes the layout of the linear embedding.
"""

from __future__ import annotations

import torch


def _check(x: torch.Tensor, k: int) -> tuple[int, int, int, int]:
    if x.dim() != 4:
        raise ValueError(f"expected a (B, C, N, N) tensor, got shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    if h != w or h % k:
        raise ValueError(f"image must be square with side divisible by {k}, got {h}x{w}")
    return b, c, h, h // k


def to_squares(x: torch.Tensor, k: int) -> torch.Tensor:
    b, c, n, p = _check(x, k)
    return x.reshape(b, c, p, k, p, k).permute(0, 2, 4, 1, 3, 5).reshape(b, p * p, c * k * k)


def to_rows(x: torch.Tensor, k: int) -> torch.Tensor:
    b, c, n, p = _check(x, k)
    return x.reshape(b, c, p, k, n).permute(0, 2, 1, 3, 4).reshape(b, p, c * k * n)


def to_cols(x: torch.Tensor, k: int) -> torch.Tensor:
    b, c, n, p = _check(x, k)
    return x.reshape(b, c, n, p, k).permute(0, 3, 1, 2, 4).reshape(b, p, c * n * k)


def from_squares(tokens: torch.Tensor, k: int, channels: int) -> torch.Tensor:
    """Inverse of :func:`to_squares`: ``(B, p*p, C*K*K)`` -> ``(B, C, p*K, p*K)``."""
    b, t, _ = tokens.shape
    p = int(round(t ** 0.5))
    if p * p != t:
        raise ValueError(f"number of squares {t} is not a perfect square")
    return (
        tokens.reshape(b, p, p, channels, k, k)
        .permute(0, 3, 1, 4, 2, 5)
        .reshape(b, channels, p * k, p * k)
    )


TOKENIZERS = {"squares": to_squares, "rows": to_rows, "cols": to_cols}
