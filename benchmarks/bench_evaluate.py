"""Wall time of one class's evaluation at full MVTec resolution (issue 10's target: <= 60 s for about
150 test images with 1024-px masks, AU-PRO included).

    .venv/bin/python benchmarks/bench_evaluate.py \
        --scores data/07_model_output/<run>/<scoring>/test_scores.npz \
        --split data/05_model_input/<split> [--size 1024] [--images 150] [--repeats 2]

The shipped bottle is 256 px, so the full-size case is built from a finished
run: its 128-px test maps and the split's masks, the masks scaled to
``--size`` (nearest) and written as PNGs, the test set repeated to
``--images``. The timed part is what the evaluation node does after the
scoring: decode every original-resolution mask PNG, resize every map to its
mask (``scoring.resize.resize_maps``) and compute every metric, overall and
per defect (``metrics.report.evaluate_localization``: pAUROC in both
conventions, pixel AUROC, AU-PRO, F1-max, image AUROC). Prints one RESULT line.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import harness
import numpy as np


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scores", type=Path, required=True, help="a run's test_scores.npz")
    ap.add_argument("--split", type=Path, required=True, help="the run's split folder (test.npz)")
    ap.add_argument("--size", type=int, default=1024, help="mask side in pixels (MVTec AD: 700-1024)")
    ap.add_argument("--images", type=int, default=150, help="test images (the split's, repeated)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args(argv)

    from skimage import io as skio
    from skimage.transform import resize

    from metal_pipeline.data.image_set import ImageSet
    from metal_pipeline.metrics.report import evaluate_localization
    from metal_pipeline.scoring.resize import resize_maps

    test = ImageSet.load(args.split / "test.npz")
    saved = np.load(args.scores)
    if test.masks is None:
        raise SystemExit(f"{args.split}: the test set has no masks (an image-level class); pick a class with masks")
    idx = np.resize(np.random.default_rng(0).permutation(len(test)), args.images)  # every image, then again
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, j in enumerate(idx):
            mask = resize(test.masks[j] > 0, (args.size, args.size), order=0, preserve_range=True,
                          anti_aliasing=False).astype(np.uint8) * 255
            paths.append(os.path.join(tmp, f"{i:04d}_mask.png"))
            skio.imsave(paths[-1], mask, check_contrast=False)
        maps, scores = saved["maps"][idx], saved["scores"][idx]
        labels, defects = test.labels[idx], [test.defects[j] for j in idx]
        times, report = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            masks = [skio.imread(p) for p in paths]
            full = resize_maps(maps, [m.shape for m in masks])
            report = evaluate_localization(masks, full, labels, defects, scores)
            times.append(time.perf_counter() - t0)
    result = {"bench": "evaluate", "images": int(args.images), "mask_px": args.size, "seconds": round(min(times), 2),
              "seconds_all": [round(t, 2) for t in times], "target_s": 60,
              "pixels": int(args.images) * args.size * args.size,
              "overall": {k: round(float(v), 4) for k, v in report["overall"].items()},
              "loadavg": harness.loadavg(), "cpu": harness.cpu_model(), "logical_cpus": os.cpu_count()}
    print(f"evaluate: {args.images} images, {args.size}-px masks: best {result['seconds']} s "
          f"(all {result['seconds_all']}), target <= 60 s | loadavg {result['loadavg']}")
    print(harness.RESULT_PREFIX + json.dumps(result, separators=(",", ":")), flush=True)
    if args.json_out:
        with open(args.json_out, "a") as fh:
            fh.write(json.dumps(result, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
