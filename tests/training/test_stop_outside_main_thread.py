"""SIGTERM stops trainings that run outside the main thread (a Dask worker's tasks) cleanly: each
finishes its epoch, writes last.pt, and then the process ends by the signal as it would have."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from metal_pipeline.training import load_training_checkpoint

HELPERS = Path(__file__).resolve().parent

#: A process whose main thread only waits, as a Dask worker's does, while two trainings run in threads;
#: no periodic checkpoint is due, so last.pt can only come from the signal.
WORKER = textwrap.dedent("""
    import sys, threading, time
    sys.path.insert(0, {helpers!r})
    from _training_helpers import l1_loss, make_images, make_model
    from metal_pipeline.training import TrainConfig, TrainingInterrupted, train
    from metal_pipeline.training.runtime import stop_trainings_on_signals

    stop_trainings_on_signals()
    config = TrainConfig(lr=1e-2, batch_size=4, max_epochs=100000, min_epochs=1, patience=100000, seed=0,
                         device="cpu", num_threads=1, progress=False, checkpoint_every=100000)
    images = make_images(16, seed=1), make_images(4, seed=2)

    def run(name):
        def slow(stats):
            with open(name + ".epochs", "a") as f:
                f.write(f"{{stats.epoch}}\\n")
            time.sleep(0.02)
        try:
            train(make_model(), l1_loss, *images, config, name, on_epoch_end=slow)
        except TrainingInterrupted as e:
            with open(name + ".interrupted", "w") as f:
                f.write(f"{{e.signal_name}} {{e.epoch}}")
            time.sleep(0.5)  # the process must wait for this thread before it ends

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(0.05)
    print("not reached: the signal ends the process once both trainings stopped")
""")


def _epochs(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_trainings_in_threads_save_their_epoch_and_the_process_then_ends_by_the_signal(tmp_path, signum):
    proc = subprocess.Popen([sys.executable, "-c", WORKER.format(helpers=str(HELPERS))], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while min(_epochs(tmp_path / "a.epochs"), _epochs(tmp_path / "b.epochs")) < 3:
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    name = signal.Signals(signum).name
    if signum == signal.SIGTERM:
        assert proc.returncode == -signum, err  # ended by the signal, as without the handler
    else:
        assert proc.returncode != 0 and "KeyboardInterrupt" in err  # SIGINT's default: KeyboardInterrupt
    assert "not reached" not in out
    assert f"{name} received" in err
    for run in ("a", "b"):
        got_name, epoch = (tmp_path / f"{run}.interrupted").read_text().split()
        assert got_name == name and int(epoch) >= 3
        assert load_training_checkpoint(tmp_path / run / "last.pt")["epoch"] == int(epoch)
        assert _epochs(tmp_path / f"{run}.epochs") == int(epoch)  # no epoch started after the signal


def test_only_the_main_thread_can_install_it():
    import threading

    from metal_pipeline.training.runtime import stop_trainings_on_signals

    errors = []

    def install():
        try:
            stop_trainings_on_signals()
        except RuntimeError as e:
            errors.append(str(e))

    t = threading.Thread(target=install)
    t.start()
    t.join()
    assert errors and "main thread" in errors[0]
