#!/usr/bin/env python
"""Print one finished run's facts as Markdown, for docs/RESULTS.md.

    python scripts/run_report.py <run name>                    # e.g. bottle-default-squares_rows-strict-s0-3f9a1c
    python scripts/run_report.py bottle squares_rows paper     # a run of the old <class>/<config>-<masking> layout

Reads data/06_models/<run>/training_summary.json, data/08_reporting/<run>/training_history.csv
and data/08_reporting/<run>/scoring-<hash>/metrics.json (the newest scoring folder).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def main(argv: list[str]) -> int:
    if len(argv) == 1:
        run = argv[0]
        scored = sorted(Path(f"data/08_reporting/{run}").glob("scoring-*/metrics.json"), key=lambda p: p.stat().st_mtime)
        if not scored:
            print(f"No data/08_reporting/{run}/scoring-*/metrics.json: evaluate the run first.")
            return 1
        metrics_path = scored[-1]
    elif len(argv) == 3:
        class_name, config, masking = argv
        run = f"{class_name}/{config}-{masking}"
        metrics_path = Path(f"data/08_reporting/{run}/metrics.json")
    else:
        print(__doc__)
        return 2
    summary = json.loads(Path(f"data/06_models/{run}/training_summary.json").read_text())
    metrics = json.loads(metrics_path.read_text())
    history = pd.read_csv(f"data/08_reporting/{run}/training_history.csv")

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
    sys.exit(main(sys.argv[1:]))
