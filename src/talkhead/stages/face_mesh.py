"""Stage `face_mesh`: the crop's 478-point mesh per frame, lost frames interpolated and flagged, smoothed.

Reads data/crop/{clip}/landmarks.npz and data/quality/{clip}/quality.json; writes
data/features/{clip}/face_mesh.safetensors with `points` (T, 478, 3) float32 in crop pixels and
`found` (T,) uint8 (1 where MediaPipe found the face, 0 where the row is interpolated).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from talkhead.config import FaceMeshConfig
from talkhead.data.featurefile import write_features
from talkhead.features import mesh
from talkhead.data.status import accepted_measures
from talkhead.stages.common import run_stage, stage_parser


def face_mesh_clip(crop_dir: Path, quality_dir: Path, out: Path, cfg: FaceMeshConfig) -> dict:
    """Fill, smooth and write one accepted clip's mesh; return its metadata."""
    m = accepted_measures(quality_dir)
    with np.load(crop_dir / "landmarks.npz") as npz:
        points = npz["points"].astype(np.float32)  # (T, 478, 3)
    if len(points) != m["frames"]:
        raise ValueError(f"{crop_dir}: {len(points)} mesh frames for a {m['frames']}-frame clip")
    filled, found = mesh.fill_and_smooth(points, cfg.sigma_frames)
    meta = {"clip": m["clip"], "modality": "face_mesh", "rate_hz": m["fps"], "frames": m["frames"],
            "extractor": "mediapipe-face-mesh-478", "version": mesh.VERSION, "checkpoint": "mediapipe-0.10.21",
            "found_rate": f"{found.mean():.4f}"}
    write_features(out, {"points": filled, "found": found.astype(np.uint8)}, meta)
    return meta


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
