"""Run one pipeline in process, as Kedro's spaceflights starter tests do: the pipeline object, a
``DataCatalog`` of ``MemoryDataset``s plus ``params:`` entries, ``SequentialRunner().run``.

The parameters are the project's own (``conf/``, read by the loader a Kedro session uses) with a
tiny model and protocol on top, so these tests follow the configuration instead of copying it; the
data is a synthetic MVTec AD class ingested in memory by the ingestion node's function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from kedro.config import OmegaConfigLoader
from kedro.io import AbstractDataset, DataCatalog, MemoryDataset
from omegaconf import OmegaConf

from kedro_project import PROJECT_ROOT, TINY_PARAMS
from metal_pipeline import run_identity
from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.hooks import publish_identity
from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.model import MeTAL
from metal_pipeline.pipelines.ingestion.nodes import ingest
from metal_pipeline.pipelines.training.nodes import build_detector, model_config
from metal_pipeline.settings import CONFIG_LOADER_ARGS
from synthetic import make_mvtec_category

CLASS = "widget"
#: Defect types of the synthetic class (two images each) beside two good test images.
DEFECTS = {"crack": 2, "hole": 2}


def tiny_config(tmp_path: Path, **overrides: Any) -> OmegaConfigLoader:
    """The project's configuration for class ``widget`` with ``kedro_project.TINY_PARAMS``, 2 epochs, 2
    validation images; raw data, checkpoints and TIFF maps under ``tmp_path`` (dotted ``overrides`` on
    top). The run identity is published as the project hook does, so catalog entries resolve."""
    dotted = {**TINY_PARAMS, "class": CLASS, "training.max_epochs": 2, "training.device": "cpu",
              "ingestion.val_fraction": 0.25, "ingestion.data_root": tmp_path / "raw",
              "training.checkpoint_root": tmp_path / "models",
              "heatmaps.output_root": tmp_path / "maps", **overrides}
    runtime = OmegaConf.to_container(OmegaConf.from_dotlist([f"{k}={v}" for k, v in dotted.items()]))
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), runtime_params=runtime, **CONFIG_LOADER_ARGS)
    publish_identity(run_identity.identity(loader["parameters"]))
    return loader


def tiny_parameters(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """The parameters of :func:`tiny_config`."""
    return dict(tiny_config(tmp_path, **overrides)["parameters"])


def catalog_dataset(config: OmegaConfigLoader, name: str) -> AbstractDataset:
    """Dataset ``name`` as the project's catalog defines it (for outputs that must be files)."""
    return DataCatalog.from_config({name: config["catalog"][name]}).get(name)


def synthetic_splits(params: dict[str, Any], data_seed: int = 0) -> tuple[ImageSet, ImageSet, ImageSet, dict[str, Any]]:
    """Train, validation and test sets and the split manifest of a synthetic ``widget`` class written
    under ``ingestion.data_root``, as the ingestion node returns them: 8 normal training images (6 train,
    2 validation), 2 good and 4 defective test images, two image sizes; other pixels for another
    ``data_seed``."""
    folder = make_mvtec_category(params["ingestion"]["data_root"], CLASS, n_train=8, n_test_good=2,
                                 defects=DEFECTS, sizes=[(48, 48), (56, 40)], seed=data_seed)
    return ingest(folder, CLASS, params["ingestion"], params["seed"])


def untrained_detector(params: dict[str, Any], splits) -> tuple[AnomalyDetector, dict[str, Any]]:
    """A detector as the training pipeline's ``build_detector`` makes it (scoring parameters, validation
    threshold, the split's digests) around a seeded, untrained network, and the training summary it
    was given: what the heatmaps pipeline needs, without training."""
    train, val, _, manifest = splits
    torch.manual_seed(params["seed"])
    net = MeTAL(model_config(train, params["class"], params["config"], params["masking"], params["model"]))
    summary = {"run_name": run_identity.run_name(params), "class": params["class"], "recipe": params["recipe"],
               "configuration": params["config"], "masking": params["masking"], "seed": params["seed"],
               "split": {"name": manifest["split"], "digests": manifest["digests"]}}
    detector, _ = build_detector(net, train, val, params["scoring"], summary)
    return detector, summary


class KeptDataset(MemoryDataset):
    """A ``MemoryDataset`` the runner does not empty after its last consumer ran, so a test can read
    intermediate outputs (the detector, the training summary) after the run."""

    def _release(self) -> None:
        pass


def memory_catalog(params: dict[str, Any], **datasets: Any) -> DataCatalog:
    """Every top-level parameter as ``params:<name>`` and each of ``datasets`` as a ``MemoryDataset``
    (``copy_mode="assign"``: networks and image sets are handed on, not copied); ``None`` declares an
    output to read back after the run (a :class:`KeptDataset`)."""
    catalog = DataCatalog({name: MemoryDataset(data, copy_mode="assign") if data is not None
                           else KeptDataset(copy_mode="assign") for name, data in datasets.items()})
    for name, value in params.items():
        catalog[f"params:{name}"] = MemoryDataset(value)
    return catalog
