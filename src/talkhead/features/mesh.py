"""The face-mesh modality: the crop stage's 478-point MediaPipe mesh, gaps filled and marked, smoothed.

The crop stage already ran the refined face mesh on every frame of the crop (data/crop/{clip}/
landmarks.npz), so nothing is decoded again here. Frames where the mesh was lost are filled by
linear interpolation between the nearest found frames (held at the ends) and flagged in
`found`; then every coordinate is smoothed over time with a Gaussian of `sigma` frames (0 = off),
which removes the mesh's frame-to-frame jitter without delaying fast mouth motion much at σ ≤ 1.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

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
