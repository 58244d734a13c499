"""Labelled image folders (the Head CT layout): images plus a ``labels.csv``.

::

    <folder>/000.png ... <folder>/199.png
    <folder>/labels.csv        # header "id, hemorrhage"; label 1 = anomalous, 0 = normal

Ids match file stems, numerically when both are integers (id ``7`` matches
``007.png``), else literally. Column names are stripped of spaces. The split
follows the Head CT protocol of the MeTAL paper: ``n_train_normal`` normal
images (seeded draw) for training; the other normals and the anomalous images
for testing. There are no pixel masks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.images import IMAGE_EXTENSIONS
from metal_pipeline.data.loading import GOOD, ImageRecord
from metal_pipeline.data.mvtec import list_images

logger = logging.getLogger(__name__)


def read_labels(csv_path: str | Path, id_column: str = "id", label_column: str | None = None) -> pd.DataFrame:
    """Read and check a labels file -> DataFrame with columns ``id`` (str) and ``label`` (int 0/1).

    ``label_column=None`` takes the one column besides ``id_column``.
    """
    path = Path(csv_path)
    fix = (f"Fix '{path}': it must be a CSV with a header naming the id column ('{id_column}') and the label "
           f"column ({label_column or 'one label column'}), one row per image, label 1 for anomalous, 0 for normal.")
    if not path.is_file():
        raise DataError(f"Labels file '{path}' does not exist. A labelled image folder needs it. {fix}")
    try:
        table = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"Labels file '{path}' cannot be parsed as CSV ({exc}). {fix}") from exc
    table.columns = [str(c).strip() for c in table.columns]
    if id_column not in table.columns:
        raise DataError(f"Labels file '{path}' has no '{id_column}' column (columns: {list(table.columns)}). {fix}")
    if label_column is None:
        others = [c for c in table.columns if c != id_column]
        if len(others) != 1:
            raise DataError(f"Labels file '{path}' must have exactly one label column besides '{id_column}', "
                            f"found {others}. Set ingestion.head_ct.label_column. {fix}")
        label_column = others[0]
    if label_column not in table.columns:
        raise DataError(f"Labels file '{path}' has no '{label_column}' column (columns: {list(table.columns)}). "
                        f"{fix}")
    if table.empty:
        raise DataError(f"Labels file '{path}' has a header but no rows. {fix}")
    ids = table[id_column].str.strip()
    raw = table[label_column].str.strip()
    bad = [(i, v) for i, v in zip(ids, raw, strict=True) if v not in ("0", "1")]
    if bad:
        shown = ", ".join(f"id {i!r}: {v!r}" for i, v in bad[:5])
        raise DataError(f"Labels file '{path}': column '{label_column}' must be 0 or 1, found {len(bad)} other "
                        f"value(s) ({shown}). {fix}")
    if (ids == "").any():
        raise DataError(f"Labels file '{path}' has {(ids == '').sum()} row(s) with an empty '{id_column}'. {fix}")
    dupes = sorted(set(ids[ids.duplicated()]))
    if dupes:
        raise DataError(f"Labels file '{path}' lists id(s) {dupes[:5]} more than once. {fix}")
    return pd.DataFrame({"id": ids.to_numpy(), "label": raw.astype(int).to_numpy()})


def _id_key(text: str) -> str:
    """'007' and '7' -> '7'; non-integers unchanged."""
    return str(int(text)) if text.isdigit() else text


def scan_labelled_folder(
    folder: str | Path,
    labels_file: str = "labels.csv",
    id_column: str = "id",
    label_column: str | None = None,
    defect_name: str = "anomalous",
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
) -> list[ImageRecord]:
    """Every labelled image of the folder as records (sorted by file name, no masks).

    Normal images are named ``good/<stem>``, anomalous ones ``<defect_name>/<stem>``.
    Ids without an image raise ``DataError``; images without an id are skipped with a warning.
    """
    root = Path(folder)
    labels = read_labels(root / labels_file, id_column, label_column)
    files: dict[str, Path] = {}
    for path in list_images(root, extensions):
        key = _id_key(path.stem)
        if key in files:
            raise DataError(f"'{files[key]}' and '{path}' map to the same id '{key}'. Fix: remove or rename one.")
        files[key] = path
    label_of = dict(zip((_id_key(i) for i in labels["id"]), labels["label"], strict=True))
    missing = [i for i in labels["id"] if _id_key(i) not in files]
    if missing:
        raise DataError(
            f"{len(missing)} id(s) in '{root / labels_file}' have no image in '{root}' (e.g. {missing[:5]}); "
            f"ids must match file stems (id 7 matches 007.png) with extensions {', '.join(extensions)}. "
            "Fix: add the images or delete those rows."
        )
    unlabelled = sorted(k for k in files if k not in label_of)
    if unlabelled:
        logger.warning("%d image(s) in '%s' have no row in %s and are ignored (e.g. %s).", len(unlabelled), root,
                       labels_file, files[unlabelled[0]].name)
    records = []
    for key, path in sorted(files.items(), key=lambda kv: kv[1].name):
        if key not in label_of:
            continue
        label = int(label_of[key])
        defect = defect_name if label == 1 else GOOD
        records.append(ImageRecord(path=path, name=f"{defect}/{path.stem}", defect=defect, label=label))
    return records


def split_labelled(
    records: Sequence[ImageRecord],
    n_train_normal: int,
    n_test_normal: int | None = None,
    n_test_anomalous: int | None = None,
    seed: int = 0,
    *,
    where: str = "",
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Seeded Head CT protocol split -> ``(train_records, test_records)``.

    ``n_train_normal`` normals drawn with ``numpy.random.default_rng(seed)`` go to
    training; of the remaining normals ``n_test_normal`` (``None``: all) and of the
    anomalous images ``n_test_anomalous`` (``None``: all) go to the test set.
    Both lists come back sorted (good first, then by name).
    """
    normals = [r for r in records if r.label == 0]
    anomalous = [r for r in records if r.label == 1]
    where = f" in '{where}'" if where else ""
    need_test_normal = 1 if n_test_normal is None else n_test_normal
    if n_train_normal < 1:
        raise DataError(f"ingestion.head_ct.n_train_normal is {n_train_normal}; it must be at least 1.")
    if len(normals) < n_train_normal + need_test_normal:
        raise DataError(
            f"Too few normal images{where} for the split: found {len(normals)} labelled 0, need "
            f"{n_train_normal} for training + {need_test_normal} for testing. Fix: lower "
            "ingestion.head_ct.n_train_normal / n_test_normal or add normal images."
        )
    if not anomalous:
        raise DataError(f"No anomalous images (label 1){where}: the test set needs some to measure anything. "
                        "Fix: check the label column of the labels file.")
    if n_test_anomalous is not None and not 1 <= n_test_anomalous <= len(anomalous):
        raise DataError(f"ingestion.head_ct.n_test_anomalous is {n_test_anomalous} but there are "
                        f"{len(anomalous)} anomalous images{where}. Fix: set it to 1..{len(anomalous)} or null (all).")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(normals))
    train_idx = order[:n_train_normal]
    rest = order[n_train_normal:]
    test_normal_idx = rest if n_test_normal is None else rest[:n_test_normal]
    anomalous_idx = (np.arange(len(anomalous)) if n_test_anomalous is None
                     else rng.permutation(len(anomalous))[:n_test_anomalous])
    train = [normals[i] for i in sorted(train_idx)]
    test = [normals[i] for i in sorted(test_normal_idx)] + [anomalous[i] for i in sorted(anomalous_idx)]
    return train, sorted(test, key=lambda r: (r.defect != GOOD, r.defect, r.name))
