"""Training-step throughput of the discriminative head, as a ratio to the matmul peak (benchmarks/harness.py).

One step = the head's forward (under bf16 autocast with ``--amp bf16``, as
``scoring.seg_head.amp: bf16`` trains it) + the focal loss in fp32 + backward +
Adam, on a batch of 16 random 128-px images and reconstructions with ~10 %
anomalous target pixels: what :func:`metal_pipeline.training.seg_head.train_seg_head`
does per step after the frozen network's reconstruction (which costs about a
tenth of a width-16 step and is not timed here).

    .venv/bin/python benchmarks/bench_seg_head_step.py --widths 8,16 [--amp bf16] [--json-out F]

FLOPs per image: ``FlopCounterMode`` over one forward + loss + backward (the
convolutions), divided by the batch size. Run the fp32 and the bf16 variants
one after the other on a quiet machine and compare their ratios to the peak
each measured in its own process.
"""

from __future__ import annotations

import argparse

import harness
import torch


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", default="8,16", help="head widths, comma-separated")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--img-size", type=int, default=128)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5, help="training steps per timed repeat")
    harness.add_common_arguments(ap, warmup=2)
    args = ap.parse_args(argv)
    device, amp = harness.setup(args)

    from metal_pipeline.model.seg_head import SegHead, SegHeadConfig
    from metal_pipeline.training.seg_head import focal_loss

    gen = torch.Generator().manual_seed(0)
    shape = (args.batch, args.channels, args.img_size, args.img_size)
    x = torch.rand(shape, generator=gen).to(device)
    recon = torch.rand(shape, generator=gen).to(device)
    target = (torch.rand((args.batch, args.img_size, args.img_size), generator=gen) > 0.9).float().to(device)
    for width in [int(w) for w in args.widths.split(",")]:
        torch.manual_seed(0)
        head = SegHead(SegHeadConfig(channels=args.channels, width=width)).to(device)
        opt = torch.optim.Adam(head.parameters(), lr=1e-3)

        def step() -> None:
            with harness.autocast(device, amp):
                logits = head(x, recon)
            loss = focal_loss(logits.float(), target, 2.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        def forward_backward() -> None:
            focal_loss(head(x, recon).float(), target, 2.0).backward()

        flops = harness.count_flops(forward_backward) / args.batch
        params = sum(p.numel() for p in head.parameters())
        print(f"seg head step, width {width}: {params / 1e3:.0f}k parameters, batch {args.batch}, "
              f"{args.img_size} px, amp {'bf16' if amp else 'off'}", flush=True)
        harness.run_benchmark(
            bench="seg_head_step", step=step, items_per_step=args.batch, flops_per_item=flops,
            flops_counted="head fwd+focal+bwd (FlopCounterMode), Adam not counted", args=args, device=device,
            amp=amp, steps_per_repeat=args.steps,
            config={"width": width, "params_k": round(params / 1e3), "batch": args.batch,
                    "img": f"{args.img_size}x{args.img_size}x{args.channels}"})


if __name__ == "__main__":
    main()
