"""Stage `blendshapes`: one clip's mesh + its speaker's calibration → 52 ARKit coefficients per frame.

Parses the arguments and runs talkhead.features.blendshapes.blendshapes_clip (the file it writes is described
there).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path


from talkhead.config import BlendshapesConfig
from talkhead.features.blendshapes import blendshapes_clip
from talkhead.stages.common import run_stage, stage_parser


def _clip_main(args: argparse.Namespace) -> str:
    info = blendshapes_clip(Path(args.mesh), Path(args.calibration), Path(args.out),
                            BlendshapesConfig.from_json(args.cfg))
    return f"blendshapes {info['clip']}: {info['frames']} × 52 → {args.out}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.blendshapes --mesh FILE --calibration JSON --out FILE [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.blendshapes", __doc__.splitlines()[0])
    parser.add_argument("--mesh", required=True, help="data/features/{clip}/face_mesh.safetensors")
    parser.add_argument("--calibration", required=True, help="data/features/_calibration/{speaker}.json")
    parser.add_argument("--out", required=True, help="data/features/{clip}/blendshapes.safetensors")
    return run_stage(_clip_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
