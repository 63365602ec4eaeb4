"""Stage `head_pose`: one clip's face mesh → yaw, pitch, roll, translation and scale per frame.

Parses the arguments and runs talkhead.features.pose.head_pose_clip (a similarity fit to the canonical neutral
face), whose module docstring describes the data/features/{clip}/head_pose.safetensors it writes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.features.pose import head_pose_clip
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    info = head_pose_clip(Path(args.mesh), Path(args.out))
    return f"head_pose {info['clip']}: {info['frames']} frames, median residual {info['residual_median']}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.head_pose --mesh FILE --out FILE."""
    parser = stage_parser("talkhead.stages.head_pose", __doc__.splitlines()[0])
    parser.add_argument("--mesh", required=True, help="data/features/{clip}/face_mesh.safetensors")
    parser.add_argument("--out", required=True, help="data/features/{clip}/head_pose.safetensors")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
