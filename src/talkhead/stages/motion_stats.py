"""Stage `motion_stats`: the training split's motion files → per-dimension mean and std of the 70 values.

Parses the arguments and runs talkhead.features.motion_stats.motion_stats, whose module docstring describes
data/features/_stats/motion.safetensors and the training-split fallback.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from talkhead.data.shards import listed_paths
from talkhead.features.motion_stats import motion_stats
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    files, splits = [Path(p) for p in args.motions], json.loads(args.splits)
    if args.clips:  # data/qc/train.csv: the accepted training clips, with their splits
        files += listed_paths(args.clips, args.root, "motion.safetensors")
        splits |= dict(pd.read_csv(args.clips, dtype=str, keep_default_na=False)[["clip", "split"]].values)
    info = motion_stats(files, Path(args.out), splits)
    return (f"motion_stats: {info['frames']} frames of {len(info['clips'].split(','))} clips ({info['splits']})"
            f" → {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.motion_stats --out FILE [--splits JSON] MOTION..."""
    parser = stage_parser("talkhead.stages.motion_stats", __doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="data/features/_stats/motion.safetensors")
    parser.add_argument("--splits", default="{}", help="JSON clip → split of the manifest (recorded; default train)")
    parser.add_argument("--clips", default="", help="a clip list (clip, split), data/qc/train.csv: adds each "
                        "clip's <root>/<clip>/motion.safetensors")
    parser.add_argument("--root", default="data/features", help="the features folder (with --clips)")
    parser.add_argument("motions", nargs="*", help="data/features/{clip}/motion.safetensors of the training clips")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
