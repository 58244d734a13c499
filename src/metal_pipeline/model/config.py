"""Configuration of a MeTAL model: the six token-shape configurations of the
paper's Table 3, the masking modes, and the hyper-parameters.

Plain Python (no torch, no Kedro) so that it can be imported cheaply and stored
as JSON next to checkpoints and in MLflow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from types import MappingProxyType
from typing import Any, Mapping

from metal_pipeline.params.validate import reject_unknown_keys

#: Token shapes understood by the model.
SHAPES = ("squares", "rows", "cols")

#: Masking modes. ``none``: plain attention (only for ``squares_nomask``);
#: ``paper``: the diagonal of every attention matrix is masked with ``-inf``,
#: standard residual ViT blocks (faithful to the paper, leaks identity);
#: ``strict``: two-stream encoder with no path from square i to its own
#: reconstruction (see ``metal_pipeline.model.encoder``).
MASKING_MODES = ("none", "paper", "strict")


@dataclass(frozen=True)
class Configuration:
    """One row of the paper's Table 3: which encoders exist and whether they mask."""

    name: str
    shapes: tuple[str, ...]
    masked: bool

    @property
    def masking_modes(self) -> tuple[str, ...]:
        return ("paper", "strict") if self.masked else ("none",)


CONFIGURATIONS: Mapping[str, Configuration] = MappingProxyType(
    {
        c.name: c
        for c in (
            Configuration("squares_nomask", ("squares",), masked=False),
            Configuration("squares", ("squares",), masked=True),
            Configuration("squares_rows", ("squares", "rows"), masked=True),
            Configuration("squares_cols", ("squares", "cols"), masked=True),
            Configuration("rows_cols", ("rows", "cols"), masked=True),
            Configuration("squares_rows_cols", ("squares", "rows", "cols"), masked=True),
        )
    }
)

#: MVTec AD texture classes; the paper (Table 2) uses 2 transformer layers for
#: these and 1 for the object ("product") classes.
TEXTURE_CLASSES = frozenset({"carpet", "grid", "leather", "tile", "wood"})


def default_depth(class_name: str) -> int:
    """Encoder depth L from the paper's Table 2: 2 for textures, 1 otherwise.

    Classes that are not MVTec textures (the MVTec objects, Head CT, custom
    data) get the product setting, 1.
    """
    if not isinstance(class_name, str):
        raise TypeError(f"class_name must be a str, got {type(class_name).__name__}")
    return 2 if class_name.strip().lower() in TEXTURE_CLASSES else 1


@dataclass(frozen=True)
class MeTALConfig:
    """Hyper-parameters of :class:`metal_pipeline.model.MeTAL`.

    Attributes:
        img_size: side N of the square input image (pixels).
        patch_size: side K of a square token; N must be divisible by K and
            ``N / K >= 2`` (a masked attention over one token is undefined).
        channels: C, 1 (grayscale) or 3 (RGB).
        embed_dim: D, the embedding size of every encoder. With rows or
            columns, D must be divisible by ``p = N / K`` (fusion cuts a
            stripe's embedding into p segments).
        num_heads: H, attention heads; D must be divisible by H.
        depth: L, transformer blocks per encoder (``default_depth``).
        mlp_ratio: hidden size of the blocks' MLP as a multiple of D.
        decoder_hidden: width of the hidden layers of the per-patch decoder.
        decoder_layers: number of hidden layers of the per-patch decoder
            (0 = a single linear map to the K*K*C pixels).
        configuration: a key of ``CONFIGURATIONS``.
        masking: ``"none"``, ``"paper"`` or ``"strict"``; ``None`` resolves to
            ``"none"`` for ``squares_nomask`` and ``"paper"`` otherwise.
        hole: radius, in tokens, of the neighbourhood a masked token may not
            attend to (0 = only itself, the paper's mask; 1 = also its 8
            neighbouring squares and the adjacent stripes). Larger holes make
            each patch an inpainting of a larger hole, so a defect that spans
            neighbouring patches cannot be copied from them.
    """

    img_size: int = 128
    patch_size: int = 16
    channels: int = 3
    embed_dim: int = 128
    num_heads: int = 4
    depth: int = 1
    mlp_ratio: float = 4.0
    decoder_hidden: int = 512
    decoder_layers: int = 1
    configuration: str = "squares_rows_cols"
    masking: str | None = None
    hole: int = 0

    def __post_init__(self) -> None:
        for name in ("img_size", "patch_size", "channels", "embed_dim", "num_heads", "depth",
                     "decoder_hidden", "decoder_layers", "hole"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"MeTALConfig.{name} must be an int, got {value!r}")
        if isinstance(self.mlp_ratio, bool) or not isinstance(self.mlp_ratio, (int, float)):
            raise ValueError(f"MeTALConfig.mlp_ratio must be a number, got {self.mlp_ratio!r}")
        object.__setattr__(self, "mlp_ratio", float(self.mlp_ratio))

        if self.configuration not in CONFIGURATIONS:
            raise ValueError(
                f"unknown configuration {self.configuration!r}; expected one of {list(CONFIGURATIONS)}"
            )
        conf = CONFIGURATIONS[self.configuration]
        masking = self.masking
        if masking is None:
            masking = "paper" if conf.masked else "none"
            object.__setattr__(self, "masking", masking)
        if masking not in MASKING_MODES:
            raise ValueError(f"unknown masking {masking!r}; expected one of {list(MASKING_MODES)}")
        if masking not in conf.masking_modes:
            raise ValueError(
                f"configuration {self.configuration!r} does not support masking {masking!r}; "
                f"allowed: {list(conf.masking_modes)}"
            )

        for name in ("img_size", "patch_size", "channels", "embed_dim", "num_heads", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"MeTALConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.hole < 0:
            raise ValueError(f"MeTALConfig.hole must be >= 0, got {self.hole}")
        if self.hole and masking == "none":
            raise ValueError("MeTALConfig.hole needs a masked configuration (masking paper or strict)")
        if self.hole and 2 * self.hole + 1 >= self.grid:
            raise ValueError(
                f"MeTALConfig.hole {self.hole} hides every stripe of a {self.grid}-token grid; "
                f"use hole < {(self.grid - 1) // 2}"
            )
        if self.decoder_layers < 0:
            raise ValueError(f"MeTALConfig.decoder_layers must be >= 0, got {self.decoder_layers}")
        if self.decoder_layers > 0 and self.decoder_hidden < 1:
            raise ValueError(f"MeTALConfig.decoder_hidden must be >= 1, got {self.decoder_hidden}")
        if self.mlp_ratio <= 0:
            raise ValueError(f"MeTALConfig.mlp_ratio must be > 0, got {self.mlp_ratio}")
        if self.img_size % self.patch_size:
            raise ValueError(
                f"img_size {self.img_size} is not divisible by patch_size {self.patch_size}"
            )
        if self.grid < 2:
            raise ValueError(
                f"img_size / patch_size must be >= 2 (got {self.grid}): masked attention needs "
                "at least one other token"
            )
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}"
            )
        if set(conf.shapes) & {"rows", "cols"} and self.embed_dim % self.grid:
            raise ValueError(
                f"embed_dim {self.embed_dim} must be divisible by img_size / patch_size = {self.grid} "
                f"for configuration {self.configuration!r} (stripe embeddings are cut into "
                f"{self.grid} segments)"
            )

    # ------------------------------------------------------------------ derived
    @property
    def grid(self) -> int:
        """p = N / K, squares per side (= number of rows = number of columns)."""
        return self.img_size // self.patch_size

    @property
    def shapes(self) -> tuple[str, ...]:
        return CONFIGURATIONS[self.configuration].shapes

    @property
    def segment_dim(self) -> int:
        """D / p, the size of the piece of a stripe embedding given to one square."""
        return self.embed_dim // self.grid

    @property
    def fused_dim(self) -> int:
        """Input size of the per-patch decoder."""
        dim = 0
        for shape in self.shapes:
            dim += self.embed_dim if shape == "squares" else self.segment_dim
        return dim

    # --------------------------------------------------------------- round trip
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (masking is always resolved to a string)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MeTALConfig":
        """Inverse of :meth:`to_dict`. Missing keys take defaults; unknown keys
        raise ``ValueError``."""
        if not isinstance(data, Mapping):
            raise TypeError(f"MeTALConfig.from_dict expects a mapping, got {type(data).__name__}")
        reject_unknown_keys(data, {f.name for f in fields(cls)}, "unknown MeTALConfig key(s)")
        return cls(**dict(data))
