"""MoDA's 70-value facial motion per frame, measured from the face mesh instead of LivePortrait.

In features (layer 3), one module per modality; motion_clip's own import (data.featurefile) is lower.

MoDA (https://arxiv.org/abs/2507.03256) drives LivePortrait (https://arxiv.org/abs/2407.03168)
with its motion extractor's output per frame: 21 implicit keypoints' expression deformation
(21 × 3 = 63), scale, translation (3) and pitch, yaw, roll. Here the same layout comes from the
478-point mesh and the head pose (talkhead.features.pose): the 21 keypoints are mesh landmarks
(`KEYPOINTS`, below), taken in the canonical frame (the pose undone: R^T (p - t) / s) minus their
position on the canonical neutral face, so `exp` is the non-rigid deformation in canonical units
(the outer-eye-corner distance) and, as in LivePortrait, also carries the speaker's identity
offsets from the generic face (the normalisation statistics remove their average).

Layout of `motion` (T, 70) float32, MoDA's order:
  0-62   exp: keypoint k's (x, y, z) deformation at 3k..3k+2 (canonical frame: x to the subject's
         left, y down, z away from the camera)
  63     scale (crop pixels per canonical unit)
  64-66  tx, ty (crop pixels), tz (MediaPipe's pixel-scaled depth)
  67-69  pitch, yaw, roll in degrees (talkhead.features.pose's convention)

The keypoints, a spread over the parts that move in speech and expression (R / L = the
subject's right / left):
  brows      70, 105, 107 (R outer, middle, inner); 336, 334, 300 (L inner, middle, outer)
  eyelids    159, 145 (R upper, lower); 386, 374 (L upper, lower)
  lips       61, 291 (R, L corner); 0, 17 (upper, lower outer midline); 13, 14 (inner midline)
  cheeks     205, 425 (R, L, beside the mouth: they rise with a smile)
  jaw        152 (chin); 172, 397 (R, L jaw angle side)

Normalisation: `motion_stats` computes the per-dimension mean and standard deviation over every
frame of the TRAINING split only (floored at `STD_FLOOR` so near-constant dimensions do not blow up);
`normalise` / `denormalise` apply them.

`motion_clip` (the motion phase on one clip, the default backend) reads data/features/{clip}/face_mesh.safetensors
and head_pose.safetensors; writes data/features/{clip}/motion.safetensors with `motion` (T, 70) float32 (the
layout above). Unnormalised: the training split's statistics are written by the `motion_stats` stage. With
`liveportrait.dir` set, the phase runs talkhead.features.liveportrait_motion.liveportrait_motion_clip instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from talkhead.data.featurefile import read_features, write_features
from talkhead.features.canonical import canonical_face
from talkhead.features.pose import Pose
from talkhead.vocab import MOTION_DIM

VERSION = "motion-1"
KEYPOINTS = np.array([70, 105, 107, 336, 334, 300, 159, 145, 386, 374,
                      61, 291, 0, 17, 13, 14, 205, 425, 152, 172, 397])  # (21,) mesh indices
N_KEYPOINTS = 21
DIM = MOTION_DIM  # (exp 63, scale, t 3, pitch/yaw/roll)
NAMES: tuple[str, ...] = (*(f"exp_{k}_{a}" for k in KEYPOINTS for a in "xyz"), "scale", "tx", "ty", "tz",
                          "pitch", "yaw", "roll")
STD_FLOOR = 1e-3  # smallest standard deviation used to normalise a dimension


def motion_from_pose(points: np.ndarray, pose: Pose) -> np.ndarray:
    """(T, 478, 3) mesh + its pose → (T, 70) motion in MoDA's layout."""
    canon = pose.to_canonical(np.asarray(points, np.float64)[:, KEYPOINTS])  # (T, 21, 3)
    exp = canon - canonical_face()[KEYPOINTS].astype(np.float64)  # (T, 21, 3)
    motion = np.concatenate([exp.reshape(len(points), -1), pose.scale[:, None], pose.translation, pose.euler()],
                            axis=1)
    return motion.astype(np.float32)  # (T, 70)


def motion_stats(motions: Iterable[np.ndarray]) -> dict[str, np.ndarray]:
    """Mean, std (floored) and frame count over every frame of the given (T, 70) arrays (float64 sums)."""
    n, total, squares = 0, np.zeros(DIM), np.zeros(DIM)
    for m in motions:
        m = np.asarray(m, np.float64)
        n += len(m)
        total += m.sum(0)
        squares += (m ** 2).sum(0)
    if n == 0:
        raise ValueError("no motion frames to compute statistics from")
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean ** 2, 0.0))
    return {"mean": mean.astype(np.float32), "std": np.maximum(std, STD_FLOOR).astype(np.float32),
            "frames": np.array([n], np.int64)}


def normalise(motion: np.ndarray, stats: dict[str, np.ndarray]) -> np.ndarray:
    """(…, 70) raw motion → zero-mean, unit-variance motion under the training statistics."""
    return (motion - stats["mean"]) / stats["std"]


def denormalise(motion: np.ndarray, stats: dict[str, np.ndarray]) -> np.ndarray:
    """The inverse of `normalise`."""
    return motion * stats["std"] + stats["mean"]


def motion_clip(mesh_file: Path, pose_file: Path, out: Path) -> dict:
    """Compute and write one clip's motion; return its metadata."""
    mesh, meta = read_features(mesh_file, keys=["points"])
    p, pmeta = read_features(pose_file, keys=["scale", "matrix", "translation", "residual"])
    if pmeta["clip"] != meta["clip"] or pmeta["frames"] != meta["frames"]:
        raise ValueError(f"{pose_file} ({pmeta['clip']}, {pmeta['frames']} frames) does not belong to "
                         f"{mesh_file} ({meta['clip']}, {meta['frames']} frames)")
    pose = Pose(p["scale"], p["matrix"], p["translation"], p["residual"])
    motion = motion_from_pose(mesh["points"], pose)  # (T, 70)
    info = {"clip": meta["clip"], "modality": "motion", "rate_hz": meta["rate_hz"], "frames": meta["frames"],
            "extractor": "mesh-keypoints-moda-70", "version": VERSION, "checkpoint": "canonical_face.npy",
            "names": ",".join(NAMES)}
    write_features(out, {"motion": motion}, info)
    return info
