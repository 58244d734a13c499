"""Fixtures for the training-loop tests; helpers live in _training_helpers.py."""

from __future__ import annotations

import numpy as np
import pytest

from _training_helpers import make_images
from metal_pipeline.training import TrainConfig


@pytest.fixture
def images() -> tuple[np.ndarray, np.ndarray]:
    return make_images(16, seed=1), make_images(4, seed=2)


@pytest.fixture
def config() -> TrainConfig:
    """Small, fast CPU config; early stopping effectively off, a checkpoint every epoch
    (override per test)."""
    return TrainConfig(lr=1e-2, batch_size=4, max_epochs=8, min_epochs=1, patience=100, seed=0,
                       device="cpu", num_threads=1, progress=False, checkpoint_every=1)
