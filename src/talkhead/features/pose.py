"""Head pose per frame: the similarity transform carrying the canonical face onto the frame's mesh.

In features (layer 3), one module per modality; head_pose_clip's own import (data.featurefile) is lower.

For every frame, scale s, rotation R and translation t minimise Σ |s R c_i + t - p_i|² over a
set of near-rigid landmarks i (forehead, nose bridge and tip, eye corners, temples, cheekbones;
`RIGID`), where c is the canonical neutral face (talkhead.features.canonical) and p the frame's
mesh in crop pixels (x right, y down, z MediaPipe's pixel-scaled depth, away from the camera).
The closed form is Umeyama's (https://doi.org/10.1109/34.88573), batched over frames.

Angles follow LivePortrait's convention, R = Rz(roll) · Ry(yaw) · Rx(pitch), in degrees, in
image axes (x right, y down, z away from the camera): pitch > 0 looks down (forehead towards the
camera, chin away), yaw > 0 turns the nose towards the image's left (the subject's right), roll > 0
tilts the face clockwise in the image (the image-right eye goes down). `matrix_from_euler` gives
the exact matrices. Translation is where the canonical origin (the outer eye-corner
midpoint) lands, in crop pixels (tz in MediaPipe's depth units); scale is crop pixels per
canonical unit (the outer-eye-corner distance). `residual` is the RMS distance of the rigid
landmarks after the fit, in canonical units: large values flag a bad mesh.

`head_pose_clip` (the head_pose phase on one clip) reads data/features/{clip}/face_mesh.safetensors; writes
data/features/{clip}/head_pose.safetensors with `euler` (T, 3) pitch, yaw, roll in degrees, `matrix` (T, 3, 3),
`translation` (T, 3) crop pixels, `scale` (T,) crop pixels per canonical unit and `residual` (T,) RMS fit error
in canonical units, all float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkhead.data.featurefile import read_features, write_features
from talkhead.features.canonical import canonical_face

VERSION = "pose-1"
# Near-rigid landmarks of the 478-point mesh (symmetric pairs and midline points): forehead,
# nose bridge and tip, inner and outer eye corners, temples, cheekbones.
RIGID = np.array([10, 151, 9, 8, 108, 337, 67, 297, 109, 338, 168, 6, 197, 195, 5, 4, 1,
                  33, 133, 263, 362, 127, 356, 234, 454, 162, 389, 21, 251, 116, 345, 123, 352])


@dataclass(frozen=True)
class Pose:
    """Per-frame similarity transforms: p ≈ scale · matrix @ c + translation."""

    scale: np.ndarray  # (T,)
    matrix: np.ndarray  # (T, 3, 3) rotation
    translation: np.ndarray  # (T, 3)
    residual: np.ndarray  # (T,) RMS fit error of the rigid landmarks, canonical units

    def euler(self) -> np.ndarray:
        """(T, 3) pitch, yaw, roll in degrees."""
        return euler_from_matrix(self.matrix)

    def to_canonical(self, points: np.ndarray) -> np.ndarray:
        """Undo the pose: (T, N, 3) crop-pixel points → (T, N, 3) in the canonical frame and units."""
        centred = points - self.translation[:, None, :]
        return np.einsum("tji,tnj->tni", self.matrix, centred) / self.scale[:, None, None]


def fit_pose(points: np.ndarray, canonical: np.ndarray | None = None, index: np.ndarray = RIGID) -> Pose:
    """The similarity fit of `canonical` (N, 3) onto each frame of `points` (T, N, 3) over `index`."""
    canonical = canonical_face() if canonical is None else canonical
    src = np.asarray(canonical, np.float64)[index]  # (K, 3)
    dst = np.asarray(points, np.float64)[:, index]  # (T, K, 3)
    if not np.isfinite(dst).all():
        raise ValueError("fit_pose needs finite landmarks (fill lost frames first)")
    ms, md = src.mean(0), dst.mean(1)  # (3,), (T, 3)
    sc, dc = src - ms, dst - md[:, None]
    cov = np.einsum("tki,kj->tij", dc, sc) / len(index)  # (T, 3, 3)
    u, sv, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u @ vt))  # (T,) -1 where the best orthogonal map is a reflection
    d = np.ones((len(dst), 3))
    d[:, 2] = sign
    rot = (u * d[:, None, :]) @ vt  # U diag(d) V^T
    scale = (sv * d).sum(1) / (sc ** 2).sum(1).mean()  # (T,)
    trans = md - scale[:, None] * (rot @ ms)  # (T, 3)
    fitted = scale[:, None, None] * np.einsum("tij,kj->tki", rot, src) + trans[:, None]
    residual = np.sqrt(((fitted - dst) ** 2).sum(-1).mean(1)) / scale
    return Pose(scale.astype(np.float32), rot.astype(np.float32), trans.astype(np.float32),
                residual.astype(np.float32))


def matrix_from_euler(euler_deg: np.ndarray) -> np.ndarray:
    """(T, 3) pitch, yaw, roll in degrees → (T, 3, 3) R = Rz(roll) Ry(yaw) Rx(pitch)."""
    p, y, r = np.deg2rad(np.asarray(euler_deg, np.float64)).T
    one, zero = np.ones_like(p), np.zeros_like(p)
    rx = np.stack([one, zero, zero, zero, np.cos(p), -np.sin(p), zero, np.sin(p), np.cos(p)], -1)
    ry = np.stack([np.cos(y), zero, np.sin(y), zero, one, zero, -np.sin(y), zero, np.cos(y)], -1)
    rz = np.stack([np.cos(r), -np.sin(r), zero, np.sin(r), np.cos(r), zero, zero, zero, one], -1)
    return rz.reshape(-1, 3, 3) @ ry.reshape(-1, 3, 3) @ rx.reshape(-1, 3, 3)


def euler_from_matrix(matrix: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations → (T, 3) pitch, yaw, roll in degrees (yaw in [-90, 90])."""
    m = np.asarray(matrix, np.float64)
    yaw = np.arcsin(np.clip(-m[:, 2, 0], -1.0, 1.0))
    pitch = np.arctan2(m[:, 2, 1], m[:, 2, 2])
    roll = np.arctan2(m[:, 1, 0], m[:, 0, 0])
    return np.rad2deg(np.stack([pitch, yaw, roll], -1)).astype(np.float32)


def head_pose_clip(mesh_file: Path, out: Path) -> dict:
    """Fit and write one clip's head pose; return its metadata."""
    tensors, meta = read_features(mesh_file, keys=["points"])
    fit = fit_pose(tensors["points"])
    info = {"clip": meta["clip"], "modality": "head_pose", "rate_hz": meta["rate_hz"], "frames": meta["frames"],
            "extractor": "similarity-fit-canonical-mesh", "version": VERSION, "checkpoint": "canonical_face.npy",
            "residual_median": f"{float(np.median(fit.residual)):.4f}"}
    write_features(out, {"euler": fit.euler(), "matrix": fit.matrix, "translation": fit.translation,
                         "scale": fit.scale, "residual": fit.residual}, info)
    return info
