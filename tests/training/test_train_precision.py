"""training.amp (bf16 autocast) and training.compile (torch.compile) in the training loop, the run
identity and the parameter check (issue 10; measured in docs/PERFORMANCE.md)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from kedro.config import OmegaConfigLoader

from _training_helpers import l1_loss, make_images, make_model, state_equal, strip_seconds, with_
from metal_pipeline import run_identity
from metal_pipeline.errors import ParameterError
from metal_pipeline.model import MeTAL, MeTALConfig, ReconstructionLoss
from metal_pipeline.params.validate import validate_params
from metal_pipeline.settings import CONFIG_LOADER_ARGS
from metal_pipeline.training import CheckpointMismatchError, TrainConfig, train
from metal_pipeline.training.checkpoint import fingerprint_parts
from metal_pipeline.training.precision import amp_mode

#: bf16 against fp32 on the same seed, data and batches: the largest relative difference allowed in the
#: loss shifted to be positive (L1 + 1 - SSIM), the tolerance benchmarks/bf16_loss_check.py states
BF16_TOLERANCE = 0.02


def _cpu_bf16() -> bool:
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


needs_bf16 = pytest.mark.skipif(not _cpu_bf16(), reason="the CPU has no native bf16 (AVX512-BF16 or AMX); "
                                                        "autocast would only emulate it")


@functools.lru_cache(maxsize=1)
def _compile_unavailable() -> str | None:
    """Why torch.compile cannot run here (None if it can): inductor needs a C++ compiler on CPU."""
    try:
        torch.compile(lambda t: torch.sin(t) * 2)(torch.ones(4))
    except Exception as error:  # noqa: BLE001 -- any failure means the platform cannot compile
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    return None


def _tiny_metal() -> MeTAL:
    torch.manual_seed(0)
    return MeTAL(MeTALConfig(img_size=32, patch_size=8, channels=3, embed_dim=16, num_heads=2, depth=1,
                             mlp_ratio=2.0, decoder_hidden=32, decoder_layers=1, configuration="squares_rows",
                             masking="strict"))


@pytest.fixture
def rgb_images() -> tuple[np.ndarray, np.ndarray]:
    return make_images(16, seed=1, size=32, channels=3), make_images(4, seed=2, size=32, channels=3)


def _shifted(history: list[dict], key: str) -> np.ndarray:
    """The loss L1 - SSIM made positive: L1 + (1 - SSIM) (the loss itself crosses zero)."""
    return np.array([h[key] for h in history]) + 1.0


# -- bf16 ---------------------------------------------------------------------------------
@needs_bf16
def test_bf16_training_is_finite_and_close_to_fp32(rgb_images, config, tmp_path):
    train_x, val_x = rgb_images
    cfg = with_(config, max_epochs=6, lr=1e-3)
    fp32 = train(_tiny_metal(), ReconstructionLoss(), train_x, val_x, cfg, tmp_path / "fp32")
    bf16 = train(_tiny_metal(), ReconstructionLoss(), train_x, val_x, with_(cfg, amp="bf16"), tmp_path / "bf16")
    for key in ("train_loss", "val_loss"):
        a, b = _shifted(fp32.history, key), _shifted(bf16.history, key)
        assert np.isfinite(b).all()
        assert np.abs(b - a).max() / np.abs(a).min() <= BF16_TOLERANCE, (key, a, b)
    # bf16 arithmetic did run: the curves are close, not equal
    assert [h["train_loss"] for h in fp32.history] != [h["train_loss"] for h in bf16.history]
    # weights stay fp32 (autocast computes in bf16, keeps the parameters)
    assert all(t.dtype == torch.float32 for t in bf16.model.state_dict().values())


@needs_bf16
def test_bf16_run_resumes_bitwise_and_refuses_an_fp32_resume(images, config, tmp_path):
    train_x, val_x = images
    cfg = with_(config, amp="bf16", max_epochs=4)
    whole = train(make_model(), l1_loss, train_x, val_x, cfg, tmp_path / "whole")
    train(make_model(), l1_loss, train_x, val_x, with_(cfg, max_epochs=2), tmp_path / "split")
    resumed = train(make_model(), l1_loss, train_x, val_x, cfg, tmp_path / "split")
    assert resumed.resumed_from_epoch == 2
    assert strip_seconds(resumed.history) == strip_seconds(whole.history)
    assert state_equal(resumed.model.state_dict(), whole.model.state_dict())
    with pytest.raises(CheckpointMismatchError, match="amp"):
        train(make_model(), l1_loss, train_x, val_x, with_(cfg, amp="off", max_epochs=6), tmp_path / "split")


def test_amp_off_leaves_the_checkpoint_fingerprint_as_before(images, config):
    """fp32 checkpoints written before training.amp existed must still resume."""
    train_x, val_x = images
    off = fingerprint_parts(config, make_model(), train_x, val_x)
    assert not any("amp" in key or "compile" in key for key in off)
    assert fingerprint_parts(with_(config, compile=True), make_model(), train_x, val_x) == off
    assert fingerprint_parts(with_(config, amp="bf16"), make_model(), train_x, val_x)["config.amp"] == "bf16"


def test_amp_values():
    assert amp_mode("bf16") == "bf16" and amp_mode("off") == "off"
    assert amp_mode(False) == "off"  # YAML 1.1 reads a bare off as false
    assert TrainConfig.from_dict({"amp": False}).amp == "off"
    for bad in ("fp16", True, None, "BF16"):
        with pytest.raises(ValueError, match="amp must be one of"):
            TrainConfig(amp=bad)
    with pytest.raises(ValueError, match="compile must be true or false"):
        TrainConfig(compile="yes")


def test_amp_auto_resolves_to_what_the_device_computes_natively(monkeypatch):
    from metal_pipeline.utils import precision

    for native, expected in ((True, "bf16"), (False, "off")):
        monkeypatch.setattr(precision, "native_bf16", lambda device, n=native: n)
        assert precision.amp_for_device("cpu") == expected
        assert precision.resolve_amp_setting("auto", "cpu") == expected
    assert precision.resolve_amp_setting("off", "cpu") == "off" and precision.resolve_amp_setting("bf16") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert precision.amp_for_device("cuda") == "off"  # no GPU here: the device check names the problem later


def test_the_head_amp_default_is_the_cpus_native_bf16(defaults):
    from metal_pipeline.utils.precision import amp_for_device

    assert defaults["scoring"]["seg_head"]["amp"] == amp_for_device("cpu") in ("bf16", "off")


# -- compile ------------------------------------------------------------------------------
def test_compiled_training_matches_eager_and_keeps_the_module_uncompiled(images, config, tmp_path):
    reason = _compile_unavailable()
    if reason is not None:
        pytest.skip(f"torch.compile cannot run on this platform ({reason}); training.compile needs it")
    train_x, val_x = images
    cfg = with_(config, max_epochs=3)
    eager = train(make_model(dropout=0.0), l1_loss, train_x, val_x, cfg, tmp_path / "eager")
    compiled = train(make_model(dropout=0.0), l1_loss, train_x, val_x, with_(cfg, compile=True), tmp_path / "comp")
    a = np.array([[h["train_loss"], h["val_loss"]] for h in eager.history])
    b = np.array([[h["train_loss"], h["val_loss"]] for h in compiled.history])
    np.testing.assert_allclose(b, a, rtol=1e-4)  # fused kernels reorder rounding only
    # the module handed back and its checkpoints are the plain module's (no _orig_mod. prefixes)
    assert compiled.model.state_dict().keys() == eager.model.state_dict().keys()
    assert not hasattr(compiled.model, "_orig_mod")
    best = torch.load(compiled.best_checkpoint, weights_only=False)
    assert best["model"].keys() == eager.model.state_dict().keys()


@pytest.mark.filterwarnings("ignore:dynamo_pgo force disabled")
def test_a_platform_that_cannot_compile_gets_an_error_naming_the_fix(images, config, tmp_path, monkeypatch):
    reason = _compile_unavailable()
    if reason is not None:
        pytest.skip(f"torch.compile cannot run on this platform ({reason})")
    import torch._inductor.config as inductor_config

    from metal_pipeline.training.precision import CompileError

    torch._dynamo.reset()  # no code compiled by an earlier test may be reused
    monkeypatch.setattr(inductor_config, "force_disable_caches", True)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))  # its failed build is kept there
    monkeypatch.setattr(inductor_config.cpp, "cxx", (str(tmp_path / "no-such-c++"),))
    train_x, val_x = images
    try:
        with pytest.raises(CompileError, match="training.compile=false"):
            train(make_model(), l1_loss, train_x, val_x, with_(config, compile=True, max_epochs=1), tmp_path / "ck")
    finally:
        torch._dynamo.reset()


# -- parameters and run identity ----------------------------------------------------------
@pytest.fixture(scope="module")
def defaults() -> dict:
    root = Path(__file__).resolve().parents[2]
    return dict(OmegaConfigLoader(str(root / "conf"), runtime_params={}, **CONFIG_LOADER_ARGS)["parameters"])


def _with_training(params: dict, **changes) -> dict:
    out = copy.deepcopy(params)
    out["training"] = {**out["training"], **changes}
    return out


def test_fp32_without_compile_keeps_the_names_of_runs_from_before_the_options(defaults):
    assert defaults["training"]["compile"] is False
    fp32 = _with_training(defaults, amp="off")
    before = copy.deepcopy(fp32)
    del before["training"]["amp"], before["training"]["compile"]
    assert run_identity.run_name(fp32) == run_identity.run_name(before)
    assert run_identity.ablation_name(fp32) == run_identity.ablation_name(before)
    assert run_identity.run_name(_with_training(fp32, amp=False)) == run_identity.run_name(before)


def test_bf16_is_part_of_the_run_name_and_compile_is_not(defaults):
    name = run_identity.run_name(_with_training(defaults, amp="off"))
    assert run_identity.run_name(_with_training(defaults, amp="bf16")) != name
    assert run_identity.run_name(_with_training(defaults, amp="off", compile=True)) == name


def test_the_parameter_check_knows_amp_and_compile(defaults):
    validate_params(_with_training(defaults, amp="bf16", compile=True), {}, defaults)
    for key, value in (("amp", "fp16"), ("compile", "yes")):
        with pytest.raises(ParameterError, match=f"training.{key}"):
            validate_params(_with_training(defaults, **{key: value}), {}, defaults)
