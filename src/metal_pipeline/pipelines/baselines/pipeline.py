"""The Table 4-style comparison: each method x seed is the namespace ``table4.<method>.s<seed>``
(:mod:`metal_pipeline.baselines.methods`) whose run parameters (recipe, config, masking, seed, model,
training, scoring) come from the ``table4_grid`` resolver in ``parameters_baselines.yml``; the data,
its split (the ablation's ``ablation_ingestion``), heatmaps and evaluation parameters are shared.

* A MeTAL method runs the ablation's template (training -> heatmaps -> evaluation) with its recipe's
  parameters, so it is named, trained, reused and registered exactly like a ``train_eval`` or
  ablation run of that recipe.
* An autoencoder runs ``train_conv_ae`` and the training pipeline's ``build_detector`` (threshold from
  validation normals), then the same heatmaps and evaluation pipelines. Its detector stays in memory
  (the weights are in its checkpoint; the detector file format holds MeTAL networks only) and it
  registers no model.

The table node gathers every run's metrics into the table.
"""

from __future__ import annotations

from collections.abc import Iterable

from kedro.pipeline import Node, Pipeline

from metal_pipeline.baselines.methods import MethodRun, is_metal, make_runs
from metal_pipeline.pipelines.evaluation import create_pipeline as evaluation_pipeline
from metal_pipeline.pipelines.grid_pipeline import namespaced_runs, table_node
from metal_pipeline.pipelines.heatmaps import create_pipeline as heatmaps_pipeline
from metal_pipeline.pipelines.training import create_pipeline as training_pipeline
from metal_pipeline.pipelines.training.nodes import build_detector

from .nodes import table4_tables, train_conv_ae

#: Parameters every run shares (``params:<name>`` outside the namespace).
SHARED_PARAMETERS = ("class", "heatmaps", "evaluation", "tracking_prefix")


def conv_ae_template() -> Pipeline:
    """Train an autoencoder, threshold it like MeTAL, then the shared heatmaps and evaluation."""
    train = Pipeline([
        Node(train_conv_ae,
             inputs=["train_set", "val_set", "split_manifest", "params:class", "params:method", "params:seed",
                     "params:ingestion", "params:model", "params:training"],
             outputs=["conv_ae_net", "training_history", "training_summary"], name="train_conv_ae"),
        Node(build_detector, inputs=["conv_ae_net", "train_set", "val_set", "params:scoring", "training_summary"],
             outputs=["conv_ae_detector", "threshold_card"], name="build_detector"),
    ])
    scored = Pipeline(heatmaps_pipeline(), inputs={"anomaly_detector": "conv_ae_detector"})
    return train + scored + evaluation_pipeline()


def metal_template() -> Pipeline:
    return training_pipeline() + heatmaps_pipeline() + evaluation_pipeline()


def create_pipeline(runs: Iterable[MethodRun] | None = None, **kwargs) -> Pipeline:
    """The comparison's runs (default: the four methods, seed 0) and the table node."""
    runs = list(runs) if runs is not None else make_runs(None, None, 0)
    table = table_node(runs, lambda run: run.method, table4_tables, name="table4_table",
                       outputs=["table4_runs", "table4_table", "table4_markdown", "table4_figure"],
                       inputs={"class_name": "params:class"})
    per_run = namespaced_runs(runs, lambda run: metal_template() if is_metal(run.method) else conv_ae_template(),
                              SHARED_PARAMETERS)
    return per_run + table
