"""Issue 11 case 8: atomic writes honour the umask (mkstemp alone leaves 0600)."""

from __future__ import annotations

import os
import stat

import pytest

from metal_pipeline.utils.atomic import atomic_path


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_outputs_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        with atomic_path(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.bin").stat().st_mode) == mode
