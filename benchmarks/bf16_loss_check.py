"""bf16 autocast against fp32: do the training-loss curves agree within a stated tolerance? (issue 10)

Trains the default recipe's bottle model (paper sizes: squares_rows, strict
masking, its ``model.hole``, lr and synthetic-anomaly augmentation) from one
seed for ``--steps`` Adam steps at ``--batch`` on the real bottle training
split, twice: in fp32, and with the network's forward pass under
``torch.autocast("cpu", dtype=torch.bfloat16)`` and the loss in fp32 on the
reconstruction cast back (the split ``training.amp: bf16`` uses; SSIM's
variances cancel badly in bf16). Both runs see the same initial weights, the
same batches and the same augmentation draws, so any difference is the
arithmetic.

Compared: the loss shifted by its constant, ``L1 + (1 - SSIM)`` (the loss
``L1 - SSIM`` crosses zero early in training, where a relative difference
means nothing), and its two parts, each smoothed by a trailing moving average
of ``--window`` steps. Reported: the largest relative difference of the
smoothed curves over all steps, and over the last ``--window`` steps; the
validation loss of each final model (its own arithmetic, and the bf16 model
also in fp32); and, as a yardstick, the same comparison between fp32 runs of
two seeds (``--no-yardstick`` skips it). bf16 passes when the largest
relative difference of the smoothed shifted loss stays within ``--tolerance``
(2 % by default).

``--compile`` adds an fp32 run with the network and the loss compiled
(``nn.Module.compile()``), compared with eager fp32 the same way.

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bf16_loss_check.py --steps 150 --batch 16

Not a test: about 3-5 minutes of one core (three runs of 150 steps of 16 images).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import harness  # benchmarks/harness.py (this folder is on sys.path when run as a script)
from metal_pipeline.model import MeTAL, ReconstructionLoss
from metal_pipeline.recipes import recipe_value
from metal_pipeline.training.augment import Augmenter

TRAIN = "data/05_model_input/bottle-128px-s0-31b840/train.npz"
VAL = "data/05_model_input/bottle-128px-s0-31b840/val.npz"


def load_images(path: str) -> np.ndarray:
    if not Path(path).is_file():
        raise SystemExit(f"{path} not found: run the ingestion for bottle first "
                         "(kedro run --pipelines=ingestion --params class=bottle), or pass --train/--val")
    with np.load(path) as z:
        return z["images"]


def train_curve(images: np.ndarray, val: np.ndarray, *, amp: bool, compile: bool, steps: int, batch: int,
                seed: int, recipe: str) -> dict:
    """Per-step loss parts of one run, and its final validation losses."""
    cfg = harness.model_config(recipe, channels=images.shape[1], img_size=images.shape[2])
    augment_cfg = recipe_value("training.augment", recipe, "bottle")
    augment = Augmenter(augment_cfg) if augment_cfg else None
    torch.manual_seed(seed)
    model = MeTAL(cfg)
    loss_fn = ReconstructionLoss()
    opt = torch.optim.Adam(model.parameters(), lr=float(recipe_value("training.lr", recipe, "bottle")))
    if compile:
        model.compile()
        loss_fn.compile()
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(len(images)) for _ in range(-(-steps * batch // len(images)))])
    gen = torch.Generator().manual_seed(seed)
    l1s, ssims = [], []
    model.train()
    t0 = time.perf_counter()
    for step in range(steps):
        x = torch.from_numpy(images[order[step * batch:(step + 1) * batch]]).float().div_(255.0)
        inp, target = augment(x, gen) if augment is not None else (x, x)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            recon = model(inp)
        loss, parts = loss_fn(recon.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        l1s.append(float(parts["l1"]))
        ssims.append(float(parts["ssim"]))
        if not np.isfinite(float(loss.detach())):
            raise SystemExit(f"non-finite loss at step {step + 1} (amp={amp}, compile={compile})")
    seconds = time.perf_counter() - t0

    def val_loss(use_amp: bool) -> float:
        model.eval()
        total = 0.0
        with torch.no_grad():
            for lo in range(0, len(val), 32):
                x = torch.from_numpy(val[lo:lo + 32]).float().div_(255.0)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_amp):
                    r = model(x)
                total += float(loss_fn(r.float(), x)[0]) * len(x)
        return total / len(val)

    out = {"l1": np.array(l1s), "dssim": 1.0 - np.array(ssims), "seconds": seconds,
           "images_per_s": steps * batch / seconds, "val_loss_fp32": val_loss(False)}
    out["shifted"] = out["l1"] + out["dssim"]
    if amp:
        out["val_loss_own"] = val_loss(True)
    return out


def smooth(curve: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` steps (the valid part only)."""
    return np.convolve(curve, np.ones(window) / window, mode="valid")


def compare(a: dict, b: dict, window: int) -> dict:
    """Largest relative difference of ``b``'s smoothed curves against ``a``'s (all steps, last window)."""
    out = {}
    for key in ("shifted", "l1", "dssim"):
        sa, sb = smooth(a[key], window), smooth(b[key], window)
        rel = np.abs(sb - sa) / np.abs(sa)
        out[key] = {"max_rel": round(float(rel.max()), 5), "at_step": int(rel.argmax()) + window,
                    "max_rel_last_window": round(float(rel[-window:].max()), 5),
                    "final_a": round(float(sa[-1]), 5), "final_b": round(float(sb[-1]), 5)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", default=TRAIN)
    ap.add_argument("--val", default=VAL)
    ap.add_argument("--recipe", default="default", choices=("default", "paper"))
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=int, default=10, help="moving-average window (steps)")
    ap.add_argument("--tolerance", type=float, default=0.02, help="largest allowed relative difference")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-yardstick", action="store_true", help="skip the fp32 run of seed + 1")
    ap.add_argument("--compile", action="store_true", help="also an fp32 run with model and loss compiled")
    ap.add_argument("--json-out", default=None, help="append the RESULT object to this JSONL file")
    args = ap.parse_args(argv)
    if args.window >= args.steps:
        ap.error("--window must be smaller than --steps")
    torch.set_num_threads(args.threads)
    if not harness.bf16_supported(torch.device("cpu")):
        print("warning: this CPU has no native bf16 (AVX512-BF16/AMX); autocast emulates it", flush=True)
    images, val = load_images(args.train), load_images(args.val)
    common = dict(steps=args.steps, batch=args.batch, recipe=args.recipe)
    print(f"bf16 loss check: {args.recipe} recipe, {len(images)} training / {len(val)} validation images, "
          f"{args.steps} steps of {args.batch}, seed {args.seed}, {args.threads} thread(s), "
          f"loadavg {harness.loadavg()}", flush=True)
    runs = {"fp32": train_curve(images, val, amp=False, compile=False, seed=args.seed, **common)}
    runs["bf16"] = train_curve(images, val, amp=True, compile=False, seed=args.seed, **common)
    if not args.no_yardstick:
        runs["fp32_seed+1"] = train_curve(images, val, amp=False, compile=False, seed=args.seed + 1, **common)
    if args.compile:
        runs["fp32_compiled"] = train_curve(images, val, amp=False, compile=True, seed=args.seed, **common)
    for name, r in runs.items():
        print(f"  {name:>14}: {r['seconds']:6.1f} s ({r['images_per_s']:.1f} images/s incl. any compilation), "
              f"final smoothed L1+(1-SSIM) {smooth(r['shifted'], args.window)[-1]:.5f}, "
              f"val loss (fp32) {r['val_loss_fp32']:.5f}"
              + (f", val loss (bf16) {r['val_loss_own']:.5f}" if "val_loss_own" in r else ""), flush=True)
    result = {"bench": "bf16_loss_check", "recipe": args.recipe, "steps": args.steps, "batch": args.batch,
              "seed": args.seed, "window": args.window, "tolerance": args.tolerance,
              "train_images": len(images), "threads": args.threads, "loadavg": harness.loadavg(),
              "torch": torch.__version__, "cpu": harness.cpu_model(),
              "bf16_vs_fp32": compare(runs["fp32"], runs["bf16"], args.window),
              "val_loss": {k: round(r["val_loss_fp32"], 5) for k, r in runs.items()},
              "val_loss_bf16_model_in_bf16": round(runs["bf16"]["val_loss_own"], 5),
              "seconds": {k: round(r["seconds"], 1) for k, r in runs.items()}}
    if "fp32_seed+1" in runs:
        result["seed_yardstick"] = compare(runs["fp32"], runs["fp32_seed+1"], args.window)
    if "fp32_compiled" in runs:
        result["compiled_vs_eager"] = compare(runs["fp32"], runs["fp32_compiled"], args.window)
    worst = result["bf16_vs_fp32"]["shifted"]["max_rel"]
    result["bf16_within_tolerance"] = bool(worst <= args.tolerance)
    for name in ("bf16_vs_fp32", "seed_yardstick", "compiled_vs_eager"):
        if name in result:
            c = result[name]
            print(f"  {name}: max relative difference of the smoothed curves: L1+(1-SSIM) "
                  f"{c['shifted']['max_rel']:.2%} (step {c['shifted']['at_step']}; last window "
                  f"{c['shifted']['max_rel_last_window']:.2%}), L1 {c['l1']['max_rel']:.2%}, "
                  f"1-SSIM {c['dssim']['max_rel']:.2%}", flush=True)
    print(f"bf16 {'stays within' if result['bf16_within_tolerance'] else 'EXCEEDS'} the tolerance "
          f"{args.tolerance:.0%} (largest relative difference {worst:.2%})", flush=True)
    harness.emit(result, args.json_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
