#!/usr/bin/env python
"""Check that ``predict`` scored a class's test images exactly as evaluation did.

    kedro run --pipelines=train_eval --params class=bottle
    kedro run --pipelines=predict --params class=bottle        # the registered model, the class's test images
    python scripts/compare_predict_scores.py --params class=bottle

Both tables come from the project's catalog for the same ``--params`` (scripts/_project.py): the
heatmaps pipeline's ``anomaly_map_index`` of that run and the predict pipeline's ``predictions``
(``predict.output_dir``). Rows are matched by image (``broken_large/000`` in the index,
``broken_large/000.png`` in predictions). Exit status 1 unless every image is present in both and
the scores are bitwise equal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import PurePosixPath

import numpy as np

from _project import add_project_arguments, project_context, run_folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_project_arguments(parser)
    args = parser.parse_args(argv)
    catalog = project_context(args).catalog
    for name, pipeline in (("anomaly_map_index", "train_eval"), ("predictions", "predict")):
        if not catalog.exists(name):
            print(f"No {name} for these parameters (run {run_folders()}): run kedro run --pipelines={pipeline}"
                  f"{' --params ' + args.params if args.params else ''} first.", file=sys.stderr)
            return 2

    evaluation = catalog.load("anomaly_map_index")[["name", "score"]]
    predictions = catalog.load("predictions")
    predictions["name"] = [str(PurePosixPath(p).with_suffix("")) for p in predictions["path"]]
    joined = evaluation.merge(predictions[["name", "score", "error"]], on="name", how="outer",
                              suffixes=("_evaluation", "_predict"), indicator=True)
    missing = joined[joined["_merge"] != "both"]
    if len(missing):
        print(f"{len(missing)} images are not in both files:\n{missing[['name', '_merge']].to_string(index=False)}")
        return 1
    diff = np.abs(joined["score_evaluation"].to_numpy() - joined["score_predict"].to_numpy())
    equal = int(np.sum(joined["score_evaluation"].to_numpy() == joined["score_predict"].to_numpy()))
    print(f"images: {len(joined)}  bitwise-equal scores: {equal}  max |difference|: {diff.max():.3g}")
    return 0 if equal == len(joined) else 1


if __name__ == "__main__":
    sys.exit(main())
