"""Markdown tables from a lever-screen JSONL (benchmarks/screen_levers.py).

    python benchmarks/summarise_screen.py benchmarks/results/screen_h200_2026-11-28.jsonl

Validation score = mean of the synthetic-anomaly pixel AUROC and image AUROC on
validation normals (never the test set). For each trained variant and task it
shows the paper's scoring (l2, sigma 4), the default recipe's scoring
(l2+msgms, pixel-normalised, sigma 4) and the scoring setting the validation
score picks.
"""

from __future__ import annotations

import json
import sys

PAPER = ("l2", "none", 1, 4.0)
DEFAULT = ("l2+msgms", "pixel", 1, 4.0)


def val_score(row) -> float:
    v = row["val"]
    return (v.get("pixel_auroc", 0.0) + v.get("image_auroc", 0.0)) / 2


def key(row):
    return (row["kinds"], row["normalise"], row["offsets"], row["sigma"])


def fmt(row, task: str) -> str:
    t = row["test"]
    if task.startswith("head_ct"):
        return f"{val_score(row):.3f} | — | — | — | {t.get('image_auroc', float('nan')):.3f} (top1 {t.get('image_auroc_top1', float('nan')):.3f})"
    return (f"{val_score(row):.3f} | {t['pauroc']:.3f} | {t['mcclish']:.3f} | {t['pixel_auroc']:.3f} | "
            f"{t['image_auroc']:.3f}")


def main(path: str) -> None:
    rows = [json.loads(line) for line in open(path)]
    tasks = sorted({r["task"] for r in rows})
    for task in tasks:
        print(f"\n#### {task}\n")
        print("| training variant | scoring | H200 train s | val score | pAUROC@0.3 MVTec | McClish | pixel AUROC | image AUROC |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            if r["task"] != task or "scoring" not in r:
                continue
            by_key = {key(s): s for s in r["scoring"]}
            picked = max(r["scoring"], key=val_score)
            for label, s in (("paper map", by_key[PAPER]), ("default map", by_key[DEFAULT]),
                             (f"val-picked {'/'.join(map(str, key(picked)))}", picked)):
                print(f"| {r['variant']} | {label} | {r['train_seconds']:.0f} | {fmt(s, task)} |")
    # the scoring levers on the default training variant
    for task in ("bottle", "head_ct"):
        r = next((r for r in rows if r["task"] == task and r["variant"] == "T04_strict_syn"), None)
        if r is None:
            continue
        print(f"\n#### scoring levers, T04_strict_syn, {task}\n")
        print("| maps | normalise | offsets | sigma | val score | pAUROC@0.3 MVTec | McClish | pixel AUROC | image AUROC |")
        print("|---|---|---|---|---|---|---|---|---|")
        for s in sorted(r["scoring"], key=lambda s: -val_score(s)):
            print(f"| {s['kinds']} | {s['normalise']} | {s['offsets']} | {s['sigma']:g} | {fmt(s, task)} |")


if __name__ == "__main__":
    main(sys.argv[1])
