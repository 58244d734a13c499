"""Run the main command over several seeds, one at a time, and tabulate mean ± std.

    python benchmarks/seed_sweep.py --class head_ct --seeds 0,1,2,3,4 [--params recipe=paper] [--out table.md]

A seed varies the initialisation and the training order; the split keeps its
own seed (``ingestion.split_seed`` is not varied here: for Head CT the split is
drawn with the run seed, see docs/DATA.md). Resumable: a seed whose run already
finished is reused by ``kedro run`` itself (identical run name), so re-running
this script after an interruption continues where it stopped.

The table has the three pixel columns when the class has masks, image AUROC
always, and for image-level data the mean-intensity baseline on the same test
sets (the score a model must beat).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RUN_LINE = re.compile(r"Run (\S+) \(data split (\S+), maps and reports in (\S+)/\)")


def run_seed(cls: str, seed: int, extra: str) -> dict:
    params = f"class={cls},seed={seed},training.progress=false" + (f",{extra}" if extra else "")
    t0 = time.time()
    proc = subprocess.run(["kedro", "run", "--pipelines=train_eval", "--params", params], cwd=ROOT,
                          capture_output=True, text=True)
    wall = time.time() - t0
    log = proc.stdout + proc.stderr
    if proc.returncode:
        sys.stderr.write(log[-4000:])
        raise SystemExit(f"seed {seed} failed (exit {proc.returncode})")
    m = RUN_LINE.search(log)
    run, split, scoring = m.group(1), m.group(2), m.group(3)
    metrics = json.loads((ROOT / "data/08_reporting" / run / scoring / "metrics.json").read_text())
    return {"seed": seed, "run": run, "split": split, "scoring": scoring, "wall_s": wall, "metrics": metrics}


def mean_intensity_auroc(split: str) -> float:
    from metal_pipeline.data.image_set import ImageSet
    from metal_pipeline.metrics import auroc

    test = ImageSet.load(ROOT / "data/05_model_input" / split / "test.npz")
    return auroc(test.labels, test.images.reshape(len(test), -1).mean(axis=1))


def flat(metrics: dict) -> dict:
    """The class-level numbers of a metrics.json (keys as in metal_pipeline.metrics.report)."""
    node = metrics.get("overall", metrics)
    return {k: v for k, v in node.items() if isinstance(v, (int, float))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--class", dest="cls", required=True)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--params", default="", help="extra --params, e.g. recipe=paper")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    rows = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        r = run_seed(a.cls, seed, a.params)
        r["flat"] = flat(r["metrics"])
        if "pixel_auroc" not in r["flat"]:
            r["flat"]["mean_intensity_image_auroc"] = mean_intensity_auroc(r["split"])
        rows.append(r)
        print(f"seed {seed}: {r['run']} {json.dumps({k: round(v, 4) for k, v in r['flat'].items()})} "
              f"({r['wall_s']:.0f} s)", flush=True)
    keys = [k for k in ("pauroc_0.3", "pauroc_0.3_mcclish", "pixel_auroc", "image_auroc",
                        "mean_intensity_image_auroc") if all(k in r["flat"] for r in rows)]
    lines = ["| seed | run | " + " | ".join(keys) + " | wall s |", "|---" * (len(keys) + 3) + "|"]
    for r in rows:
        lines.append(f"| {r['seed']} | `{r['run']}` | " + " | ".join(f"{r['flat'][k]:.3f}" for k in keys)
                     + f" | {r['wall_s']:.0f} |")
    lines.append("| **mean ± std** | | " + " | ".join(
        f"**{np.mean([r['flat'][k] for r in rows]):.3f} ± {np.std([r['flat'][k] for r in rows], ddof=1) if len(rows) > 1 else 0:.3f}**"
        for k in keys) + " | |")
    table = "\n".join(lines)
    print(table)
    if a.out:
        a.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
