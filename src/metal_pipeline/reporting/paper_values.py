"""Published values shown beside ours, each in the column of the convention it most likely used.

docs/METRICS.md explains the conventions: the MeTAL paper's own pixel numbers (De Nardin et al. 2022)
are compared with our **McClish** pAUROC@0.3 column (and with full pixel AUROC, which they may also
be); the baselines it copied from the MVTec AD paper (Bergmann et al., IJCV 2021) with our **MVTec**
column (area up to FPR 0.3 divided by 0.3). Head CT has image labels only: image AUROC.

Only values this project has checked against the paper are listed (docs/RESULTS.md quotes them).
To add one, append a :class:`PaperValue` under its class with the column of its convention and the
table it comes from; the Table 4-style and Table 3/5 reports show every value of its class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PaperValue:
    """One published number: which method, in which of our columns, and where it comes from."""

    method: str          # the row's label in our tables
    metric: str          # our column of the same convention (pauroc_0.3, pauroc_0.3_mcclish, image_auroc, ...)
    value: float
    std: float | None
    source: str
    configuration: str = "squares_rows"  # the paper's configuration the value is for (its final model: squares + rows)
    masking: str = "paper"


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


def published_metrics(class_name: str) -> set[str]:
    """Our columns that hold a published value of ``class_name``: a table shows them even when empty."""
    return {v.metric for v in paper_values(class_name)}


def published_rows(class_name: str, shown: Sequence[str], lead: Callable[[PaperValue, str], list[str]],
                   cell: Callable[[float, float | None], str]) -> tuple[list[list[str]], list[str]]:
    """The Markdown rows of ``class_name``'s published values and their footnotes.

    Each row is ``lead(value, "<method> [i]")`` (the table's leading cells), then the value in the
    column of its convention and ``—`` in the other ``shown`` columns; footnote ``[i]`` names the source.
    """
    rows, notes = [], []
    for i, value in enumerate(paper_values(class_name), start=1):
        rows.append(lead(value, f"{value.method} [{i}]")
                    + [cell(value.value, value.std) if m == value.metric else "—" for m in shown])
        notes.append(f"[{i}] {value.source}.")
    return rows, notes
