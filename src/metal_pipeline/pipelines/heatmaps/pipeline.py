from kedro.pipeline import Node, Pipeline

from .nodes import export_maps, score_test_set


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                score_test_set,
                inputs=["anomaly_detector", "test_set", "params:heatmaps"],
                outputs="test_scores",
                name="score_test_set",
            ),
            Node(
                export_maps,
                inputs=["test_scores", "test_set", "params:heatmaps", "params:class", "training_summary",
                        "params:scoring", "params:evaluation"],
                outputs=["anomaly_maps", "anomaly_map_index"],  # the maps are saved first
                name="export_anomaly_maps",
            ),
        ],
        tags="heatmaps",  # kedro viz's Tags filter (its group: stages.py); kedro run --tags=heatmaps
    )
