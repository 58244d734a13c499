"""Catalog a whole torch module (architecture + weights) as one ``.pt`` file.

Used for the local copy of the trained detector, so ``heatmaps`` and
``evaluation`` can run again without retraining and without an MLflow server.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import torch
from kedro.io import AbstractDataset, DatasetError

from metal_pipeline.utils.atomic import atomic_path


class TorchModuleDataset(AbstractDataset[torch.nn.Module, torch.nn.Module]):
    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> torch.nn.Module:
        path = Path(self._filepath)
        if not path.exists():
            raise DatasetError(
                f"{path} does not exist: train this class/configuration first "
                "(kedro run --pipeline=train_eval --params class=<class>)."
            )
        return torch.load(path, map_location="cpu", weights_only=False)

    def save(self, data: torch.nn.Module) -> None:
        with atomic_path(Path(self._filepath)) as tmp:
            torch.save(data, tmp)

    def _exists(self) -> bool:
        return Path(self._filepath).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
