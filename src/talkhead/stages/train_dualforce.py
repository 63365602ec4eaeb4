"""Stage `train_dualforce`: DualForce trained with diffusion forcing on the packed dataset's train split.

Reads data/dataset/metadata.parquet, the packed clips it lists (video latents, motion, audio) and the
training split's motion statistics (data/dataset/motion_stats.safetensors); writes data/models/dualforce/
in place (config.json, motion_stats.safetensors, best/last/state.safetensors, state.json, metrics.csv,
metrics.json), so an interrupted run started again resumes from its last finished epoch. Under
torchrun (dualforce.nproc > 1) every process runs this entry point; dualforce.strategy picks DDP or FSDP.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import DualforceConfig
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    from talkhead.train import distributed
    from talkhead.train.dualforce import train

    try:  # under torchrun: leave the process group however training ends
        s = train(Path(args.metadata), Path(args.stats), DualforceConfig.from_json(args.cfg), Path(args.out))
    finally:
        distributed.shutdown()
    best = "n/a" if s["best_val"] is None else f"{s['best_val']:.4f} (epoch {s['best_epoch']})"
    return (f"dualforce: {s['parameters']} parameters, {s['clips']} train clips, {s['epochs']} epochs (resumed after "
            f"{s['resumed_after']}), val loss {s['first_val']:.4f} untrained → best {best} in {s['seconds']:.0f} s "
            f"→ {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.train_dualforce --metadata PARQUET --stats FILE --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.train_dualforce", __doc__.splitlines()[0])
    parser.add_argument("--metadata", required=True, help="data/dataset/metadata.parquet")
    parser.add_argument("--stats", required=True, help="data/dataset/motion_stats.safetensors (training split)")
    parser.add_argument("--out", required=True, help="the model folder, data/models/dualforce")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
