"""Screen quality levers: train variants on several tasks, score each trained
model under a grid of scoring settings, report validation and test metrics.

Two steps, so the training step needs only torch/numpy/scipy/scikit (no Kedro):

    python benchmarks/screen_levers.py prepare --out .screen          # ingest the shipped data
    python benchmarks/screen_levers.py run --data .screen --out results.jsonl \
        [--variants T1,T2] [--tasks bottle,head_ct] [--epochs 800] [--workers 12] [--deadline 480]

Tasks (prepared from data/01_raw):
  bottle            the shipped MVTec AD bottle (train/val split as ingestion makes it)
  bottle_unaligned  50 bottle training images, each randomly rotated and shifted,
                    test images transformed the same way (the small-unaligned check)
  head_ct           the Head CT paper split (80 normal train, 20 + 100 test), 1 channel
  head_ct_unaligned 50 Head CT training images, rotated/shifted, test transformed too

Validation signal (model selection, never the test set): synthetic anomalies
(metal_pipeline.scoring.synthetic) pasted on half of the validation normals;
the other half fits the map normaliser. Test metrics at model resolution
(128 px masks), pooled over images: pAUROC@0.3 MVTec (area/0.3), McClish,
pixel AUROC, image AUROC.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from itertools import product
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

EPOCHS = 800
OFFSETS4 = ((0, 0), (0, 8), (8, 0), (8, 8))

BASE = {"masking": "strict", "config": "squares_rows", "hole": 0, "lr": 1e-4, "batch_size": 64,
        "lr_schedule": "constant", "warmup_epochs": 0, "augment": {}, "embed_dim": 128,
        "decoder_hidden": 512, "decoder_layers": 1}
SYN = {"synthetic_prob": 0.5}
FAST = {"lr": 1e-3, "lr_schedule": "cosine", "warmup_epochs": 20}

#: Training variants, in priority order (the deadline drops the tail).
VARIANTS = {
    "T01_paper": {"masking": "paper"},
    "T02_strict": {},
    "T03_strict_hole1": {"hole": 1},
    "T04_strict_syn": {"augment": SYN},
    "T05_strict_fastlr": FAST,
    "T06_paper_syn": {"masking": "paper", "augment": SYN},
    "T07_strict_hole1_syn_fastlr": {"hole": 1, "augment": SYN, **FAST},
    "T08_paper_syn_fastlr": {"masking": "paper", "augment": SYN, **FAST},
    "T09_strict_syn_fastlr": {"augment": SYN, **FAST},
    "T10_strict_hole1_syn_fastlr_shift": {"hole": 1, "augment": {**SYN, "shift": 16}, **FAST},
    "T11_strict_hole1_syn_fastlr_geo": {"hole": 1, "augment": {**SYN, "geo": True}, **FAST},
    "T12_strict_hole1_syn_fastlr_big": {"hole": 1, "augment": SYN, **FAST, "embed_dim": 256,
                                         "decoder_hidden": 1024, "decoder_layers": 2},
    "T13_paper_fastlr": {"masking": "paper", **FAST},
    "T14_strict_hole1_syn_fastlr_bs16": {"hole": 1, "augment": SYN, **FAST, "batch_size": 16, "lr": 5e-4},
    "T15_paper_hole1_syn_fastlr": {"masking": "paper", "hole": 1, "augment": SYN, **FAST},
}

#: Per-task geometric augmentation when a variant asks for it ("geo").
GEO = {"bottle": {"flips": ["h", "v"], "rot90": True}, "bottle_unaligned": {"flips": ["h", "v"], "rot90": True},
       "head_ct": {"flips": ["h"]}, "head_ct_unaligned": {"flips": ["h"]}}

SCORING_GRID = {
    "kinds": [("l2",), ("msgms",), ("ssim",), ("l2", "msgms")],
    "normalise": ["none", "pixel"],
    "offsets": [1, 4],
    "sigma": [2.0, 4.0],
}


# --------------------------------------------------------------------------- prepare
def _transform(images: np.ndarray, masks: np.ndarray | None, rng: np.random.Generator):
    """Random rotation (any angle) and shift (up to 10 % of the side), reflected border."""
    from scipy.ndimage import affine_transform

    out = np.empty_like(images)
    out_m = None if masks is None else np.empty_like(masks)
    n, c, h, w = images.shape
    for i in range(n):
        a = rng.uniform(0, 2 * np.pi)
        t = rng.uniform(-0.1, 0.1, size=2) * h
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        centre = np.array([(h - 1) / 2, (w - 1) / 2])
        offset = centre - rot @ (centre + t)
        for ch in range(c):
            out[i, ch] = np.clip(affine_transform(images[i, ch].astype(np.float32), rot, offset, order=1,
                                                  mode="reflect"), 0, 255).round().astype(np.uint8)
        if masks is not None:
            out_m[i] = affine_transform(masks[i].astype(np.float32), rot, offset, order=0, mode="constant") > 0.5
    return out, out_m


def prepare(out_dir: Path) -> None:
    from metal_pipeline.data.ingest import ingest_class

    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"data_root": str(ROOT / "data/01_raw/mvtec_ad"),
              "class_paths": {"head_ct": str(ROOT / "data/01_raw/head_ct")}}
    for cls in ("bottle", "head_ct"):
        s = ingest_class(cls, params, 0)
        test_masks = s.test.masks if s.test.masks is not None else np.zeros((len(s.test),) + s.test.images.shape[2:], np.uint8)
        np.savez_compressed(out_dir / f"{cls}.npz", train=s.train.images, val=s.val.images, test=s.test.images,
                            test_labels=s.test.labels, test_masks=test_masks)
        rng = np.random.default_rng(7)
        pool = np.concatenate([s.train.images, s.val.images])
        pick = np.sort(rng.choice(len(pool), size=50, replace=False))
        small, _ = _transform(pool[pick], None, rng)
        test, tmask = _transform(s.test.images, test_masks, rng)
        np.savez_compressed(out_dir / f"{cls}_unaligned.npz", train=small[:45], val=small[45:], test=test,
                            test_labels=s.test.labels, test_masks=tmask.astype(np.uint8))
        print(f"prepared {cls}: {len(s.train)} train, {len(s.val)} val, {len(s.test)} test; unaligned 45/5")


# --------------------------------------------------------------------------- run
def _train_one(task: str, name: str, data_dir: str, epochs: int, seed: int, device: str):
    import torch

    from metal_pipeline.model import MeTAL, MeTALConfig, ReconstructionLoss
    from metal_pipeline.training import train
    from metal_pipeline.training.augment import Augmenter

    torch.set_num_threads(1)
    v = {**BASE, **VARIANTS[name]}
    d = np.load(Path(data_dir) / f"{task}.npz")
    aug = dict(v["augment"])
    if aug.pop("geo", False):
        aug.update(GEO[task])
    cfg = MeTALConfig(img_size=128, channels=int(d["train"].shape[1]), configuration=v["config"],
                      masking=v["masking"], hole=v["hole"], embed_dim=v["embed_dim"],
                      decoder_hidden=v["decoder_hidden"], decoder_layers=v["decoder_layers"], depth=1)
    torch.manual_seed(seed)
    net = MeTAL(cfg)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = train(net, ReconstructionLoss(), d["train"], d["val"],
                    {"lr": v["lr"], "batch_size": v["batch_size"], "max_epochs": epochs, "min_epochs": epochs,
                     "patience": 1, "seed": seed, "device": device, "checkpoint_every": 10 ** 6,
                     "deterministic": False, "progress": False, "lr_schedule": v["lr_schedule"],
                     "warmup_epochs": v["warmup_epochs"]},
                    checkpoint_dir=tmp, resume=False, augment=Augmenter(aug) if aug else None)
    return res, time.perf_counter() - t0, d


def append_jsonl(path: Path, rows) -> None:
    """Append ``rows`` to a JSON-lines results file, one object a line (results accumulate across runs)."""
    with Path(path).open("a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def pooled_metrics(masks, maps, labels, scores):
    """Test/validation metrics pooled over all pixels (pAUROC MVTec, McClish, pixel AUROC) and image AUROC."""
    from metal_pipeline.metrics import auroc, mcclish_partial_auroc, partial_auroc

    out = {}
    if masks is not None and masks.any():
        m, s = masks.reshape(-1), maps.reshape(-1)
        out.update(pauroc=partial_auroc(m, s, 0.3), mcclish=mcclish_partial_auroc(m, s, 0.3), pixel_auroc=auroc(m, s))
    if labels is not None and 0 < labels.sum() < len(labels):
        out["image_auroc"] = auroc(labels, scores)
    return out


def _score_grid(net, d, device: str):
    """Every scoring setting on one trained model: validation and test metrics."""
    from metal_pipeline.inference.detector import AnomalyDetector
    from metal_pipeline.scoring.image_score import image_scores
    from metal_pipeline.scoring.synthetic import paste_anomalies

    val = d["val"]
    fit_set, syn_base = val[0::2], val[1::2]
    syn, syn_masks = paste_anomalies(syn_base, seed=123, per_image=2)
    val_imgs = np.concatenate([syn_base, syn])
    val_labels = np.r_[np.zeros(len(syn_base)), np.ones(len(syn))]
    val_masks = np.concatenate([np.zeros_like(syn_masks), syn_masks])
    sets = {"fit": fit_set, "val": val_imgs, "test": d["test"]}
    rows = []
    kinds_all = ("l2", "msgms", "ssim")
    from metal_pipeline.inference.detector import map_statistics
    from metal_pipeline.scoring import smooth_maps

    for n_off in SCORING_GRID["offsets"]:
        det = AnomalyDetector(net, sigma=0.0, map_kinds=kinds_all, offsets=OFFSETS4[:n_off])
        unsmoothed = {k: det.raw_maps(v, batch_size=64, device=device)[0] for k, v in sets.items()}
        for sigma, kinds, norm in product(SCORING_GRID["sigma"], SCORING_GRID["kinds"], SCORING_GRID["normalise"]):
            raw = {s: {k: smooth_maps(m, sigma) for k, m in unsmoothed[s].items() if k in kinds} for s in sets}
            det.map_kinds, det.normalise = kinds, norm
            det.norm_stats = {}
            if norm != "none":
                det.norm_stats = {k: map_statistics(raw["fit"][k], norm) for k in kinds}
            row = {"kinds": "+".join(kinds), "normalise": norm, "offsets": n_off, "sigma": sigma}
            vm = det.combine(raw["val"])
            row["val"] = pooled_metrics(val_masks, vm, val_labels, image_scores(vm, "max"))
            tm = det.combine(raw["test"])
            test = {}
            for red in ("max", "top1"):
                sc = image_scores(tm, red)
                test.update({f"{k}" if red == "max" else f"{k}_top1": v
                             for k, v in pooled_metrics(d["test_masks"], tm, d["test_labels"], sc).items()
                             if red == "max" or k == "image_auroc"})
            row["test"] = test
            rows.append(row)
    return rows


def _job(args):
    task, name, data_dir, epochs, seed, device = args
    t0 = time.perf_counter()
    try:
        res, train_s, d = _train_one(task, name, data_dir, epochs, seed, device)
        rows = _score_grid(res.model, d, device)
        return {"task": task, "variant": name, "seed": seed, "epochs": epochs, "best_epoch": res.best_epoch,
                "best_val_loss": res.best_val_loss, "train_seconds": train_s,
                "total_seconds": time.perf_counter() - t0, "scoring": rows}
    except Exception as exc:  # noqa: BLE001 - one failed job must not stop the screen
        import traceback
        return {"task": task, "variant": name, "seed": seed, "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()}


def run(data_dir: Path, out: Path, variants, tasks, epochs: int, workers: int, deadline: float,
        seeds, device: str) -> None:
    jobs = [(t, v, str(data_dir), epochs, s, device) for s in seeds for v in variants for t in tasks]
    start = time.time()
    ctx = mp.get_context("spawn")
    done = 0
    with ctx.Pool(workers, maxtasksperchild=1) as pool, open(out, "a") as fh:
        pending = [pool.apply_async(_job, (job,)) for job in jobs]
        # Collect in completion order: one slow job must not hide finished ones at the deadline.
        while pending:
            ready = [p for p in pending if p.ready()]
            if not ready:
                if time.time() - start > deadline:
                    print(f"deadline reached after {done} jobs; {len(pending)} dropped", flush=True)
                    pool.terminate()
                    break
                time.sleep(0.5)
                continue
            p = ready[0]
            pending.remove(p)
            r = p.get()
            fh.write(json.dumps(r) + "\n")
            fh.flush()
            done += 1
            best = None
            if "scoring" in r:
                best = max(r["scoring"], key=lambda x: x["val"].get("pixel_auroc", 0))
            print(f"[{time.time() - start:6.0f}s] {r['task']:18s} {r['variant']:38s} "
                  + (f"err {r['error']}" if "error" in r else
                     f"train {r['train_seconds']:.0f}s best@{r['best_epoch']} | best-val setting "
                     f"{best['kinds']}/{best['normalise']}/o{best['offsets']}/s{best['sigma']}: "
                     f"val {best['val'].get('pixel_auroc', float('nan')):.3f} test {json.dumps({k: round(v, 3) for k, v in best['test'].items()})}"),
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--out", type=Path, default=ROOT / ".screen")
    r = sub.add_parser("run")
    r.add_argument("--data", type=Path, default=ROOT / ".screen")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--variants", default=",".join(VARIANTS))
    r.add_argument("--tasks", default="bottle,bottle_unaligned,head_ct,head_ct_unaligned")
    r.add_argument("--epochs", type=int, default=EPOCHS)
    r.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    r.add_argument("--deadline", type=float, default=480.0)
    r.add_argument("--seeds", default="0")
    r.add_argument("--device", default="auto")
    a = ap.parse_args()
    if a.cmd == "prepare":
        prepare(a.out)
    else:
        device = a.device
        if device == "auto":
            import torch
            device = "cuda" if torch.cuda.is_available() else "cpu"
        run(a.data, a.out, a.variants.split(","), a.tasks.split(","), a.epochs, a.workers, a.deadline,
            [int(s) for s in a.seeds.split(",")], device)


if __name__ == "__main__":
    main()
