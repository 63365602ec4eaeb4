"""Stage `faces`: one decode of the clip's video → face track, face statistics and scene cuts.

Runs talkhead.faces.find.find_faces on the normalized clip. Outputs in data/faces/{clip}/:
track.parquet (per frame: smoothed box, raw box and score at probes, faces counted), faces.json
(per-clip statistics read by the quality gate) and status.json. A clip without any face is not an
error here: the gate rejects it as `no_face`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.atomic import atomic_dir, atomic_path, write_json
from talkhead.config import FacesConfig
from talkhead.data.status import ClipStatus, pass_on, read_status
from talkhead.faces.find import find_faces
from talkhead.media.clip_video import ClipVideo
from talkhead.media.probe import MediaError
from talkhead.stages.common import run_stage, stage_parser


def faces_clip(normalize_dir: Path, out: Path, cfg: FacesConfig) -> ClipStatus:
    """Run the faces stage on one normalized clip folder, writing `out` atomically."""
    upstream = read_status(normalize_dir)
    with atomic_dir(out) as tmp:
        if not upstream.ok:
            return pass_on(upstream, "faces", tmp)
        try:
            table, stats = find_faces(ClipVideo.read(normalize_dir), cfg, upstream.clip, normalize_dir / "audio.wav")
        except MediaError as exc:
            status = ClipStatus(upstream.clip, "faces", False, [exc.reason], str(exc), {"rejected_at": "faces"})
            status.write(tmp)
            return status
        with atomic_path(tmp / "track.parquet") as part:
            table.to_parquet(part, index=False)
        stats["detector"] = cfg.detector
        write_json(tmp / "faces.json", stats)
        status = ClipStatus(upstream.clip, "faces", True, [], "", stats)
        status.write(tmp)
    return status


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
