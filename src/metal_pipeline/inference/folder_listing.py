"""Which files of a folder predict scores, and the output name of each."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.images import IMAGE_EXTENSIONS, is_image_name, normalise_extensions


def list_image_files(
    input_dir: str | Path,
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
    exclude: Sequence[str | Path] = (),
) -> list[PurePosixPath]:
    """Image files under ``input_dir``, recursively, as POSIX paths relative to it.

    Sorted by path components (``good/`` before ``good-2/``, like ingestion's
    folder-then-name order). Hidden files and folders (``.*``) are skipped, and
    so are the folders in ``exclude``; symbolic links to folders are not followed.
    A folder this user may not list is a ``DataError`` (not silently skipped).
    """
    root = Path(input_dir)
    exts = set(normalise_extensions(extensions))
    excluded = {Path(e).resolve() for e in exclude}
    found: list[PurePosixPath] = []

    def unlistable(exc: OSError) -> None:
        if isinstance(exc, PermissionError):  # not silently skipped: its images would be missing from the CSV
            raise DataError(f"Cannot list folder '{exc.filename}': permission denied (this user may not read or "
                            "enter it), so the images in it cannot be scored. Fix: make it readable "
                            f"for this user (e.g. chmod a+rx '{exc.filename}'), or move it out of the input "
                            "folder.") from exc

    for dirpath, dirnames, filenames in os.walk(root, onerror=unlistable):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in excluded)
        for name in filenames:
            if is_image_name(name, exts):
                found.append(PurePosixPath((here / name).relative_to(root).as_posix()))
    return sorted(found, key=lambda p: p.parts)


def output_names(files: Sequence[PurePosixPath]) -> list[PurePosixPath]:
    """Output path (without suffix) per input: ``dir/stem``, or ``dir/name`` where two inputs share ``dir/stem``."""
    stems = Counter((f.parent, f.stem) for f in files)
    return [f.parent / (f.stem if stems[(f.parent, f.stem)] == 1 else f.name) for f in files]
