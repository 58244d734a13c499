"""Training-step throughput of MeTAL, as a ratio to the matmul peak (benchmarks/harness.py).

One step = (augmentation, where the case has one) + forward + ReconstructionLoss
(L1 - SSIM) + backward + Adam step, on random images in [0, 1], batch 64,
128x128x3, the paper's sizes (D=128, H=4, L=1, decoder 1x512). Cases:

* ``paper``: squares_rows, paper masking, no augmentation (the paper recipe);
* ``strict``: squares_rows, strict masking, no augmentation;
* ``default``: the default recipe: squares_rows, strict masking, its
  ``model.hole`` and its synthetic-anomaly augmentation
  (``training.augment``, synthetic_prob 0.5) drawn from a torch.Generator, as
  the training loop does.

FLOPs per image: ``FlopCounterMode`` over one forward + loss + backward of a
batch (matmuls, attention, the SSIM filter's GEMMs; Adam and element-wise ops
not counted), divided by the batch size.

    .venv/bin/python benchmarks/bench_train_step.py [--cases paper,strict,default] [--steps 3] [--repeats 3]

``--configuration``, ``--masking``, ``--depth``, ``--embed-dim``, ``--decoder-hidden``,
``--decoder-layers``, ``--img-size``, ``--channels`` override every case's
model (the options of the earlier script; ``--masking strict`` alone is the
old ``--masking strict`` run). Prints one line per repeat and one RESULT line
per case.

``--amp bf16`` (``on``; the default ``auto`` is on for CUDA, off for CPU): the
network's forward pass under ``torch.autocast(dtype=torch.bfloat16)``, the loss
(L1 - SSIM, whose SSIM variances cancel badly in bf16) in fp32 on the
reconstruction cast back to fp32: the split ``training.amp: bf16`` uses.
``--compile [model|loss|both]`` (bare: both): ``nn.Module.compile()`` of the
network and/or the loss (TorchInductor; C++ code generation on CPU); the first
step, which compiles, is timed apart (``first_call_s``), then ``--warmup``
untimed steps, then the timed ones. FLOPs are counted on the eager modules
before compiling (the same work).

    nice -n 19 .venv/bin/python benchmarks/bench_train_step.py --cases strict,default --amp bf16 --compile
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import torch

import harness  # benchmarks/harness.py (this folder is on sys.path when run as a script)
from metal_pipeline.model import MeTAL, ReconstructionLoss
from metal_pipeline.recipes import recipe_value
from metal_pipeline.training.augment import Augmenter

FLOPS_COUNTED = "fwd+L1-SSIM+bwd (FlopCounterMode), Adam not counted"
CASES = {  # case -> (recipe the model and augmentation come from, masking override)
    "paper": ("paper", None),
    "strict": ("paper", "strict"),
    "default": ("default", None),
}


def add_model_arguments(ap: argparse.ArgumentParser) -> None:
    """The batch and model options (shared with ab_train_step.py)."""
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--img-size", type=int, default=128)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--configuration", default=None)
    ap.add_argument("--masking", default=None)
    ap.add_argument("--depth", type=int, default=None)
    ap.add_argument("--embed-dim", type=int, default=None)
    ap.add_argument("--decoder-hidden", type=int, default=None)
    ap.add_argument("--decoder-layers", type=int, default=None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="paper", help=f"comma-separated, from {list(CASES)}, or all")
    add_model_arguments(ap)
    ap.add_argument("--steps", type=int, default=3, help="training steps per timed repeat")
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table per case")
    harness.add_common_arguments(ap, repeats=3, warmup=2)
    harness.add_compile_argument(ap, ("model", "loss", "both"))
    args = ap.parse_args(argv)
    cases = harness.parse_cases(ap, args.cases, CASES)
    device, amp = harness.setup(args)
    for case in cases:
        run_case(case, args, device, amp)
    return 0


@dataclass
class Case:
    """One case's training step, built and already called once (``first_call_s``: the compilation, if any)."""

    step: Callable[[], None]
    flops_per_image: float
    cfg: object
    augment_cfg: dict
    nparams: int
    first_call_s: float


def build_case(case: str, args: argparse.Namespace, device: torch.device, amp: bool, compile: str) -> Case:
    """Model, loss, Adam and a fixed random batch of ``case``; ``amp``: the network under bf16 autocast and
    the loss in fp32 (as ``training.amp`` does); ``compile``: off, model, loss or both."""
    recipe, masking = CASES[case]
    cfg = harness.model_config(recipe, img_size=args.img_size, channels=args.channels,
                               configuration=args.configuration, masking=args.masking or masking,
                               depth=args.depth, embed_dim=args.embed_dim, decoder_hidden=args.decoder_hidden,
                               decoder_layers=args.decoder_layers)
    augment_cfg = recipe_value("training.augment", recipe, "bottle")
    augment = Augmenter(augment_cfg) if augment_cfg else None
    torch.manual_seed(0)
    model = MeTAL(cfg).to(device)
    loss_fn = ReconstructionLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(args.batch, args.channels, args.img_size, args.img_size).to(device)
    gen = torch.Generator().manual_seed(0)

    def forward_loss() -> torch.Tensor:
        inp, target = augment(x, gen) if augment is not None else (x, x)
        with harness.autocast(device, amp):
            recon = model(inp)
        loss, _ = loss_fn(recon.float(), target)  # the loss in fp32, as training.amp does
        return loss

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        forward_loss().backward()
        opt.step()

    flops = harness.count_flops(lambda: forward_loss().backward()) / args.batch
    opt.zero_grad(set_to_none=True)
    if compile in ("model", "both"):
        model.compile()
    if compile in ("loss", "both"):
        loss_fn.compile()
    first_call_s = harness.first_call_seconds(step, device)
    return Case(step, flops, cfg, augment_cfg or {}, sum(p.numel() for p in model.parameters()), first_call_s)


def run_case(case: str, args: argparse.Namespace, device: torch.device, amp: bool) -> dict:
    built = build_case(case, args, device, amp, args.compile)
    step, cfg, augment_cfg, nparams = built.step, built.cfg, built.augment_cfg, built.nparams

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(2):
                step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))

    print(f"train step, case {case}: {cfg.configuration}/{cfg.masking} hole={cfg.hole} L={cfg.depth} "
          f"decoder={cfg.decoder_layers}x{cfg.decoder_hidden} params={nparams / 1e6:.2f}M, batch {args.batch}, "
          f"augment {augment_cfg or 'none'}, amp {'bf16' if amp else 'off'}, compile {args.compile}, "
          f"first step {built.first_call_s} s", flush=True)
    return harness.run_benchmark(
        bench="train_step", step=step, items_per_step=args.batch, steps_per_repeat=args.steps,
        flops_per_item=built.flops_per_image, flops_counted=FLOPS_COUNTED,
        args=args, device=device, amp=amp,
        config={"case": case, "configuration": cfg.configuration, "masking": cfg.masking, "hole": cfg.hole,
                "depth": cfg.depth, "augment": augment_cfg, "batch": args.batch,
                "img": f"{args.img_size}x{args.img_size}x{args.channels}", "params_m": round(nparams / 1e6, 2),
                "compile": args.compile, "first_call_s": built.first_call_s},
    )


if __name__ == "__main__":
    raise SystemExit(main())
