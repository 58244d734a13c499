"""Interleaved A/B of the training step: fp32 eager against bf16 autocast and torch.compile, in one process.

Separate benchmark processes on a shared machine see different loads (the
matmul peak moves by 2x within minutes on the 2-core box), so their
images/s cannot be compared reliably. Here the variants of one case
(``bench_train_step.build_case``: same model, batch, loss and Adam) are built
and compiled first, then timed round-robin: every round times ``--steps``
steps of each variant back to back, in a rotated order, so each variant sees
the same load. Reported per variant: the median images/s over the rounds, the
**speedup over fp32 eager** (the median over rounds of the ratio measured
within the round), images per CPU-second, the ratio to the fp32 matmul peak
measured in the same process (before the rounds), the first call's seconds
(the compilation), and the load average; one RESULT line per variant
(``bench: train_step_ab``).

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ab_train_step.py --cases strict,default \\
        --threads 1 --rounds 5 --steps 2 --json-out benchmarks/results/throughput_cpu_2026-11-29.jsonl
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import bench_train_step
import harness  # benchmarks/harness.py (this folder is on sys.path when run as a script)

VARIANTS = {  # name -> (bf16 autocast, compile target)
    "fp32": (False, "off"),
    "bf16": (True, "off"),
    "compile": (False, "both"),
    "bf16+compile": (True, "both"),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="strict", help=f"comma-separated, from {list(bench_train_step.CASES)}, or all")
    ap.add_argument("--variants", default="all", help=f"comma-separated, from {list(VARIANTS)} (fp32 always runs)")
    bench_train_step.add_model_arguments(ap)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=2, help="steps per variant per round")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (CPU)")
    ap.add_argument("--peak-seconds", type=float, default=0.6)
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--label", default=None)
    args = ap.parse_args(argv)
    cases = harness.parse_cases(ap, args.cases, bench_train_step.CASES)
    variants = harness.parse_cases(ap, args.variants, VARIANTS)
    variants = ["fp32", *[v for v in variants if v != "fp32"]]
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    if any(VARIANTS[v][0] for v in variants) and not harness.bf16_supported(device):
        raise SystemExit("this CPU has no native bf16: drop the bf16 variants (--variants fp32,compile)")
    for case in cases:
        run_case(case, variants, args, device)
    return 0


def run_case(case: str, variants: list[str], args: argparse.Namespace, device: torch.device) -> list[dict]:
    built = {}
    for name in variants:
        amp, compile = VARIANTS[name]
        built[name] = bench_train_step.build_case(case, args, device, amp, compile)
        built[name].step()  # one more untimed call (a recompile, if any, happens here)
        print(f"  {case}/{name}: first step {built[name].first_call_s} s", flush=True)
    peak = harness.peaks(device, args.peak_seconds)
    rates: dict[str, list[float]] = {n: [] for n in variants}
    cpu_rates: dict[str, list[float]] = {n: [] for n in variants}
    for rnd in range(args.rounds):
        order = variants[rnd % len(variants):] + variants[:rnd % len(variants)]
        for name in order:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                built[name].step()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            rates[name].append(args.steps * args.batch / dt)
            cpu_rates[name].append(args.steps * args.batch / max(dc / args.threads, 1e-9))
        print(f"  round {rnd + 1}/{args.rounds}: " + ", ".join(f"{n} {rates[n][-1]:.1f}" for n in variants)
              + " images/s", flush=True)
    peak_after = round(harness.matmul_peak(device, torch.float32, args.peak_seconds), 1)
    results = []
    for name in variants:
        amp, compile = VARIANTS[name]
        median = statistics.median(rates[name])
        speedup = statistics.median(r / f for r, f in zip(rates[name], rates["fp32"]))
        gflops = median * built[name].flops_per_image / 1e9
        cfg = built[name].cfg
        result = {
            "bench": "train_step_ab", **({"label": args.label} if args.label else {}),
            "case": case, "variant": name, "amp_bf16": amp, "compile": compile,
            "configuration": cfg.configuration, "masking": cfg.masking, "augment": built[name].augment_cfg,
            "batch": args.batch, "img": f"{args.img_size}x{args.img_size}x{args.channels}",
            "images_per_s_median": round(median, 1), "images_per_s_best": round(max(rates[name]), 1),
            "speedup_vs_fp32": round(speedup, 3),
            "speedup_vs_fp32_rounds": [round(r / f, 3) for r, f in zip(rates[name], rates["fp32"])],
            "images_per_cpu_s_median": round(statistics.median(cpu_rates[name]), 1),
            "mflop_per_image": round(built[name].flops_per_image / 1e6, 1),
            "flops_counted": bench_train_step.FLOPS_COUNTED, "achieved_gflops": round(gflops, 2), **peak,
            "peak_fp32_after": peak_after, "ratio_fp32_peak": round(gflops / peak["peak_fp32_gflops"], 3),
            "first_call_s": built[name].first_call_s, "rounds": args.rounds, "steps_per_round": args.steps,
            "loadavg": harness.loadavg(), **harness.machine(device),
        }
        print(f"train_step_ab {case}/{name}: median {median:.1f} images/s, {speedup:.2f}x fp32 eager "
              f"(per round {result['speedup_vs_fp32_rounds']}), {result['ratio_fp32_peak']:.1%} of the fp32 peak "
              f"{peak['peak_fp32_gflops']} GFLOP/s (after: {peak_after}), first step {built[name].first_call_s} s, "
              f"loadavg {result['loadavg']}", flush=True)
        harness.emit(result, args.json_out)
        results.append(result)
    return results


if __name__ == "__main__":
    raise SystemExit(main())
