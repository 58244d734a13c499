"""Process-level concerns of a training run: torch's thread count and
determinism flags (process-global, so restored afterwards), stopping cleanly
on SIGINT/SIGTERM, and readable durations for the ETA."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import torch

from metal_pipeline.training.config import TrainConfig


SIGNALS = ("SIGINT", "SIGTERM")


class SignalHandlers:
    """SIGINT/SIGTERM routed to ``handle`` (main thread only, as :func:`signal.signal` requires), with
    the handlers found before kept, so that they come back afterwards and a second signal can get the
    behaviour it would have had without us (:meth:`pass_on`). The one installer of this package."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.previous: dict[int, Any] = {}

    def install(self) -> SignalHandlers:
        for name in SIGNALS:
            signum = getattr(signal, name, None)
            if signum is None or signum in self.previous:
                continue
            try:
                self.previous[signum] = signal.signal(signum, self._handle)
            except (ValueError, OSError):  # not settable here (not the main thread, an embedding host)
                continue
        return self

    def restore(self) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self.previous.clear()

    def pass_on(self, signum: int) -> None:
        """Restore the earlier handlers and send ``signum`` again, so that they get it as if we had not
        been there: a second signal stops at once, the usual way. Re-sent rather than called, because a
        handler installed through asyncio (a Dask worker's) acts on the signal's wakeup fd, not the call."""
        self.restore()
        os.kill(os.getpid(), signum)  # to SIG_IGN: nothing, as without us


class _ProcessStop:
    """Signal handling for a process whose trainings run outside its main thread (a Dask worker runs
    each task in a thread): the main thread's handler records the signal, every training in the
    process stops at the end of its epoch after writing ``last.pt``, and once none is left the process
    gets the signal as it would have without this (so a worker still ends). A second signal does that
    at once. :meth:`request` stops the trainings the same way without a signal, and the process goes on
    (the Dask runner's driver asks its workers so when it is stopped)."""

    def __init__(self) -> None:
        self.installed = False
        self.signal_name: str | None = None
        self._signalled = False
        self._active = 0
        self._lock = threading.RLock()  # request() may run in the main thread (client.run) when a signal arrives
        self._handlers = SignalHandlers(self._handle)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("stop_trainings_on_signals() must be called in the main thread")
        self._handlers.install()
        self.installed = True

    def enter(self) -> None:
        with self._lock:
            self._active += 1

    def exit(self) -> None:
        with self._lock:
            self._active -= 1

    def request(self, name: str) -> int:
        """Stop every training of this process at the end of its epoch, as ``name`` would; the number
        of trainings running."""
        with self._lock:
            if self.signal_name is None:
                self.signal_name = name
            return self._active

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self._signalled:  # second signal: as without us, at once
            self._handlers.pass_on(signum)
            return
        self._signalled = True
        self.request(name)
        with contextlib.suppress(OSError):
            os.write(2, f"\n{name} received: every training of this process finishes its epoch, writes last.pt "
                        f"and stops; then the process gets {name} (send it again to stop at once).\n".encode())
        threading.Thread(target=self._pass_on_when_idle, args=(signum,), name="metal-stop", daemon=True).start()

    def _pass_on_when_idle(self, signum: int) -> None:
        while True:
            with self._lock:
                if self._active <= 0:
                    break
            time.sleep(0.05)
        os.kill(os.getpid(), signum)  # handled in the main thread as a second signal: passed on there


_PROCESS_STOP = _ProcessStop()


def stop_trainings_on_signals() -> None:
    """In the main thread of a process whose trainings run in other threads (a Dask worker): make
    SIGINT/SIGTERM stop them cleanly (see :class:`_ProcessStop`), as they do in the main thread."""
    _PROCESS_STOP.install()


def trainings_stop_on_signals() -> bool:
    """Whether :func:`stop_trainings_on_signals` was called in this process."""
    return _PROCESS_STOP.installed


def request_trainings_stop(name: str = "SIGTERM") -> int:
    """Stop this process's trainings that run outside the main thread at the end of their epoch, with
    ``last.pt`` written, as signal ``name`` would (and those that start later after their first epoch);
    the process itself goes on. Needs :func:`stop_trainings_on_signals`. Returns how many were running."""
    return _PROCESS_STOP.request(name)


class StopOnSignal:
    """While active, SIGINT/SIGTERM only set ``signal_name``; the loop stops at the end of the epoch.
    A second signal gets the previous handler's behaviour. In the main thread this installs its own
    handlers; in another thread it follows the process's (:func:`stop_trainings_on_signals`), if any."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._signal_name: str | None = None
        self._handlers = SignalHandlers(self._handle)
        self._process = False

    @property
    def signal_name(self) -> str | None:
        if self._signal_name is None and self._process:
            return _PROCESS_STOP.signal_name
        return self._signal_name

    def __enter__(self) -> StopOnSignal:
        if not self.enabled:
            return self
        if threading.current_thread() is not threading.main_thread():
            if _PROCESS_STOP.installed:
                self._process = True
                _PROCESS_STOP.enter()
            return self
        self._handlers.install()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._process:  # signal_name still reads the process's afterwards: the loop checks it once more
            _PROCESS_STOP.exit()
        self._handlers.restore()

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signal_name is not None:  # second signal: stop at once, the usual way
            self._handlers.pass_on(signum)
            return
        self._signal_name = name
        # os.write, not logging: a signal handler must not re-enter a buffered stream.
        with contextlib.suppress(OSError):
            os.write(2, f"\n{name} received: finishing the current epoch, then writing last.pt and stopping "
                        f"(send {name} again to stop at once without saving).\n".encode())


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"


@contextlib.contextmanager
def torch_settings(config: TrainConfig, device: torch.device) -> Iterator[None]:
    """Thread count and determinism flags for the run, restored afterwards (they are process-global)."""
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    det_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        if config.deterministic:
            if device.type == "cuda":
                # Needed by deterministic cuBLAS; only effective if CUDA was not used yet in this process.
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det, warn_only=det_warn)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
