"""Run a command without the power to ignore file modes, so ``chmod`` tests mean something as root.

Root ignores read and write permission bits (``CAP_DAC_OVERRIDE``,
``CAP_DAC_READ_SEARCH``), and CI runs as root. As root the command is wrapped
in ``setpriv`` (util-linux) or ``capsh`` (libcap) with those two capabilities
dropped; the process stays uid 0 and owner of the files it made, so only the
mode bits the test removed take effect. Not root: the command runs as it is.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

import pytest

_CAPS = "dac_override,dac_read_search"


def wrap(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    if shutil.which("setpriv"):
        drop = ",".join(f"-{c}" for c in _CAPS.split(","))
        return ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", *cmd]
    if shutil.which("capsh"):
        return ["capsh", f"--drop={','.join('cap_' + c for c in _CAPS.split(','))}", "--", "-c", shlex.join(cmd)]
    pytest.skip("running as root without setpriv or capsh: file modes cannot be enforced")  # never in CI
    raise AssertionError  # unreachable


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(wrap(cmd), capture_output=True, text=True, **kwargs)


def run_python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return run([sys.executable, "-c", code], **kwargs)


def modes_are_enforced() -> bool:
    """Sanity check of the wrapper itself: an unprivileged process cannot read a chmod 000 file."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        secret = Path(tmp) / "secret"
        secret.write_text("x")
        secret.chmod(0)
        return run_python(f"open({str(secret)!r}).read()").returncode != 0
