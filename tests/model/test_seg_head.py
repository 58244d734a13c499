"""The discriminative head and its training: shapes, determinism by seed, the loss
against a direct formula, and the training target."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metal_pipeline.model import MeTAL, MeTALConfig
from metal_pipeline.model.seg_head import SegHead, SegHeadConfig, head_inputs
from metal_pipeline.scoring.maps import l2_map, msgms_map
from metal_pipeline.training.seg_head import (
    VISIBLE_CHANGE,
    SegHeadTrainConfig,
    corrupted_batch,
    focal_loss,
    train_seg_head,
)


def _net(channels: int = 3) -> MeTAL:
    torch.manual_seed(0)
    return MeTAL(MeTALConfig(img_size=32, patch_size=8, channels=channels, embed_dim=16, num_heads=2,
                             decoder_hidden=16, configuration="squares", masking="strict"))


def test_head_inputs_are_image_reconstruction_and_both_maps():
    x, r = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    h = head_inputs(x, r)
    assert h.shape == (2, 8, 16, 16)
    torch.testing.assert_close(h[:, :3], x)
    torch.testing.assert_close(h[:, 3:6], r)
    torch.testing.assert_close(h[:, 6], l2_map(x, r))
    torch.testing.assert_close(h[:, 7], msgms_map(x, r))


@pytest.mark.parametrize("channels", [1, 3])
def test_head_maps_images_to_one_logit_per_pixel(channels):
    head = SegHead(SegHeadConfig(channels=channels, width=4, levels=2)).eval()
    x = torch.rand(3, channels, 32, 32)
    assert head(x, x).shape == (3, 32, 32)


def test_head_refuses_sizes_that_do_not_divide_and_bad_configs():
    head = SegHead(SegHeadConfig(channels=1, width=4, levels=3))
    with pytest.raises(ValueError, match="must divide by 8"):
        head(torch.rand(1, 1, 20, 20), torch.rand(1, 1, 20, 20))
    with pytest.raises(ValueError, match="seg_head.width"):
        SegHeadConfig(width=0)
    with pytest.raises(ValueError, match="seg_head.channels"):
        SegHeadConfig(channels=2)
    with pytest.raises(ValueError, match="seg_head.anomaly_prob"):
        SegHeadTrainConfig(anomaly_prob=0)


def test_focal_loss_matches_the_formula_and_is_bce_at_gamma_zero():
    logits = torch.tensor([[-2.0, 0.5], [3.0, -0.1]])
    target = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    p = torch.sigmoid(logits)
    pt = torch.where(target == 1, p, 1 - p)
    expected = (-(1 - pt) ** 2 * torch.log(pt)).mean()
    torch.testing.assert_close(focal_loss(logits, target, 2.0), expected)
    torch.testing.assert_close(focal_loss(logits, target, 0.0), (-torch.log(pt)).mean())


def test_target_keeps_only_visibly_changed_pixels():
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(8, 3, 32, 32)
    corrupted, target = corrupted_batch(x, gen, prob=1.0, max_blobs=2)
    changed = (corrupted - x).abs().amax(dim=1) > VISIBLE_CHANGE
    assert target.shape == (8, 32, 32)
    assert bool((target.bool() <= changed).all())  # never a label where nothing visibly changed
    assert target.sum() > 0


def test_training_is_deterministic_by_seed_and_leaves_the_network_as_it_was():
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    images = (np.random.default_rng(0).random((6, 3, 32, 32)) * 255).astype(np.uint8)
    cfg = SegHeadTrainConfig(steps=3, batch_size=2, seed=5)
    hcfg = SegHeadConfig(channels=3, width=4, levels=2)
    a, losses_a = train_seg_head(net, images, cfg, hcfg)
    b, losses_b = train_seg_head(net, images, cfg, hcfg)
    c, _ = train_seg_head(net, images, SegHeadTrainConfig(steps=3, batch_size=2, seed=6), hcfg)
    assert losses_a == losses_b and len(losses_a) == 3
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values()))
    assert net.training and all(p.requires_grad for p in net.parameters())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not a.training


def test_training_refuses_images_of_other_channels():
    with pytest.raises(ValueError, match="uint8"):
        train_seg_head(_net(), np.zeros((2, 1, 32, 32), np.uint8), SegHeadTrainConfig(steps=1),
                       SegHeadConfig(channels=3, width=4, levels=2))


def test_bf16_training_runs_the_head_in_bf16_and_stays_close_to_fp32():
    """``amp: bf16`` changes only the head's forward arithmetic: the same seed draws the same batches, the
    first loss (same initial weights) agrees with fp32 to bf16 precision, and the head stays fp32."""
    net = _net()
    images = (np.random.default_rng(1).random((6, 3, 32, 32)) * 255).astype(np.uint8)
    hcfg = SegHeadConfig(channels=3, width=4, levels=2)
    fp32, losses_fp32 = train_seg_head(net, images, SegHeadTrainConfig(steps=4, batch_size=2, seed=3), hcfg)
    bf16, losses_bf16 = train_seg_head(net, images, SegHeadTrainConfig(steps=4, batch_size=2, seed=3, amp="bf16"), hcfg)
    assert losses_bf16 != losses_fp32  # the arithmetic did change
    assert losses_bf16[0] == pytest.approx(losses_fp32[0], rel=3e-2)
    assert all(np.isfinite(losses_bf16))
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    x = torch.rand(2, 3, 32, 32)
    assert bf16(x, x).dtype == torch.float32  # scoring runs the head in fp32


def test_head_amp_is_validated_with_the_parameter_name():
    assert SegHeadTrainConfig(amp=False).amp == "off"  # YAML 1.1 reads an unquoted off as false
    with pytest.raises(ValueError, match="seg_head.amp must be one of"):
        SegHeadTrainConfig(amp="fp16")
