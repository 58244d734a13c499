"""Score a folder of new images with a trained detector: heatmaps, overlays, scores, decisions.

``score_folder(detector, input_dir, output_dir)`` lists the images under
``input_dir`` (recursively, sorted), preprocesses each exactly as ingestion
does (``read_image`` then ``resize_image``, the two calls of ``load_image`` and
of ``load_image_set``), scores them in batches with
:meth:`AnomalyDetector.score`, and writes per image, mirroring its path
relative to ``input_dir``:

* ``<output_dir>/heatmaps/<rel dir>/<stem>.tiff``: the smoothed anomaly map
  resized to the image's own size (``scoring.resize_maps``, bilinear), float32;
* ``<output_dir>/overlays/<rel dir>/<stem>.png``: that map in colour over the
  image, at the image's own size (``inference.overlay``); only with
  ``overlays=True`` (the default; ``predict.overlays``). With overlays off, an
  overlay an earlier run left for a scored file is removed, so every overlay in
  the folder belongs to the current heatmap.

By default the outputs are not written while scoring: :func:`predict_images`
returns the table and, per output name, a callable that computes the heatmap
(and one for the overlay) when it is saved. The predict pipeline hands these to
the catalog's ``predict_heatmaps`` and ``predict_overlays`` (``PartitionedDataset``
with lazy saving, conf/base/catalog_predict.yml). Until then only the
model-resolution maps are held; an overlay reads its picture again when saved.
A thread pool (``io_workers`` threads) decodes the next batch while the
calling thread runs the model; ``io_workers=0`` decodes in the calling
thread, with the same table and files. Rows stay in listing order.
:func:`score_folder` passes ``write=True``: the same pool then also writes
each batch's outputs, with the same writers as the catalog's datasets
(:func:`write_predictions`), while the next batch is scored, so the writes
overlap the network instead of following it (the network's matrix products
release the GIL; the TIFF writes mostly hold it).

Two inputs with the same stem in one folder (``a.png`` and ``a.jpg``) keep
their extension in the output name (``a.png.tiff``) so they never overwrite
each other. Every file is written atomically (``utils.atomic.atomic_path``); per batch (or,
for the catalog, per run) the heatmaps first, then the overlays.

It returns one row per image file (see ``COLUMNS``). Files that cannot be read
or whose channels cannot match the model get an ``error`` and no outputs, and
scoring continues; only when no file at all could be scored does it raise. A
heatmap or overlay that an earlier run wrote for a file that now fails is
removed, and its row's ``error`` says so: no output is left next to an error.

Scores are those of the evaluation pipeline for the same file: same pixels
(same preprocessing function), same ``AnomalyDetector.score``. On CPU the
network's forward pass is computed image by image inside a batch (row-wise
matrix products, per-image attention and LayerNorm), so a score does not
depend on which other images share its batch; ``tests/inference`` checks this
bit for bit against ``detector.score`` on ingested images with a different
batch size.

The channel rule (model channels vs. file) is in ``inference.prepared_image``;
listing in ``inference.folder_listing``; the files' pixels and writers in
``inference.prediction_outputs``.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.images import IMAGE_EXTENSIONS, normalise_extensions
from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.inference.folder_listing import list_image_files, output_names
from metal_pipeline.inference.overlay import DEFAULT_ALPHA, DEFAULT_COLORMAP, colour_table
from metal_pipeline.inference.prediction_outputs import (
    HEATMAPS_DIR,
    OVERLAYS_DIR,
    heatmap_at_size,
    heatmap_path,
    overlay_path,
    overlay_picture,
    remove,
    remove_stale_outputs,
    write_overlay,
)
from metal_pipeline.inference.prepared_image import ChannelMismatchError, PreparedImage, prepare_image
from metal_pipeline.scoring.export import write_anomaly_map
from metal_pipeline.utils.device import resolve_device

logger = logging.getLogger(__name__)

ANOMALOUS = "anomalous"
NORMAL = "normal"
DEFAULT_IO_WORKERS = 2
"""Threads that decode the next batch while the model runs (0: everything in the calling thread)."""
COLUMNS: tuple[str, ...] = ("path", "width", "height", "score", "threshold", "decision", "error", "heatmap",
                            "overlay")
"""CSV columns: path relative to the input folder (POSIX), the input's width and height in pixels,
image score, threshold used, ``anomalous`` / ``normal`` (empty without threshold or on error), error
message (empty when scored), and the written heatmap TIFF and overlay PNG."""


def effective_threshold(detector: AnomalyDetector, threshold: float | str | None = None) -> float | None:
    """``threshold`` when given (a number), else the detector's stored threshold (may be ``None``)."""
    if threshold is None or (isinstance(threshold, str) and threshold.strip().lower() in ("", "null", "none")):
        return detector.threshold
    try:
        value = float(threshold)
    except (TypeError, ValueError) as exc:
        raise DataError(f"threshold must be a number or null, got {threshold!r}.") from exc
    if not math.isfinite(value):
        raise DataError(f"threshold must be a finite number, got {threshold!r}.")
    return value


class _InlineExecutor(Executor):
    """Runs each task at once in the calling thread (``io_workers=0``)."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the result, as a pool would
            future.set_exception(exc)
        return future


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@dataclass(frozen=True)
class FolderPredictions:
    """A scored folder: the table (``COLUMNS``) and the outputs still to save, keyed by output name
    (``<rel dir>/<stem>``, no suffix), each a callable giving the file's pixels: ``heatmaps`` float32
    ``(H, W)`` at the input's size, ``overlays`` uint8 ``(H, W, 3)`` (empty with overlays off)."""

    table: pd.DataFrame
    heatmaps: dict[str, Callable[[], np.ndarray]]
    overlays: dict[str, Callable[[], np.ndarray]]


def _save(writer: Callable[[Path, np.ndarray], None], path: Path, make: Callable[[], np.ndarray]) -> None:
    writer(path, make())


def _output_saves(heatmaps: dict[str, Callable[[], np.ndarray]], overlays: dict[str, Callable[[], np.ndarray]],
                  output_dir: str | Path) -> list[tuple[Callable, Path, Callable[[], np.ndarray]]]:
    """The ``_save`` arguments of these outputs, as the catalog's datasets save them:
    ``heatmaps/<key>.tiff``, then ``overlays/<key>.png``, each in key order."""
    return ([(write_anomaly_map, heatmap_path(output_dir, PurePosixPath(key)), make)
             for key, make in sorted(heatmaps.items())]
            + [(write_overlay, overlay_path(output_dir, PurePosixPath(key)), make)
               for key, make in sorted(overlays.items())])


def write_predictions(predictions: FolderPredictions, output_dir: str | Path) -> None:
    """Write the outputs as the catalog's datasets do (:func:`_output_saves`), each atomically."""
    for save in _output_saves(predictions.heatmaps, predictions.overlays, output_dir):
        _save(*save)


def score_folder(detector: AnomalyDetector, input_dir: str | Path, output_dir: str | Path, *args: Any,
                 **kwargs: Any) -> pd.DataFrame:
    """:func:`predict_images` (same arguments) with ``write=True``: score every image under ``input_dir``
    and write its heatmap and overlay under ``output_dir``, batch by batch. Returns the table."""
    return predict_images(detector, input_dir, output_dir, *args, write=True, **kwargs).table


def predict_images(
    detector: AnomalyDetector,
    input_dir: str | Path,
    output_dir: str | Path,
    batch_size: int = 32,
    threshold: float | None = None,
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
    device: str = "cpu",
    *,
    gray_from_color: bool = False,
    colormap: str = DEFAULT_COLORMAP,
    overlay_alpha: float = DEFAULT_ALPHA,
    overlays: bool = True,
    io_workers: int = DEFAULT_IO_WORKERS,
    write: bool = False,
) -> FolderPredictions:
    """Score every image under ``input_dir``; its heatmap and overlay are to be saved under ``output_dir``.

    Without ``write``, nothing is written here except removals: an earlier run's heatmap and
    overlay of a file that now fails, and with ``overlays=False`` the earlier overlay of each
    scored file, so every output in ``output_dir`` belongs to the returned table.

    Args:
        detector: the trained detector (moved to ``device``).
        input_dir: folder searched recursively for ``extensions`` (case-insensitive).
        output_dir: root of ``heatmaps/`` and ``overlays/`` (the table's paths). If it
            lies inside ``input_dir``, those two folders are not read as input.
        batch_size: images read, scored and written per step (>= 1).
        threshold: decision threshold; ``None`` uses ``detector.threshold``.
            An image is ``anomalous`` when ``score > threshold`` (the rule of
            ``AnomalyDetector.score``). No threshold at all: empty decisions
            and a warning.
        extensions: file extensions read as images.
        device: torch device (``cpu``, ``cuda``, ``auto``).
        gray_from_color: for 1-channel models, convert colour files with
            ingestion's luma rule instead of rejecting them.
        colormap, overlay_alpha: overlay drawing (``inference.overlay``).
        overlays: make the PNG overlays (heatmap TIFFs are always made).
        io_workers: threads that decode while the model runs; 0 runs
            everything in the calling thread. Results are identical.
        write: write each batch's heatmaps (and overlays) in the I/O threads while
            the next batch is scored; the returned outputs are then empty. Same
            files as saving the returned callables with :func:`write_predictions`.

    Returns:
        The table (one row per file, columns ``COLUMNS``, in listing order)
        and the outputs to save (:class:`FolderPredictions`).

    Raises:
        DataError: missing folder, no image files, or no file could be scored.
    """
    try:
        valid = not isinstance(batch_size, bool) and int(batch_size) == float(batch_size) >= 1
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise DataError(f"batch_size must be an integer >= 1, got {batch_size!r}.")
    batch_size = int(batch_size)
    colour_table(colormap)  # unknown colour map: fail before any work
    if not 0.0 <= float(overlay_alpha) <= 1.0:
        raise DataError(f"overlay_alpha must be in [0, 1], got {overlay_alpha!r}.")
    if not isinstance(overlays, bool):
        raise DataError(f"overlays must be true or false, got {overlays!r}.")
    if not isinstance(write, bool):
        raise DataError(f"write must be true or false, got {write!r}.")
    if isinstance(io_workers, bool) or not isinstance(io_workers, int) or io_workers < 0:
        raise DataError(f"io_workers must be an integer >= 0, got {io_workers!r}.")
    input_dir = Path(input_dir)
    output_dir = Path(output_dir)
    if not input_dir.exists():
        raise DataError(f"Input folder '{input_dir}' does not exist. Fix: point predict.input_dir at the folder "
                        "of images to score (e.g. --params predict.input_dir=/path/to/images).")
    if not input_dir.is_dir():
        raise DataError(f"Input '{input_dir}' is not a folder. Fix: point predict.input_dir at the folder holding "
                        "the images (it is searched recursively).")
    exts = normalise_extensions(extensions)
    files = list_image_files(input_dir, exts, exclude=[output_dir / HEATMAPS_DIR, output_dir / OVERLAYS_DIR])
    if not files:
        raise DataError(f"Input folder '{input_dir}' contains no images with extensions {', '.join(exts)} "
                        "(searched recursively, hidden files skipped). Fix: point predict.input_dir at a folder "
                        "of images, or add their extension to predict.extensions.")

    thr = effective_threshold(detector, threshold)
    if thr is None:
        logger.warning("No decision threshold: the detector has none stored and none was given "
                       "(predict.threshold). Scores and heatmaps are written; the decision column stays empty.")
    device = resolve_device(device)
    detector.to(device)
    size, channels = detector.img_size, detector.channels
    outs = output_names(files)
    logger.info("Scoring %d image(s) under '%s' (model %dx%d, %d channel(s), threshold %s, device %s) -> '%s'",
                len(files), input_dir, size, size, channels, "none" if thr is None else f"{thr:.6g}", device,
                output_dir)

    rows: list[dict] = []
    failures: Counter[str] = Counter()
    n_replicated = 0
    failed_outputs: list[tuple[dict, PurePosixPath]] = []
    pool: Executor = ThreadPoolExecutor(io_workers, thread_name_prefix="predict-io") if io_workers \
        else _InlineExecutor()
    heatmaps: dict[str, Callable[[], np.ndarray]] = {}
    overlay_makers: dict[str, Callable[[], np.ndarray]] = {}
    writes: list[Future] = []
    scored: list[str] = []  # output names of the scored files

    def write_batch(keys: list[str]) -> None:
        """Hand this batch's outputs to the pool (after any write that already failed is raised)."""
        for done in writes:
            if done.done():
                done.result()
        writes[:] = [w for w in writes if not w.done()]
        batch_heatmaps = {key: heatmaps.pop(key) for key in keys}
        batch_overlays = {key: overlay_makers.pop(key) for key in keys if key in overlay_makers}
        writes.extend(pool.submit(_save, *save) for save in _output_saves(batch_heatmaps, batch_overlays, output_dir))

    def read_batch(start: int) -> list[Future]:
        return [pool.submit(prepare_image, input_dir / rel, size, channels, gray_from_color=gray_from_color)
                for rel in files[start:start + batch_size]]

    try:
        reading = read_batch(0)
        for start in tqdm(range(0, len(files), batch_size), desc="predict", unit="batch", disable=None,
                          leave=False):
            this_batch, reading = reading, (read_batch(start + batch_size) if start + batch_size < len(files)
                                            else [])
            ready: list[tuple[dict, PreparedImage, PurePosixPath, PurePosixPath]] = []
            for rel, out, future in zip(files[start:start + batch_size], outs[start:start + batch_size],
                                        this_batch):
                row = {"path": rel.as_posix(), "width": None, "height": None, "score": math.nan,
                       "threshold": math.nan if thr is None else thr, "decision": "", "error": "", "heatmap": "",
                       "overlay": ""}
                rows.append(row)
                try:
                    prepared = future.result()
                except (ValueError, OSError, Image.DecompressionBombError) as exc:  # DataError is a ValueError
                    row["error"] = _one_line(exc)
                    failures["channel mismatch" if isinstance(exc, ChannelMismatchError) else "unreadable"] += 1
                    failed_outputs.append((row, out))
                    logger.warning("Not scored: %s", row["error"])
                    continue
                row["width"], row["height"] = prepared.width, prepared.height
                n_replicated += prepared.replicated
                ready.append((row, prepared, rel, out))
            if not ready:
                continue
            result = detector.score(np.stack([p.pixels for _, p, _, _ in ready]), batch_size=batch_size,
                                    device=device)
            for (row, prepared, rel, out), smap, score in zip(ready, result.maps, result.scores):
                key = out.as_posix()
                scored.append(key)
                heatmaps[key] = partial(heatmap_at_size, smap, prepared.height, prepared.width)
                if overlays:
                    overlay_makers[key] = partial(overlay_picture, smap, input_dir / rel, size, channels,
                                                  gray_from_color, thr, colormap, float(overlay_alpha))
                row["score"] = float(score)
                if thr is not None:
                    row["decision"] = ANOMALOUS if score > thr else NORMAL
                row["heatmap"] = str(heatmap_path(output_dir, out))
                row["overlay"] = str(overlay_path(output_dir, out)) if overlays else ""
            if write:
                write_batch([out.as_posix() for _, _, _, out in ready])
        for done in writes:
            done.result()
    finally:  # on an error: drop queued reads, let running ones finish, then raise
        pool.shutdown(wait=True, cancel_futures=True)

    if len(failed_outputs) == len(rows):  # the run stops: the earlier CSV and its outputs stay as they were
        shown = "; ".join(row["error"] for row, _ in failed_outputs[:3])
        raise DataError(
            f"None of the {len(rows)} image file(s) under '{input_dir}' could be scored "
            f"({', '.join(f'{n} {k}' for k, n in sorted(failures.items()))}). First error(s): {shown}"
        )
    n_stale = 0
    for row, out in failed_outputs:  # the new CSV will hold an error row for these files: drop their old outputs
        stale = remove_stale_outputs(output_dir, out)
        if stale:
            row["error"] += f" {stale}"
            n_stale += 1
    if not overlays:  # every overlay in the folder belongs to the current heatmap
        for key in scored:
            remove(overlay_path(output_dir, PurePosixPath(key)))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["width"] = table["width"].astype("Int64")
    table["height"] = table["height"].astype("Int64")
    failed = table[table["error"] != ""]
    if n_stale:
        logger.warning("Removed the heatmaps and overlays of an earlier run for %d file(s) that could not be scored "
                       "now, so no output in '%s' belongs to an input that fails (see the error column).", n_stale,
                       output_dir)
    if n_replicated:
        logger.info("%d grayscale image(s) given to the RGB model were replicated to 3 channels, as ingestion does.",
                    n_replicated)
    decided = table["decision"].value_counts()
    logger.info("Scored %d of %d image(s): %d anomalous, %d normal, %d not scored (see the error column). "
                "Heatmaps to '%s', overlays to '%s'.", len(table) - len(failed), len(table),
                decided.get(ANOMALOUS, 0), decided.get(NORMAL, 0), len(failed), output_dir / HEATMAPS_DIR,
                output_dir / OVERLAYS_DIR if overlays else "(off)")
    return FolderPredictions(table, heatmaps, overlay_makers)


score_folder.__wrapped__ = predict_images  # inspect.signature(score_folder): predict_images' parameters
