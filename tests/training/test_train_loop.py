"""Behaviour of one training run: learning, early stopping, best-model restore, guard rails."""

from __future__ import annotations

import signal

import numpy as np
import pytest
import torch

from _training_helpers import ConstantModel, l1_loss, make_model, state_equal, with_
from metal_pipeline.data.errors import DataError
from metal_pipeline.training import EpochStats, TrainConfig, TrainingInterrupted, train


def test_loss_decreases_and_stats_reach_the_callback(images, config, tmp_path):
    train_x, val_x = images
    seen: list[EpochStats] = []
    result = train(make_model(), l1_loss, train_x, val_x, with_(config, max_epochs=25), tmp_path / "ck",
                   on_epoch_end=seen.append)
    h = result.history
    assert [e["epoch"] for e in h] == list(range(1, 26))
    assert h[-1]["train_loss"] < 0.6 * h[0]["train_loss"]
    assert h[-1]["val_loss"] < 0.6 * h[0]["val_loss"]
    assert [s.epoch for s in seen] == list(range(1, 26))
    s = seen[-1]
    assert set(s.parts) == {"train_l1", "train_mean_recon", "val_l1", "val_mean_recon"}
    assert s.parts["val_l1"] == pytest.approx(s.val_loss)  # loss == l1 here
    assert s.train_loss == h[-1]["train_loss"] and s.val_loss == h[-1]["val_loss"] and s.seconds > 0
    assert s.best_val_loss == min(e["val_loss"] for e in h)
    assert h[s.best_epoch - 1]["val_loss"] == s.best_val_loss
    metrics = s.as_metrics()
    assert {"train_loss", "val_loss", "best_val_loss", "best_epoch", "epoch_seconds", "val_l1"} <= set(metrics)
    assert all(isinstance(v, float) for v in metrics.values())
    assert result.best_val_loss == s.best_val_loss and result.best_epoch == s.best_epoch
    assert result.stopped_epoch == 25 and not result.stopped_early and result.resumed_from_epoch is None
    assert not result.model.training  # handed back in eval mode


def test_early_stopping_waits_for_min_epochs_then_patience(images, config, tmp_path):
    train_x, val_x = images
    # lr=0: the validation loss never improves after epoch 1.
    c = with_(config, lr=0.0, max_epochs=50, min_epochs=3, patience=2)
    r = train(make_model(), l1_loss, train_x, val_x, c, tmp_path / "a")
    assert (r.best_epoch, r.stopped_epoch, r.stopped_early) == (1, 3, True)
    # min_epochs holds early stopping back although patience ran out at epoch 3.
    r = train(make_model(), l1_loss, train_x, val_x, with_(c, min_epochs=7), tmp_path / "b")
    assert (r.best_epoch, r.stopped_epoch, r.stopped_early) == (1, 7, True)
    # Early stopping never triggers before max_epochs when min_epochs is beyond it.
    r = train(make_model(), l1_loss, train_x, val_x, with_(c, min_epochs=100, max_epochs=5), tmp_path / "c")
    assert (r.stopped_epoch, r.stopped_early) == (5, False)


def test_min_delta_ignores_tiny_improvements(images, config, tmp_path):
    train_x, val_x = images
    c = with_(config, max_epochs=30, min_epochs=1, patience=3, min_delta=1.0)
    r = train(make_model(), l1_loss, train_x, val_x, c, tmp_path / "ck")
    assert r.history[-1]["val_loss"] < r.history[0]["val_loss"]  # it did improve, but by < min_delta
    assert (r.best_epoch, r.stopped_epoch, r.stopped_early) == (1, 4, True)


def test_best_weights_are_restored_not_the_last(config, tmp_path):
    # Bright training images, dark validation images, a model that ignores its input:
    # fitting the training set makes the validation loss worse every epoch.
    train_x = np.full((8, 1, 8, 8), 230, np.uint8)
    val_x = np.full((4, 1, 8, 8), 20, np.uint8)
    snapshots = {}
    model = ConstantModel()
    c = with_(config, lr=0.05, max_epochs=20, min_epochs=1, patience=3)
    r = train(model, l1_loss, train_x, val_x, c, tmp_path / "ck",
              on_epoch_end=lambda s: snapshots.__setitem__(s.epoch, model.bias.detach().clone()))
    assert (r.best_epoch, r.stopped_epoch, r.stopped_early) == (1, 4, True)
    assert torch.equal(r.model.bias, snapshots[1])
    assert not torch.equal(r.model.bias, snapshots[4])
    assert r.model is model


def test_loss_fn_may_return_a_bare_tensor(images, config, tmp_path):
    train_x, val_x = images
    r = train(make_model(), lambda a, b: (a - b).abs().mean(), train_x, val_x, with_(config, max_epochs=2),
              tmp_path / "ck")
    assert set(r.history[0]) == {"epoch", "train_loss", "val_loss", "seconds"}


def test_accepts_a_plain_dict_config(images, tmp_path):
    train_x, val_x = images
    r = train(make_model(), l1_loss, train_x, val_x,
              {"lr": 1e-2, "batch_size": 8, "max_epochs": 2, "device": "cpu", "progress": False}, tmp_path)
    assert r.stopped_epoch == 2 and r.device == "cpu"


@pytest.mark.parametrize("which, bad, fragment", [
    ("train", np.zeros((0, 1, 16, 16), np.uint8), "training set is empty"),
    ("val", np.zeros((0, 1, 16, 16), np.uint8), "raise val_fraction"),
    ("train", np.zeros((4, 1, 16, 16), np.float32), "uint8 numpy array"),
    ("val", np.zeros((4, 16, 16), np.uint8), "uint8 numpy array"),
    ("val", np.zeros((4, 3, 16, 16), np.uint8), "same ingestion run"),
    ("train", [[0]], "got list"),
])
def test_bad_images_raise_data_error(images, config, tmp_path, which, bad, fragment):
    train_x, val_x = images
    args = (bad, val_x) if which == "train" else (train_x, bad)
    with pytest.raises(DataError, match=fragment):
        train(make_model(), l1_loss, *args, config, tmp_path / "ck")
    assert not (tmp_path / "ck").exists()


def test_model_with_wrong_output_shape_is_named(images, config, tmp_path):
    model = torch.nn.Conv2d(1, 2, 3, padding=1)
    with pytest.raises(ValueError, match=r"must return a reconstruction tensor shaped like its input"):
        train(model, l1_loss, *images, config, tmp_path / "ck")


def test_bad_resume_value(images, config, tmp_path):
    with pytest.raises(ValueError, match="resume must be"):
        train(make_model(), l1_loss, *images, config, tmp_path, resume="yes")


def test_progress_bar_shows_losses_best_and_eta(images, config, tmp_path, capsys):
    train(make_model(), l1_loss, *images, with_(config, max_epochs=3, progress=True), tmp_path / "a")
    err = capsys.readouterr().err
    assert "3/3" in err and "val=" in err and "best=" in err and "eta=" in err
    train(make_model(), l1_loss, *images, with_(config, max_epochs=3, progress=False), tmp_path / "b")
    assert capsys.readouterr().err == ""


def test_global_torch_settings_are_restored(images, config, tmp_path):
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    seen = {}

    def probe(stats: EpochStats) -> None:
        seen["threads"] = torch.get_num_threads()
        seen["det"] = torch.are_deterministic_algorithms_enabled()

    train(make_model(), l1_loss, *images, with_(config, max_epochs=1, num_threads=1, deterministic=True),
          tmp_path, on_epoch_end=probe)
    assert seen == {"threads": 1, "det": True}
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det


def test_two_runs_with_the_same_seed_are_bitwise_equal(images, config, tmp_path):
    c = with_(config, max_epochs=6)
    a = train(make_model(), l1_loss, *images, c, tmp_path / "a")
    torch.manual_seed(1234)  # global RNG state before the call must not matter
    b = train(make_model(), l1_loss, *images, c, tmp_path / "b")
    assert state_equal(a.model.state_dict(), b.model.state_dict())
    assert [h["val_loss"] for h in a.history] == [h["val_loss"] for h in b.history]
    # ... and the seed does matter (so the check above can fail).
    d = train(make_model(), l1_loss, *images, with_(c, seed=1), tmp_path / "d")
    assert not state_equal(a.model.state_dict(), d.model.state_dict())


def test_callback_drawing_random_numbers_does_not_change_the_run(images, config, tmp_path):
    c = with_(config, max_epochs=4)
    a = train(make_model(), l1_loss, *images, c, tmp_path / "a")
    b = train(make_model(), l1_loss, *images, c, tmp_path / "b",
              on_epoch_end=lambda s: (torch.rand(10), np.random.rand(3)))
    assert state_equal(a.model.state_dict(), b.model.state_dict())


def test_config_none_means_defaults(images, tmp_path):
    def stop(stats):  # stop after epoch 1 (the defaults would train for 3000 epochs), saving last.pt
        signal.raise_signal(signal.SIGTERM)

    with pytest.raises(TrainingInterrupted):
        train(make_model(), l1_loss, *images, None, tmp_path, on_epoch_end=stop)
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert saved["config"] == TrainConfig().to_dict() and saved["epoch"] == 1


def test_batches_are_shuffled_by_a_dedicated_generator_seeded_by_config(images, config, tmp_path):
    train_x, val_x = images
    index_of = {img.tobytes(): i for i, img in enumerate(train_x)}
    batches: list[list[int]] = []

    def recording_loss(recon, target):
        if torch.is_grad_enabled():  # training batches only
            as_uint8 = (target * 255).round().to(torch.uint8).numpy()
            batches.append([index_of[img.tobytes()] for img in as_uint8])
        return l1_loss(recon, target)

    c = with_(config, max_epochs=3, batch_size=5, seed=3)
    train(make_model(), recording_loss, train_x, val_x, c, tmp_path)
    gen = torch.Generator().manual_seed(3)
    expected = []
    for _ in range(3):
        order = torch.randperm(len(train_x), generator=gen).tolist()
        expected += [order[i:i + 5] for i in range(0, len(order), 5)]  # last batch of an epoch is partial
    assert batches == expected
