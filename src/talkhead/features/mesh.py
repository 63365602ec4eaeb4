"""The face-mesh modality: the crop stage's 478-point MediaPipe mesh, gaps filled and marked, smoothed.

In features (layer 3), one module per modality; face_mesh_clip's own imports (config, data.featurefile,
data.status) are lower.

The crop stage already ran the refined face mesh on every frame of the crop (data/crop/{clip}/
landmarks.npz), so nothing is decoded again here. Frames where the mesh was lost are filled by
linear interpolation between the nearest found frames (held at the ends) and flagged in
`found`; then every coordinate is smoothed over time with a Gaussian of `sigma` frames (0 = off),
which removes the mesh's frame-to-frame jitter without delaying fast mouth motion much at σ ≤ 1.

`face_mesh_clip` (the face_mesh phase on one clip) reads data/crop/{clip}/landmarks.npz and
data/quality/{clip}/quality.json; writes data/features/{clip}/face_mesh.safetensors with `points` (T, 478, 3)
float32 in crop pixels and `found` (T,) uint8 (1 where MediaPipe found the face, 0 where the row is interpolated).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from talkhead.config import FaceMeshConfig
from talkhead.data.featurefile import write_features
from talkhead.data.status import accepted_measures

VERSION = "mesh-1"
N_POINTS = 478


def fill_and_smooth(points: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(T, 478, 3) with NaN rows -> ((T, 478, 3) float32 without NaN, (T,) bool found); all-NaN input raises."""
    points = np.asarray(points, np.float32)
    if points.ndim != 3 or points.shape[1:] != (N_POINTS, 3):
        raise ValueError(f"expected (T, {N_POINTS}, 3) landmarks, got {points.shape}")
    found = ~np.isnan(points).any(axis=(1, 2))  # (T,)
    if not found.any():
        raise ValueError("no frame has a face mesh")
    t = np.arange(len(points))
    flat = points.reshape(len(points), -1)  # (T, 1434)
    filled = flat.copy()
    if not found.all():
        for d in range(flat.shape[1]):
            filled[:, d] = np.interp(t, t[found], flat[found, d])
    if sigma > 0:
        filled = gaussian_filter1d(filled, sigma, axis=0, mode="nearest")
    return filled.reshape(points.shape).astype(np.float32), found


def face_mesh_clip(crop_dir: Path, quality_dir: Path, out: Path, cfg: FaceMeshConfig) -> dict:
    """Fill, smooth and write one accepted clip's mesh; return its metadata."""
    m = accepted_measures(quality_dir)
    with np.load(crop_dir / "landmarks.npz") as npz:
        points = npz["points"].astype(np.float32)  # (T, 478, 3)
    if len(points) != m["frames"]:
        raise ValueError(f"{crop_dir}: {len(points)} mesh frames for a {m['frames']}-frame clip")
    filled, found = fill_and_smooth(points, cfg.sigma_frames)
    meta = {"clip": m["clip"], "modality": "face_mesh", "rate_hz": m["fps"], "frames": m["frames"],
            "extractor": "mediapipe-face-mesh-478", "version": VERSION, "checkpoint": "mediapipe-0.10.21",
            "found_rate": f"{found.mean():.4f}"}
    write_features(out, {"points": filled, "found": found.astype(np.uint8)}, meta)
    return meta
