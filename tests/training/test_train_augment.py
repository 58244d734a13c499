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


@pytest.mark.parametrize("bad", [{"flips": ["x"]}, {"shift": -1}, {"synthetic_prob": 2}, {"rot90": "yes"},
                                 {"typo": 1}])
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
