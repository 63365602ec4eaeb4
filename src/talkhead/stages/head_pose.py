"""Stage `head_pose`: one clip's face mesh → yaw, pitch, roll, translation and scale per frame.

Reads data/features/{clip}/face_mesh.safetensors; writes data/features/{clip}/head_pose.safetensors
with `euler` (T, 3) pitch, yaw, roll in degrees, `matrix` (T, 3, 3), `translation` (T, 3) crop
pixels, `scale` (T,) crop pixels per canonical unit and `residual` (T,) RMS fit error in canonical
units, all float32 (talkhead.features.pose: a similarity fit to the canonical neutral face).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from talkhead.data.featurefile import read_features, write_features
from talkhead.features import pose as head
from talkhead.stages.common import run_stage, stage_parser


def head_pose_clip(mesh_file: Path, out: Path) -> dict:
    """Fit and write one clip's head pose; return its metadata."""
    tensors, meta = read_features(mesh_file, keys=["points"])
    fit = head.fit_pose(tensors["points"])
    info = {"clip": meta["clip"], "modality": "head_pose", "rate_hz": meta["rate_hz"], "frames": meta["frames"],
            "extractor": "similarity-fit-canonical-mesh", "version": head.VERSION, "checkpoint": "canonical_face.npy",
            "residual_median": f"{float(np.median(fit.residual)):.4f}"}
    write_features(out, {"euler": fit.euler(), "matrix": fit.matrix, "translation": fit.translation,
                         "scale": fit.scale, "residual": fit.residual}, info)
    return info


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
