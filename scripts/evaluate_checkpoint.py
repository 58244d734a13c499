#!/usr/bin/env python
"""Evaluate the current best checkpoint of a run that is still training (or was stopped).

    python scripts/evaluate_checkpoint.py <run name>                # e.g. bottle-default-squares_rows-strict-s0-3f9a1c
    python scripts/evaluate_checkpoint.py bottle squares_rows strict  # a run of the old layout

Loads data/06_models/<run>/checkpoints/best.pt into a MeTAL of the pipeline's
parameters (conf/base/parameters_training.yml defaults: D=128, H=4, decoder
1x512; depth from the class), scores the ingested test set of the run's split
(data/05_model_input/<split>/test.npz, the split named in the checkpoint;
old layout: data/05_model_input/<class>/test.npz) with the pipeline's scoring rule
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
    if len(argv) == 1:
        run = argv[0]
        # <class>-<recipe>-<config>-<masking>-s<seed>-<hash> (metal_pipeline.run_identity.run_name)
        parts = run.split("-")
        class_name, config, masking = "-".join(parts[:-5]), parts[-4], parts[-3]
        last = torch.load(f"data/06_models/{run}/checkpoints/last.pt", map_location="cpu", weights_only=True)
        split = last["fingerprint_parts"]["extra.split"]["name"]
        test_path = f"data/05_model_input/{split}/test.npz"
    elif len(argv) == 3:
        class_name, config, masking = argv
        run = f"{class_name}/{config}-{masking}"
        test_path = f"data/05_model_input/{class_name}/test.npz"
    else:
        print(__doc__)
        return 2
    checkpoint = torch.load(f"data/06_models/{run}/checkpoints/best.pt", map_location="cpu", weights_only=True)
    test = ImageSet.load(test_path)
    cfg = MeTALConfig(img_size=test.size, channels=test.channels, depth=default_depth(class_name),
                      configuration=config, masking=masking)
    net = MeTAL(cfg)
    net.load_state_dict(checkpoint["model"])
    scores = AnomalyDetector(net, sigma=4.0).score(test.images)
    masks, maps = masks_and_maps(test, scores.maps, "original")
    report = evaluate_localization(masks, maps, test.labels, test.defects, scores.scores)
    print(f"{run} best.pt from epoch {checkpoint['epoch']} "
          f"(val loss {checkpoint['val_loss']:.5f}):")
    for metric, value in report["overall"].items():
        print(f"  {metric}: {value:.4f}" if isinstance(value, float) else f"  {metric}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
