"""The package's one SIGINT/SIGTERM installer: handlers come back, a second signal reaches the earlier one."""

import signal

import pytest

from metal_pipeline.training.runtime import SignalHandlers


@pytest.fixture
def earlier_handler():
    received = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    yield received
    signal.signal(signal.SIGTERM, before)


def test_install_routes_the_signal_and_restore_puts_the_earlier_handler_back(earlier_handler):
    ours = []
    handlers = SignalHandlers(lambda signum, frame: ours.append(signum)).install()
    earlier = handlers.previous[signal.SIGTERM]
    signal.raise_signal(signal.SIGTERM)
    assert ours == [signal.SIGTERM] and earlier_handler == []
    handlers.restore()
    assert signal.getsignal(signal.SIGTERM) is earlier and handlers.previous == {}


def test_pass_on_gives_the_signal_to_the_earlier_handler_and_uninstalls(earlier_handler):
    handlers = SignalHandlers(lambda signum, frame: handlers.pass_on(signum)).install()
    signal.raise_signal(signal.SIGTERM)
    assert earlier_handler == [signal.SIGTERM]
    assert handlers.previous == {}
    signal.raise_signal(signal.SIGTERM)  # now straight to the earlier handler
    assert earlier_handler == [signal.SIGTERM, signal.SIGTERM]

