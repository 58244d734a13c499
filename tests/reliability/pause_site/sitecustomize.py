"""Test-only: pause a ``kedro run`` subprocess at a chosen optimiser step, so a test can kill it
at a known point (tests/reliability/test_kill_and_resume.py puts this folder on PYTHONPATH).

With ``METAL_TEST_PAUSE_AT_STEP=N`` and ``METAL_TEST_PAUSE_MARKER=<file>``, the N-th
``optimizer.step()`` of the process (counted from 1) first writes ``<file>`` and then waits,
in the middle of its epoch, until the test deletes it (or kills the process).
Without those variables this file does nothing.
"""

import os

_STEP = os.environ.get("METAL_TEST_PAUSE_AT_STEP")
_MARKER = os.environ.get("METAL_TEST_PAUSE_MARKER")

if _STEP and _MARKER:
    import time
    from pathlib import Path

    from torch.optim.optimizer import register_optimizer_step_pre_hook

    _count = [0]

    def _pause(optimizer, args, kwargs):
        _count[0] += 1
        if _count[0] == int(_STEP):
            marker = Path(_MARKER)
            marker.write_text(str(os.getpid()))
            while marker.exists():
                time.sleep(0.02)

    register_optimizer_step_pre_hook(_pause)
