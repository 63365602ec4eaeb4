"""Stage `crop`: the stable square face crop, its face-mesh landmarks and face sharpness, in one pass.

Parses the arguments and runs talkhead.faces.crop_pass.crop_clip, whose module docstring describes the
outputs in data/crop/{clip}/ (crop.mp4, landmarks.npz, crop.json, status.json).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import CropConfig
from talkhead.faces.crop_pass import crop_clip
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    cfg = CropConfig.from_json(args.cfg)
    status = crop_clip(Path(args.faces), Path(args.normalize), Path(args.out), cfg)
    if not status.ok:
        return f"crop {status.clip}: not cropped ({', '.join(status.reasons)})"
    d = status.details
    blur = f"{d['blur']:.0f}" if d["blur"] is not None else "n/a"
    return (f"crop {status.clip}: {d['frames']} frames at {d['size']} px from a {d['crop_side_px']:.0f} px window, "
            f"landmarks in {d['landmark_rate']:.0%}, sharpness {blur}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.crop --faces DIR --normalize DIR --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.crop", __doc__.splitlines()[0])
    parser.add_argument("--faces", required=True, help="the clip's faces folder, data/faces/{clip}")
    parser.add_argument("--normalize", required=True, help="the clip's normalize folder, data/normalize/{clip}")
    parser.add_argument("--out", required=True, help="output clip folder, data/crop/{clip}")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
