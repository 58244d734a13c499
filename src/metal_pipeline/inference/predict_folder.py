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

Work is overlapped: a thread pool (``io_workers`` threads) decodes the next
batch and writes the previous one while the calling thread runs the model.
Each file's pixels, map and outputs are computed by the same functions as
without the pool (``io_workers=0`` runs everything in the calling thread), so
the table and the files are identical either way; rows stay in listing order
and the first failed write (in listing order) is raised, after the pool has
stopped.

Two inputs with the same stem in one folder (``a.png`` and ``a.jpg``) keep
their extension in the output name (``a.png.tiff``) so they never overwrite
each other. Every file is written atomically (``utils.atomic.atomic_path``).

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

Channel rule (model channels vs. file):

* RGB model, grayscale file: the gray value is replicated to R, G and B, as
  ingestion does for gray images in an RGB class (``resize_image``).
* 1-channel model, colour file (modes other than grayscale whose R, G, B
  differ somewhere): an error for that file, because the model was trained on
  gray pictures and a colour part is not something it can judge. Colour-mode
  files whose channels are all equal (gray saved as RGB) are scored.
  ``gray_from_color=True`` converts colour files with ingestion's luma rule
  instead, for models trained with ``ingestion.channels=1`` on colour data.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import tifffile
from PIL import Image
from tqdm.auto import tqdm

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.images import IMAGE_EXTENSIONS, has_colour, is_grayscale_mode, read_image, resize_image
from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.inference.overlay import DEFAULT_ALPHA, DEFAULT_COLORMAP, colour_table, overlay_heatmap, overlay_scale
from metal_pipeline.scoring import resize_maps
from metal_pipeline.utils.atomic import atomic_path, write_error

logger = logging.getLogger(__name__)

HEATMAPS_DIR = "heatmaps"
OVERLAYS_DIR = "overlays"
ANOMALOUS = "anomalous"
NORMAL = "normal"
PNG_COMPRESS_LEVEL = 1
"""zlib level of the overlay PNGs: on the 256 px bottle images level 1 encodes in ~10 ms instead of
~23 ms with Pillow's default 6 (which was ~40 % of the end-to-end time), for files ~10 % larger."""
DEFAULT_IO_WORKERS = 2
"""Threads that decode and write around the model (0: everything in the calling thread)."""
COLUMNS: tuple[str, ...] = ("path", "width", "height", "score", "threshold", "decision", "error", "heatmap",
                            "overlay")
"""CSV columns: path relative to the input folder (POSIX), the input's width and height in pixels,
image score, threshold used, ``anomalous`` / ``normal`` (empty without threshold or on error), error
message (empty when scored), and the written heatmap TIFF and overlay PNG."""


class ChannelMismatchError(DataError):
    """A file whose channels cannot be given to the model (a colour image for a 1-channel model)."""


@dataclass
class PreparedImage:
    """One file ready for the model.

    Attributes:
        pixels: uint8 ``(channels, size, size)``, exactly ``load_image(path, size, channels)``.
        display: uint8 ``(height, width, 3)``, the picture at its own size (for the overlay).
        width, height: the file's size in pixels.
        replicated: a grayscale file given to an RGB model (gray copied to R, G, B).
    """

    pixels: np.ndarray
    display: np.ndarray
    width: int
    height: int
    replicated: bool = False


def resolve_device(device: str | None) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else unchanged."""
    text = "cpu" if device in (None, "") else str(device).strip()
    if text == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return text


def normalise_extensions(extensions: Iterable[str]) -> tuple[str, ...]:
    """``["PNG", ".jpg"]`` -> ``(".png", ".jpg")``; a bare string or an empty list is an error."""
    if isinstance(extensions, str) or not extensions:
        raise DataError(f"extensions must be a non-empty list such as [.png, .jpg], got {extensions!r}.")
    return tuple(dict.fromkeys("." + str(e).strip().lower().lstrip(".") for e in extensions))


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
            if not name.startswith(".") and Path(name).suffix.lower() in exts:
                found.append(PurePosixPath((here / name).relative_to(root).as_posix()))
    return sorted(found, key=lambda p: p.parts)


def output_names(files: Sequence[PurePosixPath]) -> list[PurePosixPath]:
    """Output path (without suffix) per input: ``dir/stem``, or ``dir/name`` where two inputs share ``dir/stem``."""
    stems = Counter((f.parent, f.stem) for f in files)
    return [f.parent / (f.stem if stems[(f.parent, f.stem)] == 1 else f.name) for f in files]


def _display_rgb(img: Image.Image) -> np.ndarray:
    """uint8 ``(H, W, 3)`` view of any Pillow image, with ingestion's 8-bit rules (alpha dropped,
    16-bit /257, float in [0, 1] or 0..255)."""
    mode = img.mode
    if mode in ("L", "RGB"):
        arr = np.asarray(img)
    elif mode.startswith("I"):
        arr = np.rint(np.clip(np.asarray(img).astype(np.float64), 0, 65535) / 257.0).astype(np.uint8)
    elif mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float32))
        scale = 255.0 if values.size and float(values.max()) <= 1.0 else 1.0
        arr = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    elif is_grayscale_mode(mode):
        arr = np.asarray(img.convert("L"))
    else:
        arr = np.asarray(img.convert("RGB"))
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr)


def prepare_image(path: str | Path, size: int, channels: int, *, gray_from_color: bool = False) -> PreparedImage:
    """Read one file and bring it to the model, exactly as ingestion does.

    Raises:
        DataError: unreadable or truncated file (from ``read_image``).
        ChannelMismatchError: a colour image for a 1-channel model (unless ``gray_from_color``).
    """
    path = Path(path)
    with read_image(path) as img:
        width, height = img.size
        if channels == 1 and not gray_from_color and has_colour(img):
            raise ChannelMismatchError(
                f"'{path}' is a colour image (mode {img.mode}, its red, green and blue differ) but the model takes "
                "1-channel (grayscale) images, so it was not scored: the model never saw colour and reducing the "
                "image to gray would judge a different picture. Fix: score grayscale images with this model or use "
                "a model trained on colour images; if the model was trained on colour images reduced to gray "
                "(ingestion.channels=1), pass predict.gray_from_color=true."
            )
        pixels = resize_image(img, size, channels)
        replicated = channels == 3 and is_grayscale_mode(img.mode)
        return PreparedImage(pixels, _display_rgb(img), int(width), int(height), replicated)


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


def remove_stale_outputs(output_dir: str | Path, out: PurePosixPath) -> str:
    """Delete the heatmap and overlay an earlier run wrote for an input that now fails.

    Returns the sentence for the CSV's error column (empty when there was nothing
    to remove). A file that cannot be removed stops the run (``OutputWriteError``),
    since leaving it would pair a stale heatmap with the new error row.
    """
    removed = []
    for path in (Path(output_dir) / HEATMAPS_DIR / f"{out}.tiff", Path(output_dir) / OVERLAYS_DIR / f"{out}.png"):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise write_error(path, exc, action="remove") from exc
        removed.append(str(path))
    if not removed:
        return ""
    return f"The heatmap and overlay of an earlier run for this file were removed ({', '.join(removed)})."


class _InlineExecutor(Executor):
    """Runs each task at once in the calling thread (``io_workers=0``)."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the result, as a pool would
            future.set_exception(exc)
        return future


def write_outputs(heatmap_path: Path, overlay_path: Path, smap: np.ndarray, prepared: PreparedImage,
                  threshold: float | None, colormap: str, alpha: float, overlays: bool) -> None:
    """One scored file's outputs: the map at the file's size as a float32 TIFF and, with ``overlays``,
    the PNG overlay (without, an overlay an earlier run left there is removed)."""
    heatmap = resize_maps(smap[None], [(prepared.height, prepared.width)])[0]
    with atomic_path(heatmap_path) as tmp:
        tifffile.imwrite(tmp, np.ascontiguousarray(heatmap, dtype=np.float32))
    if not overlays:
        try:
            overlay_path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise write_error(overlay_path, exc, action="remove") from exc
        return
    picture = overlay_heatmap(prepared.display, heatmap, overlay_scale(heatmap, threshold), colormap, alpha)
    with atomic_path(overlay_path) as tmp:
        Image.fromarray(picture).save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def score_folder(
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
) -> pd.DataFrame:
    """Score every image under ``input_dir``; write heatmaps and overlays under ``output_dir``.

    Args:
        detector: the trained detector (moved to ``device``).
        input_dir: folder searched recursively for ``extensions`` (case-insensitive).
        output_dir: root of ``heatmaps/`` and ``overlays/`` (created). If it lies
            inside ``input_dir``, those two folders are not read as input.
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
        overlays: write the PNG overlays (heatmap TIFFs are always written).
        io_workers: threads that decode and write while the model runs; 0
            runs everything in the calling thread. Results are identical.

    Returns:
        One row per file, columns ``COLUMNS``, in listing order.

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
    writes: deque[list[Future]] = deque()  # per batch, oldest first

    def read_batch(start: int) -> list[Future]:
        return [pool.submit(prepare_image, input_dir / rel, size, channels, gray_from_color=gray_from_color)
                for rel in files[start:start + batch_size]]

    def wait_writes(keep: int) -> None:
        """Wait for all but the newest ``keep`` batches of writes; the first failure is raised."""
        while len(writes) > keep:
            for future in writes.popleft():
                future.result()

    try:
        reading = read_batch(0)
        for start in tqdm(range(0, len(files), batch_size), desc="predict", unit="batch", disable=None,
                          leave=False):
            this_batch, reading = reading, (read_batch(start + batch_size) if start + batch_size < len(files)
                                            else [])
            ready: list[tuple[dict, PreparedImage, PurePosixPath]] = []
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
                ready.append((row, prepared, out))
            if not ready:
                continue
            result = detector.score(np.stack([p.pixels for _, p, _ in ready]), batch_size=batch_size, device=device)
            wait_writes(keep=1)  # at most two batches of outputs in flight
            batch_writes = []
            for (row, prepared, out), smap, score in zip(ready, result.maps, result.scores):
                heat_path = output_dir / HEATMAPS_DIR / f"{out}.tiff"
                overlay_path = output_dir / OVERLAYS_DIR / f"{out}.png"
                batch_writes.append(pool.submit(write_outputs, heat_path, overlay_path, smap, prepared, thr,
                                                colormap, float(overlay_alpha), overlays))
                row["score"] = float(score)
                if thr is not None:
                    row["decision"] = ANOMALOUS if score > thr else NORMAL
                row["heatmap"], row["overlay"] = str(heat_path), str(overlay_path) if overlays else ""
            writes.append(batch_writes)
        wait_writes(keep=0)
    finally:  # on an error: drop queued work, let running tasks finish, then raise
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
                "Heatmaps in '%s', overlays in '%s'.", len(table) - len(failed), len(table),
                decided.get(ANOMALOUS, 0), decided.get(NORMAL, 0), len(failed), output_dir / HEATMAPS_DIR,
                output_dir / OVERLAYS_DIR)
    return table
