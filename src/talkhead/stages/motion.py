"""Stage `motion`: one clip's mesh + head pose → MoDA's 70 motion values per frame.

Reads data/features/{clip}/face_mesh.safetensors and head_pose.safetensors; writes
data/features/{clip}/motion.safetensors with `motion` (T, 70) float32 (talkhead.features.motion:
63 keypoint deformations, scale, 3 translation, pitch, yaw, roll). Unnormalised: the training
split's statistics are written by the `motion_stats` stage.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.data.featurefile import read_features, write_features
from talkhead.features import motion as mo
from talkhead.features.pose import Pose
from talkhead.stages.common import run_stage, stage_parser


def motion_clip(mesh_file: Path, pose_file: Path, out: Path) -> dict:
    """Compute and write one clip's motion; return its metadata."""
    mesh, meta = read_features(mesh_file, keys=["points"])
    p, pmeta = read_features(pose_file, keys=["scale", "matrix", "translation", "residual"])
    if pmeta["clip"] != meta["clip"] or pmeta["frames"] != meta["frames"]:
        raise ValueError(f"{pose_file} ({pmeta['clip']}, {pmeta['frames']} frames) does not belong to "
                         f"{mesh_file} ({meta['clip']}, {meta['frames']} frames)")
    pose = Pose(p["scale"], p["matrix"], p["translation"], p["residual"])
    motion = mo.motion_from_pose(mesh["points"], pose)  # (T, 70)
    info = {"clip": meta["clip"], "modality": "motion", "rate_hz": meta["rate_hz"], "frames": meta["frames"],
            "extractor": "mesh-keypoints-moda-70", "version": mo.VERSION, "checkpoint": "canonical_face.npy",
            "names": ",".join(mo.NAMES)}
    write_features(out, {"motion": motion}, info)
    return info


def _main(args: argparse.Namespace) -> str:
    info = motion_clip(Path(args.mesh), Path(args.pose), Path(args.out))
    return f"motion {info['clip']}: {info['frames']} × {mo.DIM} → {args.out}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.motion --mesh FILE --pose FILE --out FILE."""
    parser = stage_parser("talkhead.stages.motion", __doc__.splitlines()[0])
    parser.add_argument("--mesh", required=True, help="data/features/{clip}/face_mesh.safetensors")
    parser.add_argument("--pose", required=True, help="data/features/{clip}/head_pose.safetensors")
    parser.add_argument("--out", required=True, help="data/features/{clip}/motion.safetensors")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
