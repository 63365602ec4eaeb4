"""The one shape every face detector backend returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Keypoint order shared by all backends, named by image side (x grows to the right): the usual
# 5-point layout of RetinaFace / InsightFace. A backend that gives only the mouth centre
# (MediaPipe face detection) stores that point in both mouth slots.
KEYPOINTS = ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Detection:
    """One face in one frame, in pixel coordinates of that frame."""

    box: np.ndarray  # (4,) float32 x0, y0, x1, y1
    score: float
    keypoints: np.ndarray  # (5, 2) float32 x, y in KEYPOINTS order

    @property
    def size(self) -> float:
        """Side of the square with the box's area (pixels)."""
        w, h = self.box[2] - self.box[0], self.box[3] - self.box[1]
        return float(np.sqrt(max(w, 0.0) * max(h, 0.0)))

    @property
    def center(self) -> np.ndarray:
        """(2,) box centre x, y."""
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2], np.float32)
