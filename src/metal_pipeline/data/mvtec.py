"""MVTec AD category folders in the official layout.

::

    <category>/train/good/*.png
    <category>/test/good/*.png
    <category>/test/<defect>/*.png
    <category>/ground_truth/<defect>/<stem>_mask.png

Any extension from ``extensions`` is accepted (case-insensitive) for images and
masks. Order is deterministic: defect folders sorted by name, files sorted by
name inside each folder. Hidden files and other extensions are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.images import IMAGE_EXTENSIONS, is_image_name, normalise_extensions
from metal_pipeline.data.loading import GOOD, ImageRecord

logger = logging.getLogger(__name__)

LAYOUT_HINT = (
    "An MVTec AD category folder must contain train/good/<images>, test/<defect>/<images> "
    "(test/good for normal test images) and ground_truth/<defect>/<stem>_mask.png for every "
    "anomalous test image."
)


def list_images(folder: Path, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files directly inside ``folder`` (sorted by name; hidden files skipped)."""
    exts = set(normalise_extensions(extensions))
    return sorted(
        (p for p in _entries(folder) if p.is_file() and is_image_name(p.name, exts)),
        key=lambda p: p.name,
    )


def _subfolders(folder: Path) -> list[Path]:
    return sorted((p for p in _entries(folder) if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _entries(folder: Path) -> list[Path]:
    """The folder's entries; a folder this user may not list is a ``DataError`` naming it."""
    try:
        return list(folder.iterdir())
    except PermissionError as exc:
        raise DataError(f"Cannot list folder '{folder}': permission denied (this user may not read or enter it). "
                        f"Fix: make it readable for this user (e.g. chmod a+rx '{folder}'), or move it out of "
                        "the dataset.") from exc


def _records(folder: Path, defect: str, extensions: Sequence[str]) -> list[ImageRecord]:
    records: list[ImageRecord] = []
    seen: dict[str, Path] = {}
    for path in list_images(folder, extensions):
        if path.stem in seen:
            raise DataError(
                f"'{seen[path.stem]}' and '{path}' have the same name stem, so their image ids "
                f"('{defect}/{path.stem}') would collide. Fix: rename or remove one of them."
            )
        seen[path.stem] = path
        records.append(ImageRecord(path=path, name=f"{defect}/{path.stem}", defect=defect,
                                   label=0 if defect == GOOD else 1))
    return records


def is_mvtec_category(folder: Path) -> bool:
    return (Path(folder) / "train").is_dir()


def scan_mvtec(
    category_dir: str | Path, extensions: Sequence[str] = IMAGE_EXTENSIONS
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """List the train and test images of one category and pair anomalous test images with masks.

    Returns ``(train_records, test_records)``; nothing is decoded yet. Raises
    ``DataError`` for a missing ``train/good`` or ``test`` folder, an empty
    training set, an empty test set, colliding names, or an anomalous test image
    without a mask.
    """
    root = Path(category_dir)
    train_dir = root / "train" / GOOD
    if not train_dir.is_dir():
        raise DataError(f"Folder '{train_dir}' is missing. {LAYOUT_HINT} Fix: point the class at a folder with "
                        "this layout (ingestion.data_root or ingestion.class_paths).")
    train = _records(train_dir, GOOD, extensions)
    if not train:
        raise DataError(f"Training folder '{train_dir}' contains no images with extensions "
                        f"{', '.join(extensions)}. Fix: put the defect-free training images there "
                        "(or add their extension to ingestion.extensions).")
    extra = [p.name for p in _subfolders(root / "train") if p.name != GOOD]
    if extra:
        logger.warning("Ignoring folders under '%s' other than 'good': %s (training uses normal images only).",
                       root / "train", ", ".join(extra))

    test_dir = root / "test"
    if not test_dir.is_dir():
        raise DataError(f"Folder '{test_dir}' is missing. {LAYOUT_HINT} Fix: add the test images "
                        "(test/good and one folder per defect type).")
    test: list[ImageRecord] = []
    missing: list[tuple[Path, Path]] = []
    gt_root = root / "ground_truth"
    for defect_dir in _subfolders(test_dir):
        records = _records(defect_dir, defect_dir.name, extensions)
        if not records:
            logger.warning("Test folder '%s' has no images; skipped.", defect_dir)
            continue
        if defect_dir.name == GOOD:
            test.extend(records)
            continue
        mask_dir = gt_root / defect_dir.name
        masks = {}
        if mask_dir.is_dir():
            masks = {p.name.lower(): p for p in list_images(mask_dir, extensions)}
        used = set()
        for rec in records:
            mask = next((masks[f"{rec.path.stem}_mask{ext}".lower()] for ext in extensions
                         if f"{rec.path.stem}_mask{ext}".lower() in masks), None)
            if mask is None:
                missing.append((rec.path, mask_dir / f"{rec.path.stem}_mask.png"))
                continue
            used.add(mask.name.lower())
            test.append(ImageRecord(rec.path, rec.name, rec.defect, rec.label, mask))
        unused = sorted(set(masks) - used)
        if unused:
            logger.warning("%d mask(s) in '%s' have no test image (e.g. %s); ignored.", len(unused), mask_dir,
                           unused[0])
    if missing:
        shown = "; ".join(f"'{img}' (expected '{mask}')" for img, mask in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DataError(
            f"{len(missing)} anomalous test image(s) have no ground-truth mask: {shown}{more}. Every image under "
            f"test/<defect>/ (except test/good) needs ground_truth/<defect>/<stem>_mask.png of the same size. "
            "Fix: add the masks, or move images without pixel labels out of the test folder."
        )
    if not test:
        raise DataError(f"Test folder '{test_dir}' contains no images. {LAYOUT_HINT}")
    return train, test
