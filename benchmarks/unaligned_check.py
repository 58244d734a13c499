"""The small-unaligned development check for the paper recipe and the default recipe, in one process.

    python benchmarks/screen_levers.py prepare --out .screen      # once: builds .screen/bottle_unaligned.npz
    python benchmarks/unaligned_check.py --data .screen --task bottle_unaligned [--epochs 800] [--seed 0] \
        [--out benchmarks/results/unaligned_check.jsonl]

Trains, with this machine's threads and the same epochs for both:

* the paper recipe's network (paper masking, no augmentation), scored with the
  paper's map (L2, sigma 4, max);
* the default recipe's network (strict masking, synthetic anomalies, trained
  under the recipe's ``training.amp``: bf16 where the CPU has it natively;
  ``--amp off`` for fp32, the checks before the seventh session), scored
  as the default recipe scores a class without per-class settings (heatmap:
  the discriminative head, trained on the same 45 images; image score: max of
  L2 + MSGMS normalised per pixel on the validation images; sigma 0), with the
  head for both, and, for reference, with the earlier default map (L2 + MSGMS,
  sigma 2).

Trained networks and heads are kept under ``<data>/models/`` and reused, so an
interrupted check resumes. Test metrics at 128 px (the check's test masks are
transformed at that size): pAUROC@0.3 MVTec, McClish, pixel AUROC, image AUROC.
The check reproduces the held-out failure when the paper recipe beats strict
masking with the paper's map (docs/RESULTS.md, "Small-unaligned development check").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import harness  # benchmarks/harness.py (this folder is on sys.path when run as a script)
import numpy as np
import torch

PAPER = {"masking": "paper", "augment": {}}
DEFAULT = {"masking": "strict", "augment": {"synthetic_prob": 0.5}}


def _metrics(masks, maps, labels, scores) -> dict:
    from screen_levers import pooled_metrics

    return {k: round(float(v), 4) for k, v in pooled_metrics(masks, maps, labels, scores).items()}


def trained_net(d, variant: dict, name: str, models: Path, epochs: int, seed: int, amp: str = "off"):
    """The variant's network: loaded from ``models`` when trained before, else trained and saved.
    ``amp`` is ``training.amp`` (``off`` keeps the file names of the checks before bf16 training)."""
    from metal_pipeline.model import MeTAL, MeTALConfig, ReconstructionLoss
    from metal_pipeline.training import train
    from metal_pipeline.training.augment import Augmenter

    cfg = MeTALConfig(img_size=128, channels=int(d["train"].shape[1]), configuration="squares_rows",
                      masking=variant["masking"], depth=1)
    torch.manual_seed(seed)
    net = MeTAL(cfg)
    name = name if amp == "off" else f"{name}-{amp}"
    path = models / f"{name}-e{epochs}-s{seed}.pt"
    if path.is_file():
        net.load_state_dict(torch.load(path, weights_only=True))
        return net.eval(), None
    t0 = time.perf_counter()
    res = train(net, ReconstructionLoss(), d["train"], d["val"],
                {"lr": 1e-4, "batch_size": 64, "max_epochs": epochs, "min_epochs": epochs, "patience": 1,
                 "seed": seed, "device": "cpu", "amp": amp, "checkpoint_every": 50, "deterministic": False, "progress": False},
                checkpoint_dir=models / f"{name}-e{epochs}-s{seed}-checkpoints", resume="auto",
                augment=Augmenter(variant["augment"]) if variant["augment"] else None)
    torch.save(res.model.state_dict(), path)
    return res.model.eval(), time.perf_counter() - t0


def head_cache_key(epochs: int, seed: int, params: dict, amp: str = "off") -> str:
    """Names a cached head by everything that changes it (``amp``: the network's training.amp; the rest of
    the head's parameters as a hash), so a cache made with other settings is never picked up."""
    import hashlib

    rest = {k: v for k, v in params.items() if k != "steps"}
    digest = hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:6]
    return f"seg_head-default{'' if amp == 'off' else '-' + amp}-e{epochs}-s{seed}-{params['steps']}-{digest}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(".screen"))
    ap.add_argument("--task", default="bottle_unaligned")
    ap.add_argument("--epochs", type=int, default=800)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--head-steps", type=int, default=1500)
    ap.add_argument("--amp", default="auto", choices=("auto", "bf16", "off"),
                    help="training.amp of the default recipe's network (auto: the recipe's, bf16 where the CPU "
                         "has it natively); the paper recipe's network trains in fp32, as its recipe does")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    from metal_pipeline.utils.precision import resolve_amp_setting

    amp = resolve_amp_setting(a.amp, "cpu")

    from metal_pipeline.inference.detector import AnomalyDetector
    from metal_pipeline.training.seg_head import cached_seg_head

    d = dict(np.load(a.data / f"{a.task}.npz"))
    models = a.data / "models" / a.task
    models.mkdir(parents=True, exist_ok=True)
    test, masks, labels = d["test"], d["test_masks"], d["test_labels"]
    rows = []

    def report(recipe: str, map_name: str, det: AnomalyDetector, train_s) -> None:
        det.fit_normaliser(d["val"])
        s = det.score(test, batch_size=32)
        row = {"task": a.task, "recipe": recipe, "map": map_name, "epochs": a.epochs, "seed": a.seed,
               "amp": "off" if recipe == "paper" else amp,
               "train_s": None if train_s is None else round(train_s),
               "head": {k: head_params[k] for k in ("width", "amp")} if "seg" in det.map_kinds else None, **_metrics(masks, s.maps, labels, s.scores)}
        rows.append(row)
        print(json.dumps(row), flush=True)

    head_params = harness.configured_head_params(steps=a.head_steps)  # the head the pipeline trains
    paper_net, paper_s = trained_net(d, PAPER, "paper", models, a.epochs, a.seed)
    report("paper", "l2 sigma 4 max", AnomalyDetector(paper_net, sigma=4.0, map_kinds=["l2"]), paper_s)
    strict_net, strict_s = trained_net(d, DEFAULT, "default", models, a.epochs, a.seed, amp)
    report("default (earlier map)", "l2+msgms pixel-normalised sigma 2 max",
           AnomalyDetector(strict_net, sigma=2.0, map_kinds=["l2", "msgms"], normalise="pixel"), strict_s)
    t0 = time.perf_counter()
    head, info = cached_seg_head(strict_net, d["train"], head_params, seed=a.seed,
                                 cache_dir=models, cache_key=head_cache_key(a.epochs, a.seed, head_params, amp))
    head_s = None if info["reused"] else time.perf_counter() - t0
    report("default, head for both", "seg sigma 0 max", AnomalyDetector(strict_net, sigma=0.0, map_kinds=["seg"],
                                                                         seg_head=head), head_s)
    report("default", "heatmap seg, image score l2+msgms pixel-normalised, sigma 0 max",
           AnomalyDetector(strict_net, sigma=0.0, map_kinds=["seg"], image_kinds=["l2", "msgms"], normalise="pixel",
                           seg_head=head), head_s)
    if a.out:
        from screen_levers import append_jsonl

        append_jsonl(a.out, rows)


if __name__ == "__main__":
    main()
