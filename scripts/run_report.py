#!/usr/bin/env python
"""Print one finished run's facts as Markdown, for docs/RESULTS.md.

    python scripts/run_report.py --params class=bottle              # the run of kedro run --params class=bottle
    python scripts/run_report.py --params class=head_ct,recipe=paper,seed=1

The run is the one ``kedro run --pipelines=train_eval`` makes with the same ``--params``: its
``training_summary``, ``training_history`` and ``metrics`` are read through the project's catalog
(scripts/_project.py), so the scoring folder is the one of the current scoring, heatmaps and
evaluation parameters, not whichever was written last.
"""

from __future__ import annotations

import argparse
import sys

from _project import add_project_arguments, project_context, run_folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_project_arguments(parser)
    args = parser.parse_args(argv)
    catalog = project_context(args).catalog
    missing = [name for name in ("training_summary", "training_history", "metrics") if not catalog.exists(name)]
    if missing:
        print(f"No {', '.join(missing)} of run {run_folders()}: finish it first (kedro run "
              f"--pipelines=train_eval{' --params ' + args.params if args.params else ''}).", file=sys.stderr)
        return 1
    summary = catalog.load("training_summary")
    history = catalog.load("training_history")
    metrics = catalog.load("metrics")
    run = summary["run_name"]

    print(f"Run `{run}` ({summary['n_parameters']:,} parameters, seed {summary['seed']}):\n")
    print("| training | value |\n|---|---|")
    print(f"| epochs run | {summary['stopped_epoch']} ({'early stop' if summary['stopped_early'] else 'max_epochs reached'}) |")
    print(f"| best epoch (restored) | {summary['best_epoch']} |")
    print(f"| best validation loss (L1 - SSIM) | {summary['best_val_loss']:.5f} |")
    print(f"| sum of epoch times | {history['seconds'].sum() / 60:.1f} min |")
    print(f"| wall time of the last invocation | {summary['wall_seconds'] / 60:.1f} min"
          f"{' (resumed from epoch %d)' % summary['resumed_from_epoch'] if summary['resumed_from_epoch'] else ''} |")
    print()
    rows = {"all": metrics["overall"], **metrics["per_defect"]}
    names = [m for m in metrics["overall"] if not m.startswith("n_") and "threshold" not in m]
    print("| defect | " + " | ".join(names) + " | images |")
    print("|---|" + "---|" * (len(names) + 1))
    for defect, values in rows.items():
        print(f"| {defect} | " + " | ".join(f"{values[m]:.4f}" for m in names) + f" | {values['n_images']} |")
    print(f"\n(evaluated at {metrics['resolution']} resolution, max FPR {metrics['max_fpr']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
