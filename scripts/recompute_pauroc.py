#!/usr/bin/env python
"""Recompute the pAUROC (MVTec-normalised) from exported anomaly maps and the ground-truth masks, independently.

Uses only numpy, tifffile and Pillow -- none of metal_pipeline's code -- so it
checks the whole chain (export, resizing, pooling, integration) against the
value the evaluation pipeline reported.

    python scripts/recompute_pauroc.py \
        --maps data/07_model_output/<run>/<scoring>/anomaly_maps \
        --dataset data/01_raw/mvtec_ad/bottle \
        --metrics data/08_reporting/<run>/<scoring>/metrics.json

Definition (MVTec AD, IJCV 2021): pool every test pixel of the class (good
images included); ROC over all thresholds; area from FPR 0 to max_fpr with
linear interpolation at max_fpr; divided by max_fpr. max_fpr is the one the
evaluation used (``max_fpr`` in metrics.json, from ``evaluation.max_fpr``);
without --metrics give --max-fpr. Exit status 1 if it differs from the
reported value by more than --tolerance.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image


def partial_auc(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    # one ROC point per distinct threshold (ties move together)
    distinct = np.flatnonzero(np.diff(scores))
    ends = np.concatenate([distinct, [labels.size - 1]])
    tp = np.cumsum(labels)[ends].astype(np.float64)
    fp = (ends + 1 - tp).astype(np.float64)
    tpr = np.concatenate([[0.0], tp / tp[-1]])
    fpr = np.concatenate([[0.0], fp / fp[-1]])
    keep = fpr <= max_fpr
    x, y = fpr[keep], tpr[keep]
    if x[-1] < max_fpr:  # interpolate the segment crossing max_fpr
        i = np.searchsorted(fpr, max_fpr)
        t = (max_fpr - fpr[i - 1]) / (fpr[i] - fpr[i - 1])
        x = np.append(x, max_fpr)
        y = np.append(y, tpr[i - 1] + t * (tpr[i] - tpr[i - 1]))
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0) / max_fpr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--maps", required=True, type=Path, help="the anomaly_maps folder written by the heatmaps pipeline")
    ap.add_argument("--dataset", required=True, type=Path, help="the class folder in MVTec layout (holds ground_truth/)")
    ap.add_argument("--metrics", type=Path, help="metrics.json of the evaluation pipeline, to compare with")
    ap.add_argument("--max-fpr", type=float, help="FPR limit (default: the one in --metrics)")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    reported = json.loads(args.metrics.read_text()) if args.metrics else None
    if reported is not None:
        if reported.get("resolution", "original") != "original":
            print(f"{args.metrics} was evaluated at {reported['resolution']} resolution; the maps and masks "
                  "compared here are at the masks' original size (evaluation.resolution=original)", file=sys.stderr)
            return 2
        if args.max_fpr is not None and args.max_fpr != reported["max_fpr"]:
            print(f"--max-fpr {args.max_fpr:g} differs from the evaluation's {reported['max_fpr']:g} "
                  f"({args.metrics})", file=sys.stderr)
            return 2
        args.max_fpr = float(reported["max_fpr"])
    elif args.max_fpr is None:
        print("give --metrics (its max_fpr is used) or --max-fpr", file=sys.stderr)
        return 2

    class_name = args.dataset.name
    test_root = args.maps / class_name / "test"
    tiffs = sorted(test_root.rglob("*.tiff"))
    if not tiffs:
        print(f"no .tiff maps under {test_root}", file=sys.stderr)
        return 2
    labels, scores = [], []
    for tiff in tiffs:
        defect, stem = tiff.parent.name, tiff.stem
        amap = tifffile.imread(tiff).astype(np.float64)
        if defect == "good":
            mask = np.zeros(amap.shape, dtype=bool)
        else:
            candidates = sorted((args.dataset / "ground_truth" / defect).glob(f"{stem}_mask.*"))
            if not candidates:
                print(f"no ground-truth mask for {tiff}", file=sys.stderr)
                return 2
            mask = np.asarray(Image.open(candidates[0]).convert("L")) > 127
        if mask.shape != amap.shape:
            print(f"{tiff}: map {amap.shape} vs mask {mask.shape} (export at original resolution)", file=sys.stderr)
            return 2
        labels.append(mask.ravel())
        scores.append(amap.ravel())
    value = partial_auc(np.concatenate(labels).astype(np.int64), np.concatenate(scores), args.max_fpr)
    print(f"maps: {len(tiffs)}  pixels: {sum(l.size for l in labels)}  recomputed pAUROC@{args.max_fpr}: {value:.6f}")
    if reported is not None:
        reported = reported["overall"][f"pauroc_{args.max_fpr:g}"]
        diff = abs(reported - value)
        print(f"reported: {reported:.6f}  |difference|: {diff:.2e}  tolerance: {args.tolerance:g}")
        if diff > args.tolerance:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
