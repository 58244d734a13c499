from kedro.pipeline import Node, Pipeline

from .nodes import load_predict_detector, predict_folder


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                load_predict_detector,
                inputs=["params:predict", "params:class", "params:recipe", "params:config", "params:masking"],
                outputs="predict_detector",
                name="load_predict_detector",
            ),
            Node(
                predict_folder,
                inputs=["predict_detector", "params:predict"],
                # the maps first, then the table that names them
                outputs=["predict_heatmaps", "predict_overlays", "predictions"],
                name="predict_folder",
            ),
        ],
        tags="predict",  # a group in kedro viz (Tags filter); kedro run --tags=predict
    )
