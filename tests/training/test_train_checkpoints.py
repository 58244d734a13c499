"""Checkpoint files, resume (bitwise), fingerprint, finished runs and the NaN guard."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import metal_pipeline.training.checkpoint as checkpoint_module
from _training_helpers import l1_loss, make_model, state_equal, strip_seconds, with_
from metal_pipeline.training import (
    CheckpointMismatchError,
    TrainingDivergedError,
    load_best_checkpoint,
    load_checkpoint,
    train,
)


class Interrupt(Exception):
    """Stands in for a killed process."""


def interrupt_at(epoch: int):
    def callback(stats):
        if stats.epoch == epoch:
            raise Interrupt

    return callback


def temp_files(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_checkpoint_files_exist_load_and_match_the_result(images, config, tmp_path):
    ck = tmp_path / "ck"
    r = train(make_model(), l1_loss, *images, with_(config, max_epochs=5), ck)
    assert sorted(p.name for p in ck.iterdir()) == ["best.pt", "last.pt"]
    best = load_best_checkpoint(ck)
    assert best["epoch"] == r.best_epoch and best["val_loss"] == r.best_val_loss
    fresh = make_model(seed=99)
    fresh.load_state_dict(best["model"])
    assert state_equal(fresh.state_dict(), r.model.state_dict())
    last = load_checkpoint(ck / "last.pt")  # weights_only=True inside
    assert last["epoch"] == 5 and last["finished"] and not last["stopped_early"]
    assert len(last["history"]) == 5 and last["best_epoch"] == r.best_epoch
    assert {"python", "numpy", "torch", "shuffle", "cuda"} <= set(last["rng"])
    assert last["optimizer"]["param_groups"][0]["lr"] == config.lr
    assert r.best_checkpoint == ck / "best.pt" and r.last_checkpoint == ck / "last.pt"


def test_checkpoint_every_n_epochs(images, config, tmp_path):
    epochs_on_disk = []
    ck = tmp_path / "ck"
    train(make_model(), l1_loss, *images, with_(config, max_epochs=5, checkpoint_every=2), ck,
          on_epoch_end=lambda s: epochs_on_disk.append(load_checkpoint(ck / "last.pt")["epoch"]
                                                       if (ck / "last.pt").exists() else None))
    assert epochs_on_disk == [None, 2, 2, 4, 5]  # and always on the final epoch


@pytest.mark.parametrize("target", ["last.pt", "best.pt"])
def test_failed_write_leaves_previous_checkpoint_and_no_temp_file(images, config, tmp_path, monkeypatch, target):
    ck = tmp_path / "ck"
    train(make_model(), l1_loss, *images, with_(config, max_epochs=2), ck)
    before = (ck / target).read_bytes()
    real_save = torch.save

    def crash_half_way_through(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        if target in str(f):
            with open(f, "r+b") as fh:
                fh.truncate(100)
            raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", crash_half_way_through)
    with pytest.raises(OSError, match="disk full"):
        train(make_model(), l1_loss, *images, with_(config, max_epochs=4), ck)
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    assert (ck / target).read_bytes() == before
    saved = load_checkpoint(ck / target)  # still a complete, loadable file
    if target == "last.pt":
        assert saved["epoch"] == 2
    assert temp_files(ck) == []


@pytest.mark.parametrize("how", ["callback_raises", "max_epochs", "checkpoint_every_2"])
def test_resumed_run_ends_bitwise_equal_to_an_uninterrupted_run(images, config, tmp_path, how):
    c = with_(config, max_epochs=9, min_epochs=4, patience=100)
    if how == "checkpoint_every_2":
        c = with_(c, checkpoint_every=2)
    full = train(make_model(), l1_loss, *images, c, tmp_path / "full")

    ck = tmp_path / "resumed"
    if how == "max_epochs":
        first = train(make_model(), l1_loss, *images, with_(c, max_epochs=3), ck)
        assert first.stopped_epoch == 3
    else:
        with pytest.raises(Interrupt):
            train(make_model(), l1_loss, *images, c, ck, on_epoch_end=interrupt_at(3))
    torch.manual_seed(777)  # a new process: different global RNG state, different initial weights
    np.random.seed(777)
    resumed = train(make_model(seed=5), l1_loss, *images, c, ck, resume="auto")

    assert resumed.resumed_from_epoch == (2 if how == "checkpoint_every_2" else 3)
    assert not resumed.already_finished
    assert state_equal(resumed.model.state_dict(), full.model.state_dict())
    assert strip_seconds(resumed.history) == strip_seconds(full.history)
    assert (resumed.best_epoch, resumed.stopped_epoch) == (full.best_epoch, full.stopped_epoch)
    last_full = load_checkpoint(tmp_path / "full" / "last.pt")
    last_resumed = load_checkpoint(ck / "last.pt")
    assert state_equal(last_full["model"], last_resumed["model"])  # the final (not just best) weights too
    assert temp_files(ck) == []


def test_resume_without_restoring_rng_would_differ(images, config, tmp_path, monkeypatch):
    """Guards the test above: skipping the RNG restore must break bitwise equality."""
    c = with_(config, max_epochs=6)
    full = train(make_model(), l1_loss, *images, c, tmp_path / "full")
    with pytest.raises(Interrupt):
        train(make_model(), l1_loss, *images, c, tmp_path / "r", on_epoch_end=interrupt_at(3))
    import metal_pipeline.training.loop as loop_module

    real = loop_module.restore_rng_state
    calls = {"n": 0}

    def skip_first(state, generator):  # the first call is the resume itself
        calls["n"] += 1
        if calls["n"] > 1:
            real(state, generator)

    monkeypatch.setattr(loop_module, "restore_rng_state", skip_first)
    resumed = train(make_model(), l1_loss, *images, c, tmp_path / "r")
    assert resumed.resumed_from_epoch == 3
    assert not state_equal(resumed.model.state_dict(), full.model.state_dict())


def test_finished_run_returns_immediately_with_the_best_model(images, config, tmp_path):
    ck = tmp_path / "ck"
    c = with_(config, lr=0.0, max_epochs=50, min_epochs=2, patience=2)
    done = train(make_model(), l1_loss, *images, c, ck)
    assert done.stopped_early and done.stopped_epoch == 3
    stamp = (ck / "last.pt").stat().st_mtime_ns, (ck / "best.pt").stat().st_mtime_ns
    calls = []

    def counting_loss(recon, target):
        calls.append(1)
        return l1_loss(recon, target)

    def fail(stats):
        raise AssertionError("no epoch should run")

    again = train(make_model(seed=3), counting_loss, *images, c, ck, resume="auto", on_epoch_end=fail)
    assert again.already_finished and again.resumed_from_epoch == 3 and calls == []
    assert (again.best_epoch, again.stopped_epoch, again.stopped_early) == (1, 3, True)
    assert state_equal(again.model.state_dict(), done.model.state_dict())
    assert strip_seconds(again.history) == strip_seconds(done.history)
    assert ((ck / "last.pt").stat().st_mtime_ns, (ck / "best.pt").stat().st_mtime_ns) == stamp


def test_finished_by_max_epochs_can_be_extended(images, config, tmp_path):
    ck = tmp_path / "ck"
    train(make_model(), l1_loss, *images, with_(config, max_epochs=2), ck)
    same = train(make_model(), l1_loss, *images, with_(config, max_epochs=2), ck)
    assert same.already_finished
    more = train(make_model(), l1_loss, *images, with_(config, max_epochs=4), ck)
    assert not more.already_finished and more.resumed_from_epoch == 2 and more.stopped_epoch == 4


@pytest.mark.parametrize("change, fragment", [
    ("lr", "config.lr: checkpoint 0.01, now 0.001"),
    ("model", "model tensors differ: dec.weight float32[1, 4, 3, 3] -> float32[1, 5, 3, 3]"),
    ("data", "data.train"),
    ("extra", "extra.ssim_weight: checkpoint 1, now 2"),
])
def test_fingerprint_mismatch_is_refused_with_the_fix(images, config, tmp_path, change, fragment):
    ck = tmp_path / "ck"
    train_x, val_x = images
    train(make_model(), l1_loss, train_x, val_x, with_(config, max_epochs=2), ck,
          fingerprint_extra={"ssim_weight": 1})
    before = (ck / "last.pt").read_bytes()
    model, c, extra = make_model(), with_(config, max_epochs=4), {"ssim_weight": 1}
    if change == "lr":
        c = with_(c, lr=1e-3)
    elif change == "model":
        model = make_model(hidden=5)
    elif change == "data":
        train_x = train_x.copy()
        train_x[0, 0, 0, 0] ^= 1
    else:
        extra = {"ssim_weight": 2}
    with pytest.raises(CheckpointMismatchError) as err:
        train(model, l1_loss, train_x, val_x, c, ck, resume="auto", fingerprint_extra=extra)
    msg = str(err.value)
    assert fragment in msg and f"Delete {ck}" in msg and "checkpoint_dir" in msg
    assert (ck / "last.pt").read_bytes() == before


def test_stopping_rule_and_runtime_settings_may_change_on_resume(images, config, tmp_path):
    ck = tmp_path / "ck"
    train(make_model(), l1_loss, *images, with_(config, max_epochs=2), ck)
    r = train(make_model(), l1_loss, *images,
              with_(config, max_epochs=3, patience=7, min_epochs=2, checkpoint_every=3, num_threads=None), ck)
    assert r.resumed_from_epoch == 2 and r.stopped_epoch == 3


def test_resume_true_requires_last_and_false_starts_over(images, config, tmp_path):
    ck = tmp_path / "ck"
    with pytest.raises(FileNotFoundError, match="resume=True"):
        train(make_model(), l1_loss, *images, config, ck, resume=True)
    c = with_(config, max_epochs=2)
    train(make_model(), l1_loss, *images, c, ck)
    # resume=False ignores (and replaces) even a mismatching checkpoint
    r = train(make_model(), l1_loss, *images, with_(c, lr=1e-3), ck, resume=False)
    assert r.resumed_from_epoch is None and len(r.history) == 2
    assert load_checkpoint(ck / "last.pt")["config"]["lr"] == 1e-3


def test_corrupt_last_checkpoint_is_a_clear_error(images, config, tmp_path):
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match=r"Cannot read checkpoint .*last.pt.*Delete"):
        train(make_model(), l1_loss, *images, config, ck)


class NanAfter:
    """l1 loss that turns NaN once ``armed`` (set from on_epoch_end), in one phase only."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.armed = False
        self.batches = 0

    def __call__(self, recon, target):
        loss, parts = l1_loss(recon, target)
        in_phase = torch.is_grad_enabled() == (self.phase == "train")
        if self.armed and in_phase:
            self.batches += 1
            if self.batches == 2:
                return loss * float("nan"), parts
        return loss, parts


@pytest.mark.parametrize("phase", ["train", "validation"])
def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(images, config, tmp_path, phase):
    ck = tmp_path / "ck"
    loss_fn = NanAfter(phase)
    saved = {}

    def arm_after_epoch_2(stats):
        if stats.epoch == 2:
            saved["last"] = (ck / "last.pt").read_bytes()
            saved["best"] = (ck / "best.pt").read_bytes()
            loss_fn.armed = True

    c = with_(config, max_epochs=6, batch_size=2)  # validation has 2 batches
    with pytest.raises(TrainingDivergedError) as err:
        train(make_model(), loss_fn, *images, c, ck, on_epoch_end=arm_after_epoch_2)
    e = err.value
    assert (e.epoch, e.batch, e.phase, e.checkpoint) == (3, 2, phase, ck / "last.pt")
    assert math.isnan(e.value)
    msg = str(e)
    assert f"{phase} loss is nan at epoch 3, batch 2" in msg and str(ck / "last.pt") in msg
    assert "lower learning rate" in msg
    assert (ck / "last.pt").read_bytes() == saved["last"] and (ck / "best.pt").read_bytes() == saved["best"]
    assert load_checkpoint(ck / "last.pt")["epoch"] == 2
    assert temp_files(ck) == []
    # The good checkpoint is usable: a stable loss resumes from epoch 2.
    r = train(make_model(), l1_loss, *images, c, ck)
    assert r.resumed_from_epoch == 2 and r.stopped_epoch == 6


def test_nan_before_any_checkpoint_says_so(images, config, tmp_path):
    with pytest.raises(TrainingDivergedError, match="No checkpoint had been written yet") as err:
        train(make_model(), lambda r, t: (r.sum() * float("inf"), {}), *images, config, tmp_path / "ck")
    assert err.value.checkpoint is None and err.value.epoch == 1 and err.value.batch == 1


def test_finished_run_rewrites_a_missing_best_checkpoint(images, config, tmp_path):
    ck = tmp_path / "ck"
    done = train(make_model(), l1_loss, *images, with_(config, max_epochs=3), ck)
    (ck / "best.pt").unlink()
    again = train(make_model(), l1_loss, *images, with_(config, max_epochs=3), ck)
    assert again.already_finished
    best = load_best_checkpoint(ck)
    assert best["epoch"] == done.best_epoch
    assert state_equal(best["model"], done.model.state_dict())


def test_tightened_stopping_rule_ends_a_resumed_run_without_training(images, config, tmp_path):
    ck = tmp_path / "ck"
    c = with_(config, lr=0.0, max_epochs=4)  # val loss flat: best epoch 1, patience 100 -> no stop
    first = train(make_model(), l1_loss, *images, c, ck)
    assert (first.stopped_epoch, first.stopped_early, first.best_epoch) == (4, False, 1)
    again = train(make_model(), l1_loss, *images, with_(c, max_epochs=10, patience=2), ck)
    assert again.already_finished and again.stopped_early and again.stopped_epoch == 4
    last = load_checkpoint(ck / "last.pt")
    assert last["stopped_early"] and last["finished"]
