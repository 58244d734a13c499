"""One template (training -> heatmaps -> evaluation) reused per configuration, as in
modular-spaceflights: each configuration is a namespace ``ablation.<config>`` whose
``config``, ``masking`` and ``tracking_prefix`` parameters come from
``parameters_ablation.yml``; everything else (class, data, protocol) is shared.
"""

import warnings

from kedro.pipeline import Node, Pipeline

from metal_pipeline.model import CONFIGURATIONS
from metal_pipeline.pipelines.evaluation import create_pipeline as evaluation_pipeline
from metal_pipeline.pipelines.heatmaps import create_pipeline as heatmaps_pipeline
from metal_pipeline.pipelines.training import create_pipeline as training_pipeline

from .nodes import ablation_table

SHARED_PARAMETERS = ("class", "recipe", "seed", "ingestion", "model", "training", "scoring", "heatmaps", "evaluation")
SHARED_INPUTS = {"train_set", "val_set", "test_set", "split_manifest"}


def create_pipeline(**kwargs) -> Pipeline:
    template = training_pipeline() + heatmaps_pipeline() + evaluation_pipeline()
    per_configuration = [
        Pipeline(
            template,
            namespace=f"ablation.{name}",
            inputs=SHARED_INPUTS,
            parameters={f"params:{p}": f"params:{p}" for p in SHARED_PARAMETERS},
        )
        for name in CONFIGURATIONS
    ]
    with warnings.catch_warnings():
        # Mapping onto the namespaced names ("ablation.<config>.metrics_table") is the
        # documented way to consume namespace outputs; Kedro still warns about the dots.
        warnings.filterwarnings("ignore", message=".*dataset names contain '.' characters.*")
        table = _table_pipeline()
    return sum(per_configuration, Pipeline([])) + table


def _table_pipeline() -> Pipeline:
    return Pipeline(
        [
            Node(
                ablation_table,
                inputs=[f"{name}_metrics_table" for name in CONFIGURATIONS],
                outputs=["ablation_table", "ablation_markdown"],
                name="ablation_table",
            )
        ],
        inputs={f"{name}_metrics_table": f"ablation.{name}.metrics_table" for name in CONFIGURATIONS},
    )
