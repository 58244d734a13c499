"""The Bergmann et al. 2019 autoencoder, its losses, and the Table 4 methods' parameters and names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from metal_pipeline import run_identity
from metal_pipeline.baselines import methods as table4
from metal_pipeline.baselines.conv_ae import ConvAE, ConvAEConfig
from metal_pipeline.baselines.loss import AutoencoderLoss
from metal_pipeline.recipes import recipe_value, resolved_recipe_value


# -- the network -------------------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 3])
def test_paper_shapes_128_to_1x1xd_to_128(channels):
    torch.manual_seed(0)
    model = ConvAE(ConvAEConfig(img_size=128, channels=channels, latent_dim=100))
    x = torch.rand(2, channels, 128, 128)
    code = model.encode(x)
    assert code.shape == (2, 100, 1, 1)
    y = model(x)
    assert y.shape == x.shape and torch.isfinite(y).all() and (y > 0).all() and (y < 1).all()
    convs = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    # Table 1 of the paper: kernels, strides and widths of the nine encoder layers
    assert [(c.kernel_size[0], c.stride[0], c.out_channels) for c in convs] == [
        (4, 2, 32), (4, 2, 32), (3, 1, 32), (4, 2, 64), (3, 1, 64), (4, 2, 128), (3, 1, 64), (3, 1, 32), (8, 1, 100)]
    assert convs[-1].padding == (0, 0)
    slopes = {m.negative_slope for m in model.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.2}


def test_decoder_mirrors_the_encoder_and_smaller_images_scale_the_latent_kernel():
    model = ConvAE(ConvAEConfig(img_size=32, channels=3, latent_dim=16))
    x = torch.rand(3, 3, 32, 32)
    assert model.encode(x).shape == (3, 16, 1, 1) and model(x).shape == x.shape
    encoder = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    decoder = [m for m in model.decoder if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert encoder[-1].kernel_size == (2, 2)  # 32 / 16
    assert [(d.in_channels, d.out_channels) for d in decoder] == [
        (e.out_channels, e.in_channels) for e in reversed(encoder)]
    assert [isinstance(d, torch.nn.ConvTranspose2d) for d in decoder] == [
        e.stride[0] > 1 or e is encoder[-1] for e in reversed(encoder)]


def test_bad_configs_and_inputs_are_refused():
    with pytest.raises(ValueError, match="multiple of 16"):
        ConvAEConfig(img_size=120)
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        ConvAEConfig(channels=2)
    with pytest.raises(ValueError, match="unknown ConvAEConfig key"):
        ConvAEConfig.from_dict({"latent": 3})
    with pytest.raises(ValueError, match="expected input"):
        ConvAE(ConvAEConfig(img_size=32, channels=1))(torch.rand(1, 3, 32, 32))


def test_losses_are_zero_for_a_perfect_reconstruction_and_train_the_network():
    x = torch.rand(2, 1, 32, 32)
    for kind in ("l2", "ssim"):
        loss, parts = AutoencoderLoss(kind)(x.clone(), x)
        assert float(loss) == pytest.approx(0.0, abs=1e-6) and set(parts) == {"l2", "ssim"}
    noisy = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    l2, _ = AutoencoderLoss("l2")(noisy, x)
    ssim, parts = AutoencoderLoss("ssim")(noisy, x)
    assert float(l2) == pytest.approx(float((noisy - x).square().mean()))
    assert float(ssim) == pytest.approx(1 - float(parts["ssim"])) and float(ssim) > 0.1
    with pytest.raises(ValueError, match="unknown autoencoder loss"):
        AutoencoderLoss("l1")
    torch.manual_seed(0)
    model = ConvAE(ConvAEConfig(img_size=32, channels=1, latent_dim=8))
    loss, _ = AutoencoderLoss("ssim")(model(x), x)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# -- methods x seeds ----------------------------------------------------------------------------------
def _params(**extra):
    params = {"class": "widget", "recipe": "default", "config": "squares_rows", "masking": "strict", "seed": 0,
              "ingestion": {"data_root": "data/01_raw/mvtec_ad", "img_size": 32, "split_seed": None},
              "model": {"patch_size": 8, "hole": recipe_value("model.hole", "default")},
              "training": {key.split(".", 1)[1]: recipe_value(key, "default") for key in (
                  "training.lr", "training.max_epochs", "training.min_epochs", "training.augment",
                  "training.lr_schedule", "training.warmup_epochs")} | {
                  "amp": resolved_recipe_value("training.amp", "default", None, {}),  # as conf/base resolves it
                  "batch_size": 64, "progress": False, "num_threads": 1, "checkpoint_root": "data/06_models",
                  "loss": {"l1_weight": 1.0, "ssim_weight": 1.0}},
              "scoring": {key.split(".", 1)[1]: recipe_value(key, "default") for key in (
                  "scoring.sigma", "scoring.reduction", "scoring.map_kinds", "scoring.normalise",
                  "scoring.offsets", "scoring.region", "scoring.region_erode")} | {
                  "threshold_target_fpr": 0.05, "batch_size": 32},
              "heatmaps": {}, "evaluation": {"max_fpr": 0.3},
              "conv_ae": {"model": {"latent_dim": 100}, "training": {"lr": 2e-4, "weight_decay": 1e-5,
                                                                     "max_epochs": 50, "batch_size": 64},
                          "scoring": {"sigma": 4.0, "reduction": "max"}}}
    params.update(extra)
    return params


def test_methods_in_table_order_and_refused_names():
    assert table4.method_list(None) == ["default", "paper", "l2_ae", "ssim_ae"]
    assert table4.method_list("ssim_ae+paper") == ["paper", "ssim_ae"]
    with pytest.raises(ValueError, match="unknown method"):
        table4.method_list("paper+vae")
    runs = table4.method_runs(_params(seeds=2, methods="l2_ae+default"))
    assert [(r.method, r.seed) for r in runs] == [("default", 0), ("default", 1), ("l2_ae", 0), ("l2_ae", 1)]
    assert runs[2].namespace == "table4.l2_ae.s0"


def test_metal_rows_take_their_recipe_unless_a_value_was_set_explicitly():
    params = _params()
    paper = table4.method_params(params, table4.MethodRun("paper", 1))
    assert paper["recipe"] == "paper" and paper["masking"] == "paper" and paper["seed"] == 1
    assert paper["training"]["max_epochs"] == recipe_value("training.max_epochs", "paper")
    assert paper["scoring"]["map_kinds"] == recipe_value("scoring.map_kinds", "paper")
    assert paper["ingestion"]["split_seed"] == 0  # the split of `seed`, shared by every run
    # the default row is the train_eval run of the default recipe: same name, so a finished one is reused
    default = table4.method_params(params, table4.MethodRun("default", 0))
    assert table4.run_name(params, table4.MethodRun("default", 0)) == run_identity.run_name(params)
    assert default["training"] == params["training"]
    # training.max_epochs=2 on the command line (it differs from the recipe's 800) shortens both rows
    short = _params(training={**params["training"], "max_epochs": 2})
    assert table4.method_params(short, table4.MethodRun("paper", 0))["training"]["max_epochs"] == 2
    assert table4.method_params(short, table4.MethodRun("paper", 0))["training"]["min_epochs"] == recipe_value(
        "training.min_epochs", "paper")
    # recipe=paper on the command line: the default row still gets the default recipe's values
    as_paper = table4.recipe_params(params, "paper")
    back = table4.method_params(as_paper, table4.MethodRun("default", 0))
    assert back["training"] == params["training"] and back["masking"] == "strict"


def test_autoencoder_rows_have_their_own_settings_and_names():
    params = _params(seeds=2)
    run = table4.MethodRun("ssim_ae", 1)
    own = table4.method_params(params, run)
    assert own["model"] == {"latent_dim": 100} and own["scoring"]["map_kinds"] == ["ssim"]
    assert own["training"]["lr"] == 2e-4 and own["training"]["num_threads"] == 1  # operational keys shared
    assert "loss" not in own["training"] and "augment" not in own["training"]
    name = table4.run_name(params, run)
    assert name.startswith("widget-ssim_ae-s1-") and name == run_identity.baseline_run_name(own)
    assert name != table4.run_name(params, table4.MethodRun("l2_ae", 1))
    # the name covers what changes the weights, not operational keys
    more = _params(seeds=2, conv_ae={**params["conv_ae"], "model": {"latent_dim": 50}})
    assert table4.run_name(more, run) != name
    threads = _params(seeds=2, training={**params["training"], "num_threads": 2})
    assert table4.run_name(threads, run) == name


def test_resolver_gives_exactly_the_namespaces_of_the_runs():
    p = _params(seeds="0+3", methods="paper+l2_ae")
    resolved = table4.resolve_table4_grid(p["methods"], p["seeds"], p["seed"], p["recipe"], p["class"],
                                          p["config"], p["masking"], p["model"], p["training"], p["scoring"],
                                          p["conv_ae"])
    assert sorted(f"table4.{m}.{s}" for m, seeds in resolved.items() for s in seeds) == sorted(
        r.namespace for r in table4.method_runs(p))
    assert resolved["l2_ae"]["s3"]["scoring"]["map_kinds"] == ["l2"] and resolved["paper"]["s0"]["recipe"] == "paper"
    assert table4.resolve_table4_grid("vae", None, 0, "default", "widget", "squares_rows", "strict", {}, {}, {},
                                      {}) == {}
    name = run_identity.table4_name(p)
    assert name.startswith("widget-table4-s0+3-") and name != run_identity.table4_name(_params(methods="paper"))


# -- the table -----------------------------------------------------------------------------------------
def _metrics(config: str, values: dict[str, float], class_name: str = "bottle") -> pd.DataFrame:
    rows = [(class_name, config, "none", "all", m, v) for m, v in values.items()]
    rows += [(class_name, config, "none", "crack", m, 0.1) for m in values]
    return pd.DataFrame(rows, columns=["class", "configuration", "masking", "defect", "metric", "value"])


def test_table4_rows_in_order_with_mean_std_and_the_paper_values_in_their_columns():
    from metal_pipeline.reporting.table4 import table4_tables

    inputs = {}
    for i, method in enumerate(reversed(table4.METHODS)):  # given in reverse: the table keeps its order
        for seed in (0, 1):
            values = {"pauroc_0.3": 0.5 + seed / 10, "pauroc_0.3_mcclish": 0.7, "pixel_auroc": 0.8 + i / 100,
                      "image_auroc": 0.9}
            inputs[f"{method}__s{seed}__metrics"] = _metrics("squares_rows" if table4.is_metal(method) else method,
                                                             values)
            inputs[f"{method}__s{seed}__summary"] = {"seed": seed, "recipe": method, "run_name": f"{method}-{seed}"}
    runs, table, markdown, figure = table4_tables("bottle", inputs)
    assert table["method"].tolist() == list(table4.METHODS) and len(runs) == 8
    assert table["pauroc_0.3"].tolist() == pytest.approx([0.55] * 4)
    assert table["pauroc_0.3_std"].tolist() == pytest.approx([np.sqrt(0.005)] * 4)
    lines = markdown.split("\n\n", 1)[1].splitlines()
    assert lines[0] == ("| method | configuration | masking | seeds | pAUROC@0.3 MVTec | pAUROC@0.3 McClish | "
                        "pixel AUROC | image AUROC |")
    assert lines[2].startswith("| MeTAL, default recipe | squares_rows | none | 0, 1 | 0.550 ± 0.071 |")
    assert lines[5].startswith("| SSIM-AE (Bergmann et al. 2019) | ssim_ae |")
    # the paper's bottle value (its own convention, read as McClish) in the McClish column only
    assert lines[6] == "| MeTAL (paper) [1] | — | — | — | — | 0.850 | — | — |"
    assert "[1] De Nardin et al. 2022" in markdown
    assert len(figure.axes[0].get_xticklabels()) == 5  # four methods and the published value

    head_ct = {f"{m}__s{s}__{k}": (_metrics(m, {"image_auroc": 0.8 + s / 10}, "head_ct") if k == "metrics"
                                   else {"seed": s}) for m in ("l2_ae", "ssim_ae") for s in (0, 1, 2)
               for k in ("metrics", "summary")}
    _, table, markdown, _ = table4_tables("head_ct", head_ct)
    lines = markdown.split("\n\n", 1)[1].splitlines()
    assert lines[0] == "| method | configuration | masking | seeds | image AUROC |"  # the paper's Table 5 layout
    assert lines[2] == "| l2-AE (Bergmann et al. 2019) | l2_ae | none | 0, 1, 2 | 0.900 ± 0.100 |"
    assert lines[4] == "| MeTAL (paper) [1] | — | — | — | 0.863 ± 0.040 |"
    assert "Table 5" in markdown and table["n_seeds"].tolist() == [3, 3]


def test_bad_methods_are_one_paragraph():
    from metal_pipeline.params.validate import problems

    found = " ".join(problems(_params(methods="paper+vae", conv_ae={"model": {"latent_dim": 0}})))
    assert "methods='paper+vae' must be all, a list of methods" in found and "unknown method(s) vae" in found
    assert "conv_ae.model.latent_dim=0 must be an integer >= 1" in found
    assert problems(_params(methods="ssim_ae+default")) == []
