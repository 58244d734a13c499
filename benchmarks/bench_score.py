"""Inference throughput of ``AnomalyDetector.score`` on preprocessed 128-px batches (benchmarks/harness.py).

Timed: ``detector.score(images, batch_size)``: the network, the anomaly maps,
Gaussian smoothing, normalisation (where the recipe has it) and the image
scores, on the 83 shipped bottle test images already decoded and resized to
128 px (``load_image``, as ingestion does), tiled to ``--images``. Cases:

* ``paper``: the paper recipe's detector (squares_rows, paper masking; l2 map,
  sigma 4, max);
* ``default``: the default recipe's (squares_rows, strict masking; heatmap =
  the discriminative head's probability, image score = max of L2 + MSGMS
  normalised per pixel, sigma 0; the head untrained, of the default size);
* ``net``: the paper recipe's network forward pass alone (batches of
  ``--batch`` under ``torch.inference_mode``), to separate the model from the
  map and smoothing work.

Detectors are freshly initialised (speed does not depend on the weights); a
normaliser is fitted on 16 of the images. FLOPs per image: ``FlopCounterMode``
over the network's forward pass on one batch, divided by the batch: the model
FLOPs, the same count before and after any change to maps or smoothing (those
are not counted), so ratios compare like with like.

    .venv/bin/python benchmarks/bench_score.py [--cases paper,default,net] [--batch 32] [--images 166]

On CUDA the scoring runs under bf16 autocast (``--amp auto``; ``--amp bf16``
forces it on CPU): the detector's ``scoring.amp: bf16``, i.e. the network in
bf16, maps, the head and smoothing in fp32.
``--compile`` (``net``): ``nn.Module.compile()`` of the network (TorchInductor);
the first call, which compiles (and recompiles once for the smaller last
batch), is timed apart as ``first_call_s``.

    nice -n 19 .venv/bin/python benchmarks/bench_score.py --cases default --amp bf16 --compile
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import harness  # benchmarks/harness.py (this folder is on sys.path when run as a script)

CASES = ("paper", "default", "net")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="paper,default", help=f"comma-separated, from {list(CASES)}, or all")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--images", type=int, default=166, help="images per call (the 83 bottle test images, tiled)")
    ap.add_argument("--input", default=harness.BOTTLE_TEST)
    ap.add_argument("--profile", action="store_true", help="print a cProfile table per case")
    harness.add_common_arguments(ap, repeats=5, warmup=1)
    harness.add_compile_argument(ap, ("net",))
    args = ap.parse_args(argv)
    cases = harness.parse_cases(ap, args.cases, CASES)
    device, amp = harness.setup(args)
    base = harness.bottle_images(folder=args.input)
    images = np.concatenate([base] * -(-args.images // len(base)))[:args.images]
    for case in cases:
        run_case(case, images, args, device, amp)
    return 0


def run_case(case: str, images: np.ndarray, args: argparse.Namespace, device: torch.device, amp: bool) -> dict:
    recipe = "paper" if case == "net" else case
    detector = harness.recipe_detector(recipe, images[:16], device=str(device))
    net = detector.net.to(device).eval()
    batch = torch.from_numpy(images[:args.batch]).to(device=device, dtype=torch.float32).div_(255.0)
    # Counted with autograd on: FlopCounterMode's module tracker fails on the strict model under no_grad.
    flops = harness.count_flops(lambda: net(batch)) / len(batch)
    head = getattr(detector, "seg_head", None)
    if head is not None and case != "net":  # the discriminative head is model work too
        recon = net(batch).detach()
        flops += harness.count_flops(lambda: head(batch, recon)) / len(batch)

    if case == "net":
        x = torch.from_numpy(images).to(device=device, dtype=torch.float32).div_(255.0)

        def step() -> None:
            with torch.inference_mode(), harness.autocast(device, amp):
                for lo in range(0, len(x), args.batch):
                    net(x[lo:lo + args.batch])
    else:
        detector.amp = "bf16" if amp else "off"  # scoring.amp: the network under bf16, maps and head in fp32

        def step() -> None:
            detector.score(images, batch_size=args.batch, device=str(device))

    if args.compile == "net":
        net.compile()
    first_call_s = harness.first_call_seconds(step, device)

    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(step)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(20)

    settings = detector.scoring_settings()
    print(f"score, case {case}: {net.config.configuration}/{net.config.masking}, "
          f"{'network only' if case == 'net' else settings}, {len(images)} images, batch {args.batch}, "
          f"amp {'bf16' if amp else 'off'}, compile {args.compile}, first call {first_call_s} s", flush=True)
    return harness.run_benchmark(
        bench="score", step=step, items_per_step=len(images), flops_per_item=flops,
        flops_counted="network (and discriminative head) forward only (FlopCounterMode); maps, smoothing, "
                      "scores not counted",
        args=args, device=device, amp=amp,
        config={"case": case, "configuration": net.config.configuration, "masking": net.config.masking,
                "scoring": "network only" if case == "net" else {k: settings[k] for k in
                                                                 ("map_kinds", "image_kinds", "sigma", "normalise",
                                                                  "reduction")},
                "batch": args.batch, "images": len(images), "img": f"{detector.img_size}px",
                "compile": args.compile, "first_call_s": first_call_s},
    )


if __name__ == "__main__":
    raise SystemExit(main())
