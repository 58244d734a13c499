"""Transformer encoders of MeTAL: masked multi-head self-attention, pre-norm
ViT blocks, and one encoder per token shape, in three masking modes.

Block design (all modes): *pre-norm* ViT block,
``h = h + Attn(LN1(h)); h = h + MLP(LN2(h))`` with a final LayerNorm after the
last block. Pre-norm was chosen over the original post-norm transformer because
it trains stably without warm-up at the small depths used here (L = 1, 2) and
because it keeps the residual stream un-normalised, which makes the identity
leak of ``paper`` mode (below) easy to reason about. The MLP is
``Linear(D, r*D) -> GELU -> Linear(r*D, D)``. Attention uses a fused qkv
projection and :func:`torch.nn.functional.scaled_dot_product_attention` with a
float mask.

Masking modes
-------------
``none``
    plain self-attention (the ``squares_nomask`` configuration).
``paper``
    the paper's masked self-attention: before the softmax, the logit of token i
    attending to itself is set to ``-inf`` (not to 0: a zero logit would still
    give the diagonal a positive weight), in every block. The rest of the block
    is a standard residual block. This is faithful to the paper, but token i's
    own content still reaches its output (a) through the residual connections,
    (b) through multi-layer hops (i -> j in block 1, j -> i in block 2) and
    (c) through the stripe (row or column) that contains square i, whose output
    is fused into square i. The tests measure this leak.
``strict``
    XLNet-style two-stream encoder. Per shape:

    * content stream: ``e_j = Embed(t_j) + pos_j`` (layer 0 only). It is never
      mixed across tokens, so ``e_j`` depends on the pixels of token j only;
    * query stream: ``g_j^0 = pos_j`` (learned position embedding only, no
      pixels), then for each block l::

          g^l = g^{l-1} + Attn(Q = LN1(g^{l-1}), K = V = LN1(e), diagonal = -inf)
          g^l = g^l + MLP(LN2(g^l))

      and the encoder output is ``LN_f(g^L)``. The block parameters are the
      same tensors as in the other modes (q and kv are the two slices of the
      fused qkv projection), so parameter counts agree across modes.

    Proof sketch (induction on l): ``g_j^0`` depends on no pixel. If every
    ``g_m^{l-1}`` depends only on pixels outside token m, then ``g_j^l`` is a
    function of ``g_j^{l-1}`` (pixels outside token j) and of
    ``{e_m : m != j}`` (the diagonal weight is exactly 0, so ``e_j`` receives
    no weight and, by the chain rule, exactly zero gradient); LayerNorm and the
    MLP act per token. Hence the output for token j depends only on the pixels
    of the *other* tokens of the same shape. For square (r, c): the square
    token's output uses the other squares, the row-r stripe output uses only
    the other rows and the column-c output only the other columns; none of
    these contain square (r, c), and the per-patch decoder mixes nothing across
    patches (nor across the batch). So no path exists from the pixels of
    square i to its reconstruction at any depth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def diagonal_mask(n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Additive attention mask ``(n, n)``: ``-inf`` on the diagonal, 0 elsewhere."""
    mask = torch.zeros(n, n, dtype=dtype)
    mask.fill_diagonal_(float("-inf"))
    return mask


def hole_mask(side: int, two_d: bool, hole: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Additive mask hiding from each token its neighbourhood of radius ``hole``.

    ``two_d``: tokens are the ``side x side`` squares in row-major order and
    the neighbourhood is Chebyshev (``max(|dr|, |dc|) <= hole``); otherwise
    tokens are ``side`` stripes and the neighbourhood is ``|d| <= hole``.
    ``hole = 0`` is :func:`diagonal_mask`.
    """
    idx = torch.arange(side)
    if two_d:
        r, c = torch.meshgrid(idx, idx, indexing="ij")
        r, c = r.reshape(-1), c.reshape(-1)
        dist = torch.maximum((r[:, None] - r[None, :]).abs(), (c[:, None] - c[None, :]).abs())
    else:
        dist = (idx[:, None] - idx[None, :]).abs()
    mask = torch.zeros(dist.shape, dtype=dtype)
    mask[dist <= hole] = float("-inf")
    return mask


class MultiHeadAttention(nn.Module):
    """Multi-head attention with a fused qkv projection.

    ``forward(x)`` is self-attention. ``forward(q_in, kv_in)`` takes queries
    from ``q_in`` and keys/values from ``kv_in`` using the two slices of the
    same qkv weight (used by the strict two-stream encoder).
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} not divisible by num_heads {num_heads}")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, t: torch.Tensor, parts: int) -> torch.Tensor:
        b, n, _ = t.shape
        # (B, T, parts*D) -> (parts, B, H, T, hd)
        return t.reshape(b, n, parts, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)

    def forward(self, q_in: torch.Tensor, kv_in: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = q_in.shape
        if kv_in is None:
            q, k, v = self._heads(self.qkv(q_in), 3).unbind(0)
        else:
            w, bias = self.qkv.weight, self.qkv.bias
            q = self._heads(F.linear(q_in, w[:d], bias[:d]), 1)[0]
            k, v = self._heads(F.linear(kv_in, w[d:], bias[d:]), 2).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(round(dim * mlp_ratio)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask=mask)
        return x + self.mlp(self.norm2(x))

    def forward_query(self, g: torch.Tensor, content: torch.Tensor,
                      mask: torch.Tensor) -> torch.Tensor:
        """Query-stream update of the strict mode: keys/values from ``content``."""
        g = g + self.attn(self.norm1(g), self.norm1(content), mask=mask)
        return g + self.mlp(self.norm2(g))


class ShapeEncoder(nn.Module):
    """Linear token embedding + learned position embedding + L blocks + LayerNorm.

    Args:
        num_tokens: tokens of this shape (p*p squares, p rows or p columns).
        token_dim: values per token (C*K*K or C*K*N).
        masking: ``"none"``, ``"paper"`` or ``"strict"``.
    """

    def __init__(self, num_tokens: int, token_dim: int, dim: int, num_heads: int, depth: int,
                 mlp_ratio: float, masking: str, mask: torch.Tensor | None = None) -> None:
        super().__init__()
        if masking not in ("none", "paper", "strict"):
            raise ValueError(f"unknown masking {masking!r}")
        if masking != "none" and num_tokens < 2:
            raise ValueError("masked attention needs at least 2 tokens")
        self.masking = masking
        self.num_tokens = num_tokens
        self.embed = nn.Linear(token_dim, dim)
        self.pos = nn.Parameter(torch.zeros(1, num_tokens, dim))
        self.blocks = nn.ModuleList(Block(dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        if masking == "none":
            mask = None
        elif mask is None:
            mask = diagonal_mask(num_tokens)
        elif tuple(mask.shape) != (num_tokens, num_tokens):
            raise ValueError(f"mask must be ({num_tokens}, {num_tokens}), got {tuple(mask.shape)}")
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        content = self.embed(tokens) + self.pos
        mask = self.attn_mask
        if mask is not None and mask.dtype != content.dtype:
            mask = mask.to(content.dtype)
        if self.masking == "strict":
            h = self.pos.expand(content.shape[0], -1, -1)
            for blk in self.blocks:
                h = blk.forward_query(h, content, mask)
        else:
            h = content
            for blk in self.blocks:
                h = blk(h, mask)
        return self.norm(h)
