"""Shared benchmark harness: throughput as a ratio to the machine's matmul peak, measured in the same process.

Every benchmark in this folder (``bench_train_step.py``, ``bench_score.py``,
``bench_predict.py``) runs through :func:`run_benchmark`:

1. warm-up calls of the step (allocator, lazy imports, page cache); a
   benchmark with ``--compile`` first times one call apart
   (:func:`first_call_seconds`, ``first_call_s`` in the RESULT): it holds the
   compilation, which never enters the timed repeats;
2. the **matmul peak**, measured just before the timed part: the best
   GFLOP/s of square ``n x n`` matrix products (``2 n^3`` FLOPs each; n = 1024
   on CPU, 8192 on CUDA) over short windows, in fp32 and, where the hardware
   has native bf16 (AVX512-BF16/AMX on CPU, ``torch.cuda.is_bf16_supported()``),
   in bf16. On CUDA, fp32 means true fp32 (TF32 off, torch's default);
3. the timed repeats (wall clock; the best and the median are reported), and
   a second fp32 peak right after them (``peak_fp32_after``), so a peak that
   moved during the run shows;
4. per repeat one line; then ``images/s``, ``achieved GFLOP/s = images/s x
   FLOPs per image``, the **ratio to the fp32 peak** (and to the bf16 peak
   where measured), the load average, the thread counts, the CPU share
   (process CPU seconds / (wall seconds x torch threads): below 1 when other
   jobs take the cores), images per CPU-second per thread (``images_per_cpu_s``:
   items / (process CPU seconds / torch threads), what the step would reach on
   undisturbed cores, a contention-insensitive cross-check that also counts
   spinning and helper threads), and one machine-readable line::

       RESULT {"bench": ..., "images_per_s": ..., "ratio_fp32_peak": ..., ...}

   (``RESULT`` then one JSON object; :func:`parse_result` reads it back).

FLOPs per image come from ``torch.utils.flop_counter.FlopCounterMode`` on one
call of a documented function (see each benchmark): it counts matrix products,
convolutions and attention (2 FLOPs per multiply-add, a backward pass as the
products it runs), not element-wise ops, so the figure is the model's useful
work, not everything the CPU does. The ratio is therefore an MFU-style
figure: comparable between noisy runs on the same machine, and meaningful
across machines as "how close to the matmul roofline".

Not tests: other processes on the same cores lower every figure; the ratio
to a peak measured in the same process, minutes apart at most, is what makes
two runs on a shared machine comparable.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

RESULT_PREFIX = "RESULT "


# ---------------------------------------------------------------- machine facts
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        try:
            return " ".join(f"{v:.2f}" for v in os.getloadavg())
        except OSError:
            return "n/a"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device on this machine")
    return device


def bf16_supported(device: torch.device) -> bool:
    """Native bf16 matrix products (emulated bf16 on older CPUs would only measure the emulation)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def machine(device: torch.device) -> dict[str, Any]:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    info = {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpus_allowed": affinity,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }
    return info


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------- peak and FLOPs
def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, seconds: float = 0.6,
                n: int | None = None) -> float:
    """Best GFLOP/s of ``n x n @ n x n`` products over windows of ~0.1 s, for ``seconds`` in all."""
    n = n or (8192 if device.type == "cuda" else 1024)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    flops = 2.0 * n ** 3
    torch.matmul(a, b)  # first call: kernels, allocator
    synchronize(device)
    t0 = time.perf_counter()
    torch.matmul(a, b)
    synchronize(device)
    per_call = max(time.perf_counter() - t0, 1e-6)
    calls = max(1, int(0.1 / per_call))
    best, end = 0.0, time.perf_counter() + seconds
    while True:
        t = time.perf_counter()
        for _ in range(calls):
            torch.matmul(a, b)
        synchronize(device)
        best = max(best, calls * flops / (time.perf_counter() - t) / 1e9)
        if time.perf_counter() >= end:
            return best


def peaks(device: torch.device, seconds: float) -> dict[str, float | None]:
    out: dict[str, float | None] = {"peak_fp32_gflops": round(matmul_peak(device, torch.float32, seconds), 1)}
    out["peak_bf16_gflops"] = (round(matmul_peak(device, torch.bfloat16, seconds), 1)
                               if bf16_supported(device) else None)
    return out


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of ``fn`` as ``FlopCounterMode`` counts them (matmul, conv, attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


# ---------------------------------------------------------------- the run
def parse_cases(ap: argparse.ArgumentParser, text: str, known) -> list[str]:
    """``--cases``: comma-separated names from ``known``, or ``all``; an unknown one is a usage error."""
    cases = list(known) if text == "all" else [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in cases if c not in known]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; known: {list(known)}")
    return cases


def add_common_arguments(ap: argparse.ArgumentParser, *, repeats: int = 3, warmup: int = 1) -> None:
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    ap.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    ap.add_argument("--amp", choices=("auto", "on", "bf16", "off"), default="auto",
                    help="bf16 autocast where it applies (bf16 = on); auto = on for CUDA, off for CPU")
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--warmup", type=int, default=warmup, help="untimed calls before the peak and the timing")
    ap.add_argument("--peak-seconds", type=float, default=0.6, help="time spent measuring each matmul peak")
    ap.add_argument("--json-out", default=None, help="also append the RESULT object to this JSONL file")
    ap.add_argument("--label", default=None, help="a free-text label stored in the RESULT (e.g. before, after)")


def setup(args: argparse.Namespace) -> tuple[torch.device, bool]:
    """Threads, device and whether AMP (bf16 autocast) is on."""
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    amp = args.amp in ("on", "bf16") or (args.amp == "auto" and device.type == "cuda")
    if amp and not bf16_supported(device):
        raise SystemExit(f"--amp {args.amp}: {device} has no native bf16")
    return device, amp


def autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def add_compile_argument(ap: argparse.ArgumentParser, targets: tuple[str, ...]) -> None:
    """``--compile [TARGET]``: ``torch.compile`` those parts (bare ``--compile`` = the last, widest target)."""
    ap.add_argument("--compile", nargs="?", choices=("off", *targets), default="off", const=targets[-1],
                    help=f"torch.compile {'/'.join(targets)} (bare --compile = {targets[-1]}); the compilation "
                         "happens in the first, separately timed call and is not counted in the timed steps")


def first_call_seconds(step: Callable[[], Any], device: torch.device) -> float:
    """Wall time of the first call of ``step``: with ``torch.compile`` it holds the compilation (tracing,
    code generation, the C++ build on CPU), which the harness reports apart from the timed steps."""
    synchronize(device)
    t0 = time.perf_counter()
    step()
    synchronize(device)
    return round(time.perf_counter() - t0, 2)


def run_benchmark(
    *,
    bench: str,
    step: Callable[[], Any],
    items_per_step: int,
    flops_per_item: float,
    flops_counted: str,
    args: argparse.Namespace,
    device: torch.device,
    amp: bool,
    steps_per_repeat: int = 1,
    config: dict[str, Any] | None = None,
    extra: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Warm up, measure the peak, time ``repeats`` x ``steps_per_repeat`` calls of ``step``; print and return the RESULT."""
    for _ in range(args.warmup):
        step()
    synchronize(device)
    peak = peaks(device, args.peak_seconds)
    rates, cpu_rates, shares = [], [], []
    threads = torch.get_num_threads()
    for rep in range(args.repeats):
        synchronize(device)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps_per_repeat):
            step()
        synchronize(device)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        items = items_per_step * steps_per_repeat
        rates.append(items / dt)
        cpu_rates.append(items / max(dc / threads, 1e-9))
        shares.append(dc / (dt * threads))
        print(f"  repeat {rep + 1}/{args.repeats}: {items / dt:8.1f} images/s ({dt / items * 1000:.2f} ms/image, "
              f"CPU share {shares[-1]:.2f})", flush=True)
    peak_after = round(matmul_peak(device, torch.float32, args.peak_seconds), 1)
    best = max(rates)
    gflops = best * flops_per_item / 1e9
    result: dict[str, Any] = {
        "bench": bench,
        **({"label": args.label} if getattr(args, "label", None) else {}),
        **(config or {}),
        "images_per_s": round(best, 1),
        "images_per_s_median": round(statistics.median(rates), 1),
        "mflop_per_image": round(flops_per_item / 1e6, 1),
        "flops_counted": flops_counted,
        "achieved_gflops": round(gflops, 2),
        **peak,
        "peak_fp32_after": peak_after,
        "ratio_fp32_peak": round(gflops / peak["peak_fp32_gflops"], 3),
        "ratio_bf16_peak": (round(gflops / peak["peak_bf16_gflops"], 3) if peak["peak_bf16_gflops"] else None),
        "amp_bf16": amp,
        "images_per_cpu_s": round(max(cpu_rates), 1),
        "cpu_share": round(max(shares), 2),
        "repeats": args.repeats,
        "loadavg": loadavg(),
        **machine(device),
        **(extra() if extra else {}),
    }
    print(f"{bench}: best {best:.1f} images/s (median {result['images_per_s_median']}), "
          f"{result['mflop_per_image']} MFLOP/image ({flops_counted}) -> {gflops:.1f} GFLOP/s = "
          f"{result['ratio_fp32_peak']:.1%} of the fp32 matmul peak {peak['peak_fp32_gflops']} GFLOP/s "
          f"(after: {peak_after})"
          + (f", {result['ratio_bf16_peak']:.1%} of the bf16 peak {peak['peak_bf16_gflops']}"
             if peak["peak_bf16_gflops"] else "")
          + f" | {result['images_per_cpu_s']} images per CPU-second/thread, CPU share {result['cpu_share']}"
          + f" | loadavg {result['loadavg']}, torch threads {threads}, {result['logical_cpus']} logical CPUs")
    emit(result, args.json_out)
    return result


def emit(result: dict[str, Any], json_out: str | None = None) -> None:
    line = json.dumps(result, separators=(",", ":"))
    print(RESULT_PREFIX + line, flush=True)
    if json_out:
        with open(json_out, "a") as fh:
            fh.write(line + "\n")


def parse_result(line: str) -> dict[str, Any]:
    """The object of a ``RESULT {...}`` line."""
    if not line.startswith(RESULT_PREFIX):
        raise ValueError(f"not a RESULT line: {line[:40]!r}")
    return json.loads(line[len(RESULT_PREFIX):])


# ---------------------------------------------------------------- shared fixtures of the benchmarks
BOTTLE_TEST = "data/01_raw/mvtec_ad/bottle/test"


def model_config(recipe: str, *, img_size: int = 128, channels: int = 3, **overrides: Any):
    """The MeTALConfig a recipe trains on bottle (paper sizes: D=128, H=4, L=1, decoder 1x512)."""
    from metal_pipeline.model import MeTALConfig
    from metal_pipeline.recipes import recipe_value

    kw = dict(img_size=img_size, patch_size=16, channels=channels, embed_dim=128, num_heads=4, depth=1,
              mlp_ratio=4.0, decoder_hidden=512, decoder_layers=1,
              configuration=recipe_value("config", recipe, "bottle"),
              masking=recipe_value("masking", recipe, "bottle"), hole=recipe_value("model.hole", recipe, "bottle"))
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return MeTALConfig(**kw)


@functools.lru_cache(maxsize=1)
def _base_head_params() -> dict:
    from kedro.config import OmegaConfigLoader

    from metal_pipeline.settings import CONFIG_LOADER_ARGS

    conf = Path(__file__).resolve().parents[1] / "conf"
    args = {**CONFIG_LOADER_ARGS, "default_run_env": "base"}  # conf/base only: not this machine's local overrides
    params = OmegaConfigLoader(str(conf), runtime_params={}, **args)["parameters"]
    return dict(params["scoring"]["seg_head"])


def configured_head_params(**overrides) -> dict:
    """The project's ``scoring.seg_head`` parameters as conf/base sets them, resolved as ``kedro run``
    resolves them (``overrides`` on top), so a benchmark builds or trains the head the pipeline would,
    not the dataclass defaults. The configuration is loaded once a process; each call gets its own copy."""
    return {**copy.deepcopy(_base_head_params()), **overrides}


def recipe_detector(recipe: str, normal_images, *, seed: int = 0, device: str = "cpu"):
    """A freshly initialised detector with ``recipe``'s scoring settings for bottle (speed does not depend
    on the weights); a normaliser, where the recipe has one, fitted on ``normal_images``; a threshold at
    the median score of those images, so decisions and overlay colours are realistic."""
    import numpy as np

    from metal_pipeline.inference.detector import AnomalyDetector
    from metal_pipeline.model import MeTAL
    from metal_pipeline.recipes import recipe_value

    torch.manual_seed(seed)
    net = MeTAL(model_config(recipe))

    def rv(key: str):
        return recipe_value(f"scoring.{key}", recipe, "bottle")

    head = None
    if "seg" in list(rv("map_kinds")) + list(rv("image_kinds") or []):
        from metal_pipeline.model.seg_head import SegHead
        from metal_pipeline.training.seg_head import seg_head_configs

        _, head_config = seg_head_configs(configured_head_params(), channels=net.config.channels, seed=seed)
        head = SegHead(head_config)  # the configured size; untrained
    det = AnomalyDetector(net, sigma=rv("sigma"), reduction=rv("reduction"), map_kinds=rv("map_kinds"),
                          offsets=rv("offsets"), normalise=rv("normalise"), region=rv("region"),
                          region_erode=rv("region_erode"), seg_head=head, image_kinds=rv("image_kinds"))
    scores = det.fit_normaliser(normal_images, device=device)
    det.threshold = float(np.median(scores))
    return det


def bottle_images(size: int = 128, channels: int = 3, folder: str = BOTTLE_TEST):
    """uint8 ``(83, C, size, size)``: the shipped bottle test images, preprocessed as ingestion does."""
    from pathlib import Path

    import numpy as np

    from metal_pipeline.data.images import load_image
    from metal_pipeline.inference.folder_listing import list_image_files

    files = list_image_files(folder)
    if not files:
        raise SystemExit(f"no images under {folder}")
    return np.stack([load_image(Path(folder) / f, size, channels) for f in files])
