"""Checkpoint files, resume (bitwise), fingerprint, finished runs and the NaN guard."""

from __future__ import annotations

import logging
import math
import signal

import numpy as np
import pytest
import torch

import metal_pipeline.training.checkpoint as checkpoint_module
from _training_helpers import l1_loss, make_model, state_equal, strip_seconds, with_
from metal_pipeline.training import (
    CheckpointCorruptError,
    CheckpointMismatchError,
    TrainingDivergedError,
    TrainingInterrupted,
    load_best_checkpoint,
    load_training_checkpoint,
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


def signal_in_callback(epoch: int, signum: int):
    """Sends ``signum`` to this process from ``on_epoch_end`` of ``epoch`` (after that epoch's checkpoint
    decision), like a ``kill`` arriving between epochs."""
    def callback(stats):
        if stats.epoch == epoch:
            signal.raise_signal(signum)

    return callback


class SignalDuringEpoch:
    """l1 loss that sends ``signum`` to this process during the ``batch``-th training batch of ``epoch``
    (``times`` times), like a ``kill`` arriving mid-epoch."""

    def __init__(self, epoch: int, signum: int, batch: int = 2, times: int = 1) -> None:
        self.epoch, self.signum, self.batch, self.times = epoch, signum, batch, times
        self.train_batches = 0

    def __call__(self, recon, target):
        if torch.is_grad_enabled():
            self.train_batches += 1
            if self.train_batches == self.per_epoch * (self.epoch - 1) + self.batch:
                for _ in range(self.times):
                    signal.raise_signal(self.signum)
        return l1_loss(recon, target)


def truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def test_checkpoint_files_exist_load_and_match_the_result(images, config, tmp_path):
    ck = tmp_path / "ck"
    r = train(make_model(), l1_loss, *images, with_(config, max_epochs=5), ck)
    assert sorted(p.name for p in ck.iterdir()) == ["best.pt", "last.pt"]
    best = load_best_checkpoint(ck)
    assert best["epoch"] == r.best_epoch and best["val_loss"] == r.best_val_loss
    fresh = make_model(seed=99)
    fresh.load_state_dict(best["model"])
    assert state_equal(fresh.state_dict(), r.model.state_dict())
    last = load_training_checkpoint(ck / "last.pt")  # weights_only=True inside
    assert last["epoch"] == 5 and last["finished"] and not last["stopped_early"]
    assert len(last["history"]) == 5 and last["best_epoch"] == r.best_epoch
    assert {"python", "numpy", "torch", "shuffle", "cuda"} <= set(last["rng"])
    assert last["optimizer"]["param_groups"][0]["lr"] == config.lr
    assert r.best_checkpoint == ck / "best.pt" and r.last_checkpoint == ck / "last.pt"


def test_checkpoint_every_n_epochs(images, config, tmp_path):
    epochs_on_disk = []
    ck = tmp_path / "ck"
    train(make_model(), l1_loss, *images, with_(config, max_epochs=5, checkpoint_every=2), ck,
          on_epoch_end=lambda s: epochs_on_disk.append(load_training_checkpoint(ck / "last.pt")["epoch"]
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
    saved = load_training_checkpoint(ck / target)  # still a complete, loadable file
    if target == "last.pt":
        assert saved["epoch"] == 2
    assert temp_files(ck) == []


@pytest.mark.parametrize("how", ["callback_raises", "max_epochs", "checkpoint_every_2", "sigterm_mid_epoch_every_5",
                                 "sigint_between_epochs_every_4"])
def test_resumed_run_ends_bitwise_equal_to_an_uninterrupted_run(images, config, tmp_path, how):
    c = with_(config, max_epochs=9, min_epochs=4, patience=100)
    if how == "checkpoint_every_2":
        c = with_(c, checkpoint_every=2)
    elif how == "sigterm_mid_epoch_every_5":
        c = with_(c, checkpoint_every=5)
    elif how == "sigint_between_epochs_every_4":
        c = with_(c, checkpoint_every=4)
    full = train(make_model(), l1_loss, *images, c, tmp_path / "full")

    ck = tmp_path / "resumed"
    if how == "max_epochs":
        first = train(make_model(), l1_loss, *images, with_(c, max_epochs=3), ck)
        assert first.stopped_epoch == 3
    elif how.startswith("sig"):
        # The signal path: the epoch in progress is finished and saved although no checkpoint is due.
        before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        if how == "sigterm_mid_epoch_every_5":
            loss, callback = SignalDuringEpoch(3, signal.SIGTERM), None
            loss.per_epoch = len(images[0]) // c.batch_size
        else:
            loss, callback = l1_loss, signal_in_callback(3, signal.SIGINT)
        with pytest.raises(TrainingInterrupted) as err:
            train(make_model(), loss, *images, c, ck, on_epoch_end=callback)
        name = "SIGTERM" if "sigterm" in how else "SIGINT"
        assert (err.value.signal_name, err.value.epoch, err.value.checkpoint) == (name, 3, ck / "last.pt")
        assert "run the same command again" in str(err.value)
        assert load_training_checkpoint(ck / "last.pt")["epoch"] == 3
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # handlers restored
    else:
        with pytest.raises(Interrupt):
            train(make_model(), l1_loss, *images, c, ck, on_epoch_end=interrupt_at(3))
    torch.manual_seed(777)  # a new process: different global RNG state, different initial weights
    np.random.seed(777)
    resumed = train(make_model(seed=5), l1_loss, *images, c, ck, resume="auto")

    assert resumed.resumed_from_epoch == (2 if how == "checkpoint_every_2" else 3)
    assert not resumed.already_finished and not resumed.resumed_from_best
    assert state_equal(resumed.model.state_dict(), full.model.state_dict())
    assert strip_seconds(resumed.history) == strip_seconds(full.history)
    assert (resumed.best_epoch, resumed.stopped_epoch) == (full.best_epoch, full.stopped_epoch)
    last_full = load_training_checkpoint(tmp_path / "full" / "last.pt")
    last_resumed = load_training_checkpoint(ck / "last.pt")
    assert state_equal(last_full["model"], last_resumed["model"])  # the final (not just best) weights too
    assert state_equal(last_full["optimizer"]["state"][0], last_resumed["optimizer"]["state"][0])
    assert temp_files(ck) == []


def test_a_second_signal_stops_at_once_without_saving(images, config, tmp_path):
    ck = tmp_path / "ck"
    c = with_(config, max_epochs=9, checkpoint_every=2)
    loss = SignalDuringEpoch(3, signal.SIGINT, times=2)
    loss.per_epoch = len(images[0]) // c.batch_size
    with pytest.raises(KeyboardInterrupt):
        train(make_model(), loss, *images, c, ck)
    assert load_training_checkpoint(ck / "last.pt")["epoch"] == 2  # epoch 3 was not finished, so not saved
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_signals_are_left_alone_outside_the_epochs_and_when_disabled(images, config, tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    seen = []
    train(make_model(), l1_loss, *images, with_(config, max_epochs=2), tmp_path / "a",
          on_epoch_end=lambda s: seen.append(signal.getsignal(signal.SIGTERM)))
    assert seen[0] is not before and signal.getsignal(signal.SIGTERM) is before
    seen.clear()
    train(make_model(), l1_loss, *images, with_(config, max_epochs=2), tmp_path / "b", stop_on_signals=False,
          on_epoch_end=lambda s: seen.append(signal.getsignal(signal.SIGTERM)))
    assert seen == [before, before]


def test_resume_reports_the_restored_history_before_training(images, config, tmp_path):
    """What a logger needs to complete a resumed run's metric history (issue 11 case 5)."""
    ck = tmp_path / "ck"
    c = with_(config, max_epochs=6, checkpoint_every=2)
    logged = []
    with pytest.raises(Interrupt):
        def log_then_die(stats):
            logged.append(stats)
            interrupt_at(3)(stats)

        train(make_model(), l1_loss, *images, c, ck, on_epoch_end=log_then_die)
    events = []
    resumed = train(make_model(), l1_loss, *images, c, ck,
                    on_resume=lambda stats: events.append(("resume", [s.epoch for s in stats], stats)),
                    on_epoch_end=lambda s: events.append(("epoch", s.epoch, s)))
    assert resumed.resumed_from_epoch == 2
    assert [e[:2] for e in events] == [("resume", [1, 2])] + [("epoch", e) for e in range(3, 7)]
    restored = events[0][2]
    for before, again in zip(logged[:2], restored):  # the metrics the first attempt logged, seconds aside
        a, b = before.as_metrics(), again.as_metrics()
        assert a.pop("epoch_seconds") > 0 and b.pop("epoch_seconds") > 0
        assert a == b
    # a finished run reports its whole history, and trains nothing
    again = []
    done = train(make_model(), l1_loss, *images, c, ck, on_resume=again.append,
                 on_epoch_end=lambda s: pytest.fail("no epoch should run"))
    assert done.already_finished and [s.epoch for s in again[0]] == list(range(1, 7))
def test_resume_without_restoring_rng_would_differ(images, config, tmp_path, monkeypatch):
    """Guards the test above: skipping the RNG restore must break bitwise equality."""
    c = with_(config, max_epochs=6)
    full = train(make_model(), l1_loss, *images, c, tmp_path / "full")
    with pytest.raises(Interrupt):
        train(make_model(), l1_loss, *images, c, tmp_path / "r", on_epoch_end=interrupt_at(3))
    import metal_pipeline.training.resume as resume_module

    # the resume's own RNG restore is skipped (the loop's other restores stay)
    monkeypatch.setattr(resume_module, "restore_rng_state", lambda state, generator: None)
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
    assert fragment in msg and err.value.checkpoint == ck / "last.pt"
    # The fix keeps every file (issue 11: suggested fixes never delete intact files): move the folder aside
    # or use another one; never delete it, never overwrite it with resume=False.
    assert f"mv {ck} {ck}.other-run" in msg and "checkpoint_dir" in msg and "no file was changed" in msg
    assert "delete" not in msg.lower() and "resume=False" not in msg and "overwrite" not in msg
    assert (ck / "last.pt").read_bytes() == before
    assert sorted(p.name for p in ck.iterdir()) == ["best.pt", "last.pt"]


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
    assert load_training_checkpoint(ck / "last.pt")["config"]["lr"] == 1e-3


def test_truncated_last_checkpoint_falls_back_to_best_with_one_warning(images, config, tmp_path, caplog):
    """Issue 11 case 6: a truncated last.pt does not end the run."""
    ck = tmp_path / "ck"
    c = with_(config, max_epochs=4, lr=0.1)  # a noisy validation loss: best epoch 2 of 4
    first = train(make_model(), l1_loss, *images, c, ck)
    assert first.best_epoch == 2
    truncate(ck / "last.pt")
    with caplog.at_level(logging.WARNING, logger="metal_pipeline.training"):
        r = train(make_model(), l1_loss, *images, with_(c, max_epochs=7), ck)
    warnings = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert f"Cannot read {ck / 'last.pt'}" in warnings[0] and f"Resuming from {ck / 'best.pt'}" in warnings[0]
    assert "not bit-identical" in warnings[0]
    assert r.resumed_from_best and r.resumed_from_epoch == first.best_epoch and r.stopped_epoch == 7
    # the history up to the best epoch comes from best.pt; later epochs are trained again
    assert strip_seconds(r.history[:first.best_epoch]) == strip_seconds(first.history[:first.best_epoch])
    assert [h["epoch"] for h in r.history] == list(range(1, 8))
    assert load_training_checkpoint(ck / "last.pt")["epoch"] == 7  # readable again
    assert load_best_checkpoint(ck)["epoch"] == r.best_epoch


def test_fallback_writes_a_readable_last_checkpoint_at_once(images, config, tmp_path):
    ck = tmp_path / "ck"
    c = with_(config, max_epochs=4, lr=0.1)
    first = train(make_model(), l1_loss, *images, c, ck)
    assert first.best_epoch == 2
    truncate(ck / "last.pt", keep=0.1)
    with pytest.raises(Interrupt):  # killed again right after the fallback's first epoch
        train(make_model(), l1_loss, *images, with_(c, max_epochs=6, checkpoint_every=50), ck,
              on_epoch_end=interrupt_at(first.best_epoch + 1))
    last = load_training_checkpoint(ck / "last.pt")
    assert last["epoch"] == first.best_epoch and len(last["history"]) == first.best_epoch


@pytest.mark.parametrize("best", ["missing", "truncated", "other_run"])
def test_unreadable_last_without_a_usable_best_names_only_the_broken_files(images, config, tmp_path, best):
    ck = tmp_path / "ck"
    c = with_(config, max_epochs=2)
    train(make_model(), l1_loss, *images, c, ck)
    truncate(ck / "last.pt")
    if best == "missing":
        (ck / "best.pt").unlink()
    elif best == "truncated":
        truncate(ck / "best.pt")
    else:
        train(make_model(), l1_loss, *images, with_(c, lr=1e-3), tmp_path / "other")
        (ck / "best.pt").write_bytes((tmp_path / "other" / "best.pt").read_bytes())
    (ck / "notes.txt").write_text("an intact file of the user")
    before = {p.name: p.read_bytes() for p in ck.iterdir()}
    with pytest.raises(CheckpointCorruptError) as err:
        train(make_model(), l1_loss, *images, with_(c, max_epochs=4), ck)
    msg = str(err.value)
    assert "\n" not in msg and f"Cannot resume the run in {ck}" in msg and "Nothing was trained" in msg
    broken = [ck / "last.pt"] + ([ck / "best.pt"] if best == "truncated" else [])
    assert list(err.value.paths) == broken
    assert "Fix: delete " + " and ".join(str(p) for p in broken) + " (only " in msg
    assert f"delete {ck} " not in msg and f"Delete {ck} " not in msg  # never the whole folder
    if best == "other_run":
        assert "belongs to a different run" in msg
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == before  # nothing touched


def test_a_file_that_is_not_a_checkpoint_names_only_itself(tmp_path):
    (tmp_path / "best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointCorruptError, match=r"Cannot read checkpoint .*best.pt.*Delete this file only"):
        load_best_checkpoint(tmp_path)
    torch.save({"format": 0}, tmp_path / "old.pt")
    with pytest.raises(CheckpointCorruptError, match="not a checkpoint of this training loop"):
        load_training_checkpoint(tmp_path / "old.pt")


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
    assert load_training_checkpoint(ck / "last.pt")["epoch"] == 2
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
    last = load_training_checkpoint(ck / "last.pt")
    assert last["stopped_early"] and last["finished"]


def test_pipeline_mismatch_names_the_run_folders_to_move_aside(tmp_path, monkeypatch):
    """Issue 11 (suggested fixes never delete intact files): under one run name a mismatch means the code or
    the data changed; the training node's fix moves that run's folders aside (06 with its checkpoints and
    detector, 07, 08) and deletes or overwrites nothing."""
    from metal_pipeline import run_identity
    from metal_pipeline.data.image_set import ImageSet
    from metal_pipeline.pipelines.training.nodes import train_model
    from metal_pipeline.training.checkpoint import save_checkpoint

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)

    def image_set(n):
        return ImageSet(images=rng.integers(0, 256, (n, 1, 32, 32), dtype=np.uint8),
                        names=[f"good/{i:03d}" for i in range(n)], defects=["good"] * n, labels=np.zeros(n))

    train_set, val_set = image_set(4), image_set(2)
    manifest = {"split": "widget-32px-s0-abc123", "digests": {"train": run_identity.image_set_digest(train_set),
                                                              "val": run_identity.image_set_digest(val_set)}}
    training = {"lr": 1e-3, "batch_size": 2, "max_epochs": 1, "min_epochs": 0, "patience": 5, "device": "cpu",
                "progress": False, "checkpoint_root": "data/06_models", "loss": {"l1_weight": 1.0, "ssim_weight": 0.0}}
    args = dict(train_set=train_set, val_set=val_set, split_manifest=manifest, class_name="widget",
                recipe="default", configuration="squares_rows", masking="strict", seed=0,
                ingestion_params={"img_size": 32},
                model_params={"patch_size": 8, "embed_dim": 16, "num_heads": 2, "depth": 1, "decoder_hidden": 16},
                training_params=training)
    train_model(**args)
    run = next((tmp_path / "data" / "06_models").iterdir()).name
    ck = tmp_path / "data" / "06_models" / run / "checkpoints"
    last = load_training_checkpoint(ck / "last.pt")  # as if an older version of the code had trained this run
    last["fingerprint"], last["fingerprint_parts"]["model.class"] = "0" * 16, "old.MeTAL"
    save_checkpoint(last, ck / "last.pt")
    reports = tmp_path / "data" / "08_reporting" / run
    reports.mkdir(parents=True)
    (reports / "metrics.json").write_text("{}")
    before = {p: p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file()}

    with pytest.raises(CheckpointMismatchError) as err:
        train_model(**args)
    msg = str(err.value)
    assert "model.class: checkpoint 'old.MeTAL'" in msg and "the code or the data changed" in msg
    assert f"mv data/06_models/{run} data/06_models/{run}.other-run" in msg
    assert f"mv data/08_reporting/{run} data/08_reporting/{run}.other-run" in msg
    assert "07_model_output" not in msg  # only folders that exist
    assert "delete" not in msg.lower() and "resume=False" not in msg
    assert {p: p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file()} == before
