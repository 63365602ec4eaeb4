"""Face detector backends by name, as `faces.detector` in params.yaml chooses them."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from talkhead.faces.types import Detection


class FaceDetector(Protocol):
    """What every backend provides."""

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in one (H, W, 3) uint8 RGB frame, best score first."""


BACKENDS = ("mediapipe", "retinaface")


def make_detector(name: str, score_threshold: float, retinaface: dict | None = None) -> FaceDetector:
    """Build the backend `name`; `retinaface` holds its params (weights, network, device)."""
    if name == "mediapipe":
        from talkhead.faces.mediapipe_backend import MediaPipeDetector

        return MediaPipeDetector(score_threshold=score_threshold)
    if name == "retinaface":
        from talkhead.faces.retinaface import RetinaFaceDetector

        opts = dict(retinaface or {})
        if not opts.get("weights"):
            raise ValueError("faces.detector is 'retinaface' but faces.retinaface.weights is empty: "
                             "set it to the path of mobilenet0.25_Final.pth or Resnet50_Final.pth")
        return RetinaFaceDetector(opts["weights"], network=opts.get("network", "mobilenet0.25"),
                                  device=opts.get("device", "cpu"), score_threshold=score_threshold)
    raise ValueError(f"unknown face detector {name!r}; choose one of {', '.join(BACKENDS)}")
