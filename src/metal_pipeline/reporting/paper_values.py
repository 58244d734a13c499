"""Published values shown beside ours, each in the column of the convention it most likely used.

docs/METRICS.md explains the conventions: the MeTAL paper's own pixel numbers (De Nardin et al. 2022)
are compared with our **McClish** pAUROC@0.3 column (and with full pixel AUROC, which they may also
be); the baselines it copied from the MVTec AD paper (Bergmann et al., IJCV 2021) with our **MVTec**
column (area up to FPR 0.3 divided by 0.3). Head CT has image labels only: image AUROC.

Only values this project has checked against the paper are listed (docs/RESULTS.md quotes them).
To add one, append a :class:`PaperValue` under its class with the column of its convention and the
table it comes from; the Table 4-style report shows every value of its class.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperValue:
    """One published number: which method, in which of our columns, and where it comes from."""

    method: str          # the row's label in our tables
    metric: str          # our column of the same convention (pauroc_0.3, pauroc_0.3_mcclish, image_auroc, ...)
    value: float
    std: float | None
    source: str


PAPER_VALUES: dict[str, tuple[PaperValue, ...]] = {
    "bottle": (
        PaperValue("MeTAL (paper)", "pauroc_0.3_mcclish", 0.850, None,
                   "De Nardin et al. 2022, squares + rows; read as McClish (docs/METRICS.md)"),
    ),
    "head_ct": (
        PaperValue("MeTAL (paper)", "image_auroc", 0.8632, 0.0403,
                   "De Nardin et al. 2022, Head CT image AUROC, mean ± std"),
    ),
}


def paper_values(class_name: str) -> tuple[PaperValue, ...]:
    """The published values of ``class_name`` (none for a class the paper does not report)."""
    return PAPER_VALUES.get(str(class_name), ())
