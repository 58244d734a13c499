#!/usr/bin/env python
"""Evaluate the current best checkpoint of a run that is still training (or was stopped).

    python scripts/evaluate_checkpoint.py bottle squares_rows strict

Loads data/06_models/<class>/<config>-<masking>/checkpoints/best.pt into a
MeTAL of the pipeline's parameters (conf/base/parameters_training.yml defaults:
D=128, H=4, decoder 1x512; depth from the class), scores the ingested test
set (data/05_model_input/<class>/test.npz) with the pipeline's scoring rule
(sigma 4, max) and prints the evaluation pipeline's overall metrics at the
masks' original resolution. An interim look, not a finished protocol run.
"""

from __future__ import annotations

import sys

import torch

from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.metrics.report import evaluate_localization
from metal_pipeline.model import MeTAL, MeTALConfig, default_depth
from metal_pipeline.scoring.ground_truth import masks_and_maps


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__)
        return 2
    class_name, config, masking = argv
    checkpoint = torch.load(f"data/06_models/{class_name}/{config}-{masking}/checkpoints/best.pt",
                            map_location="cpu", weights_only=True)
    test = ImageSet.load(f"data/05_model_input/{class_name}/test.npz")
    cfg = MeTALConfig(img_size=test.size, channels=test.channels, depth=default_depth(class_name),
                      configuration=config, masking=masking)
    net = MeTAL(cfg)
    net.load_state_dict(checkpoint["model"])
    scores = AnomalyDetector(net, sigma=4.0).score(test.images)
    masks, maps = masks_and_maps(test, scores.maps, "original")
    report = evaluate_localization(masks, maps, test.labels, test.defects, scores.scores)
    print(f"{class_name}/{config}-{masking} best.pt from epoch {checkpoint['epoch']} "
          f"(val loss {checkpoint['val_loss']:.5f}):")
    for metric, value in report["overall"].items():
        print(f"  {metric}: {value:.4f}" if isinstance(value, float) else f"  {metric}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
