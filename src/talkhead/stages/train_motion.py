"""Stage `train_motion`: the MoDA-style motion DiT, trained with flow matching on the packed dataset's train split.

Reads data/dataset/metadata.parquet, the packed clips it lists and the training split's motion
statistics (data/dataset/motion_stats.safetensors); writes data/models/motion_dit/ in place
(config.json, motion_stats.safetensors, best/last/state.safetensors, state.json, metrics.csv,
metrics.json), so an interrupted run started again resumes from its last finished epoch.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import MotionDitConfig
from talkhead.stages.common import run_stage, stage_parser
from talkhead.stages.train_lipsync import summary_line


def _main(args: argparse.Namespace) -> str:
    from talkhead.train.motion_dit import train

    s = train(Path(args.metadata), Path(args.stats), MotionDitConfig.from_json(args.cfg), Path(args.out))
    return summary_line(s, args.out, "motion_dit")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.train_motion --metadata PARQUET --stats FILE --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.train_motion", __doc__.splitlines()[0])
    parser.add_argument("--metadata", required=True, help="data/dataset/metadata.parquet")
    parser.add_argument("--stats", required=True, help="data/dataset/motion_stats.safetensors (training split)")
    parser.add_argument("--out", required=True, help="the model folder, data/models/motion_dit")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
