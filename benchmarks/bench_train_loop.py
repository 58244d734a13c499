"""Epoch wall time of the real training loop (metal_pipeline.training.train) under training.amp / training.compile.

Trains the default recipe's bottle model (paper sizes, its augmentation and
lr, batch 64) on the ingested bottle split for ``--epochs`` epochs, once per
setting in ``--settings`` (``fp32``, ``bf16``, ``compile``, ``bf16+compile``),
in fresh temporary checkpoint folders, and prints per setting: the first
epoch's seconds (with ``compile``, it holds the compilation), the median of
the later epochs, their speedup over fp32, and the last epoch's training and
validation loss. An epoch's seconds are the loop's own (``history["seconds"]``:
training and validation, not the checkpoint write), as ``kedro run`` logs them.
The settings train round-robin, one epoch each in turn (every call
resumes its run bit for bit), so they share the machine's load; the speedup
is the median of the per-epoch ratios, the first epoch left out.

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train_loop.py --epochs 4 --threads 1
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

import harness  # benchmarks/harness.py (this folder is on sys.path when run as a script)
from metal_pipeline.model import MeTAL, ReconstructionLoss
from metal_pipeline.recipes import recipe_value
from metal_pipeline.training import TrainConfig, train
from metal_pipeline.training.augment import Augmenter

SETTINGS = {"fp32": ("off", False), "bf16": ("bf16", False), "compile": ("off", True),
            "bf16+compile": ("bf16", True)}
SPLIT = "data/05_model_input/bottle-128px-s0-31b840"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default=SPLIT, help="folder with train.npz and val.npz (an ingested split)")
    ap.add_argument("--settings", default="fp32,bf16,compile,bf16+compile",
                    help=f"comma-separated, from {list(SETTINGS)}; the first is the reference")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args(argv)
    settings = harness.parse_cases(ap, args.settings, SETTINGS)
    with contextlib.ExitStack() as stack:
        return run(settings, args, stack)


def run(settings: list[str], args: argparse.Namespace, stack: contextlib.ExitStack) -> int:
    images = {}
    for part in ("train", "val"):
        try:
            with np.load(f"{args.split}/{part}.npz") as z:
                images[part] = z["images"]
        except FileNotFoundError:
            raise SystemExit(f"{args.split}/{part}.npz not found: ingest bottle first "
                             "(kedro run --pipelines=ingestion --params class=bottle) or pass --split") from None
    recipe = "default"
    augment_cfg = recipe_value("training.augment", recipe, "bottle")
    print(f"training loop, {recipe} recipe on {args.split}: {len(images['train'])} train / {len(images['val'])} "
          f"validation images, batch {args.batch}, {args.epochs} epochs, {args.threads} thread(s), "
          f"loadavg {harness.loadavg()}", flush=True)
    runs = {}
    for name in settings:
        amp, compile = SETTINGS[name]
        torch.manual_seed(0)
        model = MeTAL(harness.model_config(recipe, channels=images["train"].shape[1],
                                           img_size=images["train"].shape[2]))
        config = TrainConfig(lr=float(recipe_value("training.lr", recipe, "bottle")), batch_size=args.batch,
                             max_epochs=1, min_epochs=0, seed=0, device="cpu", num_threads=args.threads,
                             progress=False, checkpoint_every=1, amp=amp, compile=compile)
        runs[name] = {"model": model, "config": config, "folder": Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix=f"bench_train_loop_{name}_"))), "seconds": []}
    # Epoch by epoch, round-robin: each setting trains one more epoch (resuming its own run bit for bit),
    # so the settings share the machine's load; the order rotates every epoch.
    for epoch in range(1, args.epochs + 1):
        order = settings[(epoch - 1) % len(settings):] + settings[:(epoch - 1) % len(settings)]
        for name in order:
            run = runs[name]
            result = train(run["model"], ReconstructionLoss(), images["train"], images["val"],
                           dataclasses.replace(run["config"], max_epochs=epoch), run["folder"],
                           augment=Augmenter(augment_cfg) if augment_cfg else None)
            run["seconds"].append(result.history[-1]["seconds"])
            run["last"] = result.history[-1]
        print(f"  epoch {epoch}: " + ", ".join(f"{n} {runs[n]['seconds'][-1]:.2f} s" for n in settings), flush=True)
    base = runs[settings[0]]["seconds"][1:]
    for name in settings:
        amp, compile = SETTINGS[name]
        seconds, last = runs[name]["seconds"], runs[name]["last"]
        later = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
        speedup = (statistics.median(b / s for b, s in zip(base, seconds[1:])) if len(seconds) > 1 else None)
        out = {"bench": "train_loop", "setting": name, "amp": amp, "compile": compile, "epochs": args.epochs,
               "batch": args.batch, "train_images": len(images["train"]), "threads": args.threads,
               "first_epoch_s": round(seconds[0], 2), "later_epoch_s_median": round(later, 2),
               "epoch_s": [round(x, 2) for x in seconds], "speedup_vs": settings[0],
               "speedup": round(speedup, 3) if speedup else None,
               "images_per_s_later": round(len(images["train"]) / later, 1),
               "last_train_loss": round(last["train_loss"], 5), "last_val_loss": round(last["val_loss"], 5),
               "loadavg": harness.loadavg(), "torch": torch.__version__, "cpu": harness.cpu_model()}
        print(f"  {name}: first epoch {out['first_epoch_s']} s, later epochs {out['later_epoch_s_median']} s "
              f"(median; {out['images_per_s_later']} training images/s incl. validation)"
              + (f", {speedup:.2f}x {settings[0]} (median of the per-epoch ratios)" if speedup else "")
              + f"; last epoch train {out['last_train_loss']}, val {out['last_val_loss']}; "
              f"loadavg {out['loadavg']}", flush=True)
        harness.emit(out, args.json_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
