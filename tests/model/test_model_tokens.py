"""Token geometry (squares, rows, columns) and the fusion of stripe segments."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from metal_pipeline.model import MeTAL, MeTALConfig
from metal_pipeline.model.tokens import from_squares, to_cols, to_rows, to_squares

B, C, N, K = 2, 3, 32, 8
P = N // K


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(B, C, N, N, generator=torch.Generator().manual_seed(0))


def test_squares_row_major(x: torch.Tensor) -> None:
    sq = to_squares(x, K)
    assert sq.shape == (B, P * P, C * K * K)
    for r in range(P):
        for c in range(P):
            expected = x[:, :, r * K:(r + 1) * K, c * K:(c + 1) * K].reshape(B, -1)
            assert torch.equal(sq[:, r * P + c], expected)
    assert torch.equal(from_squares(sq, K, C), x)


def test_rows_are_horizontal_stripes(x: torch.Tensor) -> None:
    rows = to_rows(x, K)
    assert rows.shape == (B, P, C * K * N)
    for r in range(P):
        assert torch.equal(rows[:, r], x[:, :, r * K:(r + 1) * K, :].reshape(B, -1))


def test_cols_are_vertical_stripes(x: torch.Tensor) -> None:
    cols = to_cols(x, K)
    assert cols.shape == (B, P, C * N * K)
    for c in range(P):
        assert torch.equal(cols[:, c], x[:, :, :, c * K:(c + 1) * K].reshape(B, -1))


def test_tokens_reject_bad_shapes() -> None:
    with pytest.raises(ValueError):
        to_squares(torch.zeros(1, 1, 30, 30), K)
    with pytest.raises(ValueError):
        to_rows(torch.zeros(1, 32, 32), K)


class _Fixed(nn.Module):
    """Stand-in encoder returning a known (B, p, D) tensor."""

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.out = out

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out.expand(tokens.shape[0], -1, -1)


def test_fusion_segments(x: torch.Tensor) -> None:
    """Square (r, c) receives its square embedding, segment c of row r and
    segment r of column c, in that order."""
    cfg = MeTALConfig(img_size=N, patch_size=K, channels=C, embed_dim=16, num_heads=2,
                      configuration="squares_rows_cols", masking="paper")
    model = MeTAL(cfg)
    d, s = cfg.embed_dim, cfg.segment_dim
    sq = torch.randn(1, P * P, d)
    rows = torch.randn(1, P, d)
    cols = torch.randn(1, P, d)
    model.encoders["squares"] = _Fixed(sq)
    model.encoders["rows"] = _Fixed(rows)
    model.encoders["cols"] = _Fixed(cols)
    fused = model.fused_tokens(x)
    assert fused.shape == (B, P * P, cfg.fused_dim) == (B, P * P, d + 2 * s)
    for r in range(P):
        for c in range(P):
            i = r * P + c
            expected = torch.cat([sq[0, i], rows[0, r, c * s:(c + 1) * s], cols[0, c, r * s:(r + 1) * s]])
            assert torch.equal(fused[0, i], expected), (r, c)


def test_rows_cols_square_embedding(x: torch.Tensor) -> None:
    """Without a square encoder a square is (row segment, column segment)."""
    cfg = MeTALConfig(img_size=N, patch_size=K, channels=C, embed_dim=16, num_heads=2,
                      configuration="rows_cols", masking="strict")
    model = MeTAL(cfg)
    s = cfg.segment_dim
    rows, cols = torch.randn(1, P, 16), torch.randn(1, P, 16)
    model.encoders["rows"] = _Fixed(rows)
    model.encoders["cols"] = _Fixed(cols)
    fused = model.fused_tokens(x)
    assert fused.shape == (B, P * P, 2 * s)
    assert torch.equal(fused[1, 2 * P + 3], torch.cat([rows[0, 2, 3 * s:4 * s], cols[0, 3, 2 * s:3 * s]]))
