"""DualForce sizes: every registered size built on the meta device (no memory), its parameter count printed.

    python benchmarks/dualforce_sizes.py [--bridge-layers 4] [--out benchmarks/results/dualforce_sizes.json]

Two settings per size: the cluster setting of the notes (a 16-channel video VAE at 256 px → 32 × 32
latents, 16 + 4 + 16 input channels; HuBERT-large audio, 1024-d, 2 rows per frame) and the offline
demo setting (the pipeline's own 4-channel video VAE at 64 px → 8 × 8 latents; 80-bin log-mel, 4 rows
per frame). Per size: parameters in total, per tower, in the bridge, and the fp32 / bf16 weight bytes.
Building on `torch.device("meta")` allocates nothing, so the 2 B `large` size is counted on a laptop.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {  # name -> build_on_meta keyword arguments
    "cluster": {"latent_channels": 16, "latent_size": 32, "audio_dim": 1024, "audio_rows": 2},
    "demo": {"latent_channels": 4, "latent_size": 8, "audio_dim": 80, "audio_rows": 4},
}


def count(size: str, bridge_layers: int, setting: dict) -> dict:
    """Parameter counts of one size in one setting, built on the meta device."""
    from talkhead.models.layers import parameter_count
    from talkhead.models.video_df import build_on_meta

    model = build_on_meta(size, bridge_layers=bridge_layers, **setting)
    total = parameter_count(model)
    parts = {"video_tower": parameter_count(model.video), "struct_tower": parameter_count(model.struct),
             "bridge": parameter_count(model.bridges)}
    return {"parameters": total, **parts, "bridge_layers": len(model.bridges), "spec": model.spec.to_dict(),
            "fp32_gb": round(total * 4 / 1e9, 3), "bf16_gb": round(total * 2 / 1e9, 3),
            "device": next(model.parameters()).device.type}


def main(argv: list[str] | None = None) -> int:
    """Count every registered size; print a table and write the JSON."""
    from talkhead.models.video_df import DUALFORCE_SIZES, humanise

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bridge-layers", type=int, default=4, help="K, capped at each size's depth")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "dualforce_sizes.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    log = logging.getLogger("dualforce_sizes")
    results = {name: {s: count(name, args.bridge_layers, kw) for s, kw in SETTINGS.items()} for name in DUALFORCE_SIZES}
    for name, by_setting in results.items():
        c = by_setting["cluster"]
        log.info("%-6s %10s parameters (video %s, structure %s, bridge %s; K=%d) on %s; demo setting %s", name,
                 humanise(c["parameters"]), humanise(c["video_tower"]), humanise(c["struct_tower"]),
                 humanise(c["bridge"]), c["bridge_layers"], c["device"], humanise(by_setting["demo"]["parameters"]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"settings": SETTINGS, "sizes": results}, indent=2, sort_keys=True) + "\n")
    log.info("→ %s", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
