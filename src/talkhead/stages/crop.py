"""Stage `crop`: the stable square face crop, its face-mesh landmarks and face sharpness, in one pass.

Runs talkhead.faces.crop_pass.crop_video on the smoothed track from data/faces/{clip}/ and the clip's
video (data/normalize/{clip}/video.json); writes to data/crop/{clip}/: crop.mp4 (size × size, the
normalized fps, no audio), landmarks.npz (`points` (T, 478, 3) float16 in crop pixels, `found` (T,)
bool, `windows` (T, 3) crop centre and side in source pixels), crop.json (per-clip numbers for the
gate) and status.json. A clip whose track holds no face is passed on with reason `no_face` without
encoding anything.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from talkhead.atomic import atomic_dir, write_json
from talkhead.config import CropConfig
from talkhead.data.status import ClipStatus, pass_on, read_status
from talkhead.faces.crop_pass import crop_video
from talkhead.media.clip_video import ClipVideo
from talkhead.stages.common import run_stage, stage_parser


def crop_clip(faces_dir: Path, normalize_dir: Path, out: Path, cfg: CropConfig) -> ClipStatus:
    """Run the crop stage for one clip, writing `out` atomically."""
    upstream = read_status(faces_dir)
    with atomic_dir(out) as tmp:
        if not upstream.ok:
            return pass_on(upstream, "crop", tmp)
        track = pd.read_parquet(faces_dir / "track.parquet")
        boxes = track[["x0", "y0", "x1", "y1"]].to_numpy(np.float32)
        if np.isnan(boxes[:, 0]).all():
            status = ClipStatus(upstream.clip, "crop", False, ["no_face"], "no face found in any frame",
                                {"rejected_at": "crop"})
            status.write(tmp)
            return status
        stats = crop_video(ClipVideo.read(normalize_dir), boxes, tmp, cfg, upstream.clip)
        write_json(tmp / "crop.json", stats)
        status = ClipStatus(upstream.clip, "crop", True, [], "", stats)
        status.write(tmp)
    return status


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
