#!/usr/bin/env python
"""Check that ``predict`` scored a class's test images exactly as evaluation did.

    python scripts/compare_predict_scores.py \
        --evaluation data/07_model_output/<run>/<scoring>/anomaly_map_index.csv \
        --predictions data/07_model_output/predictions/bottle/squares_rows-paper/predictions.csv

Rows are matched by image (``broken_large/000`` in the evaluation index,
``broken_large/000.png`` in predictions). Exit status 1 unless every image is
present in both and the scores are bitwise equal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--evaluation", required=True, type=Path, help="anomaly_map_index.csv of the heatmaps pipeline")
    ap.add_argument("--predictions", required=True, type=Path, help="predictions.csv of the predict pipeline")
    args = ap.parse_args()

    evaluation = pd.read_csv(args.evaluation)[["name", "score"]]
    predictions = pd.read_csv(args.predictions)
    predictions["name"] = [str(PurePosixPath(p).with_suffix("")) for p in predictions["path"]]
    joined = evaluation.merge(predictions[["name", "score", "error"]], on="name", how="outer",
                              suffixes=("_evaluation", "_predict"), indicator=True)
    missing = joined[joined["_merge"] != "both"]
    if len(missing):
        print(f"{len(missing)} images are not in both files:\n{missing[['name', '_merge']].to_string(index=False)}")
        return 1
    diff = np.abs(joined["score_evaluation"].to_numpy() - joined["score_predict"].to_numpy())
    equal = int(np.sum(joined["score_evaluation"].to_numpy() == joined["score_predict"].to_numpy()))
    print(f"images: {len(joined)}  bitwise-equal scores: {equal}  max |difference|: {diff.max():.3g}")
    return 0 if equal == len(joined) else 1


if __name__ == "__main__":
    sys.exit(main())
