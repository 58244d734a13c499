"""AU-PRO: normalised area under the per-region-overlap curve up to an FPR limit.

Definition (Bergmann et al., IJCV 2021, official ``mvtec_ad_evaluation`` code,
``generic_util.compute_pro`` + ``trapezoid``):

* Ground-truth regions are the connected components of each mask, found with
  ``scipy.ndimage.label`` and a 3x3 all-ones structuring element, i.e.
  **8-connectivity** (diagonal neighbours belong to the same region).
* For a threshold ``t`` (pixel positive when ``score >= t``):
  ``PRO(t)`` = mean over *all* regions of all images of the fraction of the
  region's pixels that are positive; ``FPR(t)`` = positive normal pixels /
  all normal pixels (``mask == 0``), pooled over all images (good ones included).
* The curve over every distinct score (exact, no threshold grid), plus the end
  points (0, 0) and (1, 1), is integrated from FPR 0 to ``max_fpr`` with the
  trapezoidal rule (PRO at ``max_fpr`` linearly interpolated) and divided by
  ``max_fpr``.

The implementation is the official sort-based algorithm, shared with the
per-class report (:class:`~metal_pipeline.metrics.sorted_pixels.SortedPixels`):
every pixel carries an FPR increment (1 for a normal pixel) and a PRO increment
(1/|region| for a pixel of a region); sorting all pixels by decreasing score and
taking cumulative sums gives the curve at every threshold; points sharing one
score are merged (the last of a tied group is kept). Differences to the official
code: region sizes come from ``np.bincount`` instead of one pass per region (same
values), and the FPR is accumulated in int64 and divided in float64 (the official
code divides in float32; differences ~1e-7).
"""

from __future__ import annotations

import numpy as np

from metal_pipeline.metrics._pool import ArrayOrList, check_max_fpr
from metal_pipeline.metrics.curve import normalized_partial_area
from metal_pipeline.metrics.sorted_pixels import PRO_STRUCTURE, SortedPixels

__all__ = ["PRO_STRUCTURE", "au_pro", "pro_curve"]


def pro_curve(masks: ArrayOrList, maps: ArrayOrList) -> tuple[np.ndarray, np.ndarray]:
    """Exact (FPR, PRO) curve at every distinct score, from (0, 0) to (1, 1).

    Args:
        masks: ground truth ``(n, H, W)`` or a list of 2-D masks; ``> 0`` is
            anomalous. Images without anomalies have all-zero masks.
        maps: anomaly maps of the same shapes, image by image.

    Returns:
        ``(fprs, pros)``: float64, FPR non-decreasing.

    Raises:
        ValueError: no anomalous region, no normal pixel, shape mismatch,
            non-finite scores.
    """
    try:
        return SortedPixels(masks, maps).curves().pro()
    except ValueError as exc:
        raise ValueError(str(exc) if str(exc).startswith("AU-PRO") else f"AU-PRO: {exc}") from exc


def au_pro(masks: ArrayOrList, maps: ArrayOrList, max_fpr: float = 0.3) -> float:
    """Normalised area under the PRO curve for FPR in ``[0, max_fpr]``.

    Args:
        masks: ground truth ``(n, H, W)`` or list of 2-D masks (``> 0`` anomalous),
            including the all-zero masks of good images (they add normal pixels).
        maps: anomaly maps, same shapes.
        max_fpr: integration limit in (0, 1]; 0.3 is the MVTec AD standard.

    Returns:
        Area / ``max_fpr`` in [0, 1] (1 = every region fully found before any
        false positive).
    """
    max_fpr = check_max_fpr(max_fpr)
    fprs, pros = pro_curve(masks, maps)
    return normalized_partial_area(fprs, pros, max_fpr)
