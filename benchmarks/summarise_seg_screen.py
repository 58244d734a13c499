"""Mean ± std over runs of ``screen_seg_head.py`` rows: one line per map, sigma and image reduction.

    python benchmarks/summarise_seg_screen.py benchmarks/results/<screen>.jsonl [--sort val_image] [--out table.md]

Columns: validation pixel AUROC of the map (synthetic anomalies of the
validation family), validation image AUROC, test image AUROC (and test pixel
AUROC where the test set has masks). Sorted by the validation column named
with ``--sort``; the test columns only report.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jsonl", type=Path, nargs="+", help="one or more screen files (rows of several head widths are "
                    "told apart by a width column)")
    ap.add_argument("--sort", default="val_image", choices=["val_image", "val_pixel"])
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    rows = []
    lines_in = [(path, line) for path in a.jsonl for line in path.read_text().splitlines() if line.strip()]
    for path, line in lines_in:
        r = json.loads(line)
        if "width" not in r:  # the head's default width changed (8, then 16): a row must say which it used
            raise SystemExit(f"{path}: a row has no 'width'; screen_seg_head.py records it, so add the head width "
                             f"the screen ran with to each row ({line[:80]}...)")
        reductions = str(r.get("reductions", "max")).split(",")
        for i, red in enumerate(reductions):
            key = "image_auroc" if i == 0 else f"image_auroc_{red}"
            rows.append({"run": Path(r["run"]).name, "width": r["width"], "map": r["variant"], "sigma": r.get("sigma", r.get("seg_sigma")),
                         "reduction": red, "val_pixel": r["val"].get("pixel_auroc"), "val_image": r["val"].get(key),
                         "test_image": r["test"].get(key), "test_pixel": r["test"].get("pixel_auroc")})
    df = pd.DataFrame(rows)
    by_width = df["width"].nunique() > 1
    g = df.groupby((["width"] if by_width else []) + ["map", "sigma", "reduction"]).agg(
        runs=("run", "nunique"), val_pixel=("val_pixel", "mean"), val_image=("val_image", "mean"),
        val_image_std=("val_image", "std"), test_image=("test_image", "mean"), test_image_std=("test_image", "std"),
        test_pixel=("test_pixel", "mean")).reset_index().sort_values(a.sort, ascending=False)
    lines = [f"{df['run'].nunique()} runs: {', '.join(sorted(df['run'].unique()))}", "",
             ("| head width " if by_width else "") + "| map | sigma | image score | val pixel AUROC | val image AUROC | "
             "test image AUROC | test pixel AUROC |",
             "|---" * (8 if by_width else 7) + "|"]
    for _, r in g.iterrows():
        tp = "—" if pd.isna(r["test_pixel"]) else f"{r['test_pixel']:.3f}"
        lines.append((f"| {r['width']} " if by_width else "") + f"| {r['map']} | {r['sigma']:g} | {r['reduction']} | {r['val_pixel']:.3f} | "
                     f"{r['val_image']:.3f} ± {r['val_image_std']:.3f} | {r['test_image']:.3f} ± "
                     f"{r['test_image_std']:.3f} | {tp} |")
    text = "\n".join(lines)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
