"""Throughput of ``score_folder`` (the predict pipeline's work) end to end (benchmarks/harness.py).

Scores the shipped bottle test images (83 PNGs, 256x256, under
``data/01_raw/mvtec_ad/bottle/test``) end to end: listing, decoding + resizing
(ingestion's preprocessing), ``AnomalyDetector.score``, resizing the maps back
to 256 px, one float32 TIFF per image, and, with overlays on, one PNG overlay
per image, into a fresh output folder per call. Cases: ``--overlays on,off`` (off needs ``score_folder(...,
overlays=False)``; on code without it the case is skipped with a note).

Detector: ``--checkpoint PATH`` (a ``detector.pt``, e.g.
``data/06_models/<run>/scoring-<hash>/detector.pt``), else a freshly
initialised one with ``--recipe``'s settings (default: the default recipe;
speed does not depend on the weights). FLOPs per image: the network's forward
pass (``FlopCounterMode`` on one batch / batch size), as in ``bench_score.py``.

    .venv/bin/python benchmarks/bench_predict.py [--overlays on,off] [--recipe default] [--repeats 3] [--batch 32]
"""

from __future__ import annotations

import argparse
import inspect
import logging
import tempfile
from pathlib import Path

import torch

import harness  # benchmarks/harness.py (this folder is on sys.path when run as a script)
from metal_pipeline.inference.model_source import load_checkpoint
from metal_pipeline.inference.predict_folder import score_folder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default=harness.BOTTLE_TEST)
    ap.add_argument("--checkpoint", default=None, help="a detector.pt; default: a fresh --recipe detector")
    ap.add_argument("--recipe", default="default", choices=("default", "paper"))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--overlays", default="on,off", help="on, off or on,off")
    ap.add_argument("--io-workers", type=int, default=None,
                    help="score_folder's io_workers (decode/write threads); default: its own default")
    harness.add_common_arguments(ap, repeats=3, warmup=1)
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.overlays.split(",") if m.strip()]
    if not modes or set(modes) - {"on", "off"}:
        ap.error("--overlays: on, off or on,off")

    logging.basicConfig(level=logging.WARNING)
    device, amp = harness.setup(args)
    images = harness.bottle_images(folder=args.input)
    if args.checkpoint:
        detector, which = load_checkpoint(Path(args.checkpoint), device=str(device)), args.checkpoint
    else:
        detector = harness.recipe_detector(args.recipe, images[:16], device=str(device))
        which = f"fresh {args.recipe}-recipe detector"
    if amp:
        detector.amp = "bf16"  # scoring.amp: the network under bf16, maps and head in fp32
    net = detector.net.to(device).eval()
    batch = torch.from_numpy(images[:args.batch]).to(device=device, dtype=torch.float32).div_(255.0)
    # Counted with autograd on: FlopCounterMode's module tracker fails on the strict model under no_grad.
    flops = harness.count_flops(lambda: net(batch)) / len(batch)
    accepted = inspect.signature(score_folder).parameters
    has_switch = "overlays" in accepted
    io_kwargs = {"io_workers": args.io_workers} if args.io_workers is not None and "io_workers" in accepted else {}
    if args.io_workers is not None and not io_kwargs:
        print("--io-workers ignored: this score_folder has no io_workers")

    for mode in modes:
        if mode == "off" and not has_switch:
            print("predict, overlays off: skipped (this score_folder has no overlays switch)")
            continue
        kwargs = ({"overlays": mode == "on"} if has_switch else {}) | io_kwargs
        with tempfile.TemporaryDirectory() as tmp:
            calls = iter(range(10 ** 9))

            def step() -> None:  # a fresh output folder per call: first-run writes, no files replaced
                out = Path(tmp) / str(next(calls))
                table = score_folder(detector, args.input, out, batch_size=args.batch, device=str(device), **kwargs)
                assert len(table) == len(images) and (table["error"] == "").all()

            print(f"predict, overlays {mode}: {len(images)} images from {args.input}, batch {args.batch}, {which}, "
                  f"scoring {detector.scoring_settings()}", flush=True)
            harness.run_benchmark(
                bench="predict", step=step, items_per_step=len(images), flops_per_item=flops,
                flops_counted="network forward only (FlopCounterMode); decode, maps, smoothing, IO not counted",
                args=args, device=device, amp=amp,
                config={"case": f"overlays_{mode}", "detector": which, "scoring": {
                    k: detector.scoring_settings()[k] for k in ("map_kinds", "sigma", "normalise")},
                    "batch": args.batch, "images": len(images), "writes": "tiff+png" if mode == "on" else "tiff",
                    "io_workers": io_kwargs.get("io_workers", "default" if "io_workers" in accepted else None)},
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
