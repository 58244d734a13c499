"""Fixtures for the inference tests; helpers live in _predict_helpers.py."""

from __future__ import annotations

import pytest

from _predict_helpers import tiny_detector


@pytest.fixture
def detector():
    """Tiny RGB detector (32 px) without a threshold."""
    return tiny_detector(channels=3)


@pytest.fixture
def gray_detector():
    """Tiny 1-channel detector (32 px) without a threshold."""
    return tiny_detector(channels=1)
