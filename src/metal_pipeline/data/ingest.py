"""One class in, three ``ImageSet`` splits out: the function behind the ``ingestion`` pipeline.

Class folder resolution: ``class_paths[<class>]`` when given, else
``<data_root>/<class>``. Layout detection: a ``labels.csv`` (the configured
``head_ct.labels_file``) makes it a labelled folder (Head CT protocol), a
``train`` folder makes it an MVTec AD category.

Everything is read and checked before anything is returned, so a bad file
stops the run before the catalog writes any output.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.data.images import IMAGE_EXTENSIONS, normalise_extensions
from metal_pipeline.data.labelled import scan_labelled_folder, split_labelled
from metal_pipeline.data.loading import describe, load_image_set, parse_channels, resolve_channels
from metal_pipeline.data.mvtec import LAYOUT_HINT, is_mvtec_category, scan_mvtec
from metal_pipeline.data.splits import split_train_val
from metal_pipeline.params.validate import unknown_section_keys

logger = logging.getLogger(__name__)

MVTEC = "mvtec"
LABELLED = "labelled"
_CLASS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class HeadCTConfig:
    """``ingestion.head_ct``: labelled-folder settings (Head CT protocol)."""

    labels_file: str = "labels.csv"
    id_column: str = "id"
    label_column: str | None = "hemorrhage"
    defect_name: str = "hemorrhage"
    n_train_normal: int = 80
    n_test_normal: int | None = None
    n_test_anomalous: int | None = None


@dataclass(frozen=True)
class IngestionConfig:
    """``ingestion`` parameters, checked. Build with :meth:`from_params`."""

    data_root: Path = Path("data/01_raw/mvtec_ad")
    class_paths: dict[str, Path] = field(default_factory=lambda: {"head_ct": Path("data/01_raw/head_ct")})
    img_size: int = 128
    channels: int | str = "auto"
    # No per-class setting here: the project's (head_ct: 1, and why) is in conf/base/parameters_ingestion.yml only.
    class_channels: dict[str, int | str] = field(default_factory=dict)
    val_fraction: float = 0.1
    split_seed: int | None = None
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS
    head_ct: HeadCTConfig = field(default_factory=HeadCTConfig)

    def channels_for(self, class_name: str) -> int | str:
        """The channel setting of one class: its ``class_channels`` entry, else ``channels``."""
        return self.class_channels.get(class_name, self.channels)

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> IngestionConfig:
        """Validate the ``ingestion`` parameter block (missing keys take the defaults above)."""
        params = dict(params or {})
        _reject_unknown(params, {f.name for f in fields(cls)}, "ingestion")
        default = cls()
        head = dict(params.get("head_ct") or {})
        _reject_unknown(head, {f.name for f in fields(HeadCTConfig)}, "ingestion.head_ct")
        hd = HeadCTConfig()
        head_ct = HeadCTConfig(
            labels_file=str(head.get("labels_file", hd.labels_file)),
            id_column=str(head.get("id_column", hd.id_column)).strip(),
            label_column=(None if head.get("label_column", hd.label_column) is None
                          else str(head.get("label_column", hd.label_column)).strip()),
            defect_name=str(head.get("defect_name", hd.defect_name)),
            n_train_normal=_int(head.get("n_train_normal", hd.n_train_normal), "ingestion.head_ct.n_train_normal", 1),
            n_test_normal=_int(head.get("n_test_normal", hd.n_test_normal), "ingestion.head_ct.n_test_normal", 1,
                               optional=True),
            n_test_anomalous=_int(head.get("n_test_anomalous", hd.n_test_anomalous),
                                  "ingestion.head_ct.n_test_anomalous", 1, optional=True),
        )
        class_paths = params.get("class_paths", default.class_paths)
        if class_paths is None:
            class_paths = {}
        if not isinstance(class_paths, Mapping):
            raise DataError(f"ingestion.class_paths must be a mapping class -> folder, got {class_paths!r}.")
        class_channels = params.get("class_channels", default.class_channels)
        if class_channels is None:
            class_channels = {}
        if not isinstance(class_channels, Mapping):
            raise DataError(f"ingestion.class_channels must be a mapping class -> 1, 3 or auto, got {class_channels!r}.")
        extensions = params.get("extensions", default.extensions)
        if isinstance(extensions, str) or not extensions:
            raise DataError(f"ingestion.extensions must be a non-empty list such as [.png, .jpg], got {extensions!r}.")
        try:
            fraction = float(params.get("val_fraction", default.val_fraction))
        except (TypeError, ValueError) as exc:
            raise DataError(f"ingestion.val_fraction must be a number, got {params.get('val_fraction')!r}.") from exc
        if not 0.0 < fraction < 1.0:
            raise DataError(f"ingestion.val_fraction is {fraction}; it must be strictly between 0 and 1.")
        return cls(
            data_root=Path(str(params.get("data_root", default.data_root))),
            class_paths={str(k): Path(str(v)) for k, v in class_paths.items()},
            img_size=_int(params.get("img_size", default.img_size), "ingestion.img_size", 8),
            channels=parse_channels(params.get("channels", default.channels)),
            class_channels={str(k): parse_channels(v) for k, v in class_channels.items()},
            val_fraction=fraction,
            extensions=normalise_extensions(extensions),
            head_ct=head_ct,
        )


def _reject_unknown(params: Mapping[str, Any], known: set[str], where: str) -> None:
    problem = unknown_section_keys(params, known, where, "conf/base/parameters_ingestion.yml")
    if problem:
        raise DataError(problem)


def _int(value: Any, name: str, minimum: int, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DataError(f"Parameter {name} must be an integer >= {minimum}, got {value!r}.")
    try:
        number = int(str(value).strip())
    except ValueError as exc:
        raise DataError(f"Parameter {name} must be an integer >= {minimum}, got {value!r}.") from exc
    if number < minimum:
        raise DataError(f"Parameter {name} must be an integer >= {minimum}, got {value!r}.")
    return number


class Splits(NamedTuple):
    """The three outputs of ingestion, in catalog order (``train_set``, ``val_set``, ``test_set``)."""

    train: ImageSet
    val: ImageSet
    test: ImageSet


def available_classes(data_root: str | Path, class_paths: Mapping[str, Any] | None = None) -> list[str]:
    """Class names usable with this configuration: folders under ``data_root`` plus ``class_paths`` keys."""
    root = Path(data_root)
    found = set(class_paths or {})
    if root.is_dir():
        found |= {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return sorted(found)


def resolve_class_dir(class_name: str, data_root: str | Path, class_paths: Mapping[str, Any] | None = None) -> Path:
    """``class_paths[class_name]`` if given, else ``<data_root>/<class_name>``; must exist."""
    name = str(class_name)
    if not _CLASS_NAME.match(name):
        raise DataError(f"Class name {name!r} is not a plain folder name (letters, digits, '_', '-', '.', '+'). "
                        "Fix: pass e.g. --params class=bottle.")
    class_paths = class_paths or {}
    if name in class_paths:
        folder = Path(str(class_paths[name]))
        if not folder.is_dir():
            raise DataError(f"ingestion.class_paths.{name} points at '{folder}', which is not a folder. Fix: "
                            f"download the data there or correct the path (--params ingestion.class_paths.{name}=...).")
        return folder
    root = Path(data_root)
    if not root.is_dir():
        raise DataError(f"Data root '{root}' (ingestion.data_root) does not exist, so class '{name}' cannot be "
                        "found. Fix: point it at the folder holding the MVTec AD categories, e.g. --params "
                        f"ingestion.data_root=/data/mvtec_anomaly_detection, or set ingestion.class_paths.{name}.")
    folder = root / name
    if not folder.is_dir():
        classes = available_classes(root, class_paths)
        raise DataError(f"Unknown class '{name}': there is no folder '{folder}'. Classes found under '{root}' and "
                        f"in ingestion.class_paths: {', '.join(classes) or 'none'}. Fix: pass one of these with "
                        f"--params class=<name>, or set ingestion.data_root / ingestion.class_paths.{name}.")
    return folder


def detect_layout(folder: str | Path, labels_file: str = "labels.csv") -> str:
    """``"labelled"`` if ``folder/labels_file`` exists, ``"mvtec"`` if ``folder/train`` does."""
    folder = Path(folder)
    if (folder / labels_file).is_file():
        return LABELLED
    if is_mvtec_category(folder):
        return MVTEC
    raise DataError(f"'{folder}' is neither an MVTec AD category nor a labelled folder: it has no train/good "
                    f"folder and no {labels_file}. {LAYOUT_HINT} A labelled folder (Head CT layout) holds the "
                    f"images and a {labels_file} with columns id and label (1 anomalous, 0 normal). Fix: point the "
                    "class at such a folder.")


def ingest_class(class_name: str, params: Mapping[str, Any] | IngestionConfig | None = None, seed: int = 0,
                 folder: str | Path | None = None) -> Splits:
    """Read one class and return its train, validation and test ``ImageSet``s.

    MVTec AD: train = train/good minus the validation hold-out; test = test/*
    with masks (zeros for good images). Labelled folder: the seeded Head CT
    split, then the same hold-out; test has no masks. Channels follow
    ``params.channels`` (``auto``: decided from the training images).
    ``folder``: the class folder when the caller has it (the catalog's
    ``raw_class_folder``), else found from ``data_root`` / ``class_paths``.
    """
    config = params if isinstance(params, IngestionConfig) else IngestionConfig.from_params(params)
    folder = Path(folder) if folder is not None else resolve_class_dir(class_name, config.data_root,
                                                                       config.class_paths)
    layout = detect_layout(folder, config.head_ct.labels_file)
    if layout == MVTEC:
        train_records, test_records = scan_mvtec(folder, config.extensions)
        with_masks = True
    else:
        hc = config.head_ct
        records = scan_labelled_folder(folder, hc.labels_file, hc.id_column, hc.label_column, hc.defect_name,
                                       config.extensions)
        train_records, test_records = split_labelled(records, hc.n_train_normal, hc.n_test_normal,
                                                     hc.n_test_anomalous, seed, where=str(folder))
        with_masks = False
    channels = resolve_channels(config.channels_for(class_name), [r.path for r in train_records])
    logger.info("Ingesting class '%s' from '%s' (%s layout) at %dx%d, %d channel(s).", class_name, folder, layout,
                config.img_size, config.img_size, channels)
    full_train = load_image_set(train_records, config.img_size, channels, with_masks=False,
                                desc=f"{class_name} train")
    test = load_image_set(test_records, config.img_size, channels, with_masks=with_masks, desc=f"{class_name} test")
    train, val = split_train_val(full_train, config.val_fraction, seed)
    for split, image_set in (("train", train), ("val", val), ("test", test)):
        logger.info("%s %s: %s", class_name, split, describe(image_set))
    return Splits(train, val, test)
