"""Seeded validation hold-out from the training images."""

from __future__ import annotations

import numpy as np

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.image_set import ImageSet


def holdout_size(n: int, fraction: float) -> int:
    """``round(fraction * n)``, but at least 1 when ``n >= 2`` and always leaving 1 for training."""
    if n < 2:
        return 0
    return int(min(max(1, round(fraction * n)), n - 1))


def holdout_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)``, each sorted, drawn with ``numpy.random.default_rng(seed)``."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"ingestion.val_fraction is {fraction}; it must be strictly between 0 and 1 "
                        "(0.1 holds out 10% of the training images for validation).")
    k = holdout_size(n, fraction)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[k:]), np.sort(order[:k])


def split_train_val(train: ImageSet, fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """Hold out a seeded ``fraction`` of ``train`` as the validation set -> ``(train, val)``."""
    train_idx, val_idx = holdout_indices(len(train), fraction, seed)
    return train.subset(train_idx), train.subset(val_idx)
