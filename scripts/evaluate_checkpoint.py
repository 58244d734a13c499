#!/usr/bin/env python
"""Evaluate the best checkpoint of a run that is still training (or was stopped): an interim look.

    python scripts/evaluate_checkpoint.py --params class=bottle           # the run of kedro run --params class=bottle
    python scripts/evaluate_checkpoint.py --params class=bottle,recipe=paper,seed=1

The run is the one ``kedro run --pipelines=train_eval`` makes with the same ``--params``; everything
is read through the project (scripts/_project.py): the split's train, validation and test sets from
the catalog, ``<training.checkpoint_root>/<run>/checkpoints/best.pt`` loaded into the network the
``model`` parameters and the data describe, then the pipeline's own nodes: ``build_detector``
(scoring parameters of the recipe, threshold from validation normals), ``score_test_set`` and
``evaluate`` (evaluation parameters). It prints the overall metrics and writes nothing. On a
finished run it reproduces the run's ``metrics.json``, since training restores the best weights.
"""

from __future__ import annotations

import argparse
import sys

from _project import add_project_arguments, project_context, run_folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_project_arguments(parser)
    args = parser.parse_args(argv)
    context = project_context(args)
    params, catalog = context.params, context.catalog

    from metal_pipeline import run_identity
    from metal_pipeline.model import MeTAL
    from metal_pipeline.pipelines.evaluation.nodes import evaluate
    from metal_pipeline.pipelines.heatmaps.nodes import score_test_set
    from metal_pipeline.pipelines.training.nodes import build_detector, model_config
    from metal_pipeline.training import BEST_CHECKPOINT, load_best_checkpoint

    run = run_identity.run_name(params)
    checkpoints = run_identity.run_dir(params["training"]["checkpoint_root"], run) / "checkpoints"
    if not (checkpoints / BEST_CHECKPOINT).is_file():
        print(f"No {checkpoints / BEST_CHECKPOINT}: run {run} has not finished an epoch with these parameters "
              f"(kedro run --pipelines=train_eval{' --params ' + args.params if args.params else ''}).",
              file=sys.stderr)
        return 1
    train, val, test = (catalog.load(name) for name in ("train_set", "val_set", "test_set"))
    manifest = catalog.load("split_manifest")
    checkpoint = load_best_checkpoint(checkpoints)
    net = MeTAL(model_config(train, params["class"], params["config"], params["masking"], params["model"]))
    net.load_state_dict(checkpoint["model"])
    summary = {"run_name": run, "class": params["class"], "recipe": params["recipe"],
               "configuration": params["config"], "masking": params["masking"], "seed": params["seed"],
               "split": {"name": manifest["split"], "digests": manifest["digests"]},
               "checkpoint_dir": str(checkpoints)}  # where the run's discriminative head is cached
    detector, card = build_detector(net, train, val, params["scoring"], summary)
    report, _ = evaluate(score_test_set(detector, test, params["heatmaps"]), test, params["evaluation"],
                         params["class"], params["config"], params["masking"], raw_masks=catalog.load("raw_masks"))
    print(f"{run_folders()}: best.pt from epoch {checkpoint['epoch']} (val loss {checkpoint['val_loss']:.5f}), "
          f"threshold {card['threshold']:.6g}, {report['resolution']} resolution:")
    for metric, value in report["overall"].items():
        print(f"  {metric}: {value:.4f}" if isinstance(value, float) else f"  {metric}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
