"""Catalog the scored detector as one detector file (``detector.pt``).

Used for the local copy of the trained detector, so ``heatmaps`` and
``evaluation`` can run again without retraining and without an MLflow server.
The file holds tensors and plain values only
(:mod:`metal_pipeline.inference.detector_file`) and is read with
``torch.load(weights_only=True)``; an older, pickled ``detector.pt`` is
refused with one paragraph naming the file and the fix (convert it once, or
``METAL_ALLOW_PICKLE=1`` for a file you produced yourself).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from kedro.io import AbstractDataset, DatasetError

if TYPE_CHECKING:
    from metal_pipeline.inference.detector import AnomalyDetector


class DetectorDataset(AbstractDataset["AnomalyDetector", "AnomalyDetector"]):
    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> AnomalyDetector:
        from metal_pipeline.inference.detector_file import load_detector

        path = Path(self._filepath)
        if not path.exists():
            raise DatasetError(
                f"{path} does not exist: train this class/configuration first "
                "(kedro run --pipelines=train_eval --params class=<class>)."
            )
        return load_detector(path)

    def save(self, data: AnomalyDetector) -> None:
        from metal_pipeline.inference.detector_file import save_detector

        save_detector(data, Path(self._filepath))

    def _exists(self) -> bool:
        return Path(self._filepath).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
