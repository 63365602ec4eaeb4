"""LMD: landmark distance between the mouths of generated and ground-truth frames.

Landmark distance was introduced for talking heads by Chen et al. 2018, "Lip Movements Generation
at a Glance" (https://arxiv.org/abs/1803.10404): the mean Euclidean distance between
corresponding mouth landmarks of generated and real frames. Here both sets come from the same
detector, talkhead's MediaPipe face mesh (478 points, `talkhead.faces.mediapipe_backend.FaceMesh`),
so the metric is named `lmd_mediapipe`.

Normalisation (`normalise`), per frame and per face: translate so the midpoint of the outer eye
corners (mesh points 33 and 263) is the origin, rotate so the eye line is horizontal (in-plane
roll removed), and divide by the distance between those corners. LMD is therefore in units of
the outer-eye-corner distance (about 9 cm on an adult face; ×100 reads as percent of it) and
does not change when a face is moved, rotated in the image plane or scaled. Only x, y are used
(the mesh's z is a relative depth estimate). The mouth is the 40 lip-contour points of the mesh
(`MOUTH`: 20 outer, 20 inner, MediaPipe's FACEMESH_LIPS set).

LMD = mean over frames t and mouth points k of ||g[t, k] − r[t, k]||₂ (normalised coordinates).
Frames where either mesh is missing are left out and counted; if none remain it is NaN.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

log = logging.getLogger(__name__)

EYE_OUTER_R, EYE_OUTER_L = 33, 263
MOUTH_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
MOUTH_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
MOUTH = np.array(MOUTH_OUTER + MOUTH_INNER)  # (40,) mesh indices


def normalise(points: np.ndarray) -> np.ndarray:
    """(..., 478, ≥2) mesh -> (..., 478, 2): eye-corner midpoint at 0, eye line along +x, eye distance 1."""
    xy = np.asarray(points, np.float64)[..., :2]
    right, left = xy[..., EYE_OUTER_R, :], xy[..., EYE_OUTER_L, :]  # (..., 2)
    axis = left - right
    scale = np.linalg.norm(axis, axis=-1)  # (...,)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos, sin = axis[..., 0] / scale, axis[..., 1] / scale
        centred = xy - 0.5 * (left + right)[..., None, :]  # (..., 478, 2)
        x = (cos[..., None] * centred[..., 0] + sin[..., None] * centred[..., 1]) / scale[..., None]
        y = (-sin[..., None] * centred[..., 0] + cos[..., None] * centred[..., 1]) / scale[..., None]
    return np.stack([x, y], axis=-1)


def mouth_points(points: np.ndarray) -> np.ndarray:
    """(..., 478, ≥2) mesh -> (..., 40, 2) normalised lip points."""
    return normalise(points)[..., MOUTH, :]


def lmd(generated: np.ndarray, ground_truth: np.ndarray) -> float:
    """Mean normalised mouth-landmark distance of (T, 478, ≥2) meshes; NaN frames are left out."""
    g, r = np.asarray(generated), np.asarray(ground_truth)
    if g.shape[0] != r.shape[0] or g.shape[1:2] != r.shape[1:2]:
        raise ValueError(f"landmark sequences differ in shape: {g.shape} vs {r.shape}")
    d = np.linalg.norm(mouth_points(g) - mouth_points(r), axis=-1)  # (T, 40)
    valid = np.isfinite(d).all(axis=1)
    if not valid.all():
        log.info("lmd: %d of %d frames without a mesh on one side are left out", (~valid).sum(), len(valid))
    return float(d[valid].mean()) if valid.any() else float("nan")


def extract_landmarks(frames: Iterable[np.ndarray]) -> np.ndarray:
    """(T, 478, 3) MediaPipe mesh of RGB uint8 frames (tracking mode), NaN where no face is found."""
    from talkhead.faces.mediapipe_backend import FaceMesh

    mesh = FaceMesh()
    try:
        out = []
        for frame in frames:
            pts = mesh.landmarks(np.asarray(frame, np.uint8))
            out.append(np.full((478, 3), np.nan, np.float32) if pts is None else pts)
    finally:
        mesh.close()
    return np.stack(out) if out else np.zeros((0, 478, 3), np.float32)


def lmd_from_videos(gen_frames: Iterable[np.ndarray], gt_frames: Iterable[np.ndarray]) -> float:
    """lmd_mediapipe of two equally long RGB frame sequences (T, H, W, 3), each run through its own mesh tracker."""
    return lmd(extract_landmarks(gen_frames), extract_landmarks(gt_frames))
