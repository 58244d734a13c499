"""Recipes: one parameter selects a full set of choices; explicit parameters win; bad values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from metal_pipeline.errors import ParameterError
from metal_pipeline.params.validate import validate_params
from metal_pipeline.recipes import RECIPES, recipe_value
from metal_pipeline.settings import CONFIG_LOADER_ARGS

CONF = Path(__file__).resolve().parents[2] / "conf"


def load(runtime_params):
    return dict(OmegaConfigLoader(str(CONF), runtime_params=runtime_params, **CONFIG_LOADER_ARGS)["parameters"])


def _get(params, dotted):
    node = params
    for part in dotted.split("."):
        node = node[part]
    return node


@pytest.mark.parametrize("recipe", ["default", "paper"])
def test_every_recipe_key_reaches_the_parameters(recipe):
    from metal_pipeline.recipes import resolved_recipe_value

    params = load({"recipe": recipe, "class": "bottle"})
    for key in RECIPES[recipe]:  # as the configuration resolves them ("auto" precision: what the device computes)
        assert _get(params, key) == resolved_recipe_value(key, recipe, "bottle", params), key


def test_every_load_time_resolver_around_a_recipe_value_is_in_the_table():
    """resolved_recipe_value must resolve a recipe value as conf/base does; the table it uses is
    checked against every ``${<resolver>:${recipe_default:<key>`` in the conf files."""
    import re

    from metal_pipeline.recipes import LOAD_TIME_RESOLVERS
    from metal_pipeline.settings import CONFIG_LOADER_ARGS as args

    wrapped = {}
    for path in sorted(CONF.rglob("*.yml")):
        for resolver, key in re.findall(r"\$\{(\w+):\s*\$\{recipe_default:\s*([\w.]+)", path.read_text()):
            wrapped[key] = resolver
    assert wrapped == {key: name for key, (name, _) in LOAD_TIME_RESOLVERS.items()}
    for key, (name, _) in LOAD_TIME_RESOLVERS.items():
        assert name in args["custom_resolvers"], key


def test_the_default_recipe_trains_in_bf16_where_the_device_has_it_and_paper_in_fp32(monkeypatch):
    from metal_pipeline.utils import precision

    for native, expected in ((True, "bf16"), (False, "off")):
        monkeypatch.setattr(precision, "native_bf16", lambda device, n=native: n)
        assert load({})["training"]["amp"] == expected
        assert load({"recipe": "paper"})["training"]["amp"] == "off"  # the paper trained in fp32
        assert load({"training": {"amp": "off"}})["training"]["amp"] == "off"  # an explicit value wins


def test_class_settings_apply_to_their_class_only_and_explicit_parameters_still_win():
    from metal_pipeline.recipes import CLASS_SETTINGS

    for key, value in CLASS_SETTINGS["default"]["head_ct"].items():
        assert _get(load({"class": "head_ct"}), key) == value, key
        assert _get(load({"class": "bottle"}), key) == RECIPES["default"][key], key
        assert _get(load({"class": "head_ct", "recipe": "paper"}), key) == RECIPES["paper"][key], key
    assert load({"class": "head_ct", "scoring": {"region": "all"}})["scoring"]["region"] == "all"


def test_the_default_recipe_is_the_main_command():
    assert load({})["recipe"] == "default"
    assert load({})["masking"] == "strict"


def test_explicit_parameters_override_the_recipe():
    params = load({"recipe": "paper", "masking": "strict", "scoring": {"sigma": 2.0}})
    assert params["masking"] == "strict"
    assert params["scoring"]["sigma"] == 2.0
    assert params["scoring"]["map_kinds"] == ["l2"]  # the rest stays the paper's


@pytest.mark.parametrize("given, name", [
    ({"recipe": "fast"}, "recipe"),
    ({"scoring": {"map_kinds": ["l1"]}}, "scoring.map_kinds"),
    ({"scoring": {"normalise": "zscore"}}, "scoring.normalise"),
    ({"scoring": {"offsets": [[0]]}}, "scoring.offsets"),
    ({"scoring": {"reduction": "median"}}, "scoring.reduction"),
    ({"training": {"augment": {"synthetic_prob": 3}}}, "training.augment"),
    ({"training": {"lr_schedule": "step"}}, "training.lr_schedule"),
    ({"model": {"hole": -1}}, "model.hole"),
    ({"scoring": {"seg_head": {"width": 0}}}, "scoring.seg_head"),
    ({"scoring": {"seg_head": {"depth": 2}}}, "scoring.seg_head"),
    ({"scoring": {"seg_head": {"amp": "fp16"}}}, "scoring.seg_head"),
])
def test_bad_recipe_parameters_are_refused_by_name(given, name):
    params = load(given)
    with pytest.raises(ParameterError, match=name.replace(".", r"\.")):
        validate_params(params, given, load({}))


def test_unknown_recipe_key_is_a_bug_not_a_silent_default():
    with pytest.raises(KeyError):
        recipe_value("training.nonexistent", "paper")
