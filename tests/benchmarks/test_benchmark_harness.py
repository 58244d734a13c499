"""benchmarks/harness.py and the benchmark scripts' command lines, at toy sizes (seconds, not figures)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import harness  # noqa: E402

FAST = ["--peak-seconds", "0.05", "--repeats", "1", "--warmup", "0", "--device", "cpu", "--threads", "1"]


def _results(out: str) -> list[dict]:
    return [harness.parse_result(line) for line in out.splitlines() if line.startswith(harness.RESULT_PREFIX)]


def test_flop_count_of_a_linear_layer_is_two_per_multiply_add():
    layer = torch.nn.Linear(8, 4)
    x = torch.rand(3, 8)
    assert harness.count_flops(lambda: layer(x)) == 2 * 3 * 8 * 4


def test_matmul_peak_is_positive():
    assert harness.matmul_peak(torch.device("cpu"), torch.float32, seconds=0.01, n=64) > 0


def test_run_benchmark_prints_one_result_line_with_the_ratio(capsys):
    import argparse

    ap = argparse.ArgumentParser()
    harness.add_common_arguments(ap)
    args = ap.parse_args(FAST)
    device, amp = harness.setup(args)
    a = torch.rand(64, 64)
    result = harness.run_benchmark(bench="toy", step=lambda: a @ a, items_per_step=1, flops_per_item=2 * 64 ** 3,
                                   flops_counted="one 64x64 product", args=args, device=device, amp=amp)
    [parsed] = _results(capsys.readouterr().out)
    assert parsed == result
    for key in ("images_per_s", "achieved_gflops", "peak_fp32_gflops", "ratio_fp32_peak", "loadavg",
                "torch_threads", "logical_cpus", "cpu_share", "images_per_cpu_s"):
        assert key in parsed
    # the ratio is printed to 3 decimals: on a loaded machine it can be ~0.01, where that rounding alone is 5 %
    assert parsed["ratio_fp32_peak"] == pytest.approx(parsed["achieved_gflops"] / parsed["peak_fp32_gflops"],
                                                      rel=0.01, abs=5e-4)
    assert parsed["amp_bf16"] is False and parsed["device"] == "cpu"


def test_train_step_benchmark_runs_each_case(capsys):
    import bench_train_step

    bench_train_step.main(["--cases", "all", "--batch", "2", "--img-size", "32", "--steps", "1", *FAST])
    results = _results(capsys.readouterr().out)
    assert [r["case"] for r in results] == ["paper", "strict", "default"]
    assert [r["masking"] for r in results] == ["paper", "strict", "strict"]
    assert results[2]["augment"] == {"synthetic_prob": 0.5}
    assert all(r["mflop_per_image"] > 0 for r in results)


def test_score_benchmark_runs_each_case(capsys):
    import bench_score

    bench_score.main(["--cases", "all", "--images", "16", "--batch", "8", *FAST])
    results = _results(capsys.readouterr().out)
    assert [r["case"] for r in results] == ["paper", "default", "net"]
    from metal_pipeline.recipes import recipe_value

    assert results[1]["scoring"]["map_kinds"] == recipe_value("scoring.map_kinds", "default", "bottle")
    assert results[1]["scoring"]["image_kinds"] == recipe_value("scoring.image_kinds", "default", "bottle")
    assert results[1]["mflop_per_image"] > results[0]["mflop_per_image"]  # the head counts as model work


def test_seg_head_step_benchmark_runs_each_width(capsys):
    import bench_seg_head_step

    bench_seg_head_step.main(["--widths", "2,4", "--batch", "2", "--img-size", "32", "--steps", "1", *FAST])
    results = _results(capsys.readouterr().out)
    assert [r["width"] for r in results] == [2, 4] and results[1]["params_k"] >= results[0]["params_k"]
    assert results[1]["mflop_per_image"] > results[0]["mflop_per_image"] > 0


def test_evaluate_benchmark_times_every_metric_at_the_asked_resolution(capsys, tmp_path):
    import bench_evaluate
    import numpy as np
    from synthetic import make_image_set

    test = make_image_set(8, size=32, anomalous=4)
    (tmp_path / "split").mkdir()
    test.save(tmp_path / "split" / "test.npz")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "scores.npz", maps=rng.random((8, 32, 32)).astype(np.float32), scores=rng.random(8))
    bench_evaluate.main(["--scores", str(tmp_path / "scores.npz"), "--split", str(tmp_path / "split"),
                         "--size", "64", "--images", "10", "--repeats", "1"])
    [result] = _results(capsys.readouterr().out)
    assert result["images"] == 10 and result["mask_px"] == 64 and result["seconds"] > 0
    assert {"pauroc_0.3", "pauroc_0.3_mcclish", "pixel_auroc", "au_pro_0.3", "image_auroc"} <= set(result["overall"])


@pytest.mark.skipif(not harness.bf16_supported(torch.device("cpu")), reason="the CPU has no native bf16")
def test_train_step_benchmark_runs_under_cpu_bf16_autocast(capsys):
    import bench_train_step

    bench_train_step.main(["--cases", "strict", "--batch", "2", "--img-size", "32", "--steps", "1", "--amp", "bf16",
                           *FAST])
    [result] = _results(capsys.readouterr().out)
    assert result["amp_bf16"] is True and result["compile"] == "off" and result["first_call_s"] > 0


@pytest.mark.skipif(not harness.bf16_supported(torch.device("cpu")), reason="the CPU has no native bf16")
def test_ab_train_step_reports_each_variant_against_fp32(capsys):
    import ab_train_step

    ab_train_step.main(["--cases", "strict", "--variants", "bf16", "--batch", "2", "--img-size", "32",
                        "--rounds", "2", "--steps", "1", "--peak-seconds", "0.05"])
    results = _results(capsys.readouterr().out)
    assert [r["variant"] for r in results] == ["fp32", "bf16"]
    assert results[0]["speedup_vs_fp32"] == 1.0 and results[1]["speedup_vs_fp32"] > 0
    assert len(results[1]["speedup_vs_fp32_rounds"]) == 2 and results[1]["amp_bf16"] is True


@pytest.mark.skipif(not harness.bf16_supported(torch.device("cpu")), reason="the CPU has no native bf16")
def test_train_loop_benchmark_trains_the_settings_round_robin(capsys, tmp_path):
    import bench_train_loop
    import numpy as np

    rng = np.random.default_rng(0)
    for part, n in (("train", 6), ("val", 2)):
        np.savez(tmp_path / f"{part}.npz", images=rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8))
    bench_train_loop.main(["--split", str(tmp_path), "--settings", "fp32,bf16", "--epochs", "2", "--batch", "4"])
    results = _results(capsys.readouterr().out)
    assert [r["setting"] for r in results] == ["fp32", "bf16"]
    assert all(len(r["epoch_s"]) == 2 and np.isfinite(r["last_val_loss"]) for r in results)
    assert results[0]["speedup"] == 1.0


def test_compile_argument_defaults_to_the_widest_target():
    import argparse

    ap = argparse.ArgumentParser()
    harness.add_compile_argument(ap, ("model", "loss", "both"))
    assert ap.parse_args([]).compile == "off"
    assert ap.parse_args(["--compile"]).compile == "both"
    assert ap.parse_args(["--compile", "loss"]).compile == "loss"
    with pytest.raises(SystemExit):
        ap.parse_args(["--compile", "everything"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_benchmarks_run_on_cuda_with_amp(capsys):
    import bench_score

    bench_score.main(["--cases", "paper", "--images", "16", "--batch", "8", "--device", "cuda",
                      "--peak-seconds", "0.05", "--repeats", "1", "--warmup", "0"])
    [result] = _results(capsys.readouterr().out)
    assert result["device"].startswith("cuda") and result["amp_bf16"] is True


def test_unaligned_check_names_a_cached_head_by_every_setting_that_changes_it():
    import unaligned_check

    base = {"steps": 1500, "width": 8, "lr": 1e-3}
    key = unaligned_check.head_cache_key(800, 0, base)
    variants = [unaligned_check.head_cache_key(801, 0, base), unaligned_check.head_cache_key(800, 1, base),
                unaligned_check.head_cache_key(800, 0, base, amp="bf16"),
                unaligned_check.head_cache_key(800, 0, {**base, "steps": 10}),
                unaligned_check.head_cache_key(800, 0, {**base, "width": 16}),
                unaligned_check.head_cache_key(800, 0, {**base, "lr": 1e-4})]
    assert len({key, *variants}) == 1 + len(variants)
    assert unaligned_check.head_cache_key(800, 0, dict(reversed(base.items()))) == key  # order does not matter
