#!/usr/bin/env python
"""Print one finished run's facts as Markdown, for docs/RESULTS.md.

    python scripts/run_report.py bottle squares_rows paper

Reads data/06_models/<class>/<config>-<masking>/training_summary.json,
data/08_reporting/<class>/<config>-<masking>/{metrics.json,training_history.csv}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__)
        return 2
    class_name, config, masking = argv
    run = f"{class_name}/{config}-{masking}"
    summary = json.loads(Path(f"data/06_models/{run}/training_summary.json").read_text())
    metrics = json.loads(Path(f"data/08_reporting/{run}/metrics.json").read_text())
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
