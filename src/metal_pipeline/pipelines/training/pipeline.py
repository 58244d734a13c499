from kedro.pipeline import Node, Pipeline


from .nodes import build_detector, register_detector, train_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_model,
                inputs=["train_set", "val_set", "split_manifest", "params:class", "params:recipe",
                        "params:config", "params:masking", "params:seed", "params:ingestion", "params:model",
                        "params:training", "params:tracking_prefix"],
                outputs=["metal_net", "training_history", "training_summary"],
                name="train_model",
            ),
            Node(
                build_detector,
                inputs=["metal_net", "train_set", "val_set", "params:scoring", "training_summary"],
                outputs=["anomaly_detector", "threshold_card"],
                name="build_detector",
            ),
            Node(
                register_detector,
                inputs=["anomaly_detector", "threshold_card", "training_summary"],
                outputs="model_card",
                name="register_detector",
            ),
        ],
        tags="training",  # kedro viz's Tags filter (its group: stages.py); kedro run --tags=training
    )
