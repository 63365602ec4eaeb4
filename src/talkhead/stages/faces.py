"""Stage `faces`: one decode of the clip's video → face track, face statistics and scene cuts.

Parses the arguments and runs talkhead.faces.find.faces_clip, whose module docstring describes the
outputs in data/faces/{clip}/ (track.parquet, faces.json, status.json).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import FacesConfig
from talkhead.faces.find import faces_clip
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    cfg = FacesConfig.from_json(args.cfg)
    status = faces_clip(Path(args.normalize), Path(args.out), cfg)
    if not status.ok:
        return f"faces {status.clip}: rejected upstream ({', '.join(status.reasons)})"
    d = status.details
    px = f"{d['face_px']:.0f} px" if d["face_px"] else "no face"
    return (f"faces {status.clip}: {d['frames']} frames, face {px}, detected at {d['detection_rate']:.0%} of "
            f"{d['probes']} probes, coverage {d['face_coverage']:.0%}, up to {d['faces_max']} faces, "
            f"{len(d['scene_cuts'])} cuts")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.faces --normalize DIR --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.faces", __doc__.splitlines()[0])
    parser.add_argument("--normalize", required=True, help="the clip's normalize folder, data/normalize/{clip}")
    parser.add_argument("--out", required=True, help="output clip folder, data/faces/{clip}")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
