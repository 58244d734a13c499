"""Parameter count of every configuration at the paper's settings.

    python -m metal_pipeline.cli.param_count [--decoder-hidden 512 --decoder-layers 1]
    kedro param-count [...]        (the same, from the project folder)

Paper settings: N=128, K=16, C=3, D=128, H=4, MLP ratio 4, L=1 (products) /
L=2 (textures). The paper's Table 6 reports 17.8M (products) and 26.3M
(textures) parameters; see docs/MODEL.md for why our numbers differ.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from metal_pipeline.model.config import CONFIGURATIONS, MeTALConfig
from metal_pipeline.model.metal import MeTAL

PAPER_TABLE6 = {"products": 17.8e6, "textures": 26.3e6}
DEPTHS = {"products": 1, "textures": 2}


def count_parameters(cfg: MeTALConfig) -> dict[str, int]:
    """Parameters per part: one entry per encoder, ``decoder`` and ``total``."""
    model = MeTAL(cfg)
    parts: dict[str, int] = defaultdict(int)
    for name, p in model.named_parameters():
        top = name.split(".")
        key = top[1] if top[0] == "encoders" else top[0]
        parts[key] += p.numel()
    parts["total"] = sum(p.numel() for p in model.parameters())
    return dict(parts)


def table(decoder_hidden: int | None = None, decoder_layers: int | None = None) -> list[dict]:
    kw = {}
    if decoder_hidden is not None:
        kw["decoder_hidden"] = decoder_hidden
    if decoder_layers is not None:
        kw["decoder_layers"] = decoder_layers
    rows = []
    for group, depth in DEPTHS.items():
        for name, conf in CONFIGURATIONS.items():
            cfg = MeTALConfig(img_size=128, patch_size=16, channels=3, embed_dim=128, num_heads=4,
                              depth=depth, mlp_ratio=4.0, configuration=name,
                              masking=conf.masking_modes[0], **kw)
            rows.append({"group": group, "depth": depth, "configuration": name,
                         "decoder_shape": f"{cfg.decoder_layers}x{cfg.decoder_hidden}",
                         "paper_table6": PAPER_TABLE6[group], **count_parameters(cfg)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="MeTAL parameter counts vs. the paper's Table 6")
    ap.add_argument("--decoder-hidden", type=int, default=None)
    ap.add_argument("--decoder-layers", type=int, default=None)
    args = ap.parse_args(argv)
    rows = table(args.decoder_hidden, args.decoder_layers)
    print("N=128 K=16 C=3 D=128 H=4 mlp_ratio=4; masking does not change the count")
    head = (f"{'group':9} {'L':>1} {'configuration':18} {'squares':>9} {'rows':>9} {'cols':>9} "
            f"{'decoder':>15} {'total':>10} {'paper T6':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        cells = [f"{r.get(k, 0):>9,}" if k in r else f"{'-':>9}" for k in ("squares", "rows", "cols")]
        print(f"{r['group']:9} {r['depth']:>1} {r['configuration']:18} {' '.join(cells)} "
              f"{r['decoder']:>9,} {r['decoder_shape']:>5} {r['total'] / 1e6:>9.3f}M {r['paper_table6'] / 1e6:>8.1f}M")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
