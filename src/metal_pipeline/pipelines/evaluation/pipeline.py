from kedro.pipeline import Node, Pipeline

from .nodes import evaluate, make_figures


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                evaluate,
                inputs=["test_scores", "test_set", "params:evaluation", "params:class", "params:config",
                        "params:masking", "params:tracking_prefix", "raw_masks"],
                outputs=["metrics", "metrics_table"],
                name="evaluate",
            ),
            Node(
                make_figures,
                inputs=["test_scores", "test_set", "metrics_table", "params:evaluation"],
                outputs=["reconstruction_panel", "roc_curve", "per_defect_bars"],
                name="make_figures",
            ),
        ],
        tags="evaluation",  # kedro viz's Tags filter (its group: stages.py); kedro run --tags=evaluation
    )
