"""Stage `face_mesh`: the crop's 478-point mesh per frame, lost frames interpolated and flagged, smoothed.

Parses the arguments and runs talkhead.features.mesh.face_mesh_clip, whose module docstring describes what it
reads and the data/features/{clip}/face_mesh.safetensors it writes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import FaceMeshConfig
from talkhead.features.mesh import face_mesh_clip
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    meta = face_mesh_clip(Path(args.crop), Path(args.quality), Path(args.out), FaceMeshConfig.from_json(args.cfg))
    return f"face_mesh {meta['clip']}: {meta['frames']} frames, mesh found in {float(meta['found_rate']):.0%}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.face_mesh --crop DIR --quality DIR --out FILE [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.face_mesh", __doc__.splitlines()[0])
    parser.add_argument("--crop", required=True, help="the clip's crop folder, data/crop/{clip}")
    parser.add_argument("--quality", required=True, help="the clip's quality folder, data/quality/{clip}")
    parser.add_argument("--out", required=True, help="data/features/{clip}/face_mesh.safetensors")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
