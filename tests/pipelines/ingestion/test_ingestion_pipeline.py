"""The ``ingestion`` Kedro pipeline: run through SequentialRunner, atomic failure, config contract."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from omegaconf import OmegaConf

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.data.ingest import IngestionConfig, ingest_class
from metal_pipeline.datasets import ClassFolderDataset, ImageSetDataset
from metal_pipeline.pipelines.ingestion import create_pipeline

OUTPUTS = ("train_set", "val_set", "test_set")


def make_catalog(out_dir, class_name, data_root, seed=0):
    catalog = DataCatalog({name: ImageSetDataset(str(out_dir / f"{name.split('_')[0]}.npz")) for name in OUTPUTS})
    catalog["raw_class_folder"] = ClassFolderDataset(str(data_root / class_name))
    catalog["params:class"] = MemoryDataset(class_name)
    catalog["params:ingestion"] = MemoryDataset(
        {"data_root": str(data_root), "class_paths": {}, "img_size": 32, "val_fraction": 0.2})
    catalog["params:seed"] = MemoryDataset(seed)
    return catalog


def test_pipeline_contract():
    pipe = create_pipeline()
    assert pipe.inputs() == {"raw_class_folder", "params:class", "params:ingestion", "params:seed"}
    assert pipe.outputs() == set(OUTPUTS) | {"split_manifest"}


def test_runs_through_sequential_runner(mvtec_rgb, tmp_path):
    out = tmp_path / "model_input" / "widget"
    SequentialRunner().run(create_pipeline(), make_catalog(out, "widget", mvtec_rgb.parent))
    assert sorted(p.name for p in out.iterdir()) == ["test.npz", "train.npz", "val.npz"]
    direct = ingest_class("widget", {"data_root": str(mvtec_rgb.parent), "class_paths": {}, "img_size": 32,
                                     "val_fraction": 0.2}, seed=0)
    for name, expected in zip(OUTPUTS, direct, strict=True):
        got = ImageSet.load(out / f"{name.split('_')[0]}.npz")
        np.testing.assert_array_equal(got.images, expected.images)
        assert got.names == expected.names and got.defects == expected.defects
        np.testing.assert_array_equal(got.original_sizes, expected.original_sizes)
    test = ImageSet.load(out / "test.npz")
    assert test.masks is not None and set(np.unique(test.masks)) == {0, 1}
    assert len(ImageSet.load(out / "val.npz")) == 1  # round(0.2 * 6)


def test_failure_writes_nothing(mvtec_rgb, tmp_path):
    bad = mvtec_rgb / "test" / "hole" / "001.jpg"
    bad.write_bytes(bad.read_bytes()[:200])  # the last image read: train already decoded
    out = tmp_path / "model_input" / "widget"
    with pytest.raises(DataError, match="001.jpg"):
        SequentialRunner().run(create_pipeline(), make_catalog(out, "widget", mvtec_rgb.parent))
    assert not out.exists() or not any(out.iterdir())


def test_failure_keeps_previous_outputs(make_mvtec, tmp_path):
    cat = make_mvtec("widget")
    out = tmp_path / "model_input" / "widget"
    SequentialRunner().run(create_pipeline(), make_catalog(out, "widget", cat.parent))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (cat / "ground_truth" / "crack" / "001_mask.png").unlink()
    with pytest.raises(DataError, match="no ground-truth mask"):
        SequentialRunner().run(create_pipeline(), make_catalog(out, "widget", cat.parent))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# -- configuration contract (conf/base) --------------------------------------------------------


def config_loader(project_root, runtime_params=None):
    """Only this pipeline's files (plus the shared parameters.yml/globals.yml/catalog.yml), base env,
    with the run identity published as the project hook does in a Kedro session."""
    from metal_pipeline import run_identity
    from metal_pipeline.hooks import publish_identity
    from metal_pipeline.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(
        conf_source=str(project_root / "conf"), base_env="base", default_run_env="base",
        runtime_params=runtime_params, custom_resolvers=CONFIG_LOADER_ARGS["custom_resolvers"],
        config_patterns={"catalog": ["catalog.yml", "catalog_ingestion*"],
                         "parameters": ["parameters.yml", "parameters_ingestion*", "parameters_training*",
                                        "parameters_heatmaps*", "parameters_evaluation*"]},
    )
    publish_identity(run_identity.identity(loader["parameters"]))
    return loader


def _split_folder(catalog) -> str:
    folders = {catalog[name]["filepath"].rsplit("/", 1)[0] for name in (*OUTPUTS, "split_manifest")}
    assert len(folders) == 1
    return folders.pop()


def test_catalog_keys_outputs_by_split(project_root):
    default = config_loader(project_root)
    assert default["parameters"]["class"] == "bottle"
    folder = _split_folder(default["catalog"])
    assert folder.startswith("data/05_model_input/bottle-128px-s0-")
    for name in OUTPUTS:
        assert default["catalog"][name]["filepath"] == f"{folder}/{name.split('_')[0]}.npz"
    head = config_loader(project_root, {"class": "head_ct"})
    assert head["parameters"]["class"] == "head_ct"
    assert _split_folder(head["catalog"]).startswith("data/05_model_input/head_ct-128px-s0-")
    # another seed, size, channel setting or validation fraction is another folder
    others = [{"seed": 1}, {"ingestion": {"img_size": 64}}, {"ingestion": {"channels": 1}},
              {"ingestion": {"val_fraction": 0.2}}, {"ingestion": {"data_root": "/data/x"}}]
    folders = {_split_folder(config_loader(project_root, o)["catalog"]) for o in others}
    assert len(folders) == len(others) and folder not in folders
    catalog = DataCatalog.from_config(head["catalog"])
    assert isinstance(catalog.get("train_set"), ImageSetDataset)
    assert isinstance(catalog.get("raw_class_folder"), ClassFolderDataset)


def test_catalog_names_the_raw_folder_the_parameters_name(project_root):
    """``raw_class_folder`` (the ingest node's input) is where ingestion reads the class from."""
    for runtime, folder in ((None, "data/01_raw/mvtec_ad/bottle"), ({"class": "head_ct"}, "data/01_raw/head_ct"),
                            ({"class": "screw", "ingestion": {"data_root": "/data/x"}}, "/data/x/screw"),
                            ({"class": "mine", "ingestion": {"class_paths": {"mine": "/d/m"}}}, "/d/m")):
        assert config_loader(project_root, runtime)["catalog"]["raw_class_folder"]["folder"] == folder


def test_parameters_file_is_valid_and_dotted_overrides_merge(project_root):
    params = config_loader(project_root)["parameters"]
    cfg = IngestionConfig.from_params(params["ingestion"])
    # the yml spells out the code defaults, and the per-class channels, which only the yml sets
    assert cfg == replace(IngestionConfig(), class_channels={"head_ct": 1})
    # `kedro run --params class=screw,ingestion.data_root=/data/x` parses like this (OmegaConf dotlist)
    cli = OmegaConf.to_container(OmegaConf.from_dotlist(["class=screw", "ingestion.data_root=/data/x",
                                                         "ingestion.img_size=64"]))
    merged = config_loader(project_root, cli)["parameters"]
    assert merged["class"] == "screw"
    assert merged["ingestion"]["data_root"] == "/data/x" and merged["ingestion"]["img_size"] == 64
    assert merged["ingestion"]["class_paths"] == {"head_ct": "data/01_raw/head_ct"}  # untouched keys kept
    assert config_loader(project_root, cli)["catalog"]["val_set"]["filepath"].startswith(
        "data/05_model_input/screw-64px-s0-")
