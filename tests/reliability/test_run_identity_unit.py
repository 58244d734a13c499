"""Run identity and parameter validation as plain functions (issue 11, cases 2 and 3)."""

from __future__ import annotations

import copy
import re

import pytest
from kedro.config import OmegaConfigLoader

from metal_pipeline import run_identity
from metal_pipeline.errors import MetalError, ParameterError
from metal_pipeline.params.validate import SCHEMA, problems, validate_params
from metal_pipeline.settings import CONFIG_LOADER_ARGS


@pytest.fixture(scope="module")
def defaults(project_root_module):
    loader = OmegaConfigLoader(str(project_root_module / "conf"), runtime_params={}, **CONFIG_LOADER_ARGS)
    return dict(loader["parameters"])


@pytest.fixture(scope="module")
def project_root_module():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]


def changed(params, dotted, value):
    out = copy.deepcopy(params)
    node = out
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return out


# -- run identity -------------------------------------------------------------------------
def test_same_parameters_same_names(defaults):
    a, b = run_identity.identity(defaults), run_identity.identity(copy.deepcopy(defaults))
    assert a == b
    assert re.fullmatch(r"bottle-default-squares_rows-strict-s0-[0-9a-f]{6}", a.name)
    assert re.fullmatch(r"bottle-128px-s0-[0-9a-f]{6}", a.split)
    assert re.fullmatch(r"scoring-[0-9a-f]{6}", a.scoring)
    assert re.fullmatch(r"bottle-default-ablation-strict-s0-[0-9a-f]{6}", a.ablation)


@pytest.mark.parametrize("dotted, value", [
    ("training.lr", 3e-4), ("training.batch_size", 32), ("training.max_epochs", 10), ("training.loss.ssim_weight", 0.5),
    ("model.embed_dim", 64), ("model.depth", 2), ("recipe", "paper"), ("masking", "paper"), ("config", "squares"), ("model.hole", 1), ("training.augment", {}), ("training.lr_schedule", "cosine"),
    ("seed", 1), ("ingestion.img_size", 64), ("ingestion.val_fraction", 0.2), ("ingestion.channels", 1),
    ("ingestion.data_root", "/data/mvtec"), ("ingestion.head_ct.n_train_normal", 70),
])
def test_what_changes_the_weights_changes_the_run_hash(defaults, dotted, value):
    before, after = run_identity.run_name(defaults), run_identity.run_name(changed(defaults, dotted, value))
    assert before != after
    assert before.rsplit("-", 1)[1] != after.rsplit("-", 1)[1]


@pytest.mark.parametrize("dotted, value", [
    ("training.progress", False), ("training.log_every", 1), ("training.checkpoint_every", 5),
    ("training.device", "cpu"), ("training.num_threads", 1), ("training.resume", False),
    ("training.checkpoint_root", "/elsewhere"), ("scoring.sigma", 2.0), ("heatmaps.batch_size", 4),
    ("evaluation.max_fpr", 0.1), ("tracking_prefix", "x."),
])
def test_operational_and_scoring_parameters_keep_the_run_name(defaults, dotted, value):
    assert run_identity.run_name(changed(defaults, dotted, value)) == run_identity.run_name(defaults)


def test_a_new_training_or_model_key_is_covered_without_code_changes(defaults):
    """An exclude list, not an include list: a lever added to conf/ later changes the hash."""
    with_new = copy.deepcopy(defaults)
    with_new["training"]["augment"] = "flips"
    with_new["model"]["dropout"] = 0.1
    assert run_identity.run_name(with_new) != run_identity.run_name(defaults)


def test_scoring_key_follows_scoring_heatmaps_and_evaluation(defaults):
    base = run_identity.scoring_name(defaults)
    for dotted, value in (("scoring.sigma", 3.0), ("heatmaps.export_resolution", "model"),
                          ("evaluation.max_fpr", 0.1)):
        assert run_identity.scoring_name(changed(defaults, dotted, value)) != base
    for dotted, value in (("scoring.batch_size", 1), ("heatmaps.device", "cuda"), ("heatmaps.output_root", "x")):
        assert run_identity.scoring_name(changed(defaults, dotted, value)) == base


def test_head_settings_name_the_scoring_only_when_a_map_uses_the_head(defaults):
    """One rule (``scoring_rule_fields``) for the scoring folder's name and the registry's detector key."""
    with_head = changed(defaults, "scoring.map_kinds", ["seg"])
    without = changed(changed(defaults, "scoring.map_kinds", ["l2"]), "scoring.image_kinds", None)
    for params, used in ((with_head, True), (without, False)):
        other = changed(params, "scoring.seg_head.width", 4)
        assert (run_identity.scoring_name(other) != run_identity.scoring_name(params)) is used
        rule = run_identity.scoring_rule_fields(params["scoring"])
        assert ("seg_head" in rule) is used and "batch_size" not in rule
        assert rule == run_identity.scoring_fields(params)["scoring"]
    assert "image_kinds" not in run_identity.scoring_rule_fields(without["scoring"])  # null: the map's kinds


def test_scoring_amp_off_keeps_the_scoring_names_of_before_and_bf16_changes_them(defaults):
    without = copy.deepcopy(defaults)
    del without["scoring"]["amp"]  # the parameters before scoring.amp existed
    assert run_identity.scoring_name(defaults) == run_identity.scoring_name(without)
    assert run_identity.scoring_name(changed(defaults, "scoring.amp", False)) == run_identity.scoring_name(without)
    assert run_identity.scoring_name(changed(defaults, "scoring.amp", "bf16")) != run_identity.scoring_name(without)
    assert run_identity.run_name(changed(defaults, "scoring.amp", "bf16")) == run_identity.run_name(defaults)


def test_split_key_ignores_everything_but_the_split(defaults):
    base = run_identity.split_name(defaults)
    for dotted, value in (("training.lr", 1.0), ("config", "squares"), ("scoring.sigma", 1.0)):
        assert run_identity.split_name(changed(defaults, dotted, value)) == base
    assert run_identity.split_name(changed(defaults, "seed", 3)) != base


# -- parameter validation -------------------------------------------------------------------
def test_shipped_configuration_is_valid(defaults):
    validate_params(defaults, {}, defaults)
    assert "training.lr" in SCHEMA and "ingestion.img_size" in SCHEMA


@pytest.mark.parametrize("dotted, value, named", [
    ("config", "nonsense", "config"),
    ("masking", "nonsense", "masking"),
    ("recipe", "nonsense", "recipe"),
    ("ingestion.img_size", 100, "ingestion.img_size"),
    ("ingestion.img_size", 16, "ingestion.img_size"),
    ("training.lr", -1, "training.lr"),
    ("training.batch_size", 0, "training.batch_size"),
    ("training.max_epochs", 0, "training.max_epochs"),
    ("scoring.amp", "fp16", "scoring.amp"),
    ("seed", "abc", "seed"),
    ("class", "my class", "ingestion.class_paths"),
    ("model.num_heads", 3, "model.num_heads"),
    ("scoring.threshold_target_fpr", 1.5, "scoring.threshold_target_fpr"),
])
def test_bad_values_are_one_parameter_error_naming_the_parameter(defaults, dotted, value, named):
    with pytest.raises(ParameterError) as info:
        validate_params(changed(defaults, dotted, value), {}, defaults)
    assert isinstance(info.value, MetalError)
    assert named in str(info.value) and "\n" not in str(info.value)


def test_masking_must_fit_the_configuration(defaults):
    params = changed(defaults, "config", "squares_nomask")
    with pytest.raises(ParameterError, match="squares_nomask only runs with masking none"):
        validate_params(params, {}, defaults)
    validate_params(changed(params, "masking", "none"), {}, defaults)


@pytest.mark.parametrize("given, suggestion", [
    ({"channels": 2}, "ingestion.channels"),
    ({"trainig": {"lr": 1}}, "training"),
    ({"training": {"lrr": 1}}, "training.lr"),
    ({"sed": 1}, "seed"),
])
def test_unknown_names_get_a_did_you_mean(defaults, given, suggestion):
    found = problems(defaults, given, defaults)
    assert len(found) == 1 and "is not a parameter" in found[0] and suggestion in found[0]


def test_user_chosen_class_paths_are_not_unknown(defaults):
    assert problems(defaults, {"ingestion": {"class_paths": {"my_ct": "/data/ct"}}}, defaults) == []


def test_fixed_split_seed_keeps_the_split_across_training_seeds(defaults):
    fixed = changed(defaults, "ingestion.split_seed", 0)
    a, b = run_identity.identity(fixed), run_identity.identity(changed(fixed, "seed", 3))
    assert a.split == b.split
    assert a.name != b.name
    follow = run_identity.identity(changed(defaults, "seed", 3))
    assert follow.split != a.split  # split_seed null: the split follows the run seed
