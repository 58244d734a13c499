"""Score finished runs again under a grid of scoring rules, without retraining.

    python benchmarks/rescore_runs.py --runs 'data/06_models/head_ct-default-*' --split data/05_model_input/<split> \
        [--out table.md]

For each run's detector (``<run>/scoring-*/detector.pt``, the first found) and
each scoring rule (maps, normalisation, sigma, region and its erosion, image
reduction) it reports, as mean ± std over the runs:

* **val**: image AUROC on the validation normals of the split, half of them
  fitting the normaliser and the other half scored clean and with synthetic
  anomalies pasted three times over (``metal_pipeline.scoring.synthetic``: a
  family the training never saw). Chooses a rule without the test set.
* **test**: image AUROC on the split's test set (reported, never chosen on).

Runs must share the split (seeds over a fixed ``ingestion.split_seed``).
Detectors written before the weights-only file format (pickled modules) load
only with ``METAL_ALLOW_PICKLE=1``, for files you made yourself
(``python -m metal_pipeline.inference.detector_file convert`` rewrites them).
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
from pathlib import Path

import numpy as np

GRID = {
    "sigma": [2.0, 4.0],
    "kinds": [("l2",), ("msgms",), ("l2", "msgms")],
    "normalise": ["none", "global", "pixel"],
    "region": [("all", 0), ("foreground", 0), ("foreground", 4), ("foreground", 6), ("foreground", 8),
               ("foreground", 10)],
    "reduction": ["max", "top1", "mean"],
}


def rescore(detector_path: Path, split: Path) -> list[dict]:
    from metal_pipeline.data.image_set import ImageSet
    from metal_pipeline.inference.detector import map_statistics
    from metal_pipeline.inference.model_source import load_checkpoint
    from metal_pipeline.metrics import auroc
    from metal_pipeline.scoring import smooth_maps
    from metal_pipeline.scoring.foreground import region_masks
    from metal_pipeline.scoring.image_score import image_scores
    from metal_pipeline.scoring.synthetic import paste_anomalies

    val, test = ImageSet.load(split / "val.npz"), ImageSet.load(split / "test.npz")
    normals = val.images[val.labels == 0]
    fit, base = normals[0::2], normals[1::2]
    pasted = [paste_anomalies(base, seed=s, per_image=2)[0] for s in (123, 124, 125)]
    sets = {"fit": fit, "val": np.concatenate([base, *pasted]), "test": test.images}
    labels = {"val": np.r_[np.zeros(len(base)), np.ones(3 * len(base))], "test": test.labels}
    det = load_checkpoint(detector_path)
    det.sigma, det.map_kinds, det.normalise, det.offsets = 0.0, ("l2", "msgms"), "none", ((0, 0),)
    raw = {s: det.raw_maps(x, batch_size=64)[0] for s, x in sets.items()}
    regions = {r: {s: region_masks(x, *r) for s, x in sets.items() if s != "fit"} for r in GRID["region"]}
    rows = []
    for sigma, kinds, norm in itertools.product(GRID["sigma"], GRID["kinds"], GRID["normalise"]):
        smoothed = {s: {k: smooth_maps(raw[s][k], sigma) for k in kinds} for s in sets}
        det.map_kinds, det.normalise = kinds, norm
        det.norm_stats = {} if norm == "none" else {k: map_statistics(smoothed["fit"][k], norm) for k in kinds}
        combined = {s: det.combine(smoothed[s]) for s in ("val", "test")}
        for region, red in itertools.product(GRID["region"], GRID["reduction"]):
            row = {"sigma": sigma, "kinds": "+".join(kinds), "normalise": norm, "region": f"{region[0]}-{region[1]}",
                   "reduction": red}
            for s in ("val", "test"):
                row[s] = auroc(labels[s], image_scores(combined[s], red, regions[region][s]))
            rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, help="glob of run folders under data/06_models")
    ap.add_argument("--split", type=Path, required=True, help="the split folder the runs were trained on")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--show", action="append", default=[],
                    help="also show this rule: sigma/kinds/normalise/region/reduction, e.g. 2.0/l2+msgms/pixel/all-0/max")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    import pandas as pd

    frames = []
    for run in sorted(glob.glob(a.runs)):
        found = sorted(Path(run).glob("scoring-*/detector.pt"))
        if not found:
            continue
        rows = pd.DataFrame(rescore(found[0], a.split))
        rows["run"] = Path(run).name
        frames.append(rows)
        print(f"scored {Path(run).name}", flush=True)
    if not frames:
        raise SystemExit(f"no run with a detector matches {a.runs!r}")
    df = pd.concat(frames)
    keys = ["sigma", "kinds", "normalise", "region", "reduction"]
    g = df.groupby(keys).agg(val=("val", "mean"), val_std=("val", "std"), test=("test", "mean"),
                             test_std=("test", "std"), runs=("run", "count")).reset_index()
    g["rule"] = g[keys].astype(str).agg("/".join, axis=1)
    chosen = g.sort_values(["val", "test"], ascending=[False, True]).head(a.top)
    shown = g[g["rule"].isin(a.show)]
    fmt = lambda m, s: f"{m:.3f} ± {s:.3f}"  # noqa: E731
    lines = [f"{len(frames)} runs: {', '.join(sorted(df['run'].unique()))}", "",
             "| rule (sigma/maps/normalise/region-erode/reduction) | val AUROC | test image AUROC |", "|---|---|---|"]
    for title, part in (("highest validation", chosen), ("named", shown)):
        if len(part):
            lines.append(f"| *{title}* | | |")
        for _, r in part.iterrows():
            lines.append(f"| {r['rule']} | {fmt(r['val'], r['val_std'])} | {fmt(r['test'], r['test_std'])} |")
    text = "\n".join(lines)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")
        df.to_json(a.out.with_suffix(".jsonl"), orient="records", lines=True)


if __name__ == "__main__":
    main()
