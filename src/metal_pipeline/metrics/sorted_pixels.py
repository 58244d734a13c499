"""Every pixel of a class's test set sorted once by score; the curves of any subset of its images by filtering.

A per-class report needs the ROC, precision-recall and PRO curves of the whole
test set and of every defect type plus the good images: each curve is a
cumulative sum over the pixels in decreasing-score order. Sorting each subset
afresh (one sklearn sort per curve per subset: twelve for a class with three
defect types) dominated evaluation at full MVTec resolution. Here the pool is
sorted once; a subset's pixels, taken from the sorted pool in order, are
already sorted, so each subset costs linear passes only.

Definitions are those of :mod:`metal_pipeline.metrics.curve` (ROC as
``sklearn.metrics.roc_curve``), :mod:`metal_pipeline.metrics.f1` (as
``sklearn.metrics.precision_recall_curve``) and
:mod:`metal_pipeline.metrics.aupro` (the official MVTec AD PRO curve,
8-connected regions). A sample is positive at threshold ``t`` when
``score >= t``; points sharing one score are merged (the last of a tied group
carries the group). The curves are exact at every distinct score; they keep
the collinear points that ``roc_curve(drop_intermediate=True)`` drops, which
changes no area or interpolation beyond float round-off (tested to 1e-10
against the sklearn-based functions).

Memory: 8 bytes per pixel for the pool, 16 while it is sorted, plus about 30
per pixel of the subset whose curves are being built (the curves hold one
point per distinct score): about 6 GB at peak for 150 images with 1024-px
masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from metal_pipeline.metrics._pool import ArrayOrList
from metal_pipeline.metrics.f1 import f1_scores

#: Structuring element of the official MVTec AD evaluation code: 8-connectivity.
PRO_STRUCTURE = np.ones((3, 3), dtype=int)


@dataclass(frozen=True)
class SubsetCurves:
    """The exact curves of one subset of images, at every distinct score (decreasing)."""

    thresholds: np.ndarray  # distinct scores, decreasing
    tps: np.ndarray  # anomalous pixels with score >= threshold (int64)
    fps: np.ndarray  # normal pixels with score >= threshold (int64)
    pro_sums: np.ndarray  # sum over regions of the found fraction (float64)
    n_regions: int

    @property
    def n_pos(self) -> int:
        return int(self.tps[-1])

    @property
    def n_neg(self) -> int:
        return int(self.fps[-1])

    def roc(self) -> tuple[np.ndarray, np.ndarray]:
        """``(fpr, tpr)`` from (0, 0) to (1, 1)."""
        self._need_two_classes("ROC")
        fpr = np.concatenate(([0.0], self.fps / float(self.n_neg)))
        tpr = np.concatenate(([0.0], self.tps / float(self.n_pos)))
        return fpr, tpr

    def f1_max(self) -> tuple[float, float]:
        """Best F1 over every threshold and that threshold (the lowest one on ties), as :func:`f1.f1_max`."""
        self._need_two_classes("F1-max")
        tps = self.tps.astype(np.float64)
        f1 = f1_scores(tps / (tps + self.fps), tps / float(self.n_pos))
        best = f1.size - 1 - int(np.argmax(f1[::-1]))  # thresholds decrease: the last maximum is the lowest
        return float(f1[best]), float(self.thresholds[best])

    def pro(self) -> tuple[np.ndarray, np.ndarray]:
        """``(fpr, pro)`` of the MVTec AD PRO curve from (0, 0) to (1, 1), as :func:`aupro.pro_curve`."""
        if self.n_regions == 0:
            raise ValueError("AU-PRO: undefined, the masks contain no anomalous region")
        if self.n_neg == 0:
            raise ValueError("AU-PRO: undefined, the masks contain no normal pixel")
        fprs = np.minimum(self.fps / float(self.n_neg), 1.0)  # round-off must not push the curve above 1
        pros = np.minimum(self.pro_sums / float(self.n_regions), 1.0)
        return np.concatenate(([0.0], fprs, [1.0])), np.concatenate(([0.0], pros, [1.0]))

    def _need_two_classes(self, metric: str) -> None:
        n = self.n_pos + self.n_neg
        if self.n_pos == 0:
            raise ValueError(f"{metric}: undefined, no positive (anomalous) samples among {n}")
        if self.n_neg == 0:
            raise ValueError(f"{metric}: undefined, no negative (normal) samples among {n}")


def _image_list(arrays: ArrayOrList, what: str) -> Sequence[np.ndarray]:
    if isinstance(arrays, np.ndarray):
        if arrays.ndim != 3:
            raise ValueError(f"{what} must be (n, H, W) or a list of 2-D arrays, got {arrays.shape}")
        return arrays
    out = [np.asarray(a) for a in arrays]
    for i, a in enumerate(out):
        if a.ndim != 2:
            raise ValueError(f"{what}: image {i} must be 2-D, got {a.shape}")
    return out


class SortedPixels:
    """The pixels of ``n`` images (masks and maps of any per-image sizes) sorted once by decreasing score.

    Each pixel is kept as its score and one integer, its *group*: a normal
    pixel's group is its image (``0 .. n-1``), an anomalous pixel's is its
    8-connected region (``n + k`` for the k-th region of all images). The
    group says whether a pixel is anomalous, which image it belongs to and
    how much it adds to the PRO curve, so a subset is one table lookup away.

    Args:
        masks: ground truth ``(n, H, W)`` or a list of 2-D masks; ``> 0`` is anomalous.
        maps: anomaly maps of the same shapes, image by image; higher = more anomalous.

    Raises:
        ValueError: a count or shape mismatch, non-finite scores.
    """

    def __init__(self, masks: ArrayOrList, maps: ArrayOrList) -> None:
        masks = _image_list(masks, "masks")
        maps = _image_list(maps, "maps")
        if len(masks) != len(maps):
            raise ValueError(f"{len(masks)} masks for {len(maps)} maps")
        if len(masks) == 0:
            raise ValueError("no images given")
        for i, (m, a) in enumerate(zip(masks, maps)):
            if np.shape(m) != np.shape(a):
                raise ValueError(f"image {i}: mask {np.shape(m)} vs map {np.shape(a)}")
        n = self.n_images = len(masks)
        dtypes = [maps.dtype] if isinstance(maps, np.ndarray) else [a.dtype for a in maps]
        score_dtype = np.result_type(*dtypes, np.float32)  # float32 stays float32, ints -> float64
        n_total = int(sum(m.size for m in masks))

        scores = np.empty(n_total, dtype=score_dtype)
        group = np.empty(n_total, dtype=np.uint32)
        region_image, region_inverse_size = [], []  # per region: its image, 1 / its size
        self.regions_per_image = np.zeros(n, dtype=np.int64)
        offset = 0
        for i, (mask, amap) in enumerate(zip(masks, maps)):
            part = slice(offset, offset + mask.size)
            scores[part] = np.asarray(amap).reshape(-1)
            labeled, k = ndimage.label(np.asarray(mask) > 0, structure=PRO_STRUCTURE)
            lab = labeled.reshape(-1)
            if k:
                first = n + len(region_image)
                group[part] = np.where(lab > 0, lab.astype(np.uint32) + np.uint32(first - 1), np.uint32(i))
                region_image.extend([i] * k)
                region_inverse_size.append(1.0 / np.bincount(lab, minlength=k + 1)[1:])
            else:
                group[part] = i
            self.regions_per_image[i] = k
            offset += mask.size
        if not np.isfinite(scores).all():
            raise ValueError("maps contain NaN or infinite values")
        if n + len(region_image) >= 2**32:
            raise ValueError(f"{n} images with {len(region_image)} regions: more than 2**32 groups")

        self._scores, self._group = _sort_decreasing(scores, group)
        del scores, group
        self._owner = np.concatenate([np.arange(n), np.asarray(region_image, dtype=np.int64)])  # group -> image
        self._inverse_size = np.concatenate([np.zeros(n)] + region_inverse_size)  # group -> PRO increment

    def curves(self, images: np.ndarray | Sequence[int] | None = None) -> SubsetCurves:
        """The curves of the given images' pixels pooled (``None``: all images)."""
        n = self.n_images
        if images is None:
            scores, group = self._scores, self._group
            n_regions = int(self.regions_per_image.sum())
        else:
            images = np.asarray(images, dtype=np.int64).reshape(-1)
            if images.size == 0:
                raise ValueError("an empty subset of images")
            if images.min() < 0 or images.max() >= n:
                raise ValueError(f"image index out of range 0..{n - 1}")
            member = np.zeros(n, dtype=np.bool_)
            member[images] = True
            keep = member[self._owner][self._group]
            scores, group = self._scores[keep], self._group[keep]
            del keep
            n_regions = int(self.regions_per_image[member].sum())
        last = np.empty(scores.size, dtype=np.bool_)
        np.not_equal(scores[1:], scores[:-1], out=last[:-1])
        last[-1] = True  # the last pixel of each tied group carries the group
        ends = np.flatnonzero(last)
        del last
        positive = group >= n
        tps = np.cumsum(positive, dtype=np.int64)[ends]
        fps = (ends + 1) - tps
        # The k-th anomalous pixel in score order adds 1/|its region|; a point holds its first tps of them.
        found = np.concatenate(([0.0], np.cumsum(self._inverse_size[group[positive]])))
        return SubsetCurves(thresholds=scores[ends], tps=tps, fps=fps, pro_sums=found[tps], n_regions=n_regions)


def _sort_decreasing(scores: np.ndarray, payload: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, payload)`` sorted by decreasing score; the order within ties is arbitrary.

    float32 scores (the evaluation's maps) with a uint32 payload are sorted as
    one 64-bit key per pixel, the score's bits made order-preserving above the
    payload: numpy's vectorised integer sort is several times faster than an
    ``argsort`` followed by gathers.
    """
    if scores.dtype != np.float32 or payload.dtype != np.uint32:
        order = np.argsort(scores)[::-1]
        return scores[order], payload[order]
    # Decreasing float order = increasing unsigned order of: bits ^ 0x7FFFFFFF for
    # a non-negative float, bits unchanged for a negative one.
    signed = scores.view(np.int32)
    flip = signed >> 31  # -1 for negative floats, 0 otherwise
    np.invert(flip, out=flip)
    flip &= 0x7FFFFFFF
    flip ^= signed
    keys = flip.view(np.uint32).astype(np.uint64)
    del flip
    keys <<= np.uint64(32)
    keys |= payload
    keys.sort()
    payload = keys.astype(np.uint32)  # the low 32 bits
    keys >>= np.uint64(32)
    signed = keys.astype(np.uint32).view(np.int32)
    del keys
    flip = signed >> 31  # keys below 2**31 came from non-negative floats
    np.invert(flip, out=flip)
    flip &= 0x7FFFFFFF
    signed ^= flip
    return signed.view(np.float32), payload
