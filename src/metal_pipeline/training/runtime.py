"""Process-level concerns of a training run: torch's thread count and
determinism flags (process-global, so restored afterwards), stopping cleanly
on SIGINT/SIGTERM, and readable durations for the ETA."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import torch

from metal_pipeline.training.config import TrainConfig


class StopOnSignal:
    """While active (main thread only), SIGINT/SIGTERM only set ``signal_name``; the loop
    stops at the end of the epoch. A second signal gets the previous handler's behaviour."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        if not self.enabled or threading.current_thread() is not threading.main_thread():
            return self
        for name in self.SIGNALS:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except (ValueError, OSError):  # not settable here
                continue
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signal_name is not None:  # second signal: stop at once, the usual way
            previous = self._previous.get(signum, signal.SIG_DFL)
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                os.kill(os.getpid(), signum)
            return
        self.signal_name = name
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
