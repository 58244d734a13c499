"""The predict pipeline tests share the inference tests' helpers (tests/inference/_predict_helpers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

_INFERENCE_TESTS = str(Path(__file__).resolve().parents[2] / "inference")
if _INFERENCE_TESTS not in sys.path:
    sys.path.insert(0, _INFERENCE_TESTS)
