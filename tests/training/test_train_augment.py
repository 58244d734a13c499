"""Training augmentation: deterministic by generator, geometric changes hit input and target alike,
synthetic anomalies change the input only; the lr schedule is a pure function of the epoch."""

from __future__ import annotations

import pytest
import torch

from metal_pipeline.training.augment import AugmentConfig, Augmenter, blob_masks
from metal_pipeline.training.config import TrainConfig


def _batch():
    return torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_same_generator_seed_same_batch() -> None:
    aug = Augmenter({"flips": ["h", "v"], "rot90": True, "shift": 8, "synthetic_prob": 0.7})
    a = aug(_batch(), torch.Generator().manual_seed(3))
    b = aug(_batch(), torch.Generator().manual_seed(3))
    c = aug(_batch(), torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_synthetic_changes_input_not_target() -> None:
    x = _batch()
    inp, target = Augmenter({"synthetic_prob": 1.0})(x, torch.Generator().manual_seed(1))
    assert torch.equal(target, x)
    changed = (inp != x).flatten(1).any(1)
    assert changed.all()


def test_geometric_only_keeps_input_equal_target() -> None:
    x = _batch()
    inp, target = Augmenter({"flips": ["h"], "rot90": True, "shift": 4})(x, torch.Generator().manual_seed(2))
    assert torch.equal(inp, target)
    assert not torch.equal(inp, x)
    # a permutation of pixels: same multiset of values per image
    assert torch.allclose(inp.flatten(1).sort(1).values, x.flatten(1).sort(1).values)


def test_blob_masks_are_binary_and_non_empty() -> None:
    m = blob_masks(16, 64, 64, torch.Generator().manual_seed(0), max_blobs=3)
    assert m.shape == (16, 1, 64, 64)
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    assert (m.flatten(1).sum(1) > 0).all()


def test_coarse_noise_is_smooth_seeded_clean_targeted_and_off_by_default() -> None:
    x = torch.full((6, 1, 64, 64), 0.5)
    aug = Augmenter({"coarse_noise_prob": 1.0, "coarse_noise_std": 0.1, "coarse_noise_res": 8})
    inp, target = aug(x, torch.Generator().manual_seed(5))
    again, _ = aug(x, torch.Generator().manual_seed(5))
    assert torch.equal(target, x) and torch.equal(inp, again)
    noise = inp - x
    assert 0.04 < float(noise.std()) < 0.1  # bilinear upsampling averages the 0.1-std grid values
    # low frequency: neighbouring pixels differ far less than the noise itself
    assert float((noise[..., 1:] - noise[..., :-1]).abs().mean()) < 0.3 * float(noise.abs().mean())  # white: ~1.1
    half, _ = Augmenter({"coarse_noise_prob": 0.5})(torch.full((64, 1, 16, 16), 0.5), torch.Generator().manual_seed(0))
    touched = int(((half - 0.5).flatten(1).abs().amax(1) > 0).sum())
    assert 16 < touched < 48
    assert "coarse_noise_prob" not in AugmentConfig().to_dict()  # off: fingerprints of earlier runs unchanged
    assert AugmentConfig(coarse_noise_prob=0.5).to_dict()["coarse_noise_res"] == 16


@pytest.mark.parametrize("bad", [{"flips": ["x"]}, {"shift": -1}, {"synthetic_prob": 2}, {"rot90": "yes"},
                                 {"typo": 1}, {"coarse_noise_prob": -0.1}, {"coarse_noise_std": 0},
                                 {"coarse_noise_res": 0}])
def test_bad_augment_config_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="augment"):
        AugmentConfig.from_dict(bad)


def test_lr_schedule() -> None:
    const = TrainConfig(lr=1e-3)
    assert const.lr_at(1) == const.lr_at(500) == 1e-3
    cos = TrainConfig(lr=1e-3, lr_schedule="cosine", warmup_epochs=10, max_epochs=110)
    assert cos.lr_at(1) == pytest.approx(1e-4)
    assert cos.lr_at(10) == pytest.approx(1e-3)
    assert cos.lr_at(11) == pytest.approx(1e-3)
    assert cos.lr_at(61) == pytest.approx(5e-4)
    assert cos.lr_at(110) < 1e-6
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")
