"""The predict Kedro pipeline: in-process run with a local checkpoint, its configuration, its parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from _predict_helpers import tiny_detector, truncate
from metal_pipeline.data.errors import DataError
from metal_pipeline.data.images import load_image
from metal_pipeline import run_identity
from metal_pipeline.hooks import publish_identity
from metal_pipeline.inference.detector_file import save_detector
from metal_pipeline.inference.predict_folder import COLUMNS
from metal_pipeline.pipelines.predict import create_pipeline
from metal_pipeline.pipelines.predict.nodes import PredictConfig
from metal_pipeline.settings import CONFIG_LOADER_ARGS
from synthetic import make_mvtec_category

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def _config(runtime_params: dict) -> OmegaConfigLoader:
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), runtime_params=runtime_params, **CONFIG_LOADER_ARGS)
    # what the project hook does in a kedro session: the catalog's ${run:...} names need it
    publish_identity(run_identity.identity(loader["parameters"]))
    return loader


def test_pipeline_runs_in_process_with_a_local_checkpoint(tmp_path):
    category = make_mvtec_category(tmp_path / "raw", "widget", n_train=1, n_test_good=2, defects={"crack": 2},
                                   sizes=[(48, 48), (40, 56)])
    truncate(category / "test" / "crack" / "001.png")
    detector = tiny_detector(threshold=0.0)
    save_detector(detector, tmp_path / "detector.pt")
    config = _config({"predict": {"output_dir": str(tmp_path / "out")}})
    params = config["parameters"]["predict"]
    params.update(input_dir=str(category / "test"), checkpoint=str(tmp_path / "detector.pt"), batch_size=2)
    # the maps and overlays through the project's own catalog entries, at the output folder the run names
    catalog = DataCatalog.from_config({name: config["catalog"][name]
                                       for name in ("predict_heatmaps", "predict_overlays", "predictions")})
    for name, value in {"params:predict": params, "params:class": "widget", "params:config": "squares_rows",
                        "params:recipe": "default", "params:masking": "strict"}.items():
        catalog[name] = MemoryDataset(value)
    catalog["predict_detector"] = MemoryDataset(copy_mode="assign")

    SequentialRunner().run(create_pipeline(), catalog)

    table = pd.read_csv(tmp_path / "out" / "predictions.csv", keep_default_na=False)
    assert list(table.columns) == list(COLUMNS)
    assert list(table["path"]) == ["crack/000.png", "crack/001.png", "good/000.png", "good/001.png"]
    assert "truncated" in table.loc[1, "error"] and table.loc[1, "decision"] == ""
    scored = table[table["error"] == ""]
    expected = detector.score(np.stack([load_image(category / "test" / p, 32, 3) for p in scored["path"]])).scores
    np.testing.assert_array_equal(scored["score"].to_numpy(dtype=np.float64), expected)
    assert (scored["decision"] == "anomalous").all()  # threshold 0 from the checkpoint; every map is > 0
    assert all(Path(p).is_file() for p in scored["heatmap"]) and all(Path(p).is_file() for p in scored["overlay"])
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["heatmaps/crack/000.tiff", "heatmaps/good/000.tiff", "heatmaps/good/001.tiff",
                       "overlays/crack/000.png", "overlays/good/000.png", "overlays/good/001.png", "predictions.csv"]
    heat = catalog.load("predict_heatmaps")  # the catalog reads back what it wrote
    assert sorted(heat) == ["crack/000", "good/000", "good/001"]
    row = table.set_index("path").loc["good/001.png"]
    assert (int(row["width"]), int(row["height"])) == (40, 56)  # each output at its image's own size
    assert heat["good/001"]().shape == (56, 40) and heat["good/001"]().dtype == np.float32
    assert catalog.load("predict_overlays")["good/001"]().shape == (56, 40, 3)


def test_configuration_defaults_and_command_line_overrides():
    default = _config({})
    params = default["parameters"]
    catalog = default["catalog"]
    predict = params["predict"]
    assert predict["input_dir"] == "data/01_raw/mvtec_ad/bottle/test"
    assert (PROJECT_ROOT / predict["input_dir"]).is_dir()
    assert predict["model_name"] is None and predict["model_version"] == "latest" and predict["checkpoint"] is None
    assert predict["threshold"] is None
    # the CSV lands beside the heatmaps by default ...
    assert catalog["predictions"]["filepath"] == f"{predict['output_dir']}/predictions.csv"
    assert predict["output_dir"] == "data/07_model_output/predictions/bottle-default-squares_rows-strict"
    PredictConfig.from_params(predict)  # the shipped block is valid

    # ... and when the output folder, class or configuration come from the command line
    custom = _config({"class": "screw", "config": "squares", "predict": {"output_dir": "/tmp/elsewhere"}})
    assert custom["parameters"]["predict"]["output_dir"] == "/tmp/elsewhere"
    assert custom["catalog"]["predictions"]["filepath"] == "/tmp/elsewhere/predictions.csv"
    assert custom["parameters"]["predict"]["input_dir"] == "data/01_raw/mvtec_ad/screw/test"
    moved = _config({"class": "screw", "config": "squares"})
    assert moved["catalog"]["predictions"]["filepath"] == \
        "data/07_model_output/predictions/screw-default-squares-strict/predictions.csv"
    assert moved["parameters"]["predict"]["output_dir"] == "data/07_model_output/predictions/screw-default-squares-strict"
    paper = _config({"class": "screw", "recipe": "paper"})
    assert paper["parameters"]["predict"]["output_dir"] == "data/07_model_output/predictions/screw-paper-squares_rows-paper"

    pipeline = create_pipeline()
    assert pipeline.inputs() == {"params:predict", "params:class", "params:recipe", "params:config",
                                 "params:masking"}
    assert pipeline.outputs() == {"predict_heatmaps", "predict_overlays", "predictions"}
    assert {"predict_detector", "predict_heatmaps", "predict_overlays", "predictions"} <= set(catalog)
    for name, folder in (("predict_heatmaps", "heatmaps"), ("predict_overlays", "overlays")):
        assert catalog[name]["path"] == f"{predict['output_dir']}/{folder}"
        assert custom["catalog"][name]["path"] == f"/tmp/elsewhere/{folder}"


def test_parameter_errors_are_clear():
    base = {"input_dir": "in", "output_dir": "out"}
    with pytest.raises(DataError, match="Unknown parameter.*predict.treshold"):
        PredictConfig.from_params({**base, "treshold": 0.5})
    with pytest.raises(DataError, match="predict.input_dir is not set"):
        PredictConfig.from_params({"output_dir": "out"})
    with pytest.raises(DataError, match="gray_from_color must be true or false"):
        PredictConfig.from_params({**base, "gray_from_color": "maybe"})
    assert PredictConfig.from_params({**base, "gray_from_color": "true", "extensions": ["PNG"]}).extensions == (".png",)
