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

from pathlib import Path
from typing import TYPE_CHECKING

from metal_pipeline.datasets.single_file_dataset import SingleFileDataset

if TYPE_CHECKING:
    from metal_pipeline.inference.detector import AnomalyDetector


class DetectorDataset(SingleFileDataset):
    written_by = ("the training of this class and configuration "
                  "(kedro run --pipelines=train_eval --params class=<class>)")

    def load(self) -> AnomalyDetector:
        from metal_pipeline.inference.detector_file import load_detector

        return load_detector(self._existing_path())

    def save(self, data: AnomalyDetector) -> None:
        from metal_pipeline.inference.detector_file import save_detector

        save_detector(data, Path(self._filepath))
