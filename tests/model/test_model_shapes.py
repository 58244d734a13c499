"""Output shapes, range, gradients to every parameter, pickling."""

from __future__ import annotations

import io
import pickle

import pytest
import torch

from metal_pipeline.model import CONFIGURATIONS, MeTAL, MeTALConfig, ReconstructionLoss

COMBOS = [(name, mode) for name, conf in CONFIGURATIONS.items() for mode in conf.masking_modes]


def small_cfg(**kw) -> MeTALConfig:
    base = dict(img_size=64, patch_size=16, channels=3, embed_dim=32, num_heads=2, depth=1,
                decoder_hidden=32, decoder_layers=1, configuration="squares_rows_cols", masking="paper")
    base.update(kw)
    return MeTALConfig(**base)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("img_size", [64, 128])
def test_shapes_and_range(channels: int, img_size: int) -> None:
    torch.manual_seed(0)
    cfg = small_cfg(channels=channels, img_size=img_size)
    model = MeTAL(cfg)
    assert model.config is cfg
    x = torch.rand(2, channels, img_size, img_size)
    y = model(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all() and (y > 0).all() and (y < 1).all()  # sigmoid output


def test_paper_defaults_shape() -> None:
    """Paper settings (N=128, K=16, D=128, H=4), strict and paper."""
    x = torch.rand(1, 3, 128, 128)
    for masking in ("paper", "strict"):
        model = MeTAL(MeTALConfig(masking=masking, depth=2))
        assert model(x).shape == x.shape


def test_wrong_input_shape() -> None:
    model = MeTAL(small_cfg(channels=3))
    with pytest.raises(ValueError, match="expected input"):
        model(torch.rand(2, 1, 64, 64))
    with pytest.raises(ValueError, match="expected input"):
        model(torch.rand(2, 3, 32, 32))


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("configuration,masking", COMBOS)
def test_gradient_reaches_every_parameter(configuration: str, masking: str, depth: int) -> None:
    torch.manual_seed(0)
    model = MeTAL(small_cfg(img_size=32, patch_size=8, channels=1, embed_dim=16, depth=depth,
                            configuration=configuration, masking=masking))
    x = torch.rand(2, 1, 32, 32)
    loss, _ = ReconstructionLoss()(model(x), x)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())
    # every tensor that acts on the data is trained (LayerNorm biases etc. included)
    zero = [n for n, p in model.named_parameters() if p.grad.abs().sum() == 0]
    assert not zero, f"parameters with all-zero gradient: {zero}"


def test_parameter_count_independent_of_masking() -> None:
    counts = {m: sum(p.numel() for p in MeTAL(small_cfg(masking=m)).parameters()) for m in ("paper", "strict")}
    assert counts["paper"] == counts["strict"]


@pytest.mark.parametrize("masking", ["paper", "strict"])
def test_torch_save_whole_module(masking: str) -> None:
    """MLflow's pytorch flavour pickles the whole module."""
    torch.manual_seed(0)
    model = MeTAL(small_cfg(masking=masking)).eval()
    x = torch.rand(2, 3, 64, 64)
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert isinstance(loaded, MeTAL) and loaded.config == model.config
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    again = pickle.loads(pickle.dumps(model))
    with torch.no_grad():
        assert torch.equal(again(x), model(x))


def test_state_dict_round_trip() -> None:
    torch.manual_seed(0)
    a = MeTAL(small_cfg(masking="strict"))
    b = MeTAL(MeTALConfig.from_dict(a.config.to_dict()))
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_double_precision() -> None:
    model = MeTAL(small_cfg(masking="paper")).double()
    y = model(torch.rand(1, 3, 64, 64, dtype=torch.float64))
    assert y.dtype == torch.float64
