"""Merge the per-run CSVs of several table commands into one table (Markdown, CSVs, figure).

    python -m metal_pipeline.cli.merge_tables RUNS.csv [RUNS.csv ...] --out PREFIX
    kedro merge-tables [...]        (the same, from the project folder)

Writes ``PREFIX.md`` (the table), ``PREFIX_runs.csv`` (every run once), ``PREFIX_table.csv`` (mean and
std per row) and ``PREFIX.png`` (the figure), each atomically; with ``--runs-only`` just
``PREFIX_runs.csv``, to gather runs for a later merge. See :mod:`metal_pipeline.reporting.merge` for
which rows merge.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from metal_pipeline.reporting.merge import MergeError, merged_tables, read_runs
from metal_pipeline.utils.atomic import atomic_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kedro merge-tables", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="per-run CSVs (ablation_runs.csv or table4_runs.csv)")
    ap.add_argument("--out", type=Path, required=True, help="output prefix, e.g. benchmarks/results/table5_head_ct")
    ap.add_argument("--runs-only", action="store_true",
                    help="write only PREFIX_runs.csv (runs gathered for a later merge), no table or figure")
    a = ap.parse_args(argv)
    try:
        runs = read_runs(a.runs)
    except MergeError as e:
        print(e, file=sys.stderr)
        return 2
    outputs = {"_runs.csv": lambda p: runs.to_csv(p, index=False)}
    if not a.runs_only:
        table, markdown, figure = merged_tables(runs)
        outputs = {".md": lambda p: p.write_text(markdown), **outputs,
                   "_table.csv": lambda p: table.to_csv(p, index=False),
                   ".png": lambda p: figure.savefig(p, format="png", dpi=100, bbox_inches="tight")}
    for suffix, write in outputs.items():
        target = a.out.with_name(a.out.name + suffix)
        with atomic_path(target) as tmp:
            write(tmp)
        print(f"wrote {target}")
    if not a.runs_only:
        print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
