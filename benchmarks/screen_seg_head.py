"""Screen the discriminative head lever on a finished run, without retraining it.

    python benchmarks/screen_seg_head.py --run data/06_models/<run> --split data/05_model_input/<split> \
        [--steps 1500] [--width 8] [--seed 0] [--time-limit 600] [--region foreground-10] [--out results.jsonl]

Trains a :class:`~metal_pipeline.model.seg_head.SegHead` on the split's train
images with the run's reconstruction network frozen, then scores the
validation signal (half of the validation normals fit the normalisers, the
other half is scored clean and with the validation family of synthetic
anomalies pasted, as in ``rescore_runs.py``; ``--crossfit`` swaps the halves
too and pools both folds, so every validation normal is scored) and the test set at model
resolution (128 px) under several maps:

* ``base``: L2 + MSGMS, each per-pixel normalised on the fit half;
* ``seg``: the head's probability (never normalised, as in the detector);
* ``base+seg``: their sum;

each at sigma 0, 2 and 4, with every image-score reduction of ``--reductions``.
The validation columns choose (the heatmap on the pixel columns, the image
score on image AUROC); the test columns only report.

Several ``--run`` folders (with ``--no-head``) screen an *ensemble*: each
network's L2 + MSGMS maps are normalised on the fit half as above and the
``base`` map is their mean over the networks (the lever "average the
normalised maps of K independently trained networks").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def _metrics(masks, maps, labels, scores) -> dict:
    from screen_levers import pooled_metrics

    return {k: round(float(v), 4) for k, v in pooled_metrics(masks, maps, labels, scores).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, nargs="+",
                    help="a finished run; several (with --no-head): an ensemble of their normalised maps")
    ap.add_argument("--split", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--anomaly-prob", type=float, default=0.5)
    ap.add_argument("--gamma", type=float, default=2.0)
    ap.add_argument("--amp", default="off", help="off | bf16: the head's forward pass while training")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=None)
    ap.add_argument("--region", default="all-0", help="image-score region, e.g. foreground-10")
    ap.add_argument("--reductions", default="max,top1", help="image-score reductions to report, comma-separated")
    ap.add_argument("--save-head", type=Path, help="write the trained head's state_dict here")
    ap.add_argument("--load-head", type=Path, help="skip training: load a head saved with --save-head")
    ap.add_argument("--no-head", action="store_true",
                    help="no head at all: only the L2 + MSGMS rows (for networks scored without one)")
    ap.add_argument("--crossfit", action="store_true",
                    help="score both halves of the validation normals (each normalised on the other) and pool")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()

    from metal_pipeline.data.image_set import ImageSet
    from metal_pipeline.inference.detector import map_statistics
    from metal_pipeline.inference.model_source import load_checkpoint
    from metal_pipeline.inference.reconstruct import reconstruction_batches
    from metal_pipeline.model.seg_head import SegHeadConfig
    from metal_pipeline.scoring import smooth_maps_torch
    from metal_pipeline.scoring.foreground import region_masks
    from metal_pipeline.scoring.image_score import image_scores
    from metal_pipeline.scoring.maps import anomaly_maps
    from metal_pipeline.scoring.synthetic import paste_anomalies
    from metal_pipeline.training.seg_head import SegHeadTrainConfig, head_logits, train_seg_head

    if len(a.run) > 1 and not a.no_head:
        ap.error("several --run folders (an ensemble) are screened with --no-head only")
    dets = [load_checkpoint(sorted(run.glob("scoring-*/detector.pt"))[0]) for run in a.run]
    det = dets[0]
    train, val, test = (ImageSet.load(a.split / f"{s}.npz") for s in ("train", "val", "test"))
    cfg = SegHeadTrainConfig(steps=a.steps, batch_size=a.batch_size, lr=a.lr, anomaly_prob=a.anomaly_prob,
                             focal_gamma=a.gamma, amp=a.amp, seed=a.seed)
    hcfg = SegHeadConfig(channels=det.channels, width=a.width, levels=a.levels)
    t0 = time.perf_counter()
    if a.no_head:
        head, losses = None, [float("nan")]
    elif a.load_head:
        from metal_pipeline.model.seg_head import SegHead

        losses = [float("nan")]
        saved = torch.load(a.load_head, weights_only=True)  # a cached <run>/seg_heads/*.pt or a --save-head file
        if "config" in saved:  # the cache file names its own shape
            head = SegHead.from_state(saved["config"], saved["state_dict"])
        else:
            head = SegHead.from_state(hcfg.to_dict(), saved)
    else:
        head, losses = train_seg_head(
            det.net, train.images, cfg, hcfg, time_limit_s=a.time_limit,
            on_step=lambda s, l: print(f"step {s} loss {l:.4f} {time.perf_counter() - t0:.0f}s", flush=True)
            if s % 100 == 0 else None)
        if a.save_head:
            torch.save(head.state_dict(), a.save_head)
    train_s = time.perf_counter() - t0

    normals = val.images[val.labels == 0]
    # validation folds: (fit half, scored half); --crossfit also swaps the halves and pools both,
    # so every validation normal is scored once (twice the clean images of the plain signal)
    halves = [(normals[0::2], normals[1::2])]
    if a.crossfit:
        halves.append((normals[1::2], normals[0::2]))
    folds = []
    for fit, base in halves:
        syn, syn_masks = zip(*(paste_anomalies(base, seed=s, per_image=2) for s in (123, 124, 125)))
        folds.append({"fit": fit, "images": np.concatenate([base, *syn]),
                      "masks": np.concatenate([np.zeros_like(syn_masks[0]), *syn_masks]),
                      "labels": np.r_[np.zeros(len(base)), np.ones(3 * len(base))]})
    sets = {"test": test.images, "val": np.concatenate([f["images"] for f in folds])}
    masks = {"val": np.concatenate([f["masks"] for f in folds]), "test": test.masks}
    labels = {"val": np.concatenate([f["labels"] for f in folds]), "test": test.labels}
    region, erode = a.region.rsplit("-", 1)

    def raw(images, net):
        out = {"l2": [], "msgms": [], "seg": []}
        for _, x, recs in reconstruction_batches(net, images, 32, "cpu"):
            r = recs[(0, 0)].float()
            m = anomaly_maps(x, r, ("l2", "msgms"))
            out["l2"].append(m["l2"].numpy())
            out["msgms"].append(m["msgms"].numpy())
            if head is not None:
                out["seg"].append(torch.sigmoid(head_logits(head, x, r)).numpy())
        return {k: np.concatenate(v) for k, v in out.items() if v}

    members = []  # per network: the unsmoothed test maps and, per fold, (fit half, scored images)
    for member in dets:
        test_raw = raw(test.images, member.net)
        fold_raw = [(raw(f["fit"], member.net), raw(f["images"], member.net)) for f in folds]
        members.append((test_raw, fold_raw))
    results = []
    for sigma in (0.0, 2.0, 4.0):
        def smooth(ms):
            return {k: smooth_maps_torch(torch.from_numpy(m), sigma).numpy() for k, m in ms.items()}

        # L2 and MSGMS per-pixel normalised on the fit half (as the detector does; the test set on the
        # first fold's); the head's probability as it is (the detector never normalises it). An
        # ensemble averages each network's normalised sum.
        base = {"val": [], "test": []}
        for test_raw, fold_raw in members:
            maps = {"test": smooth(test_raw)}
            fold_maps = [(smooth(fit), smooth(scored)) for fit, scored in fold_raw]
            maps["val"] = {k: np.concatenate([scored[k] for _, scored in fold_maps]) for k in maps["test"]}
            fold_stats = [{k: map_statistics(fit[k], "pixel") for k in ("l2", "msgms")} for fit, _ in fold_maps]
            z = {"test": {k: (maps["test"][k] - fold_stats[0][k][0]) / fold_stats[0][k][1] for k in ("l2", "msgms")},
                 "val": {k: np.concatenate([(scored[k] - st[k][0]) / st[k][1] for (_, scored), st
                                            in zip(fold_maps, fold_stats)]) for k in ("l2", "msgms")}}
            for s in ("val", "test"):
                base[s].append(z[s]["l2"] + z[s]["msgms"])
        variants = {"base": {s: np.mean(base[s], axis=0) for s in ("val", "test")}}
        if head is not None:  # one network only (checked above): ``maps`` are its smoothed maps
            variants["seg"] = {s: maps[s]["seg"] for s in ("val", "test")}
            variants["base+seg"] = {s: variants["base"][s] + maps[s]["seg"] for s in ("val", "test")}
        for name, m in variants.items():
            row = {"variant": name, "sigma": sigma, "train_s": round(train_s, 1), "steps_done": len(losses),
                   "final_loss": round(float(np.mean(losses[-50:])), 5), **vars(a)}
            for s in ("val", "test"):
                regions = region_masks(sets[s], region, int(erode))
                for i, red in enumerate(a.reductions.split(",")):
                    got = _metrics(masks[s], m[s], labels[s], image_scores(m[s], red, regions))
                    if i == 0:
                        row[s] = got
                    else:
                        row[s][f"image_auroc_{red}"] = got["image_auroc"]
            row = {k: (str(v) if isinstance(v, Path) else v) for k, v in row.items()}
            row["run"] = str(a.run[0]) if len(a.run) == 1 else [str(r) for r in a.run]
            results.append(row)
            print(json.dumps({k: row[k] for k in ("variant", "sigma", "val", "test")}), flush=True)
    if a.out:
        from screen_levers import append_jsonl

        append_jsonl(a.out, results)


if __name__ == "__main__":
    main()
