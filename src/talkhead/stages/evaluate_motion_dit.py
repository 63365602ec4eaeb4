"""Stage `evaluate_motion_dit`: the motion DiT scored on the held-out speakers (DVC metrics + plots).

Parses the arguments and runs talkhead.eval.motion_outputs.evaluate_motion_dit, whose module docstring
describes the outputs in data/eval/motion_dit/ (metrics.json, tracks.csv, plots/mouth.png, speaking.csv).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import EvaluateConfig
from talkhead.eval.motion_outputs import evaluate_motion_dit
from talkhead.stages.common import run_stage, stage_parser


def _path(value: str) -> Path | None:
    """An optional path flag: '' → None."""
    return Path(value) if value else None


def _main(args: argparse.Namespace) -> str:
    from talkhead.eval.motion import describe

    m = evaluate_motion_dit(Path(args.model), Path(args.metadata), Path(args.out), EvaluateConfig.from_json(args.cfg),
                            _path(args.syncnet), _path(args.crop_root), _path(args.quality_root))
    return (f"evaluate_motion_dit: {m['clips']} {m['split']} clips, {describe(m)}; "
            f"absent {sorted(m['absent'])} → {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.evaluate_motion_dit --model DIR --metadata FILE --out DIR [--syncnet DIR] ..."""
    parser = stage_parser("talkhead.stages.evaluate_motion_dit", __doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="data/models/motion_dit")
    parser.add_argument("--metadata", required=True, help="data/dataset/metadata.parquet")
    parser.add_argument("--out", required=True, help="data/eval/motion_dit")
    parser.add_argument("--syncnet", default="", help="data/models/syncnet (sync_*_selftrained)")
    parser.add_argument("--crop-root", default="", help="data/crop: the real crop videos (fid_inception, fvd_i3d)")
    parser.add_argument("--quality-root", default="", help="data/quality: the clips' audio (sync_*_syncnet)")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
