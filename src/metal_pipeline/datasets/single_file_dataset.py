"""The part every one-file dataset of this project shares: its path, whether it exists, and the
error for loading one that a pipeline has not written yet."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class SingleFileDataset(AbstractDataset):
    #: The pipeline that writes the file, named in the error for loading it before it exists.
    written_by = "the pipeline that writes it"

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def _existing_path(self) -> Path:
        path = Path(self._filepath)
        if not path.exists():
            raise DatasetError(f"{path} does not exist yet: run {self.written_by} first.")
        return path

    def _exists(self) -> bool:
        return Path(self._filepath).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
