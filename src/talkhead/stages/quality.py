"""Stage `quality`: every per-clip measure, the verdict with all failing reasons, and the aligned audio.

Parses the arguments and runs talkhead.quality.clip.quality_clip, whose module docstring describes the
outputs in data/quality/{clip}/ (quality.json, audio.wav, status.json); the summary is its one_line.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import QualityConfig
from talkhead.quality.clip import one_line, quality_clip
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    cfg = QualityConfig.from_json(args.cfg)
    status = quality_clip(Path(args.normalize), Path(args.faces), Path(args.crop), Path(args.out), cfg)
    return one_line(status)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.quality --normalize DIR --faces DIR --crop DIR --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.quality", __doc__.splitlines()[0])
    parser.add_argument("--normalize", required=True, help="data/normalize/{clip}")
    parser.add_argument("--faces", required=True, help="data/faces/{clip}")
    parser.add_argument("--crop", required=True, help="data/crop/{clip}")
    parser.add_argument("--out", required=True, help="output clip folder, data/quality/{clip}")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
