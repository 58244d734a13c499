"""Training-step throughput of MeTAL on CPU.

One step = forward + ReconstructionLoss (L1 - SSIM) + backward + Adam step, on
random images in [0, 1]. Defaults: batch 64, 128x128x3, ``squares_rows``,
``paper`` masking, paper hyper-parameters (D=128, H=4, L=1), 2 threads.

    .venv/bin/python benchmarks/bench_train_step.py [--threads 2] [--repeats 3]

Prints one line per repeat and a final line with the best figure and the
machine (CPU model, torch version, threads). Not a test: other processes on
the same cores lower the figure, so take the best of a few repeats.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from metal_pipeline.model import MeTAL, MeTALConfig, ReconstructionLoss

from machine import cpu_model  # benchmarks/machine.py (this folder is on sys.path when run as a script)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--img-size", type=int, default=128)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--configuration", default="squares_rows")
    ap.add_argument("--masking", default="paper")
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--decoder-hidden", type=int, default=None)
    ap.add_argument("--decoder-layers", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    kw = {}
    if args.decoder_hidden is not None:
        kw["decoder_hidden"] = args.decoder_hidden
    if args.decoder_layers is not None:
        kw["decoder_layers"] = args.decoder_layers
    cfg = MeTALConfig(img_size=args.img_size, patch_size=16, channels=args.channels, embed_dim=128,
                      num_heads=4, depth=args.depth, mlp_ratio=4.0,
                      configuration=args.configuration, masking=args.masking, **kw)
    model = MeTAL(cfg)
    loss_fn = ReconstructionLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(args.batch, args.channels, args.img_size, args.img_size)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_fn(model(x), x)
        loss.backward()
        opt.step()
        return loss.detach().item()

    for _ in range(args.warmup):
        step()

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(3):
                step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))

    best = best_cpu = 0.0
    for rep in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        ips = args.batch * args.steps / dt
        # images per (CPU-seconds / threads): what the step would reach with the
        # threads running undisturbed; a contention-insensitive cross-check only.
        ips_cpu = args.batch * args.steps / (dc / args.threads)
        best, best_cpu = max(best, ips), max(best_cpu, ips_cpu)
        print(f"repeat {rep + 1}/{args.repeats}: {ips:.1f} images/s wall ({dt / args.steps * 1000:.0f} ms/step), "
              f"{ips_cpu:.1f} images/s per CPU time/threads", flush=True)

    nparams = sum(p.numel() for p in model.parameters())
    try:
        load = " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        load = "n/a"
    print(
        f"RESULT best {best:.1f} images/s (wall; CPU-time based {best_cpu:.1f}) | train step (fwd+L1-SSIM+bwd+Adam) batch {args.batch} "
        f"{args.img_size}x{args.img_size}x{args.channels} {cfg.configuration}/{cfg.masking} "
        f"D={cfg.embed_dim} H={cfg.num_heads} L={cfg.depth} decoder={cfg.decoder_layers}x{cfg.decoder_hidden} "
        f"params={nparams / 1e6:.2f}M | {cpu_model()}, {os.cpu_count()} logical CPUs, "
        f"torch {torch.__version__}, threads={torch.get_num_threads()}, loadavg {load}, "
        f"python {sys.version.split()[0]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
