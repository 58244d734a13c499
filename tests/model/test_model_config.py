"""MeTALConfig validation and round trip, CONFIGURATIONS, default_depth."""

from __future__ import annotations

import json

import pytest

from metal_pipeline.model import CONFIGURATIONS, MeTALConfig, default_depth


def test_configurations_table3() -> None:
    assert list(CONFIGURATIONS) == ["squares_nomask", "squares", "squares_rows", "squares_cols",
                                    "rows_cols", "squares_rows_cols"]
    assert CONFIGURATIONS["rows_cols"].shapes == ("rows", "cols")
    assert CONFIGURATIONS["squares_nomask"].masking_modes == ("none",)
    assert CONFIGURATIONS["squares"].masking_modes == ("paper", "strict")


def test_round_trip_json() -> None:
    cfg = MeTALConfig(img_size=64, patch_size=8, channels=1, embed_dim=64, num_heads=4, depth=2,
                      mlp_ratio=2.0, decoder_hidden=128, decoder_layers=2,
                      configuration="rows_cols", masking="strict")
    d = json.loads(json.dumps(cfg.to_dict()))
    assert MeTALConfig.from_dict(d) == cfg
    assert d["masking"] == "strict" and d["configuration"] == "rows_cols"


def test_masking_default_resolves() -> None:
    assert MeTALConfig(configuration="squares_nomask").masking == "none"
    assert MeTALConfig(configuration="squares").masking == "paper"
    assert MeTALConfig(configuration="squares").to_dict()["masking"] == "paper"


def test_from_dict_unknown_key() -> None:
    d = MeTALConfig().to_dict()
    d["dropout"] = 0.1
    with pytest.raises(ValueError, match="unknown MeTALConfig key.*dropout"):
        MeTALConfig.from_dict(d)


def test_from_dict_partial_uses_defaults() -> None:
    assert MeTALConfig.from_dict({"depth": 2}) == MeTALConfig(depth=2)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(configuration="squares_nomask", masking="paper"), "does not support masking 'paper'"),
        (dict(configuration="squares_nomask", masking="strict"), "does not support masking"),
        (dict(configuration="squares", masking="none"), "does not support masking 'none'"),
        (dict(configuration="squares_rows", masking="half"), "unknown masking"),
        (dict(configuration="rows"), "unknown configuration"),
        (dict(img_size=100, patch_size=16), "not divisible by patch_size"),
        (dict(img_size=16, patch_size=16), ">= 2"),
        (dict(embed_dim=130, num_heads=4), "divisible by num_heads"),
        (dict(embed_dim=12, num_heads=4, configuration="squares_rows"), "divisible by img_size / patch_size"),
        (dict(depth=0), "depth must be >= 1"),
        (dict(channels=2.5), "must be an int"),
        (dict(depth=True), "must be an int"),
        (dict(decoder_layers=-1), "decoder_layers"),
        (dict(mlp_ratio=0), "mlp_ratio"),
    ],
)
def test_invalid(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MeTALConfig(**kwargs)


def test_squares_only_does_not_need_divisible_embedding() -> None:
    # no stripes, so D need not be divisible by p
    assert MeTALConfig(embed_dim=12, num_heads=4, configuration="squares").fused_dim == 12


def test_fused_dim() -> None:
    assert MeTALConfig(configuration="squares_rows_cols").fused_dim == 128 + 16 + 16
    assert MeTALConfig(configuration="rows_cols").fused_dim == 32
    assert MeTALConfig(configuration="squares_cols").fused_dim == 144


def test_default_depth() -> None:
    for texture in ("carpet", "grid", "leather", "tile", "wood", "Wood"):
        assert default_depth(texture) == 2
    for product in ("bottle", "cable", "capsule", "hazelnut", "metal_nut", "pill", "screw",
                    "toothbrush", "transistor", "zipper", "head_ct"):
        assert default_depth(product) == 1
