"""Stage `motion`: one clip's mesh + head pose (or its crop, through LivePortrait) → MoDA's 70 motion values a frame.

Reads data/features/{clip}/face_mesh.safetensors and head_pose.safetensors; writes
data/features/{clip}/motion.safetensors with `motion` (T, 70) float32 (talkhead.features.motion:
63 keypoint deformations, scale, 3 translation, pitch, yaw, roll). Unnormalised: the training
split's statistics are written by the `motion_stats` stage.

With `liveportrait.dir` set (--cfg), it reads data/crop/{clip}/crop.mp4 instead and runs
LivePortrait's motion extractor (talkhead.features.liveportrait_motion): the same layout, plus
`clip_kp_canonical` (21, 3), the first frame's canonical keypoints.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from talkhead.config import ConfigError, LiveportraitConfig
from talkhead.data.featurefile import read_features, write_features
from talkhead.features import motion as mo
from talkhead.features.pose import Pose
from talkhead.data.status import accepted_measures
from talkhead.stages.common import run_stage, stage_parser

if TYPE_CHECKING:
    from talkhead.features.liveportrait_motion import LivePortraitMotion


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


def liveportrait_motion_clip(crop_dir: Path, quality_dir: Path, out: Path, cfg: LiveportraitConfig,
                             extractor: LivePortraitMotion | None = None) -> dict:
    """One clip's motion through LivePortrait's motion extractor (loaded unless given); return its metadata."""
    from talkhead.features import liveportrait_motion as lpm
    from talkhead.models.checkpoint import deterministic

    m = accepted_measures(quality_dir)
    extractor = extractor or lpm.load_extractor(cfg)
    with deterministic():
        motion, kp_canonical = lpm.extract_clip(extractor, crop_dir / "crop.mp4", m["fps"], m["frames"])
    info = {"clip": m["clip"], "modality": "motion", "rate_hz": m["fps"], "frames": m["frames"],
            "extractor": lpm.EXTRACTOR, "version": lpm.VERSION, "checkpoint": extractor.identity,
            "backend": "liveportrait", "names": ",".join(lpm.NAMES)}
    write_features(out, {"motion": motion, "clip_kp_canonical": kp_canonical}, info)
    return info


def _main(args: argparse.Namespace) -> str:
    cfg = LiveportraitConfig.from_json(args.cfg)
    needed = ("crop", "quality") if cfg.dir else ("mesh", "pose")
    missing = [f"--{name}" for name in needed if not getattr(args, name)]
    if missing:
        raise ConfigError(f"motion: {' and '.join(missing)} required "
                          f"(liveportrait.dir {'set' if cfg.dir else 'empty'})")
    if cfg.dir:
        info = liveportrait_motion_clip(Path(args.crop), Path(args.quality), Path(args.out), cfg)
    else:
        info = motion_clip(Path(args.mesh), Path(args.pose), Path(args.out))
    return f"motion {info['clip']}: {info['frames']} × {mo.DIM} → {args.out}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.motion --mesh FILE --pose FILE --out FILE [--crop DIR --quality DIR --cfg JSON].

    --cfg is the `liveportrait` section: with its `dir` set, motion comes from --crop (and --quality)."""
    parser = stage_parser("talkhead.stages.motion", __doc__.splitlines()[0])
    parser.add_argument("--mesh", default="", help="data/features/{clip}/face_mesh.safetensors")
    parser.add_argument("--pose", default="", help="data/features/{clip}/head_pose.safetensors")
    parser.add_argument("--crop", default="", help="data/crop/{clip} (with liveportrait.dir)")
    parser.add_argument("--quality", default="", help="data/quality/{clip} (with liveportrait.dir)")
    parser.add_argument("--out", required=True, help="data/features/{clip}/motion.safetensors")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
